{%- set key_sql = 'raw_rows.credit_id' %}
{{ config(**staging_incremental('credit_id', 'raw_ads', 'ads__credits', key_sql)) }}

with

source as (
    {{ current_raw_rows('raw_ads', 'ads__credits') }}
    {{- staging_changed_keys_filter('raw_ads', 'ads__credits', key_sql) }}
),

renamed as (
    select
        credit_id,
        platform,
        account_id,
        campaign_id,
        credit_date,
        cast(amount as decimal(18, 4)) as credit_amount,
        currency,
        reason as credit_reason,
        _batch_id as batch_id,
        _source_file as source_file,
        _row_number as source_row_number,
        _ingested_at as ingested_at
    from source
),

deduplicated as (
    -- A credit re-sent in a later file is the same credit: keep the latest delivery.
    {{ recon_qualify('*', 'from renamed', 'row_number() over (partition by credit_id order by batch_id desc, source_row_number desc) = 1') }}
)

select * from deduplicated
