{#- Whole days from date `a` to date `b` (positive when b is later). -#}
{% macro recon_days_between(a, b) -%}
    {{ return(adapter.dispatch('recon_days_between', 'recon')(a, b)) }}
{%- endmacro %}

{% macro default__recon_days_between(a, b) -%}
    datediff({{ b }}, {{ a }})
{%- endmacro %}

{% macro duckdb__recon_days_between(a, b) -%}
    date_diff('day', {{ a }}, {{ b }})
{%- endmacro %}
