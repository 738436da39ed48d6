-- Orders whose legs add up past the range the models compute with. Every record matched to
-- an order is within its currency's range (landing contract; totals of many rows held out by
-- recon_within_aggregate_range), yet an order's leg adds up as many records as are matched
-- to it: 120 campaigns of 990,000,000,000 JPY each on one JPY order overflowed
-- int_reconciled_orders, and the run stopped naming a model, not the file. Such an order is
-- held out of the reconciled dataset (int_reconciled_orders) and raised as
-- amount_out_of_range (int_amounts_out_of_range); its records stay loaded and matched, and
-- `recon trace` shows them. A leg is in the order currency; its range is five times one
-- amount's there (recon_within_order_range), so that one record at the top of its range,
-- converted, fits, and the leg converts into the reporting currency within DECIMAL(18, 4).
with

orders as (
    select * from {{ ref('stg_crm__orders') }}
),

billed as (
    select
        invoice_matches.order_id,
        sum(invoice_matches.billed_amount_order_currency) as billed_amount,
        sum(invoice_matches.ancillary_amount_order_currency) as ancillary_amount
    from {{ ref('int_order_invoice_matches') }} as invoice_matches
    group by invoice_matches.order_id
),

legs as (
    select
        orders.order_id,
        orders.client_name,
        orders.currency,
        orders.service_start_date,
        {{ recon_within_order_range('coalesce(billed.billed_amount, 0)', 'orders.currency') }}
            and {{ recon_within_order_range('coalesce(billed.ancillary_amount, 0)', 'orders.currency') }}
            as billed_within_range,
        {{ recon_within_order_range('coalesce(credited.credited_amount, 0)', 'orders.currency') }}
            as credited_within_range,
        {{ recon_within_order_range('coalesce(delivered.spend_amount, 0)', 'orders.currency') }}
            and {{ recon_within_order_range('coalesce(delivered.credit_amount, 0)', 'orders.currency') }}
            as delivered_within_range,
        {{ recon_within_order_range('coalesce(fulfilled.fulfilled_amount, 0)', 'orders.currency') }}
            and {{ recon_within_order_range('coalesce(fulfilled.planned_amount, 0)', 'orders.currency') }}
            as fulfilled_within_range
    from orders
    left join billed
        on orders.order_id = billed.order_id
    left join {{ ref('int_orders_credited') }} as credited
        on orders.order_id = credited.order_id
    left join {{ ref('int_orders_delivered') }} as delivered
        on orders.order_id = delivered.order_id
    left join {{ ref('int_orders_fulfilled') }} as fulfilled
        on orders.order_id = fulfilled.order_id
)

select
    legs.order_id,
    legs.client_name,
    legs.currency,
    legs.service_start_date,
    -- Which legs are past the range, for the rule an operator reads.
    concat_ws(', ',
        case when not legs.billed_within_range then 'billed' end,
        case when not legs.credited_within_range then 'credited' end,
        case when not legs.delivered_within_range then 'delivered' end,
        case when not legs.fulfilled_within_range then 'fulfilled' end
    ) as legs_out_of_range
from legs
where not (legs.billed_within_range and legs.credited_within_range
    and legs.delivered_within_range and legs.fulfilled_within_range)
