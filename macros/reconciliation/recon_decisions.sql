{#- Assignment: which candidate pairs become matches, and the state of every record.

    1. Deterministic: a right record takes the left record(s) of its best pass; two
       left records tied in that pass make it ambiguous (never a guess).
    2. Probabilistic, one-to-one, in rounds: a pair above the review threshold is
       accepted when each side is the other's best remaining candidate and the runner-up
       of both sides trails by at least ambiguity_margin (in log2 Bayes-factor units);
       a mutual best inside the margin is ambiguous. Accepted pairs at or above the
       auto-match probability are matched, the rest suggested for review.
    Output: one row per pair that was decided (matched, suggested or ambiguous). -#}
{% macro recon_decisions(name) %}
{%- set spec = recon_spec(name) -%}
{%- set margin = spec.thresholds.ambiguity_margin -%}
with

pairs as (
    select * from {{ ref('int_' ~ name ~ '__pairs') }}
),

deterministic as (
    select *
    from pairs
    where pairs.is_deterministic
    qualify pairs.pass_priority = min(pairs.pass_priority) over (partition by pairs.right_key)
),

deterministic_decided as (
    select
        deterministic.*,
        case
            when count(*) over (partition by deterministic.right_key) = 1 then 'matched'
            else 'ambiguous'
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
        ranked_{{ round }}.* exclude (right_rank, left_rank, right_runner_up, left_runner_up),
        case
            when ranked_{{ round }}.match_weight - coalesce(ranked_{{ round }}.right_runner_up, -1e9) < {{ margin }}
                or ranked_{{ round }}.match_weight - coalesce(ranked_{{ round }}.left_runner_up, -1e9) < {{ margin }}
                then 'ambiguous'
            when ranked_{{ round }}.match_probability >= {{ spec.thresholds.auto_match }} then 'matched'
            else 'suggested'
        end as decision,
        {{ round }} as assignment_round
    from ranked_{{ round }}
    where ranked_{{ round }}.right_rank = 1
        and ranked_{{ round }}.left_rank = 1
),

probabilistic_{{ round }} as (
    -- What is left for the next round: pairs whose records were not decided.
    select probabilistic_{{ round - 1 }}.*
    from probabilistic_{{ round - 1 }}
    where probabilistic_{{ round - 1 }}.right_key not in (select decided_{{ round }}.right_key from decided_{{ round }})
        and probabilistic_{{ round - 1 }}.left_key not in (select decided_{{ round }}.left_key from decided_{{ round }})
),
{%- endfor %}

all_decided as (
    select deterministic_decided.*, 0 as assignment_round from deterministic_decided
    {%- for round in range(1, spec.assignment.rounds + 1) %}
    union all
    select * from decided_{{ round }}
    {%- endfor %}
),

final as (
    select
        '{{ spec.name }}' as reconciliation,
        '{{ spec.rule_version }}' as rule_version,
        md5('{{ spec.rule_version }}' || '|' || all_decided.left_key || '|' || all_decided.right_key) as match_id,
        all_decided.left_key,
        all_decided.right_key,
        all_decided.decision,
        coalesce(all_decided.pass_name, 'probabilistic') as pass_name,
        all_decided.assignment_round,
        all_decided.match_weight,
        all_decided.match_probability,
        to_json(struct_pack(
            {%- for comparison in spec.comparisons %}
            {{ comparison.field }} := struct_pack(
                level := all_decided.level_{{ comparison.field }},
                weight := round(all_decided.weight_{{ comparison.field }}, 3)
            ){{ "," if not loop.last }}
            {%- endfor %}
        )) as score_components
    from all_decided
)

select * from final
{% endmacro %}
