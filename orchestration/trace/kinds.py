"""What can be traced (exceptions, matches, records of each kind), the columns shown, and the trace itself as data."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

MIN_PREFIX = 6  # shortest id prefix accepted (ids are md5 hex; operators type 8)
HEX = re.compile(r"[0-9a-f]+")
MAX_CANDIDATES_SHOWN = 3
MAX_ROW_NUMBERS_SHOWN = 12


class TraceError(Exception):
    """The identifier cannot be traced; the message says what to type instead.

    ``exit_code`` follows the CLI's conventions: 4 not found, 2 usage (ambiguous or too
    short), 5 conflict (the warehouse is locked by a writer).
    """

    exit_code = 4


class AmbiguousIdentifier(TraceError):
    exit_code = 2


@dataclass(frozen=True)
class Kind:
    """A kind of record an operator can name, and where its key lives."""

    name: str  # what to type before a colon to force it: order:SO-00000123
    label: str
    relation: str  # schema.table with one row per key once staged
    key: str
    record_model: str | None  # record_model in marts.fct_reconciliation_records, if reconciled
    raw: tuple[tuple[str, str], ...]  # (raw table, key column): its source rows, also before staging


KINDS = (
    # Orders reach the engine as int_orders_resolved (their canonical reference and name).
    Kind(
        "order", "order", "staging.stg_crm__orders", "order_id", "int_orders_resolved", (("crm__orders", "order_id"),)
    ),
    Kind(
        "invoice",
        "invoice",
        "staging.stg_billing__invoices",
        "invoice_id",
        None,
        (("billing__invoices", "invoice_id"), ("billing__invoice_lines", "invoice_id")),
    ),
    # A billing item is derived (an invoice's lines grouped by reference): no raw key of its own.
    Kind(
        "billing_item",
        "billing item",
        "intermediate.int_invoice_billing_items",
        "billing_item_id",
        "int_invoice_billing_items",
        (),
    ),
    Kind(
        "campaign",
        "campaign",
        "intermediate.int_ads_campaigns",
        "campaign_id",
        "int_ads_campaigns",
        (("ads__delivery", "campaign_id"), ("ads__credits", "campaign_id")),
    ),
    Kind(
        "project",
        "project",
        "intermediate.int_fulfilment_projects",
        "project_id",
        "int_fulfilment_projects",
        (("fulfilment__deliverables", "project_id"),),
    ),
    Kind(
        "deliverable",
        "deliverable",
        "staging.stg_fulfilment__deliverables",
        "deliverable_id",
        None,
        (("fulfilment__deliverables", "deliverable_id"),),
    ),
    # Credits reconcile nothing themselves (they reduce an order's billed or delivered money),
    # but an operator resolving with credit_issued looks one up: its file, row and staged values.
    Kind(
        "credit_note",
        "credit note",
        "staging.stg_billing__credit_notes",
        "credit_note_id",
        None,
        (("billing__credit_notes", "credit_note_id"),),
    ),
    Kind(
        "ad_credit",
        "ad platform credit",
        "staging.stg_ads__credits",
        "credit_id",
        None,
        (("ads__credits", "credit_id"),),
    ),
    Kind("lead", "CRM lead", "staging.stg_crm__leads", "lead_id", "stg_crm__leads", (("crm__leads", "lead_id"),)),
    Kind(
        "lead_form",
        "lead-form submission",
        "staging.stg_ads__lead_forms",
        "submission_id",
        "stg_ads__lead_forms",
        (("ads__lead_forms", "submission_id"),),
    ),
)
KIND = {k.name: k for k in KINDS}
MODEL_KIND = {k.record_model: k for k in KINDS if k.record_model}
# Exceptions name the staging model of their record (an order's is stg_crm__orders even
# though the engine reads int_orders_resolved).
for _kind in KINDS:
    MODEL_KIND.setdefault(_kind.relation.split(".")[-1], _kind)
# A spec side's model that is neither a kind's record model nor its staging relation: the
# submissions lead_forms_leads matches are the lead-form rows, keyed by submission_id (a
# refusal named them "right INV-…" as the engine does, and a match's trace left them out).
MODEL_KIND.setdefault("int_lead_form_submissions", KIND["lead_form"])

WHAT_TO_TYPE = (
    f"an exception id (or its first {MIN_PREFIX}+ characters, as `recon exceptions list` shows them), "
    "a match id (marts.fct_reconciliation_matches.match_id), or a record key: an order id (e.g. SO-00000123), "
    "invoice id, billing item id (INVOICE#REFERENCE), credit note id, campaign id, ad credit id, project id, "
    "deliverable id, CRM lead id or lead-form submission id; prefix it with its kind to force one "
    "(e.g. order:SO-00000123)"
)

# What the terminal shows of a staged row (the JSON has every column). A column followed
# by its `_normalised` twin prints as `value → normalised`.
SHOWN_COLUMNS = {
    "stg_crm__orders": (
        "client_name client_name_normalised order_ref order_ref_normalised po_number order_type booked_amount currency "
        "service_start_date service_end_date order_status"
    ),
    "stg_billing__invoices": (
        "invoice_number client_name_billed client_name_normalised reference reference_normalised issue_date currency "
        "net_amount invoice_status"
    ),
    "stg_billing__invoice_lines": "line_number reference reference_normalised net_amount",
    "int_invoice_billing_items": (
        "invoice_id reference reference_normalised reference_kind currency line_count net_amount"
    ),
    "int_invoice_lines_billable": (
        "line_number line_description reference reference_normalised reference_kind is_line_reference "
        "is_tax_inclusive stated_amount net_amount"
    ),
    "int_ads_campaigns": (
        "platform campaign_name campaign_ref_normalised brand_normalised currency spend_amount credit_amount "
        "first_delivery_date last_delivery_date"
    ),
    "int_fulfilment_projects": (
        "project_name order_ref_normalised client_name_normalised currency planned_value completed_value "
        "deliverable_count completed_count"
    ),
    "stg_fulfilment__deliverables": (
        "project_id project_name order_ref order_ref_normalised client_name client_name_normalised deliverable_value "
        "currency deliverable_status"
    ),
    "stg_billing__credit_notes": (
        "invoice_id client_name_billed client_name_normalised reference reference_normalised issue_date currency "
        "net_amount credit_reason"
    ),
    "stg_ads__credits": "platform account_id campaign_id credit_date credit_amount currency credit_reason",
    "stg_crm__leads": "email email_normalised full_name full_name_normalised campaign_id created_at",
    "stg_ads__lead_forms": "email email_normalised full_name full_name_normalised campaign_id submitted_at",
}
NORMALISED_PAIRS = {  # raw column → its normalised twin, where the names differ
    "client_name_billed": "client_name_normalised",
}
JSON_COLUMNS = {"score_components", "top_candidates", "problems", "record", "state_before", "state_after"}


# ------------------------------------------------------------------ results


@dataclass
class TracedRecord:
    """One record in the chain: its raw rows, quarantined rows and staged rows."""

    kind: str
    key: str
    role: str  # "traced", "record of the exception", "matched in orders_invoices", ...
    source_rows: list[dict] = field(default_factory=list)
    quarantined_rows: list[dict] = field(default_factory=list)
    staged: list[dict] = field(default_factory=list)  # {"model": ..., "row": {...}}


@dataclass
class Trace:
    identifier: str
    kind: str  # exception | match | one of KIND
    subject_id: str
    resolved_as: str  # "exception id", "prefix of exception id", "order id", ...
    summary: str
    warehouse: str
    action_store: str | None
    records: list[TracedRecord] = field(default_factory=list)
    matching: list[dict] = field(default_factory=list)
    exceptions: list[dict] = field(default_factory=list)
    actions: list[dict] = field(default_factory=list)
    runs: list[dict] = field(default_factory=list)
    # HOOK: what is published (e.g. $RECON_HOME/publications/current.json), passed in by
    # the caller; render() says whether the traced run is the one being served.
    publication: dict | None = None
    notes: list[str] = field(default_factory=list)
    has_sources: bool = True  # False in a copy without raw rows and staging (the serving copy)

    def to_dict(self) -> dict:
        """Plain JSON types (Decimals as strings, timestamps as ISO 8601 UTC) for ``--json``."""
        return _jsonable(asdict(self))


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return (value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value
