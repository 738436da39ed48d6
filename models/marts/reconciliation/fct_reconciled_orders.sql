-- One row per CRM order: the system of record, every leg of the order and its state.
-- Built in int_reconciled_orders; marts only publish (no model outside the marts reads a
-- mart).
select * from {{ ref('int_reconciled_orders') }}
