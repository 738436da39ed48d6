-- One row per lead-form submission with the client its campaign serves: the client of the
-- order the campaign is matched to, else the client its name or ad account names. A
-- person known to several of the agency's clients has a CRM lead with each; a repeat
-- submission belongs to the lead of the client whose campaign took it.
with

submissions as (
    select * from {{ ref('stg_ads__lead_forms') }}
),

campaigns as (
    select * from {{ ref('int_ads_campaigns') }}
),

campaign_orders as (
    -- A campaign belongs to one order; a tie left two is no evidence of the client.
    {{ recon_qualify('decisions.right_key as campaign_id, decisions.left_key as order_id',
        "from " ~ ref('int_delivery_orders__decisions') ~ " as decisions
    where decisions.decision = 'matched'",
        'count(*) over (partition by decisions.right_key) = 1') }}
),

orders as (
    select * from {{ ref('int_orders_resolved') }}
)

select
    submissions.*,
    coalesce(orders.client_id, campaigns.client_id_resolved) as campaign_client_id
from submissions
left join campaigns
    on submissions.campaign_id = campaigns.campaign_id
left join campaign_orders
    on submissions.campaign_id = campaign_orders.campaign_id
left join orders
    on campaign_orders.order_id = orders.order_id
