{%- set key_sql = "raw_rows.platform || ':' || raw_rows.campaign_id || ':' || " ~ recon_date_text('raw_rows.delivery_date') %}
{{ config(**staging_incremental('delivery_id', 'raw_ads', 'ads__delivery', key_sql)) }}

with

source as (
    {{ current_raw_rows('raw_ads', 'ads__delivery') }}
    {{- staging_changed_keys_filter('raw_ads', 'ads__delivery', key_sql) }}
),

renamed as (
    select
        platform || ':' || campaign_id || ':' || {{ recon_date_text('delivery_date') }} as delivery_id,
        platform,
        account_id,
        account_name,
        account_timezone,
        campaign_id,
        campaign_name,
        delivery_date,
        impressions,
        clicks,
        cast(spend as decimal(18, 4)) as spend_amount,
        currency,
        _batch_id as batch_id,
        _source_file as source_file,
        _row_number as source_row_number,
        _ingested_at as ingested_at
    from source
),

deduplicated as (
    -- Platforms restate recent days as late conversions and corrections come in:
    -- the last report of a campaign-day is the one that counts.
    {{ recon_qualify('*', 'from renamed', 'row_number() over (partition by delivery_id order by batch_id desc, source_row_number desc) = 1') }}
)

select * from deduplicated
