-- Every name a client goes by, normalised, and which client it identifies: the CRM's
-- names on orders, the client master's legal and trading names and aliases (contract
-- v2, optional), and aliases learned from the data: the name an invoice or a project
-- carries when its references resolved exactly to orders of that one client.
-- A name that identifies more than one client identifies none (`is_unique` false).
with

orders as (
    select * from {{ ref('stg_crm__orders') }}
),

clients as (
    select * from {{ ref('stg_crm__clients') }}
),

mentions as (
    select * from {{ ref('int_reference_mentions') }}
),

order_references as (
    select distinct reference_key, client_id from {{ ref('int_order_references') }}
),

invoices as (
    select * from {{ ref('stg_billing__invoices') }}
),

invoice_lines as (
    select * from {{ ref('stg_billing__invoice_lines') }}
),

deliverables as (
    select * from {{ ref('stg_fulfilment__deliverables') }}
),

master_names as (
    select clients.client_id, {{ normalise_client_name('clients.legal_name') }} as name_normalised, 'legal_name' as name_source
    from clients
    union all
    select clients.client_id, {{ normalise_client_name('clients.trading_name') }}, 'trading_name'
    from clients
    union all
    select clients.client_id, {{ normalise_client_name('trim(alias.alias)') }}, 'alias'
    from clients
    {{ recon_cross_join_unnest(recon_string_split("coalesce(clients.aliases, '')", "';'"), 'alias', 'alias') }}
),

crm_names as (
    select distinct orders.client_id, orders.client_name_normalised as name_normalised, 'crm' as name_source
    from orders
),

invoice_clients as (
    -- Which client an invoice's exact references point at (header or any line).
    select invoices.invoice_id, invoices.client_name_normalised, order_references.client_id
    from invoices
    inner join mentions
        on mentions.record_type = 'invoice'
        and mentions.record_id = invoices.invoice_id
    inner join order_references
        on mentions.reference_key = order_references.reference_key
    where mentions.mention_kind = 'exact'
    union all
    select invoices.invoice_id, invoices.client_name_normalised, order_references.client_id
    from invoices
    inner join invoice_lines
        on invoices.invoice_id = invoice_lines.invoice_id
    inner join mentions
        on mentions.record_type = 'invoice_line'
        and mentions.record_id = invoice_lines.invoice_line_id
    inner join order_references
        on mentions.reference_key = order_references.reference_key
    where mentions.mention_kind = 'exact'
),

project_clients as (
    -- Which client a project tool's client name goes with, by the tasks' exact references.
    select deliverables.deliverable_id, deliverables.client_name_normalised, order_references.client_id
    from deliverables
    inner join mentions
        on mentions.record_type = 'deliverable'
        and mentions.record_id = deliverables.deliverable_id
    inner join order_references
        on mentions.reference_key = order_references.reference_key
    where mentions.mention_kind = 'exact'
),

seen_names as (
    select invoice_clients.client_name_normalised, invoice_clients.client_id from invoice_clients
    union all
    select project_clients.client_name_normalised, project_clients.client_id from project_clients
),

learned_names as (
    -- An alias is learned only from a name whose exact references all point at one client.
    select
        min(seen_names.client_id) as client_id,
        seen_names.client_name_normalised as name_normalised,
        'learned' as name_source
    from seen_names
    -- Too short a name ("L", "hp") identifies nobody, whatever one run's data says.
    where length(seen_names.client_name_normalised) >= 3
    group by seen_names.client_name_normalised
    having count(distinct seen_names.client_id) = 1
),

all_names as (
    select * from master_names
    union all
    select * from crm_names
    union all
    select * from learned_names
),

named as (
    select
        all_names.name_normalised,
        all_names.client_id,
        {{ recon_sorted_distinct_list('all_names.name_source') }} as name_sources,
        {{ recon_count_distinct_over('all_names.client_id', 'all_names.name_normalised') }} = 1 as is_unique
    from all_names
    where all_names.name_normalised is not null
        and all_names.client_id is not null
    group by all_names.name_normalised, all_names.client_id
)

select * from named
