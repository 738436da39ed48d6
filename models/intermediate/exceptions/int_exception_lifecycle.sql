-- Each exception's life from the snapshot of the exception mart: a version per change, a
-- closing version (dbt_is_deleted) when the break stopped being found, and a new version
-- when it came back. Attributes are those of its latest live version.
with

ordered as (
    select * from {{ ref('int_exception_versions') }}
),

transitions as (
    select
        exception_id,
        bool_or(recency = 1 and not is_gone) as is_detected,
        count(*) filter (where not is_gone and was_gone) as reopen_count,
        max(version_from) filter (where not is_gone and was_gone) as last_reopened_at,
        max(version_from) filter (where recency = 1 and is_gone) as auto_resolved_at
    from ordered
    group by exception_id
),

latest_live as (
    -- The latest version in which the break was found: what it looked like.
    {{ recon_qualify('*', 'from ordered
    where not is_gone', 'row_number() over (partition by exception_id order by version_from desc) = 1') }}
)

select
    latest_live.exception_id,
    latest_live.exception_type,
    latest_live.record_entity,
    latest_live.record_id,
    latest_live.client_name,
    latest_live.currency,
    latest_live.amount_at_risk,
    latest_live.amount_at_risk_reporting,
    latest_live.domain,
    latest_live.owner_team,
    latest_live.account_owner,
    latest_live.severity,
    latest_live.sla_hours,
    latest_live.escalate_to,
    transitions.is_detected,
    transitions.reopen_count,
    transitions.last_reopened_at,
    transitions.auto_resolved_at
from latest_live
inner join transitions
    on latest_live.exception_id = transitions.exception_id
