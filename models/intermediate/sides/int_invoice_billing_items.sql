-- What an invoice bills for one order: its billable lines that share the reference that
-- applies to them (int_invoice_lines_billable). A two-line invoice ("media" + "agency
-- fee") for one order is one item carrying the order's full amount; a consolidated
-- invoice is one item per order it names, and each line it leaves unreferenced is an item
-- of its own, matched on amount, client and date. Items are what orders are matched to.
with

invoice_lines as (
    select * from {{ ref('int_invoice_lines_billable') }}
),

client_name_keys as (
    select * from {{ ref('int_client_name_keys') }}
),

client_names as (
    select * from {{ ref('int_client_names') }}
),

clients as (
    select * from {{ ref('int_clients') }}
),

orders as (
    select * from {{ ref('int_orders_resolved') }}
),

items as (
    select
        invoice_lines.billing_item_id,
        min(invoice_lines.invoice_id) as invoice_id,
        min(invoice_lines.reference_normalised) as reference_normalised,
        min(invoice_lines.reference_compared) as reference_compared,
        -- exact < ocr < digits: the weakest way any of its lines was read decides.
        {{ recon_arg_max('invoice_lines.reference_kind',
            "case invoice_lines.reference_kind when 'exact' then 1 when 'ocr' then 2 when 'digits' then 3 end") }} as reference_kind,
        min(invoice_lines.reference) as reference,
        min(invoice_lines.client_name_billed) as client_name_billed,
        min(invoice_lines.client_name_normalised) as client_name_normalised,
        min(invoice_lines.issue_date) as issue_date,
        min(invoice_lines.currency) as currency,
        bool_or(invoice_lines.is_tax_inclusive) as is_tax_inclusive,
        count(*) as line_count,
        cast(sum(invoice_lines.net_amount) as decimal(18, 4)) as net_amount,
        -- Without the lines that may be extra charges (is_secondary_line): what bills the
        -- booking when an invoice adds "Stock imagery" beside it.
        cast(sum(case when not invoice_lines.is_secondary_line then invoice_lines.net_amount else 0 end) as decimal(18, 4))
            as primary_net_amount,
        cast(sum(invoice_lines.net_amount_reporting) as decimal(18, 4)) as net_amount_reporting
    from invoice_lines
    group by invoice_lines.billing_item_id
),

invoice_clients as (
    -- The client of an invoice whose items quote order references (read exactly or by OCR,
    -- not a bare number) all of one client's orders: a consolidated invoice addressed to a
    -- parent or an abbreviation ("GA", "Ashby Group") bills that client, and so do the
    -- lines it leaves unreferenced.
    select
        items.invoice_id,
        min(orders.client_id) as client_id
    from items
    inner join orders
        on items.reference_normalised = orders.order_reference_key
    where items.reference_kind in ('exact', 'ocr')
        and orders.client_id is not null
    group by items.invoice_id
    having count(distinct orders.client_id) = 1
),

registered_names as (
    -- The names clients are registered under (the CRM's names on their orders, the client
    -- master's legal and trading names), squeezed as the name keys are, where that one client
    -- goes by the name: no other client is registered or aliased under it. Learned aliases
    -- are left out: they are learned from the references invoices quote, which is what a
    -- billed name is held against here (an invoice of one client quoting another's order
    -- would teach its own name as the other's alias). Initials, abbreviations, a name with
    -- its legal form cut, first words: none of them is a registered name.
    select
        replace(client_names.name_normalised, ' ', '') as name_key,
        min(client_names.client_id) as client_id
    from client_names
    where {{ recon_list_any('client_names.name_sources', 'source', "source <> 'learned'") }}
    group by replace(client_names.name_normalised, ' ', '')
    having count(distinct client_names.client_id) = 1
        and bool_or({{ recon_list_any('client_names.name_sources', 'source', "source in ('crm', 'legal_name', 'trading_name')") }})
),

final as (
    select
        items.*,
        -- By the billed name (or its abbreviation: "H. & Patel"; or, a name no client's name
        -- claims, without its legal form: "Ravi Moretti Veterinary", or as initials: "EH
        -- Limited"), else (an item quoting nothing) by the orders the invoice's other items quote.
        coalesce({{ client_lookup_id('client_key') }}, invoice_clients.client_id) as client_id_resolved,
        -- How many items its invoice carries: more than one, a consolidated invoice.
        count(*) over (partition by items.invoice_id) as invoice_item_count,
        coalesce(clients.client_name_canonical, items.client_name_normalised) as client_name_compared,
        -- The client the billed name is, confidently: one client's registered name, as billed
        -- (legal form, case and punctuation aside). An item quoting another client's order
        -- reference is only suggested (spec orders_invoices, suggest_unless).
        registered_names.client_id as client_id_named
    from items
    {{ client_lookup_joins('items.client_name_normalised', 'client_key', by_first_words=false, by_abbreviation=true, by_core=true) }}
    left join clients
        on {{ client_lookup_id('client_key') }} = clients.client_id
    left join registered_names
        on replace(items.client_name_normalised, ' ', '') = registered_names.name_key
    -- Only for an item quoting nothing: an item's own reference never confirms itself.
    left join invoice_clients
        on items.invoice_id = invoice_clients.invoice_id
        and items.reference_normalised is null
)

select * from final
