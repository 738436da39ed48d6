{%- set key_sql = 'raw_rows.lead_id' %}
{{ config(**staging_incremental('lead_id', 'raw_crm', 'crm__leads', key_sql)) }}

with

source as (
    {{ current_raw_rows('raw_crm', 'crm__leads') }}
    {{- staging_changed_keys_filter('raw_crm', 'crm__leads', key_sql) }}
),

renamed as (
    select
        lead_id,
        email,
        nullif(lower(trim(email)), '') as email_normalised,
        -- The address with its punctuation dropped: a hand-typed or re-exported copy loses or
        -- doubles a dot or an @ ("ann@@x.com", "annx@xcom") and still names one mailbox.
        nullif({{ regexp_replace_all('lower(email)', '[^a-z0-9]', '') }}, '') as email_letters,
        full_name,
        nullif(lower(trim({{ regexp_replace_all('full_name', '\\s+', ' ') }})), '') as full_name_normalised,
        client_id,
        campaign_id,
        owner as lead_owner,
        created_at,
        _batch_id as batch_id,
        _source_file as source_file,
        _row_number as source_row_number,
        _ingested_at as ingested_at
    from source
),

deduplicated as (
    -- The same lead row can arrive in several exports: keep the latest delivery.
    -- (Two different lead_ids for one person are a business duplicate, kept for matching.)
    {{ recon_qualify('*', 'from renamed', 'row_number() over (partition by lead_id order by batch_id desc, source_row_number desc) = 1') }}
)

select * from deduplicated
