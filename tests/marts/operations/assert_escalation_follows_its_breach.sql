-- An automatic escalation is numbered after the SLA breach that caused it, though both
-- carry the SLA due time: the history must read the same in every run.
select breach.exception_id, breach.event_number as breach_number, escalation.event_number as escalation_number
from {{ ref('fct_exception_history') }} as breach
inner join {{ ref('fct_exception_history') }} as escalation
    on breach.exception_id = escalation.exception_id
    and breach.event_at = escalation.event_at
where breach.event_type = 'sla_breached'
    and escalation.event_type = 'escalated'
    and escalation.actor = 'pipeline'
    and escalation.event_number < breach.event_number
