-- Every source record of each reconciliation appears exactly once in its records model,
-- so each is in exactly one state: compares record counts with the source models.
{{ config(meta={'dagster': {'ref': {'name': 'fct_reconciliation_records'}}}) }}

{%- set checks = [] %}
{%- for name in var('reconciliations') %}
    {%- set spec = recon_spec(name) %}
    {%- for side in ['left', 'right'] %}
        {%- do checks.append((name, side, spec[side])) %}
    {%- endfor %}
{%- endfor %}

with

{% for name, side, side_spec in checks %}
source_{{ loop.index }} as (
    select
        '{{ name }}' as reconciliation,
        '{{ side }}' as side,
        count(distinct cast({{ side_spec.key }} as string)) as source_records,
        count(*) as source_rows
    from {{ ref(side_spec.model) }}
    where {{ side_spec.get('where') or 'true' }}
),
{% endfor %}

sources as (
    {% for check in checks %}
    select * from source_{{ loop.index }}
    {{ "union all" if not loop.last }}
    {% endfor %}
),

states as (
    select reconciliation, side, count(*) as state_rows, count(distinct record_key) as state_records
    from {{ ref('fct_reconciliation_records') }}
    group by reconciliation, side
)

select sources.*, states.state_rows, states.state_records
from sources
left join states
    on sources.reconciliation = states.reconciliation
    and sources.side = states.side
where sources.source_rows != sources.source_records
    or coalesce(states.state_rows, 0) != sources.source_records
    or coalesce(states.state_records, 0) != sources.source_records
