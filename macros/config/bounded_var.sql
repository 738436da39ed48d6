{#- A numeric dbt var, refused at compile time unless it is a number within [low, high].
    Jinja's `| int` turns "abc" into 0, and a 0 here would make every campaign name a
    template or every line description an extra charge: a typo in dbt_project.yml must
    stop the build with the var's name and its range, not change every result. -#}
{% macro bounded_var(name, low, high, integer=false) -%}
    {%- set value = var(name) -%}
    {%- if value is boolean or value is not number -%}
        {{ exceptions.raise_compiler_error(
            "var " ~ name ~ " must be a number between " ~ low ~ " and " ~ high
            ~ " (dbt_project.yml vars), got '" ~ value ~ "'") }}
    {%- endif -%}
    {%- if integer and value != (value | int) -%}
        {{ exceptions.raise_compiler_error(
            "var " ~ name ~ " must be a whole number between " ~ low ~ " and " ~ high ~ ", got " ~ value) }}
    {%- endif -%}
    {%- if value < low or value > high -%}
        {{ exceptions.raise_compiler_error(
            "var " ~ name ~ " must be between " ~ low ~ " and " ~ high
            ~ " (dbt_project.yml vars), got " ~ value) }}
    {%- endif -%}
    {{ return(value | int if integer else value) }}
{%- endmacro %}


{#- The reporting currency (var reporting_currency): an ISO 4217 code of three capital
    letters, refused at compile time otherwise. That seeds/fx_rates.csv has rates for it is
    checked by tests/reference/assert_reporting_currency_has_fx_rates.sql, before any model converts. -#}
{% macro recon_reporting_currency() -%}
    {%- set value = var('reporting_currency') -%}
    {%- if value is not string or not modules.re.match('^[A-Z]{3}$', value) -%}
        {{ exceptions.raise_compiler_error(
            "var reporting_currency must be a three-letter currency code such as USD (dbt_project.yml vars), got '"
            ~ value ~ "'") }}
    {%- endif -%}
    {{ return(value) }}
{%- endmacro %}
