{#- DuckDB's timezone('UTC', x): a timestamp without time zone read as UTC becomes an instant
    (TIMESTAMPTZ), and an instant becomes the timestamp without time zone it is in UTC.
    Spark has one `timestamp` type (an instant, shown in the session time zone, UTC here):
    the value is unchanged. -#}
{% macro recon_at_utc(expression) -%}
    {{ return(adapter.dispatch('recon_at_utc', 'recon')(expression)) }}
{%- endmacro %}

{% macro default__recon_at_utc(expression) -%}
    timezone('UTC', {{ expression }})
{%- endmacro %}

{% macro spark__recon_at_utc(expression) -%}
    cast({{ expression }} as timestamp)
{%- endmacro %}
