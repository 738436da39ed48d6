-- The delivered leg of each insertion order: spend and platform credits of the ad
-- campaigns the delivery ↔ orders reconciliation matched to it, in the order currency
-- (at the rate of the campaign's last delivery month).
with

matches as (
    select * from {{ ref('int_delivery_orders__decisions') }}
    where decision = 'matched'
),

campaigns as (
    select * from {{ ref('int_ads_campaigns') }}
),

orders as (
    select * from {{ ref('stg_crm__orders') }}
),

fx_rates as (
    select * from {{ ref('int_fx_rates_monthly') }}
),

delivered as (
    select
        matches.left_key as order_id,
        count(*) as campaign_count,
        sum({{ convert_amount('campaigns.spend_amount', 'campaign_rate.rate_to_usd', 'order_rate.rate_to_usd') }})
            as spend_amount,
        sum({{ convert_amount('campaigns.credit_amount', 'campaign_rate.rate_to_usd', 'order_rate.rate_to_usd') }})
            as credit_amount,
        min(campaigns.first_delivery_date) as first_delivery_date,
        max(campaigns.last_delivery_date) as last_delivery_date
    from matches
    inner join campaigns
        on matches.right_key = campaigns.campaign_id
    inner join orders
        on matches.left_key = orders.order_id
    left join fx_rates as campaign_rate
        on campaigns.currency = campaign_rate.currency
        and date_trunc('month', campaigns.last_delivery_date) = campaign_rate.rate_month
    left join fx_rates as order_rate
        on orders.currency = order_rate.currency
        and date_trunc('month', campaigns.last_delivery_date) = order_rate.rate_month
    group by matches.left_key
)

select * from delivered
