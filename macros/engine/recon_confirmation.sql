{#- The condition that confirms a deterministic pass's equal keys, on `left_records` and
    `right_records`. `confirm` is one condition or `{any_of: [...]}` / `{all_of: [...]}`:
      {field: name, min_similarity: 0.8}   the field's similarity (Jaro–Winkler) is at least this;
      {field: client_id, equal: true}      the field is equal on both sides (and not null);
      {field: client_id, not_contradicted: true}
                                           the right side does not name another value (null or equal);
      {amount: {abs: 1.00, rel: 0.02}}     same currency and amounts within max(abs, rel × left);
      {amount: {at_least: 0.03, at_most: 1.35}}
                                           same currency and the right amount within that share of the left
                                           (either bound may be left out);
      {amount: {per_month: true, abs: 0.05, rel: 0.0005}}
                                           same currency and the right amount is one month's share of the
                                           left amount over the left's service period [date, date_end] of
                                           two months or more (a retainer's month; `period_months`, which
                                           recon_pairs computes once per left record);
      {amount: {equal_share: 12, abs: 0.05, rel: 0.0005}}
                                           same currency and the right amount is an equal part (a half, a
                                           third, … down to 1/12) of the left amount (an instalment).
      {field: name, initials: true}        the right value is the left value's initials (macro
                                           client_initials), 2 to 5 letters: "FV" or "f.v." for Fenwick
                                           Veterinary.
      {field: name, abbreviation: true}    the right value abbreviates the left one word by word: as many
                                           words (joining words and "group" / "holdings" aside), each the
                                           left word or its initial, at least one of each ("D. Interiors
                                           Holdings" for Dubois Interiors; macro client_abbreviated_key).
    The initials, letters, words and abbreviation of a name are computed once per distinct
    name and joined onto recon_pairs' left_records / right_records
    (recon_confirmation_name_forms), not once per pair.
    An amount condition compares the right side's `amount` column, or the column its
    `right_field` names ({amount: {abs: 0.05, right_field: amount_primary}}).
    A name variant then cannot veto an exact reference that the client or the amount
    confirms. -#}
{% macro recon_confirmation(confirm) -%}
    {%- if confirm is not mapping -%}
        {{ exceptions.raise_compiler_error("deterministic confirm must be a mapping, got " ~ confirm) }}
    {%- endif -%}
    {%- if 'any_of' in confirm or 'all_of' in confirm -%}
        {%- set joiner = ' or ' if 'any_of' in confirm else ' and ' -%}
        {%- set parts = confirm.get('any_of') or confirm.get('all_of') -%}
        {%- if not parts -%}
            {{ exceptions.raise_compiler_error("deterministic confirm: any_of / all_of needs at least one condition") }}
        {%- endif -%}
        ({% for part in parts %}{{ recon_confirmation(part) }}{{ joiner if not loop.last }}{% endfor %})
    {%- elif 'amount' in confirm and confirm.amount is mapping and confirm.amount.get('right_field')
        and not confirm.get('_resolved') -%}
        {#- The same condition on another right column: rewrite and recurse. -#}
        {%- set amount = {} -%}
        {%- for key, value in confirm.amount.items() if key != 'right_field' -%}
            {%- do amount.update({key: value}) -%}
        {%- endfor -%}
        {{ recon_confirmation({'amount': amount, '_resolved': true})
            | replace('right_records.amount', 'right_records.' ~ confirm.amount.right_field) }}
    {%- elif 'amount' in confirm and confirm.amount.get('per_month') -%}
        (left_records.currency = right_records.currency
            and left_records.period_months >= 2
            and abs(
                cast(left_records.amount as decimal(38, 4)) / left_records.period_months
                - right_records.amount
            ) <= greatest({{ confirm.amount.get('abs', 0) }}, {{ confirm.amount.get('rel', 0) }} * abs(right_records.amount)))
    {%- elif 'amount' in confirm and confirm.amount.get('equal_share') -%}
        (left_records.currency = right_records.currency
            and right_records.amount > 0
            and round(left_records.amount / right_records.amount) between 2 and {{ confirm.amount.equal_share | int }}
            and abs(
                cast(left_records.amount as decimal(38, 4)) / round(left_records.amount / right_records.amount)
                - right_records.amount
            ) <= greatest({{ confirm.amount.get('abs', 0) }}, {{ confirm.amount.get('rel', 0) }} * abs(right_records.amount)))
    {%- elif 'amount' in confirm and ('at_most' in confirm.amount or 'at_least' in confirm.amount) -%}
        (left_records.currency = right_records.currency
            {%- if 'at_most' in confirm.amount %}
            and cast(right_records.amount as decimal(38, 4))
                <= {{ confirm.amount.at_most }} * cast(left_records.amount as decimal(38, 4))
            {%- endif %}
            {%- if 'at_least' in confirm.amount %}
            and cast(right_records.amount as decimal(38, 4))
                >= {{ confirm.amount.at_least }} * cast(left_records.amount as decimal(38, 4))
            {%- endif %})
    {%- elif 'amount' in confirm -%}
        (left_records.currency = right_records.currency
            and abs(left_records.amount - right_records.amount)
                <= greatest({{ confirm.amount.get('abs', 0) }}, {{ confirm.amount.get('rel', 0) }} * abs(left_records.amount)))
    {%- elif confirm.get('not_contradicted') -%}
        (right_records.{{ confirm.field }} is null or right_records.{{ confirm.field }} = left_records.{{ confirm.field }})
    {%- elif confirm.get('equal') -%}
        coalesce(left_records.{{ confirm.field }} = right_records.{{ confirm.field }}, false)
    {%- elif confirm.get('initials') -%}
        {%- set letters = 'right_records.recon_letters__' ~ confirm.field -%}
        coalesce(
            length({{ letters }}) between 2 and 5
            and {{ letters }} = left_records.recon_initials__{{ confirm.field }},
            false)
    {%- elif confirm.get('abbreviation') -%}
        {%- set right_words = 'right_records.recon_words__' ~ confirm.field -%}
        {%- set left_words = 'left_records.recon_words__' ~ confirm.field -%}
        coalesce(
            right_records.recon_abbreviated__{{ confirm.field }} is not null
            and {{ recon_list_length(right_words) }} = {{ recon_list_length(left_words) }}
            and {{ recon_list_zip_all(right_words, left_words, 'recon_rw', 'recon_lw',
                'recon_rw = recon_lw or (length(recon_rw) = 1 and recon_rw = left(recon_lw, 1))') }},
            false)
    {%- elif 'min_similarity' in confirm -%}
        coalesce({{ recon_string_similarity('left_records.' ~ confirm.field, 'right_records.' ~ confirm.field) }}
            >= {{ confirm.min_similarity }}, false)
    {%- else -%}
        {{ exceptions.raise_compiler_error("deterministic confirm: unknown condition " ~ confirm ~ "; use {field, min_similarity}, {field, equal: true}, {field, initials: true}, {field, abbreviation: true}, {field, not_contradicted: true}, {amount: {abs, rel}}, {amount: {at_least, at_most}}, {amount: {per_month, abs, rel}}, {amount: {equal_share, abs, rel}}, any_of or all_of") }}
    {%- endif -%}
{%- endmacro %}


{#- The fields whose names some pass of `spec` confirms (or `suggest_unless` checks) by initials or abbreviation. -#}
{% macro recon_confirmation_name_fields_of(spec) -%}
    {%- set fields = [] -%}
    {%- for pass in spec.deterministic -%}
        {%- for condition in [pass.get('confirm'), pass.get('suggest_unless')] if condition -%}
            {%- do recon_confirmation_name_fields(condition, fields) -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(fields) }}
{%- endmacro %}

{#- The forms of a name a confirmation compares, as select-list lines on `value`: on the left
    the name's initials and words, on the right its letters, words and abbreviated key.
    recon_pairs computes them once per distinct name (CTEs left_name_forms__<field> and
    right_name_forms__<field>) and joins them onto its records, so a pair compares columns
    instead of splitting two names again: at 1M orders the pass joined on an amount and a
    currency tests 820,000 pairs, and the orders carry 24,943 distinct names. -#}
{% macro recon_confirmation_name_forms(value, field, side) -%}
    {%- if side == 'left' %}
        {{ client_initials(value) }} as recon_initials__{{ field }},
        {{ client_name_words(value) }} as recon_words__{{ field }}
    {%- else %}
        {{ regexp_replace_all('lower(' ~ value ~ ')', '[^a-z]', '') }} as recon_letters__{{ field }},
        {{ client_name_words(value) }} as recon_words__{{ field }},
        {{ client_abbreviated_key(value) }} as recon_abbreviated__{{ field }}
    {%- endif %}
{%- endmacro %}

{#- Appends to `fields` each field `confirm` (recursively) checks by initials or abbreviation. -#}
{% macro recon_confirmation_name_fields(confirm, fields) -%}
    {%- if confirm is mapping -%}
        {%- for part in (confirm.get('any_of') or []) + (confirm.get('all_of') or []) -%}
            {%- do recon_confirmation_name_fields(part, fields) -%}
        {%- endfor -%}
        {%- if (confirm.get('initials') or confirm.get('abbreviation')) and confirm.field not in fields -%}
            {%- do fields.append(confirm.field) -%}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
