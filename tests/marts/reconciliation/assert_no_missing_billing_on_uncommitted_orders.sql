-- A draft or cancelled order is not a commitment (seed order_status_expectations): no
-- billing is missing on it, so it never raises unbilled_order or delivered_not_billed.
{{ config(meta={'dagster': {'ref': {'name': 'fct_reconciliation_exceptions'}}}) }}

select breaks.exception_id, breaks.exception_type, breaks.record_id, orders.order_status
from {{ ref('int_exception_breaks') }} as breaks
inner join {{ ref('fct_reconciled_orders') }} as orders
    on breaks.record_id = orders.order_id
where breaks.exception_type in ('unbilled_order', 'delivered_not_billed')
    and not orders.is_commitment
