-- Credit notes assigned to orders: by the order reference they quote (in any shape), else through the
-- invoice they credit when that invoice bills exactly one order. Amounts in the order
-- currency at the credit note's month rate. Credit notes reaching no order stay out
-- (they surface as exceptions later).
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
),

assigned as (
    select
        credit_notes.credit_note_id,
        coalesce(orders_by_reference.order_id, single_order_invoices.order_id) as order_id,
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
),

credited as (
    select
        assigned.order_id,
        count(*) as credit_note_count,
        sum({{ convert_amount('assigned.net_amount', 'note_rate.rate_to_usd', 'order_rate.rate_to_usd') }})
            as credited_amount,
        -- The first credit note's date: an item billed again after it is a re-issue.
        min(assigned.issue_date) as first_credit_date
    from assigned
    inner join orders
        on assigned.order_id = orders.order_id
    {{ fx_rate_join('note_rate', 'assigned.currency', 'assigned.issue_date') }}
    {{ fx_rate_join('order_rate', 'orders.currency', 'assigned.issue_date') }}
    group by assigned.order_id
)

select * from credited
