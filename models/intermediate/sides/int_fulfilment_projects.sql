-- One row per fulfilment project: the value of its deliverables (all, and completed
-- only), the order reference its tasks carry (reference field or project name, in any
-- shape: int_reference_mentions), and the client as the project tool names it (client
-- field, else the client its project name names), compared as the client's canonical
-- name where it is known. Projects are what orders are
-- matched to; deliverables follow them.
with

deliverables as (
    select * from {{ ref('stg_fulfilment__deliverables') }}
),

mentions as (
    select * from {{ ref('int_reference_mentions') }}
    where record_type = 'deliverable'
),

client_name_keys as (
    select * from {{ ref('int_client_name_keys') }}
),

clients as (
    select * from {{ ref('int_clients') }}
),

projects as (
    select
        deliverables.project_id,
        min(deliverables.project_name) as project_name,
        -- A project whose tasks name two different orders names none.
        case when count(distinct mentions.reference_key) = 1 then min(mentions.reference_key) end
            as order_ref_normalised,
        min(mentions.reference_compared) as reference_compared,
        min(deliverables.client_name_normalised) as client_name_normalised,
        min(deliverables.currency) as currency,
        count(*) as deliverable_count,
        count(*) filter (where deliverables.is_completed) as completed_count,
        cast(sum(deliverables.deliverable_value) filter (where deliverables.deliverable_status != 'cancelled')
            as decimal(18, 4)) as planned_value,
        cast(coalesce(sum(deliverables.deliverable_value) filter (where deliverables.is_completed), 0)
            as decimal(18, 4)) as completed_value,
        cast(min(deliverables.completed_at) as date) as first_completed_date,
        cast(max(deliverables.completed_at) as date) as last_completed_date
    from deliverables
    left join mentions
        on deliverables.deliverable_id = mentions.record_id
    group by deliverables.project_id
    -- Held out when its deliverables add up past what the models compute with (raised as
    -- amount_out_of_range by int_amounts_out_of_range).
    having {{ recon_within_aggregate_range(
        'sum(abs(cast(deliverables.deliverable_value as decimal(38, 4))))', 'min(deliverables.currency)'
    ) }}
),

named_in_project_name as (
    -- Project tools name projects "Client: work" or "Work (Client)": the client the
    -- project name names, for projects whose client field says too little ("L", "hp").
    {{ client_named_in_text('projects', 'project_id', 'project_name') }}
),

resolved as (
    select
        projects.*,
        coalesce({{ client_lookup_id('client_key') }}, named_in_project_name.client_id) as client_id_resolved
    from projects
    {{ client_lookup_joins('projects.client_name_normalised', 'client_key') }}
    left join named_in_project_name
        on projects.project_id = named_in_project_name.project_id
),

final as (
    select
        resolved.*,
        coalesce(clients.client_name_canonical, resolved.client_name_normalised) as client_name_compared,
        -- A client field of one word that names no one client ("eastleigh" beside Eastleigh
        -- Analytics and Eastleigh Dental, "k", "as"): as like the right client's full name
        -- as a wrong one's. The scored pass takes it as no name evidence (null), not a
        -- poor match; it is blocked on as the word (name_word) and by amount.
        {{ client_name_scored(
            'resolved.client_id_resolved', 'resolved.client_name_normalised', 'clients.client_name_canonical'
        ) }} as client_name_scored,
        case
            when resolved.client_id_resolved is null
                and resolved.client_name_normalised = split_part(resolved.client_name_normalised, ' ', 1)
                and length(resolved.client_name_normalised) >= 3
                then resolved.client_name_normalised
        end as client_name_word
    from resolved
    left join clients
        on resolved.client_id_resolved = clients.client_id
)

select * from final
