{#- A text written for a single-quoted SQL literal in DuckDB's manner (a quote doubled,
    backslashes as they are) rewritten as a whole Spark literal, quotes included: Spark
    reads a backslash as an escape and 'a''b' as two adjacent literals. -#}
{% macro recon_spark_literal(text) -%}
    '{{ text | replace("\\", "\\\\") | replace("''", "\\'") }}'
{%- endmacro %}
