-- Every source record of every reconciliation in exactly one state (matched, suggested,
-- ambiguous, unmatched). Records not matched carry their top candidates with scores,
-- so an operator can see why they did not match. has_operator_link says an operator matched
-- or unmatched the record by hand: its state is the operator's decision, not the engine's
-- (the match-rate gate leaves those records out, docs/operations.md).
with

all_records as (
    {{ recon_union_all('records') }}
),

operator_records as (
    -- Every record an operator's last word on one of its pairs names (match or unmatch).
    select distinct reconciliation, 'left' as side, left_key as record_key
    from {{ ref('int_operator_links') }}
    union
    select distinct reconciliation, 'right' as side, right_key as record_key
    from {{ ref('int_operator_links') }}
),

final as (
    select
        all_records.reconciliation || ':' || all_records.side || ':' || all_records.record_key as reconciliation_record_id,
        all_records.reconciliation,
        all_records.side,
        all_records.record_model,
        all_records.record_key,
        all_records.record_date,
        all_records.record_state,
        all_records.record_fingerprint,
        all_records.matched_keys,
        all_records.matched_by,
        all_records.candidate_count,
        cast(all_records.top_candidates as string) as top_candidates,
        operator_records.record_key is not null as has_operator_link,
        '{{ env_var("RECON_RUN_ID", "") }}' as dagster_run_id
    from all_records
    left join operator_records
        on all_records.reconciliation = operator_records.reconciliation
        and all_records.side = operator_records.side
        and all_records.record_key = operator_records.record_key
)

select * from final
