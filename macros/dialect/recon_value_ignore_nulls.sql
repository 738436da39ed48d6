{#- Window functions: the first / last non-null value of `expression` in the frame. -#}
{% macro recon_first_value_ignore_nulls(expression) -%}
    {{ return(adapter.dispatch('recon_first_value_ignore_nulls', 'recon')(expression)) }}
{%- endmacro %}
{% macro default__recon_first_value_ignore_nulls(expression) -%}
    first_value({{ expression }} ignore nulls)
{%- endmacro %}
{% macro spark__recon_first_value_ignore_nulls(expression) -%}
    first_value({{ expression }}, true)
{%- endmacro %}

{% macro recon_last_value_ignore_nulls(expression) -%}
    {{ return(adapter.dispatch('recon_last_value_ignore_nulls', 'recon')(expression)) }}
{%- endmacro %}
{% macro default__recon_last_value_ignore_nulls(expression) -%}
    last_value({{ expression }} ignore nulls)
{%- endmacro %}
{% macro spark__recon_last_value_ignore_nulls(expression) -%}
    last_value({{ expression }}, true)
{%- endmacro %}
