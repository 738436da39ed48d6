{#- Comparable form of a company name: "ACME Widgets, Ltd." and "Acme  widgets limited"
    both become "acme widgets". Lower case, accents stripped, "&" read as "and", dots and
    apostrophes removed, other punctuation as spaces, whitespace collapsed, a leading "the"
    dropped ("The Foxford Events" is "foxford events"), and trailing
    legal-form words (var `legal_suffixes`) removed. Empty results are null. -#}
{% macro normalise_client_name(expression) -%}
    {%- set suffixes = var('legal_suffixes', [
        'ltd', 'limited', 'llc', 'inc', 'incorporated', 'corp', 'corporation', 'co', 'company',
        'gmbh', 'ag', 'sa', 'sarl', 'sas', 'bv', 'nv', 'plc', 'pty', 'srl', 'spa', 'oy', 'ab'
    ]) -%}
    {%- set cleaned = regexp_replace_all(
            regexp_replace_all(
                regexp_replace_all(
                    regexp_replace_all("replace(lower(" ~ recon_strip_accents("trim(" ~ expression ~ ")") ~ "), '&', ' and ')", "[.'']", ""),
                    '[^a-z0-9]+', ' '
                ),
                '^ +| +$', ''
            ),
            '^the ', ''
        ) -%}
    {#- A name that is nothing but a legal form keeps it rather than becoming empty. #}
    coalesce(
        nullif(trim({{ regexp_replace_all("' ' || " ~ cleaned, '( (' ~ (suffixes | join('|')) ~ '))+$', '') }}), ''),
        nullif({{ cleaned }}, '')
    )
{%- endmacro %}
