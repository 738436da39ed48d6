-- The exceptions of this run: every break that is not pending late data, routed. The
-- owner is the client's owner for the domain when seed client_owners names one, else the
-- exception type's team (seed exception_policy); the SLA comes from the severity (seed
-- severity_policy), and so does the team it escalates to past its SLA, if any. Lifecycle
-- and operator state are in fct_exception_current.
with

breaks as (
    select * from {{ ref('int_exception_breaks') }}
    where not is_pending
),

severity_policy as (
    select * from {{ ref('severity_policy') }}
),

client_owners as (
    select * from {{ ref('client_owners') }}
),

routed as (
    select
        breaks.exception_id,
        breaks.exception_type,
        breaks.record_entity,
        breaks.record_id,
        breaks.client_name,
        breaks.currency,
        breaks.amount_at_risk,
        breaks.amount_at_risk_reporting,
        breaks.domain,
        coalesce(owner_for_domain.owner_team, owner_for_client.owner_team, breaks.policy_owner_team) as owner_team,
        coalesce(owner_for_domain.account_owner, owner_for_client.account_owner) as account_owner,
        breaks.severity,
        severity_policy.sla_hours,
        -- Past its SLA a break escalates, unless nothing is at risk and its severity says
        -- such a break stays with its team (auto_resolve: a void invoice, a duplicate export,
        -- a currency mismatch carry 0 and never close by later data).
        case
            when severity_policy.escalates_with_nothing_at_risk
                or coalesce(breaks.amount_at_risk_reporting, 0) != 0
                then severity_policy.escalate_to
        end as escalate_to,
        breaks.due_date,
        breaks.pending_until,
        'open' as exception_status,
        {{ recon_run_id() }} as dagster_run_id
    from breaks
    left join severity_policy
        on breaks.severity = severity_policy.severity
    -- A client's owner for this domain wins over the client's owner for every domain
    -- (blank domain), which wins over the type's team.
    left join client_owners as owner_for_domain
        on breaks.client_name_normalised = owner_for_domain.client_name_normalised
        and breaks.domain = owner_for_domain.domain
    left join client_owners as owner_for_client
        on breaks.client_name_normalised = owner_for_client.client_name_normalised
        and owner_for_client.domain is null
)

select * from routed
