-- Orders ↔ invoices auto-matches (deterministic, probabilistic above the auto-match
-- threshold, or groups) with the billed amount in invoice, order and reporting currency.
-- A billing item matched to several orders (an N:1 group, or an operator's link to
-- several) is allocated to them in proportion to their booked amounts, compared in USD at
-- the item's month (orders in two currencies), equally where they book nothing; the
-- first order takes the rounding, so billed amounts add up to the item exactly.
--
-- Extra charges are set aside from what bills the order. An invoice often carries, beside
-- the line that bills the booking, small lines the booking does not account for ("Stock
-- imagery", "Late payment fee"): they quote no reference of their own and share the
-- header's. When an order is over-billed by exactly such lines — its items' lines other
-- than each item's largest, without an own reference, or else each item's smallest such
-- line — and is billed as booked without them, they are its ancillary_amount, not billing
-- of the booking. Where the lines are
-- part of the booking ("media" + "agency fee" summing to it), nothing is set aside.
-- What the amounts decide is also learned per description: a description (its words, with
-- digits, dates and references dropped) that the amounts set aside at least
-- var extra_charge_min_evidence times and that billed a booking at most once in
-- var extra_charge_max_billed_share as often is an extra charge wherever it appears, also
-- where the amounts cannot tell (a courier line within the amount tolerance, an order
-- billed in instalments): learned_extras.
-- billed_amount + ancillary_amount is always the item's allocation.
with

decisions as (
    select * from {{ ref('int_orders_invoices__decisions') }}
    where decision = 'matched'
),

orders as (
    select * from {{ ref('stg_crm__orders') }}
),

billing_items as (
    select * from {{ ref('int_invoice_billing_items') }}
),

invoice_lines as (
    select * from {{ ref('int_invoice_lines_billable') }}
),

allocated as (
    select
        weighed.*,
        -- The share is a ratio (double); the money it allocates is rounded back to DECIMAL
        -- and the rounding difference goes to the first member. Orders that book nothing
        -- (0.00 is a valid booking) share equally instead of dividing by zero.
        coalesce(
            cast(
                weighed.item_amount * weighed.share_weight
                / nullif(sum(weighed.share_weight) over (partition by weighed.right_key), 0)
                as decimal(18, 4)
            ),
            cast(weighed.item_amount / count(*) over (partition by weighed.right_key) as decimal(18, 4))
        ) as rounded_share
    from (
        select
            decisions.*,
            cast(billing_items.net_amount as double) as item_amount,
            cast(orders.booked_amount as double) * coalesce(cast(share_rate.rate_to_usd as double), 1.0)
                as share_weight,
            row_number() over (partition by decisions.right_key order by decisions.left_key) as member_order
        from decisions
        inner join orders
            on decisions.left_key = orders.order_id
        inner join billing_items
            on decisions.right_key = billing_items.billing_item_id
        {{ fx_rate_join('share_rate', 'orders.currency', 'billing_items.issue_date') }}
    ) as weighed
),

secondary_lines as (
    -- Per billing item, the lines that may be extra charges (int_invoice_lines_billable):
    -- all of them, and the smallest alone (an invoice of "media", "agency fee" and "stock
    -- imagery" whose first two bill the booking).
    select
        invoice_lines.billing_item_id,
        sum(invoice_lines.net_amount) as secondary_amount,
        min(invoice_lines.net_amount) as smallest_secondary_amount
    from invoice_lines
    where invoice_lines.is_secondary_line
    group by invoice_lines.billing_item_id
),

secondary_line_keys as (
    select
        invoice_lines.billing_item_id,
        invoice_lines.line_number,
        invoice_lines.net_amount,
        nullif(trim({{ regexp_replace_all(
            regexp_replace_all('lower(invoice_lines.line_description)', '[^ ]*[0-9][^ ]*', ''), ' +', ' '
        ) }}), '') as description_key,
        row_number() over (
            partition by invoice_lines.billing_item_id
            order by invoice_lines.net_amount, invoice_lines.line_number
        ) = 1 as is_smallest
    from invoice_lines
    where invoice_lines.is_secondary_line
),

shares as (
    select
        allocated.*,
        case
            when allocated.member_order = 1
                then billing_items.net_amount - sum(allocated.rounded_share) over (partition by allocated.right_key)
                    + allocated.rounded_share
            else allocated.rounded_share
        end as allocated_amount
    from allocated
    inner join billing_items
        on allocated.right_key = billing_items.billing_item_id
),

allocations as (
    select
        decisions.match_id,
        decisions.left_key as order_id,
        billing_items.invoice_id,
        decisions.right_key as billing_item_id,
        decisions.pass_name as match_pass,
        cast(decisions.match_probability as double) as match_probability,
        cast(decisions.match_weight as double) as match_weight,
        decisions.score_components,
        decisions.rule_version,
        billing_items.issue_date,
        billing_items.currency as invoice_currency,
        cast(decisions.allocated_amount as decimal(18, 4)) as allocated_amount,
        -- Only an item billing one order can carry that order's extra charges.
        case
            when count(*) over (partition by decisions.right_key) = 1
                then coalesce(secondary_lines.secondary_amount, 0)
            else 0
        end as secondary_amount,
        case
            when count(*) over (partition by decisions.right_key) = 1
                then coalesce(secondary_lines.smallest_secondary_amount, 0)
            else 0
        end as smallest_secondary_amount,
        orders.currency as order_currency,
        orders.booked_amount,
        invoice_rate.rate_to_usd as invoice_rate,
        order_rate.rate_to_usd as order_rate,
        reporting_rate.rate_to_usd as reporting_rate
    from shares as decisions
    inner join orders
        on decisions.left_key = orders.order_id
    inner join billing_items
        on decisions.right_key = billing_items.billing_item_id
    left join secondary_lines
        on decisions.right_key = secondary_lines.billing_item_id
    {{ fx_reporting_rate_join('reporting_rate', 'billing_items.issue_date') }}
    {{ fx_rate_join('invoice_rate', 'billing_items.currency', 'billing_items.issue_date') }}
    {{ fx_rate_join('order_rate', 'orders.currency', 'billing_items.issue_date') }}
),

order_billing as (
    -- Orders over-billed by exactly their items' secondary lines: those are extra charges.
    select
        allocations.order_id,
        min(allocations.booked_amount) as booked_amount,
        sum({{ convert_amount('allocations.allocated_amount', 'allocations.invoice_rate', 'allocations.order_rate') }})
            as billed_order_currency,
        sum({{ convert_amount('allocations.secondary_amount', 'allocations.invoice_rate', 'allocations.order_rate') }})
            as secondary_order_currency,
        sum({{ convert_amount('allocations.smallest_secondary_amount', 'allocations.invoice_rate', 'allocations.order_rate') }})
            as smallest_secondary_order_currency
    from allocations
    group by allocations.order_id
),

extras_set_aside as (
    -- All secondary lines when the booking then agrees, else each item's smallest one.
    select
        order_billing.order_id,
        case
            when abs(order_billing.billed_order_currency - order_billing.secondary_order_currency - order_billing.booked_amount)
                <= {{ amount_tolerance('order_billing.booked_amount') }}
                then 'all_secondary'
            when abs(
                    order_billing.billed_order_currency - order_billing.smallest_secondary_order_currency
                    - order_billing.booked_amount
                ) <= {{ amount_tolerance('order_billing.booked_amount') }}
                then 'smallest_secondary'
        end as ancillary_rule
    from order_billing
    where order_billing.secondary_order_currency > 0
        and abs(order_billing.billed_order_currency - order_billing.booked_amount)
            > {{ amount_tolerance('order_billing.booked_amount') }}
),

description_evidence as (
    -- How each description fared where the amounts decided, on items billing one order in
    -- its own currency: set aside (the order agrees only without it) or billing the
    -- booking (the order agrees with it and would not without it).
    select
        secondary_line_keys.description_key,
        count(*) filter (
            where extras_set_aside.ancillary_rule = 'all_secondary'
                or (extras_set_aside.ancillary_rule = 'smallest_secondary' and secondary_line_keys.is_smallest)
        ) as times_set_aside,
        count(*) filter (
            where extras_set_aside.ancillary_rule is null
                and abs(order_billing.billed_order_currency - order_billing.booked_amount)
                    <= {{ amount_tolerance('order_billing.booked_amount') }}
                and abs(order_billing.billed_order_currency - secondary_line_keys.net_amount - order_billing.booked_amount)
                    > {{ amount_tolerance('order_billing.booked_amount') }}
        ) as times_billed
    from secondary_line_keys
    inner join allocations
        on secondary_line_keys.billing_item_id = allocations.billing_item_id
    inner join order_billing
        on allocations.order_id = order_billing.order_id
    left join extras_set_aside
        on allocations.order_id = extras_set_aside.order_id
    where secondary_line_keys.description_key is not null
        and allocations.secondary_amount <> 0
        and allocations.invoice_currency = allocations.order_currency
    group by secondary_line_keys.description_key
),

extra_descriptions as (
    select description_evidence.description_key
    from description_evidence
    where description_evidence.times_set_aside >= {{ bounded_var('extra_charge_min_evidence', 1, 1000000, integer=true) }}
        and description_evidence.times_billed
            <= {{ bounded_var('extra_charge_max_billed_share', 0, 1) }} * description_evidence.times_set_aside
),

set_aside_lines as (
    -- Per item, the line numbers each rule would set aside.
    select
        secondary_line_keys.billing_item_id,
        {{ recon_ordered_agg('secondary_line_keys.line_number', 'secondary_line_keys.line_number') }} as all_secondary_lines,
        {{ recon_list_agg('secondary_line_keys.line_number') }} filter (where secondary_line_keys.is_smallest) as smallest_secondary_lines,
        {{ recon_ordered_agg('secondary_line_keys.line_number', 'secondary_line_keys.line_number',
            filter='where extra_descriptions.description_key is not null') }} as learned_extra_lines,
        sum(secondary_line_keys.net_amount) filter (where extra_descriptions.description_key is not null)
            as learned_extra_amount
    from secondary_line_keys
    left join extra_descriptions
        on secondary_line_keys.description_key = extra_descriptions.description_key
    group by secondary_line_keys.billing_item_id
),

ruled as (
    select
        allocations.*,
        case
            when extras_set_aside.ancillary_rule is not null then extras_set_aside.ancillary_rule
            -- Only an item billing one order can carry that order's extra charges.
            when allocations.secondary_amount <> 0 and set_aside_lines.learned_extra_amount is not null
                then 'learned_extras'
        end as ancillary_rule,
        set_aside_lines.all_secondary_lines,
        set_aside_lines.smallest_secondary_lines,
        set_aside_lines.learned_extra_lines,
        set_aside_lines.learned_extra_amount
    from allocations
    left join extras_set_aside
        on allocations.order_id = extras_set_aside.order_id
    left join set_aside_lines
        on allocations.billing_item_id = set_aside_lines.billing_item_id
),

split as (
    select
        {{ recon_star_exclude('ruled', ['all_secondary_lines', 'smallest_secondary_lines', 'learned_extra_lines', 'learned_extra_amount']) }},
        cast(
            case ruled.ancillary_rule
                when 'all_secondary' then ruled.secondary_amount
                when 'smallest_secondary' then ruled.smallest_secondary_amount
                when 'learned_extras' then ruled.learned_extra_amount
                else 0
            end
            as decimal(18, 4)
        ) as ancillary_amount,
        case ruled.ancillary_rule
            when 'all_secondary' then ruled.all_secondary_lines
            when 'smallest_secondary' then ruled.smallest_secondary_lines
            when 'learned_extras' then ruled.learned_extra_lines
        end as ancillary_line_numbers
    from ruled
),

matches as (
    select
        split.match_id,
        split.order_id,
        split.invoice_id,
        split.billing_item_id,
        split.match_pass,
        split.match_probability,
        split.match_weight,
        split.score_components,
        split.rule_version,
        split.issue_date,
        split.invoice_currency,
        cast(split.allocated_amount - split.ancillary_amount as decimal(18, 4)) as billed_amount,
        split.ancillary_amount,
        -- Which lines were set aside: all_secondary, smallest_secondary, or none (null).
        case when split.ancillary_amount <> 0 then split.ancillary_rule end as ancillary_rule,
        case when split.ancillary_amount <> 0 then split.ancillary_line_numbers end as ancillary_line_numbers,
        split.order_currency,
        {{ convert_amount('split.allocated_amount - split.ancillary_amount', 'split.invoice_rate', 'split.order_rate') }}
            as billed_amount_order_currency,
        {{ convert_amount('split.ancillary_amount', 'split.invoice_rate', 'split.order_rate') }}
            as ancillary_amount_order_currency,
        {{ convert_amount('split.allocated_amount - split.ancillary_amount', 'split.invoice_rate', 'split.reporting_rate') }}
            as billed_amount_reporting,
        '{{ invocation_id }}' as dbt_invocation_id,
        {{ recon_run_id() }} as dagster_run_id
    from split
)

select * from matches
