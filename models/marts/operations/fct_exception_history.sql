-- Every event in every exception's life, in order: what the pipeline saw (detected,
-- changed, auto_resolved, reopened — from the snapshot of the exception mart — and a
-- reopening, reason amount_grew, when a resolution no longer covers the break), the SLA
-- breach and automatic escalation, and every operator action with its reason and the
-- state before and after. `recon exceptions show` prints the same trail from the store.
with

versions as (
    select
        exception_id,
        version_from as event_at,
        is_gone,
        was_gone,
        amount_at_risk,
        owner_team,
        severity
    from {{ ref('int_exception_versions') }}
),

pipeline_events as (
    select
        versions.exception_id,
        versions.event_at,
        case
            when versions.was_gone is null then 'detected'
            when versions.is_gone then 'auto_resolved'
            when versions.was_gone then 'reopened'
            else 'changed'
        end as event_type,
        'pipeline' as actor,
        cast(null as string) as reason_code,
        cast(null as string) as comment,
        versions.amount_at_risk as amount,
        case when not versions.is_gone then versions.owner_team end as target,
        cast(null as string) as status_before,
        cast(null as string) as status_after,
        cast(null as bigint) as action_seq
    from versions
),

outgrown_events as (
    -- An operator's resolution the break outgrew reopens it: more at risk than it accepted,
    -- or another currency (the amount is what was then at risk).
    select
        outgrown.exception_id,
        outgrown.reopened_at as event_at,
        'reopened' as event_type,
        'pipeline' as actor,
        'amount_grew' as reason_code,
        cast(null as string) as comment,
        outgrown.outgrown_at_risk as amount,
        cast(null as string) as target,
        cast(null as string) as status_before,
        cast(null as string) as status_after,
        cast(null as bigint) as action_seq
    from {{ ref('int_exception_outgrown_resolutions') }} as outgrown
),

current_state as (
    select * from {{ ref('fct_exception_current') }}
),

breaches as (
    -- Exceptions that went past their SLA while still open: open or claimed now
    -- (is_breached), or closed after the SLA was due. A breach is history: an exception
    -- auto-resolved or resolved late keeps its breach and escalation (they were the
    -- current state's only, so closing one erased them, and a team's late work read as
    -- never late). The SLA is the current episode's (a reopening restarts it).
    select
        current_state.exception_id,
        current_state.sla_due_at,
        current_state.owner_team,
        -- The severity's escalation target, as when it was open (the current state's
        -- escalated_to names it only while open, or an operator's escalation).
        coalesce(current_state.escalated_to, lifecycle.escalate_to) as escalated_to
    from current_state
    left join {{ ref('int_exception_lifecycle') }} as lifecycle
        on current_state.exception_id = lifecycle.exception_id
    where current_state.is_breached
        or (
            current_state.is_closed
            and current_state.sla_due_at < coalesce(current_state.resolved_at, current_state.auto_resolved_at)
        )
),

sla_events as (
    -- The moment an exception went past its SLA while still open, and the escalation
    -- that followed automatically (unless an operator had escalated it already).
    select
        breaches.exception_id,
        breaches.sla_due_at as event_at,
        breach.event_type,
        'pipeline' as actor,
        cast(null as string) as reason_code,
        cast(null as string) as comment,
        cast(null as decimal(18, 4)) as amount,
        breach.target,
        cast(null as string) as status_before,
        cast(null as string) as status_after,
        cast(null as bigint) as action_seq
    from breaches
    cross join lateral (
        select 'sla_breached' as event_type, breaches.owner_team as target
        union all
        select 'escalated', breaches.escalated_to
    ) as breach
    where breach.event_type = 'sla_breached' or breach.target is not null
),

operator_events as (
    -- Pipeline events in the action log (auto_resolve, reopen) mirror the snapshot's and
    -- are listed once, from the snapshot.
    select
        actions.exception_id,
        actions.acted_at as event_at,
        actions.action as event_type,
        actions.actor,
        actions.reason_code,
        actions.comment,
        coalesce(actions.adjustment_amount, actions.resolved_at_risk) as amount,
        actions.target,
        actions.status_before,
        actions.status_after,
        actions.action_seq
    from {{ ref('stg_operations__operator_actions') }} as actions
    where not actions.is_pipeline_event
),

events as (
    select *, 1 as source_order from pipeline_events
    union all
    select *, 1 from outgrown_events
    union all
    select *, 2 from operator_events
    union all
    select *, 3 from sla_events
)

select
    md5(events.exception_id || '|' || events.event_type || '|' || {{ recon_instant_text('events.event_at') }}
        || '|' || coalesce(cast(events.action_seq as string), '')) as event_id,
    events.exception_id,
    -- (Cast: Spark's row_number is an int, DuckDB's a bigint.)
    cast(row_number() over (
        partition by events.exception_id
        -- A breach and its escalation share one instant (the SLA due time): the breach
        -- comes first, and the order is total so every run numbers events the same way.
        order by
            events.event_at,
            events.source_order,
            events.action_seq,
            case events.event_type when 'sla_breached' then 0 else 1 end,
            events.event_type
    ) as bigint) as event_number,
    events.event_at,
    events.event_type,
    events.actor,
    events.reason_code,
    events.comment,
    events.amount,
    events.target,
    events.status_before,
    events.status_after,
    events.action_seq
from events
