-- Every pair the matching engine decided, for every reconciliation: auto-matches,
-- suggestions awaiting review and ambiguous mutual-best pairs, with the pass, score and
-- per-field score components that explain the decision.
with

all_decisions as (
    {{ recon_union_all('decisions') }}
),

final as (
    select
        all_decisions.match_id,
        all_decisions.reconciliation,
        all_decisions.rule_version,
        all_decisions.left_key,
        all_decisions.right_key,
        all_decisions.decision,
        all_decisions.pass_name,
        all_decisions.assignment_round,
        cast(all_decisions.match_weight as double) as match_weight,
        cast(all_decisions.match_probability as double) as match_probability,
        cast(all_decisions.score_components as string) as score_components,
        '{{ invocation_id }}' as dbt_invocation_id,
        {{ recon_run_id() }} as dagster_run_id
    from all_decisions
)

select * from final
