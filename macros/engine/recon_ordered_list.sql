{#- Aggregate `expression` into a list ordered by `order_by`, keeping the first `limit` items. -#}
{% macro recon_ordered_list(expression, order_by, limit) -%}
    {{ return(adapter.dispatch('recon_ordered_list', 'recon')(expression, order_by, limit)) }}
{%- endmacro %}

{% macro default__recon_ordered_list(expression, order_by, limit) -%}
    list({{ expression }} order by {{ order_by }})[1:{{ limit }}]
{%- endmacro %}

{% macro spark__recon_ordered_list(expression, order_by, limit) -%}
    slice({{ spark__recon_ordered_agg(expression, order_by) }}, 1, {{ limit }})
{%- endmacro %}
