{#- Every piece of free text that could be a reference, as a list of upper-case tokens:
    up to six letters, a separator, then digit groups joined by "-", "/", "_", "." (and,
    in a second reading, by single spaces, so "po 2024 0989455" is one token; in a third,
    letter groups joined by punctuation come first, "LINX/PO/7006"). Letters O, I, L,
    S, B and Z count among the digits so an OCR'd "RT-O05339" or "RT-0B1879" is one token. Nothing here knows
    what references look like: tokens are looked up against the references the orders
    carry (int_order_references), and a token that hits none is ignored. -#}
{% macro reference_tokens(expression) -%}
    {%- set digit_run = '[0-9OILSBZ]*[0-9][0-9OILSBZ]*' -%}
    {%- set head = '[A-Z]{0,6}[ #:/_.-]{0,2}' ~ digit_run -%}
    {#- Letter groups joined by punctuation before the number ("LINX/PO/7006"). -#}
    {%- set grouped_head = '(?:[A-Z]{1,6}[#:/_.-]{1,2})+[A-Z]{0,6}[ #:/_.-]{0,2}' ~ digit_run -%}
    {{ recon_list_distinct(recon_list_concat([
        recon_regexp_extract_all('upper(' ~ expression ~ ')', head ~ '(?:[/_.-]' ~ digit_run ~ ')*'),
        recon_regexp_extract_all('upper(' ~ expression ~ ')', head ~ '(?:[ /_.-]' ~ digit_run ~ ')*'),
        recon_regexp_extract_all('upper(' ~ expression ~ ')', grouped_head ~ '(?:[/_.-]' ~ digit_run ~ ')*')
    ])) }}
{%- endmacro %}
