-- Each credit note and the order it credits, first of:
--   operator        an operator linked it by hand (`recon exceptions match ID --with ORDER
--                   | INVOICE`, int_operator_links, reconciliation 'credit_notes'): to the
--                   order, or to the order the invoice named bills;
--   order_reference the order reference it quotes (in any shape);
--   invoice_id      the invoice its invoice_id column names exactly, when that invoice bills
--                   exactly one order;
--   invoice_number  the number of an invoice of its own client that it quotes in its
--                   invoice_id, reference or reason (description / memo) column, however it
--                   is typed ("Credit for INV-1043", "CN against 1044", "inv 01043"), when
--                   that invoice bills exactly one order.
-- An operator's unmatch forbids the pair it names (the order, or the invoice) to every way.
-- order_id is null for a credit note that reaches no order: int_orders_credited leaves it
-- out, and int_exception_breaks raises it (unmatched_credit_note), so money credited is
-- never credited to nothing in silence.
{#- The columns a credit note is read by: what an operator's link fingerprints (the values
    are unused: recon_record_fingerprint reads the names, in sorted order). The client name as
    the rules read it (normalised), as a reconciliation's records fingerprint theirs: billing
    sending the note again as "ACME  widgets" changes nothing the rules decide, and lapsed the
    link. #}
{%- set fingerprint_columns = {
    'invoice_id': none, 'client_name_normalised': none, 'reference': none, 'issue_date': none,
    'currency': none, 'net_amount': none, 'credit_reason': none
} %}
with

credit_notes as (
    -- With what an operator saw of it when linking it by hand: an md5 of the columns a
    -- credit note is read by (record_fingerprint; the same macro as a reconciliation's
    -- records). A link made to a credit note restated since has lapsed (by_operator).
    select
        notes.*,
        {{ recon_record_fingerprint({'columns': fingerprint_columns}, 'notes') }}
            as record_fingerprint
    from {{ ref('stg_billing__credit_notes') }} as notes
),

orders as (
    select * from {{ ref('stg_crm__orders') }}
),

invoices as (
    select * from {{ ref('stg_billing__invoices') }}
),

invoice_matches as (
    select * from {{ ref('int_order_invoice_matches') }}
),

mentions as (
    select * from {{ ref('int_reference_mentions') }}
    where record_type = 'credit_note'
),

operator_links as (
    select * from {{ ref('int_operator_links') }}
    where reconciliation = 'credit_notes'
),

client_name_keys as (
    select * from {{ ref('int_client_name_keys') }}
),

client_names as (
    select * from {{ ref('int_client_names') }}
),

order_families as (
    -- The letters the orders' references start with ("PO" of PO-2610-12).
    select distinct order_references.reference_family
    from {{ ref('int_order_references') }} as order_references
),

orders_by_reference as (
    select orders.order_reference_key, min(orders.order_id) as order_id
    from orders
    where orders.order_reference_key is not null
    group by orders.order_reference_key
    having count(*) = 1
),

single_order_invoices as (
    select invoice_matches.invoice_id, min(invoice_matches.order_id) as order_id
    from invoice_matches
    group by invoice_matches.invoice_id
    having count(distinct invoice_matches.order_id) = 1
),

note_clients as (
    -- The client a credit note's billed name is, where a known client goes by it.
    select
        credit_notes.credit_note_id,
        min({{ client_lookup_id('note_client') }}) as client_id
    from credit_notes
    {{ client_lookup_joins('credit_notes.client_name_normalised', 'note_client', by_first_words=false, by_abbreviation=true, by_core=true) }}
    group by credit_notes.credit_note_id
),

invoice_numbers as (
    -- The numbers each invoice goes by (its id and its human-facing number), in canonical
    -- form ("INV-0001043" is INV:1043) and by their last group of digits without leading
    -- zeros ("2026-001043" ends in 1043). Only numbers shaped like numbers: a few letters,
    -- then digits and separators; a UUID or a Stripe id ("in_1pkoFVzE2x1…") is read by the
    -- invoice_id way alone, else the digits ending it would be taken for a number. A copy
    -- exported again under a new id is not billed.
    select
        numbered.invoice_id,
        numbered.client_name_normalised,
        {{ canonical_reference('numbered.number') }} as number_canonical,
        {{ recon_ltrim("regexp_extract(numbered.number, '([0-9]+)[^0-9]*$', 1)", "'0'") }} as number_tail
    from (
        select invoices.invoice_id, invoices.client_name_normalised, invoices.invoice_id as number
        from invoices
        where not invoices.is_duplicate_export
        union all
        select invoices.invoice_id, invoices.client_name_normalised, invoices.invoice_number
        from invoices
        where not invoices.is_duplicate_export
            and nullif(trim(invoices.invoice_number), '') is not null
    ) as numbered
    where {{ recon_regexp_full_match('upper(trim(numbered.number))', '[A-Z]{0,6}[ #:/_.-]{0,2}[0-9][0-9 /_.-]*') }}
),

note_texts as (
    -- field_rank: the invoice column outranks the reference, which outranks free text.
    select credit_notes.credit_note_id, 1 as field_rank, credit_notes.invoice_id as text
    from credit_notes
    union all
    select credit_notes.credit_note_id, 2, credit_notes.reference
    from credit_notes
    union all
    select credit_notes.credit_note_id, 3, credit_notes.credit_reason
    from credit_notes
),

note_tokens as (
    -- Every token of those texts that may be a number; an id or reference column is also
    -- read whole ("inv 01043").
    select
        cut.credit_note_id,
        cut.field_rank,
        {{ canonical_reference('cut.token') }} as token_canonical,
        {{ recon_ltrim("regexp_extract(cut.token, '([0-9]+)[^0-9]*$', 1)", "'0'") }} as token_tail
    from (
        select
            note_texts.credit_note_id,
            note_texts.field_rank,
            {{ recon_unnest(recon_list_distinct(recon_list_concat([
                'case when note_texts.field_rank < 3 then ' ~ recon_list_literal(['upper(trim(note_texts.text))']) ~ ' else ' ~ recon_list_literal([]) ~ ' end',
                reference_tokens('note_texts.text')
            ]))) }} as token
        from note_texts
        where nullif(trim(note_texts.text), '') is not null
    ) as cut
    -- A date is no invoice number ("2026-11-16" packs to the digits of "2026-1116").
    where not coalesce({{ recon_regexp_full_match('trim(cut.token)', '(19|20)[0-9]{2}[-/. ][0-9]{1,2}[-/. ][0-9]{1,2}') }}, false)
),

digit_readings as (
    -- Tokens that may also be read by their digits: not those starting like the orders'
    -- references ("PO-1044", an order reference of no order, is not invoice 1044), and only
    -- digits of at least three that are not a year.
    select
        note_tokens.*,
        split_part(note_tokens.token_canonical, ':', 2) as token_digits,
        coalesce(
            length(split_part(note_tokens.token_canonical, ':', 2)) >= 3
            and not {{ recon_regexp_full_match("split_part(note_tokens.token_canonical, ':', 2)", '(19|20)[0-9]{2}') }},
            false
        ) as digits_usable,
        coalesce(
            length(note_tokens.token_tail) >= 3
            and not {{ recon_regexp_full_match('note_tokens.token_tail', '(19|20)[0-9]{2}') }},
            false
        ) as tail_usable
    from note_tokens
    left join order_families
        on split_part(note_tokens.token_canonical, ':', 1) = order_families.reference_family
    where note_tokens.token_canonical is not null
        and order_families.reference_family is null
),

number_hits as (
    -- Invoices a token names: exactly (family and digits), else by its digits (a digit
    -- reading) equal to an invoice number's digits or last group of digits. One equality
    -- join per reading, their union distinct: written as one join on "exact, or digits, or
    -- last digits" no engine could hash it, and at 1M orders DuckDB compared every token
    -- with every invoice number for over ten minutes.
    select distinct hits.*
    from (
        {%- for tokens, token_key, invoice_key, usable in [
            ('note_tokens', 'token_canonical', 'invoice_numbers.number_canonical', none),
            ('digit_readings', 'token_digits', "split_part(invoice_numbers.number_canonical, ':', 2)", 'digits_usable'),
            ('digit_readings', 'token_digits', 'invoice_numbers.number_tail', 'digits_usable'),
            ('digit_readings', 'token_tail', 'invoice_numbers.number_tail', 'tail_usable'),
        ] %}
        {{ 'union all' if not loop.first }}
        select
            {{ tokens }}.credit_note_id,
            {{ tokens }}.field_rank,
            invoice_numbers.invoice_id,
            invoice_numbers.client_name_normalised,
            case when {{ tokens }}.token_canonical = invoice_numbers.number_canonical then 1 else 2 end as hit_rank
        from {{ tokens }}
        inner join invoice_numbers
            on {{ tokens }}.{{ token_key }} = {{ invoice_key }}
        {%- if usable %}
        where {{ tokens }}.{{ usable }}
        {%- endif %}
        {%- endfor %}
    ) as hits
),

own_client_hits as (
    -- Never another client's invoice: the credit note's client and the order the invoice
    -- bills must be one client, or, where either is not known, the billed names alike.
    select
        number_hits.*,
        single_order_invoices.order_id
    from number_hits
    inner join credit_notes
        on number_hits.credit_note_id = credit_notes.credit_note_id
    left join note_clients
        on number_hits.credit_note_id = note_clients.credit_note_id
    left join single_order_invoices
        on number_hits.invoice_id = single_order_invoices.invoice_id
    left join orders
        on single_order_invoices.order_id = orders.order_id
    where case
        when note_clients.client_id is not null and orders.client_id is not null
            then note_clients.client_id = orders.client_id
        else coalesce(
            credit_notes.client_name_normalised = number_hits.client_name_normalised
            or {{ recon_string_similarity('credit_notes.client_name_normalised', 'number_hits.client_name_normalised') }} >= 0.9,
            false
        )
    end
),

best_number_hits as (
    {{ recon_qualify('*', 'from own_client_hits', 'rank() over (
        partition by own_client_hits.credit_note_id
        order by own_client_hits.hit_rank, own_client_hits.field_rank
    ) = 1') }}
),

by_invoice_number as (
    -- Only one invoice named at the best reading: two are a guess.
    select
        best_number_hits.credit_note_id,
        min(best_number_hits.invoice_id) as invoice_id,
        min(best_number_hits.order_id) as order_id
    from best_number_hits
    group by best_number_hits.credit_note_id
    having count(distinct best_number_hits.invoice_id) = 1
),

latest_operator_links as (
    -- The operator's latest link of each credit note (a later match moves it): to an order, or
    -- to an invoice and the order it bills; and whether it still holds. It holds while the
    -- credit note is as the operator saw it (a link made before links carried fingerprints
    -- never lapses) and the link still reaches one order, the one the operator saw. A credit
    -- note restated since (another amount, invoice or reference), or linked to an invoice that
    -- has come to bill no order, several, or another one, is the rules' again, and its link is raised for review
    -- (manual_link_changed), as a reconciliation's lapsed manual match is. Before, such an
    -- invoice link took the credit note out of every rule: it reached no order, and no other
    -- way was tried.
    select
        latest.right_key as credit_note_id,
        latest.left_key,
        coalesce(orders.order_id, single_order_invoices.order_id) as order_id,
        case when orders.order_id is null then latest.left_key end as invoice_id,
        coalesce(
            latest.right_fingerprint = credit_notes.record_fingerprint, true
        )
        and coalesce(orders.order_id, single_order_invoices.order_id) is not null
        -- a link to an invoice recorded the order it billed ("bills:<order>"): billing another
        -- order since (restated, or matched anew) is a change to review, not a credit to move
        and coalesce(
            orders.order_id is not null or latest.left_fingerprint = 'bills:' || single_order_invoices.order_id,
            true
        ) as is_live
    from (
        {{ recon_qualify('*', 'from operator_links where operator_links.is_linked', 'row_number() over (
            partition by operator_links.right_key order by operator_links.action_seq desc
        ) = 1') }}
    ) as latest
    inner join credit_notes
        on latest.right_key = credit_notes.credit_note_id
    left join orders
        on latest.left_key = orders.order_id
    left join single_order_invoices
        on latest.left_key = single_order_invoices.invoice_id
),

by_operator as (
    -- The live link.
    select latest.credit_note_id, latest.order_id, latest.invoice_id
    from latest_operator_links as latest
    where latest.is_live
),

candidates as (
    select by_operator.credit_note_id, 1 as way_rank, 'operator' as attributed_by,
        by_operator.order_id, by_operator.invoice_id
    from by_operator
    union all
    select credit_notes.credit_note_id, 2, 'order_reference', orders_by_reference.order_id, cast(null as string)
    from credit_notes
    inner join mentions
        on credit_notes.credit_note_id = mentions.record_id
    inner join orders_by_reference
        on mentions.reference_key = orders_by_reference.order_reference_key
    union all
    select credit_notes.credit_note_id, 3, 'invoice_id', single_order_invoices.order_id, credit_notes.invoice_id
    from credit_notes
    inner join single_order_invoices
        on credit_notes.invoice_id = single_order_invoices.invoice_id
    union all
    select by_invoice_number.credit_note_id, 4, 'invoice_number', by_invoice_number.order_id, by_invoice_number.invoice_id
    from by_invoice_number
    where by_invoice_number.order_id is not null
),

allowed as (
    -- An operator's unmatch of the order or of the invoice takes that way away.
    select candidates.*
    from candidates
    where not exists (
        select 1
        from operator_links
        where not operator_links.is_linked
            and operator_links.right_key = candidates.credit_note_id
            and operator_links.left_key in (candidates.order_id, candidates.invoice_id)
    )
),

chosen as (
    {{ recon_qualify('*', 'from allowed', 'row_number() over (
        partition by allowed.credit_note_id order by allowed.way_rank
    ) = 1') }}
),

final as (
    select
        credit_notes.credit_note_id,
        chosen.order_id,
        credit_notes.invoice_id,
        chosen.attributed_by,
        chosen.invoice_id as credited_invoice_id,
        credit_notes.client_name_billed,
        credit_notes.currency,
        credit_notes.issue_date,
        credit_notes.net_amount,
        credit_notes.record_fingerprint,
        coalesce(not lapsed.is_live, false) as operator_link_lapsed
    from credit_notes
    left join chosen
        on credit_notes.credit_note_id = chosen.credit_note_id
    left join latest_operator_links as lapsed
        on credit_notes.credit_note_id = lapsed.credit_note_id
)

select * from final
