-- Every source record of every reconciliation in exactly one state (matched, suggested,
-- ambiguous, unmatched). Records not matched carry their top candidates with scores,
-- so an operator can see why they did not match.
with

all_records as (
    {{ recon_union_all('records') }}
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
        '{{ env_var("RECON_RUN_ID", "") }}' as dagster_run_id
    from all_records
)

select * from final
