-- Reconciliation performance for BI: per reconciliation, source (side and model) and day
-- (the record's business date), how many records matched and how. match_rate counts every
-- match; auto_match_rate only those the scored (probabilistic or group) pass made without
-- a key, the matches a person would otherwise have made by hand.
with

records as (
    select * from {{ ref('fct_reconciliation_records') }}
),

classified as (
    select
        records.*,
        records.record_state = 'matched'
            and {{ recon_list_has_any('records.matched_by', recon_list_literal(["'probabilistic'", "'group_one_to_many'", "'group_many_to_one'"])) }}
            as is_auto_matched
    from records
)

select
    reconciliation,
    side,
    record_model as source_model,
    record_date,
    count(*) as records,
    count(*) filter (where record_state = 'matched') as matched,
    count(*) filter (where is_auto_matched) as auto_matched,
    count(*) filter (where record_state = 'suggested') as suggested,
    count(*) filter (where record_state = 'ambiguous') as ambiguous,
    count(*) filter (where record_state = 'unmatched') as unmatched,
    round(count(*) filter (where record_state = 'matched') / count(*), 4) as match_rate,
    round(count(*) filter (where is_auto_matched) / count(*), 4) as auto_match_rate,
    {{ recon_run_id() }} as dagster_run_id
from classified
group by reconciliation, side, record_model, record_date
