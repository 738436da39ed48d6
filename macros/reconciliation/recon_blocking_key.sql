{#- SQL expression of one blocking key on relation alias `side`. -#}
{% macro recon_blocking_key(block, side) -%}
    {%- set value = side ~ '.' ~ block.field -%}
    {%- if block.method == 'exact' -%}
        {{ value }}
    {%- elif block.method == 'prefix' -%}
        substr({{ value }}, 1, {{ block.length }})
    {%- elif block.method == 'suffix' -%}
        right({{ value }}, {{ block.length }})
    {%- elif block.method == 'amount_rounded' -%}
        {{ side }}.currency || ':' || cast(round({{ value }}, 0) as varchar)
    {%- else -%}
        {{ exceptions.raise_compiler_error(
            "Unknown blocking method '" ~ block.method ~ "' for key '" ~ block.name
            ~ "' (use exact, prefix, suffix or amount_rounded)") }}
    {%- endif -%}
{%- endmacro %}
