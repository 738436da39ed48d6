"""Exception lifecycle end to end, through real Dagster runs at pinned times (RECON_AS_OF).

A held-back invoice makes its order a billing break. Inside the billing grace window the
break is pending late data; after it, an exception an operator claims. When the invoice
lands the exception closes as auto-resolved (in the marts and in the action store); when
a restatement of that file takes the invoice away again, the exception reopens with a
fresh SLA while the exceptions left open since the first run breach theirs and escalate.
"""

from __future__ import annotations

import csv
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from orchestration import pipeline
from orchestration.actions import ActionStore
from orchestration.lab import generate

BILLING_BREAKS = ("unbilled_order", "delivered_not_billed")


def _rows(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def _write(path: Path, header: list[str], rows: list[dict]) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)


def hold_back(landing: Path, entity: str, invoice_ids: set[str]) -> tuple[list[str], list[dict]]:
    """Remove these invoices' rows from the entity's files; return them."""
    held, header = [], []
    for path in sorted((landing / "billing" / entity).glob("*.csv")):
        header, rows = _rows(path)
        keep = [r for r in rows if r["invoice_id"] not in invoice_ids]
        held += [r for r in rows if r["invoice_id"] in invoice_ids]
        if len(keep) != len(rows):
            _write(path, header, keep)
    return header, held


def query(home: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def run_at(monkeypatch: pytest.MonkeyPatch, day: date) -> None:
    monkeypatch.setenv("RECON_AS_OF", f"{day.isoformat()}T12:00:00Z")
    assert pipeline.run_pipeline(), "the Dagster run failed: see the log above"


def test_late_invoice_pends_then_breaks_then_auto_resolves_and_reopens(
    recon_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    generate.generate(recon_home, seed=5, orders=300, file_format="csv", bad_rows=False, bad_files=False)
    landing = recon_home / "landing"
    # Two orders billed by exactly one invoice each, neither invoice billing anything else,
    # both billed in advance (a retainer is billed after its first month: another due date).
    _, links = _rows(recon_home / "ground_truth" / "links.csv")
    pairs = [(r["left_id"], r["right_id"]) for r in links if r["reconciliation"] == "orders_invoices"]
    per_order = {o: sum(1 for p in pairs if p[0] == o) for o, _ in pairs}
    per_invoice = {i: sum(1 for p in pairs if p[1] == i) for _, i in pairs}
    orders = {r["order_id"]: r for path in (landing / "crm" / "orders").glob("*.csv") for r in _rows(path)[1]}
    simple = [
        (o, i)
        for o, i in pairs
        if per_order[o] == 1
        and per_invoice[i] == 1
        and orders[o]["status"] == "active"
        and orders[o]["order_ref"]
        and orders[o]["order_type"] != "retainer"
    ]
    (order, invoice), (_, other_invoice) = simple[10], simple[11]
    headers = hold_back(landing, "invoices", {invoice, other_invoice})
    lines = hold_back(landing, "invoice_lines", {invoice, other_invoice})
    start = date.fromisoformat(orders[order]["service_start_date"])

    # Run 1, ten days into the service: the invoice may still come (billing grace 35 days).
    run_at(monkeypatch, start + timedelta(days=10))
    pending = query(
        recon_home,
        "select exception_type, pending_until from marts.fct_pending_breaks"
        " where record_id = ? and list_contains(?, exception_type)",
        [order, list(BILLING_BREAKS)],
    )
    assert len(pending) == 1 and pending[0][0] in BILLING_BREAKS
    assert pending[0][1] == start + timedelta(days=35)
    # Pending, not an exception yet (the order may have breaks of other legs: over-delivery).
    assert not query(
        recon_home,
        "select 1 from marts.fct_reconciliation_exceptions where record_id = ? and list_contains(?, exception_type)",
        [order, list(BILLING_BREAKS)],
    )

    # Run 2, past the grace window: now it is an exception, routed to finance; alice claims it.
    run_at(monkeypatch, start + timedelta(days=40))
    [(exception_id, exception_type, owner, status)] = query(
        recon_home,
        "select exception_id, exception_type, owner_team, status from marts.fct_exception_current"
        " where record_id = ? and exception_type in ('unbilled_order', 'delivered_not_billed')",
        [order],
    )
    assert (exception_type, owner, status) == (pending[0][0], "finance", "open")
    store = ActionStore()
    store.act("claim", exception_id[:10], "alice")

    # Run 3: the invoice lands late. The break is gone: auto-resolved, claim dropped.
    for entity, (header, rows) in (("invoices", headers), ("invoice_lines", lines)):
        _write(landing / "billing" / entity / f"{entity}_held_back.csv", header, rows)
    run_at(monkeypatch, start + timedelta(days=41))
    [(status, claimed_by, attempts, last_action)] = query(
        recon_home,
        "select status, claimed_by, attempts, last_action from marts.fct_exception_current where exception_id = ?",
        [exception_id],
    )
    assert (status, claimed_by, attempts, last_action) == ("auto_resolved", None, 1, "claim")
    assert store.state(exception_id).status == "auto_resolved"
    # Time to resolution counts from detection (run 2) to the close (run 3), one day; age
    # counts from the business date, and both stop at the close.
    [(hours_to_resolution, closed_age, aged_from, auto_resolved_at)] = query(
        recon_home,
        "select hours_to_resolution, age_hours, aged_from, auto_resolved_at from marts.fct_exception_current"
        " where exception_id = ?",
        [exception_id],
    )
    assert hours_to_resolution == 24.0
    assert closed_age == round((auto_resolved_at - aged_from).total_seconds() / 3600, 1) > hours_to_resolution
    closed_at = store.state(exception_id).closed_at
    assert closed_at is not None and datetime.fromisoformat(closed_at) == auto_resolved_at
    assert query(
        recon_home,
        "select count(*) filter (where is_closed != (hours_to_resolution is not null))"
        " from marts.fct_exception_current",
    ) == [(0,)]
    # An operator closes another one at day 41; four days on, its age is still the one it closed with.
    [(resolved_id,)] = query(
        recon_home,
        "select min(exception_id) from marts.fct_exception_current"
        " where status = 'open' and owner_team = 'finance' and exception_id != ?",
        [exception_id],
    )
    store.act("claim", resolved_id, "alice")
    store.act("resolve", resolved_id, "alice", reason="billed_late")
    assert store.state(resolved_id).closed_at is not None

    # Run 4, four days later: billing restates the file without that invoice. The break
    # is back: reopened with a new SLA; the exceptions open since run 2 (72 h SLA) are
    # breached and escalated.
    for entity, (header, rows) in (("invoices", headers), ("invoice_lines", lines)):
        kept = [r for r in rows if r["invoice_id"] != invoice]
        _write(landing / "billing" / entity / f"{entity}_held_back.csv", header, kept)
    run_at(monkeypatch, start + timedelta(days=45))
    [(status, reopen_count, is_breached, claimed_by, attempts)] = query(
        recon_home,
        "select status, reopen_count, is_breached, claimed_by, attempts from marts.fct_exception_current"
        " where exception_id = ?",
        [exception_id],
    )
    assert (status, reopen_count, is_breached, claimed_by, attempts) == ("open", 1, False, None, 1)
    assert store.state(exception_id).closed_at is None
    # Four days on, the exceptions that stayed closed have the age they closed with.
    [(status, age, resolved_at, aged_from, hours)] = query(
        recon_home,
        "select status, age_hours, resolved_at, aged_from, hours_to_resolution"
        " from marts.fct_exception_current where exception_id = ?",
        [resolved_id],
    )
    assert status == "resolved" and resolved_at == datetime.fromisoformat(store.state(resolved_id).closed_at)
    assert resolved_at.date() == start + timedelta(days=41)
    assert age == round((resolved_at - aged_from).total_seconds() / 3600, 1)
    assert hours is not None and hours <= age
    events = [
        (event, actor)
        for event, actor in query(
            recon_home,
            "select event_type, actor from marts.fct_exception_history where exception_id = ? order by event_number",
            [exception_id],
        )
    ]
    assert events == [
        ("detected", "pipeline"),
        ("claim", "alice"),
        ("auto_resolved", "pipeline"),
        ("reopened", "pipeline"),
    ]
    assert store.state(exception_id).status == "open"  # the store reopened it too
    [(breached, escalated, kept, unbreached_manual)] = query(
        recon_home,
        """
        select
            count(*) filter (where is_breached),
            count(*) filter (where is_breached and escalated_to = 'operations'),
            -- Nothing at risk, severity auto_resolve: breached, kept by its team.
            count(*) filter (where is_breached and escalated_to is null and severity = 'auto_resolve'
                             and coalesce(amount_at_risk_reporting, 0) = 0),
            count(*) filter (where not is_breached and status = 'open' and severity = 'manual_review'
                             and reopen_count = 0 and first_seen_at < ?::timestamptz)
        from marts.fct_exception_current
        """,
        [f"{(start + timedelta(days=41)).isoformat()}T00:00:00Z"],
    )
    assert breached > 0 and escalated > 0 and escalated + kept == breached and unbreached_manual == 0
    # One breach event per exception that went past its SLA while open: open now, or closed
    # only after it was due (a breach stays history when the exception closes).
    [(ever_breached,)] = query(
        recon_home,
        "select count(*) from marts.fct_exception_current where is_breached"
        " or (is_closed and sla_due_at < coalesce(resolved_at, auto_resolved_at))",
    )
    assert ever_breached >= breached
    assert (
        query(recon_home, "select count(*) from marts.fct_exception_history where event_type = 'sla_breached'")[0][0]
        == ever_breached
    )
    assert store.verify() == []
