-- The breaks the orders ↔ invoices reconciliation finds, one row per break. The
-- exception engine (typed exceptions, owners, SLA, lifecycle) builds on this shape.
with

exception_policy as (
    select * from {{ ref('exception_policy') }}
),

reconciled_orders as (
    select * from {{ ref('fct_reconciled_orders') }}
),

billing_items as (
    select * from {{ ref('int_invoice_billing_items') }}
),

item_states as (
    select * from {{ ref('int_orders_invoices__records') }}
    where side = 'right'
),

order_breaks as (
    select
        case
            when reconciled_orders.billing_state = 'not_billed' then 'unbilled_order'
            else 'amount_variance'
        end as exception_type,
        'stg_crm__orders' as record_entity,
        reconciled_orders.order_id as record_id,
        reconciled_orders.client_name,
        reconciled_orders.currency,
        case
            when reconciled_orders.billing_state = 'not_billed' then reconciled_orders.booked_amount
            else abs(reconciled_orders.billed_variance)
        end as amount_at_risk,
        case
            when reconciled_orders.billing_state = 'not_billed' then reconciled_orders.booked_amount_reporting
            else {{ convert_amount(
                'abs(reconciled_orders.billed_variance)',
                'reconciled_orders.booked_amount_reporting',
                'nullif(reconciled_orders.booked_amount, 0)'
            ) }}
        end as amount_at_risk_reporting
    from reconciled_orders
    where reconciled_orders.billing_state in ('not_billed', 'under_billed', 'over_billed')
),

item_breaks as (
    -- Billing items no order claims outright: orphans, and items whose order is only
    -- suggested or ambiguous (an operator must confirm before the amount counts).
    select
        case item_states.record_state
            when 'unmatched' then 'orphan_invoice'
            when 'ambiguous' then 'ambiguous_match'
            else 'match_needs_review'
        end as exception_type,
        'int_invoice_billing_items' as record_entity,
        billing_items.billing_item_id as record_id,
        billing_items.client_name_billed as client_name,
        billing_items.currency,
        billing_items.net_amount as amount_at_risk,
        billing_items.net_amount_reporting as amount_at_risk_reporting
    from billing_items
    inner join item_states
        on billing_items.billing_item_id = item_states.record_key
    where item_states.record_state != 'matched'
),

all_breaks as (
    select * from order_breaks
    union all
    select * from item_breaks
),

exceptions as (
    select
        md5(all_breaks.exception_type || '|' || all_breaks.record_entity || '|' || all_breaks.record_id)
            as exception_id,
        all_breaks.*,
        exception_policy.domain,
        exception_policy.owner_team,
        exception_policy.severity,
        exception_policy.sla_hours,
        'open' as exception_status
    from all_breaks
    left join exception_policy
        on all_breaks.exception_type = exception_policy.exception_type
)

select * from exceptions
