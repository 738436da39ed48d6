with

ingestion_log as (
    select * from {{ source('raw_ingestion', 'ingestion_log') }}
),

batch_supersessions as (
    select * from {{ source('raw_ingestion', 'batch_supersessions') }}
),

-- A batch is superseded when a later loaded batch of the same path names it (a
-- restatement), or a full export of its entity replaced it (batch_supersessions).
superseded as (
    select ingestion_log.supersedes_batch_id as batch_id
    from ingestion_log
    where ingestion_log.status = 'loaded'
        and ingestion_log.supersedes_batch_id is not null
    union
    select batch_supersessions.batch_id
    from batch_supersessions
),

-- A rejection is fixed once something was logged at its path since, or its bytes were
-- loaded (or skipped as a copy of a loaded file) under another path, as its message advises.
-- `recon status` counts a rejection only while it is outstanding; so do the reports.
fixed as (
    select distinct rejected.batch_id
    from ingestion_log as rejected
    inner join ingestion_log as later
        on later.batch_id > rejected.batch_id
        and (
            later.source_file = rejected.source_file
            or (later.file_sha256 = rejected.file_sha256 and later.status in ('loaded', 'duplicate'))
        )
    where rejected.status = 'rejected'
),

batches as (
    select
        ingestion_log.batch_id,
        ingestion_log.source as source_system,
        ingestion_log.entity,
        ingestion_log.source_file,
        ingestion_log.file_sha256,
        ingestion_log.file_bytes,
        ingestion_log.file_format,
        ingestion_log.status as batch_status,
        ingestion_log.is_restatement,
        ingestion_log.supersedes_batch_id,
        superseded.batch_id is not null as is_superseded,
        fixed.batch_id is not null as is_fixed,
        ingestion_log.rows_read,
        ingestion_log.rows_loaded,
        ingestion_log.rows_quarantined,
        -- A rejected file loads nothing: every row it held was read and rejected.
        case when ingestion_log.status = 'rejected' then ingestion_log.rows_read else 0 end as rows_rejected,
        ingestion_log.message,
        ingestion_log.contract_version,
        ingestion_log.ingested_at
    from ingestion_log
    left join superseded
        on ingestion_log.batch_id = superseded.batch_id
    left join fixed
        on ingestion_log.batch_id = fixed.batch_id
)

select * from batches
