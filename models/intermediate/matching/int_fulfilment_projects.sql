-- One row per fulfilment project: the value of its deliverables (all, and completed
-- only), the order reference any of its tasks carries, and the client as the project
-- tool names it. Projects are what orders are matched to; deliverables follow them.
with

deliverables as (
    select * from {{ ref('stg_fulfilment__deliverables') }}
),

projects as (
    select
        deliverables.project_id,
        min(deliverables.project_name) as project_name,
        max(deliverables.order_ref_normalised) as order_ref_normalised,
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
    group by deliverables.project_id
)

select * from projects
