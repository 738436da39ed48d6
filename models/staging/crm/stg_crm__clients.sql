{%- set key_sql = 'raw_rows.client_id' %}
{{ config(**staging_incremental('client_id', 'raw_crm', 'crm__clients', key_sql)) }}

with

source as (
    {{ current_raw_rows('raw_crm', 'crm__clients') }}
    {{- staging_changed_keys_filter('raw_crm', 'crm__clients', key_sql) }}
),

renamed as (
    select
        client_id,
        legal_name,
        trading_name,
        aliases,
        upper(trim(country)) as country_code,
        billing_currency,
        _batch_id as batch_id,
        _source_file as source_file,
        _row_number as source_row_number,
        _ingested_at as ingested_at
    from source
),

deduplicated as (
    -- The client master is exported whole each time: the latest export of a client wins.
    {{ recon_qualify('*', 'from renamed', 'row_number() over (partition by client_id order by batch_id desc, source_row_number desc) = 1') }}
)

select * from deduplicated
