{#- A text written for a single-quoted SQL literal in DuckDB's manner (a quote doubled,
    backslashes as they are) rewritten as a whole Spark literal, quotes included: Spark
    reads a backslash as an escape and 'a''b' as two adjacent literals. -#}
{% macro recon_spark_literal(text) -%}
    '{{ text | replace("\\", "\\\\") | replace("''", "\\'") }}'
{%- endmacro %}

{#- A text as a SQL literal, quotes included, written as DuckDB reads it (no escapes but a
    doubled quote): the same characters on every engine. -#}
{% macro recon_text_literal(text) -%}
    {{ return(adapter.dispatch('recon_text_literal', 'recon')(text)) }}
{%- endmacro %}
{% macro default__recon_text_literal(text) -%}
    '{{ text }}'
{%- endmacro %}
{% macro spark__recon_text_literal(text) -%}
    {{ recon_spark_literal(text) }}
{%- endmacro %}
