{#- Fails for every combination of `combination_of_columns` that occurs more than once. -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
    {%- if combination_of_columns | length < 2 -%}
        {{ exceptions.raise_compiler_error("unique_combination_of_columns needs two or more columns; use `unique` for one") }}
    {%- endif %}
    select {{ combination_of_columns | join(', ') }}, count(*) as occurrences
    from {{ model }}
    group by {{ combination_of_columns | join(', ') }}
    having count(*) > 1
{% endtest %}
