-- Per source entity: how many files and rows arrived, loaded and were quarantined or
-- rejected. Read by `recon status` and the BI dashboards.
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
        coalesce(sum(batches.rows_read), 0) as rows_read,
        coalesce(sum(batches.rows_loaded), 0) as rows_loaded,
        coalesce(sum(batches.rows_quarantined), 0) as rows_quarantined,
        coalesce(sum(batches.rows_rejected), 0) as rows_rejected,
        max(batches.ingested_at) as last_ingested_at
    from batches
    group by batches.source_system, batches.entity
)

select * from summary
