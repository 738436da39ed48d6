with

matched as (
    select * from {{ ref('int_orders_invoices_matched') }}
),

orders as (
    select * from {{ ref('stg_crm__orders') }}
),

invoice_lines as (
    select * from {{ ref('int_invoice_lines_billable') }}
),

fx_rates as (
    select * from {{ ref('fx_rates') }}
),

matches as (
    select
        md5(matched.order_id || '|' || matched.invoice_line_id || '|' || '{{ var("rule_version") }}') as match_id,
        matched.order_id,
        matched.invoice_id,
        matched.invoice_line_id,
        matched.match_pass,
        matched.match_score,
        '{{ var("rule_version") }}' as rule_version,
        invoice_lines.issue_date,
        invoice_lines.currency as invoice_currency,
        invoice_lines.net_amount as billed_amount,
        orders.currency as order_currency,
        {{ convert_amount('invoice_lines.net_amount', 'invoice_rate.rate_to_usd', 'order_rate.rate_to_usd') }}
            as billed_amount_order_currency,
        invoice_lines.net_amount_reporting as billed_amount_reporting,
        '{{ invocation_id }}' as dbt_invocation_id
    from matched
    inner join orders
        on matched.order_id = orders.order_id
    inner join invoice_lines
        on matched.invoice_line_id = invoice_lines.invoice_line_id
    left join fx_rates as invoice_rate
        on invoice_lines.currency = invoice_rate.currency
        and date_trunc('month', invoice_lines.issue_date) = invoice_rate.rate_month
    left join fx_rates as order_rate
        on orders.currency = order_rate.currency
        and date_trunc('month', invoice_lines.issue_date) = order_rate.rate_month
)

select * from matches
