{#- Level (0 = best, last = everything else, -1 = a side is null) of one comparison. -#}
{% macro recon_comparison_level(comparison, left, right, has_fx, spec=none) -%}
    {%- set l = left ~ '.' ~ comparison.field -%}
    {%- set r = right ~ '.' ~ comparison.field -%}
    {%- if comparison.method == 'amount' and has_fx -%}
        {%- set l = 'left_amount_compared' -%}
    {%- endif -%}
    {%- set n = comparison.levels | length -%}
    case
        when {{ l }} is null or {{ r }} is null then -1
    {%- if comparison.get('same_family') %}
        {#- Canonical references ("<family>:<digits>") of two different families (an order
            known by its PO number, an invoice quoting the agency's order reference) are
            not evidence either way. A bare number (family '') compares with any. #}
        when split_part({{ l }}, ':', 1) != '' and split_part({{ r }}, ':', 1) != ''
            and split_part({{ l }}, ':', 1) != split_part({{ r }}, ':', 1) then -1
    {%- endif %}
    {%- if comparison.get('left_bare_is_own_family') %}
        {#- A bare number on the left is a family of its own (a client's PO number, which
            carries no prefix): a right reference of a family is another numbering, no
            evidence either way, unless it quotes the same digits ("PO-4531859294"). #}
        when split_part({{ l }}, ':', 1) = '' and split_part({{ r }}, ':', 1) != ''
            then case when split_part({{ l }}, ':', 2) = split_part({{ r }}, ':', 2) then 0 else -1 end
    {%- endif %}
    {%- for level in comparison.levels[:-1] %}
        {%- set i = loop.index0 %}
        {%- if comparison.method == 'exact' %}
        when {{ l }} = {{ r }} then {{ i }}
        {%- elif comparison.method == 'edit_distance' %}
        when {{ recon_edit_distance(l, r) }} <= {{ level.max }} then {{ i }}
        {%- elif comparison.method == 'similarity' %}
        when {{ recon_string_similarity(l, r) }} >= {{ level.min }} then {{ i }}
        {%- elif comparison.method == 'days_between' %}
        when {{ recon_date_gap(spec, left, right) if spec is not none and comparison.field == 'date' else recon_days_between(l, r) }} between {{ level.min }} and {{ level.max }} then {{ i }}
        {%- elif comparison.method == 'amount' %}
            {%- if level.get('per_month') and (spec is none or 'date_end' not in spec.left.columns) %}
        {{ exceptions.raise_compiler_error("comparison level '" ~ level.name ~ "': per_month needs a date_end column on the left (a service period)") }}
            {%- elif level.get('per_month') %}
        {#- One month's share of the left amount (a retainer billed monthly): the months
            its service period spans, [date, date_end]: `period_months`, computed once per
            left record by recon_pairs. #}
        when {{ left }}.period_months >= 2
            and abs({{ 'left_whole_amount_compared' if has_fx else l }} / {{ left }}.period_months - {{ r }})
                <= {{ level.abs }} + {{ level.rel }} * abs({{ r }}) then {{ i }}
            {%- elif 'rel_min' in level %}
        when {{ r }} between {{ level.rel_min }} * {{ l }} and {{ level.rel_max }} * {{ l }} then {{ i }}
            {%- else %}
        when abs({{ l }} - {{ r }}) <= {{ level.abs }} + {{ level.rel }} * abs({{ l }}) then {{ i }}
            {%- endif %}
        {%- endif %}
    {%- endfor %}
        else {{ n - 1 }}
    end
{%- endmacro %}
