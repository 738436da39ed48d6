-- Source freshness for BI: per source entity, when it last delivered a file, the newest
-- business date it holds, and how old that is at the run's as-of time. A replay reads as of
-- its instant: files logged after the as-of (a run with RECON_AS_OF in the past) had not
-- arrived then, so they are not counted and never make the age negative. An entity whose
-- files all arrived later keeps its row, with no batch, no last file and no age.
with

batches as (
    select * from {{ ref('stg_ingestion__batches') }}
    where batch_status = 'loaded'
),

as_of as (
    select {{ recon_as_of() }} as as_of_at
),

arrived as (
    select
        batches.source_system,
        batches.entity,
        batches.rows_loaded,
        {{ recon_at_utc("batches.ingested_at") }} as ingested_at,
        {{ recon_at_utc("batches.ingested_at") }} <= as_of.as_of_at as had_arrived
    from batches
    cross join as_of
),

freshness as (
    select
        arrived.source_system,
        arrived.entity,
        count(*) filter (where arrived.had_arrived) as batches_loaded,
        -- a HUGEINT sum exports to Parquet as DOUBLE
        cast(coalesce(sum(arrived.rows_loaded) filter (where arrived.had_arrived), 0) as bigint) as rows_loaded,
        max(arrived.ingested_at) filter (where arrived.had_arrived) as last_ingested_at
    from arrived
    group by arrived.source_system, arrived.entity
)

select
    freshness.source_system,
    freshness.entity,
    freshness.batches_loaded,
    freshness.rows_loaded,
    freshness.last_ingested_at,
    case when freshness.last_ingested_at is not null then round(
        greatest({{ recon_date_diff('minute', 'freshness.last_ingested_at', 'as_of.as_of_at') }}, 0) / cast(60 as double),
        1
    ) end as hours_since_last_file,
    as_of.as_of_at as state_as_of,
    {{ recon_run_id() }} as dagster_run_id
from freshness
cross join as_of
