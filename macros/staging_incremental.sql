{#- Staging that processes only what arrived.

    A staging model keeps the current version of each record (its key): the last row of it
    in a loaded batch no restatement superseded. When a run brings new batches, only the
    keys they touch can change: the keys of the rows in the new batches, and the keys of the
    rows of the batches they supersede (a restated file may drop a record, or give it back
    to an earlier file; a full export supersedes every earlier batch of its entity). The model deletes those keys (pre-hook) and stages them again from
    every current raw row they have (its body, filtered with staging_changed_keys_filter),
    in the same transaction. Each build records the last batch it saw in
    raw.staged_batches (post-hook), with the digest of what staging the model depends on
    (staging_digest, computed here, so a plain `dbt build` keeps it as `recon run` does) and,
    for the record, the project digest of the run that built it (RECON_PROJECT_SHA, set by
    `recon run`; empty for a build by hand). A model whose staging digest changed since, or
    never recorded, restages every key. `recon run --full-refresh` rebuilds it whole.

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


{#- What staging the model depends on, as an md5: the model's own code, every macro of the
    project (name and text: the contract's ranges, the normalisations, these macros) and the
    value of every var the macros read (var('...') or bounded_var('...') in their text).
    Computed by dbt itself, so a `dbt build` by hand, which has no RECON_PROJECT_SHA, still
    restages what another version of the rules staged; and the same whoever builds, so a
    `recon run` after such a build restages nothing it staged. Computed again, the same way,
    from target/manifest.json and dbt_project.yml by orchestration/defs/dbt.py
    (staging_digests), which decides whether a run must rebuild staging whole: change one,
    change both (tests/python/test_ranges.py compares them). Not in it: a change of a source's
    table name in a sources file, or of dbt_project.yml's model configs (run
    `dbt build --full-refresh` after one). -#}
{% macro staging_digest() -%}
    {%- set parts = [model.unique_id, model.raw_code] -%}
    {%- for name in recon | sort(case_sensitive=true) -%}
        {%- do parts.append(name ~ '\n' ~ recon[name].macro.macro_sql) -%}
    {%- endfor -%}
    {%- set names = [] -%}
    {%- for name in modules.re.findall(staging_digest_var_pattern(), parts | join('\n')) | sort(case_sensitive=true) -%}
        {%- if name not in names -%}{%- do names.append(name) -%}{%- endif -%}
    {%- endfor -%}
    {%- for name in names -%}
        {%- do parts.append('var ' ~ name ~ '=' ~ tojson(var(name, none), sort_keys=true)) -%}
    {%- endfor -%}
    {{ return(local_md5(parts | join('\x00'))) }}
{%- endmacro %}


{#- A var read in a macro's text: var('name' or bounded_var('name'. -#}
{% macro staging_digest_var_pattern() -%}
    {{- return('var[(][ \n]*[\'"]([A-Za-z0-9_]+)[\'"]') -}}
{%- endmacro %}


{#- The last batch this model staged, by this version of what it depends on; -1 when none. -#}
{% macro staging_watermark() -%}
    (
        select coalesce(max(staged.batch_id), -1)
        from {{ source('raw_ingestion', 'staged_batches') }} as staged
        where staged.model = '{{ this.identifier }}'
            and staged.staging_digest = '{{ staging_digest() }}'
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
    {%- set project_sha = env_var("RECON_PROJECT_SHA", "") if execute else "" -%}
    {%- if not modules.re.fullmatch('[0-9a-f]{0,64}', project_sha) -%}
        {{ exceptions.raise_compiler_error("RECON_PROJECT_SHA=" ~ project_sha ~ " is not a sha256 (set by `recon run`; unset it to build by hand)") }}
    {%- endif %}
    insert into {{ source('raw_ingestion', 'staged_batches') }} (model, batch_id, project_sha256, staged_at, staging_digest)
    select
        '{{ this.identifier }}',
        coalesce(max(loaded.batch_id), 0),
        '{{ project_sha }}',
        cast({{ recon_at_utc('current_timestamp') }} as timestamp),
        '{{ staging_digest() }}'
    from {{ source('raw_ingestion', 'ingestion_log') }} as loaded
{%- endmacro %}


{#- on-run-start: a warehouse whose raw schema an earlier release made has no staging_digest
    yet (ingestion adds it too; a `dbt build` by hand may come first). -#}
{% macro staging_watermarks_ready() -%}
    {{ return(adapter.dispatch('staging_watermarks_ready', 'recon')()) }}
{%- endmacro %}

{% macro default__staging_watermarks_ready() -%}
    alter table if exists {{ source('raw_ingestion', 'staged_batches') }} add column if not exists staging_digest varchar
{%- endmacro %}

{% macro spark__staging_watermarks_ready() -%}
    select 1
{%- endmacro %}
