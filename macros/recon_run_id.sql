{#- The Dagster run that builds this model (RECON_RUN_ID), as a SQL string literal.

    Read only when dbt executes, never while it parses: dbt re-parses every file whose
    env_var() value changed since its saved parse, and the run id changes every run, so
    reading it at parse time cost every build a re-parse of each model that stamps it.
    The value is checked against the run-id pattern before it goes into SQL. -#}
{% macro recon_run_id() -%}
    {%- set run_id = env_var('RECON_RUN_ID', '') if execute else '' -%}
    {%- if run_id != '' and not modules.re.fullmatch('[0-9A-Za-z_-]{1,64}', run_id) -%}
        {{ exceptions.raise_compiler_error("RECON_RUN_ID=" ~ run_id ~ " is not a run id (letters, digits, - and _)") }}
    {%- endif -%}
    '{{ run_id }}'
{%- endmacro %}
