-- The exceptions of this run, routed to their owner with severity and SLA. Built in
-- int_reconciliation_exceptions; marts only publish (no model outside the marts reads a
-- mart). Lifecycle and operator state are in fct_exception_current.
select
    exceptions.*,
    '{{ recon_reporting_currency() }}' as reporting_currency  -- the currency of amount_at_risk_reporting
from {{ ref('int_reconciliation_exceptions') }} as exceptions
