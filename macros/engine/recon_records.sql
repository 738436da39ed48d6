{#- Every record of both sides of a reconciliation in exactly one state — matched,
    suggested, ambiguous or unmatched — with its partners and, unless matched, its top-k
    candidates and their scores, so an operator can see why it did not match. -#}
{#- The columns of a records model (recon_records), in order. -#}
{% macro recon_records_columns() -%}
    {{ return(['reconciliation', 'side', 'record_model', 'record_key', 'record_date', 'record_fingerprint',
        'record_state', 'matched_keys', 'matched_by', 'candidate_count', 'top_candidates']) }}
{%- endmacro %}

{% macro recon_records(name) %}
{%- set spec = recon_spec(name) -%}
{%- set top_k = spec.assignment.top_k -%}
with

pairs as (
    select * from {{ ref('int_' ~ name ~ '__pairs') }}
),

decisions as (
    select * from {{ ref('int_' ~ name ~ '__decisions') }}
),
{%- for side, other in [('left', 'right'), ('right', 'left')] %}
{%- set side_spec = spec[side] %}

{{ side }}_records as (
    select
        spec_columns.record_key,
        spec_columns.record_date,
        {{ recon_record_fingerprint(side_spec, 'spec_columns') }} as record_fingerprint
    from (
        select
            cast({{ side_spec.key }} as string) as record_key,
            -- The record's business date (the spec's date field), for reporting by day.
            {{ "cast(" ~ side_spec.columns.date ~ " as date)" if 'date' in side_spec.columns else "cast(null as date)" }}
                as record_date,
            {%- for field, expression in side_spec.columns.items() %}
            {{ expression }} as {{ field }}{{ "," if not loop.last }}
            {%- endfor %}
        from {{ ref(side_spec.model) }}
        where {{ side_spec.get('where') or 'true' }}
    ) as spec_columns
),

{{ side }}_states as (
    select
        {{ side }}_records.record_key,
        any_value({{ side }}_records.record_date) as record_date,
        any_value({{ side }}_records.record_fingerprint) as record_fingerprint,
        case
            when bool_or(decisions.decision = 'matched') then 'matched'
            when bool_or(decisions.decision = 'suggested') then 'suggested'
            when bool_or(decisions.decision = 'ambiguous') then 'ambiguous'
            else 'unmatched'
        end as record_state,
        -- Sorted: an aggregate's order follows the parallel plan, and the same data must give
        -- the same record (recon simulate compares runs by hash).
        {{ recon_list_sort(recon_list_agg('decisions.' ~ other ~ '_key', distinct=true) ~ " filter (where decisions.decision = 'matched')") }} as matched_keys,
        {{ recon_list_sort(recon_list_agg('decisions.pass_name', distinct=true) ~ " filter (where decisions.decision = 'matched')") }} as matched_by
    from {{ side }}_records
    left join decisions
        on {{ side }}_records.record_key = decisions.{{ side }}_key
    group by {{ side }}_records.record_key
),

{{ side }}_candidates as (
    -- Candidates are listed only for records that did not match: that is who needs them.
    select
        pairs.{{ side }}_key as record_key,
        count(*) as candidate_count,
        {#- `+ 0.0`: DuckDB rounds -0.0001 to -0.0 and writes "-0.0" in JSON; Spark rounds it
            to 0.0. Adding zero makes -0.0 0.0 on both. #}
        {%- set components = [] %}
        {%- for comparison in spec.comparisons %}
            {%- do components.append([comparison.field, recon_struct_pack([
                ['level', 'pairs.level_' ~ comparison.field],
                ['weight', 'round(pairs.weight_' ~ comparison.field ~ ', 3) + 0.0']])]) %}
        {%- endfor %}
        {{ recon_ordered_list(
            recon_struct_pack([
                ['candidate_key', 'pairs.' ~ other ~ '_key'],
                ['pass_name', 'pairs.pass_name'],
                ['match_weight', 'round(pairs.match_weight, 3) + 0.0'],
                ['match_probability', 'round(pairs.match_probability, 4) + 0.0'],
                ['components', recon_struct_pack(components)]]),
            'pairs.match_weight desc, pairs.' ~ other ~ '_key',
            top_k
        ) }} as top_candidates
    from pairs
    inner join {{ side }}_states
        on pairs.{{ side }}_key = {{ side }}_states.record_key
        and {{ side }}_states.record_state != 'matched'
    group by pairs.{{ side }}_key
),

{{ side }}_final as (
    select
        '{{ spec.name }}' as reconciliation,
        '{{ side }}' as side,
        '{{ side_spec.model }}' as record_model,
        {{ side }}_states.record_key,
        {{ side }}_states.record_date,
        {{ side }}_states.record_fingerprint,
        {{ side }}_states.record_state,
        {{ side }}_states.matched_keys,
        {{ side }}_states.matched_by,
        coalesce({{ side }}_candidates.candidate_count, 0) as candidate_count,
        case
            when {{ side }}_states.record_state != 'matched' then {{ recon_to_json(side ~ '_candidates.top_candidates') }}
        end as top_candidates
    from {{ side }}_states
    left join {{ side }}_candidates
        on {{ side }}_states.record_key = {{ side }}_candidates.record_key
),
{%- endfor %}

final as (
    select * from left_final
    union all
    select * from right_final
)

select * from final
{% endmacro %}
