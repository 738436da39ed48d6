{#- Canonical form of a reference token: "<family>:<digits>", where the family is the
    letters before the first digit and the digits are every digit after it with leading
    zeros dropped; a suffix after the number ("/A", "-R1") is not part of it. "CP#18251",
    "CP-018251", "cp-18251", "CP 18251" and "CP-18251/A" are all "CP:18251"; "PO-2024-0989455" and "po 2024 0989455" are "PO:20240989455"; a bare
    "19837" is ":19837". Null when the text holds no digit.

    variant:
      - 'strict'      as typed (after the folding above);
      - 'ocr_body'    letters O, I, L, S, B and Z among the digits read as 0, 1, 1, 5, 8 and 2
                      ("IO-00421l" → IO:4211, "RT-0B1879" → RT:81879, "RT68S55" → RT:68555);
      - 'ocr_family'  trailing O / I / L / S / B / Z of the letters read as digits ("RT-O05339" →
                      RT:5339, "RTZ1366" → RT:21366).
    The OCR variants are only ever looked up against known references, never trusted alone.
    With packed=true the expression is already reference_packed(...) (a column computed
    once for the three variants: the packing is the costly part, and its result packs to
    itself). -#}
{% macro canonical_reference(expression, variant='strict', packed=false) -%}
    {%- if variant not in ('strict', 'ocr_body', 'ocr_family') -%}
        {{ exceptions.raise_compiler_error("canonical_reference: variant must be 'strict', 'ocr_body' or 'ocr_family', got " ~ variant) }}
    {%- endif -%}
    {%- set packed = expression if packed else reference_packed(expression) -%}
    {%- if variant == 'ocr_family' -%}
        {%- set family = "regexp_extract(" ~ packed ~ ", '^([A-Z]+?)[OILSBZ]+[0-9]', 1)" -%}
    {%- else -%}
        {%- set family = "regexp_extract(" ~ packed ~ ", '^([A-Z]*)', 1)" -%}
    {%- endif -%}
    {%- set body = "substr(" ~ packed ~ ", length(" ~ family ~ ") + 1)" -%}
    {%- if variant != 'strict' -%}
        {%- set body = "translate(" ~ body ~ ", 'OILSBZ', '011582')" -%}
    {%- endif -%}
    {%- set digits = regexp_replace_all(body, '[^0-9]', '') -%}
    case
        when {{ digits }} = '' {% if variant == 'ocr_family' %}or {{ family }} = ''{% endif %} then null
        else {{ family }} || ':' || coalesce(nullif({{ recon_ltrim(digits, "'0'") }}, ''), '0')
    end
{%- endmacro %}


{#- A reference token upper-cased, cut after its number, and stripped of everything but
    letters and digits: the first step of canonical_reference, idempotent. -#}
{% macro reference_packed(expression) -%}
    {#- A suffix after the number ("/A", "-R1", " MARCH") is cut off first: letters that
        follow a separator after the first digit end the reference. -#}
    {%- set trimmed = regexp_replace_all("upper(" ~ expression ~ ")", '^([^0-9]*[0-9][^A-Z]*?)[^A-Z0-9]+[A-Z].*$', '\\1') -%}
    {{- regexp_replace_all(trimmed, '[^A-Z0-9]', '') -}}
{%- endmacro %}


{#- A reference whose number is in groups ("PO-2026-000123", "PO 2026/123"), read group by
    group: "<family>:<groups>", each group stripped of its leading zeros and joined by "-"
    (both are "PO:2026-123"). A person typing a reference drops a group's zero padding;
    canonical_reference drops only the zeros before the first group, so "PO 2026/123"
    (PO:2026123) never met PO-2026-000123 (PO:2026000123), and two same-amount orders of one
    client told apart only by it were left ambiguous (a hand-written tryout). Like the OCR
    readings, only ever looked up against known references.

    reference_group_body: the digit groups of a token (after the letters before them, before
    a suffix that starts with letters: "PO-2026-000123/A" gives "2026-000123"), or '' when it
    has one group or letters among them. One regular expression.
    reference_grouped: the reading, from that body and the token's family (the letters of its
    canonical form, split_part(canonical, ':', 1)); null without a family (a date, "2026/03",
    is groups too) or without groups. -#}
{% macro reference_group_body(expression) -%}
    regexp_extract(upper({{ expression }}), '^[^0-9]*([0-9]+(?:[^A-Z0-9]+[0-9]+)+)(?:[^A-Z0-9]+[A-Z].*)?$', 1)
{%- endmacro %}

{% macro reference_grouped(body, family) -%}
    {%- set groups = regexp_replace_all("'-' || " ~ regexp_replace_all(body, '[^0-9]+', '-'), '-0+([0-9])', '-\\1') -%}
    case
        when {{ family }} <> '' and {{ body }} <> '' then {{ family }} || ':' || substr({{ groups }}, 2)
    end
{%- endmacro %}
