-- Orders ↔ invoices auto-matches (deterministic, probabilistic above the auto-match
-- threshold, or groups) with the billed amount in invoice, order and reporting currency.
-- A billing item matched to several orders (an N:1 group) is allocated to them in
-- proportion to their booked amounts, the first order taking the rounding, so billed
-- amounts add up to the item exactly.
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
    select * from {{ ref('int_fx_rates_monthly') }}
),

allocated as (
    select
        decisions.*,
        -- The share is a ratio (double); the money it allocates is rounded back to DECIMAL
        -- and the rounding difference goes to the first member.
        cast(
            cast(billing_items.net_amount as double) * cast(orders.booked_amount as double)
            / sum(cast(orders.booked_amount as double)) over (partition by decisions.right_key)
            as decimal(18, 4)
        ) as rounded_share,
        row_number() over (partition by decisions.right_key order by decisions.left_key) as member_order
    from decisions
    inner join orders
        on decisions.left_key = orders.order_id
    inner join billing_items
        on decisions.right_key = billing_items.billing_item_id
),

shares as (
    select
        allocated.*,
        case
            when allocated.member_order = 1
                then billing_items.net_amount - sum(allocated.rounded_share) over (partition by allocated.right_key)
                    + allocated.rounded_share
            else allocated.rounded_share
        end as allocated_amount
    from allocated
    inner join billing_items
        on allocated.right_key = billing_items.billing_item_id
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
        cast(decisions.allocated_amount as decimal(18, 4)) as billed_amount,
        orders.currency as order_currency,
        {{ convert_amount('decisions.allocated_amount', 'invoice_rate.rate_to_usd', 'order_rate.rate_to_usd') }}
            as billed_amount_order_currency,
        {{ convert_amount('decisions.allocated_amount', 'invoice_rate.rate_to_usd', 'reporting_rate.rate_to_usd') }}
            as billed_amount_reporting,
        '{{ invocation_id }}' as dbt_invocation_id,
        '{{ env_var("RECON_RUN_ID", "") }}' as dagster_run_id
    from shares as decisions
    inner join orders
        on decisions.left_key = orders.order_id
    inner join billing_items
        on decisions.right_key = billing_items.billing_item_id
    left join fx_rates as reporting_rate
        on reporting_rate.currency = '{{ var("reporting_currency") }}'
        and date_trunc('month', billing_items.issue_date) = reporting_rate.rate_month
    left join fx_rates as invoice_rate
        on billing_items.currency = invoice_rate.currency
        and date_trunc('month', billing_items.issue_date) = invoice_rate.rate_month
    left join fx_rates as order_rate
        on orders.currency = order_rate.currency
        and date_trunc('month', billing_items.issue_date) = order_rate.rate_month
)

select * from matches
