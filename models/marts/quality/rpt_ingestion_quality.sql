-- Per source entity: how many files and rows arrived, loaded and were quarantined or
-- rejected. Read by `recon status` and the BI dashboards. Sums are cast to BIGINT: DuckDB sums a
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
        count(*) filter (where batches.batch_status = 'loaded') as files_loaded,
        count(*) filter (where batches.batch_status = 'rejected') as files_rejected,
        count(*) filter (where batches.is_restatement) as files_restated,
        cast(coalesce(sum(batches.rows_read), 0) as bigint) as rows_read,
        cast(coalesce(sum(batches.rows_loaded), 0) as bigint) as rows_loaded,
        cast(coalesce(sum(batches.rows_quarantined), 0) as bigint) as rows_quarantined,
        cast(coalesce(sum(batches.rows_rejected), 0) as bigint) as rows_rejected,
        max(batches.ingested_at) as last_ingested_at
    from batches
    group by batches.source_system, batches.entity
)

select * from summary
