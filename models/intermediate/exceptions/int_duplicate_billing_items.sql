-- The billing items a duplicate_billing exception is about, as the rule that raised it
-- compared them: int_exception_breaks carries, on each duplicate_billing exception, the rule
-- that decided it (duplicate_billing_rule) and the pairs of items that rule compared
-- (duplicate_billing_pairs); this names them with invoice number, lines, date and amount as
-- invoiced, so an operator can credit the copy without a query. One row per item billing
-- the order again (the repeat) with the item it repeats (the original); an order raised by
-- a rule that compares no item with another (billed_twice_the_booking: billed about twice
-- the booking in all) has one row naming no item, with what was billed and booked, and the
-- invoices it was billed on. Before, the items were worked out after the rule, apart from
-- it: an order billed twice the booking in unequal items (two instalments and a copy of the
-- whole) was shown its two equal instalments as "billed again", or nothing.
-- Of two items matched to the order, the later is named the repeat (by issue date, then
-- invoice id), and an unmatched item repeating a matched one is: an order, not a finding.
-- The rules compare two items billing one amount, not which is the copy (B 11, 20,000
-- orders: the later was the planted copy in 17 of 34 over-billed orders' pairs, the
-- unmatched one in 2 of 9), so `show` and the desk call neither the copy. An item the rule
-- paired with more than one (three equal items within a billing cycle) is shown with the
-- nearest.
with

raised as (
    select
        breaks.record_id as order_id,
        breaks.duplicate_billing_rule as rule,
        breaks.duplicate_billing_pairs as pairs
    from {{ ref('int_exception_breaks') }} as breaks
    where breaks.exception_type = 'duplicate_billing'
        and breaks.record_entity = 'stg_crm__orders'
),

orders as (
    select * from {{ ref('int_reconciled_orders') }}
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

compared as (
    -- The pairs the rule compared, one row each.
    select
        unnested.order_id,
        unnested.pair.original_item_id as first_item_id,
        unnested.pair.repeat_item_id as second_item_id
    from (
        select raised.order_id, {{ recon_unnest('raised.pairs') }} as pair
        from raised
    ) as unnested
),

items as (
    -- Each compared item as it bills the order (matched to it: amount and currency as
    -- invoiced), or as invoiced (an item left unmatched).
    select
        compared_items.order_id,
        compared_items.billing_item_id,
        coalesce(invoice_matches.invoice_id, billing_items.invoice_id) as invoice_id,
        coalesce(invoice_matches.issue_date, billing_items.issue_date) as issue_date,
        coalesce(invoice_matches.invoice_currency, billing_items.currency) as currency,
        coalesce(invoice_matches.billed_amount, billing_items.net_amount) as amount,
        invoice_matches.billing_item_id is not null as is_matched
    from (
        select compared.order_id, compared.first_item_id as billing_item_id from compared
        union
        select compared.order_id, compared.second_item_id from compared
    ) as compared_items
    left join {{ ref('int_order_invoice_matches') }} as invoice_matches
        on compared_items.order_id = invoice_matches.order_id
        and compared_items.billing_item_id = invoice_matches.billing_item_id
    left join {{ ref('int_invoice_billing_items') }} as billing_items
        on compared_items.billing_item_id = billing_items.billing_item_id
),

oriented as (
    -- The repeat: the unmatched item, else the later of the two.
    select
        compared_pairs.order_id,
        case when compared_pairs.swapped then compared_pairs.second_item_id else compared_pairs.first_item_id end
            as original_billing_item_id,
        case when compared_pairs.swapped then compared_pairs.first_item_id else compared_pairs.second_item_id end
            as repeat_billing_item_id
    from (
        select
            compared.order_id,
            compared.first_item_id,
            compared.second_item_id,
            (not first_items.is_matched and second_items.is_matched)
            or (
                first_items.is_matched = second_items.is_matched
                and (
                    first_items.issue_date > second_items.issue_date
                    or (first_items.issue_date = second_items.issue_date and first_items.invoice_id > second_items.invoice_id)
                )
            ) as swapped
        from compared
        inner join items as first_items
            on compared.order_id = first_items.order_id
            and compared.first_item_id = first_items.billing_item_id
        inner join items as second_items
            on compared.order_id = second_items.order_id
            and compared.second_item_id = second_items.billing_item_id
    ) as compared_pairs
),

pairs as (
    select
        oriented.order_id,
        originals.currency,
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
            partition by oriented.order_id, repeats.billing_item_id
            order by
                abs({{ recon_days_between('originals.issue_date', 'repeats.issue_date') }}),
                originals.issue_date desc,
                originals.invoice_id desc,
                originals.billing_item_id
        ) as nearest
    from oriented
    inner join items as originals
        on oriented.order_id = originals.order_id
        and oriented.original_billing_item_id = originals.billing_item_id
    inner join items as repeats
        on oriented.order_id = repeats.order_id
        and oriented.repeat_billing_item_id = repeats.billing_item_id
),

final as (
    select
        raised.order_id,
        raised.rule,
        coalesce(pairs.currency, orders.currency) as currency,
        -- What the order was billed and booked, in its currency, on how many invoices: what
        -- billed_twice_the_booking compares.
        orders.currency as order_currency,
        cast(orders.booked_amount as decimal(18, 4)) as booked_amount,
        cast(orders.billed_amount as decimal(18, 4)) as billed_amount,
        orders.invoice_count,
        pairs.original_billing_item_id,
        pairs.original_invoice_id,
        original_invoices.invoice_number as original_invoice_number,
        original_lines.line_numbers as original_line_numbers,
        pairs.original_issue_date,
        cast(pairs.original_amount as decimal(18, 4)) as original_amount,
        pairs.repeat_billing_item_id,
        pairs.repeat_invoice_id,
        repeat_invoices.invoice_number as repeat_invoice_number,
        repeat_lines.line_numbers as repeat_line_numbers,
        pairs.repeat_issue_date,
        cast(pairs.repeat_amount as decimal(18, 4)) as repeat_amount,
        pairs.repeat_is_matched,
        pairs.days_apart
    from raised
    left join orders
        on raised.order_id = orders.order_id
    left join pairs
        on raised.order_id = pairs.order_id
        and pairs.nearest = 1
    left join invoices as original_invoices
        on pairs.original_invoice_id = original_invoices.invoice_id
    left join invoices as repeat_invoices
        on pairs.repeat_invoice_id = repeat_invoices.invoice_id
    left join item_lines as original_lines
        on pairs.original_billing_item_id = original_lines.billing_item_id
    left join item_lines as repeat_lines
        on pairs.repeat_billing_item_id = repeat_lines.billing_item_id
)

select * from final
