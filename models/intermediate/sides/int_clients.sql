-- One row per client with the name both sides of every reconciliation are compared on:
-- the client master's trading name, else its legal name, else the name the CRM uses most
-- on the client's orders. Records whose name resolves to a client (int_client_names)
-- are compared on this name, so a legal name, a trading name and an alias are equal.
with

orders as (
    select * from {{ ref('stg_crm__orders') }}
),

clients as (
    select * from {{ ref('stg_crm__clients') }}
),

name_counts as (
    select
        orders.client_id,
        orders.client_name_normalised,
        min(orders.client_name) as client_name,
        count(*) as order_count
    from orders
    group by orders.client_id, orders.client_name_normalised
),

crm_names as (
    -- The CRM's most used name per client (ties broken by name, so runs agree).
    select
        name_counts.client_id,
        {{ recon_first_ordered('name_counts.client_name_normalised', 'name_counts.order_count desc, name_counts.client_name_normalised') }}
            as crm_name_normalised,
        {{ recon_first_ordered('name_counts.client_name', 'name_counts.order_count desc, name_counts.client_name_normalised') }}
            as crm_name
    from name_counts
    group by name_counts.client_id
),

all_clients as (
    select client_id from crm_names
    union
    select client_id from clients
),

final as (
    select
        all_clients.client_id,
        coalesce(
            {{ normalise_client_name('clients.trading_name') }},
            {{ normalise_client_name('clients.legal_name') }},
            crm_names.crm_name_normalised
        ) as client_name_canonical,
        coalesce(clients.legal_name, crm_names.crm_name) as client_name,
        -- What the client's orders, and so their exceptions, call it most: the name a record
        -- resolved to this client is shown and routed by (seed client_owners keys by it).
        coalesce(crm_names.crm_name, clients.legal_name) as client_name_crm,
        clients.trading_name,
        clients.client_id is not null as is_in_client_master
    from all_clients
    left join clients
        on all_clients.client_id = clients.client_id
    left join crm_names
        on all_clients.client_id = crm_names.client_id
)

select * from final
