-- What an invoice bills for one order: its billable lines grouped by the reference that
-- applies to them. A two-line invoice ("media" + "agency fee") for one order is one
-- item carrying the order's full amount; a consolidated invoice whose lines quote
-- different orders becomes one item per order. Items are what orders are matched to.
with

invoice_lines as (
    select * from {{ ref('int_invoice_lines_billable') }}
),

items as (
    select
        invoice_lines.invoice_id || '#' || coalesce(invoice_lines.reference_normalised, '') as billing_item_id,
        invoice_lines.invoice_id,
        invoice_lines.reference_normalised,
        min(invoice_lines.reference) as reference,
        min(invoice_lines.client_name_billed) as client_name_billed,
        min(invoice_lines.client_name_normalised) as client_name_normalised,
        min(invoice_lines.issue_date) as issue_date,
        min(invoice_lines.currency) as currency,
        count(*) as line_count,
        cast(sum(invoice_lines.net_amount) as decimal(18, 4)) as net_amount,
        cast(sum(invoice_lines.net_amount_reporting) as decimal(18, 4)) as net_amount_reporting
    from invoice_lines
    group by invoice_lines.invoice_id, invoice_lines.reference_normalised
)

select * from items
