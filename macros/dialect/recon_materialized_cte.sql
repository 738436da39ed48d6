{#- The keyword that makes a common table expression computed once for all its readers
    (`with x as materialized (...)`): DuckDB inlines a CTE into every reader otherwise, and
    recomputes it. Engines without it (Spark) plan CTEs their own way: nothing. -#}
{% macro recon_materialized_cte() -%}
    {{ return(adapter.dispatch('recon_materialized_cte', 'recon')()) }}
{%- endmacro %}

{% macro default__recon_materialized_cte() -%}
{%- endmacro %}

{% macro duckdb__recon_materialized_cte() -%}
    materialized
{%- endmacro %}
