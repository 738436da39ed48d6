{#- Levenshtein edit distance between two texts. -#}
{% macro recon_edit_distance(a, b) -%}
    {{ return(adapter.dispatch('recon_edit_distance', 'recon')(a, b)) }}
{%- endmacro %}

{% macro default__recon_edit_distance(a, b) -%}
    levenshtein({{ a }}, {{ b }})
{%- endmacro %}
