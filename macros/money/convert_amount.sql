{#- Convert a money amount with two rates expressed against one base currency:
    amount × rate_from / rate_to, returned as money, DECIMAL(18, 4). The product is exact
    at DECIMAL(38, 6) (amounts carry 4 decimals, rates 6): 26 integer digits hold any
    contract amount (below 10^12) times a rate or another amount; the division is DOUBLE,
    as DuckDB divides decimals. At DECIMAL(38, 10) the product of two contract-sized
    amounts overflowed. -#}
{% macro convert_amount(amount, rate_from, rate_to) -%}
    cast(
        cast({{ amount }} as decimal(38, 6)) * cast({{ rate_from }} as decimal(38, 6))
        / cast({{ rate_to }} as decimal(38, 6))
        as decimal(18, 4)
    )
{%- endmacro %}
