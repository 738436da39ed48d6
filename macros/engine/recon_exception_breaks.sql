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

    `levels` name the spec's comparison levels (level_<field> of the pairs); the amount
    condition reads the pairs' right_amount and left_amount_compared (what the left record
    still has to match, in the right record's currency). The same candidate must meet the
    probability and the evidence.

    A record an operator linked by hand that was restated since (int_operator_links'
    fingerprint differs from the record's now) is a `manual_link_changed` break on the
    link's record of the first side with rules: the link is suspended until the operator
    matches again or unmatches.

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
        side_records.amount_at_risk,
        {%- if rule.get('value_reporting') %}
        side_records.amount_at_risk_reporting,
        {%- else %}
        {{ convert_amount('side_records.amount_at_risk', 'fx_from.rate_to_usd', 'fx_reporting.rate_to_usd') }}
            as amount_at_risk_reporting,
        {%- endif %}
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
                        coalesce(cast(json_extract(records.top_candidates, '$[0].match_probability') as double), 0)
                            >= {{ plausible }}
                        {%- endif %}
                        {%- if document %}
                        or claimed.record_key is not null
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
            from {{ ref('int_' ~ name ~ '__pairs') }} as pairs
            where pairs.match_probability >= {{ plausible }}
                and {{ recon_plausible_evidence(evidence, spec, name) }}
        ) as evidenced
            on records.record_key = evidenced.record_key
        {%- endif %}
        {%- if document %}
        left join (
            -- Records beside a matched record of the same document (an invoice whose other
            -- items bill orders is claimed).
            select distinct documents.record_key
            from (
                select
                    cast({{ side_spec.key }} as varchar) as record_key,
                    cast({{ document }} as varchar) as document_key
                from {{ ref(side_spec.model) }}
            ) as documents
            inner join (
                select
                    cast({{ side_spec.key }} as varchar) as record_key,
                    cast({{ document }} as varchar) as document_key
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
        where records.side = '{{ side }}'
        {%- if side == ruled_sides[0] %}
        union all
        -- Manual links whose records are no longer as the operator saw them.
        select distinct on (links.{{ side }}_key)
            records.* replace (links.{{ side }}_key as record_key),
            'link_changed' as exception_state
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
        {%- endif %}
    ) as side_states
    inner join (
        -- The spec's expressions, on the side's model.
        select
            cast({{ side_spec.key }} as varchar) as record_key,
            cast({{ rule.client_name }} as varchar) as client_name,
            cast({{ rule.currency }} as varchar) as currency,
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
    {#- No exceptions section: an empty relation of the same shape. #}
    select
        cast(null as varchar) as exception_type, cast(null as varchar) as record_entity,
        cast(null as varchar) as record_id, cast(null as varchar) as client_name,
        cast(null as varchar) as currency, cast(null as decimal(18, 4)) as amount_at_risk,
        cast(null as decimal(18, 4)) as amount_at_risk_reporting, cast(null as date) as due_date
    where false
{%- endif -%}
{% endmacro %}


{#- The condition a candidate pair (`pairs`, int_<name>__pairs) meets to come close, for
    recon_exception_breaks' plausible_evidence: {field: F, levels: [names]} (the pair's
    level_F is one of the spec's levels of that comparison), {amount: {at_least: a,
    at_most: b}} (the right amount within a × to b × the left amount as compared; either
    bound may be left out), or any_of / all_of lists of them. -#}
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
    {%- elif 'field' in condition and 'levels' in condition -%}
        {%- set found = [] -%}
        {%- for comparison in spec.comparisons if comparison.field == condition.field -%}
            {%- do found.append(comparison) -%}
        {%- endfor -%}
        {%- if not found -%}
            {{ exceptions.raise_compiler_error("Reconciliation spec '" ~ name ~ "': plausible_evidence names field '" ~ condition.field ~ "', which no comparison compares") }}
        {%- endif -%}
        {%- set names = found[0].levels | map(attribute='name') | list -%}
        {%- set indexes = [] -%}
        {%- for level in condition.levels -%}
            {%- if level not in names -%}
                {{ exceptions.raise_compiler_error("Reconciliation spec '" ~ name ~ "': plausible_evidence: comparison '" ~ condition.field ~ "' has no level '" ~ level ~ "' (it has " ~ (names | join(', ')) ~ ")") }}
            {%- endif -%}
            {%- do indexes.append(names.index(level)) -%}
        {%- endfor -%}
        coalesce(pairs.level_{{ condition.field }} in ({{ indexes | join(', ') }}), false)
    {%- elif 'amount' in condition and condition.amount is mapping
        and ('at_least' in condition.amount or 'at_most' in condition.amount) -%}
        coalesce(pairs.left_amount_compared > 0
            {%- if 'at_least' in condition.amount %}
            and pairs.right_amount >= {{ condition.amount.at_least }} * pairs.left_amount_compared
            {%- endif %}
            {%- if 'at_most' in condition.amount %}
            and pairs.right_amount <= {{ condition.amount.at_most }} * pairs.left_amount_compared
            {%- endif %}, false)
    {%- else -%}
        {{ exceptions.raise_compiler_error("Reconciliation spec '" ~ name ~ "': unknown plausible_evidence condition " ~ condition ~ " (use {field, levels}, {amount: {at_least, at_most}}, any_of or all_of)") }}
    {%- endif -%}
{%- endmacro %}
