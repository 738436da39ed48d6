-- Amounts are conserved per currency: every billing item is either matched to an order
-- or a break (orphan, ambiguous, needs review; an exception, or pending while its order
-- may still arrive), so matched + broken equals billed, per currency, to the cent. A
-- matched item's extra charges (ancillary_amount) count as matched: they are billed
-- beside the order, not lost. A manual link raised for review (manual_link_changed) is
-- about a link, not money: its item is also matched or a break of its own.
-- Dagster shows it as a check of int_exception_breaks, a model it reads: dagster-dbt makes a
-- check only on a parent of the test (named by meta.dagster.ref when it has several).
{{ config(meta={'dagster': {'ref': {'name': 'int_exception_breaks'}}}) }}

with

billed as (
    select currency, sum(net_amount) as billed
    from {{ ref('int_invoice_billing_items') }}
    group by currency
),

matched as (
    select invoice_currency as currency, sum(billed_amount + ancillary_amount) as matched
    from {{ ref('fct_order_invoice_matches') }}
    group by invoice_currency
),

excepted as (
    select currency, sum(amount_at_risk) as excepted
    from {{ ref('int_exception_breaks') }}
    where record_entity = 'int_invoice_billing_items'
        and exception_type != 'manual_link_changed'
    group by currency
)

select
    billed.currency,
    billed.billed,
    coalesce(matched.matched, 0) as matched,
    coalesce(excepted.excepted, 0) as excepted
from billed
left join matched on billed.currency = matched.currency
left join excepted on billed.currency = excepted.currency
where billed.billed != coalesce(matched.matched, 0) + coalesce(excepted.excepted, 0)
