{%- set key_sql = 'raw_rows.order_id' %}
{{ config(**staging_incremental('order_id', 'raw_crm', 'crm__orders', key_sql)) }}

with

source as (
    {{ current_raw_rows('raw_crm', 'crm__orders') }}
    {{- staging_changed_keys_filter('raw_crm', 'crm__orders', key_sql) }}
    {{- recon_hold_out_past_amount_range('raw_crm', 'crm__orders', key_sql) }}
),

renamed as (
    select
        order_id,
        client_id,
        client_name,
        {{ normalise_client_name('client_name') }} as client_name_normalised,
        order_ref,
        {{ normalise_reference('order_ref') }} as order_ref_normalised,
        po_number,
        -- The order's primary reference in canonical form: what any mention of its order
        -- reference or PO number resolves to.
        coalesce({{ normalise_reference('order_ref') }}, {{ normalise_reference('po_number') }}) as order_reference_key,
        order_type,
        cast(amount as decimal(18, 4)) as booked_amount,
        currency,
        order_date,
        service_start_date,
        service_end_date,
        account_manager,
        status as order_status,
        status = 'cancelled' as is_cancelled,
        updated_at,
        _batch_id as batch_id,
        _source_file as source_file,
        _row_number as source_row_number,
        _ingested_at as ingested_at
    from source
),

deduplicated as (
    -- The CRM exports an order again whenever it changes, and exports get re-sent:
    -- keep the latest version (latest update, then latest batch and row).
    {{ recon_qualify('*', 'from renamed', 'row_number() over (partition by order_id order by updated_at desc, batch_id desc, source_row_number desc) = 1') }}
)

select * from deduplicated
