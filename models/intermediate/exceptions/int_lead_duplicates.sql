-- A CRM lead that holds again a person an earlier lead already holds: raised on the later
-- lead; the first stays the record.
-- The same person: the same address (letters and digits: a lost dot is the same mailbox),
-- and names that agree (Jaro–Winkler ≥ 0.9, one of them missing, or the same surname with
-- one name a surname alone or an initial: "A. Dubois" is "Amélie Dubois").
--   * For the same client, within var duplicate_lead_window_days; a lead typed in with no
--     address counts when its name and client agree.
--   * When either lead has no client, only within var duplicate_lead_unassigned_window_days:
--     an address under no client is often a contact of another enquiry altogether.
-- Not a duplicate: a later lead created by a form submission of its own (matched to it,
-- submitted after the earlier lead existed, and not matched to the earlier lead too). That
-- is the person enquiring again. One submission stored as two leads is a duplicate.
-- A shared mailbox (info@, two people) is not a duplicate (the names disagree).
with

leads as (
    select
        lead_id,
        full_name,
        full_name_normalised,
        email_letters,
        client_id,
        created_at,
        {{ recon_list_last(recon_string_split('full_name_normalised', "' '")) }} as surname,
        {{ recon_list_length(recon_string_split('full_name_normalised', "' '")) }} as name_words
    from {{ ref('stg_crm__leads') }}
),

submission_links as (
    select decisions.left_key as lead_id, decisions.right_key as submission_id, forms.submitted_at
    from {{ ref('int_lead_forms_leads__decisions') }} as decisions
    inner join {{ ref('stg_ads__lead_forms') }} as forms
        on decisions.right_key = forms.submission_id
    where decisions.decision = 'matched'
),

without_address as (
    select * from leads where leads.email_letters is null
),

candidate_pairs as (
    -- Joined on equal keys (hash joins, never every lead of a client against every other):
    -- the same client and address; the same client where one of the two has no address;
    -- the same address where a client is missing.
    {%- set window = bounded_var('duplicate_lead_window_days', 0, 3650, integer=true) %}
    {%- set unassigned = bounded_var('duplicate_lead_unassigned_window_days', 0, 3650, integer=true) %}
    {%- set branches = [
        ('leads', 'leads', 'earlier.client_id = later.client_id and earlier.email_letters = later.email_letters', window, 'true'),
        ('without_address', 'leads', 'earlier.client_id = later.client_id', window, 'true'),
        ('leads', 'without_address', 'earlier.client_id = later.client_id', window, 'later.email_letters is not null'),
        ('leads', 'leads', 'earlier.email_letters = later.email_letters', unassigned,
            '(earlier.client_id is null or later.client_id is null)'),
    ] %}
    {%- for later_from, earlier_from, keys, days, condition in branches %}
    select later.*, earlier.lead_id as earlier_lead_id, earlier.created_at as earlier_created_at,
        earlier.full_name_normalised as earlier_name, earlier.surname as earlier_surname,
        earlier.name_words as earlier_name_words
    from {{ later_from }} as later
    inner join {{ earlier_from }} as earlier
        on {{ keys }}
        and earlier.created_at >= later.created_at - {{ recon_days_interval(days) }}
    where {{ condition }}
        and (earlier.created_at < later.created_at
            or (earlier.created_at = later.created_at and earlier.lead_id < later.lead_id))
    {{ "union all" if not loop.last }}
    {%- endfor %}
),

same_person as (
    select
        candidate_pairs.lead_id,
        candidate_pairs.full_name,
        candidate_pairs.created_at,
        candidate_pairs.earlier_lead_id,
        candidate_pairs.earlier_created_at
    from candidate_pairs
    where candidate_pairs.earlier_name is null
        or candidate_pairs.full_name_normalised is null
        or {{ recon_string_similarity('candidate_pairs.earlier_name', 'candidate_pairs.full_name_normalised') }} >= 0.9
        or (candidate_pairs.earlier_surname = candidate_pairs.surname
            and (candidate_pairs.earlier_name_words = 1 or candidate_pairs.name_words = 1
                or left(candidate_pairs.earlier_name, 1) = left(candidate_pairs.full_name_normalised, 1)))
),

unshared_submissions as (
    -- A submission of the later lead's own, made when the earlier lead already existed,
    -- that the CRM did not also store as the earlier lead (read by `duplicates` below; a
    -- CTE, as Spark correlates a subquery with its immediate outer query only).
    select distinct same_person.lead_id, same_person.earlier_lead_id, same_person.earlier_created_at
    from same_person
    inner join submission_links as own
        on own.lead_id = same_person.lead_id
        and own.submitted_at > same_person.earlier_created_at
    where not exists (
        select 1
        from submission_links as shared
        where shared.submission_id = own.submission_id
            and shared.lead_id = same_person.earlier_lead_id
    )
),

duplicates as (
    select distinct same_person.lead_id, same_person.full_name, same_person.created_at
    from same_person
    where exists (
            -- one submission the CRM stored as both leads
            select 1
            from submission_links as own
            inner join submission_links as shared
                on own.submission_id = shared.submission_id
            where own.lead_id = same_person.lead_id
                and shared.lead_id = same_person.earlier_lead_id
        )
        or not exists (
            -- a submission of its own, made when the earlier lead already existed
            select 1
            from unshared_submissions
            where unshared_submissions.lead_id = same_person.lead_id
                and unshared_submissions.earlier_lead_id is not distinct from same_person.earlier_lead_id
                and unshared_submissions.earlier_created_at is not distinct from same_person.earlier_created_at
        )
)

select
    'duplicate_lead' as exception_type,
    'stg_crm__leads' as record_entity,
    duplicates.lead_id as record_id,
    duplicates.full_name as client_name,
    cast(null as string) as currency,
    cast(null as decimal(18, 4)) as amount_at_risk,
    cast(null as decimal(18, 4)) as amount_at_risk_reporting,
    cast(duplicates.created_at as date) as due_date
from duplicates
