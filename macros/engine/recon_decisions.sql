{#- Assignment: which candidate pairs become matches, and the state of every record.

    1. Deterministic: a right record takes the left record(s) of its best pass; two
       left records tied in that pass make it ambiguous (never a guess) unless the pass
       says `ties: match_all`; a pair whose
       amounts are beyond the pass's max_amount_ratio, or that fails its `suggest_unless`,
       is only suggested.
    2. Probabilistic, one-to-one, in rounds: a pair above the review threshold is
       accepted when each side is the other's best remaining candidate and the runner-up
       of both sides trails by at least ambiguity_margin (in log2 Bayes-factor units);
       a mutual best inside the margin is ambiguous. With `left_accepts_many`, many-to-one:
       each right record takes its best candidate unless its own runner-up is within
       the margin. Accepted pairs at or above the
       auto-match probability are matched, the rest suggested for review.
    3. Groups (spec `groups`): among what is still open, 1:N or N:1 sets whose amounts
       sum to the anchor's (see recon_group_decisions).
    Output: one row per pair that was decided (matched, suggested or ambiguous); the
    pairs of one group share its match_id. -#}
{% macro recon_decisions(name) %}
{%- set spec = recon_spec(name) -%}
{%- set margin = spec.thresholds.ambiguity_margin -%}
{#- left_accepts_many: a right record belongs to at most one left record, but a left
    record may take many (an insertion order runs several campaigns): each right record
    takes its best candidate, ambiguous only against its own runner-up. -#}
{%- set many = spec.assignment.get('left_accepts_many', false) -%}
{#- Passes with `ties: match_all` link a right record to every left record tied in them
    (one form submission the CRM stored as two leads belongs to both); elsewhere a tie
    is ambiguous. -#}
{%- set tie_passes = ["'operator'"] -%}
{%- for pass in spec.deterministic if pass.get('ties') == 'match_all' -%}
    {%- do tie_passes.append("'" ~ pass.name ~ "'") -%}
{%- endfor -%}
with

pairs as (
    select * from {{ ref('int_' ~ name ~ '__pairs') }}
),

deterministic as (
    {{ recon_qualify('*', 'from pairs
    where pairs.is_deterministic', 'pairs.pass_priority = min(pairs.pass_priority) over (partition by pairs.right_key)') }}
),

deterministic_decided as (
    select
        deterministic.*,
        case
            when count(*) over (partition by deterministic.right_key) > 1
                and deterministic.pass_name not in ({{ tie_passes | join(', ') }}) then 'ambiguous'
            when deterministic.is_amount_outlier or coalesce(deterministic.is_suggestion_only, false) then 'suggested'
            else 'matched'
        end as decision
    from deterministic
),

probabilistic_0 as (
    select *
    from pairs
    where not pairs.is_deterministic
        and pairs.match_probability >= {{ spec.thresholds.review }}
),
{%- for round in range(1, spec.assignment.rounds + 1) %}

ranked_{{ round }} as (
    select
        probabilistic_{{ round - 1 }}.*,
        row_number() over (
            partition by probabilistic_{{ round - 1 }}.right_key
            order by probabilistic_{{ round - 1 }}.match_weight desc, probabilistic_{{ round - 1 }}.left_key
        ) as right_rank,
        row_number() over (
            partition by probabilistic_{{ round - 1 }}.left_key
            order by probabilistic_{{ round - 1 }}.match_weight desc, probabilistic_{{ round - 1 }}.right_key
        ) as left_rank,
        lead(probabilistic_{{ round - 1 }}.match_weight) over (
            partition by probabilistic_{{ round - 1 }}.right_key
            order by probabilistic_{{ round - 1 }}.match_weight desc, probabilistic_{{ round - 1 }}.left_key
        ) as right_runner_up,
        lead(probabilistic_{{ round - 1 }}.match_weight) over (
            partition by probabilistic_{{ round - 1 }}.left_key
            order by probabilistic_{{ round - 1 }}.match_weight desc, probabilistic_{{ round - 1 }}.right_key
        ) as left_runner_up
    from probabilistic_{{ round - 1 }}
),

decided_{{ round }} as (
    select
        {{ recon_star_exclude('ranked_' ~ round, ['right_rank', 'left_rank', 'right_runner_up', 'left_runner_up']) }},
        case
            when ranked_{{ round }}.match_weight - coalesce(ranked_{{ round }}.right_runner_up, -1e9) < {{ margin }}
            {%- if not many %}
                or ranked_{{ round }}.match_weight - coalesce(ranked_{{ round }}.left_runner_up, -1e9) < {{ margin }}
            {%- endif %}
                then 'ambiguous'
            when ranked_{{ round }}.match_probability >= {{ spec.thresholds.auto_match }} then 'matched'
            else 'suggested'
        end as decision,
        {{ round }} as assignment_round
    from ranked_{{ round }}
    where ranked_{{ round }}.right_rank = 1
    {%- if not many %}
        and ranked_{{ round }}.left_rank = 1
    {%- endif %}
),

probabilistic_{{ round }} as (
    -- What is left for the next round: pairs whose records were not decided.
    select probabilistic_{{ round - 1 }}.*
    from probabilistic_{{ round - 1 }}
    where probabilistic_{{ round - 1 }}.right_key not in (select decided_{{ round }}.right_key from decided_{{ round }})
        {%- if not many %}
        and probabilistic_{{ round - 1 }}.left_key not in (select decided_{{ round }}.left_key from decided_{{ round }})
        {%- endif %}
),
{%- endfor %}

decided_pairs as (
    select deterministic_decided.*, 0 as assignment_round from deterministic_decided
    {%- for round in range(1, spec.assignment.rounds + 1) %}
    union all
    select * from decided_{{ round }}
    {%- endfor %}
),
{%- set groups = spec.get('groups') or [] %}
{%- if groups %}

open_for_groups as (
    -- Candidates whose two records no pass or round decided (an order partly covered
    -- by deterministic matches appears here only with its uncovered amount).
    select *
    from pairs
    where not pairs.is_deterministic
        and pairs.right_key not in (select decided_pairs.right_key from decided_pairs)
        and pairs.left_key not in (
            select decided_pairs.left_key from decided_pairs where decided_pairs.assignment_round > 0
        )
),
{%- for group in groups %}

{{ recon_group_decisions(spec, group, loop.index, 'open_for_groups') }},
{%- endfor %}

group_decided as (
    -- A record in groups of both directions keeps only its first group.
    {%- set group_candidates %}
    from (
        {%- for group in groups %}
        select *, {{ loop.index }} as group_priority from group_{{ loop.index }}_decided
        {{ "union all" if not loop.last }}
        {%- endfor %}
    ) as candidates
    {%- endset %}
    {{ recon_qualify('*', group_candidates, 'min(candidates.group_priority) over (partition by candidates.left_key) = candidates.group_priority
        and min(candidates.group_priority) over (partition by candidates.right_key) = candidates.group_priority') }}
),
{%- endif %}

all_decided as (
    select
        decided_pairs.left_key,
        decided_pairs.right_key,
        decided_pairs.decision,
        coalesce(decided_pairs.pass_name, 'probabilistic') as pass_name,
        decided_pairs.assignment_round,
        -- An operator's link is versioned by the action that made it.
        coalesce('operator:' || decided_pairs.operator_action_id, '{{ spec.rule_version }}') as rule_version,
        decided_pairs.match_weight,
        decided_pairs.match_probability,
        md5(
            coalesce('operator:' || decided_pairs.operator_action_id, '{{ spec.rule_version }}')
            || '|' || decided_pairs.left_key || '|' || decided_pairs.right_key
        ) as match_id,
        {#- `+ 0.0` turns DuckDB's -0.0 (a weight of -0.0001 rounded) into 0.0, as Spark rounds it. #}
        {%- set components = [] %}
        {%- for comparison in spec.comparisons %}
        {%- do components.append([comparison.field, recon_struct_pack([
            ['level', 'decided_pairs.level_' ~ comparison.field],
            ['weight', 'round(decided_pairs.weight_' ~ comparison.field ~ ', 3) + 0.0']])]) %}
        {%- endfor %}
        {{ recon_to_json(recon_struct_pack(components)) }} as score_components
    from decided_pairs
    {%- if groups %}
    union all
    select
        group_decided.left_key,
        group_decided.right_key,
        group_decided.decision,
        group_decided.pass_name,
        {{ spec.assignment.rounds + 1 }} as assignment_round,
        '{{ spec.rule_version }}' as rule_version,
        pairs.match_weight,
        pairs.match_probability,
        group_decided.group_match_id as match_id,
        {%- set components = [
            ['group_size', 'group_decided.group_size'],
            ['group_amount', 'group_decided.group_amount'],
            ['anchor_amount', 'group_decided.group_anchor_amount']] %}
        {%- for comparison in spec.comparisons %}
        {%- do components.append([comparison.field, recon_struct_pack([
            ['level', 'pairs.level_' ~ comparison.field],
            ['weight', 'round(pairs.weight_' ~ comparison.field ~ ', 3) + 0.0']])]) %}
        {%- endfor %}
        {{ recon_to_json(recon_struct_pack(components)) }} as score_components
    from group_decided
    inner join pairs
        on group_decided.left_key = pairs.left_key
        and group_decided.right_key = pairs.right_key
    {%- endif %}
),

final as (
    select
        '{{ spec.name }}' as reconciliation,
        all_decided.rule_version,
        all_decided.match_id,
        all_decided.left_key,
        all_decided.right_key,
        all_decided.decision,
        all_decided.pass_name,
        all_decided.assignment_round,
        all_decided.match_weight,
        all_decided.match_probability,
        all_decided.score_components
    from all_decided
)

select * from final
{% endmacro %}
