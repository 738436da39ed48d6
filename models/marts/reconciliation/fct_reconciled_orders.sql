-- One row per CRM order: the system of record for "was what we sold billed?".
-- The billed leg sums matched invoice lines converted to the order currency at each
-- invoice's month rate; the state follows from the variance against the booking.
with

orders as (
    select * from {{ ref('stg_crm__orders') }}
),

matches as (
    select * from {{ ref('fct_order_invoice_matches') }}
),

fx_rates as (
    select * from {{ ref('fx_rates') }}
),

billed as (
    select
        matches.order_id,
        count(distinct matches.invoice_id) as invoice_count,
        sum(matches.billed_amount_order_currency) as billed_amount,
        sum(matches.billed_amount_reporting) as billed_amount_reporting,
        min(matches.issue_date) as first_invoiced_date,
        max(matches.issue_date) as last_invoiced_date
    from matches
    group by matches.order_id
),

joined as (
    select
        orders.order_id,
        orders.client_id,
        orders.client_name,
        orders.order_ref,
        orders.order_type,
        orders.order_status,
        orders.account_manager,
        orders.service_start_date,
        orders.service_end_date,
        orders.currency,
        orders.booked_amount,
        {{ convert_amount('orders.booked_amount', 'order_rate.rate_to_usd', 'reporting_rate.rate_to_usd') }}
            as booked_amount_reporting,
        cast(coalesce(billed.invoice_count, 0) as integer) as invoice_count,
        cast(coalesce(billed.billed_amount, 0) as decimal(18, 4)) as billed_amount,
        cast(coalesce(billed.billed_amount_reporting, 0) as decimal(18, 4)) as billed_amount_reporting,
        cast(coalesce(billed.billed_amount, 0) - orders.booked_amount as decimal(18, 4)) as billed_variance,
        cast(greatest(
            {{ var('amount_tolerance_abs') }},
            {{ var('amount_tolerance_rel') }} * abs(orders.booked_amount)
        ) as decimal(18, 4)) as variance_tolerance,
        billed.first_invoiced_date,
        billed.last_invoiced_date,
        orders.is_cancelled
    from orders
    left join billed
        on orders.order_id = billed.order_id
    left join fx_rates as order_rate
        on orders.currency = order_rate.currency
        and date_trunc('month', orders.service_end_date) = order_rate.rate_month
    left join fx_rates as reporting_rate
        on reporting_rate.currency = '{{ var("reporting_currency") }}'
        and date_trunc('month', orders.service_end_date) = reporting_rate.rate_month
),

reconciled as (
    select
        joined.*,
        case
            when joined.is_cancelled and joined.invoice_count = 0 then 'cancelled'
            when joined.invoice_count = 0 then 'not_billed'
            when abs(joined.billed_variance) <= joined.variance_tolerance then 'billed'
            when joined.billed_variance < 0 then 'under_billed'
            else 'over_billed'
        end as billing_state
    from joined
)

select * from reconciled
