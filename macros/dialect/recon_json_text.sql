{#- The text of top-level key `key` of a JSON document, null when absent. -#}
{% macro recon_json_text(expression, key) -%}
    {{ return(adapter.dispatch('recon_json_text', 'recon')(expression, key)) }}
{%- endmacro %}

{% macro default__recon_json_text(expression, key) -%}
    {{ expression }} ->> '{{ key }}'
{%- endmacro %}

{% macro spark__recon_json_text(expression, key) -%}
    get_json_object({{ expression }}, '$.{{ key }}')
{%- endmacro %}
