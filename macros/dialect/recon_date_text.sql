{#- A date as ISO text, YYYY-MM-DD. -#}
{% macro recon_date_text(expression) -%}
    {{ return(adapter.dispatch('recon_date_text', 'recon')(expression)) }}
{%- endmacro %}

{% macro default__recon_date_text(expression) -%}
    strftime({{ expression }}, '%Y-%m-%d')
{%- endmacro %}

{% macro spark__recon_date_text(expression) -%}
    date_format({{ expression }}, 'yyyy-MM-dd')
{%- endmacro %}
