{#- A struct of named fields: `fields` is a list of [name, SQL expression] pairs. With
    `quote_names`, DuckDB's field names are written in double quotes. -#}
{% macro recon_struct_pack(fields, quote_names=false) -%}
    {{ return(adapter.dispatch('recon_struct_pack', 'recon')(fields, quote_names)) }}
{%- endmacro %}
{% macro default__recon_struct_pack(fields, quote_names=false) -%}
    struct_pack(
    {%- for field in fields -%}
        {{ '"' ~ field[0] ~ '"' if quote_names else field[0] }} := {{ field[1] }}{{ ", " if not loop.last }}
    {%- endfor -%}
    )
{%- endmacro %}
{% macro spark__recon_struct_pack(fields, quote_names=false) -%}
    named_struct(
    {%- for field in fields -%}
        '{{ field[0] }}', {{ field[1] }}{{ ", " if not loop.last }}
    {%- endfor -%}
    )
{%- endmacro %}

{#- `relation.*` without the columns `columns` (a list of names). -#}
{% macro recon_star_exclude(relation, columns) -%}
    {{ return(adapter.dispatch('recon_star_exclude', 'recon')(relation, columns)) }}
{%- endmacro %}
{% macro default__recon_star_exclude(relation, columns) -%}
    {{ relation }}.* exclude ({{ columns | join(', ') }})
{%- endmacro %}
{% macro spark__recon_star_exclude(relation, columns) -%}
    {{ relation }}.* except ({{ columns | join(', ') }})
{%- endmacro %}

{#- `relation.*` with column `column` replaced by `expression`. Spark has no REPLACE: given
    `columns` (the names of the relation's columns, in order) it lists them, else it puts
    the replaced column last. -#}
{% macro recon_star_replace(relation, column, expression, columns=none) -%}
    {{ return(adapter.dispatch('recon_star_replace', 'recon')(relation, column, expression, columns)) }}
{%- endmacro %}
{% macro default__recon_star_replace(relation, column, expression, columns=none) -%}
    {{ relation }}.* replace ({{ expression }} as {{ column }})
{%- endmacro %}
{% macro spark__recon_star_replace(relation, column, expression, columns=none) -%}
    {%- if columns -%}
        {%- for name in columns -%}
            {%- if name | lower == column | lower -%}
            {{ expression }} as {{ column }}
            {%- else -%}
            {{ relation }}.{{ name }}
            {%- endif -%}{{ ", " if not loop.last }}
        {%- endfor -%}
    {%- else -%}
    {{ relation }}.* except ({{ column }}), {{ expression }} as {{ column }}
    {%- endif -%}
{%- endmacro %}

{#- `select distinct on (key) <columns> <from_clause>`: one row per value of `key`, any. -#}
{% macro recon_distinct_on(key, columns, from_clause) -%}
    {{ return(adapter.dispatch('recon_distinct_on', 'recon')(key, columns, from_clause)) }}
{%- endmacro %}
{% macro default__recon_distinct_on(key, columns, from_clause) -%}
    select distinct on ({{ key }})
    {{ columns }}
    {{ from_clause }}
{%- endmacro %}
{% macro spark__recon_distinct_on(key, columns, from_clause) -%}
    {{ recon_qualify(columns, from_clause, 'row_number() over (partition by ' ~ key ~ ' order by ' ~ key ~ ') = 1') }}
{%- endmacro %}

{#- An instant before every other: DuckDB's '-infinity'; Spark's first representable day. -#}
{% macro recon_min_instant() -%}
    {{ return(adapter.dispatch('recon_min_instant', 'recon')()) }}
{%- endmacro %}
{% macro default__recon_min_instant() -%}
    '-infinity'::timestamptz
{%- endmacro %}
{% macro spark__recon_min_instant() -%}
    timestamp'0001-01-01 00:00:00'
{%- endmacro %}

{#- The JSON array under top-level key `key` of a JSON document as a list of text. -#}
{% macro recon_json_text_list(expression, key) -%}
    {{ return(adapter.dispatch('recon_json_text_list', 'recon')(expression, key)) }}
{%- endmacro %}
{% macro default__recon_json_text_list(expression, key) -%}
    cast({{ expression }} -> '{{ key }}' as varchar[])
{%- endmacro %}
{% macro spark__recon_json_text_list(expression, key) -%}
    from_json(get_json_object({{ expression }}, '$.{{ key }}'), 'array<string>')
{%- endmacro %}

{#- After a FROM relation: one row per value from `start` to `stop` by `step` (an
    interval), as `table_alias`.`column_alias`. -#}
{% macro recon_cross_join_series(start, stop, step, table_alias, column_alias) -%}
    {{ return(adapter.dispatch('recon_cross_join_series', 'recon')(start, stop, step, table_alias, column_alias)) }}
{%- endmacro %}
{% macro default__recon_cross_join_series(start, stop, step, table_alias, column_alias) -%}
    cross join generate_series({{ start }}, {{ stop }}, {{ step }}) as {{ table_alias }} ({{ column_alias }})
{%- endmacro %}
{% macro spark__recon_cross_join_series(start, stop, step, table_alias, column_alias) -%}
    lateral view explode(sequence({{ start }}, {{ stop }}, {{ step }})) {{ table_alias }} as {{ column_alias }}
{%- endmacro %}

{#- An interval of `days` days (an integer expression). -#}
{% macro recon_days_interval(days) -%}
    {{ return(adapter.dispatch('recon_days_interval', 'recon')(days)) }}
{%- endmacro %}
{% macro default__recon_days_interval(days) -%}
    to_days({{ days }})
{%- endmacro %}
{% macro spark__recon_days_interval(days) -%}
    make_dt_interval({{ days }})
{%- endmacro %}

{#- Whether text `expression` begins with text `prefix`. -#}
{% macro recon_starts_with(expression, prefix) -%}
    {{ return(adapter.dispatch('recon_starts_with', 'recon')(expression, prefix)) }}
{%- endmacro %}
{% macro default__recon_starts_with(expression, prefix) -%}
    starts_with({{ expression }}, {{ prefix }})
{%- endmacro %}
{% macro spark__recon_starts_with(expression, prefix) -%}
    startswith({{ expression }}, {{ prefix }})
{%- endmacro %}

{#- Window: the number of distinct non-null values of `expression` in the partition
    `partition_by` (Spark has no DISTINCT in window functions). -#}
{% macro recon_count_distinct_over(expression, partition_by) -%}
    {{ return(adapter.dispatch('recon_count_distinct_over', 'recon')(expression, partition_by)) }}
{%- endmacro %}
{% macro default__recon_count_distinct_over(expression, partition_by) -%}
    count(distinct {{ expression }}) over (partition by {{ partition_by }})
{%- endmacro %}
{% macro spark__recon_count_distinct_over(expression, partition_by) -%}
    size(collect_set({{ expression }}) over (partition by {{ partition_by }}))
{%- endmacro %}
