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
{#- DuckDB's arg_min / arg_max skip the rows where the value is null; Spark's min_by /
    max_by skip those where the key is. -#}
{% macro spark__recon_arg_min(expression, key) -%}
    min_by({{ expression }}, case when {{ expression }} is not null then {{ key }} end)
{%- endmacro %}
{% macro recon_arg_max(expression, key) -%}
    {{ return(adapter.dispatch('recon_arg_max', 'recon')(expression, key)) }}
{%- endmacro %}
{% macro default__recon_arg_max(expression, key) -%}
    arg_max({{ expression }}, {{ key }})
{%- endmacro %}
{% macro spark__recon_arg_max(expression, key) -%}
    max_by({{ expression }}, case when {{ expression }} is not null then {{ key }} end)
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
    try_element_at({{ list }}, {{ index }})
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

{#- The list sorted ascending. -#}
{% macro recon_list_sort(list) -%}
    {{ return(adapter.dispatch('recon_list_sort', 'recon')(list)) }}
{%- endmacro %}
{% macro default__recon_list_sort(list) -%}
    list_sort({{ list }})
{%- endmacro %}
{% macro spark__recon_list_sort(list) -%}
    array_sort({{ list }})
{%- endmacro %}

{#- Aggregate: the values as a list (the distinct ones with `distinct`), in no set order.
    A FILTER clause may follow the call. -#}
{% macro recon_list_agg(expression, distinct=false) -%}
    {{ return(adapter.dispatch('recon_list_agg', 'recon')(expression, distinct)) }}
{%- endmacro %}
{% macro default__recon_list_agg(expression, distinct=false) -%}
    list({{ 'distinct ' if distinct }}{{ expression }})
{%- endmacro %}
{% macro spark__recon_list_agg(expression, distinct=false) -%}
    {{ 'collect_set' if distinct else 'collect_list' }}({{ expression }})
{%- endmacro %}

{#- The list without repeated elements (order unspecified). -#}
{% macro recon_list_distinct(list) -%}
    {{ return(adapter.dispatch('recon_list_distinct', 'recon')(list)) }}
{%- endmacro %}
{% macro default__recon_list_distinct(list) -%}
    list_distinct({{ list }})
{%- endmacro %}
{% macro spark__recon_list_distinct(list) -%}
    array_distinct(filter({{ list }}, recon_element -> recon_element is not null))
{%- endmacro %}

{#- Lists (a list of SQL expressions) one after the other. -#}
{% macro recon_list_concat(lists) -%}
    {{ return(adapter.dispatch('recon_list_concat', 'recon')(lists)) }}
{%- endmacro %}
{% macro default__recon_list_concat(lists) -%}
    list_concat({{ lists | join(', ') }})
{%- endmacro %}
{% macro spark__recon_list_concat(lists) -%}
    concat({{ lists | join(', ') }})
{%- endmacro %}

{#- The list with one more element at the end. -#}
{% macro recon_list_append(list, element) -%}
    {{ return(adapter.dispatch('recon_list_append', 'recon')(list, element)) }}
{%- endmacro %}
{% macro default__recon_list_append(list, element) -%}
    list_append({{ list }}, {{ element }})
{%- endmacro %}
{% macro spark__recon_list_append(list, element) -%}
    array_append({{ list }}, {{ element }})
{%- endmacro %}

{#- The last element, null for an empty list. -#}
{% macro recon_list_last(list) -%}
    {{ return(adapter.dispatch('recon_list_last', 'recon')(list)) }}
{%- endmacro %}
{% macro default__recon_list_last(list) -%}
    list_last({{ list }})
{%- endmacro %}
{% macro spark__recon_list_last(list) -%}
    try_element_at({{ list }}, -1)
{%- endmacro %}

{#- Whether the two lists share an element. -#}
{% macro recon_list_has_any(a, b) -%}
    {{ return(adapter.dispatch('recon_list_has_any', 'recon')(a, b)) }}
{%- endmacro %}
{% macro default__recon_list_has_any(a, b) -%}
    list_has_any({{ a }}, {{ b }})
{%- endmacro %}
{% macro spark__recon_list_has_any(a, b) -%}
    arrays_overlap({{ a }}, {{ b }})
{%- endmacro %}

{#- A list literal of SQL expressions `items` (a Python list); `element_type` types an
    empty one. -#}
{% macro recon_list_literal(items, element_type='string') -%}
    {{ return(adapter.dispatch('recon_list_literal', 'recon')(items, element_type)) }}
{%- endmacro %}
{% macro default__recon_list_literal(items, element_type='string') -%}
    [{{ items | join(', ') }}]
{%- endmacro %}
{% macro spark__recon_list_literal(items, element_type='string') -%}
    {%- if items | length == 0 -%}
    cast(array() as array<{{ element_type }}>)
    {%- else -%}
    array({{ items | join(', ') }})
    {%- endif -%}
{%- endmacro %}

{#- Every match of a regular expression (SQL literal text without quotes) in the text. -#}
{% macro recon_regexp_extract_all(expression, pattern) -%}
    {{ return(adapter.dispatch('recon_regexp_extract_all', 'recon')(expression, pattern)) }}
{%- endmacro %}
{% macro default__recon_regexp_extract_all(expression, pattern) -%}
    regexp_extract_all({{ expression }}, '{{ pattern }}')
{%- endmacro %}
{% macro spark__recon_regexp_extract_all(expression, pattern) -%}
    regexp_extract_all({{ expression }}, {{ recon_spark_literal(pattern) }}, 0)
{%- endmacro %}

{#- In a select list: the lists of `lists` unnested side by side (the n-th elements on one
    row, nulls past the end of the shorter), as the columns `aliases`. -#}
{% macro recon_unnest_zip(lists, aliases) -%}
    {{ return(adapter.dispatch('recon_unnest_zip', 'recon')(lists, aliases)) }}
{%- endmacro %}
{% macro default__recon_unnest_zip(lists, aliases) -%}
    {%- for list in lists -%}
        unnest({{ list }}) as {{ aliases[loop.index0] }}{{ ",\n        " if not loop.last }}
    {%- endfor -%}
{%- endmacro %}
{#- Spark's arrays_zip is null when any list is null, where DuckDB's unnest pads a missing
    list with nulls (an operator link made before fingerprints has none): each list is
    read as empty when null, so both give the rows of the longest list. -#}
{% macro spark__recon_unnest_zip(lists, aliases) -%}
    inline(arrays_zip(
        {%- for list in lists %}coalesce({{ list }}, array()){{ ", " if not loop.last }}{% endfor -%}
    )) as ({{ aliases | join(', ') }})
{%- endmacro %}

{#- Splits an ORDER BY list (text) into [expression, descending] pairs, commas inside
    parentheses kept. -#}
{% macro recon_split_order_by(order_by) -%}
    {%- set state = namespace(depth=0, current='', parts=[]) -%}
    {%- for ch in order_by -%}
        {%- if ch == ',' and state.depth == 0 -%}
            {%- do state.parts.append(state.current) -%}
            {%- set state.current = '' -%}
        {%- else -%}
            {%- if ch == '(' -%}{%- set state.depth = state.depth + 1 -%}{%- endif -%}
            {%- if ch == ')' -%}{%- set state.depth = state.depth - 1 -%}{%- endif -%}
            {%- set state.current = state.current ~ ch -%}
        {%- endif -%}
    {%- endfor -%}
    {%- do state.parts.append(state.current) -%}
    {%- set terms = [] -%}
    {%- for part in state.parts -%}
        {%- set term = part | trim -%}
        {%- if (term | lower).endswith(' desc') -%}
            {%- do terms.append([term[:-4] | trim, true]) -%}
        {%- elif (term | lower).endswith(' asc') -%}
            {%- do terms.append([term[:-3] | trim, false]) -%}
        {%- else -%}
            {%- do terms.append([term, false]) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(terms) }}
{%- endmacro %}

{#- Spark: an array of structs (value `v`, keys `k0`, `k1`...) sorted by the keys, nulls last. -#}
{% macro recon_spark_sorted_pairs(array_sql, terms) -%}
    array_sort({{ array_sql }}, (recon_l, recon_r) -> case
        {%- for term in terms %}
        {%- set k = 'k' ~ loop.index0 %}
        when recon_l.{{ k }} is null and recon_r.{{ k }} is not null then 1
        when recon_l.{{ k }} is not null and recon_r.{{ k }} is null then -1
        when recon_l.{{ k }} < recon_r.{{ k }} then {{ 1 if term[1] else -1 }}
        when recon_l.{{ k }} > recon_r.{{ k }} then {{ -1 if term[1] else 1 }}
        {%- endfor %}
        else 0 end)
{%- endmacro %}

{#- Aggregate: `expression` of every row as a list ordered by `order_by` (an ORDER BY list);
    `filter` (a condition) keeps only some rows. -#}
{% macro recon_ordered_agg(expression, order_by, filter=none) -%}
    {{ return(adapter.dispatch('recon_ordered_agg', 'recon')(expression, order_by, filter)) }}
{%- endmacro %}
{% macro default__recon_ordered_agg(expression, order_by, filter=none) -%}
    list({{ expression }} order by {{ order_by }}){% if filter %} filter ({{ filter }}){% endif %}
{%- endmacro %}
{% macro spark__recon_ordered_agg(expression, order_by, filter=none) -%}
    {%- set terms = recon_split_order_by(order_by) -%}
    transform({{ recon_spark_sorted_pairs(
        "collect_list(named_struct('v', " ~ expression
        ~ recon_spark_order_keys(terms) ~ "))"
        ~ (" filter (" ~ filter ~ ")" if filter else ''), terms) }}, recon_pair -> recon_pair.v)
{%- endmacro %}
{% macro recon_spark_order_keys(terms) -%}
    {%- for term in terms -%}, 'k{{ loop.index0 }}', {{ term[0] }}{%- endfor -%}
{%- endmacro %}

{#- Aggregate: `expression` on the first row by `order_by` (DuckDB's first(x order by ...)). -#}
{% macro recon_first_ordered(expression, order_by) -%}
    {{ return(adapter.dispatch('recon_first_ordered', 'recon')(expression, order_by)) }}
{%- endmacro %}
{% macro default__recon_first_ordered(expression, order_by) -%}
    first({{ expression }} order by {{ order_by }})
{%- endmacro %}
{% macro spark__recon_first_ordered(expression, order_by) -%}
    try_element_at({{ spark__recon_ordered_agg(expression, order_by) }}, 1)
{%- endmacro %}

{#- In a select list: one row per element of the list. -#}
{% macro recon_unnest(list) -%}
    {{ return(adapter.dispatch('recon_unnest', 'recon')(list)) }}
{%- endmacro %}
{% macro default__recon_unnest(list) -%}
    unnest({{ list }})
{%- endmacro %}
{% macro spark__recon_unnest(list) -%}
    explode({{ list }})
{%- endmacro %}

{#- Whether `body` holds for every pair of n-th elements of lists `a` and `b` (of equal
    length), bound to `first` and `second`. -#}
{% macro recon_list_zip_all(a, b, first, second, body) -%}
    {{ return(adapter.dispatch('recon_list_zip_all', 'recon')(a, b, first, second, body)) }}
{%- endmacro %}
{% macro default__recon_list_zip_all(a, b, first, second, body) -%}
    list_bool_and(list_transform(
                list_zip({{ a }}, {{ b }}),
                lambda pair: {{ body | replace(first, 'pair[1]') | replace(second, 'pair[2]') }}
            ))
{%- endmacro %}
{% macro spark__recon_list_zip_all(a, b, first, second, body) -%}
    forall(zip_with({{ a }}, {{ b }}, ({{ first }}, {{ second }}) -> {{ body }}), recon_ok -> recon_ok)
{%- endmacro %}
