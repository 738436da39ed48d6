{#- Lists (DuckDB) and arrays (Spark): the few operations the models use, each with an
    element variable `param` bound in a SQL `body`. Positions are 1-based everywhere. -#}

{#- Each element mapped by `body`. -#}
{% macro recon_list_transform(list, param, body) -%}
    {{ return(adapter.dispatch('recon_list_transform', 'recon')(list, param, body)) }}
{%- endmacro %}
{% macro default__recon_list_transform(list, param, body) -%}
    list_transform({{ list }}, lambda {{ param }}: {{ body }})
{%- endmacro %}
{% macro spark__recon_list_transform(list, param, body) -%}
    transform({{ list }}, {{ param }} -> {{ body }})
{%- endmacro %}

{#- The elements for which `body` holds. -#}
{% macro recon_list_filter(list, param, body) -%}
    {{ return(adapter.dispatch('recon_list_filter', 'recon')(list, param, body)) }}
{%- endmacro %}
{% macro default__recon_list_filter(list, param, body) -%}
    list_filter({{ list }}, lambda {{ param }}: {{ body }})
{%- endmacro %}
{% macro spark__recon_list_filter(list, param, body) -%}
    filter({{ list }}, {{ param }} -> {{ body }})
{%- endmacro %}

{#- Whether `body` holds for some element. -#}
{% macro recon_list_any(list, param, body) -%}
    {{ return(adapter.dispatch('recon_list_any', 'recon')(list, param, body)) }}
{%- endmacro %}
{% macro default__recon_list_any(list, param, body) -%}
    list_bool_or(list_transform({{ list }}, lambda {{ param }}: {{ body }}))
{%- endmacro %}
{% macro spark__recon_list_any(list, param, body) -%}
    exists({{ list }}, {{ param }} -> {{ body }})
{%- endmacro %}

{#- The text cut at every occurrence of `separator` (a SQL literal, not a pattern). -#}
{% macro recon_string_split(expression, separator) -%}
    {{ return(adapter.dispatch('recon_string_split', 'recon')(expression, separator)) }}
{%- endmacro %}
{% macro default__recon_string_split(expression, separator) -%}
    string_split({{ expression }}, {{ separator }})
{%- endmacro %}
{% macro spark__recon_string_split(expression, separator) -%}
    split({{ expression }}, concat('\\Q', {{ separator }}, '\\E'), -1)
{%- endmacro %}

{#- The text cut at every match of a regular expression (without quotes). -#}
{% macro recon_string_split_regex(expression, pattern) -%}
    {{ return(adapter.dispatch('recon_string_split_regex', 'recon')(expression, pattern)) }}
{%- endmacro %}
{% macro default__recon_string_split_regex(expression, pattern) -%}
    string_split_regex({{ expression }}, '{{ pattern }}')
{%- endmacro %}
{% macro spark__recon_string_split_regex(expression, pattern) -%}
    split({{ expression }}, {{ recon_spark_literal(pattern) }}, -1)
{%- endmacro %}

{#- The elements joined by `separator` (a SQL literal); nulls are skipped. -#}
{% macro recon_list_join(list, separator) -%}
    {{ return(adapter.dispatch('recon_list_join', 'recon')(list, separator)) }}
{%- endmacro %}
{% macro default__recon_list_join(list, separator) -%}
    array_to_string({{ list }}, {{ separator }})
{%- endmacro %}
{% macro spark__recon_list_join(list, separator) -%}
    array_join({{ list }}, {{ separator }})
{%- endmacro %}

{#- In a select list: one row per element, as column `value_alias`, with its 1-based
    position as `position_alias`. -#}
{% macro recon_unnest_with_position(list, value_alias, position_alias) -%}
    {{ return(adapter.dispatch('recon_unnest_with_position', 'recon')(list, value_alias, position_alias)) }}
{%- endmacro %}
{% macro default__recon_unnest_with_position(list, value_alias, position_alias) -%}
    unnest({{ list }}) as {{ value_alias }},
            generate_subscripts({{ list }}, 1) as {{ position_alias }}
{%- endmacro %}
{% macro spark__recon_unnest_with_position(list, value_alias, position_alias) -%}
    inline(transform({{ list }}, (recon_element, recon_index) -> named_struct(
        '{{ value_alias }}', recon_element, '{{ position_alias }}', recon_index + 1)))
{%- endmacro %}

{#- Value of `expression` on the row where `key` is least / greatest. -#}
{% macro recon_arg_min(expression, key) -%}
    {{ return(adapter.dispatch('recon_arg_min', 'recon')(expression, key)) }}
{%- endmacro %}
{% macro default__recon_arg_min(expression, key) -%}
    arg_min({{ expression }}, {{ key }})
{%- endmacro %}
{% macro spark__recon_arg_min(expression, key) -%}
    min_by({{ expression }}, {{ key }})
{%- endmacro %}
{% macro recon_arg_max(expression, key) -%}
    {{ return(adapter.dispatch('recon_arg_max', 'recon')(expression, key)) }}
{%- endmacro %}
{% macro default__recon_arg_max(expression, key) -%}
    arg_max({{ expression }}, {{ key }})
{%- endmacro %}
{% macro spark__recon_arg_max(expression, key) -%}
    max_by({{ expression }}, {{ key }})
{%- endmacro %}

{#- Each element mapped by `body`, which may also use its 1-based position `index_param`. -#}
{% macro recon_list_transform_indexed(list, param, index_param, body) -%}
    {{ return(adapter.dispatch('recon_list_transform_indexed', 'recon')(list, param, index_param, body)) }}
{%- endmacro %}
{% macro default__recon_list_transform_indexed(list, param, index_param, body) -%}
    list_transform({{ list }}, lambda {{ param }}, {{ index_param }}: {{ body }})
{%- endmacro %}
{#- Spark numbers positions from 0: the body sees the 0-based index plus one. -#}
{% macro spark__recon_list_transform_indexed(list, param, index_param, body) -%}
    transform({{ list }}, ({{ param }}, recon_index0) -> {{ body | replace(index_param, '(recon_index0 + 1)') }})
{%- endmacro %}

{#- Element at 1-based `index`, null past the end. -#}
{% macro recon_list_element(list, index) -%}
    {{ return(adapter.dispatch('recon_list_element', 'recon')(list, index)) }}
{%- endmacro %}
{% macro default__recon_list_element(list, index) -%}
    {{ list }}[{{ index }}]
{%- endmacro %}
{% macro spark__recon_list_element(list, index) -%}
    element_at({{ list }}, {{ index }})
{%- endmacro %}

{#- Number of elements. -#}
{% macro recon_list_length(list) -%}
    {{ return(adapter.dispatch('recon_list_length', 'recon')(list)) }}
{%- endmacro %}
{% macro default__recon_list_length(list) -%}
    len({{ list }})
{%- endmacro %}
{% macro spark__recon_list_length(list) -%}
    size({{ list }})
{%- endmacro %}

{#- Aggregate: the distinct values, sorted. -#}
{% macro recon_sorted_distinct_list(expression) -%}
    {{ return(adapter.dispatch('recon_sorted_distinct_list', 'recon')(expression)) }}
{%- endmacro %}
{% macro default__recon_sorted_distinct_list(expression) -%}
    list(distinct {{ expression }} order by {{ expression }})
{%- endmacro %}
{% macro spark__recon_sorted_distinct_list(expression) -%}
    array_sort(collect_set({{ expression }}))
{%- endmacro %}

{#- After a FROM relation (and its joins): one row per element of `list`, as
    `table_alias`.`column_alias`. -#}
{% macro recon_cross_join_unnest(list, table_alias, column_alias) -%}
    {{ return(adapter.dispatch('recon_cross_join_unnest', 'recon')(list, table_alias, column_alias)) }}
{%- endmacro %}
{% macro default__recon_cross_join_unnest(list, table_alias, column_alias) -%}
    cross join unnest({{ list }}) as {{ table_alias }} ({{ column_alias }})
{%- endmacro %}
{% macro spark__recon_cross_join_unnest(list, table_alias, column_alias) -%}
    lateral view explode({{ list }}) {{ table_alias }} as {{ column_alias }}
{%- endmacro %}
