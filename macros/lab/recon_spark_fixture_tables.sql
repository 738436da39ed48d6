{#- Spark fixture (orchestration/lab/spark_fixture.py): each raw table exported to Parquet
    by the fixture becomes a managed table of the `raw` database, replacing any earlier one.
    Run with `dbt run-operation recon_spark_fixture_tables --target spark`. -#}
{% macro recon_spark_fixture_tables(directory, tables) -%}
    {%- if target.type != 'spark' -%}
        {{ exceptions.raise_compiler_error('recon_spark_fixture_tables loads a Spark target only') }}
    {%- endif -%}
    {%- do run_query('create database if not exists raw') -%}
    {%- for table in tables -%}
        {%- do run_query('drop table if exists raw.' ~ table) -%}
        {%- do run_query(
            'create table raw.' ~ table ~ ' using parquet as select * from parquet.`'
            ~ directory ~ '/' ~ table ~ '.parquet`'
        ) -%}
    {%- endfor -%}
    {{ log('raw: ' ~ (tables | length) ~ ' tables from ' ~ directory, info=true) }}
{%- endmacro %}
