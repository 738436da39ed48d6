-- Source freshness for BI: per source entity, when it last delivered a file, the newest
-- business date it holds, and how old that is at the run's as-of time.
with

batches as (
    select * from {{ ref('stg_ingestion__batches') }}
    where batch_status = 'loaded'
),

as_of as (
    select {{ recon_as_of() }} as as_of_at
)

select
    batches.source_system,
    batches.entity,
    count(*) as batches_loaded,
    cast(sum(batches.rows_loaded) as bigint) as rows_loaded,  -- a HUGEINT sum exports to Parquet as DOUBLE
    max({{ recon_at_utc("batches.ingested_at") }}) as last_ingested_at,
    round({{ recon_date_diff('minute', 'max(' ~ recon_at_utc('batches.ingested_at') ~ ')', 'any_value(as_of.as_of_at)') }} / cast(60 as double), 1)
        as hours_since_last_file,
    any_value(as_of.as_of_at) as state_as_of,
    {{ recon_run_id() }} as dagster_run_id
from batches
cross join as_of
group by batches.source_system, batches.entity
