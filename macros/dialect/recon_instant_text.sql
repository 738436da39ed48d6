{#- An instant as the text DuckDB casts a TIMESTAMPTZ to in UTC (the profile's time zone):
    "2026-11-30 23:59:59+00", with the fraction of a second when there is one, trailing
    zeros dropped ("23:59:59.5+00"). Spark casts its timestamp to "2026-11-30 23:59:59", so
    an id hashed from the text (fct_exception_history.event_id) differed between engines. -#}
{% macro recon_instant_text(expression) -%}
    {{ return(adapter.dispatch('recon_instant_text', 'recon')(expression)) }}
{%- endmacro %}

{% macro default__recon_instant_text(expression) -%}
    cast({{ expression }} as varchar)
{%- endmacro %}

{% macro spark__recon_instant_text(expression) -%}
    case when {{ expression }} is not null then concat(
        date_format({{ expression }}, 'yyyy-MM-dd HH:mm:ss'),
        case when pmod(unix_micros({{ expression }}), 1000000) != 0 then concat('.', regexp_replace(
            lpad(cast(pmod(unix_micros({{ expression }}), 1000000) as string), 6, '0'), '0+$', ''))
        else '' end,
        '+00'
    ) end
{%- endmacro %}
