{#- The time a build runs "as of", as a UTC timestamp expression.

    Normally the clock. RECON_AS_OF (an ISO date or timestamp, e.g. 2026-11-30T09:00:00Z)
    pins it, so grace windows, SLA breaches and exception lifecycles can be replayed and
    tested at a chosen time. The value is checked against a strict pattern before it goes
    into SQL. -#}
{% macro recon_as_of() -%}
    {#- Read only when dbt executes: an env_var() read while parsing makes dbt re-parse
        every model that calls this whenever the value changes (see recon_run_id). -#}
    {%- set as_of = (env_var('RECON_AS_OF', '') if execute else '') | trim -%}
    {%- if as_of == '' -%}
        cast(now() as {{ recon_instant_type() }})
    {%- elif modules.re.fullmatch('\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?(Z|[+-]\d{2}:?\d{2})?', as_of) -%}
        cast('{{ as_of | replace("Z", "+00:00") }}' as {{ recon_instant_type() }})
    {%- else -%}
        {{ exceptions.raise_compiler_error(
            "RECON_AS_OF=" ~ as_of ~ " is not an ISO date or timestamp; use e.g. 2026-11-30 or 2026-11-30T09:00:00Z") }}
    {%- endif -%}
{%- endmacro %}

{#- Snapshots record versions at the build's as-of time (UTC, naive like dbt's own), so a
    replayed or tested run dates its exception history consistently. Overrides dbt-duckdb's
    default, which is the clock. -#}
{% macro duckdb__snapshot_get_time() -%}
    cast({{ recon_at_utc(recon_as_of()) }} as timestamp)
{%- endmacro %}

{#- The same on Spark: snapshots there record the build's as-of time too. -#}
{% macro spark__snapshot_get_time() -%}
    cast({{ recon_at_utc(recon_as_of()) }} as timestamp)
{%- endmacro %}
