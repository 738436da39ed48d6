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
    record nothing claims; `unmatched` keeps the rest.

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
                    and coalesce(cast(json_extract(records.top_candidates, '$[0].match_probability') as double), 0)
                        >= {{ plausible }}
                    then 'unmatched_plausible'
                else records.record_state
            end as exception_state
            {%- else %}
            records.record_state as exception_state
            {%- endif %}
        from {{ ref('int_' ~ name ~ '__records') }} as records
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
