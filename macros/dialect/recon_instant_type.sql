{#- The SQL type of an instant (a timestamp with time zone). Spark's `timestamp` is one. -#}
{% macro recon_instant_type() -%}
    {{ return(adapter.dispatch('recon_instant_type', 'recon')()) }}
{%- endmacro %}

{% macro default__recon_instant_type() -%}
    timestamptz
{%- endmacro %}

{% macro spark__recon_instant_type() -%}
    timestamp
{%- endmacro %}
