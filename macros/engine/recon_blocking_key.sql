{#- SQL expression of one blocking key on relation alias `side`. `also: [fields]` adds
    exact fields to the key (e.g. currency), making a block smaller. -#}
{% macro recon_blocking_key(block, side) -%}
    {%- set value = side ~ '.' ~ block.field -%}
    {%- for extra in block.get('also', []) -%}
        {{ side }}.{{ extra }} || '|' ||
    {%- endfor %}
    {%- if block.method == 'exact' -%}
        {{ value }}
    {%- elif block.method == 'prefix' -%}
        substr({{ value }}, 1, {{ block.length }})
    {%- elif block.method == 'suffix' -%}
        right({{ value }}, {{ block.length }})
    {%- elif block.method == 'first_words' -%}
        {#- The first `count` words: selective like a name, tolerant of a dropped or
            abbreviated tail ("orion brewing systems" / "orion brewing sys"). -#}
        nullif({{ regexp_extract_first(value, '^[^ ]+' ~ ('( [^ ]+)?' * (block.count - 1))) }}, '')
    {%- elif block.method == 'amount_rounded' -%}
        {{ side }}.currency || ':' || cast(round({{ value }}, 0) as string)
    {%- else -%}
        {{ exceptions.raise_compiler_error(
            "Unknown blocking method '" ~ block.method ~ "' for key '" ~ block.name
            ~ "' (use exact, prefix, suffix, first_words or amount_rounded)") }}
    {%- endif -%}
{%- endmacro %}
