-- Every billable line of every invoice that bills (not void, not a duplicate export),
-- with the order reference that applies to it and its net amount.
--   * A line's own reference (its reference column, else its description) applies first.
--     The header's reference applies to a line without one only when no line of the
--     invoice names another order: a consolidated invoice is matched line by line, and
--     its header (often the first order's reference) does not swallow the other lines.
--     An invoice with no header reference whose lines name one order only bills that
--     order with all its lines ("IO-4217 media" + "Management fee").
--   * The reference an unreferenced line takes (the header's, or the one order the lines
--     name) does not take a line that bills another order of that order's client instead:
--     where the invoice bills that order more than its booking, an unreferenced line whose
--     amount is, to the cent, the booking of one other open order of the client (in the
--     invoice's currency, the invoice dated from 45 days before that order's service period
--     to 240 days after it) is an item of its own, as on a consolidated invoice, so long as
--     the lines so set apart (in line order) add up to no more than the over-billing
--     ("Google Ads - June" 6,000 + "Meta Ads - June" 4,500 under the reference of a 6,000
--     order, the client's other order booked at 4,500). A management fee or stock imagery
--     line beside the billing is no order's booking: it stays.
--   * Lines given including tax, with no flag (they sum to the header's total, not its
--     net), are converted to net in proportion; the rounding rest goes to the largest
--     line, so the lines sum to the header's net to the cent.
--   * Each line gets the billing item it belongs to (int_invoice_billing_items): the
--     invoice's lines for one reference, or an unreferenced line of a consolidated
--     invoice on its own, or the whole invoice when nothing on it names an order.
-- An invoice that arrived without lines counts as one line carrying its header amount.
with

invoices as (
    select * from {{ ref('stg_billing__invoices') }}
),

invoice_lines as (
    select * from {{ ref('stg_billing__invoice_lines') }}
),

mentions as (
    select * from {{ ref('int_reference_mentions') }}
),

orders as (
    select * from {{ ref('stg_crm__orders') }}
),

billing_invoices as (
    select *
    from invoices
    where not invoices.is_void
        and not invoices.is_duplicate_export
        -- Held out when its lines add up past what the models compute with (raised as
        -- amount_out_of_range by int_amounts_out_of_range).
        and invoices.invoice_id not in (
            select invoice_lines.invoice_id
            from invoice_lines
            inner join invoices as line_headers
                on invoice_lines.invoice_id = line_headers.invoice_id
            group by invoice_lines.invoice_id
            having not {{ recon_within_aggregate_range(
                'sum(abs(cast(invoice_lines.net_amount as decimal(38, 4))))', 'min(line_headers.currency)'
            ) }}
        )
),

all_lines as (
    select
        invoice_lines.invoice_line_id,
        invoice_lines.invoice_id,
        invoice_lines.line_number,
        invoice_lines.line_description,
        invoice_lines.net_amount as stated_amount
    from invoice_lines
    inner join billing_invoices
        on invoice_lines.invoice_id = billing_invoices.invoice_id
    union all
    select
        billing_invoices.invoice_id || '#0' as invoice_line_id,
        billing_invoices.invoice_id,
        0 as line_number,
        cast(null as string) as line_description,
        billing_invoices.net_amount as stated_amount
    from billing_invoices
    where not exists (
        select 1
        from invoice_lines
        where invoice_lines.invoice_id = billing_invoices.invoice_id
    )
),

invoice_sums as (
    select
        all_lines.invoice_id,
        sum(all_lines.stated_amount) as lines_amount
    from all_lines
    group by all_lines.invoice_id
),

tax_basis as (
    -- Lines are tax-inclusive when they add up to the total and not to the net.
    select
        billing_invoices.invoice_id,
        billing_invoices.net_amount as header_net_amount,
        billing_invoices.total_amount as header_total_amount,
        coalesce(
            billing_invoices.tax_amount <> 0
            and abs(invoice_sums.lines_amount - billing_invoices.total_amount) <= 0.01
            and abs(invoice_sums.lines_amount - billing_invoices.net_amount) > 0.01,
            false
        ) as is_tax_inclusive
    from billing_invoices
    inner join invoice_sums
        on billing_invoices.invoice_id = invoice_sums.invoice_id
),

netted as (
    select
        all_lines.*,
        tax_basis.is_tax_inclusive,
        case
            when tax_basis.is_tax_inclusive
                -- The share is computed in double precision and rounded to the cent at once;
                -- the rest of the rounding goes to the largest line below, in DECIMAL.
                then cast(round(
                    cast(all_lines.stated_amount as decimal(38, 4)) * tax_basis.header_net_amount
                        / nullif(tax_basis.header_total_amount, 0),
                    2
                ) as decimal(18, 4))
            else all_lines.stated_amount
        end as rounded_net_amount,
        tax_basis.header_net_amount,
        row_number() over (
            partition by all_lines.invoice_id
            order by abs(all_lines.stated_amount) desc, all_lines.line_number
        ) as size_rank
    from all_lines
    inner join tax_basis
        on all_lines.invoice_id = tax_basis.invoice_id
),

net_lines as (
    select
        {{ recon_star_exclude('netted', ['rounded_net_amount', 'header_net_amount', 'size_rank']) }},
        cast(case
            when netted.is_tax_inclusive and netted.size_rank = 1
                then netted.rounded_net_amount + netted.header_net_amount
                    - sum(netted.rounded_net_amount) over (partition by netted.invoice_id)
            else netted.rounded_net_amount
        end as decimal(18, 4)) as net_amount
    from netted
),

referenced as (
    select
        net_lines.*,
        line_mentions.reference_key as line_reference_key,
        line_mentions.mention_kind as line_mention_kind,
        line_mentions.mentioned_text as line_mentioned_text,
        line_mentions.reference_compared as line_reference_compared,
        header_mentions.reference_key as header_reference_key,
        header_mentions.mention_kind as header_mention_kind,
        header_mentions.mentioned_text as header_mentioned_text,
        header_mentions.reference_compared as header_reference_compared,
        {{ recon_count_distinct_over('line_mentions.reference_key', 'net_lines.invoice_id') }} as line_references,
        max(line_mentions.reference_key) over (partition by net_lines.invoice_id) as invoice_line_reference_key,
        {{ recon_count_distinct_over('case
            when line_mentions.reference_key is distinct from header_mentions.reference_key
                then line_mentions.reference_key
        end', 'net_lines.invoice_id') }} as lines_naming_other_orders
    from net_lines
    left join mentions as line_mentions
        on line_mentions.record_type = 'invoice_line'
        and net_lines.invoice_line_id = line_mentions.record_id
    left join mentions as header_mentions
        on header_mentions.record_type = 'invoice'
        and net_lines.invoice_id = header_mentions.record_id
),

defaulted as (
    -- The reference an unreferenced line takes: the header's when no line names another
    -- order, else, with no header reference, the one order the lines name (the invoice
    -- bills that order, its unreferenced lines included: "IO-4217 media" + "Management fee").
    select
        referenced.*,
        case
            when referenced.lines_naming_other_orders = 0 then referenced.header_reference_key
            when referenced.header_reference_key is null and referenced.line_references = 1
                then referenced.invoice_line_reference_key
        end as default_reference_key
    from referenced
),

invoice_orders as (
    -- The one order that reference names (not cancelled: an invoice quoting a cancelled
    -- order bills that order, billed_cancelled_order), with what the invoice bills beyond
    -- its booking (every line of the invoice bills it).
    select
        referenced.invoice_id,
        min(orders.order_id) as order_id,
        min(orders.client_id) as client_id,
        min(billing_invoices.currency) as currency,
        min(billing_invoices.issue_date) as issue_date,
        sum(referenced.net_amount) - min(orders.booked_amount) as over_billed_amount
    from defaulted as referenced
    inner join billing_invoices
        on referenced.invoice_id = billing_invoices.invoice_id
    inner join orders
        on referenced.default_reference_key = orders.order_reference_key
    group by referenced.invoice_id
    having count(distinct orders.order_id) = 1
        and not bool_or(orders.is_cancelled)
        and min(orders.currency) = min(billing_invoices.currency)
        and sum(referenced.net_amount) > min(orders.booked_amount)
),

other_order_lines as (
    -- Unreferenced lines of such an invoice that bill, to the cent, the booking of exactly
    -- one other open order of the header order's client.
    select
        referenced.invoice_line_id,
        referenced.invoice_id,
        referenced.line_number,
        referenced.net_amount,
        invoice_orders.over_billed_amount
    from referenced
    inner join invoice_orders
        on referenced.invoice_id = invoice_orders.invoice_id
    inner join orders
        on invoice_orders.client_id = orders.client_id
        and invoice_orders.order_id <> orders.order_id
        and invoice_orders.currency = orders.currency
        and not orders.is_cancelled
        and abs(orders.booked_amount - referenced.net_amount) < 0.005
        and {{ recon_days_between('orders.service_start_date', 'invoice_orders.issue_date') }} >= -45
        and {{ recon_days_between('orders.service_end_date', 'invoice_orders.issue_date') }} <= 240
    where referenced.line_reference_key is null
        and referenced.net_amount > 0
    group by
        referenced.invoice_line_id,
        referenced.invoice_id,
        referenced.line_number,
        referenced.net_amount,
        invoice_orders.over_billed_amount
    having count(distinct orders.order_id) = 1
),

set_apart as (
    -- Set apart while the over-billing covers them, in line order: the rest still bills
    -- the header's order at least its booking.
    select
        other_order_lines.*,
        sum(other_order_lines.net_amount) over (
            partition by other_order_lines.invoice_id
            order by other_order_lines.line_number
            rows between unbounded preceding and current row
        ) as set_apart_amount
    from other_order_lines
),

split_lines as (
    select set_apart.invoice_line_id
    from set_apart
    where set_apart.set_apart_amount <= set_apart.over_billed_amount + 0.005
),

applied as (
    select
        referenced.*,
        split_lines.invoice_line_id is not null as is_set_apart_for_other_order,
        referenced.line_reference_key is null
            and referenced.lines_naming_other_orders = 0
            and split_lines.invoice_line_id is null as is_header_reference_applied,
        case
            when referenced.line_reference_key is not null then referenced.line_reference_key
            when split_lines.invoice_line_id is null then referenced.default_reference_key
        end as reference_normalised
    from defaulted as referenced
    left join split_lines
        on referenced.invoice_line_id = split_lines.invoice_line_id
),

billable as (
    select
        applied.invoice_line_id,
        applied.invoice_id,
        applied.line_number,
        applied.line_description,
        applied.invoice_id || '#' || coalesce(
            applied.reference_normalised,
            case when applied.line_references > 0 or applied.is_set_apart_for_other_order then 'L' || applied.line_number end,
            ''
        ) as billing_item_id,
        applied.reference_normalised,
        case
            when applied.line_reference_key is not null then applied.line_mention_kind
            when applied.is_header_reference_applied then applied.header_mention_kind
        end as reference_kind,
        case
            when applied.line_reference_key is not null then applied.line_mentioned_text
            when applied.is_header_reference_applied then applied.header_mentioned_text
        end as reference,
        -- A line set apart from the header's order is not compared with its reference.
        case
            when applied.is_set_apart_for_other_order then applied.line_reference_compared
            else coalesce(
                applied.reference_normalised, applied.line_reference_compared, applied.header_reference_compared
            )
        end as reference_compared,
        applied.line_reference_key is not null as is_line_reference,
        applied.is_header_reference_applied,
        applied.is_set_apart_for_other_order,
        applied.is_tax_inclusive,
        applied.stated_amount,
        billing_invoices.client_name_billed,
        billing_invoices.client_name_normalised,
        billing_invoices.issue_date,
        billing_invoices.currency,
        applied.net_amount,
        {{ convert_amount('applied.net_amount', 'invoice_rate.rate_to_usd', 'reporting_rate.rate_to_usd') }}
            as net_amount_reporting
    from applied
    inner join billing_invoices
        on applied.invoice_id = billing_invoices.invoice_id
    {{ fx_rate_join('invoice_rate', 'billing_invoices.currency', 'billing_invoices.issue_date') }}
    {{ fx_reporting_rate_join('reporting_rate', 'billing_invoices.issue_date') }}
),

final as (
    select
        billable.*,
        -- Beside its item's largest line, quoting no reference of its own, positive: a line
        -- that may be an extra charge rather than billing of the booking (whether it is
        -- depends on the order's amounts: fct_order_invoice_matches).
        not billable.is_line_reference
            and billable.net_amount > 0
            and row_number() over (
                partition by billable.billing_item_id
                order by abs(billable.net_amount) desc, billable.line_number
            ) > 1 as is_secondary_line
    from billable
)

select * from final
