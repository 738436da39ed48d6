{#- Whether the whole text matches a regular expression (a SQL literal without quotes). -#}
{% macro recon_regexp_full_match(expression, pattern) -%}
    {{ return(adapter.dispatch('recon_regexp_full_match', 'recon')(expression, pattern)) }}
{%- endmacro %}

{% macro default__recon_regexp_full_match(expression, pattern) -%}
    regexp_full_match({{ expression }}, '{{ pattern }}')
{%- endmacro %}

{% macro spark__recon_regexp_full_match(expression, pattern) -%}
    ({{ expression }} rlike {{ recon_spark_literal('^(?:' ~ pattern ~ ')$') }})
{%- endmacro %}
