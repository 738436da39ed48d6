{{ config(meta={'dagster': {'ref': {'name': 'fct_exception_current'}}}) }}
-- A break this run found shows the value at risk this run converted, in today's reporting
-- currency and rates: the current mart once showed the figures of a home built in USD under
-- reporting_currency JPY (its snapshot does not version a change of the reporting value).
select
    current_state.exception_id,
    current_state.amount_at_risk_reporting as shown,
    found.amount_at_risk_reporting as found_by_this_run,
    current_state.reporting_currency,
    found.reporting_currency as reporting_currency_of_this_run
from {{ ref('fct_exception_current') }} as current_state
inner join {{ ref('fct_reconciliation_exceptions') }} as found
    on current_state.exception_id = found.exception_id
where current_state.amount_at_risk_reporting is distinct from found.amount_at_risk_reporting
    or current_state.reporting_currency is distinct from found.reporting_currency
    or current_state.reporting_value_basis is distinct from 'found_this_run'
