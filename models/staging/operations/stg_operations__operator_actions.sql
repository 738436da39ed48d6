with

source as (
    select * from {{ source('raw_operations', 'operator_actions') }}
),

renamed as (
    select
        source.seq as action_seq,
        source.action_id,
        source.exception_id,
        source.action,
        source.actor,
        source.login,
        source.actor = 'pipeline' as is_pipeline_event,
        -- When the action takes effect on the exception's timeline: the run's business clock
        -- (RECON_AS_OF in a replay), recorded beside the real time; older entries have only acted_at.
        {{ recon_at_utc("cast(coalesce(source.effective_at, source.acted_at) as timestamp)") }} as acted_at,
        {{ recon_at_utc("cast(source.acted_at as timestamp)") }} as recorded_at,
        source.reason_code,
        source.comment,
        case when source.action = 'adjust' then cast(source.amount as decimal(18, 4)) end as adjustment_amount,
        -- What a resolution accepted: the exception's value at risk when it was resolved and its
        -- currency (the store records them; older resolutions have none). A later run that
        -- finds more at risk, or another currency, reopens it (int_exception_outgrown_resolutions).
        case when source.action = 'resolve' then cast(source.amount as decimal(18, 4)) end as resolved_at_risk,
        case when source.action = 'resolve' and source.amount is not null then source.target end as resolved_currency,
        source.amount_text,
        source.copy_problem,
        source.target,
        {{ recon_json_text('source.state_before', 'status') }} as status_before,
        {{ recon_json_text('source.state_after', 'status') }} as status_after,
        {{ recon_json_text('source.state_after', 'owner_team') }} as owner_team_after,
        {{ recon_json_text('source.state_after', 'claimed_by') }} as claimed_by_after,
        {{ recon_json_text('source.state_after', 'escalated_to') }} as escalated_to_after,
        source.state_before,
        source.state_after,
        source.entry_hash
    from source
)

select * from renamed
