{#- The breaks a reconciliation raises by its spec alone: every record of a side in a state
    the spec's `exceptions` names (unmatched, ambiguous, suggested) is one break of that
    type, with the side's client, currency, value at risk and business date. Bespoke rules
    (variances, legs of an order) stay in their own models; this is what any reconciliation
    added by spec gets without writing SQL.

        exceptions:
          right:
            client_name: campaign_name      # expressions on the side's model
            currency: currency
            value: spend_amount             # value at risk, in `currency`
            value_reporting: ...            # optional; else converted at the month's FX rates
            date: first_delivery_date       # the business date the break ages from
            states: {unmatched: orphan_spend, unmatched_plausible: unmatched_campaign,
                     ambiguous: ambiguous_campaign, suggested: campaign_needs_review}
            plausible_probability: 0.01     # default

    `unmatched_plausible`, when listed, takes the unmatched records whose best candidate
    scored at least `plausible_probability`: a match the engine could not make, not a
    record nothing claims; `unmatched` keeps the rest. Two optional keys narrow and widen it:

            plausible_evidence:             # a candidate at plausible_probability counts only
              any_of:                       # where it also comes close on one of these
                - {field: reference, levels: [exact, one_edit, two_edits]}
                - {field: amount, levels: [exact, close, monthly_share, partial]}
                - {amount: {at_least: 1.0, at_most: 1.3}}   # right amount within that share
                                                            # of the left one (as compared)
            plausible_document: invoice_id  # a record beside a matched record of the same
                                            # document (a column of the side's model) is
                                            # unmatched_plausible whatever its candidates
            plausible_repeat:               # a record repeating a record matched on another
              within_days: 62               # document is unmatched_plausible whatever its
              left_lead_days: 7             # candidates (macro recon_repeated_records)
            plausible_fit:                  # a candidate that meets all of these counts
              all_of:                       # whatever it scored
                - {field: name, not_levels: [low]}          # a null side (-1) meets it
                - {date: {days_after_left: {min: 0, max: 7}}}
                - {amount: {of: whole, at_least: 0.03}}
                - {amount: {of: whole, with_covered: true, at_most: 1.35}}

    `levels` name the spec's comparison levels (level_<field> of the pairs); the amount
    condition reads the pairs' right_amount and left_amount_compared (what the left record
    still has to match, in the right record's currency), or with `of: whole` the left
    record's whole amount (left_whole_amount_compared), and with `with_covered: true` counts
    on the right, beside the record's own amount, what deterministic matches already cover
    of the left one (whole less what is left); with `of: open`, what the left record has open
    once every pass has run (its whole amount less the right records the records model
    matched to it, in the pair's right currency; `at_least: 0, at_most: 1.3` asks that
    something is open and the right amount is at most 1.3 times it). The date condition reads the sides' `date`
    (and the left's `date_end`) columns: the right date from `min` to `max` days after the
    left date, and not after the left's date_end where it has one. The same candidate must
    meet the probability and the evidence; plausible_fit is met by a candidate alone.

    A record an operator linked by hand that was restated since (int_operator_links'
    fingerprint differs from the record's now) is a `manual_link_changed` break on the
    link's record of the first side with rules: the link is suspended until the operator
    matches again or unmatches. A spec with no `exceptions` section raises those breaks
    alone: on the link's left record, or its right where the left is gone (restated, or
    withdrawn with the other record remaining).

    Rows are shaped like int_exception_breaks' all_breaks. Each type needs a row in seed
    exception_policy (domain, team, severity); a test says which is missing. -#}
{% macro recon_exception_breaks(name) %}
{%- set spec = recon_spec(name) -%}
{%- set blocks = [] -%}
{%- set ruled_sides = [] -%}
{%- for side in ['left', 'right'] if side in spec.get('exceptions', {}) -%}
    {%- do ruled_sides.append(side) -%}
{%- endfor -%}
{%- for side in ruled_sides -%}
    {%- set rule = spec.exceptions[side] -%}
    {%- set side_spec = spec[side] -%}
    {%- for key in ['client_name', 'currency', 'value', 'date', 'states'] -%}
        {%- if key not in rule -%}
            {{ exceptions.raise_compiler_error("Reconciliation spec '" ~ name ~ "': exceptions." ~ side ~ " lacks '" ~ key ~ "'") }}
        {%- endif -%}
    {%- endfor -%}
    {%- for state in rule.states -%}
        {%- if state not in ['unmatched', 'unmatched_plausible', 'ambiguous', 'suggested'] -%}
            {{ exceptions.raise_compiler_error("Reconciliation spec '" ~ name ~ "': exceptions." ~ side ~ ".states: unknown state '" ~ state ~ "' (use unmatched, unmatched_plausible, ambiguous or suggested)") }}
        {%- endif -%}
    {%- endfor -%}
    {%- set plausible = rule.get('plausible_probability', 0.01) -%}
    {%- set split = 'unmatched_plausible' in rule.states -%}
    {%- set evidence = rule.get('plausible_evidence') if split else none -%}
    {%- set document = rule.get('plausible_document') if split else none -%}
    {%- set fit = rule.get('plausible_fit') if split else none -%}
    {%- set repeat = rule.get('plausible_repeat') if split else none -%}
    {%- set beside = rule.get('plausible_beside') if split else none -%}
    {%- if repeat and not rule.get('plausible_document') -%}
        {{ exceptions.raise_compiler_error("Reconciliation spec '" ~ name ~ "': exceptions." ~ side ~ ".plausible_repeat needs plausible_document (a repeat is on another document)") }}
    {%- endif -%}
    {%- set block -%}
    select
        case side_states.exception_state
            {%- for state, exception_type in rule.states.items() %}
            when '{{ state }}' then '{{ exception_type }}'
            {%- endfor %}
            when 'link_changed' then 'manual_link_changed'
        end as exception_type,
        '{{ side_spec.model }}' as record_entity,
        side_states.record_key as record_id,
        side_records.client_name,
        side_records.currency,
        -- A lapsed manual link is a review, not money: the record's own break (an orphan
        -- invoice, a variance) carries its amount, or the rules matched it and nothing is at
        -- risk. Counted here too, a tryout saw a restated invoice's 1,450 at risk twice.
        case when side_states.exception_state = 'link_changed' then cast(0 as decimal(18, 4))
            else side_records.amount_at_risk end as amount_at_risk,
        case when side_states.exception_state = 'link_changed' then cast(0 as decimal(18, 4)) else
        {%- if rule.get('value_reporting') %}
            side_records.amount_at_risk_reporting
        {%- else %}
            {{ convert_amount('side_records.amount_at_risk', 'fx_from.rate_to_usd', 'fx_reporting.rate_to_usd') }}
        {%- endif %}
        end as amount_at_risk_reporting,
        side_records.due_date
    from (
        select
            records.*,
            {%- if split %}
            case
                when records.record_state = 'unmatched'
                    and (
                        {%- if evidence %}
                        evidenced.record_key is not null
                        {%- else %}
                        coalesce(cast({{ recon_json_extract('records.top_candidates', '$[0].match_probability') }} as double), 0)
                            >= {{ plausible }}
                        {%- endif %}
                        {%- if fit %}
                        or fitting.record_key is not null
                        {%- endif %}
                        {%- if document %}
                        or claimed.record_key is not null
                        {%- endif %}
                        {%- if repeat %}
                        or repeated.record_key is not null
                        {%- endif %}
                        {%- if beside %}
                        or beside_closed.record_key is not null
                        {%- endif %}
                    )
                    then 'unmatched_plausible'
                else records.record_state
            end as exception_state
            {%- else %}
            records.record_state as exception_state
            {%- endif %}
        from {{ ref('int_' ~ name ~ '__records') }} as records
        {%- if evidence %}
        left join (
            -- Candidates that scored at least plausible_probability and come close on the
            -- evidence the spec names.
            select distinct pairs.{{ side }}_key as record_key
            from {{ recon_evidence_pairs(spec, name, evidence) }} as pairs
            where pairs.match_probability >= {{ plausible }}
                and {{ recon_plausible_evidence(evidence, spec, name) }}
        ) as evidenced
            on records.record_key = evidenced.record_key
        {%- endif %}
        {%- if fit %}
        left join (
            -- Candidates that fit as the spec's plausible_fit says, whatever they scored.
            select distinct pairs.{{ side }}_key as record_key
            from {{ recon_evidence_pairs(spec, name, fit) }} as pairs
            where {{ recon_plausible_evidence(fit, spec, name) }}
        ) as fitting
            on records.record_key = fitting.record_key
        {%- endif %}
        {%- if document %}
        left join (
            -- Records beside a matched record of the same document (an invoice whose other
            -- items bill orders is claimed).
            select distinct documents.record_key
            from (
                select
                    cast({{ side_spec.key }} as string) as record_key,
                    cast({{ document }} as string) as document_key
                from {{ ref(side_spec.model) }}
            ) as documents
            inner join (
                select
                    cast({{ side_spec.key }} as string) as record_key,
                    cast({{ document }} as string) as document_key
                from {{ ref(side_spec.model) }}
            ) as siblings
                on documents.document_key = siblings.document_key
                and documents.record_key != siblings.record_key
            inner join {{ ref('int_' ~ name ~ '__records') }} as sibling_records
                on sibling_records.side = '{{ side }}'
                and sibling_records.record_key = siblings.record_key
                and sibling_records.record_state = 'matched'
        ) as claimed
            on records.record_key = claimed.record_key
        {%- endif %}
        {%- if repeat %}
        left join (
            -- Records repeating a record matched on another document (recon_repeated_records).
            select distinct repeats.record_key
            from {{ recon_repeated_records(spec, name, side) }} as repeats
        ) as repeated
            on records.record_key = repeated.record_key
        {%- endif %}
        {%- if beside %}
        left join (
            -- Records running beside another-side record of the same fields that the passes
            -- left no pair with (recon_beside_records).
            select distinct besides.record_key
            from {{ recon_beside_records(spec, name, side) }} as besides
        ) as beside_closed
            on records.record_key = beside_closed.record_key
        {%- endif %}
        where records.side = '{{ side }}'
        {%- if side == ruled_sides[0] %}
        union all
        -- Manual links whose records are no longer as the operator saw them.
        {%- set link_columns %}
            {{ recon_star_replace('records', 'record_key', 'links.' ~ side ~ '_key', recon_records_columns()) }},
            'link_changed' as exception_state
        {%- endset %}
        {%- set link_from %}
        from {{ ref('int_operator_links') }} as links
        left join {{ ref('int_' ~ name ~ '__records') }} as left_now
            on left_now.side = 'left' and left_now.record_key = links.left_key
        left join {{ ref('int_' ~ name ~ '__records') }} as right_now
            on right_now.side = 'right' and right_now.record_key = links.right_key
        left join {{ ref('int_' ~ name ~ '__records') }} as records
            on records.side = '{{ side }}' and records.record_key = links.{{ side }}_key
        where links.reconciliation = '{{ spec.name }}'
            and links.is_linked
            -- Restated, or gone (no record now); a link without fingerprints never lapses.
            and (
                coalesce(links.left_fingerprint != left_now.record_fingerprint, false)
                or coalesce(links.right_fingerprint != right_now.record_fingerprint, false)
                or (links.left_fingerprint is not null and left_now.record_key is null)
                or (links.right_fingerprint is not null and right_now.record_key is null)
            )
        {%- endset %}
        {{ recon_distinct_on('links.' ~ side ~ '_key', link_columns, link_from) }}
        {%- endif %}
    ) as side_states
    inner join (
        -- The spec's expressions, on the side's model.
        select
            cast({{ side_spec.key }} as string) as record_key,
            cast({{ rule.client_name }} as string) as client_name,
            cast({{ rule.currency }} as string) as currency,
            cast({{ rule.value }} as decimal(18, 4)) as amount_at_risk,
            {%- if rule.get('value_reporting') %}
            cast({{ rule.value_reporting }} as decimal(18, 4)) as amount_at_risk_reporting,
            {%- endif %}
            cast({{ rule.date }} as date) as due_date
        from {{ ref(side_spec.model) }}
    ) as side_records
        on side_states.record_key = side_records.record_key
    {%- if not rule.get('value_reporting') %}
    {{ fx_rate_join('fx_from', 'side_records.currency', 'side_records.due_date') }}
    {{ fx_reporting_rate_join('fx_reporting', 'side_records.due_date') }}
    {%- endif %}
    where side_states.exception_state in ({% for state in rule.states %}'{{ state }}', {% endfor %}'link_changed')
    {%- endset -%}
    {%- do blocks.append(block) -%}
{%- endfor -%}
{%- if blocks -%}
{{ blocks | join('\n    union all\n') }}
{%- else -%}
    {#- No exceptions section: the spec raises nothing on its records, but an operator's link
        by hand is a decision someone must be told has lapsed. A link whose record was
        restated or withdrawn since is a manual_link_changed break on the link's left record,
        or on its right record where the left is gone (a lead whose form submission was
        withdrawn, a submission whose lead was): nothing at risk, no client or currency (the
        spec names none), dated by the record's `date` column. Before, such a link was
        suspended without a word (lead_forms_leads). #}
    select
        'manual_link_changed' as exception_type,
        lapsed.record_entity,
        lapsed.record_id,
        cast(null as string) as client_name,
        cast(null as string) as currency,
        cast(0 as decimal(18, 4)) as amount_at_risk,
        cast(0 as decimal(18, 4)) as amount_at_risk_reporting,
        min(lapsed.due_date) as due_date
    from (
        select
            case when left_now.record_key is not null then '{{ spec.left.model }}'
                else '{{ spec.right.model }}' end as record_entity,
            coalesce(left_now.record_key, right_now.record_key) as record_id,
            case when left_now.record_key is not null then left_now.record_date
                else right_now.record_date end as due_date
        from {{ ref('int_operator_links') }} as links
        left join {{ ref('int_' ~ name ~ '__records') }} as left_now
            on left_now.side = 'left' and left_now.record_key = links.left_key
        left join {{ ref('int_' ~ name ~ '__records') }} as right_now
            on right_now.side = 'right' and right_now.record_key = links.right_key
        where links.reconciliation = '{{ spec.name }}'
            and links.is_linked
            and (left_now.record_key is not null or right_now.record_key is not null)
            -- Restated, or gone (no record now); a link without fingerprints never lapses.
            and (
                coalesce(links.left_fingerprint != left_now.record_fingerprint, false)
                or coalesce(links.right_fingerprint != right_now.record_fingerprint, false)
                or (links.left_fingerprint is not null and left_now.record_key is null)
                or (links.right_fingerprint is not null and right_now.record_key is null)
            )
    ) as lapsed
    group by lapsed.record_entity, lapsed.record_id
{%- endif -%}
{% endmacro %}


{#- The condition a candidate pair (`pairs`, int_<name>__pairs) meets to come close, for
    recon_exception_breaks' plausible_evidence and plausible_fit: {field: F, levels: [names]}
    (the pair's level_F is one of the spec's levels of that comparison), {field: F,
    not_levels: [names]} (none of them; a null side, level -1, meets it), {amount: {at_least:
    a, at_most: b}} (the right amount within a × to b × the left amount as compared; either
    bound may be left out; `of: whole`: × the left's whole amount, not what deterministic
    matches left of it; `with_covered: true`: the right amount and what they cover of the
    left together), {date: {days_after_left: {min: a, max: b}}} (the right date a to b days
    after the left date, and not after the left's date_end; recon_evidence_pairs), or any_of /
    all_of lists of them. -#}
{% macro recon_plausible_evidence(condition, spec, name) -%}
    {%- if condition is not mapping -%}
        {{ exceptions.raise_compiler_error("Reconciliation spec '" ~ name ~ "': plausible_evidence must be a mapping, got " ~ condition) }}
    {%- endif -%}
    {%- if 'any_of' in condition or 'all_of' in condition -%}
        {%- set joiner = ' or ' if 'any_of' in condition else ' and ' -%}
        {%- set parts = condition.get('any_of') or condition.get('all_of') -%}
        {%- if not parts -%}
            {{ exceptions.raise_compiler_error("Reconciliation spec '" ~ name ~ "': plausible_evidence any_of / all_of needs at least one condition") }}
        {%- endif -%}
        ({% for part in parts %}{{ recon_plausible_evidence(part, spec, name) }}{{ joiner if not loop.last }}{% endfor %})
    {%- elif 'field' in condition and ('levels' in condition or 'not_levels' in condition) -%}
        {%- set found = [] -%}
        {%- for comparison in spec.comparisons if comparison.field == condition.field -%}
            {%- do found.append(comparison) -%}
        {%- endfor -%}
        {%- if not found -%}
            {{ exceptions.raise_compiler_error("Reconciliation spec '" ~ name ~ "': plausible_evidence names field '" ~ condition.field ~ "', which no comparison compares") }}
        {%- endif -%}
        {%- set names = found[0].levels | map(attribute='name') | list -%}
        {%- set indexes = [] -%}
        {%- for level in condition.get('levels', condition.get('not_levels')) -%}
            {%- if level not in names -%}
                {{ exceptions.raise_compiler_error("Reconciliation spec '" ~ name ~ "': plausible_evidence: comparison '" ~ condition.field ~ "' has no level '" ~ level ~ "' (it has " ~ (names | join(', ')) ~ ")") }}
            {%- endif -%}
            {%- do indexes.append(names.index(level)) -%}
        {%- endfor -%}
        {%- if 'levels' in condition %}
        coalesce(pairs.level_{{ condition.field }} in ({{ indexes | join(', ') }}), false)
        {%- else %}
        coalesce(pairs.level_{{ condition.field }} not in ({{ indexes | join(', ') }}), true)
        {%- endif %}
    {%- elif 'amount' in condition and condition.amount is mapping
        and ('at_least' in condition.amount or 'at_most' in condition.amount) -%}
        {%- set of = condition.amount.get('of', 'remaining') -%}
        {%- if of not in ['remaining', 'whole', 'open'] -%}
            {{ exceptions.raise_compiler_error("Reconciliation spec '" ~ name ~ "': plausible amount condition: of must be remaining, whole or open, got " ~ of) }}
        {%- endif -%}
        {#- In DECIMAL(38, 6): amounts reach 10^14 (the contract's range), and a ratio times such an
            amount overflows DECIMAL(18). -#}
        {%- set wide = 'cast(' ~ {
            'whole': 'pairs.left_whole_amount_compared',
            'remaining': 'pairs.left_amount_compared',
            'open': 'pairs.left_open_amount_compared'
        }[of] ~ ' as decimal(38, 6))' -%}
        {%- set base = wide -%}
        {%- set amount = '(cast(pairs.right_amount as decimal(38, 6)) + cast(pairs.left_whole_amount_compared as decimal(38, 6))'
            ~ ' - cast(pairs.left_amount_compared as decimal(38, 6)))'
            if condition.amount.get('with_covered') else 'cast(pairs.right_amount as decimal(38, 6))' -%}
        coalesce({{ base }} > 0
            {%- if 'at_least' in condition.amount %}
            and {{ amount }} >= cast({{ condition.amount.at_least }} as decimal(38, 6)) * {{ base }}
            {%- endif %}
            {%- if 'at_most' in condition.amount %}
            and {{ amount }} <= cast({{ condition.amount.at_most }} as decimal(38, 6)) * {{ base }}
            {%- endif %}, false)
    {%- elif 'date' in condition and condition.date is mapping and 'days_after_left' in condition.date -%}
        {%- set days = condition.date.days_after_left -%}
        coalesce({{ recon_days_between('pairs.left_date', 'pairs.right_date') }}
                between {{ days.get('min', 0) }} and {{ days.max }}
            and (pairs.left_date_end is null or pairs.right_date <= pairs.left_date_end), false)
    {%- elif 'flight' in condition and condition.flight is mapping and 'min_share_of_period' in condition.flight -%}
        {#- The right record's flight (date to date_last) lasts at least that share of the part
            of the left's period [date, date_end] gone by when the right side's data ends
            (data_through): a campaign still running is measured against as much of the period
            as has passed. Met where a side lacks the dates. -#}
        {%- for column in ['date_last', 'data_through'] if column not in spec.right.columns -%}
            {{ exceptions.raise_compiler_error("Reconciliation spec '" ~ name ~ "': plausible condition {flight: ...} needs right column '" ~ column ~ "'") }}
        {%- endfor %}
        coalesce({{ recon_days_between('pairs.right_date', 'pairs.right_date_last') }} + 1
            >= cast({{ condition.flight.min_share_of_period }} as double)
                * ({{ recon_days_between('pairs.left_date', 'least(pairs.left_date_end, pairs.right_data_through)') }} + 1), true)
    {%- elif 'field' in condition and condition.get('agrees') is sameas true -%}
        {%- for side in ['left', 'right'] if condition.field not in spec[side].columns -%}
            {{ exceptions.raise_compiler_error("Reconciliation spec '" ~ name ~ "': plausible condition {field: " ~ condition.field ~ ", agrees: true} needs that column on both sides") }}
        {%- endfor %}
        (pairs.left_{{ condition.field }} is null or pairs.right_{{ condition.field }} is null
            or pairs.left_{{ condition.field }} = pairs.right_{{ condition.field }})
    {%- elif 'field' in condition and condition.get('of') in ['left', 'right'] and 'is_null' in condition -%}
        {%- if condition.field not in spec[condition.of].columns -%}
            {{ exceptions.raise_compiler_error("Reconciliation spec '" ~ name ~ "': plausible condition names " ~ condition.of ~ " column '" ~ condition.field ~ "', which the spec's " ~ condition.of ~ " side lacks") }}
        {%- endif %}
        (pairs.{{ condition.of }}_{{ condition.field }} is {{ '' if condition.is_null else 'not ' }}null)
    {%- else -%}
        {{ exceptions.raise_compiler_error("Reconciliation spec '" ~ name ~ "': unknown plausible_evidence condition " ~ condition ~ " (use {field, levels}, {field, not_levels}, {field, agrees: true}, {field, of: left|right, is_null}, {amount: {at_least, at_most}}, {date: {days_after_left}}, any_of or all_of)") }}
    {%- endif -%}
{%- endmacro %}


{#- Whether a plausible condition reads what the left record has open after every pass
    ({amount: {of: open}}). -#}
{% macro recon_condition_reads_open(condition) -%}
    {%- if condition is mapping and ('any_of' in condition or 'all_of' in condition) -%}
        {%- set found = [] -%}
        {%- for part in (condition.get('any_of') or condition.get('all_of') or []) -%}
            {%- if recon_condition_reads_open(part) -%}{%- do found.append(part) -%}{%- endif -%}
        {%- endfor -%}
        {{ return(found | length > 0) }}
    {%- endif -%}
    {{ return(condition is mapping and condition.get('amount') is mapping and condition.amount.get('of') == 'open') }}
{%- endmacro %}


{#- Whether a plausible_evidence / plausible_fit condition reads the sides' dates. -#}
{% macro recon_condition_reads_dates(condition) -%}
    {%- if condition is mapping and ('any_of' in condition or 'all_of' in condition) -%}
        {%- set found = [] -%}
        {%- for part in (condition.get('any_of') or condition.get('all_of') or []) -%}
            {%- if recon_condition_reads_dates(part) -%}{%- do found.append(part) -%}{%- endif -%}
        {%- endfor -%}
        {{ return(found | length > 0) }}
    {%- endif -%}
    {{ return(condition is mapping and ('date' in condition or 'flight' in condition)) }}
{%- endmacro %}


{#- The sides' spec columns a plausible condition reads beside the pairs' own ({field,
    agrees: true}: both sides; {field, of: left|right, is_null}: that side), as
    [side, field] items appended to `found`. -#}
{% macro recon_condition_side_columns(condition, found) -%}
    {%- if condition is mapping and ('any_of' in condition or 'all_of' in condition) -%}
        {%- for part in (condition.get('any_of') or condition.get('all_of') or []) -%}
            {%- do recon_condition_side_columns(part, found) -%}
        {%- endfor -%}
    {%- elif condition is mapping and 'field' in condition and condition.get('agrees') is sameas true -%}
        {%- for side in ['left', 'right'] if [side, condition.field] not in found -%}
            {%- do found.append([side, condition.field]) -%}
        {%- endfor -%}
    {%- elif condition is mapping and 'field' in condition and condition.get('of') in ['left', 'right'] and 'is_null' in condition -%}
        {%- if [condition.of, condition.field] not in found -%}
            {%- do found.append([condition.of, condition.field]) -%}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}


{#- The candidate pairs a plausible condition reads: int_<name>__pairs, with the left
    record's `date` and `date_end` and the right record's `date` (the spec's columns, on
    the sides' models) when the condition reads them. -#}
{% macro recon_evidence_pairs(spec, name, condition) -%}
    {%- set reads_dates = recon_condition_reads_dates(condition) -%}
    {%- set reads_open = recon_condition_reads_open(condition) -%}
    {%- set side_columns = [] -%}
    {%- do recon_condition_side_columns(condition, side_columns) -%}
    {%- if not reads_dates and not side_columns and not reads_open -%}
    {{ ref('int_' ~ name ~ '__pairs') }}
    {%- else -%}
        {%- if reads_dates and ('date' not in spec.left.columns or 'date' not in spec.right.columns) -%}
            {{ exceptions.raise_compiler_error("Reconciliation spec '" ~ name ~ "': a plausible date condition needs a date column on both sides") }}
        {%- endif -%}
    (
        select
            pairs.*
            {%- if reads_dates %},
            left_dates.date as left_date,
            left_dates.date_end as left_date_end,
            right_dates.date as right_date,
            right_dates.date_last as right_date_last,
            right_dates.data_through as right_data_through
            {%- endif %}
            {%- for side, field in side_columns %},
            {{ side }}_dates.{{ field }} as {{ side }}_{{ field }}
            {%- endfor %}
            {%- if reads_open %},
            -- What the left record has open once every pass has run: its whole amount (in
            -- the right record's currency; where the pair lacks it, what it had left before
            -- the scored pass) less the right records matched to it in that currency
            -- ({amount: {of: open}}).
            coalesce(pairs.left_whole_amount_compared, pairs.left_amount_compared)
                - coalesce(covered.covered_amount, 0) as left_open_amount_compared
            {%- endif %}
        from {{ ref('int_' ~ name ~ '__pairs') }} as pairs
        {%- if reads_open %}
        left join (
            select
                matched_links.left_key,
                matched_right.currency,
                sum(matched_right.amount) as covered_amount
            from (
                select records.record_key, {{ recon_unnest('records.matched_keys') }} as left_key
                from {{ ref('int_' ~ name ~ '__records') }} as records
                where records.side = 'right'
                    and records.record_state = 'matched'
            ) as matched_links
            inner join (
                select
                    cast({{ spec.right.key }} as string) as record_key,
                    cast({{ spec.right.columns.currency }} as string) as currency,
                    cast({{ spec.right.columns.amount }} as decimal(18, 4)) as amount
                from {{ ref(spec.right.model) }}
            ) as matched_right
                on matched_links.record_key = matched_right.record_key
            group by matched_links.left_key, matched_right.currency
        ) as covered
            on pairs.left_key = covered.left_key
            and pairs.right_currency = covered.currency
        {%- endif %}
        left join (
            select
                cast({{ spec.left.key }} as string) as left_key
                {%- if reads_dates %},
                cast({{ spec.left.columns.date }} as date) as date,
                cast({{ spec.left.columns.get('date_end', 'null') }} as date) as date_end
                {%- endif %}
                {%- for side, field in side_columns if side == 'left' %},
                cast({{ spec.left.columns[field] }} as string) as {{ field }}
                {%- endfor %}
            from {{ ref(spec.left.model) }}
        ) as left_dates
            on pairs.left_key = left_dates.left_key
        left join (
            select
                cast({{ spec.right.key }} as string) as right_key
                {%- if reads_dates %},
                cast({{ spec.right.columns.date }} as date) as date,
                cast({{ spec.right.columns.get('date_last', 'null') }} as date) as date_last,
                cast({{ spec.right.columns.get('data_through', 'null') }} as date) as data_through
                {%- endif %}
                {%- for side, field in side_columns if side == 'right' %},
                cast({{ spec.right.columns[field] }} as string) as {{ field }}
                {%- endfor %}
            from {{ ref(spec.right.model) }}
        ) as right_dates
            on pairs.right_key = right_dates.right_key
    )
    {%- endif -%}
{%- endmacro %}


{#- The unmatched records of a side that repeat a record of that side matched on another
    document (spec exceptions.<side>.plausible_repeat; the document is plausible_document):
    the same currency, the same amount within amount_abs (0.05; either record's amount or
    amount_primary, where the spec has it: an item billed with an extra charge the copy
    lacks, or a copy carrying one the item lacked), dated within `within_days` of it and not more than `left_lead_days` before the
    date of the record it is matched to, and of the same client: the same client_id as that
    record, the same reference as its reference_key or as the matched record's, the same
    name as the matched record's, or, the unmatched record's own client_id unknown, the
    first word (four letters or more) of that record's name ("Ravenscar Group" for an order
    of Ravenscar Dental). One row per unmatched record and other-side record, with how many
    other-side records the unmatched record repeats (left_count), whether it repeats a
    record by its whole amount (by_whole_amount) or by its main line only, and the matched
    record of its side it repeats (repeated_key: by its whole amount where it can, then the
    nearest in date). A
    repeat of a record matched in full is the same billing sent again (duplicate_billing, in
    int_exception_breaks); a repeat of a record whose order is still short is a month or an
    instalment the passes could not place. Either way a match to make, not an orphan. -#}
{% macro recon_repeated_records(spec, name, side) -%}
    {%- set rule = spec.exceptions[side] -%}
    {%- set repeat = rule.plausible_repeat -%}
    {%- set other = 'left' if side == 'right' else 'right' -%}
    {%- set side_spec = spec[side] -%}
    {%- set other_spec = spec[other] -%}
    {%- for column in ['currency', 'amount', 'date', 'client_id', 'reference', 'name'] -%}
        {%- if column not in side_spec.columns or column not in other_spec.columns -%}
            {{ exceptions.raise_compiler_error("Reconciliation spec '" ~ name ~ "': plausible_repeat needs column '" ~ column ~ "' on both sides") }}
        {%- endif -%}
    {%- endfor -%}
    {%- set amount_abs = repeat.get('amount_abs', 0.05) -%}
    {%- set bucket_width = amount_abs if amount_abs > 0 else 1 -%}
    {#- The side's records as both roles read them: the unmatched one, and the matched one
        it may repeat. -#}
    {%- set side_rows -%}
                select
                    cast({{ side_spec.key }} as string) as record_key,
                    cast({{ rule.plausible_document }} as string) as document_key,
                    cast({{ side_spec.columns.currency }} as string) as currency,
                    cast({{ side_spec.columns.amount }} as decimal(18, 4)) as amount,
                    cast({{ side_spec.columns.get('amount_primary', side_spec.columns.amount) }} as decimal(18, 4))
                        as amount_primary,
                    cast({{ side_spec.columns.date }} as date) as record_date,
                    cast({{ side_spec.columns.client_id }} as string) as client_id,
                    cast({{ side_spec.columns.reference }} as string) as reference,
                    cast({{ side_spec.columns.name }} as string) as name
                from {{ ref(side_spec.model) }}
    {%- endset -%}
    (
        select
            repeats.*,
            count(*) over (partition by repeats.record_key) as left_count
        from (
            select
                unmatched.record_key,
                matched_links.other_key as {{ other }}_key,
                -- Whether it repeats it by its whole amount, not by its main line only.
                bool_or(unmatched.compared_amount = unmatched.amount) as by_whole_amount,
                -- The matched record it repeats (repeated_key), the one an operator is shown:
                -- of those it repeats, one it repeats by its whole amount where there is one,
                -- then the nearest in date, then the first key.
                {{ recon_arg_min('matched.record_key', recon_struct_pack([
                    ['by_main_line', 'case when unmatched.compared_amount = unmatched.amount then 0 else 1 end'],
                    ['days_apart', 'abs(' ~ recon_days_between('matched.record_date', 'unmatched.record_date') ~ ')'],
                    ['record_key', 'matched.record_key']
                ])) }} as repeated_key
            -- Compared by its amount and by its main line (amount_primary): a copy that
            -- carries an extra charge the billing it repeats lacked (3,000 + 91 of stock
            -- imagery, repeating an instalment of 3,000) repeats it all the same.
            -- Each unmatched record once by its amount and once more by its main line where
            -- that differs (`union all` without the copies: a `union` of the whole side
            -- de-duplicated a million rows at 1M orders, before the state was even looked at).
            from (
                {%- for compared in ['amount', 'amount_primary'] %}
                select unmatched_rows.*, unmatched_rows.{{ compared }} as compared_amount
                from ({{ side_rows }}) as unmatched_rows
                inner join {{ ref('int_' ~ name ~ '__records') }} as unmatched_records
                    on unmatched_records.side = '{{ side }}'
                    and unmatched_records.record_key = unmatched_rows.record_key
                    and unmatched_records.record_state = 'unmatched'
                {%- if not loop.first %}
                where unmatched_rows.amount_primary is distinct from unmatched_rows.amount
                {%- endif %}
                {{ "union all" if not loop.last }}
                {%- endfor %}
            ) as unmatched
            -- The amount within amount_abs, as an equality the join can hash: the record's
            -- bucket of that width and its two neighbours (a currency alone would compare
            -- every unmatched item with every item of it: 10^10 pairs at 1M orders).
            cross join (values (-1), (0), (1)) as bucket_step (step)
            inner join (
                {%- for bucketed in ['amount', 'amount_primary'] %}
                select
                    matched_rows.*,
                    cast(floor(matched_rows.{{ bucketed }} / {{ bucket_width }}) as bigint) as amount_bucket
                from ({{ side_rows }}) as matched_rows
                {%- if not loop.first %}
                where cast(floor(matched_rows.amount_primary / {{ bucket_width }}) as bigint)
                    is distinct from cast(floor(matched_rows.amount / {{ bucket_width }}) as bigint)
                {%- endif %}
                {{ "union all" if not loop.last }}
                {%- endfor %}
            ) as matched
                on unmatched.currency = matched.currency
                and cast(floor(unmatched.compared_amount / {{ bucket_width }}) as bigint) + bucket_step.step
                    = matched.amount_bucket
                and unmatched.document_key != matched.document_key
                and (
                    abs(unmatched.compared_amount - matched.amount) <= {{ amount_abs }}
                    or abs(unmatched.compared_amount - matched.amount_primary) <= {{ amount_abs }}
                )
                and abs({{ recon_days_between('matched.record_date', 'unmatched.record_date') }})
                    <= {{ repeat.within_days }}
            inner join (
                select records.record_key, {{ recon_unnest('records.matched_keys') }} as other_key
                from {{ ref('int_' ~ name ~ '__records') }} as records
                where records.side = '{{ side }}'
                    and records.record_state = 'matched'
            ) as matched_links
                on matched.record_key = matched_links.record_key
            inner join (
                select
                    cast({{ other_spec.key }} as string) as other_key,
                    cast({{ other_spec.columns.date }} as date) as record_date,
                    cast({{ other_spec.columns.client_id }} as string) as client_id,
                    cast({{ other_spec.columns.get('reference_key', other_spec.columns.reference) }} as string)
                        as reference,
                    cast({{ other_spec.columns.name }} as string) as name
                from {{ ref(other_spec.model) }}
            ) as other_records
                on matched_links.other_key = other_records.other_key
            where unmatched.amount > 0
                and {{ recon_days_between('other_records.record_date', 'unmatched.record_date') }}
                    >= -{{ repeat.left_lead_days }}
                and (
                    coalesce(unmatched.client_id = other_records.client_id, false)
                    or coalesce(unmatched.reference = other_records.reference, false)
                    or coalesce(unmatched.reference = matched.reference, false)
                    or coalesce(unmatched.name = matched.name, false)
                    or coalesce(
                        unmatched.client_id is null
                            and length(split_part(other_records.name, ' ', 1)) >= 4
                            and split_part(unmatched.name, ' ', 1) = split_part(other_records.name, ' ', 1),
                        false
                    )
                )
            group by unmatched.record_key, matched_links.other_key
        ) as repeats
    )
{%- endmacro %}


{#- The unmatched records of a side that run beside an other-side record the passes closed
    (spec exceptions.<side>.plausible_beside): an order its deterministic matches already
    deliver (left_accepts_remainder) is offered to no scored pair, so a campaign of its
    client running its flight has no candidate and would be orphan spend, although with it
    the order over-delivers. The other-side record has matches, and no pair with the record
    (it was closed to it), the same value of every field in
    `fields` (spec columns of both sides, none null), the record starts `start_days` after it
    (min to max days, not after its date_end) and its last day (right column date_last) is
    within `end_days` of the other's date_end, or of the day the data runs to (data_through)
    when that is earlier; it spends at least `amount.at_least` of the other's amount and,
    with what is matched to it already (same currency), at most `amount.with_matched_at_most`.

        plausible_beside:
          fields: [client_id, currency]
          start_days: {min: 0, max: 7}
          end_days: 7
          amount: {at_least: 0.03, with_matched_at_most: 1.35}

    Written for a right side whose left side has a service period (date, date_end). -#}
{% macro recon_beside_records(spec, name, side) -%}
    {%- set rule = spec.exceptions[side].plausible_beside -%}
    {%- set other = 'left' if side == 'right' else 'right' -%}
    {%- set start_min = rule.start_days.get('min', 0) | int -%}
    {%- set start_width = (rule.start_days.max | int) - start_min + 1 -%}
    {%- if start_width < 1 -%}
        {{ exceptions.raise_compiler_error("Reconciliation spec '" ~ name ~ "': plausible_beside start_days.max is below its min") }}
    {%- endif -%}
    {%- if side != 'right' -%}
        {{ exceptions.raise_compiler_error("Reconciliation spec '" ~ name ~ "': plausible_beside is for the right side (the left has the service period)") }}
    {%- endif -%}
    {%- for column in ['date', 'date_end', 'amount', 'currency'] if column not in spec.left.columns -%}
        {{ exceptions.raise_compiler_error("Reconciliation spec '" ~ name ~ "': plausible_beside needs left column '" ~ column ~ "'") }}
    {%- endfor -%}
    {%- for column in ['date', 'date_last', 'data_through', 'amount', 'currency'] if column not in spec.right.columns -%}
        {{ exceptions.raise_compiler_error("Reconciliation spec '" ~ name ~ "': plausible_beside needs right column '" ~ column ~ "'") }}
    {%- endfor -%}
    {%- for field in rule.fields if field not in spec.left.columns or field not in spec.right.columns -%}
        {{ exceptions.raise_compiler_error("Reconciliation spec '" ~ name ~ "': plausible_beside field '" ~ field ~ "' is not a column of both sides") }}
    {%- endfor -%}
    (
        select distinct beside_right.record_key, beside_left.left_key
        from (
            select
                cast({{ spec.right.key }} as string) as record_key,
                {%- for field in rule.fields %}
                cast({{ spec.right.columns[field] }} as string) as {{ field }},
                {%- endfor %}
                cast({{ spec.right.columns.amount }} as decimal(38, 6)) as amount,
                cast({{ spec.right.columns.date }} as date) as record_date,
                cast({{ spec.right.columns.date_last }} as date) as date_last,
                cast({{ spec.right.columns.data_through }} as date) as data_through,
                cast(floor({{ recon_days_between(
                    "cast('1970-01-01' as date)", 'cast(' ~ spec.right.columns.date ~ ' as date)'
                ) }} / {{ start_width }}) as bigint) as start_bucket
            from {{ ref(spec.right.model) }}
            where {{ spec.right.get('where') or 'true' }}
        ) as beside_right
        inner join {{ ref('int_' ~ name ~ '__records') }} as right_records
            on right_records.side = 'right'
            and right_records.record_key = beside_right.record_key
            and right_records.record_state = 'unmatched'
        inner join (
            select
                cast({{ spec.left.key }} as string) as left_key,
                {%- for field in rule.fields %}
                cast({{ spec.left.columns[field] }} as string) as {{ field }},
                {%- endfor %}
                cast({{ spec.left.columns.currency }} as string) as currency_compared,
                cast({{ spec.left.columns.amount }} as decimal(38, 6)) as amount,
                cast({{ spec.left.columns.date }} as date) as record_date,
                cast({{ spec.left.columns.date_end }} as date) as date_end,
                -- The bucket of start_days' width where the window from start_days.min opens,
                -- and the next one: the window spans at most those two.
                cast(floor(({{ recon_days_between(
                    "cast('1970-01-01' as date)", 'cast(' ~ spec.left.columns.date ~ ' as date)'
                ) }} + {{ start_min }}) / {{ start_width }}) as bigint) + bucket_step.step as start_bucket
            from {{ ref(spec.left.model) }}
            cross join (values (0), (1)) as bucket_step (step)
            where {{ spec.left.get('where') or 'true' }}
        ) as beside_left
            -- The start window as an equality the join can hash (the fields alone, a client and
            -- a currency, compared each unmatched campaign with every order of its client).
            on beside_left.start_bucket = beside_right.start_bucket
            and {% for field in rule.fields %}beside_left.{{ field }} = beside_right.{{ field }}{{ ' and ' if not loop.last }}{% endfor %}
        inner join (
            -- What the other side's records matched to it spend, in its currency: only a
            -- record with matches (one the passes closed) is looked at.
            select matched.left_key, matched.currency, sum(matched.amount) as matched_amount
            from (
                select
                    {{ recon_unnest('records.matched_keys') }} as left_key,
                    cast(matched_right.{{ spec.right.key }} as string) as right_key,
                    cast({{ spec.right.columns.currency }} as string) as currency,
                    cast({{ spec.right.columns.amount }} as decimal(38, 6)) as amount
                from {{ ref('int_' ~ name ~ '__records') }} as records
                inner join {{ ref(spec.right.model) }} as matched_right
                    on records.record_key = cast(matched_right.{{ spec.right.key }} as string)
                where records.side = 'right'
                    and records.record_state = 'matched'
            ) as matched
            group by matched.left_key, matched.currency
        ) as matched_amounts
            on beside_left.left_key = matched_amounts.left_key
            and beside_left.currency_compared = matched_amounts.currency
        where beside_left.amount > 0
            -- The passes offered no pair of the two (a pair that scored is the scored
            -- candidates' business: plausible_evidence, plausible_fit).
            and not exists (
                select 1 from {{ ref('int_' ~ name ~ '__pairs') }} as pairs
                where pairs.left_key = beside_left.left_key
                    and pairs.right_key = beside_right.record_key
            )
            and {{ recon_days_between('beside_left.record_date', 'beside_right.record_date') }}
                between {{ rule.start_days.get('min', 0) }} and {{ rule.start_days.max }}
            and (beside_left.date_end is null or beside_right.record_date <= beside_left.date_end)
            and abs({{ recon_days_between(
                'least(beside_left.date_end, beside_right.data_through)', 'beside_right.date_last'
            ) }}) <= {{ rule.end_days }}
            {%- if rule.get('amount', {}).get('at_least') is not none %}
            and beside_right.amount >= cast({{ rule.amount.at_least }} as decimal(38, 6)) * beside_left.amount
            {%- endif %}
            {%- if rule.get('amount', {}).get('with_matched_at_most') is not none %}
            and beside_right.amount + coalesce(matched_amounts.matched_amount, 0)
                <= cast({{ rule.amount.with_matched_at_most }} as decimal(38, 6)) * beside_left.amount
            {%- endif %}
    )
{%- endmacro %}
