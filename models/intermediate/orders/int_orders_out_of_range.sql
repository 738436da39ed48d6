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

order_legs as (
    -- Each leg added up over the records matched to the order (int_order_legs).
    select * from {{ ref('int_order_legs') }}
),

legs as (
    select
        orders.order_id,
        orders.client_name,
        orders.currency,
        orders.service_start_date,
        {{ recon_within_order_range('order_legs.billed_amount', 'orders.currency') }}
            and {{ recon_within_order_range('order_legs.ancillary_amount', 'orders.currency') }}
            as billed_within_range,
        {{ recon_within_order_range('order_legs.credited_amount', 'orders.currency') }}
            as credited_within_range,
        {{ recon_within_order_range('order_legs.delivered_amount', 'orders.currency') }}
            and {{ recon_within_order_range('order_legs.platform_credit_amount', 'orders.currency') }}
            as delivered_within_range,
        {{ recon_within_order_range('order_legs.fulfilled_amount', 'orders.currency') }}
            and {{ recon_within_order_range('order_legs.planned_amount', 'orders.currency') }}
            as fulfilled_within_range
    from orders
    inner join order_legs
        on orders.order_id = order_legs.order_id
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
