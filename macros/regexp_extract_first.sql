{#- First case-insensitive match of a regular expression in a text, or '' if none. -#}
{% macro regexp_extract_first(expression, pattern) -%}
    {{ return(adapter.dispatch('regexp_extract_first', 'recon')(expression, pattern)) }}
{%- endmacro %}

{% macro default__regexp_extract_first(expression, pattern) -%}
    regexp_extract({{ expression }}, '(?i){{ pattern }}', 0)
{%- endmacro %}

{% macro spark__regexp_extract_first(expression, pattern) -%}
    regexp_extract({{ expression }}, {{ recon_spark_literal('(?i)' ~ pattern) }}, 0)
{%- endmacro %}
