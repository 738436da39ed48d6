-- A CRM lead whose e-mail address an earlier lead of the same person already has, from
-- at most var duplicate_lead_window_days before: the CRM holds the person twice. Raised
-- on the later lead; the first stays the record. Later than that it is a returning
-- contact's new enquiry, not a duplicate.
-- The same person: the names agree (Jaro–Winkler ≥ 0.9) or one is missing; a shared
-- mailbox (info@, two people) is not a duplicate. For the same client: one person
-- enquiring with two of the agency's clients is a lead of each.
select
    'duplicate_lead' as exception_type,
    'stg_crm__leads' as record_entity,
    leads.lead_id as record_id,
    leads.full_name as client_name,
    cast(null as varchar) as currency,
    cast(null as decimal(18, 4)) as amount_at_risk,
    cast(null as decimal(18, 4)) as amount_at_risk_reporting,
    cast(leads.created_at as date) as due_date
from {{ ref('stg_crm__leads') }} as leads
where leads.email_normalised is not null
    and exists (
        select 1
        from {{ ref('stg_crm__leads') }} as earlier
        where earlier.email_normalised = leads.email_normalised
            and (earlier.created_at < leads.created_at
                or (earlier.created_at = leads.created_at and earlier.lead_id < leads.lead_id))
            and earlier.created_at >= leads.created_at - to_days({{ var('duplicate_lead_window_days') | int }})
            and (earlier.client_id is null or leads.client_id is null or earlier.client_id = leads.client_id)
            and (
                earlier.full_name_normalised is null
                or leads.full_name_normalised is null
                or jaro_winkler_similarity(earlier.full_name_normalised, leads.full_name_normalised) >= 0.9
            )
    )
