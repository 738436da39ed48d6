-- One row per CRM order: what each leg adds up to over the records matched to it, in the
-- order currency. The one definition of an order's legs: int_orders_out_of_range holds out
-- the orders whose legs are past their currency's range, and int_reconciled_orders
-- reconciles the rest. Before, the billed leg was summed in both, each its own way
-- of the same rows. Amounts and counts are 0 for a leg nothing is matched to; dates are
-- null. Sums are left as DuckDB adds them (DECIMAL(38, 4)): an order whose leg overflows
-- DECIMAL(18, 4) must reach int_orders_out_of_range whole, not fail here.
with

orders as (
    select * from {{ ref('stg_crm__orders') }}
),

invoice_matches as (
    select * from {{ ref('int_order_invoice_matches') }}
),

credited as (
    select * from {{ ref('int_orders_credited') }}
),

delivered as (
    select * from {{ ref('int_orders_delivered') }}
),

fulfilled as (
    select * from {{ ref('int_orders_fulfilled') }}
),

billed as (
    select
        invoice_matches.order_id,
        count(distinct invoice_matches.invoice_id) as invoice_count,
        sum(invoice_matches.billed_amount_order_currency) as billed_amount,
        sum(invoice_matches.ancillary_amount_order_currency) as ancillary_amount,
        min(invoice_matches.issue_date) as first_invoiced_date,
        max(invoice_matches.issue_date) as last_invoiced_date
    from invoice_matches
    group by invoice_matches.order_id
),

final as (
    select
        orders.order_id,
        coalesce(billed.invoice_count, 0) as invoice_count,
        coalesce(billed.billed_amount, 0) as billed_amount,
        coalesce(billed.ancillary_amount, 0) as ancillary_amount,
        billed.first_invoiced_date,
        billed.last_invoiced_date,
        coalesce(credited.credited_amount, 0) as credited_amount,
        coalesce(delivered.campaign_count, 0) as campaign_count,
        coalesce(delivered.spend_amount, 0) as delivered_amount,
        coalesce(delivered.credit_amount, 0) as platform_credit_amount,
        delivered.first_delivery_date,
        delivered.last_delivery_date,
        coalesce(fulfilled.deliverable_count, 0) as deliverable_count,
        coalesce(fulfilled.fulfilled_amount, 0) as fulfilled_amount,
        coalesce(fulfilled.planned_amount, 0) as planned_amount,
        fulfilled.last_completed_date
    from orders
    left join billed
        on orders.order_id = billed.order_id
    left join credited
        on orders.order_id = credited.order_id
    left join delivered
        on orders.order_id = delivered.order_id
    left join fulfilled
        on orders.order_id = fulfilled.order_id
)

select * from final
