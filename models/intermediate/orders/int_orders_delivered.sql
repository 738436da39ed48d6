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
    {{ fx_rate_join('campaign_rate', 'campaigns.currency', 'campaigns.last_delivery_date') }}
    {{ fx_rate_join('order_rate', 'orders.currency', 'campaigns.last_delivery_date') }}
    group by matches.left_key
)

select * from delivered
