-- Resolutions the break outgrew. An operator resolves an exception at the value at risk the
-- action store recorded with the resolution, in its currency (what was accepted: a variance
-- of 100 EUR the client agreed to). The resolution covers the break as it was then, so when
-- a version of the break in force since then, before the exception was resolved again or
-- stopped being found, holds more at risk than that (by more than the larger of var
-- amount_tolerance_abs and var amount_tolerance_rel of it), the opposite sign (billed over
-- where it was billed short) or another currency, the exception reopens
-- (fct_exception_current, fct_exception_history; the action store appends the same reopen).
-- An exception's id is its type and record, so without this a variance of 100 resolved as
-- agreed would stay resolved at 10,000.
-- The versions compared start with the one in force when the operator resolved, which a run
-- under way may have written after the catalog the operator read: that resolution accepted
-- the older value. It reopens at the store's pipeline reopen, or now if the store has not
-- mirrored it yet (this run finds it first; the catalog refresh after it appends the reopen).
with

versions as (
    -- stretch: a resolution covers only the stretch of the exception's life it was made in;
    -- a return reopens on its own.
    select exception_id, version_from, is_gone, amount_at_risk, currency, stretch
    from {{ ref('int_exception_versions') }}
),

actions as (
    select * from {{ ref('stg_operations__operator_actions') }}
),

resolutions as (
    -- Every operator resolution, with the next one's log entry and time. Only those that
    -- recorded what they accepted can be outgrown (older entries have no value).
    select
        exception_id,
        action_seq,
        acted_at as resolved_at,
        resolved_at_risk,
        resolved_currency,
        lead(action_seq) over (partition by exception_id order by action_seq) as next_seq,
        lead(acted_at) over (partition by exception_id order by action_seq) as next_resolved_at
    from actions
    where action = 'resolve' and not is_pipeline_event
),

placed as (
    -- The version in force when each resolution was made: where the comparison starts.
    select
        resolutions.exception_id,
        resolutions.action_seq,
        max(versions.version_from) as seen_from
    from resolutions
    inner join versions
        on resolutions.exception_id = versions.exception_id
        and versions.version_from <= resolutions.resolved_at
    where resolutions.resolved_at_risk is not null
    group by resolutions.exception_id, resolutions.action_seq
),

placed_resolutions as (
    select
        resolutions.*,
        placed.seen_from,
        versions.stretch
    from placed
    inner join resolutions
        on placed.exception_id = resolutions.exception_id
        and placed.action_seq = resolutions.action_seq
    inner join versions
        on placed.exception_id = versions.exception_id
        and placed.seen_from = versions.version_from
),

outgrowing as (
    -- The first version since the resolution that it no longer covers.
    select
        placed_resolutions.exception_id,
        placed_resolutions.action_seq,
        min(versions.version_from) as outgrown_from
    from placed_resolutions
    inner join versions
        on placed_resolutions.exception_id = versions.exception_id
        and versions.stretch = placed_resolutions.stretch
        and not versions.is_gone
        and versions.version_from >= placed_resolutions.seen_from
        -- A resolution made at the very time of the run that outgrew the one before (a replay
        -- pins both to one instant) comes after that reopening.
        and (placed_resolutions.next_resolved_at is null or versions.version_from <= placed_resolutions.next_resolved_at)
    where coalesce(versions.currency, '') != coalesce(placed_resolutions.resolved_currency, '')
        or (versions.amount_at_risk < 0) != (placed_resolutions.resolved_at_risk < 0)
            and versions.amount_at_risk != 0 and placed_resolutions.resolved_at_risk != 0
        or abs(versions.amount_at_risk) > abs(placed_resolutions.resolved_at_risk) + greatest(
            {{ bounded_var('amount_tolerance_abs', 0, 1000000) }},
            {{ bounded_var('amount_tolerance_rel', 0, 1) }} * abs(placed_resolutions.resolved_at_risk)
        )
    group by placed_resolutions.exception_id, placed_resolutions.action_seq
),

pipeline_reopens as (
    select exception_id, action_seq, acted_at
    from actions
    where is_pipeline_event and action = 'reopen' and reason_code = 'amount_grew'
),

mirrored as (
    -- The store's reopen of each resolution (reason amount_grew): the first after it,
    -- before the next one.
    select
        placed_resolutions.exception_id,
        placed_resolutions.action_seq,
        min(pipeline_reopens.action_seq) as reopen_seq
    from placed_resolutions
    inner join pipeline_reopens
        on placed_resolutions.exception_id = pipeline_reopens.exception_id
        and pipeline_reopens.action_seq > placed_resolutions.action_seq
        and (placed_resolutions.next_seq is null or pipeline_reopens.action_seq < placed_resolutions.next_seq)
    group by placed_resolutions.exception_id, placed_resolutions.action_seq
),

latest as (
    -- Each exception's current stretch, and whether this run found it.
    select
        exception_id,
        max(stretch) as stretch,
        not {{ recon_arg_max('is_gone', 'version_from') }} as is_detected
    from versions
    group by exception_id
)

-- A resolution is outgrown once the store reopened it (its log decides, whatever the
-- versions or the tolerance say now), or when the versions outgrow it while the break is
-- found in the stretch it was made in: a break gone by the time a run could compare closes
-- as it is, resolved, in both folds.
select
    placed_resolutions.exception_id,
    placed_resolutions.action_seq as resolution_seq,
    placed_resolutions.resolved_at,
    placed_resolutions.resolved_at_risk,
    placed_resolutions.resolved_currency,
    -- Made since the break last came back: it decides the current episode.
    placed_resolutions.stretch = latest.stretch as is_current_stretch,
    mirrored.reopen_seq,
    coalesce(pipeline_reopens.acted_at, {{ recon_as_of() }}) as reopened_at,
    versions.amount_at_risk as outgrown_at_risk,
    versions.currency as outgrown_currency
from placed_resolutions
inner join latest
    on placed_resolutions.exception_id = latest.exception_id
left join outgrowing
    on placed_resolutions.exception_id = outgrowing.exception_id
    and placed_resolutions.action_seq = outgrowing.action_seq
left join versions
    on outgrowing.exception_id = versions.exception_id
    and outgrowing.outgrown_from = versions.version_from
left join mirrored
    on placed_resolutions.exception_id = mirrored.exception_id
    and placed_resolutions.action_seq = mirrored.action_seq
left join pipeline_reopens
    on mirrored.exception_id = pipeline_reopens.exception_id
    and mirrored.reopen_seq = pipeline_reopens.action_seq
where mirrored.reopen_seq is not null
    or (outgrowing.outgrown_from is not null and placed_resolutions.stretch = latest.stretch and latest.is_detected)
