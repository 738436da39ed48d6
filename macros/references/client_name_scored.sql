{#- The client name a scored pass compares: the resolved client's canonical name, else the
    name as written; none (null: no evidence either way, level -1) when the name is one word
    that names no one client ("Keane" beside Keane Architects and Keane Dental, "k"). Such a
    word is as like the right client's full name as a wrong one's: blocking on it already
    used all it says. Used by the right sides of delivery_orders and projects_orders. -#}
{% macro client_name_scored(client_id, name, canonical_name) -%}
    case
        when {{ client_id }} is null and {{ name }} = split_part({{ name }}, ' ', 1) then null
        else coalesce({{ canonical_name }}, {{ name }})
    end
{%- endmacro %}
