{#- Whole `unit`s (minute, hour, day...) from timestamp `a` to timestamp `b`. -#}
{% macro recon_date_diff(unit, a, b) -%}
    {{ return(adapter.dispatch('recon_date_diff', 'recon')(unit, a, b)) }}
{%- endmacro %}

{% macro default__recon_date_diff(unit, a, b) -%}
    date_diff('{{ unit }}', {{ a }}, {{ b }})
{%- endmacro %}

{% macro spark__recon_date_diff(unit, a, b) -%}
    timestampdiff({{ unit | upper }}, {{ a }}, {{ b }})
{%- endmacro %}
