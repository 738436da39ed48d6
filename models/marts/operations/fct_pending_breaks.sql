-- Late data, not yet exceptions: breaks whose counterpart may still arrive because the
-- source it would come from is inside its grace window (seed source_grace_windows).
-- Each becomes an exception on the first run after pending_until if it still stands.
select
    exception_id,
    exception_type,
    record_entity,
    record_id,
    client_name,
    currency,
    amount_at_risk,
    amount_at_risk_reporting,
    '{{ recon_reporting_currency() }}' as reporting_currency,
    domain,
    policy_owner_team as owner_team,
    severity,
    awaits_source,
    due_date,
    pending_until,
    {{ recon_run_id() }} as dagster_run_id
from {{ ref('int_exception_breaks') }}
where is_pending
