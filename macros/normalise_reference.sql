{#- Canonical form of an order reference / PO number, so that "PO-2026-0000123",
    "po 2026 0000123" and "2026/0000123" compare equal: upper case, only letters and
    digits, known prefixes (var `reference_prefixes`) dropped. Empty results are null. -#}
{% macro normalise_reference(expression) -%}
    {%- set prefixes = var('reference_prefixes', ['PO', 'REF', 'IO', 'ORDER']) -%}
    {%- if prefixes | length == 0 -%}
        {{ exceptions.raise_compiler_error("var reference_prefixes must list at least one prefix, e.g. ['PO']") }}
    {%- endif -%}
    nullif(
        {{ regexp_replace_all(
            regexp_replace_all('upper(trim(' ~ expression ~ '))', '[^A-Z0-9]', ''),
            '^(' ~ (prefixes | join('|')) ~ ')',
            ''
        ) }},
        ''
    )
{%- endmacro %}
