-- The manual links whose linked record the source no longer gives, while the record the
-- operator placed it on is still there: an invoice item, campaign or project linked to an
-- order, or a credit note linked to an order (or to an invoice and so to the order it
-- bills), that was withdrawn (a full export without it, its file restated without it:
-- docs/landing_contract.md) or now comes under another key. The link decides nothing any
-- more, and the money it placed on the order left it: int_exception_breaks raises
-- manual_link_changed on the order that remains, and the catalog names each link and, where
-- raw holds it, the file that withdrew the record (orchestration/actions/bridge.py). Before,
-- a linked record that was restated raised that review, but one that was withdrawn raised
-- nothing: a 500.00 credit note an operator had placed on an order left it without a word.
--
-- Only links that carry the record as the operator saw it (a fingerprint): the published
-- copy held it then. A link made before fingerprints never lapses, as int_operator_links
-- says. A record gone from the ruled side of a reconciliation (the side its spec raises
-- exceptions on: the invoice item, campaign or project) is raised on the other side's
-- record; where the other side is gone instead, the reconciliation's own manual_link_changed
-- is raised on the record that remains (macro recon_exception_breaks). A reconciliation
-- whose spec raises no exceptions (lead_forms_leads) has no ruled side: a link whose record
-- on either side is gone is listed on the record that remains (a lead whose submission was
-- withdrawn), on which that macro raises manual_link_changed.
--
-- A record held out of matching is not withdrawn: a campaign, invoice or project whose
-- rows add up past what the models compute with is absent from its reconciliation's
-- records while its rows stay loaded (int_amounts_out_of_range raises amount_out_of_range
-- on it, and the source is corrected and sent again). Its link is not listed: calling it
-- withdrawn sent the operator to link again a record matching cannot see, and the review
-- named a withdrawal raw never recorded.
{%- set entity_of_model = {'int_orders_resolved': 'stg_crm__orders'} %}
{#- What int_amounts_out_of_range calls a side's record held out: an invoice's billing items
    (INV-1#<reference>) are held out with their invoice. #}
{%- set held_entity_of_model = {'int_invoice_billing_items': 'stg_billing__invoices'} %}
{%- set ruled = [] %}
{%- for name in var('reconciliations') %}
    {%- set spec = recon_spec(name) %}
    {%- set sides = [] %}
    {%- for side in ['left', 'right'] if side in spec.get('exceptions', {}) %}{% do sides.append(side) %}{% endfor %}
    {%- if sides %}{% do ruled.append((name, spec, sides[0], 'left' if sides[0] == 'right' else 'right')) %}
    {%- else %}
    {#- No ruled side: whichever side is gone, the other remains. #}
    {%- do ruled.append((name, spec, 'left', 'right')) %}
    {%- do ruled.append((name, spec, 'right', 'left')) %}
    {%- endif %}
{%- endfor %}
with

links as (
    select * from {{ ref('int_operator_links') }}
    where is_linked
),

credit_notes as (
    select * from {{ ref('stg_billing__credit_notes') }}
),

orders as (
    select * from {{ ref('stg_crm__orders') }}
),

held_out as (
    -- Records held out of matching, not withdrawn (int_amounts_out_of_range).
    select * from {{ ref('int_amounts_out_of_range') }}
),

single_order_invoices as (
    -- An invoice that bills exactly one order (as int_credit_note_assignments reads a link to
    -- an invoice).
    select invoice_matches.invoice_id, min(invoice_matches.order_id) as order_id
    from {{ ref('int_order_invoice_matches') }} as invoice_matches
    group by invoice_matches.invoice_id
    having count(distinct invoice_matches.order_id) = 1
),

latest_credit_note_links as (
    -- A credit note credits one order: the operator's latest link of it.
    {{ recon_qualify('*', "from links where links.reconciliation = 'credit_notes'", 'row_number() over (
        partition by links.right_key order by links.action_seq desc
    ) = 1') }}
),

withdrawn as (
    select
        latest.reconciliation,
        latest.left_key,
        latest.right_key,
        latest.right_key as withdrawn_key,
        'stg_billing__credit_notes' as withdrawn_entity,
        'stg_crm__orders' as record_entity,
        -- The order the link reached: the one named, else the one the named invoice bills
        -- now, else the one it billed when the operator linked it ("bills:<order>").
        coalesce(
            named_order.order_id,
            single_order_invoices.order_id,
            seen_order.order_id
        ) as record_id,
        latest.action_id,
        latest.action_seq,
        latest.actor,
        latest.acted_at
    from latest_credit_note_links as latest
    left join credit_notes
        on latest.right_key = credit_notes.credit_note_id
    left join orders as named_order
        on latest.left_key = named_order.order_id
    left join single_order_invoices
        on latest.left_key = single_order_invoices.invoice_id
    left join orders as seen_order
        on latest.left_fingerprint = 'bills:' || seen_order.order_id
    where latest.right_fingerprint is not null
        and credit_notes.credit_note_id is null
    {%- for name, spec, gone_side, kept_side in ruled %}
    union all
    select
        links.reconciliation,
        links.left_key,
        links.right_key,
        links.{{ gone_side }}_key,
        '{{ entity_of_model.get(spec[gone_side].model, spec[gone_side].model) }}',
        '{{ entity_of_model.get(spec[kept_side].model, spec[kept_side].model) }}',
        links.{{ kept_side }}_key,
        links.action_id,
        links.action_seq,
        links.actor,
        links.acted_at
    from links
    left join {{ ref('int_' ~ name ~ '__records') }} as gone
        on gone.side = '{{ gone_side }}' and gone.record_key = links.{{ gone_side }}_key
    inner join {{ ref('int_' ~ name ~ '__records') }} as kept
        on kept.side = '{{ kept_side }}' and kept.record_key = links.{{ kept_side }}_key
    where links.reconciliation = '{{ name }}'
        and links.{{ gone_side }}_fingerprint is not null
        and gone.record_key is null
        and not exists (
            select 1
            from held_out
            where held_out.record_entity = '{{ held_entity_of_model.get(spec[gone_side].model, spec[gone_side].model) }}'
                and (
                    held_out.record_id = links.{{ gone_side }}_key
                    or substr(links.{{ gone_side }}_key, 1, length(held_out.record_id) + 1)
                        = held_out.record_id || '#'
                )
        )
    {%- endfor %}
)

select *
from withdrawn
where withdrawn.record_id is not null
