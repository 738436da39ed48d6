{#- Rows of a raw table that belong to the current version of their landing file.
    Raw tables are append-only: when a file is restated (same path, new content) the new
    batch supersedes the old one, and the old batch's rows must no longer count. -#}
{% macro current_raw_rows(source_name, table_name) -%}
    select raw_rows.*
    from {{ source(source_name, table_name) }} as raw_rows
    where raw_rows._batch_id in (
        select loaded.batch_id
        from {{ source('raw_ingestion', 'ingestion_log') }} as loaded
        where loaded.status = 'loaded'
            and loaded.batch_id not in (
                select restated.supersedes_batch_id
                from {{ source('raw_ingestion', 'ingestion_log') }} as restated
                where restated.status = 'loaded'
                    and restated.supersedes_batch_id is not null
            )
            -- Superseded by a full export of its entity (contract delivery "full").
            and loaded.batch_id not in (
                select superseded.batch_id
                from {{ source('raw_ingestion', 'batch_supersessions') }} as superseded
            )
    )
{%- endmacro %}
