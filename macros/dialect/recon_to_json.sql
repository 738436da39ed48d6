{#- A struct as JSON text, every field kept: Spark's to_json leaves out the fields that are
    null (its ignoreNullFields defaults to true), DuckDB's writes them as null, and the
    texts are compared and shown as they are (record values, score components, the top
    candidates of an unmatched record). -#}
{% macro recon_to_json(expression) -%}
    {{ return(adapter.dispatch('recon_to_json', 'recon')(expression)) }}
{%- endmacro %}

{% macro default__recon_to_json(expression) -%}
    to_json({{ expression }})
{%- endmacro %}

{% macro spark__recon_to_json(expression) -%}
    to_json({{ expression }}, map('ignoreNullFields', 'false'))
{%- endmacro %}
