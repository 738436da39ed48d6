{#- Staging that processes only what arrived.

    A staging model keeps the current version of each record (its key): the last row of it
    in a loaded batch no restatement superseded. When a run brings new batches, only the
    keys they touch can change: the keys of the rows in the new batches, and the keys of the
    rows of the batches they supersede (a restated file may drop a record, or give it back
    to an earlier file; a full export supersedes every earlier batch of its entity). The model deletes those keys (pre-hook) and stages them again from
    every current raw row they have (its body, filtered with staging_changed_keys_filter),
    in the same transaction. Each build records the last batch it saw in
    raw.staged_batches (post-hook), with the project's digest: a model built by another
    version of the project (RECON_PROJECT_SHA, set by the run), or never recorded, restages
    every key. `recon run --full-refresh` rebuilds it whole.

        {{ config(**staging_incremental('delivery_id', 'raw_ads', 'ads__delivery', key_sql)) }}

    key_sql: the key as an expression on the raw table's columns, aliased raw_rows. -#}
{% macro staging_incremental(key_column, source_name, table_name, key_sql) -%}
    {{ return(adapter.dispatch('staging_incremental', 'recon')(key_column, source_name, table_name, key_sql)) }}
{%- endmacro %}


{#- On Spark a whole table each build: plain Parquet tables take no `delete`, and
    concurrent inserts into one watermark table collide. (With Delta tables the DuckDB
    version would serve.) -#}
{% macro spark__staging_incremental(key_column, source_name, table_name, key_sql) -%}
    {{ return({'materialized': 'table'}) }}
{%- endmacro %}


{% macro default__staging_incremental(key_column, source_name, table_name, key_sql) -%}
    {%- set key_sql = key_sql or 'raw_rows.' ~ key_column -%}
    {{ return({
        'materialized': 'incremental',
        'incremental_strategy': 'append',
        'on_schema_change': 'fail',
        'pre_hook': "{{ staging_forget_changed('" ~ key_column ~ "', '" ~ source_name ~ "', '" ~ table_name ~ "', " ~ tojson(key_sql) ~ ") }}",
        'post_hook': "{{ staging_record_watermark() }}",
    }) }}
{%- endmacro %}


{#- The last batch this model staged, by this version of the project; -1 when none. -#}
{% macro staging_watermark() -%}
    (
        select coalesce(max(staged.batch_id), -1)
        from {{ source('raw_ingestion', 'staged_batches') }} as staged
        where staged.model = '{{ this.identifier }}'
            and staged.project_sha256 = '{{ env_var("RECON_PROJECT_SHA", "") }}'
    )
{%- endmacro %}


{#- The keys of the raw table whose current version may have changed since the watermark. -#}
{% macro staging_changed_keys(source_name, table_name, key_sql) -%}
    select {{ key_sql }}
    from {{ source(source_name, table_name) }} as raw_rows
    where raw_rows._batch_id > {{ staging_watermark() }}
        or raw_rows._batch_id in (
            select restated.supersedes_batch_id
            from {{ source('raw_ingestion', 'ingestion_log') }} as restated
            where restated.supersedes_batch_id is not null
                and restated.batch_id > {{ staging_watermark() }}
        )
        -- Batches a full export superseded since (or an export superseded on arrival).
        or raw_rows._batch_id in (
            select superseded.batch_id
            from {{ source('raw_ingestion', 'batch_supersessions') }} as superseded
            where superseded.decided_by_batch_id > {{ staging_watermark() }}
        )
{%- endmacro %}


{#- Appended to current_raw_rows(...) in the model's source CTE: only the changed keys. -#}
{% macro staging_changed_keys_filter(source_name, table_name, key_sql) -%}
    {%- if is_incremental() %}
        -- Only the keys new or superseded batches touch (macro staging_incremental).
        and {{ key_sql }} in ({{ staging_changed_keys(source_name, table_name, key_sql) }})
    {%- endif %}
{%- endmacro %}


{% macro staging_forget_changed(key_column, source_name, table_name, key_sql) -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where {{ key_column }} in ({{ staging_changed_keys(source_name, table_name, key_sql) }})
    {%- endif -%}
{%- endmacro %}


{% macro staging_record_watermark() -%}
    insert into {{ source('raw_ingestion', 'staged_batches') }} (model, batch_id, project_sha256, staged_at)
    select
        '{{ this.identifier }}',
        coalesce(max(loaded.batch_id), 0),
        '{{ env_var("RECON_PROJECT_SHA", "") }}',
        cast({{ recon_at_utc('current_timestamp') }} as timestamp)
    from {{ source('raw_ingestion', 'ingestion_log') }} as loaded
{%- endmacro %}
