{#- The text with every leading character found in `characters` (a SQL literal) removed. -#}
{% macro recon_ltrim(expression, characters) -%}
    {{ return(adapter.dispatch('recon_ltrim', 'recon')(expression, characters)) }}
{%- endmacro %}

{% macro default__recon_ltrim(expression, characters) -%}
    ltrim({{ expression }}, {{ characters }})
{%- endmacro %}

{#- Spark's two-argument ltrim takes the characters first. -#}
{% macro spark__recon_ltrim(expression, characters) -%}
    ltrim({{ characters }}, {{ expression }})
{%- endmacro %}
