{#- A reference field as typed, in canonical form (see canonical_reference): the same
    order reference typed "CP#18251", "CP-018251" or "cp 18251" compares equal. Free text
    (descriptions, campaign and project names) is not normalised here but searched for
    known references in int_reference_mentions. -#}
{% macro normalise_reference(expression) -%}
    {{ canonical_reference(expression, 'strict') }}
{%- endmacro %}
