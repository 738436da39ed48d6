-- Every version of every exception in force, from the snapshot of the exception mart: one
-- row per change, a closing version (dbt_is_deleted) when the break stopped being found,
-- and a new version when it came back. The lifecycle, the history and the outgrown
-- resolutions all read the snapshot through this model, so they agree on what a version is.
with

in_force as (
    select
        snapshot.*,
        coalesce(cast(snapshot.dbt_is_deleted as string) = 'True', false) as is_gone,
        {{ recon_at_utc("snapshot.dbt_valid_from") }} as version_from
    from {{ ref('snap_reconciliation_exceptions') }} as snapshot
    -- A version replaced at the instant it began (two runs pinned to one RECON_AS_OF) was
    -- never in force; kept, it repeated that instant's event (and its event_id) in the history.
    where snapshot.dbt_valid_to is null or snapshot.dbt_valid_to > snapshot.dbt_valid_from
),

marked as (
    select
        in_force.*,
        -- null for the first version of an exception
        lag(in_force.is_gone) over by_exception as was_gone,
        row_number() over (partition by in_force.exception_id order by in_force.version_from desc) as recency
    from in_force
    window by_exception as (partition by in_force.exception_id order by in_force.version_from)
)

select
    marked.*,
    not marked.is_gone and coalesce(marked.was_gone, false) as came_back,
    -- The stretch of the exception's life since it last came back (0 before any return).
    sum(case when not marked.is_gone and coalesce(marked.was_gone, false) then 1 else 0 end) over (
        partition by marked.exception_id order by marked.version_from rows between unbounded preceding and current row
    ) as stretch
from marked
