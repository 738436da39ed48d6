{{ config(materialized='incremental', unique_key='exception_id', on_schema_change='append_new_columns', full_refresh=false) }}
-- full_refresh=false: first sightings are history no landing file holds; `recon run --full-refresh` keeps them.
-- When each exception was first and last found by a run, by how many runs, and since when
-- it is due by the business: the business date of the break (service end, invoice date,
-- first delivery…) plus its source's grace window, which is when it stopped being pending.
-- Age and SLA count from there, so a first run on a year of history shows the real backlog.
-- Only the exceptions of this run are rewritten; one no longer found keeps its last sighting
-- (and the value at risk it was last found with).
with

current_exceptions as (
    select exception_id, business_due_at, corrected_at, amount_at_risk_reporting, escalate_to, sla_hours
    from {{ ref('int_reconciliation_exceptions') }}
),

first_sightings as (
    select
        current_exceptions.*,
        {%- if is_incremental() %}
        coalesce(previous.first_seen_at, {{ recon_as_of() }}) as first_seen_at,
        coalesce(previous.runs_seen, 0) + 1 as runs_seen
        {%- else %}
        {{ recon_as_of() }} as first_seen_at,
        1 as runs_seen
        {%- endif %}
    from current_exceptions
    {%- if is_incremental() %}
    left join {{ this }} as previous
        on current_exceptions.exception_id = previous.exception_id
    {%- endif %}
),

sightings as (
    select
        first_sightings.exception_id,
        first_sightings.first_seen_at,
        first_sightings.runs_seen,
        {{ recon_as_of() }} as last_seen_at,
        -- A break first found after an operator linked or unlinked its record by hand was
        -- born of that correction: it is due no earlier than the correction, so a wrong match
        -- undone today does not raise breaks already past their SLA (a tryout saw them
        -- breached on their first sighting). A correction after the first sighting changes
        -- nothing: that break was there before it.
        greatest(
            first_sightings.business_due_at,
            case when first_sightings.corrected_at <= first_sightings.first_seen_at then first_sightings.corrected_at end
        ) as business_due_at,
        -- What the last run that found it made of it: its value at risk in that run's
        -- reporting currency, at that run's FX rates, the escalation that depends on it, and
        -- its SLA (seed severity_policy). The snapshot does not version them (a new reporting
        -- currency, a corrected rate or a new SLA is no change of the break), so
        -- fct_exception_current reads them here (int_exception_lifecycle), as the action
        -- store's catalog has them: a closed break keeps the value it was last found with,
        -- shown only while the reports are in the currency it is in.
        first_sightings.amount_at_risk_reporting,
        '{{ recon_reporting_currency() }}' as reporting_currency,
        first_sightings.escalate_to,
        first_sightings.sla_hours
    from first_sightings
)

select * from sightings
