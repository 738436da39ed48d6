-- Orders ↔ invoices auto-matches (deterministic, probabilistic above the auto-match
-- threshold, or groups) with the billed amount in invoice, order and reporting currency.
-- A billing item matched to several orders (an N:1 group) is allocated to them in
-- proportion to their booked amounts, the first order taking the rounding, so billed
-- amounts add up to the item exactly.
--
-- Extra charges are set aside from what bills the order. An invoice often carries, beside
-- the line that bills the booking, small lines the booking does not account for ("Stock
-- imagery", "Late payment fee"): they quote no reference of their own and share the
-- header's. When an order is over-billed by exactly such lines — its items' lines other
-- than each item's largest, without an own reference, or else each item's smallest such
-- line — and is billed as booked without them, they are its ancillary_amount, not billing
-- of the booking. Where the lines are
-- part of the booking ("media" + "agency fee" summing to it), nothing is set aside.
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
        decisions.*,
        -- The share is a ratio (double); the money it allocates is rounded back to DECIMAL
        -- and the rounding difference goes to the first member.
        cast(
            cast(billing_items.net_amount as double) * cast(orders.booked_amount as double)
            / sum(cast(orders.booked_amount as double)) over (partition by decisions.right_key)
            as decimal(18, 4)
        ) as rounded_share,
        row_number() over (partition by decisions.right_key order by decisions.left_key) as member_order
    from decisions
    inner join orders
        on decisions.left_key = orders.order_id
    inner join billing_items
        on decisions.right_key = billing_items.billing_item_id
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

split as (
    select
        allocations.*,
        extras_set_aside.ancillary_rule,
        cast(
            case extras_set_aside.ancillary_rule
                when 'all_secondary' then allocations.secondary_amount
                when 'smallest_secondary' then allocations.smallest_secondary_amount
                else 0
            end
            as decimal(18, 4)
        ) as ancillary_amount
    from allocations
    left join extras_set_aside
        on allocations.order_id = extras_set_aside.order_id
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
        split.order_currency,
        {{ convert_amount('split.allocated_amount - split.ancillary_amount', 'split.invoice_rate', 'split.order_rate') }}
            as billed_amount_order_currency,
        {{ convert_amount('split.ancillary_amount', 'split.invoice_rate', 'split.order_rate') }}
            as ancillary_amount_order_currency,
        {{ convert_amount('split.allocated_amount - split.ancillary_amount', 'split.invoice_rate', 'split.reporting_rate') }}
            as billed_amount_reporting,
        '{{ invocation_id }}' as dbt_invocation_id,
        '{{ env_var("RECON_RUN_ID", "") }}' as dagster_run_id
    from split
)

select * from matches
