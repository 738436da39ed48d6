{#- Candidate pairs of a reconciliation with their evidence.

    An operator's manual link (int_operator_links) is pass 0, before every rule; a pair an
    operator unmatched is never formed. Deterministic passes pair records whose fields are
    equal (every pass is run; a pair keeps its highest-priority pass); a pass with `only_candidate: true` pairs a right
    record only when exactly one left record passes it; with `unpaired_left_only: true` a
    pass sees only the left records no earlier pass paired; with `join_any` (a list of SQL
    equalities) a pass is joined on `fields` and any one of them, then `where` decides; with `nearest_per_left: true` a
    left record found by several right records keeps those nearest to it in time. Left records outside `left.where`
    that `left.reference_only_where` admits are seen by the deterministic passes only. Records no pass paired are blocked into candidate
    pairs (any shared blocking key, date within the window). Each block keeps at most
    `max_candidates_per_block` (default `max_candidates_per_record`) per right record by a
    cheap pre-rank before anything is compared; after scoring a right record keeps its
    best `max_candidates_per_record`.
    Every pair is compared field by field into levels, each level weighted log2(m/u)
    from seed match_weights, summed into match_weight and turned into a posterior
    match_probability with the spec's prior. -#}
{% macro recon_pairs(name) %}
{%- set spec = recon_spec(name) -%}
{%- set cols = spec.right.columns -%}
{%- set has_fx = 'currency' in cols and 'date' in cols and 'amount' in cols -%}
{%- set window = spec.blocking.get('window_days') -%}
{%- set per_block_cap = spec.blocking.get('max_candidates_per_block', spec.blocking.max_candidates_per_record) -%}
{%- set prerank_fields = [] -%}
{%- for comparison in spec.comparisons if comparison.field not in ('date', 'amount') -%}
    {%- do prerank_fields.append(comparison.field) -%}
{%- endfor -%}
{%- set left_amount = 'coalesce(left_remaining.remaining_amount, left_records.amount)'
    if spec.assignment.get('left_accepts_remainder') else 'left_records.amount' -%}
{%- set name_fields = recon_confirmation_name_fields_of(spec) %}
with
{%- for field in name_fields %}
{%- for side in ('left', 'right') %}
{%- set records = spec.left if side == 'left' else spec.right %}

{{ side }}_name_forms__{{ field }} as (
    -- The forms of each distinct {{ side }} {{ field }} a pass confirms by initials or
    -- abbreviation, computed once per name rather than once per pair.
    select
        recon_form_value,
        {{- recon_confirmation_name_forms('recon_form_value', field, side) }}
    from (select distinct {{ records.columns[field] }} as recon_form_value from {{ ref(records.model) }}) as recon_names
),
{%- endfor %}
{%- endfor %}

left_records as (
    select
        cast({{ spec.left.key }} as string) as left_key,
        {%- for field, expression in spec.left.columns.items() %}
        {{ expression }} as {{ field }},
        {%- endfor %}
        {%- if 'date' in spec.left.columns and 'date_end' in spec.left.columns %}
        -- The calendar months the service period [date, date_end] spans (null when it ends
        -- before it starts), once per record: a `per_month` confirmation or level divides by it
        -- for every pair the record is in.
        case
            when ({{ spec.left.columns.date_end }}) >= ({{ spec.left.columns.date }})
                then {{ recon_date_diff('month', '(' ~ spec.left.columns.date ~ ')', '(' ~ spec.left.columns.date_end ~ ') + 1') }}
        end as period_months,
        {%- endif %}
        {%- for field in name_fields %}
        left_name_forms__{{ field }}.recon_initials__{{ field }},
        left_name_forms__{{ field }}.recon_words__{{ field }},
        {%- endfor %}
        coalesce({{ spec.left.get('where') or 'true' }}, false) as is_in_scope
    from {{ ref(spec.left.model) }}
    {%- for field in name_fields %}
    left join left_name_forms__{{ field }}
        on left_name_forms__{{ field }}.recon_form_value = ({{ spec.left.columns[field] }})
    {%- endfor %}
    -- (`true and`: Spark reads `<table> where (...)` as an alias with column names.)
    where true and ({{ spec.left.get('where') or 'true' }})
    {%- if spec.left.get('reference_only_where') %}
        -- Out of scope, but a deterministic pass may still pair them (an invoice quoting a
        -- cancelled order bills it, and the break says so); the scored pass never offers them.
        or ({{ spec.left.reference_only_where }})
    {%- endif %}
),

right_records as (
    select
        cast({{ spec.right.key }} as string) as right_key,
        {%- for field in name_fields %}
        right_name_forms__{{ field }}.recon_letters__{{ field }},
        right_name_forms__{{ field }}.recon_words__{{ field }},
        right_name_forms__{{ field }}.recon_abbreviated__{{ field }},
        {%- endfor %}
        {%- for field, expression in spec.right.columns.items() %}
        {{ expression }} as {{ field }}{{ "," if not loop.last }}
        {%- endfor %}
    from {{ ref(spec.right.model) }}
    {%- for field in name_fields %}
    left join right_name_forms__{{ field }}
        on right_name_forms__{{ field }}.recon_form_value = ({{ spec.right.columns[field] }})
    {%- endfor %}
    where {{ spec.right.get('where') or 'true' }}
),

operator_links as (
    -- Links operators made or broke by hand (int_operator_links), for this reconciliation.
    select * from {{ ref('int_operator_links') }}
    where reconciliation = '{{ spec.name }}'
),

deterministic_0 as (
    -- An operator's match is the first pass: no rule overrides it. Both records must
    -- still exist (and be in scope), and be as the operator saw them: a record restated
    -- since (another fingerprint) suspends the link, which is raised for review
    -- (manual_link_changed) while the rules match the records again.
    select
        left_records.left_key,
        right_records.right_key,
        0 as pass_priority,
        'operator' as pass_name,
        cast(null as double) as max_amount_ratio,
        false as is_suggestion_only,
        operator_links.action_id as operator_action_id
    from operator_links
    inner join left_records
        on operator_links.left_key = left_records.left_key
    inner join right_records
        on operator_links.right_key = right_records.right_key
    where operator_links.is_linked
        and coalesce(
            operator_links.left_fingerprint = {{ recon_record_fingerprint(spec.left, 'left_records') }},
            true
        )
        and coalesce(
            operator_links.right_fingerprint = {{ recon_record_fingerprint(spec.right, 'right_records') }},
            true
        )
),
{%- for pass in spec.deterministic %}
{%- set pass_filters %}
    {%- if pass.get('where') %}
        and ({{ pass.where }})
    {%- endif %}
    {%- if pass.get('confirm') %}
        -- Equal keys are confirmed by other evidence, so a key typed onto the wrong record
        -- (a typo that hits another order's reference) is left to the scored pass.
        and {{ recon_confirmation(pass.confirm) }}
    {%- endif %}
    {%- if pass.get('window_days') %}
        -- A key that is not unique over time (an e-mail address) only counts near in time.
        and {{ recon_date_gap(spec, 'left_records', 'right_records') }}
            between {{ pass.window_days.min }} and {{ pass.window_days.max }}
    {%- endif %}
{%- endset %}
{%- if pass.get('join_any') %}

deterministic_{{ loop.index }}_keys as (
    -- A pass whose `where` ORs several keys (a client id, its initials, its first word) is
    -- joined once per key, each an equality the engine can hash, instead of on `fields`
    -- alone (a currency pairs every order with every project of it: 10^10 pairs at 1M).
    {%- for condition in pass.join_any %}
    select left_records.left_key, right_records.right_key
    from left_records
    inner join right_records
        on {% for field in pass.fields -%}
            left_records.{{ field }} = right_records.{{ field }} and {% endfor -%}
            ({{ condition }})
    where true
    {{- pass_filters }}
    {{ "union" if not loop.last }}
    {%- endfor %}
),
{%- endif %}

deterministic_{{ loop.index }} as (
    {%- set pass_columns %}
        left_records.left_key,
        right_records.right_key,
        {{ loop.index }} as pass_priority,
        '{{ pass.name }}' as pass_name,
        cast({{ pass.get('max_amount_ratio', 'null') }} as double) as max_amount_ratio,
        {%- if pass.get('suggest_unless') %}
        -- Equal keys the pass trusts, but a pair that fails `suggest_unless` is only suggested
        -- for review, never matched silently (an invoice billed to another client by name).
        not coalesce({{ recon_confirmation(pass.suggest_unless) }}, false) as is_suggestion_only,
        {%- else %}
        false as is_suggestion_only,
        {%- endif %}
        cast(null as string) as operator_action_id
    {%- endset %}
    {%- set pass_from %}
    {%- if pass.get('join_any') %}
    from deterministic_{{ loop.index }}_keys as pass_keys
    inner join left_records
        on pass_keys.left_key = left_records.left_key
    inner join right_records
        on pass_keys.right_key = right_records.right_key
    {%- else %}
    from left_records
    inner join right_records
        on {% for field in pass.fields -%}
            left_records.{{ field }} = right_records.{{ field }}{{ " and " if not loop.last }}
        {%- endfor %}
    {%- endif %}
    where true
    {%- if not pass.get('join_any') %}
    {{- pass_filters }}
    {%- endif %}
    {%- if pass.get('unpaired_left_only') %}
        -- Only left records no earlier pass paired: an order a reference already bills is
        -- no candidate for an item that would bill it whole again.
        and not exists (
            {%- set outer = loop %}
            {%- for earlier in range(0, outer.index) %}
            select 1 from deterministic_{{ earlier }} as earlier_{{ earlier }}
            where earlier_{{ earlier }}.left_key = left_records.left_key
            {{ "union all" if not loop.last }}
            {%- endfor %}
        )
    {%- endif %}
    {%- endset %}
    {%- if pass.get('only_candidate') %}
    -- A key that many records share (a client) only decides when the right record has
    -- one left record that passes: the client's only order live at the time.
    {{ recon_qualify(pass_columns, pass_from, 'count(*) over (partition by right_records.right_key) = 1') }}
    {%- elif pass.get('nearest_per_left') %}
    -- A key one person reuses (an e-mail address, several submissions a few days apart):
    -- a left record goes to the right record(s) nearest to it in time, not to all of them.
    {{ recon_qualify(pass_columns, pass_from, 'abs(' ~ recon_date_gap(spec, 'left_records', 'right_records') ~ ') = min(
        abs(' ~ recon_date_gap(spec, 'left_records', 'right_records') ~ ')
    ) over (partition by left_records.left_key)') }}
    {%- else %}
    select {{ pass_columns }}
    {{ pass_from }}
    {%- endif %}
),
{%- endfor %}

deterministic_pairs as (
    select
        passes.left_key,
        passes.right_key,
        min(passes.pass_priority) as pass_priority,
        min_by(passes.pass_name, passes.pass_priority) as pass_name,
        min_by(passes.max_amount_ratio, passes.pass_priority) as max_amount_ratio,
        min_by(passes.is_suggestion_only, passes.pass_priority) as is_suggestion_only,
        min_by(passes.operator_action_id, passes.pass_priority) as operator_action_id
    from (
        select * from deterministic_0
        {%- for pass in spec.deterministic %}
        union all
        select * from deterministic_{{ loop.index }}
        {%- endfor %}
    ) as passes
    -- A pair an operator unmatched is forbidden to every pass.
    where not exists (
        select 1 from operator_links
        where not operator_links.is_linked
            and operator_links.left_key = passes.left_key
            and operator_links.right_key = passes.right_key
    )
    group by passes.left_key, passes.right_key
),

{%- set partial = spec.assignment.get('left_accepts_remainder') and 'amount' in cols %}
{%- if partial %}

left_remaining as (
    -- What deterministic matches left uncovered of each left record (same currency only):
    -- a split order whose other instalments quoted the reference stays open for the
    -- instalment that did not, compared on the remaining amount.
    select
        left_records.left_key,
        left_records.amount - coalesce(sum(right_records.amount), 0) as remaining_amount
    from left_records
    inner join deterministic_pairs
        on left_records.left_key = deterministic_pairs.left_key
    inner join right_records
        on deterministic_pairs.right_key = right_records.right_key
        and left_records.currency = right_records.currency
    group by left_records.left_key, left_records.amount
),
{%- endif %}

open_left as (
    select
        {% if partial %}{{ recon_star_replace('left_records', 'amount', 'coalesce(left_remaining.remaining_amount, left_records.amount)') }}{% else %}left_records.*{% endif %}
    from left_records
    {%- if partial %}
    left join left_remaining
        on left_records.left_key = left_remaining.left_key
    {%- endif %}
    where left_records.is_in_scope
        and (not exists (
            select 1 from deterministic_pairs where deterministic_pairs.left_key = left_records.left_key
        )
        {%- if partial %}
            or (left_remaining.remaining_amount > {{ spec.assignment.left_accepts_remainder.min_remaining }}
            {%- if spec.assignment.left_accepts_remainder.get('min_remaining_rel') %}
                -- Delivered to within the tolerance: what is left is a shortfall, not room
                -- for another record.
                and left_remaining.remaining_amount
                    > {{ spec.assignment.left_accepts_remainder.min_remaining_rel }} * left_records.amount
            {%- endif %})
        {%- endif %}
        )
),

open_right as (
    select * from right_records
    where not exists (
        select 1 from deterministic_pairs where deterministic_pairs.right_key = right_records.right_key
    )
),
{%- for block in spec.blocking['keys'] %}

blocked_{{ loop.index }} as (
    -- blocking key {{ block.name }}
    {%- set block_from %}
    from open_left
    inner join open_right
        on {{ recon_blocking_key(block, 'open_left') }} = {{ recon_blocking_key(block, 'open_right') }}
        {%- if window %}
        and {{ recon_date_gap(spec, 'open_left', 'open_right') }} between {{ window.min }} and {{ window.max }}
        {%- endif %}
    {%- endset %}
    {%- set block_rank %}row_number() over (
        partition by open_right.right_key
        order by
            {% for field in prerank_fields -%}
            (open_left.{{ field }} is not distinct from open_right.{{ field }}) desc,
            {% endfor -%}
            {%- if window -%}
            abs({{ recon_date_gap(spec, 'open_left', 'open_right') }}),
            {% endif -%}
            open_left.left_key
    ) <= {{ per_block_cap }}
    {%- endset %}
    -- Bounded before comparing: a right record keeps its nearest candidates of this block
    -- by a cheap pre-rank (fields equal, then closest date), so a block that grows with
    -- the data (many clients sharing a name) cannot grow the comparison work with it.
    {{ recon_qualify('open_left.left_key,
        open_right.right_key', block_from, block_rank) }}
),
{%- endfor %}

candidate_pairs as (
    select
        deterministic_pairs.left_key,
        deterministic_pairs.right_key,
        deterministic_pairs.pass_priority,
        deterministic_pairs.pass_name,
        deterministic_pairs.max_amount_ratio,
        deterministic_pairs.is_suggestion_only,
        deterministic_pairs.operator_action_id
    from deterministic_pairs
    union all
    select distinct
        blocked.left_key,
        blocked.right_key,
        cast(null as integer) as pass_priority,
        cast(null as string) as pass_name,
        cast(null as double) as max_amount_ratio,
        false as is_suggestion_only,
        cast(null as string) as operator_action_id
    from (
        {%- for block in spec.blocking['keys'] %}
        select * from blocked_{{ loop.index }}
        {{ "union all" if not loop.last }}
        {%- endfor %}
    ) as blocked
    where not exists (
        select 1 from operator_links
        where not operator_links.is_linked
            and operator_links.left_key = blocked.left_key
            and operator_links.right_key = blocked.right_key
    )
),

compared as (
    select
        candidate_pairs.left_key,
        candidate_pairs.right_key,
        candidate_pairs.pass_priority,
        candidate_pairs.pass_name,
        candidate_pairs.pass_name is not null as is_deterministic,
        candidate_pairs.max_amount_ratio,
        candidate_pairs.is_suggestion_only,
        candidate_pairs.operator_action_id,
        {%- if has_fx %}
        left_records.currency as left_currency,
        right_records.currency as right_currency,
        right_records.amount as right_amount,
        -- The left amount in the right record's currency, at the rates of the right
        -- record's month (how the billing system would have converted it).
        case
            when left_records.currency = right_records.currency then {{ left_amount }}
            else {{ convert_amount(left_amount, 'fx_left.rate_to_usd', 'fx_right.rate_to_usd') }}
        end as left_amount_compared,
        -- The whole left amount likewise (a month's share is of the whole, not of what
        -- deterministic matches left uncovered).
        case
            when left_records.currency = right_records.currency then left_records.amount
            else {{ convert_amount('left_records.amount', 'fx_left.rate_to_usd', 'fx_right.rate_to_usd') }}
        end as left_whole_amount_compared,
        {%- endif %}
        {%- for comparison in spec.comparisons %}
        {{ recon_comparison_level(comparison, 'left_records', 'right_records', has_fx, spec) }} as level_{{ comparison.field }}{{ "," if not loop.last }}
        {%- endfor %}
    from candidate_pairs
    inner join left_records
        on candidate_pairs.left_key = left_records.left_key
    inner join right_records
        on candidate_pairs.right_key = right_records.right_key
    {%- if partial %}
    left join left_remaining
        on candidate_pairs.left_key = left_remaining.left_key
        and candidate_pairs.pass_name is null
    {%- endif %}
    {%- if has_fx %}
    {{ fx_rate_join('fx_left', 'left_records.currency', 'right_records.date') }}
    {{ fx_rate_join('fx_right', 'right_records.currency', 'right_records.date') }}
    {%- endif %}
),

weights as (
    -- One row: the weight log2(m/u) of every field's every level (seed match_weights), so
    -- scoring looks weights up per pair with a CASE instead of a join per field.
    select
        {%- for comparison in spec.comparisons %}
        {%- set field = comparison.field %}
        {%- for level in range(comparison.levels | length) %}
        {%- set weight_sql = "max(case when match_weights.field = '" ~ field ~ "' and match_weights.level = " ~ level
                ~ " then log2(match_weights.m_probability / match_weights.u_probability) end)" %}
        {%- if var('recon_bootstrap_weights', false) %}
        {#- Only `recon tune` / `recon train` set this: they build the pairs to learn the
            weights from, so a level without a weight yet must not stop them. #}
        coalesce({{ weight_sql }}, 0) as {{ field }}_{{ level }}{{ "," if not (loop.last and comparison == spec.comparisons[-1]) }}
        {%- else %}
        {{ recon_required(
            weight_sql,
            "seeds/match_weights.csv has no weight for reconciliation " ~ spec.name ~ ", field " ~ field
                ~ ", level " ~ level ~ " (" ~ comparison.levels[level].name ~ "): run `recon train --write` "
                ~ "(or `recon tune --write`), then `dbt seed`"
        ) }} as {{ field }}_{{ level }}{{ "," if not (loop.last and comparison == spec.comparisons[-1]) }}
        {%- endif %}
        {%- endfor %}
        {%- endfor %}
    from {{ ref('match_weights') }} as match_weights
    where match_weights.reconciliation = '{{ spec.name }}'
),

scored as (
    select
        weighed.*,
        {% for comparison in spec.comparisons -%}
        weighed.weight_{{ comparison.field }}{{ " + " if not loop.last }}
        {%- endfor %} as match_weight
    from (
        select
            compared.*,
            {%- for comparison in spec.comparisons %}
            case compared.level_{{ comparison.field }}
                {%- for level in range(comparison.levels | length) %}
                when {{ level }} then weights.{{ comparison.field }}_{{ level }}
                {%- endfor %}
                else 0
            end as weight_{{ comparison.field }}{{ "," if not loop.last }}
            {%- endfor %}
        from compared
        cross join weights
    ) as weighed
),

ranked as (
    select
        scored.*,
        -- The prior's odds divided in DOUBLE, as DuckDB divides decimals: Spark divided the
        -- decimal literals in DECIMAL rounded to 8 places, which moved probabilities by 1e-8.
        1 / (1 + pow(2, -(scored.match_weight + log2(
            cast({{ spec.thresholds.prior_match_probability }} as double)
            / cast(1 - {{ spec.thresholds.prior_match_probability }} as double)
        )))) as match_probability,
        row_number() over (
            partition by scored.right_key
            order by scored.is_deterministic desc, scored.match_weight desc, scored.left_key
        ) as rank_for_right
    from scored
),

capped as (
    -- Deterministic pairs are always kept; blocked candidates are capped per record so a
    -- large block (a big client) cannot blow up the work downstream.
    select
        ranked.*,
        -- A pass's equal keys whose amounts are far apart (a whole consolidated invoice
        -- against one order) are a suggestion, not a match (pass `max_amount_ratio`).
        {%- if has_fx %}
        coalesce(ranked.right_amount > ranked.left_amount_compared * ranked.max_amount_ratio, false)
        {%- else %}
        false
        {%- endif %} as is_amount_outlier
    from ranked
    where ranked.is_deterministic
        or ranked.rank_for_right <= {{ spec.blocking.max_candidates_per_record }}
)

select * from capped
{% endmacro %}
