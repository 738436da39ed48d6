-- One row per exception ever raised: where it stands now. Detection (this run's marts,
-- through the snapshot) and operator actions (the action log) fold into one status:
--   resolved       an operator resolved it with a reason code (and it has not come back since);
--   auto_resolved  later data reconciled it: the break is no longer found;
--   claimed / open otherwise, by the operator's last claim or release.
-- Age and SLA count from the break's business date plus its source's grace window, or a
-- correction by hand it was born of (int_exception_sightings.business_due_at), or from the
-- first sighting if that is sooner.
-- Time to resolution counts from the first sighting (or the reopening) to the close.
-- A break that comes back after it was closed is reopened: its SLA restarts and earlier
-- operator work no longer decides its status. So is a resolved break found later with more
-- at risk than the resolution accepted (int_exception_outgrown_resolutions). Past its SLA an open exception is breached
-- and escalated to the severity's target (seed severity_policy), unless an operator
-- escalated it already.
with

outgrown as (
    -- Resolutions the break outgrew (more at risk than accepted, or another currency). Those
    -- made since it last came back decide the current episode; a return reopens on its own.
    select
        exception_id,
        count(*) as outgrown_count,
        max(case when is_current_stretch then reopened_at end) as last_outgrown_at,
        max(case when is_current_stretch then resolution_seq end) as outgrown_resolution_seq,
        -- The episode starts after the store's reopen of it, or after the resolution while
        -- the store has not mirrored it yet (found by this run).
        max(case when is_current_stretch then coalesce(reopen_seq, resolution_seq) end) as outgrown_after_seq
    from {{ ref('int_exception_outgrown_resolutions') }}
    group by exception_id
),

lifecycle as (
    -- The current episode starts at the latest reopening: when the break came back, or when
    -- it outgrew its resolution, whichever is later. Both count as reopenings.
    select
        {{ recon_star_exclude('lifecycle', ['reopen_count', 'last_reopened_at']) }},
        lifecycle.last_reopened_at as came_back_at,
        lifecycle.reopen_count + coalesce(outgrown.outgrown_count, 0) as reopen_count,
        case
            when outgrown.last_outgrown_at is not null then outgrown.last_outgrown_at
            else lifecycle.last_reopened_at
        end as last_reopened_at,
        case
            when outgrown.last_outgrown_at is not null then 'amount_grew'
            when lifecycle.last_reopened_at is not null then 'came_back'
        end as reopened_because,
        outgrown.outgrown_resolution_seq,
        outgrown.outgrown_after_seq
    from {{ ref('int_exception_lifecycle') }} as lifecycle
    left join outgrown
        on lifecycle.exception_id = outgrown.exception_id
),

sightings as (
    select * from {{ ref('int_exception_sightings') }}
),

actions as (
    select * from {{ ref('stg_operations__operator_actions') }}
),

as_of as (
    select {{ recon_as_of() }} as as_of_at
),

operator_actions as (
    -- Work done in the exception's current episode (since it last came back, and after the
    -- resolution it outgrew). Pipeline events in the log mirror the lifecycle above and are
    -- not counted twice; a comment changes no state (its snapshot repeats the state it found).
    select actions.*
    from actions
    inner join lifecycle
        on actions.exception_id = lifecycle.exception_id
    where not actions.is_pipeline_event
        and actions.action != 'comment'
        and actions.acted_at >= coalesce(lifecycle.came_back_at, {{ recon_min_instant() }})
        and actions.action_seq > coalesce(lifecycle.outgrown_after_seq, -1)
),

reassignments as (
    -- The team an operator last gave the exception to, in any episode: a reopening does not
    -- give it back to the policy's team (the action store keeps it too).
    select
        exception_id,
        {{ recon_arg_max('target', 'action_seq') }} as reassigned_to
    from actions
    where action = 'reassign' and not is_pipeline_event
    group by exception_id
),

operator_state as (
    select
        exception_id,
        {{ recon_arg_max('status_after', 'action_seq') }} as status_after,
        {{ recon_arg_max('claimed_by_after', 'action_seq') }} as claimed_by,
        -- Only an escalate action escalates by hand: the snapshot an action records also
        -- carries the automatic escalation of a breached SLA, which lapses on closing.
        {{ recon_arg_max('escalated_to_after', 'action_seq') }} filter (where action = 'escalate') as escalated_to_manually,
        max(acted_at) filter (where action = 'resolve') as resolved_at,
        {{ recon_arg_max('reason_code', 'action_seq') }} filter (where action = 'resolve') as resolution_code
    from operator_actions
    group by exception_id
),

all_actions as (
    -- Attempts and the last action count every episode: nothing is forgotten on reopen.
    select
        exception_id,
        count(*) filter (where action = 'claim') as attempts,
        count(*) as action_count,
        {{ recon_arg_max('action', 'action_seq') }} as last_action,
        {{ recon_arg_max('actor', 'action_seq') }} as last_actor,
        max(acted_at) as last_action_at
    from actions
    group by exception_id
),

folded as (
    select
        lifecycle.*,
        sightings.first_seen_at,
        sightings.last_seen_at,
        sightings.runs_seen,
        sightings.business_due_at,
        case
            when operator_state.status_after = 'resolved' then 'resolved'
            when not lifecycle.is_detected then 'auto_resolved'
            when operator_state.status_after = 'claimed' then 'claimed'
            else 'open'
        end as status,
        coalesce(reassignments.reassigned_to, lifecycle.owner_team) as current_owner_team,
        operator_state.claimed_by,
        operator_state.escalated_to_manually,
        operator_state.resolved_at,
        operator_state.resolution_code,
        coalesce(all_actions.attempts, 0) as attempts,
        coalesce(all_actions.action_count, 0) as action_count,
        all_actions.last_action,
        all_actions.last_actor,
        all_actions.last_action_at,
        -- Age counts from when the business expected the counterpart (business date plus
        -- grace), never later than the first sighting; a reopened break from its reopening.
        coalesce(
            lifecycle.last_reopened_at,
            least(sightings.first_seen_at, coalesce(sightings.business_due_at, sightings.first_seen_at))
        ) as aged_from,
        {{ dbt.dateadd('hour', 'lifecycle.sla_hours', "coalesce(lifecycle.last_reopened_at, least(sightings.first_seen_at, coalesce(sightings.business_due_at, sightings.first_seen_at)))") }}
            as sla_due_at,
        as_of.as_of_at
    from lifecycle
    inner join sightings
        on lifecycle.exception_id = sightings.exception_id
    cross join as_of
    left join operator_state
        on lifecycle.exception_id = operator_state.exception_id
    left join all_actions
        on lifecycle.exception_id = all_actions.exception_id
    left join reassignments
        on lifecycle.exception_id = reassignments.exception_id
),

final as (
    select
        folded.exception_id,
        folded.exception_type,
        folded.record_entity,
        folded.record_id,
        folded.client_name,
        folded.domain,
        folded.severity,
        folded.status,
        folded.status in ('resolved', 'auto_resolved') as is_closed,
        folded.current_owner_team as owner_team,
        folded.account_owner,
        case when folded.status = 'claimed' then folded.claimed_by end as claimed_by,
        folded.currency,
        folded.amount_at_risk,
        folded.amount_at_risk_reporting,
        '{{ recon_reporting_currency() }}' as reporting_currency,
        -- Whose value amount_at_risk_reporting is (int_exception_lifecycle): this run's, or,
        -- closed, the last run's that found it; null when that run reported in another currency.
        folded.reporting_value_basis,
        folded.first_seen_at,
        folded.last_seen_at,
        folded.runs_seen,
        folded.is_detected,
        folded.reopen_count,
        folded.last_reopened_at,
        folded.reopened_because,
        folded.outgrown_resolution_seq,
        case when folded.status = 'auto_resolved' then folded.auto_resolved_at end as auto_resolved_at,
        -- A resolution taken back by a person (reopen, resolved_in_error) no longer stands.
        case when folded.status = 'resolved' then folded.resolved_at end as resolved_at,
        case when folded.status = 'resolved' then folded.resolution_code end as resolution_code,
        cast(folded.aged_from as {{ recon_instant_type() }}) as aged_from,
        cast(folded.business_due_at as {{ recon_instant_type() }}) as business_due_at,
        cast(folded.sla_hours as integer) as sla_hours,
        cast(folded.sla_due_at as {{ recon_instant_type() }}) as sla_due_at,
        folded.status in ('open', 'claimed') and folded.sla_due_at < folded.as_of_at as is_breached,
        coalesce(
            folded.escalated_to_manually,
            case when folded.status in ('open', 'claimed') and folded.sla_due_at < folded.as_of_at then folded.escalate_to end
        ) as escalated_to,
        round(
            {{ recon_date_diff('second', 'folded.aged_from', 'case
                    when folded.status = \'resolved\' then folded.resolved_at
                    when folded.status = \'auto_resolved\' then folded.auto_resolved_at
                    else folded.as_of_at
                end') }} / cast(3600 as double),
            1
        ) as age_hours,
        -- Time to resolution counts from detection, not from the business date: how long the
        -- break was in front of operators (its episode's first sighting) before it closed.
        case
            when folded.status in ('resolved', 'auto_resolved') then round(
                greatest(
                    {{ recon_date_diff('second', 'coalesce(folded.last_reopened_at, folded.first_seen_at)', 'case
                            when folded.status = \'resolved\' then folded.resolved_at
                            else folded.auto_resolved_at
                        end') }},
                    0
                ) / cast(3600 as double),
                1
            )
        end as hours_to_resolution,
        folded.attempts,
        folded.action_count,
        folded.last_action,
        folded.last_actor,
        folded.last_action_at,
        folded.as_of_at as state_as_of,
        {{ recon_run_id() }} as dagster_run_id
    from folded
)

select * from final
