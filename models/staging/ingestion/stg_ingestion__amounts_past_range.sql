-- Records staging holds out (recon_hold_out_past_amount_range): a current raw row of theirs
-- holds an amount past the range of its currency. Ingest quarantines such a row today, but a
-- row loaded under an older contract (before 2.7.0 every currency had the range 10^12) stays
-- in raw, which is append-only, and 999,999,999,999 USD converted into JPY overflows the
-- models. One row per record, with the last such row (its file and row number); the rows stay
-- loaded and counted. int_amounts_out_of_range raises each as amount_out_of_range.
with

orders as (
    select
        'stg_crm__orders' as record_entity,
        raw_rows.order_id as record_id,
        raw_rows.client_name,
        raw_rows.currency,
        raw_rows.service_start_date as business_date,
        raw_rows._batch_id as batch_id,
        raw_rows._source_file as source_file,
        raw_rows._row_number as source_row_number,
        raw_rows._ingested_at as ingested_at
    from ({{ current_raw_rows('raw_crm', 'crm__orders') }}) as raw_rows
    where raw_rows.order_id is not null
        and {{ recon_row_past_amount_range('crm__orders') }}
),

invoices as (
    select
        'stg_billing__invoices' as record_entity,
        raw_rows.invoice_id as record_id,
        raw_rows.client_name,
        raw_rows.currency,
        raw_rows.issue_date as business_date,
        raw_rows._batch_id as batch_id,
        raw_rows._source_file as source_file,
        raw_rows._row_number as source_row_number,
        raw_rows._ingested_at as ingested_at
    from ({{ current_raw_rows('raw_billing', 'billing__invoices') }}) as raw_rows
    where raw_rows.invoice_id is not null
        and {{ recon_row_past_amount_range('billing__invoices') }}
),

credit_notes as (
    select
        'stg_billing__credit_notes' as record_entity,
        raw_rows.credit_note_id as record_id,
        raw_rows.client_name,
        raw_rows.currency,
        raw_rows.issue_date as business_date,
        raw_rows._batch_id as batch_id,
        raw_rows._source_file as source_file,
        raw_rows._row_number as source_row_number,
        raw_rows._ingested_at as ingested_at
    from ({{ current_raw_rows('raw_billing', 'billing__credit_notes') }}) as raw_rows
    where raw_rows.credit_note_id is not null
        and {{ recon_row_past_amount_range('billing__credit_notes') }}
),

rows_past_range as (
    select * from orders
    union all
    select * from invoices
    union all
    select * from credit_notes
),

records as (
    -- A record may have several such rows (versions, copies): the last one names it.
    {{ recon_qualify('*', 'from rows_past_range', 'row_number() over (partition by record_entity, record_id order by batch_id desc, source_row_number desc) = 1') }}
)

select * from records
