{#- Convert a money amount with two rates expressed against one base currency:
    amount × rate_from / rate_to, computed at DECIMAL(38, 10) so large amounts times
    rates cannot overflow, and returned as money, DECIMAL(18, 4). -#}
{% macro convert_amount(amount, rate_from, rate_to) -%}
    cast(
        cast({{ amount }} as decimal(38, 10)) * cast({{ rate_from }} as decimal(38, 10))
        / cast({{ rate_to }} as decimal(38, 10))
        as decimal(18, 4)
    )
{%- endmacro %}
