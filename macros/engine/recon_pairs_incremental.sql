{#- Candidate pairs that compare only what changed.

    Every row of int_<name>__pairs belongs to one right record: its deterministic pairs, its
    blocked candidates, their ranks and cap. A right record's rows are a function of its own
    row, its deterministic pairs, the rows and the deterministic state (open or not, the
    amount left uncovered) of the left records it blocks with, its operator links, and the
    project (specs, weights, FX rates: RECON_PROJECT_SHA). A build keeps what it was made
    from in schema engine_state (<model>__left, __right, __links, __det) and, on the next
    build, recomputes only the right records for which any of that changed ("dirty"):

    - a right record whose row or operator links changed, or which appeared or went;
    - a right record whose deterministic pairs changed;
    - a right record deterministically paired with a left record that changed;
    - an open right record (no deterministic pair) that blocks, within the window, with a
      left record that changed, as it is now or as it was: a left record changed when its
      row, its deterministic pairs, or the row of a right record it is deterministically
      paired with changed (its openness and remaining amount follow from those).

    The left and right records and the deterministic passes are computed whole each build
    (equality joins, a small share of the model); blocking, comparing, scoring and ranking
    run for the dirty right records only. A build by another version of the project, by
    `recon train`/`recon tune` (var recon_bootstrap_weights), or without RECON_PROJECT_SHA
    (a `dbt build` by hand) has no valid state: it recomputes every right record, as does
    `recon run --full-refresh`. Checked by tests/python/test_simulate.py (nights of late
    files and restatements: every intermediate table equals a full refresh). -#}


{% macro recon_pairs_materialization(name) -%}
    {{ return(adapter.dispatch('recon_pairs_materialization', 'recon')(name)) }}
{%- endmacro %}

{#- Elsewhere (Spark) a whole table each build, as the project's default. -#}
{% macro default__recon_pairs_materialization(name) -%}
    {{ return({}) }}
{%- endmacro %}

{% macro duckdb__recon_pairs_materialization(name) -%}
    {%- set pre = [] -%}
    {%- for step in ['keep_old', 'left', 'right', 'links', 'det', 'dirty', 'forget'] -%}
        {%- do pre.append("{{ recon_pairs_prepare('" ~ name ~ "', '" ~ step ~ "') }}") -%}
    {%- endfor -%}
    {%- set post = [] -%}
    {%- for step in ['state', 'drop_old_left', 'drop_old_right', 'drop_old_links', 'drop_old_det', 'drop_dirty'] -%}
        {%- do post.append("{{ recon_pairs_remember('" ~ name ~ "', '" ~ step ~ "') }}") -%}
    {%- endfor -%}
    {{ return({
        'materialized': 'incremental',
        'incremental_strategy': 'append',
        'on_schema_change': 'sync_all_columns',
        'pre_hook': pre,
        'post_hook': post,
    }) }}
{%- endmacro %}


{#- Whether the model reads its records and deterministic pairs from the tables its
    pre-hooks wrote. Not in a unit test (no hooks run there), not on Spark, and not with var
    recon_pairs_inline (bench/bench_matching.py compiles the whole query to time it). -#}
{% macro recon_pairs_staged() -%}
    {{ return(adapter.dispatch('recon_pairs_staged', 'recon')()) }}
{%- endmacro %}

{% macro default__recon_pairs_staged() -%}
    {{ return(false) }}
{%- endmacro %}

{% macro duckdb__recon_pairs_staged() -%}
    {{ return(model.resource_type == 'model' and not var('recon_pairs_inline', false)) }}
{%- endmacro %}


{#- The schema of the kept state, made once at the start of a dbt invocation (on-run-start in
    dbt_project.yml): two models creating it in parallel transactions conflict. -#}
{% macro recon_engine_state_schema() -%}
    {{ return(adapter.dispatch('recon_engine_state_schema', 'recon')()) }}
{%- endmacro %}

{% macro default__recon_engine_state_schema() -%}
{%- endmacro %}

{% macro duckdb__recon_engine_state_schema() -%}
    create schema if not exists {{ target.database }}.engine_state;
    -- One row per build of a pairs model: how many right records it recomputed.
    create table if not exists {{ target.database }}.engine_state.pairs_builds (
        model varchar,
        run_id varchar,
        built_at timestamp with time zone,
        state_reused boolean,
        right_records bigint,
        right_records_recomputed bigint
    )
{%- endmacro %}


{% macro recon_pairs_state_table(part) -%}
    {{ return(api.Relation.create(database=this.database, schema='engine_state', identifier=this.identifier ~ '__' ~ part)) }}
{%- endmacro %}


{#- What the kept state must have been built by to be reused: this project, these vars. -#}
{% macro recon_pairs_state_key() -%}
    {%- set sha = env_var('RECON_PROJECT_SHA', '') -%}
    {{ return(sha ~ '|' ~ var('recon_bootstrap_weights', false) if sha else '') }}
{%- endmacro %}


{#- True when the previous build's state is there and was made by this project. -#}
{% macro recon_pairs_state_valid() -%}
    {%- set key = recon_pairs_state_key() -%}
    {%- if not key or not execute -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set prefix = this.identifier ~ '__' -%}
    {%- set found = run_query(
        "select table_name from information_schema.tables where table_schema = 'engine_state' and table_name in ("
        ~ "'" ~ prefix ~ "state', '" ~ prefix ~ "old_left', '" ~ prefix ~ "old_right', '" ~ prefix ~ "old_links', '"
        ~ prefix ~ "old_det')"
    ).columns[0].values() -%}
    {%- if found | length < 5 -%}
        {{ return(false) }}
    {%- endif -%}
    {#- The key is the project's digest (hex) and a var: no quote can occur in it. -#}
    {%- set matching = run_query(
        "select count(*) from " ~ recon_pairs_state_table('state') ~ " where state_key = '" ~ key ~ "'"
    ).columns[0].values()[0] -%}
    {{ return(matching > 0) }}
{%- endmacro %}


{% macro recon_pairs_table_exists(part) -%}
    {%- if not execute -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set found = run_query(
        "select count(*) from information_schema.tables where table_schema = 'engine_state' and table_name = '"
        ~ this.identifier ~ "__" ~ part ~ "'"
    ).columns[0].values()[0] -%}
    {{ return(found > 0) }}
{%- endmacro %}


{#- One pre-hook statement (an empty string when the step has nothing to do). -#}
{% macro recon_pairs_prepare(name, step) -%}
    {%- set spec = recon_spec(name) -%}
    {%- if step == 'keep_old' -%}
        {#- Last build's state becomes old_*; this build writes its own. -#}
        {%- for part in ['left', 'right', 'links', 'det'] %}
            {%- if recon_pairs_table_exists(part) %}
        drop table if exists {{ recon_pairs_state_table('old_' ~ part) }};
        alter table {{ recon_pairs_state_table(part) }} rename to {{ this.identifier ~ '__old_' ~ part }};
            {%- endif %}
        {%- endfor %}
    {%- elif step in ('left', 'right') -%}
        create or replace table {{ recon_pairs_state_table(step) }} as
        with
        {{ recon_pairs_record_ctes(spec) }}
        select * from {{ step }}_records
    {%- elif step == 'links' -%}
        create or replace table {{ recon_pairs_state_table('links') }} as
        with
        {{ recon_pairs_links_cte(spec) }}
        select * from operator_links
    {%- elif step == 'det' -%}
        create or replace table {{ recon_pairs_state_table('det') }} as
        with
        left_records as (select * from {{ recon_pairs_state_table('left') }}),
        right_records as (select * from {{ recon_pairs_state_table('right') }}),
        operator_links as (select * from {{ recon_pairs_state_table('links') }}),
        {{ recon_pairs_deterministic_ctes(spec) }}
        select * from deterministic_pairs
    {%- elif step == 'dirty' and is_incremental() and recon_pairs_staged() -%}
        create or replace table {{ recon_pairs_state_table('dirty') }} as
        {%- if recon_pairs_state_valid() %}
        {{ recon_pairs_dirty_sql(spec) }}
        {%- else %}
        -- No state this project built: every right record, as a full refresh.
        select right_key from {{ recon_pairs_state_table('right') }}
        {%- endif %}
    {%- elif step == 'forget' and is_incremental() -%}
        {%- if recon_pairs_staged() and recon_pairs_state_valid() %}
        delete from {{ this }}
        where right_key in (select dirty.right_key from {{ recon_pairs_state_table('dirty') }} as dirty)
        {%- else %}
        delete from {{ this }}
        {%- endif %}
    {%- endif -%}
{%- endmacro %}


{#- One post-hook statement: record who built the state; drop last build's. -#}
{% macro recon_pairs_remember(name, step) -%}
    {%- if step == 'state' -%}
        {%- set restricted = is_incremental() and recon_pairs_staged() and recon_pairs_state_valid() %}
        create or replace table {{ recon_pairs_state_table('state') }} as
        select '{{ recon_pairs_state_key() }}' as state_key, current_timestamp as built_at;
        -- How much this build recomputed (recon status and docs/benchmarks.md read it).
        insert into {{ target.database }}.engine_state.pairs_builds
        select
            '{{ this.identifier }}',
            '{{ env_var("RECON_RUN_ID", "") | replace("'", "''") }}',
            current_timestamp,
            {{ 'true' if restricted else 'false' }},
            (select count(*) from {{ recon_pairs_state_table('right') }}),
            {%- if restricted %}
            (select count(*) from {{ recon_pairs_state_table('dirty') }})
            {%- else %}
            (select count(*) from {{ recon_pairs_state_table('right') }})
            {%- endif %}
    {%- else -%}
        drop table if exists {{ recon_pairs_state_table(step[5:]) }}
    {%- endif -%}
{%- endmacro %}


{#- The right records whose rows may differ from last build's (see the top of this file). -#}
{% macro recon_pairs_dirty_sql(spec) -%}
    {%- set window = spec.blocking.get('window_days') -%}
    {%- set partial = spec.assignment.get('left_accepts_remainder') and 'amount' in spec.right.columns -%}
    {%- set now_left, old_left = recon_pairs_state_table('left'), recon_pairs_state_table('old_left') -%}
    {%- set now_right, old_right = recon_pairs_state_table('right'), recon_pairs_state_table('old_right') -%}
    {%- set now_det, old_det = recon_pairs_state_table('det'), recon_pairs_state_table('old_det') -%}
    {%- set now_links, old_links = recon_pairs_state_table('links'), recon_pairs_state_table('old_links') %}
with

right_changes as (
    select right_key from (select * from {{ now_right }} except select * from {{ old_right }})
    union
    select right_key from (select * from {{ old_right }} except select * from {{ now_right }})
),

deterministic_changes as (
    select left_key, right_key from (select * from {{ now_det }} except select * from {{ old_det }})
    union
    select left_key, right_key from (select * from {{ old_det }} except select * from {{ now_det }})
),

link_changes as (
    select right_key from (select * from {{ now_links }} except select * from {{ old_links }})
    union
    select right_key from (select * from {{ old_links }} except select * from {{ now_links }})
),

changed_left as (
    -- Its row, its deterministic pairs, or a deterministic partner's row changed.
    select left_key from (select * from {{ now_left }} except select * from {{ old_left }})
    union
    select left_key from (select * from {{ old_left }} except select * from {{ now_left }})
    union
    select left_key from deterministic_changes
    union
    select paired.left_key
    from (
        select left_key, right_key from {{ now_det }}
        union all
        select left_key, right_key from {{ old_det }}
    ) as paired
    where paired.right_key in (select right_changes.right_key from right_changes)
),

{%- if partial %}
{%- for when, left_table, det_table, right_table in [('now', now_left, now_det, now_right), ('old', old_left, old_det, old_right)] %}

{{ when }}_remaining as (
    -- As recon_pairs' left_remaining: the open left record blocks on what is left of its amount.
    select
        left_records.left_key,
        left_records.amount - coalesce(sum(right_records.amount), 0) as remaining_amount
    from {{ left_table }} as left_records
    inner join {{ det_table }} as det
        on left_records.left_key = det.left_key
    inner join {{ right_table }} as right_records
        on det.right_key = right_records.right_key
        and left_records.currency = right_records.currency
    where left_records.left_key in (select changed_left.left_key from changed_left)
    group by left_records.left_key, left_records.amount
),
{%- endfor %}
{%- endif %}

changed_left_rows as (
    -- As they are and as they were: a left record that left a block changes it too.
    select * from {{ now_left }} where left_key in (select changed_left.left_key from changed_left)
    union all
    select * from {{ old_left }} where left_key in (select changed_left.left_key from changed_left)
    {%- if partial %}
    {%- for when, left_table in [('now', now_left), ('old', old_left)] %}
    union all
    select {{ recon_star_replace('left_records', 'amount', when ~ '_remaining.remaining_amount') }}
    from {{ left_table }} as left_records
    inner join {{ when }}_remaining
        on left_records.left_key = {{ when }}_remaining.left_key
    {%- endfor %}
    {%- endif %}
),

open_right as (
    select * from {{ now_right }} as right_records
    where not exists (select 1 from {{ now_det }} as det where det.right_key = right_records.right_key)
),

dirty as (
    select right_key from right_changes
    union
    select right_key from deterministic_changes
    union
    select right_key from link_changes
    union
    select det.right_key from {{ now_det }} as det
    where det.left_key in (select changed_left.left_key from changed_left)
    {%- for block in spec.blocking['keys'] %}
    union
    -- blocking key {{ block.name }}, uncapped: any open right record that could rank it
    select open_right.right_key
    from changed_left_rows as open_left
    inner join open_right
        on {{ recon_blocking_key(block, 'open_left') }} = {{ recon_blocking_key(block, 'open_right') }}
        {%- if window %}
        and {{ recon_date_gap(spec, 'open_left', 'open_right') }} between {{ window.min }} and {{ window.max }}
        {%- endif %}
    {%- endfor %}
)

select distinct right_key from dirty
{%- endmacro %}
