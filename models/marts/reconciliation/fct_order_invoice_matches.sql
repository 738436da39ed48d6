-- Orders ↔ invoices auto-matches (deterministic or probabilistic above the auto-match
-- threshold) with the billed amount in invoice, order and reporting currency.
with

decisions as (
    select * from {{ ref('int_orders_invoices__decisions') }}
    where decision = 'matched'
),

orders as (
    select * from {{ ref('stg_crm__orders') }}
),

billing_items as (
    select * from {{ ref('int_invoice_billing_items') }}
),

fx_rates as (
    select * from {{ ref('fx_rates') }}
),

matches as (
    select
        decisions.match_id,
        decisions.left_key as order_id,
        billing_items.invoice_id,
        decisions.right_key as billing_item_id,
        decisions.pass_name as match_pass,
        cast(decisions.match_probability as double) as match_probability,
        cast(decisions.match_weight as double) as match_weight,
        decisions.score_components,
        decisions.rule_version,
        billing_items.issue_date,
        billing_items.currency as invoice_currency,
        billing_items.net_amount as billed_amount,
        orders.currency as order_currency,
        {{ convert_amount('billing_items.net_amount', 'invoice_rate.rate_to_usd', 'order_rate.rate_to_usd') }}
            as billed_amount_order_currency,
        billing_items.net_amount_reporting as billed_amount_reporting,
        '{{ invocation_id }}' as dbt_invocation_id
    from decisions
    inner join orders
        on decisions.left_key = orders.order_id
    inner join billing_items
        on decisions.right_key = billing_items.billing_item_id
    left join fx_rates as invoice_rate
        on billing_items.currency = invoice_rate.currency
        and date_trunc('month', billing_items.issue_date) = invoice_rate.rate_month
    left join fx_rates as order_rate
        on orders.currency = order_rate.currency
        and date_trunc('month', billing_items.issue_date) = order_rate.rate_month
)

select * from matches
