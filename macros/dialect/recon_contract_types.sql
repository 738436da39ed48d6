{#- Model contracts name their column types as DuckDB does (varchar, hugeint, json,
    timestamp with time zone, varchar[]...). dbt checks a contract by casting null to each
    declared type (get_empty_schema_sql) and comparing the engine's answer with the
    model's: on Spark each DuckDB type name is first read as the Spark type that holds the
    same values. DuckDB keeps dbt's own macro. -#}
{% macro recon_spark_type(data_type) -%}
    {%- set t = data_type | trim | lower -%}
    {%- if t.endswith('[]') -%}
        array<{{ recon_spark_type(t[:-2]) }}>
    {%- elif t in ('varchar', 'text', 'string', 'json', 'uuid') -%}
        string
    {%- elif t in ('integer', 'int', 'int4') -%}
        int
    {%- elif t in ('hugeint', 'int128') -%}{#- a sum of bigints: bigint on Spark -#}
        bigint
    {%- elif t in ('timestamp with time zone', 'timestamptz') -%}
        timestamp
    {%- elif t in ('float8', 'double precision') -%}
        double
    {%- else -%}
        {{ t }}
    {%- endif -%}
{%- endmacro %}

{% macro spark__get_empty_schema_sql(columns) %}
    {%- set translated = {} -%}
    {%- for name in columns -%}
        {%- set column = columns[name] -%}
        {%- set copy = {} -%}
        {%- do copy.update(column) -%}
        {%- if column.get('data_type') is not none -%}
            {%- do copy.update({'data_type': recon_spark_type(column['data_type'])}) -%}
        {%- endif -%}
        {%- do translated.update({name: copy}) -%}
    {%- endfor -%}
    {{ return(default__get_empty_schema_sql(translated)) }}
{% endmacro %}
