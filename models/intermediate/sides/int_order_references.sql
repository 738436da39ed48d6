-- Every reference an order can be quoted by, in canonical form: its own order reference
-- and the client's PO number. These are what free text is searched for: the shapes of
-- references are learned from the orders, not configured. `reference_key` is the order's
-- primary canonical reference, the value every mention of any of its references resolves to.
with

orders as (
    select * from {{ ref('stg_crm__orders') }}
),

quoted as (
    select
        orders.order_id,
        orders.client_id,
        orders.is_cancelled,
        'order_ref' as reference_field,
        orders.order_ref as reference_text,
        1 as reference_rank
    from orders
    where orders.order_ref is not null
    union all
    select
        orders.order_id,
        orders.client_id,
        orders.is_cancelled,
        'po_number' as reference_field,
        orders.po_number as reference_text,
        2 as reference_rank
    from orders
    where orders.po_number is not null
),

canonical as (
    select
        quoted.*,
        {{ canonical_reference('quoted.reference_text') }} as reference_canonical,
        {{ reference_group_body('quoted.reference_text') }} as group_body
    from quoted
),

keyed as (
    select
        canonical.order_id,
        canonical.client_id,
        canonical.is_cancelled,
        canonical.reference_field,
        canonical.reference_text,
        canonical.reference_canonical,
        -- Read group by group too ("PO-2026-000123" is PO:2026-123): a mention typed without
        -- a group's zero padding ("PO 2026/123") is looked up by it.
        {{ reference_grouped('canonical.group_body', "split_part(canonical.reference_canonical, ':', 1)") }}
            as reference_grouped,
        split_part(canonical.reference_canonical, ':', 1) as reference_family,
        split_part(canonical.reference_canonical, ':', 2) as reference_digits,
        min_by(canonical.reference_canonical, canonical.reference_rank)
            over (partition by canonical.order_id) as reference_key
    from canonical
    where canonical.reference_canonical is not null
)

select * from keyed
