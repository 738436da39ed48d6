{#- Every record of every reconciliation (var reconciliations) with the values its spec
    compares, as JSON: what an operator reads beside a candidate's score (the desk's
    exception page). Generic over the specs: a new reconciliation shows up by its spec alone. -#}
{% macro recon_record_values() -%}
    {%- set names = var('reconciliations') -%}
    {%- for name in names -%}
        {%- set spec = recon_spec(name) -%}
        {%- for side in ['left', 'right'] -%}
            {%- set side_spec = spec[side] %}
    select
        '{{ name }}' as reconciliation,
        '{{ side }}' as side,
        cast({{ side_spec.key }} as string) as record_key,
        {%- set fields = [] %}
        {%- for column, expression in side_spec.columns.items() %}
            {%- do fields.append([column, expression]) %}
        {%- endfor %}
        {{ recon_to_json(recon_struct_pack(fields, quote_names=true)) }} as record_values
    from {{ ref(side_spec.model) }}
    {{ "union all" if not (loop.last and names[-1] == name) }}
        {%- endfor -%}
    {%- endfor -%}
{%- endmacro %}
