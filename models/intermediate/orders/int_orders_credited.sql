-- Credit notes per order (int_credit_note_assignments: by the order reference they quote,
-- else through the invoice they credit when that invoice bills exactly one order). Amounts
-- in the order currency at the credit note's month rate. Credit notes reaching no order
-- stay out: int_exception_breaks raises them (unmatched_credit_note).
with

orders as (
    select * from {{ ref('stg_crm__orders') }}
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
    {{ fx_rate_join('note_rate', 'assigned.currency', 'assigned.issue_date') }}
    {{ fx_rate_join('order_rate', 'orders.currency', 'assigned.issue_date') }}
    group by assigned.order_id
)

select * from credited
