-- The billing items a duplicate_billing exception is about: for each order raised
-- duplicate_billing, the item that bills it again (the repeat) and the item it repeats (the
-- original), with invoice number, lines, date and amount, so an operator can credit the copy
-- without a query. Before, the exception named the order and the amount at stake only;
-- which of a retainer's five invoices of 3,300 was the copy took a query.
-- A repeat is an item billing the order the same amount (as invoiced: amount and currency)
-- as an item matched to it on another invoice: an item matched to it, dated after the
-- original (date, then invoice id), or an item left unmatched that repeats it (within 0.05,
-- its whole amount, within the spec's plausible_repeat window, of the order's client: the
-- item that would be an orphan invoice were it not a copy). Each repeat is paired with its
-- nearest original. Equal instalments and months bill the same amount too, so the pairs
-- within a billing cycle (duplicate_billing_window_days) are named; an order with none
-- names its closest pair. These are the evidence an operator reads, found after the rule
-- raised the order (int_exception_breaks decides whether it is a duplicate, and the amount).
{%- set repeat = recon_spec('orders_invoices').get('exceptions', {}).get('right', {}).get('plausible_repeat') or {} %}
with

raised as (
    select distinct breaks.record_id as order_id
    from {{ ref('int_exception_breaks') }} as breaks
    where breaks.exception_type = 'duplicate_billing'
        and breaks.record_entity = 'stg_crm__orders'
),

orders as (
    select * from {{ ref('stg_crm__orders') }}
),

invoices as (
    select * from {{ ref('stg_billing__invoices') }}
),

item_lines as (
    -- The lines of each billing item, as an operator finds them on the invoice: "1, 2".
    select
        lines.billing_item_id,
        {{ recon_list_join(recon_ordered_agg('cast(lines.line_number as string)', 'lines.line_number'), "', '") }}
            as line_numbers
    from {{ ref('int_invoice_lines_billable') }} as lines
    group by lines.billing_item_id
),

matched_items as (
    -- Items billing a raised order (credits and zero lines are no billing).
    select
        invoice_matches.order_id,
        invoice_matches.billing_item_id,
        invoice_matches.invoice_id,
        invoice_matches.issue_date,
        invoice_matches.invoice_currency as currency,
        invoice_matches.billed_amount as amount,
        true as is_matched
    from {{ ref('int_order_invoice_matches') }} as invoice_matches
    inner join raised
        on invoice_matches.order_id = raised.order_id
    where invoice_matches.billed_amount > 0
),

unmatched_items as (
    select items.*
    from {{ ref('int_invoice_billing_items') }} as items
    inner join {{ ref('int_orders_invoices__records') }} as records
        on records.side = 'right'
        and records.record_key = items.billing_item_id
        and records.record_state = 'unmatched'
),

unmatched_repeats as (
    -- Items left unmatched that bill a raised order's item again: same currency, its whole
    -- amount within 0.05, another invoice, within the repeat window, of the order's client
    -- (resolved to it, or named as it where no client was resolved). Joined on currency and
    -- client, each way apart: a join on the currency alone compares every raised order's
    -- items with every unmatched item of it.
    {%- for client_join in [
        'items.client_id_resolved = orders.client_id',
        'items.client_name_normalised = orders.client_name_normalised and items.client_id_resolved is null'
    ] %}
    select
        matched_items.order_id,
        items.billing_item_id,
        items.invoice_id,
        items.issue_date,
        items.currency,
        items.net_amount as amount,
        false as is_matched
    from matched_items
    inner join orders
        on matched_items.order_id = orders.order_id
    inner join unmatched_items as items
        on matched_items.currency = items.currency
        and {{ client_join }}
    where matched_items.invoice_id != items.invoice_id
        and abs(matched_items.amount - items.net_amount) <= {{ repeat.get('amount_abs', 0.05) }}
        and abs({{ recon_days_between('matched_items.issue_date', 'items.issue_date') }})
            <= {{ repeat.get('within_days', 62) }}
    {{ "union" if not loop.last }}
    {%- endfor %}
),

pairs as (
    -- Each repeat and its nearest original: for an item matched to the order, the latest
    -- matched item of the same amount before it; for an item left unmatched, the nearest
    -- matched item of that amount either side.
    select
        repeats.order_id,
        repeats.currency,
        originals.billing_item_id as original_billing_item_id,
        originals.invoice_id as original_invoice_id,
        originals.issue_date as original_issue_date,
        originals.amount as original_amount,
        repeats.billing_item_id as repeat_billing_item_id,
        repeats.invoice_id as repeat_invoice_id,
        repeats.issue_date as repeat_issue_date,
        repeats.amount as repeat_amount,
        repeats.is_matched as repeat_is_matched,
        abs({{ recon_days_between('originals.issue_date', 'repeats.issue_date') }}) as days_apart,
        row_number() over (
            partition by repeats.order_id, repeats.billing_item_id
            order by
                abs({{ recon_days_between('originals.issue_date', 'repeats.issue_date') }}),
                originals.issue_date desc,
                originals.invoice_id desc,
                originals.billing_item_id
        ) as nearest
    from (
        select * from matched_items
        union all
        select * from unmatched_repeats
    ) as repeats
    inner join matched_items as originals
        on repeats.order_id = originals.order_id
        and repeats.currency = originals.currency
        and repeats.invoice_id != originals.invoice_id
        and abs(repeats.amount - originals.amount) <= {{ repeat.get('amount_abs', 0.05) }}
    where not repeats.is_matched
        or originals.issue_date < repeats.issue_date
        or (originals.issue_date = repeats.issue_date and originals.invoice_id < repeats.invoice_id)
),

named as (
    -- Within a billing cycle, or the order's closest pair where none is.
    select
        pairs.*,
        min(pairs.days_apart) over (partition by pairs.order_id) as closest_days
    from pairs
    where pairs.nearest = 1
),

final as (
    select
        named.order_id,
        named.currency,
        named.original_billing_item_id,
        named.original_invoice_id,
        original_invoices.invoice_number as original_invoice_number,
        original_lines.line_numbers as original_line_numbers,
        named.original_issue_date,
        cast(named.original_amount as decimal(18, 4)) as original_amount,
        named.repeat_billing_item_id,
        named.repeat_invoice_id,
        repeat_invoices.invoice_number as repeat_invoice_number,
        repeat_lines.line_numbers as repeat_line_numbers,
        named.repeat_issue_date,
        cast(named.repeat_amount as decimal(18, 4)) as repeat_amount,
        named.repeat_is_matched,
        named.days_apart
    from named
    left join invoices as original_invoices
        on named.original_invoice_id = original_invoices.invoice_id
    left join invoices as repeat_invoices
        on named.repeat_invoice_id = repeat_invoices.invoice_id
    left join item_lines as original_lines
        on named.original_billing_item_id = original_lines.billing_item_id
    left join item_lines as repeat_lines
        on named.repeat_billing_item_id = repeat_lines.billing_item_id
    where named.days_apart <= {{ bounded_var('duplicate_billing_window_days', 0, 366, integer=true) }}
        or named.days_apart = named.closest_days
)

select * from final
