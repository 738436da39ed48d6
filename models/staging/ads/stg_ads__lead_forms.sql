{%- set key_sql = 'raw_rows.submission_id' %}
{{ config(**staging_incremental('submission_id', 'raw_ads', 'ads__lead_forms', key_sql)) }}

with

source as (
    {{ current_raw_rows('raw_ads', 'ads__lead_forms') }}
    {{- staging_changed_keys_filter('raw_ads', 'ads__lead_forms', key_sql) }}
),

renamed as (
    select
        submission_id,
        platform,
        campaign_id,
        form_id,
        email,
        nullif(lower(trim(email)), '') as email_normalised,
        -- The address with its punctuation dropped: a hand-typed or re-exported copy loses or
        -- doubles a dot or an @ ("ann@@x.com", "annx@xcom") and still names one mailbox.
        nullif({{ regexp_replace_all('lower(email)', '[^a-z0-9]', '') }}, '') as email_letters,
        full_name,
        nullif(lower(trim({{ regexp_replace_all('full_name', '\\s+', ' ') }})), '') as full_name_normalised,
        submitted_at,
        _batch_id as batch_id,
        _source_file as source_file,
        _row_number as source_row_number,
        _ingested_at as ingested_at
    from source
),

deduplicated as (
    -- The same submission can be exported twice: keep the latest delivery. Two
    -- submissions by one person are kept (that is a duplicate lead, found later).
    {{ recon_qualify('*', 'from renamed', 'row_number() over (partition by submission_id order by batch_id desc, source_row_number desc) = 1') }}
)

select * from deduplicated
