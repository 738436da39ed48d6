-- Records whose total, formed from many source rows, is beyond the range the models compute
-- with (recon_within_aggregate_range: the rows' amounts add up, in absolute value, past
-- their currency's range, 10^12 in JPY and tighter in a currency worth more; each amount is
-- within it): a campaign's spend over its days or its platform credits, an invoice's lines,
-- a project's deliverables, and an order's legs over the records matched to it
-- (int_orders_out_of_range), and an order, invoice or credit note with one row past its
-- currency's range, loaded under an older contract and held out of staging
-- (stg_ingestion__amounts_past_range). Absolute values, so every part of the total (a project's planned
-- work, a campaign's spend net of credit days) is bounded too. Each is held out of matching where
-- it is formed, so the run goes on and publishes, and raised here (amount_out_of_range) so it
-- is not lost: its rows stay loaded, and `recon trace` shows them with their files. The total
-- itself is too large for an amount column: amount_at_risk is null, the rule says why.
-- Shaped like int_exception_breaks' all_breaks.
{#- A date taken from when rows were loaded is no later than the run's business clock. #}
{%- set as_of_date = 'cast(' ~ recon_at_utc(recon_as_of()) ~ ' as date)' %}
with

campaign_credits as (
    -- A campaign's platform credits add up too (int_ads_campaigns' credit_amount).
    select credits.campaign_id
    from {{ ref('stg_ads__credits') }} as credits
    where credits.campaign_id is not null
    group by credits.campaign_id
    having not {{ recon_within_aggregate_range(
        'sum(abs(cast(credits.credit_amount as decimal(38, 4))))', 'min(credits.currency)'
    ) }}
),

campaigns as (
    select
        delivery.campaign_id as record_id,
        min(delivery.account_name) as client_name,
        min(delivery.currency) as currency,
        min(delivery.delivery_date) as due_date
    from {{ ref('stg_ads__delivery') }} as delivery
    group by delivery.campaign_id
    having not {{ recon_within_aggregate_range(
        'sum(abs(cast(delivery.spend_amount as decimal(38, 4))))', 'min(delivery.currency)'
    ) }}
        or delivery.campaign_id in (select campaign_credits.campaign_id from campaign_credits)
),

invoices as (
    select
        lines.invoice_id as record_id,
        min(headers.client_name_billed) as client_name,
        min(headers.currency) as currency,
        coalesce(min(headers.issue_date), least(min(cast(lines.ingested_at as date)), {{ as_of_date }})) as due_date
    from {{ ref('stg_billing__invoice_lines') }} as lines
    left join {{ ref('stg_billing__invoices') }} as headers
        on lines.invoice_id = headers.invoice_id
    group by lines.invoice_id
    having not {{ recon_within_aggregate_range(
        'sum(abs(cast(lines.net_amount as decimal(38, 4))))', 'min(headers.currency)'
    ) }}
),

projects as (
    select
        deliverables.project_id as record_id,
        min(deliverables.client_name) as client_name,
        min(deliverables.currency) as currency,
        least(cast(min(coalesce(deliverables.completed_at, deliverables.ingested_at)) as date), {{ as_of_date }}) as due_date
    from {{ ref('stg_fulfilment__deliverables') }} as deliverables
    group by deliverables.project_id
    having not {{ recon_within_aggregate_range(
        'sum(abs(cast(deliverables.deliverable_value as decimal(38, 4))))', 'min(deliverables.currency)'
    ) }}
),

orders as (
    -- An order whose matched records add up past the order currency's range
    -- (int_orders_out_of_range): held out of the reconciled dataset.
    select
        orders_out.order_id as record_id,
        orders_out.client_name,
        orders_out.currency,
        orders_out.service_start_date as due_date
    from {{ ref('int_orders_out_of_range') }} as orders_out
),

held_out_of_staging as (
    -- An order, an invoice or a credit note with a row past its currency's range, loaded
    -- under an older contract (stg_ingestion__amounts_past_range): held out of staging. An
    -- invoice whose lines add up past the range too is raised once, above.
    select
        held.record_entity,
        held.record_id,
        held.client_name,
        held.currency,
        least(coalesce(held.business_date, cast(held.ingested_at as date)), {{ as_of_date }}) as due_date
    from {{ ref('stg_ingestion__amounts_past_range') }} as held
    where not (
        held.record_entity = 'stg_billing__invoices'
        and held.record_id in (select invoices.record_id from invoices)
    )
),

records as (
    select 'int_ads_campaigns' as record_entity, campaigns.* from campaigns
    union all
    select 'stg_billing__invoices' as record_entity, invoices.* from invoices
    union all
    select 'int_fulfilment_projects' as record_entity, projects.* from projects
    union all
    select 'stg_crm__orders' as record_entity, orders.* from orders
    union all
    select * from held_out_of_staging
)

select
    'amount_out_of_range' as exception_type,
    records.record_entity,
    records.record_id,
    records.client_name,
    records.currency,
    cast(null as decimal(18, 4)) as amount_at_risk,
    cast(null as decimal(18, 4)) as amount_at_risk_reporting,
    records.due_date
from records
