-- Each credit note and the order it credits: by the order reference it quotes (in any
-- shape), else through the invoice it credits when that invoice bills exactly one order.
-- order_id is null for a credit note that reaches no order (no reference, an invoice no
-- order's billing holds or one billing several): int_orders_credited leaves it out, and
-- int_exception_breaks raises it (unmatched_credit_note), so money credited is never
-- credited to nothing in silence.
with

credit_notes as (
    select * from {{ ref('stg_billing__credit_notes') }}
),

orders as (
    select * from {{ ref('stg_crm__orders') }}
),

invoice_matches as (
    select * from {{ ref('int_order_invoice_matches') }}
),

mentions as (
    select * from {{ ref('int_reference_mentions') }}
    where record_type = 'credit_note'
),

orders_by_reference as (
    select orders.order_reference_key, min(orders.order_id) as order_id
    from orders
    where orders.order_reference_key is not null
    group by orders.order_reference_key
    having count(*) = 1
),

single_order_invoices as (
    select invoice_matches.invoice_id, min(invoice_matches.order_id) as order_id
    from invoice_matches
    group by invoice_matches.invoice_id
    having count(distinct invoice_matches.order_id) = 1
)

select
    credit_notes.credit_note_id,
    coalesce(orders_by_reference.order_id, single_order_invoices.order_id) as order_id,
    credit_notes.invoice_id,
    credit_notes.client_name_billed,
    credit_notes.currency,
    credit_notes.issue_date,
    credit_notes.net_amount
from credit_notes
left join mentions
    on credit_notes.credit_note_id = mentions.record_id
left join orders_by_reference
    on mentions.reference_key = orders_by_reference.order_reference_key
left join single_order_invoices
    on credit_notes.invoice_id = single_order_invoices.invoice_id
