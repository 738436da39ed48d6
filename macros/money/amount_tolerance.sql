-- How far a billed or fulfilled amount may be from its booking and still agree: the larger
-- of an absolute floor (var amount_tolerance_abs) and a share of the booking
-- (var amount_tolerance_rel).
{% macro amount_tolerance(booked_amount) -%}
    cast(greatest(
        {{ bounded_var('amount_tolerance_abs', 0, 1000000) }},
        {{ bounded_var('amount_tolerance_rel', 0, 1) }} * abs({{ booked_amount }})
    ) as decimal(18, 4))
{%- endmacro %}
