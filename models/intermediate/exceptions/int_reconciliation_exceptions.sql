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

cancellations as (
    -- When a cancelled order last changed in the CRM (its cancellation or a later edit), as an
    -- instant: a billed_cancelled_order ages from it when it is the latest of its business
    -- dates, not from the midnight before it (up to a day older than the others).
    select
        reconciled_orders.order_id,
        {{ recon_at_utc('cast(reconciled_orders.updated_at as timestamp)') }} as changed_at
    from {{ ref('int_reconciled_orders') }} as reconciled_orders
    where reconciled_orders.is_cancelled
),

operator_links as (
    select * from {{ ref('int_operator_links') }}
),

corrections as (
    -- The latest link an operator made or broke by hand (recon exceptions match / unmatch) on
    -- each record: a break it gives rise to was born of that correction (int_exception_sightings).
    select linked.record_key, max(linked.acted_at) as corrected_at
    from (
        select operator_links.left_key as record_key, operator_links.acted_at from operator_links
        union all
        select operator_links.right_key as record_key, operator_links.acted_at from operator_links
    ) as linked
    group by linked.record_key
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
        -- When the business expected the counterpart, as an instant: the business date plus
        -- grace (midnight UTC), or the cancelled order's last CRM change when that is later.
        greatest(
            {{ recon_at_utc('cast(coalesce(breaks.pending_until, breaks.due_date) as timestamp)') }},
            case when breaks.exception_type = 'billed_cancelled_order' then cancellations.changed_at end
        ) as business_due_at,
        corrections.corrected_at,
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
    left join cancellations
        on breaks.record_entity = 'stg_crm__orders'
        and breaks.record_id = cancellations.order_id
    left join corrections
        on breaks.record_id = corrections.record_key
)

select * from routed
