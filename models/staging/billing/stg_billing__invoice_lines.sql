{%- set key_sql = "raw_rows.invoice_id || '#' || raw_rows.line_number" %}
{{ config(**staging_incremental('invoice_line_id', 'raw_billing', 'billing__invoice_lines', key_sql)) }}

with

source as (
    {{ current_raw_rows('raw_billing', 'billing__invoice_lines') }}
    {{- staging_changed_keys_filter('raw_billing', 'billing__invoice_lines', key_sql) }}
),

renamed as (
    select
        invoice_id || '#' || line_number as invoice_line_id,
        invoice_id,
        line_number,
        description as line_description,
        reference,
        {{ normalise_reference('reference') }} as reference_normalised,
        cast(quantity as decimal(18, 4)) as quantity,
        cast(unit_price as decimal(18, 4)) as unit_price,
        cast(net_amount as decimal(18, 4)) as net_amount,
        _batch_id as batch_id,
        _source_file as source_file,
        _row_number as source_row_number,
        _ingested_at as ingested_at
    from source
),

deduplicated as (
    -- Lines are re-sent with their invoice: keep the latest delivery of each line.
    {{ recon_qualify('*', 'from renamed', 'row_number() over (partition by invoice_line_id order by batch_id desc, source_row_number desc) = 1') }}
)

select * from deduplicated
