"""Exception quality: the exceptions a run raised against the discrepancies the generator planted.

The generator's ground truth (``records.csv``) records each planted discrepancy on the
record it affects. Each exception type is scored against the kinds that should raise it,
on the record the operator is shown: an order, an invoice, a campaign, a CRM lead.
Billing items (``invoice_id#…``) count as their invoice. Exceptions are those of the
published run (``marts.fct_reconciliation_exceptions``, pending late data excluded).

A record whose every true counterpart was quarantined on landing (an invoice billing only
orders whose rows failed validation) has no counterpart in the data the run saw: it is
scored as what the run should call it (an orphan invoice or orphan spend; an unbilled
order; an order planted delivered-not-billed whose every campaign and deliverable was
quarantined is unbilled), as the matching evaluation counts only the links whose two
records arrived.

A type is scored only where the dialect plants its kind (``relevant`` > 0); a type the
dialect plants no kind for is listed with its count, unscored.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import duckdb

from orchestration.lab.evaluate import Score, _orders_invoices_truth, read_links
from orchestration.warehouse import open_reader

# exception type -> (truth entity, truth discrepancy kinds) that should raise it.
TRUTH_KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "unbilled_order": ("crm__orders", ("unbilled",)),
    "delivered_not_billed": ("crm__orders", ("delivered_not_billed", "completed_not_billed")),
    "amount_variance": ("crm__orders", ("partial_billing",)),
    "duplicate_billing": ("crm__orders", ("duplicate_billing",)),
    "billed_not_delivered": ("crm__orders", ("billed_not_delivered",)),
    # The generator plants "billed, nothing delivered" on every order type; for a type
    # whose work is fulfilled by deliverables, it is billed_not_fulfilled (split below).
    "billed_not_fulfilled": ("crm__orders", ("billed_not_delivered",)),
    "over_delivery": ("crm__orders", ("over_delivery",)),
    "under_delivery": ("crm__orders", ("under_delivery",)),
    "billed_cancelled_order": ("crm__orders", ("billed_cancelled_order",)),
    "delivery_before_order": ("crm__orders", ("delivery_before_order",)),
    "orphan_invoice": ("billing__invoices", ("orphan_invoice",)),
    # Dialects name some kinds their own way (B: duplicate_export, C: reexported_copy).
    "duplicate_export": ("billing__invoices", ("duplicate_export", "reexported_copy")),
    "void_invoice": ("billing__invoices", ("void", "void_reissue")),
    "orphan_spend": ("ads__delivery", ("orphan_spend", "orphan_campaign")),
    "duplicate_lead": ("crm__leads", ("duplicate_lead",)),
    "attribution_mismatch": ("crm__leads", ("attribution_mismatch",)),
}
# Types scored together as well: an unbilled order is one of the two, whichever the
# delivery evidence says.
GROUPS = {
    "unbilled (either type)": ("unbilled_order", "delivered_not_billed"),
    "billed, nothing done (either type)": ("billed_not_delivered", "billed_not_fulfilled"),
}


@dataclass
class ExceptionScore:
    exception_type: str
    raised: int
    score: Score | None  # None: the truth plants no kind for this type

    def as_dict(self) -> dict:
        return {"type": self.exception_type, "raised": self.raised, **(self.score.as_dict() if self.score else {})}


def _truth(ground_truth: Path) -> dict[str, set[str]]:
    """Record ids per exception type, from the planted discrepancies."""
    by_kind: dict[tuple[str, str], set[str]] = defaultdict(set)
    order_of_duplicate: dict[str, str] = {}
    with open(ground_truth / "records.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            by_kind[(row["entity"], row["discrepancy"])].add(row["record_id"])
            if row["discrepancy"] == "duplicate_billing" and row["detail"].startswith("order="):
                order_of_duplicate[row["record_id"]] = row["detail"].split("=", 1)[1].split(";")[0]
    # A duplicate invoice is recorded on the invoice; the exception is raised on its order.
    orders_of_invoice: dict[str, set[str]] = defaultdict(set)
    links = ground_truth / "links.csv"
    if links.exists():
        with open(links, newline="") as fh:
            for row in csv.DictReader(fh):
                if row["reconciliation"] == "orders_invoices":
                    orders_of_invoice[row["right_id"]].add(row["left_id"])
    duplicate_orders = set()
    for invoice in by_kind[("billing__invoices", "duplicate_billing")]:
        duplicate_orders |= (
            {order_of_duplicate[invoice]} if invoice in order_of_duplicate else orders_of_invoice[invoice]
        )
    truth = {}
    for exception_type, (entity, kinds) in TRUTH_KINDS.items():
        ids = set().union(*(by_kind[(entity, kind)] for kind in kinds))
        if exception_type == "duplicate_billing":
            ids = ids | duplicate_orders
        truth[exception_type] = ids
    # An unbilled order something was delivered or completed for is delivered_not_billed.
    truth["unbilled_order"] -= truth["delivered_not_billed"]
    return truth


def _raised(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    raised: dict[str, set[str]] = defaultdict(set)
    for exception_type, entity, record_id in con.execute(
        "select exception_type, record_entity, record_id from marts.fct_reconciliation_exceptions"
    ).fetchall():
        # A billing item is shown as its invoice.
        key = record_id.split("#", 1)[0] if entity == "int_invoice_billing_items" else record_id
        raised[exception_type].add(key)
    return raised


def _lost_counterparts(con: duckdb.DuckDBPyConnection, ground_truth: Path, truth: dict[str, set[str]]) -> None:
    """Add the records whose every true counterpart never reached the warehouse (see module doc)."""

    def present(sql: str) -> set[str]:
        return {str(row[0]) for row in con.execute(sql).fetchall()}

    orders = present("select order_id from staging.stg_crm__orders")
    # Invoices that bill: a void invoice or a re-exported copy arrived but bills no order.
    invoices = present("select distinct invoice_id from intermediate.int_invoice_billing_items")
    campaigns = present("select distinct campaign_id from staging.stg_ads__delivery")
    deliverables = present("select deliverable_id from staging.stg_fulfilment__deliverables")

    if not (ground_truth / "links.csv").exists():
        return

    def lost(links: set[tuple[str, str]], arrived: set[str], gone_from: set[str]) -> set[str]:
        """Records of ``arrived`` linked only to records missing from ``gone_from``."""
        counterparts: dict[str, set[str]] = defaultdict(set)
        for record, counterpart in links:
            counterparts[record].add(counterpart)
        return {r for r, cs in counterparts.items() if r in arrived and not cs & gone_from}

    # Without void and credit-note links, as the matching evaluation (they bill nothing).
    billing = _orders_invoices_truth(ground_truth, con)
    # delivery_orders truth links are written campaign first (left_id = the campaign).
    delivery = read_links(ground_truth, "delivery_orders")
    # Only for the types the dialect plants (an unscored type stays unscored).
    planted = {t for t, ids in truth.items() if ids}
    unbilled = lost(billing, orders, invoices) - truth["billed_cancelled_order"]
    # Whether anything was delivered or done for it: a campaign or deliverable of it arrived.
    worked = {o for c, o in delivery if c in campaigns} | {
        o for d, o in read_links(ground_truth, "deliverables_orders") if d in deliverables
    }
    for exception_type, ids in (
        ("orphan_invoice", lost({(i, o) for o, i in billing}, invoices, orders)),
        ("orphan_spend", lost(delivery, campaigns, orders)),
        ("delivered_not_billed", unbilled & worked),
        ("unbilled_order", unbilled - worked),
    ):
        if exception_type in planted:
            truth[exception_type] |= ids
    # An order planted delivered or completed but not billed whose every campaign and
    # deliverable was quarantined: nothing done reached the run, which should call it unbilled.
    work = {(c, o) for c, o in delivery} | {(d, o) for d, o in read_links(ground_truth, "deliverables_orders")}
    unseen = lost({(o, w) for w, o in work}, orders, campaigns | deliverables) & truth["delivered_not_billed"]
    if unseen and {"delivered_not_billed", "unbilled_order"} <= planted:
        truth["delivered_not_billed"] -= unseen
        truth["unbilled_order"] |= unseen


def score_exceptions(con: duckdb.DuckDBPyConnection, ground_truth: Path) -> list[ExceptionScore]:
    truth = _truth(ground_truth)
    _lost_counterparts(con, ground_truth, truth)
    # Which leg an order's "billed, nothing done" belongs to: its type's expectations.
    fulfilled_types = {
        order_id
        for order_id, expects_fulfilment in con.execute(
            "select order_id, expects_fulfilment from marts.fct_reconciled_orders"
        ).fetchall()
        if expects_fulfilment
    }
    truth["billed_not_fulfilled"] &= fulfilled_types
    truth["billed_not_delivered"] -= fulfilled_types
    raised = _raised(con)
    scores = []
    for exception_type in sorted(set(truth) | set(raised)):
        predicted = raised.get(exception_type, set())
        relevant = truth.get(exception_type, set())
        # Scored only where this dialect plants the type's kinds at all.
        if exception_type in TRUTH_KINDS and relevant:
            score = Score(len(predicted), len(predicted & relevant), len(relevant))
        else:
            score = None
        scores.append(ExceptionScore(exception_type, len(predicted), score))
    for label, members in GROUPS.items():
        predicted = set().union(*(raised.get(m, set()) for m in members))
        relevant = set().union(*(truth.get(m, set()) for m in members))
        score = Score(len(predicted), len(predicted & relevant), len(relevant)) if relevant else None
        scores.append(ExceptionScore(label, len(predicted), score))
    return scores


def scores_for(warehouse: Path, ground_truth: Path) -> list[ExceptionScore]:
    con = open_reader(warehouse)
    try:
        return score_exceptions(con, ground_truth)
    finally:
        con.close()


def render(scores: list[ExceptionScore]) -> str:
    lines = ["| exception type | raised | planted | precision | recall |", "| --- | ---: | ---: | ---: | ---: |"]
    for s in scores:
        if s.score is None:
            lines.append(f"| {s.exception_type} | {s.raised} | (no kind planted) | | |")
        else:
            score = s.score
            lines.append(
                f"| {s.exception_type} | {s.raised} | {score.relevant} | {score.precision:.3f} | {score.recall:.3f} |"
            )
    return "\n".join(lines)
