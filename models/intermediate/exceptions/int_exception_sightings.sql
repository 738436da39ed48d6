{{ config(materialized='incremental', unique_key='exception_id', on_schema_change='fail') }}
-- When each exception was first and last found by a run, and by how many runs. Only the
-- exceptions of this run are rewritten; one no longer found keeps its last sighting.
with

current_exceptions as (
    select exception_id from {{ ref('fct_reconciliation_exceptions') }}
),

sightings as (
    select
        current_exceptions.exception_id,
        {%- if is_incremental() %}
        coalesce(previous.first_seen_at, {{ recon_as_of() }}) as first_seen_at,
        coalesce(previous.runs_seen, 0) + 1 as runs_seen,
        {%- else %}
        {{ recon_as_of() }} as first_seen_at,
        1 as runs_seen,
        {%- endif %}
        {{ recon_as_of() }} as last_seen_at
    from current_exceptions
    {%- if is_incremental() %}
    left join {{ this }} as previous
        on current_exceptions.exception_id = previous.exception_id
    {%- endif %}
)

select * from sightings
