-- Exceptions for BI: counts, ageing, SLA breaches, time to resolution and value at risk
-- (revenue leakage) by type, owner team and severity, as of the run.
with

exceptions as (
    select * from {{ ref('fct_exception_current') }}
),

bucketed as (
    select
        exceptions.*,
        case
            when exceptions.is_closed then 'closed'
            when exceptions.age_hours < 24 then '0-1 days'
            when exceptions.age_hours < 72 then '1-3 days'
            when exceptions.age_hours < 168 then '3-7 days'
            when exceptions.age_hours < 720 then '7-30 days'
            else '30+ days'
        end as ageing_bucket
    from exceptions
)

select
    exception_type,
    owner_team,
    severity,
    ageing_bucket,
    count(*) as exceptions,
    count(*) filter (where not is_closed) as open_exceptions,
    count(*) filter (where status = 'claimed') as claimed,
    count(*) filter (where status = 'resolved') as resolved_by_operator,
    count(*) filter (where status = 'auto_resolved') as auto_resolved,
    count(*) filter (where is_breached) as sla_breached,
    count(*) filter (where escalated_to is not null and not is_closed) as escalated,
    count(*) filter (where reopen_count > 0) as reopened,
    round(avg(hours_to_resolution), 1) as mean_hours_to_resolution,
    round(median(hours_to_resolution), 1) as median_hours_to_resolution,
    -- A total, not an amount: each exception's amount fits DECIMAL(18, 4), but open ones add up
    -- past it (101 orders of 999,999,999,999 JPY with reporting_currency JPY stopped the run:
    -- "Casting value 101000000006259.0101 to DECIMAL(18,4)"). DECIMAL(38, 4) holds the sum of
    -- 10^20 amounts at DECIMAL(18, 4)'s top, so no accepted input can overflow it.
    cast(coalesce(sum(amount_at_risk_reporting) filter (where not is_closed), 0) as decimal(38, 4))
        as open_amount_at_risk_reporting,
    '{{ recon_reporting_currency() }}' as reporting_currency,
    max(state_as_of) as state_as_of,
    {{ recon_run_id() }} as dagster_run_id
from bucketed
group by exception_type, owner_team, severity, ageing_bucket
