{#- Convert a money amount with two rates expressed against one base currency:
    amount × rate_from / rate_to, returned as money, DECIMAL(18, 4). The "rates" may be
    amounts too (an order's reporting amount over its booked amount). The product is exact
    on DuckDB, DECIMAL(20, 4) × DECIMAL(18, 6) = DECIMAL(38, 10) (amounts and rates below
    10^12), and rounded to 9 places on Spark, which keeps 38 digits. DuckDB divides decimals
    in DOUBLE and Spark in DECIMAL rounded to 6 places, so the quotient is rounded to 6
    places on both, then to 4, half away from zero. Cast straight from the DOUBLE, an exact
    half (8,050.0000 AUD × 0.682159 = 5,491.37995 USD) was 5,491.3799 on DuckDB and 5,491.3800
    on Spark. -#}
{% macro convert_amount(amount, rate_from, rate_to) -%}
    cast(cast(
        cast({{ amount }} as decimal(20, 4)) * cast({{ rate_from }} as decimal(18, 6))
        / cast({{ rate_to }} as decimal(18, 6))
        as decimal(38, 6)) as decimal(18, 4)
    )
{%- endmacro %}
