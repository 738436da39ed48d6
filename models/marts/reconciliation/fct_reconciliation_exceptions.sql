-- The breaks the first reconciliation pass can see, one row per break. The exception
-- engine (typed exceptions, owners, SLA, lifecycle) builds on this shape.
with

reconciled_orders as (
    select * from {{ ref('fct_reconciled_orders') }}
),

invoice_lines as (
    select * from {{ ref('int_invoice_lines_billable') }}
),

matches as (
    select * from {{ ref('fct_order_invoice_matches') }}
),

order_breaks as (
    select
        case
            when reconciled_orders.billing_state = 'not_billed' then 'unbilled_order'
            else 'amount_variance'
        end as exception_type,
        'crm__orders' as record_entity,
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

orphan_lines as (
    select
        'orphan_invoice_line' as exception_type,
        'billing__invoice_lines' as record_entity,
        invoice_lines.invoice_line_id as record_id,
        invoice_lines.client_name_billed as client_name,
        invoice_lines.currency,
        invoice_lines.net_amount as amount_at_risk,
        invoice_lines.net_amount_reporting as amount_at_risk_reporting
    from invoice_lines
    left join matches
        on invoice_lines.invoice_line_id = matches.invoice_line_id
    where matches.invoice_line_id is null
),

all_breaks as (
    select * from order_breaks
    union all
    select * from orphan_lines
),

exceptions as (
    select
        md5(all_breaks.exception_type || '|' || all_breaks.record_entity || '|' || all_breaks.record_id)
            as exception_id,
        all_breaks.*,
        'open' as exception_status
    from all_breaks
)

select * from exceptions
