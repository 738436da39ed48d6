-- Credit notes per order (int_credit_note_assignments: by the order reference they quote,
-- else through the invoice they credit when that invoice bills exactly one order). Amounts
-- in the order currency: a credit note that credits an invoice of its own currency reverses
-- it (the invoice it was attributed through, else the one its invoice_id column names), at the rate the invoice was billed at (its issue month's, as int_order_invoice_matches
-- converts it); any other at its own month's rate. Before, a EUR invoice on a USD order
-- credited in full a month later netted to the month's rate move, and read as billed net
-- (billed_cancelled_order) or credited past its billing (over_credited_order) when the
-- rate moved more than the tolerance. Credit notes reaching no order stay out:
-- int_exception_breaks raises them (unmatched_credit_note).
with

orders as (
    select * from {{ ref('stg_crm__orders') }}
),

invoices as (
    select * from {{ ref('stg_billing__invoices') }}
),

assigned as (
    select * from {{ ref('int_credit_note_assignments') }}
    where order_id is not null
),

credited as (
    select
        assigned.order_id,
        count(*) as credit_note_count,
        sum({{ convert_amount('assigned.net_amount', 'note_rate.rate_to_usd', 'order_rate.rate_to_usd') }})
            as credited_amount,
        -- The first credit note's date: an item billed again after it is a re-issue.
        min(assigned.issue_date) as first_credit_date,
        -- The last one's: a credit past what was billed (over_credited_order) ages from it.
        max(assigned.issue_date) as last_credit_date
    from assigned
    inner join orders
        on assigned.order_id = orders.order_id
    left join invoices as credited_invoices
        on coalesce(assigned.credited_invoice_id, assigned.invoice_id) = credited_invoices.invoice_id
        and assigned.currency = credited_invoices.currency
    {{ fx_rate_join('note_rate', 'assigned.currency', 'coalesce(credited_invoices.issue_date, assigned.issue_date)') }}
    {{ fx_rate_join('order_rate', 'orders.currency', 'coalesce(credited_invoices.issue_date, assigned.issue_date)') }}
    group by assigned.order_id
)

select * from credited
