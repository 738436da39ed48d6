{#- Similarity of two texts in [0, 1] (Jaro–Winkler where the engine has it). -#}
{% macro recon_string_similarity(a, b) -%}
    {{ return(adapter.dispatch('recon_string_similarity', 'recon')(a, b)) }}
{%- endmacro %}

{% macro default__recon_string_similarity(a, b) -%}
    jaro_winkler_similarity({{ a }}, {{ b }})
{%- endmacro %}
