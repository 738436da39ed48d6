-- Records staging holds out (recon_hold_out_past_amount_range): a current raw row of theirs
-- holds an amount past the range of its currency. Ingest quarantines such a row today, but a
-- row loaded under an older contract (before 2.7.0 every currency had the range 10^12) stays
-- in raw, which is append-only, and 999,999,999,999 USD converted into JPY overflows the
-- models. One row per record, with the last such row (its file and row number); the rows stay
-- loaded and counted. int_amounts_out_of_range raises each as amount_out_of_range.
{#- Each source holding an amount with its currency on the row: staging model, raw schema and
    table, key column, and the date its exception ages from. #}
{%- set sources = [
    ('stg_crm__orders', 'raw_crm', 'crm__orders', 'order_id', 'service_start_date'),
    ('stg_billing__invoices', 'raw_billing', 'billing__invoices', 'invoice_id', 'issue_date'),
    ('stg_billing__credit_notes', 'raw_billing', 'billing__credit_notes', 'credit_note_id', 'issue_date'),
] %}
with

rows_past_range as (
    {%- for record_entity, schema, table, key, business_date in sources %}
    select
        '{{ record_entity }}' as record_entity,
        raw_rows.{{ key }} as record_id,
        raw_rows.client_name,
        raw_rows.currency,
        raw_rows.{{ business_date }} as business_date,
        raw_rows._batch_id as batch_id,
        raw_rows._source_file as source_file,
        raw_rows._row_number as source_row_number,
        raw_rows._ingested_at as ingested_at
    from ({{ current_raw_rows(schema, table) }}) as raw_rows
    where raw_rows.{{ key }} is not null
        and {{ recon_row_past_amount_range(table) }}
    {{ "union all" if not loop.last }}
    {%- endfor %}
),

records as (
    -- A record may have several such rows (versions, copies): the last one names it.
    {{ recon_qualify('*', 'from rows_past_range', 'row_number() over (partition by record_entity, record_id order by batch_id desc, source_row_number desc) = 1') }}
)

select * from records
