{#- Replace every match of a regular expression. DuckDB replaces only the first match
    unless given the 'g' option; Spark and most engines replace all by default. -#}
{% macro regexp_replace_all(expression, pattern, replacement) -%}
    {{ return(adapter.dispatch('regexp_replace_all', 'recon')(expression, pattern, replacement)) }}
{%- endmacro %}

{% macro default__regexp_replace_all(expression, pattern, replacement) -%}
    regexp_replace({{ expression }}, '{{ pattern }}', '{{ replacement }}')
{%- endmacro %}

{% macro duckdb__regexp_replace_all(expression, pattern, replacement) -%}
    regexp_replace({{ expression }}, '{{ pattern }}', '{{ replacement }}', 'g')
{%- endmacro %}

{#- Spark reads backslashes in string literals as escapes, and a doubled quote as two
    literals: both are written with a backslash (recon_spark_literal). Java regular
    expressions refer to groups as $1, not \1. -#}
{% macro spark__regexp_replace_all(expression, pattern, replacement) -%}
    regexp_replace({{ expression }}, {{ recon_spark_literal(pattern) }}, '{{ replacement | replace("\\", "$") }}')
{%- endmacro %}
