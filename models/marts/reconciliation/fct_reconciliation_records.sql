-- Every source record of every reconciliation in exactly one state (matched, suggested,
-- ambiguous, unmatched). Records not matched carry their top candidates with scores,
-- so an operator can see why they did not match. has_operator_link says an operator matched
-- or unmatched the record by hand and that decision is live: its state is the operator's
-- decision, not the engine's (the match-rate gate leaves those records out,
-- docs/operations.md). A lapsed match (a record restated since) no longer decides it.
with

all_records as (
    {{ recon_union_all('records') }}
),

live_links as (
    -- The operator's last word on each pair, while it still decides its records: an unmatch
    -- always (it forbids the pair whatever the records say since); a match while both
    -- records exist and are as the operator saw them (recon_pairs' pass `operator`). A
    -- match whose record was restated or is gone has lapsed: the rules decide the records
    -- again (manual_link_changed asks for review), and so the match-rate gate counts them.
    select
        links.reconciliation,
        links.left_key,
        links.right_key
    from {{ ref('int_operator_links') }} as links
    left join all_records as left_now
        on links.reconciliation = left_now.reconciliation
        and left_now.side = 'left'
        and links.left_key = left_now.record_key
    left join all_records as right_now
        on links.reconciliation = right_now.reconciliation
        and right_now.side = 'right'
        and links.right_key = right_now.record_key
    where not links.is_linked
        or (
            left_now.record_key is not null
            and right_now.record_key is not null
            and coalesce(links.left_fingerprint = left_now.record_fingerprint, true)
            and coalesce(links.right_fingerprint = right_now.record_fingerprint, true)
        )
),

operator_records as (
    -- Every record a live operator decision on one of its pairs names (match or unmatch).
    select distinct live_links.reconciliation, 'left' as side, live_links.left_key as record_key
    from live_links
    union
    select distinct live_links.reconciliation, 'right' as side, live_links.right_key as record_key
    from live_links
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
        {{ recon_run_id() }} as dagster_run_id
    from all_records
    left join operator_records
        on all_records.reconciliation = operator_records.reconciliation
        and all_records.side = operator_records.side
        and all_records.record_key = operator_records.record_key
)

select * from final
