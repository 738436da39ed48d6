-- Every row that arrived is accounted for: for each loaded batch, rows read equals rows
-- loaded plus rows quarantined, and those counts equal what the raw table and the
-- quarantine actually hold for the batch. Returns the batches where any count disagrees.
{{ config(meta={'dagster': {'ref': {'name': 'stg_ingestion__batches'}}}) }}  -- shown as an asset check on stg_ingestion__batches

with

batches as (
    select * from {{ ref('stg_ingestion__batches') }}
    where batch_status = 'loaded'
),

raw_counts as (
    {%- set raw_tables = [] -%}
    {%- for node in graph.sources.values() if node.source_name.startswith('raw_') and node.source_name not in ('raw_ingestion', 'raw_operations') -%}
        {%- do raw_tables.append(node) -%}
    {%- endfor %}
    {% for node in raw_tables %}
    select _batch_id as batch_id, count(*) as rows_in_raw
    from {{ source(node.source_name, node.name) }}
    group by _batch_id
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

quarantine_counts as (
    select batch_id, count(*) as rows_in_quarantine
    from {{ ref('stg_ingestion__quarantined_rows') }}
    group by batch_id
),

checked as (
    select
        batches.batch_id,
        batches.source_file,
        batches.rows_read,
        batches.rows_loaded,
        batches.rows_quarantined,
        coalesce(raw_counts.rows_in_raw, 0) as rows_in_raw,
        coalesce(quarantine_counts.rows_in_quarantine, 0) as rows_in_quarantine
    from batches
    left join raw_counts
        on batches.batch_id = raw_counts.batch_id
    left join quarantine_counts
        on batches.batch_id = quarantine_counts.batch_id
)

select *
from checked
where rows_read != rows_loaded + rows_quarantined
    or rows_loaded != rows_in_raw
    or rows_quarantined != rows_in_quarantine
