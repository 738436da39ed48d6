{%- set key_sql = 'raw_rows.credit_note_id' %}
{{ config(**staging_incremental('credit_note_id', 'raw_billing', 'billing__credit_notes', key_sql)) }}

with

source as (
    {{ current_raw_rows('raw_billing', 'billing__credit_notes') }}
    {{- staging_changed_keys_filter('raw_billing', 'billing__credit_notes', key_sql) }}
    {{- recon_hold_out_past_amount_range('raw_billing', 'billing__credit_notes', key_sql) }}
),

renamed as (
    select
        credit_note_id,
        invoice_id,
        client_name as client_name_billed,
        {{ normalise_client_name('client_name') }} as client_name_normalised,
        reference,
        {{ normalise_reference('reference') }} as reference_normalised,
        issue_date,
        currency,
        cast(net_amount as decimal(18, 4)) as net_amount,
        reason as credit_reason,
        _batch_id as batch_id,
        _source_file as source_file,
        _row_number as source_row_number,
        _ingested_at as ingested_at
    from source
),

deduplicated as (
    -- A credit note re-sent in a later export is the same note: keep the latest delivery.
    {{ recon_qualify('*', 'from renamed', 'row_number() over (partition by credit_note_id order by batch_id desc, source_row_number desc) = 1') }}
)

select * from deduplicated
