{#- Union of one engine model (`int_<name>__<suffix>`) over every reconciliation in
    var `reconciliations`, for the marts that show all of them together. -#}
{% macro recon_union_all(suffix) -%}
    {%- set names = var('reconciliations') -%}
    {%- if names | length == 0 -%}
        {{ exceptions.raise_compiler_error("var reconciliations is empty: list at least one spec name") }}
    {%- endif -%}
    {%- for name in names %}
    select * from {{ ref('int_' ~ name ~ '__' ~ suffix) }}
    {{ "union all" if not loop.last }}
    {%- endfor %}
{%- endmacro %}
