-- One row per ad campaign: its delivery summed over the flight, the order reference its
-- name carries (if any), the brand text before the first separator, and the platform
-- credits granted against it. Campaigns are what orders are matched to.
with

delivery as (
    select * from {{ ref('stg_ads__delivery') }}
),

credits as (
    select * from {{ ref('stg_ads__credits') }}
),

campaign_credits as (
    select
        credits.campaign_id,
        sum(credits.credit_amount) as credit_amount
    from credits
    where credits.campaign_id is not null
    group by credits.campaign_id
),

campaigns as (
    select
        delivery.campaign_id,
        min(delivery.platform) as platform,
        min(delivery.account_id) as account_id,
        min(delivery.campaign_name) as campaign_name,
        max(delivery.campaign_ref_normalised) as campaign_ref_normalised,
        min(delivery.currency) as currency,
        min(delivery.delivery_date) as first_delivery_date,
        max(delivery.delivery_date) as last_delivery_date,
        count(*) as delivery_days,
        cast(sum(delivery.spend_amount) as decimal(18, 4)) as spend_amount
    from delivery
    group by delivery.campaign_id
),

final as (
    select
        campaigns.*,
        {{ normalise_client_name("nullif(regexp_extract(campaigns.campaign_name, '^(.*?)\\s+[|-]\\s+', 1), '')") }}
            as brand_normalised,
        cast(coalesce(campaign_credits.credit_amount, 0) as decimal(18, 4)) as credit_amount
    from campaigns
    left join campaign_credits
        on campaigns.campaign_id = campaign_credits.campaign_id
)

select * from final
