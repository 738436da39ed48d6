-- The links operators made or broke by hand (`recon exceptions match` / `unmatch`), as
-- the matching engine reads them: per reconciliation and pair, the operator's last word.
-- A match is the engine's first pass (pass_name 'operator', rule_version 'operator:<action
-- id>'); an unmatch forbids the pair to every pass. Each action's target is the JSON
-- {"reconciliation", "left": [keys], "right": [keys]} the action store checked and chained,
-- with "left_fingerprints" / "right_fingerprints": each record as the published copy showed
-- it to the operator (fct_reconciliation_records.record_fingerprint; null in links made
-- before fingerprints, which never lapse). A match that waits for a checker (its target's
-- "awaits_approval") is read only once approved, at the approval's seq (docs/exceptions.md).
--
-- Where a right record belongs to one left record only (no many-to-one group and no pass
-- that ties it to several: a campaign runs for one insertion order), an operator's later
-- match of it to another left record moves it: the earlier matches of that right record
-- are dropped (neither forced nor forbidden), so its spend or work is never counted for
-- two orders. Elsewhere (an invoice item billing two orders) the links add up, and the
-- money is split (int_order_invoice_matches).
{%- set moving = [] %}
{%- for name in var('reconciliations') %}
    {%- set spec = recon_spec(name) %}
    {%- set shares = (spec.get('groups') or []) | selectattr('direction', 'equalto', 'many_to_one') | list
        or spec.deterministic | selectattr('ties', 'defined') | selectattr('ties', 'equalto', 'match_all') | list %}
    {%- if not shares %}{% do moving.append(name) %}{% endif %}
{%- endfor %}
{#- A credit note credits one order (int_credit_note_assignments): a later link moves it. #}
{%- do moving.append('credit_notes') %}
with

actions as (
    select * from {{ ref('stg_operations__operator_actions') }}
    where action in ('match', 'unmatch')
),

verdicts as (
    -- A match that waited for a checker (maker–checker: its target names "awaits_approval",
    -- an LNK- id) applies only once a different approver approved that id on its exception,
    -- and from then: its place among the pair's words is the approval's. A rejected one, or
    -- one still waiting, is no word at all.
    select exception_id, target as approval_id, action as verdict, action_seq as verdict_seq
    from {{ ref('stg_operations__operator_actions') }}
    where action in ('approve', 'reject') and target like 'LNK-%'
),

checked as (
    select
        actions.*,
        {{ recon_json_text('actions.target', 'awaits_approval') }} as awaits_approval
    from actions
),

applied as (
    select
        coalesce(verdicts.verdict_seq, checked.action_seq) as action_seq,
        checked.action_id,
        checked.action,
        checked.actor,
        checked.acted_at,
        checked.reason_code,
        checked.target
    from checked
    left join verdicts
        on checked.exception_id = verdicts.exception_id
        and checked.awaits_approval = verdicts.approval_id
    where checked.awaits_approval is null or verdicts.verdict = 'approve'
),

targets as (
    select
        actions.action_seq,
        actions.action_id,
        actions.action,
        actions.actor,
        actions.acted_at,
        actions.reason_code,
        {{ recon_json_text('actions.target', 'reconciliation') }} as reconciliation,
        {{ recon_json_text_list('actions.target', 'left') }} as left_keys,
        {{ recon_json_text_list('actions.target', 'right') }} as right_keys,
        {{ recon_json_text_list('actions.target', 'left_fingerprints') }} as left_fingerprints,
        {{ recon_json_text_list('actions.target', 'right_fingerprints') }} as right_fingerprints
    from applied as actions
),

pairs as (
    select
        {{ recon_star_exclude('targets', ['left_keys', 'left_fingerprints']) }},
        -- Side by side: the n-th fingerprint is the n-th key's (null when absent).
        {{ recon_unnest_zip(['targets.left_keys', 'targets.left_fingerprints'], ['left_key', 'left_fingerprint']) }}
    from targets
),

expanded as (
    select
        {{ recon_star_exclude('pairs', ['right_keys', 'right_fingerprints']) }},
        {{ recon_unnest_zip(['pairs.right_keys', 'pairs.right_fingerprints'], ['right_key', 'right_fingerprint']) }}
    from pairs
),

latest as (
    {{ recon_qualify('*', 'from expanded', 'row_number() over (
        partition by expanded.reconciliation, expanded.left_key, expanded.right_key
        order by expanded.action_seq desc
    ) = 1') }}
),

moved as (
    -- The last match of each right record that belongs to one left record only, ever: an
    -- unmatch of that last link leaves the record to the rules, and never brings back the
    -- link it had moved (read from the pairs' latest words, an unmatch of bob's link to O2
    -- revived alice's earlier link to O1, which bob's had moved, in the engine while the
    -- action store called it moved).
    select expanded.reconciliation, expanded.right_key, max(expanded.action_seq) as last_match_seq
    from expanded
    where expanded.action = 'match'
        and expanded.reconciliation in ({% for name in moving %}'{{ name }}', {% endfor %}'')
    group by expanded.reconciliation, expanded.right_key
)

select
    latest.reconciliation,
    latest.left_key,
    latest.right_key,
    latest.action = 'match' as is_linked,
    latest.left_fingerprint,
    latest.right_fingerprint,
    latest.action_id,
    latest.action_seq,
    latest.actor,
    latest.acted_at,
    latest.reason_code
from latest
left join moved
    on latest.reconciliation = moved.reconciliation
    and latest.right_key = moved.right_key
where not (latest.action = 'match' and coalesce(latest.action_seq < moved.last_match_seq, false))
