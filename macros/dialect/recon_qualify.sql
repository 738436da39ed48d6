{#- `select <columns> <from_clause>` keeping the rows where `condition` (an expression that
    may use window functions over the query's rows) holds: DuckDB's QUALIFY. Engines without
    QUALIFY evaluate the condition beside the row, packed in a struct so that the result has
    exactly `columns`, and filter outside. -#}
{% macro recon_qualify(columns, from_clause, condition) -%}
    {{ return(adapter.dispatch('recon_qualify', 'recon')(columns, from_clause, condition)) }}
{%- endmacro %}

{% macro default__recon_qualify(columns, from_clause, condition) -%}
    select {{ columns }}
    {{ from_clause }}
    qualify {{ condition }}
{%- endmacro %}

{% macro spark__recon_qualify(columns, from_clause, condition) -%}
    select qualified.recon_row.*
    from (
        select struct({{ columns }}) as recon_row, ({{ condition }}) as recon_keep
        {{ from_clause }}
    ) as qualified
    where qualified.recon_keep
{%- endmacro %}

{#- The same around a subquery: `recon_qualify_open(alias, condition)`, the subquery, then
    `recon_qualify_close(alias, condition)` select `alias`.* from it where `condition` holds. -#}
{% macro recon_qualify_open(alias, condition) -%}
    {{ return(adapter.dispatch('recon_qualify_open', 'recon')(alias, condition)) }}
{%- endmacro %}
{% macro default__recon_qualify_open(alias, condition) -%}
    select {{ alias }}.*
    from (
{%- endmacro %}
{% macro spark__recon_qualify_open(alias, condition) -%}
    select {{ alias }}.* except (recon_keep)
    from (
    select {{ alias }}.*, ({{ condition }}) as recon_keep
    from (
{%- endmacro %}

{% macro recon_qualify_close(alias, condition) -%}
    {{ return(adapter.dispatch('recon_qualify_close', 'recon')(alias, condition)) }}
{%- endmacro %}
{% macro default__recon_qualify_close(alias, condition) -%}
    ) as {{ alias }}
    qualify {{ condition }}
{%- endmacro %}
{% macro spark__recon_qualify_close(alias, condition) -%}
    ) as {{ alias }}
    ) as {{ alias }}
    where {{ alias }}.recon_keep
{%- endmacro %}
