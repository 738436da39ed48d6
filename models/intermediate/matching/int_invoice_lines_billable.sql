-- Every billable line of every non-void invoice, with the reference that applies to
-- it (the line's own, else the invoice header's) and its amount in reporting currency.
-- An invoice that arrived without lines counts as one line carrying its header amount.
with

invoices as (
    select * from {{ ref('stg_billing__invoices') }}
),

invoice_lines as (
    select * from {{ ref('stg_billing__invoice_lines') }}
),

fx_rates as (
    select * from {{ ref('fx_rates') }}
),

lines_with_header as (
    select
        invoice_lines.invoice_line_id,
        invoices.invoice_id,
        invoice_lines.line_number,
        coalesce(invoice_lines.reference, invoices.reference) as reference,
        coalesce(invoice_lines.reference_normalised, invoices.reference_normalised) as reference_normalised,
        invoice_lines.reference_normalised is not null as is_line_reference,
        invoice_lines.net_amount
    from invoices
    inner join invoice_lines
        on invoices.invoice_id = invoice_lines.invoice_id
),

headers_without_lines as (
    select
        invoices.invoice_id || '#0' as invoice_line_id,
        invoices.invoice_id,
        0 as line_number,
        invoices.reference,
        invoices.reference_normalised,
        false as is_line_reference,
        invoices.net_amount
    from invoices
    where not exists (
        select 1
        from invoice_lines
        where invoice_lines.invoice_id = invoices.invoice_id
    )
),

all_lines as (
    select * from lines_with_header
    union all
    select * from headers_without_lines
),

billable as (
    select
        all_lines.invoice_line_id,
        all_lines.invoice_id,
        all_lines.line_number,
        all_lines.reference,
        all_lines.reference_normalised,
        all_lines.is_line_reference,
        invoices.client_name_billed,
        invoices.client_name_normalised,
        invoices.issue_date,
        invoices.currency,
        all_lines.net_amount,
        {{ convert_amount('all_lines.net_amount', 'fx_rates.rate_to_usd', 'reporting_rate.rate_to_usd') }}
            as net_amount_reporting
    from all_lines
    inner join invoices
        on all_lines.invoice_id = invoices.invoice_id
    left join fx_rates
        on invoices.currency = fx_rates.currency
        and date_trunc('month', invoices.issue_date) = fx_rates.rate_month
    left join fx_rates as reporting_rate
        on reporting_rate.currency = '{{ var("reporting_currency") }}'
        and date_trunc('month', invoices.issue_date) = reporting_rate.rate_month
    where not invoices.is_void
)

select * from billable
