{#- Pull an order reference out of free text (campaign or project names), then
    normalise it. The pattern is var `reference_pattern` (case-insensitive). -#}
{% macro extract_reference(expression) -%}
    {%- set pattern = var('reference_pattern', '(PO|IO)[-_ /]?[0-9]{4}[-_ /]?[0-9]{3,}') -%}
    {{ normalise_reference("nullif(" ~ regexp_extract_first(expression, pattern) ~ ", '')") }}
{%- endmacro %}
