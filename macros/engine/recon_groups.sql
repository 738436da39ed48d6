{#- Group matches (1:N and N:1) among records the pairwise assignment left open.

    For each anchor record (the left one for one_to_many, the right one for
    many_to_one) its best open candidates by non-amount evidence — at most
    max_candidates of them — are combined into groups of 2..max_size members whose
    amounts sum to the anchor's amount within tolerance. The cost is bounded by
    max_candidates and max_size per anchor, not by the size of a block. A group is
    matched only when it is the anchor's only qualifying group and none of its members
    is in another qualifying group; otherwise its pairs are ambiguous.

    `open_pairs` is a relation of candidate pairs still undecided; returns a select of
    decision rows shaped like recon_decisions' all_decided, plus group columns. -#}
{% macro recon_group_decisions(spec, group, index, open_pairs) -%}
    {%- set anchor = 'left' if group.direction == 'one_to_many' else 'right' -%}
    {%- set member = 'right' if anchor == 'left' else 'left' -%}
    {%- if group.direction not in ['one_to_many', 'many_to_one'] -%}
        {{ exceptions.raise_compiler_error(
            "Reconciliation spec '" ~ spec.name ~ "': group direction must be one_to_many or many_to_one") }}
    {%- endif -%}
    {%- set member_amount = 'right_amount' if anchor == 'left' else 'left_amount_compared' -%}
    {%- set anchor_amount = 'left_amount_compared' if anchor == 'left' else 'right_amount' -%}
    {%- set size = group.max_size -%}
    group_{{ index }}_members as (
        {%- set member_columns %}
            open_pairs.{{ anchor }}_key as anchor_key,
            open_pairs.{{ member }}_key as member_key,
            open_pairs.{{ member_amount }} as member_amount,
            open_pairs.{{ anchor_amount }} as anchor_amount,
            open_pairs.match_weight - open_pairs.weight_amount as evidence_weight
        {%- endset %}
        {%- set member_from %}
        from {{ open_pairs }} as open_pairs
        where open_pairs.left_currency = open_pairs.right_currency
            and open_pairs.match_weight - open_pairs.weight_amount >= {{ group.min_evidence_weight }}
        {%- endset %}
        {{ recon_qualify(member_columns, member_from, 'row_number() over (
            partition by open_pairs.' ~ anchor ~ '_key
            order by open_pairs.match_weight - open_pairs.weight_amount desc, open_pairs.' ~ member ~ '_key
        ) <= ' ~ group.max_candidates) }}
    ),

    group_{{ index }}_size_1 as (
        select
            group_{{ index }}_members.anchor_key,
            {{ recon_list_literal(['group_' ~ index ~ '_members.member_key']) }} as members,
            group_{{ index }}_members.member_key as last_member,
            group_{{ index }}_members.member_amount as total_amount,
            group_{{ index }}_members.anchor_amount,
            group_{{ index }}_members.evidence_weight as evidence_sum
        from group_{{ index }}_members
    ),
    {%- for n in range(2, size + 1) %}

    group_{{ index }}_size_{{ n }} as (
        select
            smaller.anchor_key,
            {{ recon_list_append('smaller.members', 'added.member_key') }} as members,
            added.member_key as last_member,
            smaller.total_amount + added.member_amount as total_amount,
            smaller.anchor_amount,
            smaller.evidence_sum + added.evidence_weight as evidence_sum
        from group_{{ index }}_size_{{ n - 1 }} as smaller
        inner join group_{{ index }}_members as added
            on smaller.anchor_key = added.anchor_key
            and added.member_key > smaller.last_member
    ),
    {%- endfor %}

    group_{{ index }}_qualifying as (
        select
            combos.*,
            md5('{{ spec.rule_version }}|{{ group.direction }}|' || combos.anchor_key || '|' || {{ recon_list_join('combos.members', "'|'") }})
                as group_match_id
        from (
            {%- for n in range(2, size + 1) %}
            select * from group_{{ index }}_size_{{ n }}
            {{ "union all" if not loop.last }}
            {%- endfor %}
        ) as combos
        where abs(combos.total_amount - combos.anchor_amount)
            <= {{ group.tolerance.abs }} + {{ group.tolerance.rel }} * abs(combos.anchor_amount)
    ),

    group_{{ index }}_exploded as (
        select
            group_{{ index }}_qualifying.*,
            {{ recon_unnest('group_' ~ index ~ '_qualifying.members') }} as member_key
        from group_{{ index }}_qualifying
    ),

    group_{{ index }}_anchor_counts as (
        select group_{{ index }}_qualifying.anchor_key, count(*) as groups_for_anchor
        from group_{{ index }}_qualifying
        group by group_{{ index }}_qualifying.anchor_key
    ),

    group_{{ index }}_member_counts as (
        select group_{{ index }}_exploded.member_key, count(*) as groups_for_member
        from group_{{ index }}_exploded
        group by group_{{ index }}_exploded.member_key
    ),

    group_{{ index }}_decided as (
        select
            {%- if anchor == 'left' %}
            group_{{ index }}_exploded.anchor_key as left_key,
            group_{{ index }}_exploded.member_key as right_key,
            {%- else %}
            group_{{ index }}_exploded.member_key as left_key,
            group_{{ index }}_exploded.anchor_key as right_key,
            {%- endif %}
            case
                when group_{{ index }}_anchor_counts.groups_for_anchor = 1
                    and group_{{ index }}_member_counts.groups_for_member = 1
                    then 'matched'
                else 'ambiguous'
            end as decision,
            'group_{{ group.direction }}' as pass_name,
            group_{{ index }}_exploded.group_match_id,
            {{ recon_list_length('group_' ~ index ~ '_exploded.members') }} as group_size,
            group_{{ index }}_exploded.total_amount as group_amount,
            group_{{ index }}_exploded.anchor_amount as group_anchor_amount
        from group_{{ index }}_exploded
        inner join group_{{ index }}_anchor_counts
            on group_{{ index }}_exploded.anchor_key = group_{{ index }}_anchor_counts.anchor_key
        inner join group_{{ index }}_member_counts
            on group_{{ index }}_exploded.member_key = group_{{ index }}_member_counts.member_key
    )
{%- endmacro %}
