{%- set key_sql = 'raw_rows.deliverable_id' %}
{{ config(**staging_incremental('deliverable_id', 'raw_fulfilment', 'fulfilment__deliverables', key_sql)) }}

with

source as (
    {{ current_raw_rows('raw_fulfilment', 'fulfilment__deliverables') }}
    {{- staging_changed_keys_filter('raw_fulfilment', 'fulfilment__deliverables', key_sql) }}
),

renamed as (
    select
        deliverable_id,
        project_id,
        project_name,
        order_ref,
        {{ normalise_reference('order_ref') }} as order_ref_normalised,
        client_name,
        {{ normalise_client_name('client_name') }} as client_name_normalised,
        description as deliverable_description,
        cast(quantity as decimal(18, 4)) as quantity,
        cast(unit_value as decimal(18, 4)) as unit_value,
        -- Widened before multiplying: the contract bounds the product, not each factor's scale.
        cast(cast(quantity as decimal(38, 4)) * cast(unit_value as decimal(38, 4)) as decimal(18, 4)) as deliverable_value,
        currency,
        status as deliverable_status,
        status = 'completed' as is_completed,
        completed_at,
        _batch_id as batch_id,
        _source_file as source_file,
        _row_number as source_row_number,
        _ingested_at as ingested_at
    from source
),

deduplicated as (
    -- Project tools export a task again on every status change: keep its latest state.
    {{ recon_qualify('*', 'from renamed', 'row_number() over (partition by deliverable_id order by batch_id desc, source_row_number desc) = 1') }}
)

select * from deduplicated
