with

quarantine as (
    select * from {{ source('raw_ingestion', 'quarantine') }}
),

renamed as (
    select
        quarantine.batch_id || ':' || quarantine.row_number as quarantined_row_id,
        quarantine.batch_id,
        quarantine.source as source_system,
        quarantine.entity,
        quarantine.source_file,
        quarantine.row_number as source_row_number,
        quarantine.column_name,
        quarantine.reason,
        quarantine.original_value,
        quarantine.problems,
        quarantine.record,
        quarantine.quarantined_at
    from quarantine
)

select * from renamed
