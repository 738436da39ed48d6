-- Each record of each reconciliation with the values its spec compares (reference, name,
-- amount, dates, ...) as JSON, keyed like fct_reconciliation_records. The desk shows them
-- side by side for an exception's record and its candidates.
with

record_values as (
    {{ recon_record_values() }}
)

select
    reconciliation,
    side,
    record_key,
    record_values,
    {{ recon_run_id() }} as dagster_run_id
from record_values
