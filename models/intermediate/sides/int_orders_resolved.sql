-- CRM orders as the matching engine sees them: the primary canonical reference every
-- mention of the order's reference or PO number resolves to, and the client's canonical
-- name (int_clients), which the other side's resolved names are compared with, and its
-- first word.
with

orders as (
    select * from {{ ref('stg_crm__orders') }}
),

clients as (
    select * from {{ ref('int_clients') }}
),

resolved as (
    select
        orders.*,
        coalesce(clients.client_name_canonical, orders.client_name_normalised) as client_name_compared,
        -- The word a short form of the client's name starts with ("zielinski" for Zielinski &
        -- Underwood): the family of clients a brand in a campaign name may mean.
        split_part(coalesce(clients.client_name_canonical, orders.client_name_normalised), ' ', 1)
            as client_name_first_word
    from orders
    left join clients
        on orders.client_id = clients.client_id
)

select * from resolved
