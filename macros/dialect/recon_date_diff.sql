{#- Whole `unit`s (minute, hour, day...) from timestamp `a` to timestamp `b`. -#}
{% macro recon_date_diff(unit, a, b) -%}
    {{ return(adapter.dispatch('recon_date_diff', 'recon')(unit, a, b)) }}
{%- endmacro %}

{% macro default__recon_date_diff(unit, a, b) -%}
    date_diff('{{ unit }}', {{ a }}, {{ b }})
{%- endmacro %}

{#- DuckDB counts the unit boundaries crossed (2024-01-31 to 2024-02-01 is one month, 10:00:59
    to 10:01:00 one minute); Spark's timestampdiff counts whole units elapsed: it is given
    the truncated values, and months are counted on the calendar. -#}
{% macro spark__recon_date_diff(unit, a, b) -%}
    {%- if unit | lower == 'month' -%}
    ((year({{ b }}) - year({{ a }})) * 12 + month({{ b }}) - month({{ a }}))
    {%- elif unit | lower == 'year' -%}
    (year({{ b }}) - year({{ a }}))
    {%- else -%}
    timestampdiff({{ unit | upper }}, date_trunc('{{ unit | upper }}', {{ a }}), date_trunc('{{ unit | upper }}', {{ b }}))
    {%- endif -%}
{%- endmacro %}
