-- Each exception's life from the snapshot of the exception mart: a version per change, a
-- closing version (dbt_is_deleted) when the break stopped being found, and a new version
-- when it came back. Attributes are those of its latest live version, but for its value in
-- the reporting currency, the escalation that depends on it and its SLA, which are those of
-- the last run that found it (int_exception_sightings): the snapshot does not version a
-- change of them (a new reporting currency, a corrected FX rate or a new sla_hours in seed
-- severity_policy is no change of the break, and would write a version of every exception),
-- so its latest version may hold a value converted before either changed, or the SLA of
-- before (while the action store, which decides whether an operator may act, had the new
-- one: the two folds disagreed on the breach). A break found by this run has this run's value; one
-- closed the value it was last found with, if that run reported in today's reporting
-- currency, else none (reporting_value_basis says why): a closed break has no run that
-- converts it again, and a figure in USD must never be shown as JPY. A rate corrected after
-- it closed does not restate it: it is what was at risk, at the rates of its last day.
with

ordered as (
    select * from {{ ref('int_exception_versions') }}
),

transitions as (
    select
        exception_id,
        bool_or(recency = 1 and not is_gone) as is_detected,
        count(*) filter (where not is_gone and was_gone) as reopen_count,
        max(version_from) filter (where not is_gone and was_gone) as last_reopened_at,
        max(version_from) filter (where recency = 1 and is_gone) as auto_resolved_at
    from ordered
    group by exception_id
),

sightings as (
    select exception_id, amount_at_risk_reporting, reporting_currency, escalate_to, sla_hours
    from {{ ref('int_exception_sightings') }}
),

latest_live as (
    -- The latest version in which the break was found: what it looked like.
    {{ recon_qualify('*', 'from ordered
    where not is_gone', 'row_number() over (partition by exception_id order by version_from desc) = 1') }}
)

select
    latest_live.exception_id,
    latest_live.exception_type,
    latest_live.record_entity,
    latest_live.record_id,
    latest_live.client_name,
    latest_live.currency,
    latest_live.amount_at_risk,
    case
        when sightings.reporting_currency = '{{ recon_reporting_currency() }}' then sightings.amount_at_risk_reporting
    end as amount_at_risk_reporting,
    case
        when transitions.is_detected then 'found_this_run'
        when sightings.reporting_currency = '{{ recon_reporting_currency() }}' then 'when_last_found'
        -- last found before the sightings kept the value and its currency
        when sightings.reporting_currency is null then 'currency_not_recorded'
        else 'other_reporting_currency'
    end as reporting_value_basis,
    latest_live.domain,
    latest_live.owner_team,
    latest_live.account_owner,
    latest_live.severity,
    case when transitions.is_detected then sightings.sla_hours else latest_live.sla_hours end as sla_hours,
    case when transitions.is_detected then sightings.escalate_to else latest_live.escalate_to end as escalate_to,
    transitions.is_detected,
    transitions.reopen_count,
    transitions.last_reopened_at,
    transitions.auto_resolved_at
from latest_live
inner join transitions
    on latest_live.exception_id = transitions.exception_id
left join sightings
    on latest_live.exception_id = sightings.exception_id
