-- The exceptions of this run, routed to their owner with severity and SLA. Built in
-- int_reconciliation_exceptions; marts only publish (no model outside the marts reads a
-- mart). Lifecycle and operator state are in fct_exception_current.
select * from {{ ref('int_reconciliation_exceptions') }}
