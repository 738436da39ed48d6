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

{#- The value at JSONPath `path` of a JSON document (JSON on DuckDB, text on Spark; cast it). -#}
{% macro recon_json_extract(expression, path) -%}
    {{ return(adapter.dispatch('recon_json_extract', 'recon')(expression, path)) }}
{%- endmacro %}
{% macro default__recon_json_extract(expression, path) -%}
    json_extract({{ expression }}, '{{ path }}')
{%- endmacro %}
{% macro spark__recon_json_extract(expression, path) -%}
    get_json_object({{ expression }}, '{{ path }}')
{%- endmacro %}
