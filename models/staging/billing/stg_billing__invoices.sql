with

source as (
    {{ current_raw_rows('raw_billing', 'billing__invoices') }}
    {{- recon_hold_out_past_amount_range('raw_billing', 'billing__invoices', 'raw_rows.invoice_id') }}
),

renamed as (
    select
        invoice_id,
        invoice_number,
        client_name as client_name_billed,
        {{ normalise_client_name('client_name') }} as client_name_normalised,
        reference,
        {{ normalise_reference('reference') }} as reference_normalised,
        issue_date,
        due_date,
        currency,
        cast(net_amount as decimal(18, 4)) as net_amount,
        cast(tax_amount as decimal(18, 4)) as tax_amount,
        cast(total_amount as decimal(18, 4)) as total_amount,
        cast(tax_rate as decimal(18, 4)) as tax_rate,
        payment_terms,
        status as invoice_status,
        status = 'void' as is_void,
        updated_at,
        _batch_id as batch_id,
        _source_file as source_file,
        _row_number as source_row_number,
        _ingested_at as ingested_at
    from source
),

first_loads as (
    -- When each invoice was first loaded, by any batch that loaded it, superseded since or not
    -- (a later full export replaces the rows, not the day the invoice was first seen): a break
    -- waiting for late data on an invoice dated in the future waits from then
    -- (int_exception_breaks).
    select raw_rows.invoice_id, min(raw_rows._ingested_at) as first_ingested_at
    from {{ source('raw_billing', 'billing__invoices') }} as raw_rows
    where raw_rows._batch_id in (
        select loaded.batch_id
        from {{ source('raw_ingestion', 'ingestion_log') }} as loaded
        where loaded.status = 'loaded'
    )
    group by raw_rows.invoice_id
),

deduplicated as (
    -- Billing exports re-send invoices when their status changes (issued → paid → void):
    -- keep the latest version of each invoice.
    {{ recon_qualify('*', 'from renamed', 'row_number() over (partition by invoice_id order by updated_at desc nulls last, batch_id desc, source_row_number desc) = 1') }}
),

first_seen as (
    select deduplicated.*, first_loads.first_ingested_at
    from deduplicated
    left join first_loads
        on deduplicated.invoice_id = first_loads.invoice_id
),

flagged as (
    -- The same invoice exported again under a new billing-system id (same number, client,
    -- currency, net amount and issue date) is one invoice: the first export bills, later
    -- copies are kept and flagged, never billed twice. The issue date too: a billing system
    -- that numbers invoices again each year bills a fixed fee under last year's number, and
    -- that invoice bills (a tryout's 2031 invoice was taken for a copy of its 2025 one).
    select
        first_seen.*,
        invoice_number is not null and row_number() over (
            partition by invoice_number, client_name_normalised, currency, net_amount, issue_date
            order by batch_id, source_row_number, invoice_id
        ) > 1 as is_duplicate_export,
        case when invoice_number is not null then first_value(invoice_id) over (
            partition by invoice_number, client_name_normalised, currency, net_amount, issue_date
            order by batch_id, source_row_number, invoice_id
        ) end as first_export_invoice_id
    from first_seen
)

select * from flagged
