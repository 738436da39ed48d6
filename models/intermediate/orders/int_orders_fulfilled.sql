-- The fulfilled leg of each content package or retainer: value of the deliverables of
-- the project the projects ↔ orders reconciliation matched to it, in the order currency:
-- completed (fulfilled_amount) and planned, completed or in progress (planned_amount).
with

matches as (
    select * from {{ ref('int_projects_orders__decisions') }}
    where decision = 'matched'
),

projects as (
    select * from {{ ref('int_fulfilment_projects') }}
),

orders as (
    select * from {{ ref('stg_crm__orders') }}
),

fulfilled as (
    select
        matches.left_key as order_id,
        count(*) as project_count,
        sum(projects.deliverable_count) as deliverable_count,
        sum(projects.completed_count) as completed_count,
        sum({{ convert_amount('projects.completed_value', 'project_rate.rate_to_usd', 'order_rate.rate_to_usd') }})
            as fulfilled_amount,
        -- What the projects plan to deliver, completed or not (cancelled work left out).
        sum({{ convert_amount('projects.planned_value', 'project_rate.rate_to_usd', 'order_rate.rate_to_usd') }})
            as planned_amount,
        max(projects.last_completed_date) as last_completed_date
    from matches
    inner join projects
        on matches.right_key = projects.project_id
    inner join orders
        on matches.left_key = orders.order_id
    {{ fx_rate_join('project_rate', 'projects.currency', 'orders.service_end_date') }}
    {{ fx_rate_join('order_rate', 'orders.currency', 'orders.service_end_date') }}
    group by matches.left_key
)

select * from fulfilled
