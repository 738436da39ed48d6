-- A draft or cancelled order is not a commitment (seed order_status_expectations): no
-- billing is missing on it, so it never raises unbilled_order or delivered_not_billed.
-- Dagster shows it as a check of int_exception_breaks, a model it reads: dagster-dbt makes a
-- check only on a parent of the test (named by meta.dagster.ref when it has several).
{{ config(meta={'dagster': {'ref': {'name': 'int_exception_breaks'}}}) }}

select breaks.exception_id, breaks.exception_type, breaks.record_id, orders.order_status
from {{ ref('int_exception_breaks') }} as breaks
inner join {{ ref('fct_reconciled_orders') }} as orders
    on breaks.record_id = orders.order_id
where breaks.exception_type in ('unbilled_order', 'delivered_not_billed')
    and not orders.is_commitment
