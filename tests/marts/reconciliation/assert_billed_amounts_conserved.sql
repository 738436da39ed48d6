-- Amounts are conserved per currency: every billable invoice line is either matched to
-- an order or raised as an orphan, so matched + orphaned equals billed, per currency.
{{ config(meta={'dagster': {'ref': {'name': 'fct_order_invoice_matches'}}}) }}  -- shown as an asset check on fct_order_invoice_matches

with

billable as (
    select currency, sum(net_amount) as billed
    from {{ ref('int_invoice_lines_billable') }}
    group by currency
),

matched as (
    select invoice_currency as currency, sum(billed_amount) as matched
    from {{ ref('fct_order_invoice_matches') }}
    group by invoice_currency
),

orphaned as (
    select currency, sum(amount_at_risk) as orphaned
    from {{ ref('fct_reconciliation_exceptions') }}
    where exception_type = 'orphan_invoice_line'
    group by currency
)

select
    billable.currency,
    billable.billed,
    coalesce(matched.matched, 0) as matched,
    coalesce(orphaned.orphaned, 0) as orphaned
from billable
left join matched on billable.currency = matched.currency
left join orphaned on billable.currency = orphaned.currency
where billable.billed != coalesce(matched.matched, 0) + coalesce(orphaned.orphaned, 0)
