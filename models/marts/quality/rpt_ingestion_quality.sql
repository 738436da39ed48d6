-- Per source entity: how many files and rows arrived, loaded and were quarantined or
-- rejected. Counts what `recon status` counts: current files only. A restated file's
-- superseded batch is counted apart (files_superseded), not in the rows (staging reads the
-- restatement), and a rejection counts only while it is outstanding (not fixed since by a
-- file at its path or its bytes loaded elsewhere). Sums are cast to BIGINT: DuckDB sums a
-- BIGINT as HUGEINT, which the Parquet export writes as DOUBLE.
with

batches as (
    select * from {{ ref('stg_ingestion__batches') }}
),

summary as (
    select
        batches.source_system || '__' || batches.entity as source_entity,
        batches.source_system,
        batches.entity,
        count(*) filter (where batches.batch_status = 'loaded' and not batches.is_superseded) as files_loaded,
        count(*) filter (where batches.batch_status = 'rejected' and not batches.is_fixed) as files_rejected,
        count(*) filter (where batches.is_restatement) as files_restated,
        count(*) filter (where batches.is_superseded) as files_superseded,
        cast(coalesce(sum(batches.rows_read) filter (where not batches.is_superseded and not batches.is_fixed), 0) as bigint)
            as rows_read,
        cast(coalesce(sum(batches.rows_loaded) filter (where not batches.is_superseded), 0) as bigint) as rows_loaded,
        cast(coalesce(sum(batches.rows_quarantined) filter (where not batches.is_superseded), 0) as bigint)
            as rows_quarantined,
        cast(coalesce(sum(batches.rows_rejected) filter (where not batches.is_fixed), 0) as bigint) as rows_rejected,
        max(batches.ingested_at) as last_ingested_at
    from batches
    group by batches.source_system, batches.entity
)

select * from summary
