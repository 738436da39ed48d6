-- Which order each record's text refers to. Every field that may carry a reference
-- (reference columns, invoice line descriptions, campaign names, project names) is cut
-- into tokens; each token is put in canonical form, and looked up against the references
-- the orders carry (int_order_references). A token is read three ways, best first:
--   exact   its canonical form is an order's reference or PO number;
--   ocr     it is one once O / I / L are read as 0 / 1 / 1;
--   digits  a bare number equal to the digits of exactly one known reference
--           ("19837" for RT-019837): weak, the matching passes demand a confirmation.
-- One row per record that resolved or holds a reference-like token: the reference it
-- resolves to (null when the best hits name several orders), how it was found, and else
-- its most reference-like token in canonical form, which the scored pass compares by
-- edit distance.
with

order_references as (
    select * from {{ ref('int_order_references') }}
),

invoices as (
    select * from {{ ref('stg_billing__invoices') }}
),

invoice_lines as (
    select * from {{ ref('stg_billing__invoice_lines') }}
),

credit_notes as (
    select * from {{ ref('stg_billing__credit_notes') }}
),

delivery as (
    select * from {{ ref('stg_ads__delivery') }}
),

deliverables as (
    select * from {{ ref('stg_fulfilment__deliverables') }}
),

texts as (
    -- field_rank: a reference column outranks free text of the same record.
    select 'invoice' as record_type, invoices.invoice_id as record_id,
        1 as field_rank, 'reference' as field_name, invoices.reference as text
    from invoices
    union all
    select 'invoice_line', invoice_lines.invoice_line_id, 1, 'reference', invoice_lines.reference
    from invoice_lines
    union all
    select 'invoice_line', invoice_lines.invoice_line_id, 2, 'description', invoice_lines.line_description
    from invoice_lines
    union all
    select 'credit_note', credit_notes.credit_note_id, 1, 'reference', credit_notes.reference
    from credit_notes
    union all
    select distinct 'campaign', delivery.campaign_id, 2, 'campaign_name', delivery.campaign_name
    from delivery
    union all
    select 'deliverable', deliverables.deliverable_id, 1, 'order_ref', deliverables.order_ref
    from deliverables
    union all
    select 'deliverable', deliverables.deliverable_id, 2, 'project_name', deliverables.project_name
    from deliverables
),

text_tokens as {{ recon_materialized_cte() }} (
    -- Each distinct text cut once (materialized): the same texts recur across records (1M
    -- orders: 7.8M texts, 1.7M distinct), and the regular expressions are the costly part.
    -- A reference column is also read whole ("AGY 2025 0042" in one piece).
    select
        distinct_texts.field_rank,
        distinct_texts.text,
        {{ recon_unnest(recon_list_distinct(recon_list_concat([
            'case when distinct_texts.field_rank = 1 then ' ~ recon_list_literal(['upper(trim(distinct_texts.text))']) ~ ' else ' ~ recon_list_literal([]) ~ ' end',
            reference_tokens('distinct_texts.text')
        ]))) }} as token
    from (
        select distinct texts.field_rank, texts.text
        from texts
        where nullif(trim(texts.text), '') is not null
    ) as distinct_texts
),

tokens as {{ recon_materialized_cte() }} (
    -- Every token of every record's texts (materialized: three readers).
    select
        texts.record_type,
        texts.record_id,
        texts.field_rank,
        texts.field_name,
        text_tokens.token
    from texts
    inner join text_tokens
        on texts.text = text_tokens.text
        and texts.field_rank = text_tokens.field_rank
),

token_readings as {{ recon_materialized_cte() }} (
    -- Each distinct token read once (materialized): a token's readings and the references
    -- it hits depend on the token alone, and the same tokens recur across records (1M
    -- orders: 11.1M occurrences of 1.2M tokens). The packing is the costly part.
    select
        packed.token,
        {{ canonical_reference('packed.token_packed', 'strict', packed=true) }} as canonical_strict,
        {{ canonical_reference('packed.token_packed', 'ocr_body', packed=true) }} as canonical_ocr_body,
        {{ canonical_reference('packed.token_packed', 'ocr_family', packed=true) }} as canonical_ocr_family
    from (
        select distinct_tokens.token, {{ reference_packed('distinct_tokens.token') }} as token_packed
        from (select distinct tokens.token from tokens) as distinct_tokens
    ) as packed
),

known_families as (
    select distinct order_references.reference_family
    from order_references
),

grouped_readings as (
    -- Tokens read group by group (reference_grouped), only those of a family some order's
    -- reference has groups in: the reading costs five regular expressions a token, and most
    -- agencies' references are one group (dialect A at 1M: none to read).
    select
        bodies.token,
        bodies.canonical_strict,
        {{ reference_grouped('bodies.group_body', "split_part(bodies.canonical_strict, ':', 1)") }} as canonical_grouped
    from (
        select
            token_readings.token,
            token_readings.canonical_strict,
            {{ reference_group_body('token_readings.token') }} as group_body
        from token_readings
        where split_part(token_readings.canonical_strict, ':', 1) in (
            select order_references.reference_family
            from order_references
            where order_references.reference_grouped is not null
        )
            -- A token that is a known reference as typed is read that way (rank 1).
            and token_readings.canonical_strict not in (
                select order_references.reference_canonical from order_references
            )
    ) as bodies
),

variants as (
    select token_readings.*, token_readings.canonical_strict as canonical, 'exact' as mention_kind, 1 as kind_rank
    from token_readings
    union all
    select token_readings.*, token_readings.canonical_ocr_body, 'ocr', 2
    from token_readings
    where token_readings.canonical_ocr_body is distinct from token_readings.canonical_strict
    union all
    select token_readings.*, token_readings.canonical_ocr_family, 'ocr', 2
    from token_readings
    where token_readings.canonical_ocr_family is distinct from token_readings.canonical_strict
),

cut_short as (
    -- Numbers in groups whose strict reading is the start of a longer known reference: a
    -- reference cut short ("NF24-370" for NF24-3706, "SO-2025-07" for SO-2025-07602), which
    -- dialect C writes, read group by group hit another order (NF24-0370): on C 9 every one of
    -- 41 such invoice readings named the wrong order; on B, where a group's zeros are dropped
    -- ("AGY 2026/421" for AGY/2026/0421), none is the start of another reference. Such a
    -- token gets no grouped reading. The references starting with a token follow it at once
    -- in sorted order: the first known reference after it says whether any does.
    select followed.sort_key
    from (
        select
            sorted_keys.sort_key,
            sorted_keys.is_token,
            min(case when sorted_keys.is_token = 0 then sorted_keys.sort_key end) over (
                order by sorted_keys.sort_key, sorted_keys.is_token
                rows between 1 following and unbounded following
            ) as next_reference
        from (
            select distinct grouped_readings.canonical_strict as sort_key, 1 as is_token
            from grouped_readings
            where grouped_readings.canonical_grouped is not null
            union all
            select order_references.reference_canonical, 0
            from order_references
            where order_references.reference_family in (select grouped_readings_families.family from (
                select distinct split_part(grouped_readings.canonical_strict, ':', 1) as family
                from grouped_readings
                where grouped_readings.canonical_grouped is not null
            ) as grouped_readings_families)
        ) as sorted_keys
    ) as followed
    where followed.is_token = 1
        and substr(followed.next_reference, 1, length(followed.sort_key)) = followed.sort_key
),

stripped as (
    -- Letters no order reference starts with are a word before the number ("No. 45574",
    -- "Order 44136", "Ref 19837"): the number alone is read too, as a weak (digits) mention.
    select distinct
        variants.token,
        variants.canonical_strict,
        ':' || split_part(variants.canonical, ':', 2) as canonical
    from variants
    where variants.canonical is not null
        and split_part(variants.canonical, ':', 1) <> ''
        and split_part(variants.canonical, ':', 1) not in (select known_families.reference_family from known_families)
),

unique_digits as (
    -- Digits that identify one order whatever prefix was typed before them.
    select
        order_references.reference_digits,
        min(order_references.reference_key) as reference_key
    from order_references
    where length(order_references.reference_digits) >= 4
    group by order_references.reference_digits
    having count(distinct order_references.reference_key) = 1
),

token_hits as (
    -- The orders each distinct token names, and how.
    select
        variants.token,
        variants.mention_kind,
        variants.kind_rank,
        order_references.reference_key
    from variants
    inner join order_references
        on variants.canonical = order_references.reference_canonical
    union all
    -- A number in groups read group by group ("PO 2026/123" for PO-2026-000123: a group's
    -- zero padding dropped), a variant reading like the OCR ones: only against known
    -- references, and confirmed like them by the passes (kind 'ocr').
    select
        grouped_readings.token,
        'ocr' as mention_kind,
        2 as kind_rank,
        order_references.reference_key
    from grouped_readings
    inner join order_references
        on grouped_readings.canonical_grouped = order_references.reference_grouped
    where grouped_readings.canonical_strict is distinct from order_references.reference_canonical
        and grouped_readings.canonical_strict not in (select cut_short.sort_key from cut_short)
    union all
    select
        stripped.token,
        'digits' as mention_kind,
        3 as kind_rank,
        order_references.reference_key
    from stripped
    inner join order_references
        on stripped.canonical = order_references.reference_canonical
    -- A year as typed is no reference (below).
    where not coalesce({{ recon_regexp_full_match("split_part(stripped.canonical_strict, ':', 2)", '(19|20)[0-9]{2}') }}, false)
    union all
    -- A bare number (typed bare, or after a word) equal to the digits of exactly one
    -- known reference, whatever its prefix; never a year.
    select
        bare.token,
        'digits' as mention_kind,
        4 as kind_rank,
        unique_digits.reference_key
    from (
        select token, canonical_strict, canonical from variants
        where split_part(variants.canonical, ':', 1) = ''
        union all
        select token, canonical_strict, canonical from stripped
    ) as bare
    inner join unique_digits
        on split_part(bare.canonical, ':', 2) = unique_digits.reference_digits
    where not {{ recon_regexp_full_match("split_part(bare.canonical, ':', 2)", '(19|20)[0-9]{2}') }}
        -- Nor a word before a year whose last letter an OCR reading took for a 1: "Jul
        -- 2026" and "Social 2026" read as "JU" + "12026" name no order 12026, however
        -- unique those digits are. As typed, the number is a year.
        and not coalesce({{ recon_regexp_full_match("split_part(bare.canonical_strict, ':', 2)", '(19|20)[0-9]{2}') }}, false)
),

hits as (
    -- Every occurrence of a token that names an order.
    select
        tokens.record_type,
        tokens.record_id,
        tokens.field_rank,
        tokens.field_name,
        tokens.token,
        token_hits.mention_kind,
        token_hits.kind_rank,
        token_hits.reference_key
    from tokens
    inner join token_hits
        on tokens.token = token_hits.token
),

best_hits as (
    {{ recon_qualify('*', 'from hits', 'rank() over (
        partition by hits.record_type, hits.record_id
        order by hits.kind_rank, hits.field_rank
    ) = 1') }}
),

resolved as (
    select
        best_hits.record_type,
        best_hits.record_id,
        case when count(distinct best_hits.reference_key) = 1 then min(best_hits.reference_key) end
            as reference_key,
        min(best_hits.mention_kind) as mention_kind,
        min_by(best_hits.field_name, best_hits.token) as mentioned_in,
        min(best_hits.token) as mentioned_text,
        count(distinct best_hits.reference_key) as candidate_references
    from best_hits
    group by best_hits.record_type, best_hits.record_id
),

known_shapes as (
    -- The shapes of the orders' references: family and number of digits.
    select distinct
        order_references.reference_family,
        length(order_references.reference_digits) as digit_count
    from order_references
),

shaped_tokens as (
    -- Tokens whose strict reading is shaped like the orders' references (same family, digit
    -- count within one, not a year), once per distinct token.
    select token_readings.token
    from token_readings
    where token_readings.canonical_strict is not null
        and exists (
            select 1
            from known_shapes
            where known_shapes.reference_family = split_part(token_readings.canonical_strict, ':', 1)
                and abs(known_shapes.digit_count - length(split_part(token_readings.canonical_strict, ':', 2))) <= 1
        )
        and not {{ recon_regexp_full_match("split_part(token_readings.canonical_strict, ':', 2)", '(19|20)[0-9]{2}') }}
),

fallback as (
    -- The record's most reference-like token, for the scored pass's edit distance when
    -- nothing resolved: a reference column's value, or a token of free text shaped like
    -- the orders' references (same family, digit count within one: "IO-004271", a typo of
    -- IO-004217; not "Q1 2025", not a year). From the highest-ranked field, the longest
    -- digit run, then a reading whose letters are a family the orders use ("Order
    -- RT-0O4271" in a reference column is RT:4271, not ORDERRT:4271 read whole), then the
    -- longest ("RT-00B934" read whole as RT:934 before its tail B:934), then the first in
    -- order: no tie is left to the order rows arrive in.
    select
        tokens.record_type,
        tokens.record_id,
        {{ recon_arg_min('token_readings.canonical_strict', recon_struct_pack([
            ['field_rank', 'tokens.field_rank'],
            ['digits', "-length(split_part(token_readings.canonical_strict, ':', 2))"],
            ['unknown_family', 'case when known_families.reference_family is null then 1 else 0 end'],
            ['reading', '-length(token_readings.canonical_strict)'],
            ['canonical', 'token_readings.canonical_strict'],
        ])) }} as fallback_canonical
    from tokens
    inner join token_readings
        on tokens.token = token_readings.token
    left join shaped_tokens
        on tokens.token = shaped_tokens.token
    left join known_families
        on split_part(token_readings.canonical_strict, ':', 1) = known_families.reference_family
    where token_readings.canonical_strict is not null
        and (tokens.field_rank = 1 or shaped_tokens.token is not null)
    group by tokens.record_type, tokens.record_id
),

records as (
    select resolved.record_type, resolved.record_id from resolved
    union
    select fallback.record_type, fallback.record_id from fallback
),

final as (
    select
        records.record_type,
        records.record_id,
        resolved.reference_key,
        resolved.mention_kind,
        resolved.mentioned_in,
        resolved.mentioned_text,
        coalesce(resolved.candidate_references, 0) as candidate_references,
        coalesce(resolved.reference_key, fallback.fallback_canonical) as reference_compared
    from records
    left join resolved
        on records.record_type = resolved.record_type
        and records.record_id = resolved.record_id
    left join fallback
        on records.record_type = fallback.record_type
        and records.record_id = fallback.record_id
)

select * from final
