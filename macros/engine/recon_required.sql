{#- The value of `expression`, or a failed query naming what is missing when it is null:
    a missing weight must stop the build with a message, never count silently as 0. -#}
{% macro recon_required(expression, message) -%}
    {{ return(adapter.dispatch('recon_required', 'recon')(expression, message)) }}
{%- endmacro %}

{% macro default__recon_required(expression, message) -%}
    case when ({{ expression }}) is null then error({{ "'" ~ (message | replace("'", "''")) ~ "'" }}) else {{ expression }} end
{%- endmacro %}

{% macro spark__recon_required(expression, message) -%}
    case when ({{ expression }}) is null then raise_error({{ "'" ~ (message | replace("'", "''")) ~ "'" }}) else {{ expression }} end
{%- endmacro %}
