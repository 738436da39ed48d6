-- Resolutions the break outgrew. An operator resolves an exception at the value at risk the
-- action store recorded with the resolution (what was accepted: a variance of 100 the client
-- agreed to). When a later run finds the same break with more at risk than that, by more than
-- var amount_tolerance_abs, before the exception was resolved again or stopped being found,
-- the resolution no longer covers it: the exception reopens at the first such version
-- (fct_exception_current, fct_exception_history; the action store appends the same reopen).
-- An exception's id is its type and record, so without this a variance of 100 resolved as
-- agreed would stay resolved at 10,000.
with

versions as (
    select
        exception_id,
        version_from,
        is_gone,
        amount_at_risk,
        -- The stretch of the exception's life since it last came back (0 before any return):
        -- a resolution covers only the stretch it was made in; a return reopens on its own.
        sum(case when came_back then 1 else 0 end) over (
            partition by exception_id order by version_from rows between unbounded preceding and current row
        ) as stretch
    from (
        select
            snapshot.exception_id,
            {{ recon_at_utc("snapshot.dbt_valid_from") }} as version_from,
            coalesce(cast(snapshot.dbt_is_deleted as string) = 'True', false) as is_gone,
            snapshot.amount_at_risk,
            not coalesce(cast(snapshot.dbt_is_deleted as string) = 'True', false)
                and coalesce(
                    lag(coalesce(cast(snapshot.dbt_is_deleted as string) = 'True', false)) over (
                        partition by snapshot.exception_id order by snapshot.dbt_valid_from
                    ),
                    false
                ) as came_back
        from {{ ref('snap_reconciliation_exceptions') }} as snapshot
    ) as marked
),

resolutions as (
    -- Operator resolutions that recorded what was at risk (entries before that was recorded
    -- have none and are never outgrown), each with the time of the next one.
    select
        exception_id,
        action_seq,
        acted_at as resolved_at,
        resolved_at_risk,
        lead(acted_at) over (partition by exception_id order by action_seq) as next_resolved_at
    from {{ ref('stg_operations__operator_actions') }}
    where action = 'resolve' and not is_pipeline_event
),

placed as (
    -- The stretch each resolution was made in: that of the latest version at or before it.
    select
        resolutions.exception_id,
        resolutions.action_seq,
        resolutions.resolved_at,
        resolutions.resolved_at_risk,
        resolutions.next_resolved_at,
        max(versions.stretch) as stretch
    from resolutions
    inner join versions
        on resolutions.exception_id = versions.exception_id
        and versions.version_from <= resolutions.resolved_at
    where resolutions.resolved_at_risk is not null
    group by
        resolutions.exception_id,
        resolutions.action_seq,
        resolutions.resolved_at,
        resolutions.resolved_at_risk,
        resolutions.next_resolved_at
),

outgrown as (
    select
        placed.exception_id,
        placed.action_seq as resolution_seq,
        placed.resolved_at,
        placed.resolved_at_risk,
        min(versions.version_from) as reopened_at
    from placed
    inner join versions
        on placed.exception_id = versions.exception_id
        and versions.stretch = placed.stretch
        and not versions.is_gone
        and versions.version_from > placed.resolved_at
        -- A resolution made at the very time of the run that outgrew the one before (a replay
        -- pins both to one instant) comes after that reopening.
        and (placed.next_resolved_at is null or versions.version_from <= placed.next_resolved_at)
        and abs(versions.amount_at_risk)
            > abs(placed.resolved_at_risk) + {{ bounded_var('amount_tolerance_abs', 0, 1000000) }}
    group by placed.exception_id, placed.action_seq, placed.resolved_at, placed.resolved_at_risk
)

select
    outgrown.exception_id,
    outgrown.resolution_seq,
    outgrown.resolved_at,
    outgrown.resolved_at_risk,
    outgrown.reopened_at,
    versions.amount_at_risk as reopened_at_risk
from outgrown
inner join versions
    on outgrown.exception_id = versions.exception_id
    and outgrown.reopened_at = versions.version_from
