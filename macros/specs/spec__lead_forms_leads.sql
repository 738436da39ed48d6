{#- Reconciliation spec: ad-platform lead-form submissions ↔ CRM leads (commission disputes). -#}
{% macro spec__lead_forms_leads() %}
{% set spec_yaml %}
name: lead_forms_leads
rule_version: lead_forms_leads.v5
description: >
  Each form submission becomes at most one CRM lead; a lead submitted twice collects
  both submissions. The same e-mail and campaign match deterministically, then the same
  e-mail alone (the CRM credited another campaign: an attribution mismatch), then a later
  submission by a known e-mail (merged into the older lead of the client whose campaign
  took it, else the one older lead with that e-mail). The lead may be created days after
  the submission (a CRM that imports lead forms in batches). The rest
  are scored on name, e-mail similarity, campaign and timing.
left:
  model: stg_crm__leads
  key: lead_id
  columns:
    email: email_normalised
    email_letters: email_letters
    # Words in order: "Bauer Viktor" (a CRM's "last, first") is "Viktor Bauer".
    name: {{ recon_list_join(recon_list_sort(recon_string_split('full_name_normalised', "' '")), "' '") | tojson }}
    campaign: campaign_id
    client: client_id
    date: cast(created_at as date)
right:
  model: int_lead_form_submissions
  key: submission_id
  columns:
    email: email_normalised
    email_letters: email_letters
    name: {{ recon_list_join(recon_list_sort(recon_string_split('full_name_normalised', "' '")), "' '") | tojson }}
    campaign: campaign_id
    client: campaign_client_id
    date: cast(submitted_at as date)
# Dates compare the submission with the lead: a lead is created from a week before (the
# person was known) to two weeks after (a CRM that imports lead forms in batches).
deterministic:
  # A submission the CRM stored as two leads (same e-mail, near in time) belongs to both:
  # it is linked to each, and the pair of leads is a duplicate-lead exception.
  - name: email_and_campaign
    fields: [email, campaign]
    window_days: {min: -14, max: 7}
    ties: match_all
    nearest_per_left: true
  - name: email_only
    fields: [email]
    confirm: {field: name, min_similarity: 0.85}
    window_days: {min: -14, max: 7}
    ties: match_all
    nearest_per_left: true
  # An address typed with a dot or an @ lost or doubled, the name confirming.
  - name: email_letters_and_name
    fields: [email_letters]
    confirm: {field: name, min_similarity: 0.85}
    window_days: {min: -14, max: 7}
    ties: match_all
    nearest_per_left: true
  # A repeat submission by someone the CRM already knows is merged into the older lead
  # with the same e-mail (CRMs de-duplicate on e-mail), however long ago it was created:
  # the lead of the client whose campaign took it when the person is known to several,
  # else the only older lead with that e-mail (two make it ambiguous).
  - name: email_repeat_submission
    fields: [email, client]
    window_days: {min: 0, max: 730}
  - name: email_repeat_any_client
    fields: [email]
    window_days: {min: 0, max: 730}
blocking:
  window_days: {min: -14, max: 7}
  max_candidates_per_record: 50
  keys:
    - {name: name_prefix, field: name, method: prefix, length: 6}
comparisons:
  - field: email
    method: similarity
    levels: [{name: exact, min: 1.0}, {name: high, min: 0.92}, {name: low}]
  - field: name
    method: similarity
    levels: [{name: exact, min: 1.0}, {name: high, min: 0.9}, {name: low}]
  - field: campaign
    method: exact
    levels: [{name: same}, {name: different}]
  - field: date
    method: days_between
    levels: [{name: same_day, min: 0, max: 0}, {name: within_window, min: -14, max: 7}, {name: far}]
thresholds:
  prior_match_probability: 0.025
  auto_match: 0.95
  review: 0.5
  ambiguity_margin: 3.0
assignment:
  rounds: 2
  top_k: 3
{% endset %}
{{ return(fromyaml(spec_yaml)) }}
{% endmacro %}
