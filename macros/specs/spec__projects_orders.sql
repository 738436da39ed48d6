{#- Reconciliation spec: fulfilment projects ↔ CRM content packages and retainers.
    Deliverables follow their project to the order, and from the order to its invoices,
    which is how "completed but not billed" and "billed but not delivered" are found. -#}
{% macro spec__projects_orders() %}
{% set spec_yaml %}
name: projects_orders
# v8: a project name ending in a year ("Social 2026") names no order by the digits an OCR
# reading of the word before it gives (int_reference_mentions; orders_invoices.v17).
# v9: a project quoting an order's reference exactly is a candidate of that order (blocking
# key reference), when reference_exact does not confirm it: a project of "QH" whose
# deliverable of 1,496 was quarantined at load plans 4,204 of a 5,700 booking, so neither
# the name nor the amount confirms; no other key blocked it, so the order's work went
# unseen (an unbilled_order whose deliverables were completed).
rule_version: projects_orders.v9
description: >
  Each fulfilment project delivers one content package or retainer. Projects whose tasks
  quote the order reference (in the reference field or the project name) match
  deterministically; the rest are scored on client name, value against the booking and
  completion dates against the service period.
left:
  model: int_orders_resolved
  key: order_id
  where: "order_type in ('content_package', 'retainer')"
  columns:
    reference_key: order_reference_key
    reference: order_reference_key
    name: client_name_compared
    name_word: client_name_first_word
    # "ln" for Lindqvist and Nguyen: how a project tool's client field may abbreviate it.
    name_initials: {{ client_initials('client_name_compared') | tojson }}
    client_id: client_id
    currency: currency
    amount: booked_amount
    # The service period: a right date inside it is 0 days away (recon_date_gap).
    date: service_start_date
    date_end: service_end_date
right:
  model: int_fulfilment_projects
  key: project_id
  columns:
    # The order reference its tasks carry (reference field or project name, any shape).
    reference_key: order_ref_normalised
    reference: reference_compared
    # The client's canonical name; none for a one-word client field that names no one
    # client ("eastleigh", "k"): blocked on (name_word, amount), it is no name evidence.
    name: client_name_scored
    name_word: client_name_word
    # The client as the project tool's client field gives it, however short ("ln", "oakham").
    name_hint: client_name_normalised
    client_id: client_id_resolved
    currency: currency
    amount: planned_value
    date: first_completed_date
deterministic:
  - name: reference_exact
    fields: [reference_key]
    confirm:
      any_of:
        - {field: name, min_similarity: 0.75}
        - {field: client_id, equal: true}
        - {amount: {abs: 1.00, rel: 0.05}}
  # A project that quotes no reference, whose client field fits one client (its initials,
  # its first word, its name) with one order of that value live when work was completed,
  # delivers that order. Two such orders leave the choice to the scored pass.
  - name: only_fitting_order
    fields: [currency]
    # Joined on each key the `where` ORs (its first word covers both word readings), so
    # only records sharing one are compared: never every order with every project.
    join_any:
      - right_records.client_id = left_records.client_id
      - right_records.name_hint = left_records.name_initials
      - split_part(right_records.name_hint, ' ', 1) = split_part(left_records.name, ' ', 1)
    where: >-
      right_records.reference_key is null
      and (right_records.client_id = left_records.client_id
        or right_records.name_hint = left_records.name_initials
        or right_records.name_hint = split_part(left_records.name, ' ', 1)
        or {{ recon_starts_with('left_records.name', "right_records.name_hint || ' '") }})
    window_days: {min: 0, max: 0}
    only_candidate: true
    confirm:
      all_of:
        - {field: client_id, not_contradicted: true}
        - {amount: {abs: 1.00, rel: 0.10}}
blocking:
  window_days: {min: -5, max: 95}
  max_candidates_per_record: 50
  keys:
    - {name: name_exact, field: name, method: exact}
    - {name: name_words, field: name, method: first_words, count: 2, also: [currency]}
    # A client the project tool names by its first word only ("Tamworth").
    - {name: name_first_word, field: name, method: first_words, count: 1, also: [currency]}
    # A one-word client field that names no one client: the clients whose names start with it.
    - {name: client_word, field: name_word, method: exact, also: [currency]}
    - {name: amount, field: amount, method: amount_rounded}
    # The order reference the project quotes, as reference_exact reads it (v9).
    - {name: reference, field: reference_key, method: exact}
comparisons:
  # References of different families (an order known only by its PO number) say nothing.
  - field: reference
    method: edit_distance
    same_family: true
    levels: [{name: exact, max: 0}, {name: one_edit, max: 1}, {name: different}]
  - field: name
    method: similarity
    levels: [{name: very_high, min: 0.95}, {name: high, min: 0.85}, {name: low}]
  - field: amount
    method: amount
    # An amount nearer the order's value is never weaker evidence.
    monotone: [exact, close, partial, different]
    levels:
      - {name: exact, abs: 0.02, rel: 0.0005}
      - {name: close, abs: 1.00, rel: 0.02}
      - {name: partial, rel_min: 0.4, rel_max: 1.0}
      - {name: different}
  - field: date
    method: days_between
    monotone: [in_period, near, far]
    levels: [{name: in_period, min: 0, max: 45}, {name: near, min: -5, max: 95}, {name: far}]
  - field: currency
    method: exact
    levels: [{name: same}, {name: different}]
# Breaks raised by spec (macro recon_exception_breaks): work no order claims.
exceptions:
  right:
    client_name: client_name_normalised
    currency: currency
    value: planned_value
    date: first_completed_date
    states:
      unmatched: orphan_project
      unmatched_plausible: unmatched_project
      ambiguous: ambiguous_project
      suggested: project_needs_review
thresholds:
  prior_match_probability: 0.39
  auto_match: 0.95
  review: 0.5
  ambiguity_margin: 3.0
assignment:
  rounds: 3
  top_k: 3
{% endset %}
{{ return(fromyaml(spec_yaml)) }}
{% endmacro %}
