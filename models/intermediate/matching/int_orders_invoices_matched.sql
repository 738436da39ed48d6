-- First deterministic pass of orders ↔ invoices: an invoice line belongs to an order
-- when their normalised references are equal and no other order shares that
-- reference. This model is the seam the matching engine replaces: downstream marts
-- read only its columns (order_id, invoice_line_id, match_pass, match_score).
with

orders as (
    select * from {{ ref('stg_crm__orders') }}
),

invoice_lines as (
    select * from {{ ref('int_invoice_lines_billable') }}
),

unique_references as (
    -- A reference used by two orders identifies neither: leave those to review.
    select orders.order_ref_normalised
    from orders
    where orders.order_ref_normalised is not null
    group by orders.order_ref_normalised
    having count(*) = 1
),

matched as (
    select
        orders.order_id,
        invoice_lines.invoice_line_id,
        invoice_lines.invoice_id,
        'reference_exact' as match_pass,
        cast(1.0 as decimal(5, 4)) as match_score
    from orders
    inner join unique_references
        on orders.order_ref_normalised = unique_references.order_ref_normalised
    inner join invoice_lines
        on orders.order_ref_normalised = invoice_lines.reference_normalised
)

select * from matched
