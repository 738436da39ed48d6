{#- Edit distance between two texts: insertions, deletions, substitutions and transpositions
    of adjacent characters (Damerau–Levenshtein, optimal string alignment), each one edit.
    Typed references swap neighbouring digits ("NF24-3631" for "NF24-3361") as often as
    they change one. -#}
{% macro recon_edit_distance(a, b) -%}
    {{ return(adapter.dispatch('recon_edit_distance', 'recon')(a, b)) }}
{%- endmacro %}

{% macro default__recon_edit_distance(a, b) -%}
    levenshtein({{ a }}, {{ b }})
{%- endmacro %}

{% macro duckdb__recon_edit_distance(a, b) -%}
    damerau_levenshtein({{ a }}, {{ b }})
{%- endmacro %}
