{#- Snapshots on Spark without Delta Lake, Iceberg or Hudi (dbt-spark's own snapshot needs
    one of them, for MERGE). The first run creates the table as dbt-spark would; a later
    run rebuilds it: what MERGE would do (close the versions that changed or went, add the
    new ones) is written to a new table, which then replaces the snapshot's rows
    (INSERT OVERWRITE). Same columns and meaning as dbt's snapshots, in any file format. -#}
{% materialization snapshot, adapter='spark' %}
  {%- set target_table = model.get('alias', model.get('name')) -%}
  {%- set strategy_name = config.get('strategy') -%}
  {%- set grant_config = config.get('grants') -%}

  {% set target_relation_exists, target_relation = get_or_create_relation(
          database=none, schema=model.schema, identifier=target_table, type='table') -%}

  {% if not adapter.check_schema_exists(model.database, model.schema) %}
    {% do create_schema(model.schema) %}
  {% endif %}

  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  {{ run_hooks(pre_hooks, inside_transaction=True) }}

  {% set strategy_macro = strategy_dispatch(strategy_name) %}
  {% set strategy = strategy_macro(model, "snapshotted_data", "source_data", model['config'], target_relation_exists) %}

  {% if not target_relation_exists %}
    {% set build_sql = build_snapshot_table(strategy, model['compiled_code']) %}
    {% call statement('main') %}
      {{ create_table_as(False, target_relation, build_sql) }}
    {% endcall %}
  {% else %}
    {% set columns = config.get("snapshot_table_column_names") or get_snapshot_table_column_names() %}
    {{ adapter.valid_snapshot_target(target_relation, columns) }}
    {% set staging_table = spark_build_snapshot_staging_table(strategy, sql, target_relation) %}
    {% set target_columns = adapter.get_columns_in_relation(target_relation) | map(attribute='name') | list %}
    {% set rebuilt = make_temp_relation(target_relation, '__dbt_rebuilt') %}
    {% do adapter.drop_relation(rebuilt) %}
    {% call statement('main') %}
      create table {{ rebuilt }} {{ file_format_clause() }} as
      select
        {%- for name in target_columns %}
        {%- if name == columns.dbt_valid_to %}
        case
          when snapshot_rows.{{ name }} is null and changes.dbt_change_type in ('update', 'delete')
            then changes.{{ name }}
          else snapshot_rows.{{ name }}
        end as {{ name }}{{ "," if not loop.last }}
        {%- else %}
        snapshot_rows.{{ name }}{{ "," if not loop.last }}
        {%- endif %}
        {%- endfor %}
      from {{ target_relation }} as snapshot_rows
      left join (
        select * from {{ staging_table }} where dbt_change_type in ('update', 'delete')
      ) as changes
        on snapshot_rows.{{ columns.dbt_scd_id }} = changes.{{ columns.dbt_scd_id }}
      union all
      select {{ target_columns | join(', ') }}
      from {{ staging_table }}
      where dbt_change_type = 'insert'
    {% endcall %}
    {% call statement('replace_rows') %}
      insert overwrite table {{ target_relation }} select * from {{ rebuilt }}
    {% endcall %}
    {% do adapter.drop_relation(rebuilt) %}
  {% endif %}

  {% set should_revoke = should_revoke(target_relation_exists, full_refresh_mode) %}
  {% do apply_grants(target_relation, grant_config, should_revoke) %}
  {% do persist_docs(target_relation, model) %}
  {{ run_hooks(post_hooks, inside_transaction=True) }}
  {{ adapter.commit() }}
  {% if staging_table is defined %}
    {% do post_snapshot(staging_table) %}
  {% endif %}
  {{ run_hooks(post_hooks, inside_transaction=False) }}
  {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}
