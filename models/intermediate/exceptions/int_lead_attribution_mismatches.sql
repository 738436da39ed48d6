-- A lead matched to its form submission by e-mail only (or its letters) while the CRM credits another
-- campaign, one the person submitted no form through: the lead's attribution is wrong.
-- A CRM lead with no campaign credits none (nothing to correct, and in B and C most
-- leads have none), and a person who submitted through two campaigns, the CRM
-- crediting one of them, is attributed right.
select distinct
    'attribution_mismatch' as exception_type,
    'stg_crm__leads' as record_entity,
    lead_decisions.left_key as record_id,
    cast(null as string) as client_name,
    cast(null as string) as currency,
    cast(null as decimal(18, 4)) as amount_at_risk,
    cast(null as decimal(18, 4)) as amount_at_risk_reporting,
    cast(null as date) as due_date
from {{ ref('int_lead_forms_leads__decisions') }} as lead_decisions
inner join {{ ref('stg_crm__leads') }} as crm_leads
    on lead_decisions.left_key = crm_leads.lead_id
where lead_decisions.decision = 'matched'
    and lead_decisions.pass_name in ('email_only', 'email_letters_and_name')
    and crm_leads.campaign_id is not null
    and not exists (
        select 1
        from {{ ref('int_lead_forms_leads__decisions') }} as submitted
        inner join {{ ref('stg_ads__lead_forms') }} as forms
            on submitted.right_key = forms.submission_id
        where submitted.left_key = lead_decisions.left_key
            and submitted.decision = 'matched'
            and forms.campaign_id = crm_leads.campaign_id
    )
