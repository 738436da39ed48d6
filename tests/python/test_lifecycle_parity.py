"""One lifecycle: the SQL fold (fct_exception_current) and the Python fold (ActionStore) agree.

The lifecycle is computed twice: in dbt, from detections and the action log copied into
the warehouse, for the marts and BI; in the action store, from the same log, to decide
whether an operator may act. Here the same log is replayed through both after a mix of
claims, releases, resolutions, reassignments, escalations and comments by several
operators, and every exception's status, holder, owner team, escalation and SLA breach
must come out the same. Among them, resolved variances whose booking the CRM then raises:
by more than the tolerance, the resolution no longer covers what is at risk and both folds
reopen it; by less, it stays resolved.
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from orchestration import pipeline
from orchestration.actions import ActionStore
from orchestration.lab import generate


def current(home: Path) -> dict[str, tuple]:
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        rows = con.execute(
            "select exception_id, status, claimed_by, owner_team, escalated_to, is_breached"
            " from marts.fct_exception_current where status is not null"
        ).fetchall()
    finally:
        con.close()
    return {r[0]: tuple(r[1:]) for r in rows}


def python_fold(store: ActionStore, exception_id: str) -> tuple:
    s = store.state(exception_id)
    return (s.status, s.claimed_by, s.owner_team, s.escalated_to, s.is_breached)


def disagreements(home: Path, store: ActionStore) -> dict:
    sql = current(home)
    assert sql, "no exceptions in the marts"
    return {
        eid: {"sql": row, "python": python_fold(store, eid)}
        for eid, row in sql.items()
        if python_fold(store, eid) != row
    }


def raise_bookings(landing: Path, raises: dict[str, Decimal]) -> None:
    """Restate the CRM's order files with these orders' amounts raised."""
    for path in sorted((landing / "crm" / "orders").glob("*.csv")):
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            header, rows = list(reader.fieldnames or []), list(reader)
        hit = [r for r in rows if r["order_id"] in raises]
        for row in hit:
            row["amount"] = str(Decimal(row["amount"]) + raises[row["order_id"]])
        if hit:
            with open(path, "w", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=header)
                writer.writeheader()
                writer.writerows(rows)


def outgrowth(home: Path, exception_id: str) -> tuple:
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(
            "select status, reopen_count, reopened_because, last_reopened_at, amount_at_risk"
            " from marts.fct_exception_current where exception_id = ?",
            [exception_id],
        ).fetchone()
    finally:
        con.close()


def test_sql_and_python_lifecycles_agree_on_every_exception(recon_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # One business clock for the runs and the actions (the SLA breach depends on it).
    monkeypatch.setenv("RECON_AS_OF", "2026-06-15T12:00:00Z")
    generate.generate(recon_home, seed=11, orders=300, file_format="csv", bad_rows=False, bad_files=False)
    assert pipeline.run_pipeline()
    store = ActionStore()
    # Two variances of orders billed short, resolved as agreed with the client; the CRM then
    # raises one booking by 1,000 (more at risk than was accepted) and the other by 0.50
    # (within var amount_tolerance_abs, 1.00).
    short = [
        e
        for e in store.list_exceptions(exception_type="amount_variance")
        if e["owner_team"] == "finance"
        and (legs := json.loads(e["details"])["legs"])
        and Decimal(str(legs["billed"])) < Decimal(str(legs["booked"]))
    ]
    assert len(short) >= 2, "the world has no two variances billed short"
    grows, barely = short[0], short[1]
    for entry in (grows, barely):
        store.act("claim", entry["exception_id"], "alice")
        resolution = store.act("resolve", entry["exception_id"], "alice", reason="client_agreed_variance")
        # The resolution records what it accepts: the value at risk of the catalog.
        assert Decimal(resolution["amount"]) == Decimal(entry["amount_at_risk"]) > 0
    by_team: dict[str, list[str]] = {}
    for entry in store.list_exceptions():
        if entry["exception_id"] not in (grows["exception_id"], barely["exception_id"]):
            by_team.setdefault(entry["owner_team"], []).append(entry["exception_id"])
    finance, media = by_team["finance"], by_team["media_ops"]
    # Escalating by hand needs one not yet escalated by an SLA breach.
    fresh_media = [e for e in media if store.state(e).escalated_to is None]
    assert len(finance) >= 7 and len(media) >= 2 and fresh_media

    store.act("claim", finance[0], "alice")
    store.act("claim", finance[1], "alice")
    store.act("release", finance[1], "alice")
    store.act("claim", finance[2], "bob")
    store.act("resolve", finance[2], "bob", reason="not_an_error")
    store.act("claim", finance[3], "alice")
    store.act("comment", finance[3], "bob", comment="looking at the PO")
    store.act("reassign", finance[4], "olga", team="media_ops", reason="wrong_team")
    store.act("claim", finance[4], "carol")
    store.act("claim", fresh_media[0], "carol")
    store.act("escalate", fresh_media[0], "carol", reason="needs_lead")
    other = next(e for e in media if e != fresh_media[0])
    store.act("claim", other, "carol")
    store.act("release", other, "olga")  # an ops lead may release another's claim
    store.act("claim", finance[5], "alice")
    store.act("resolve", finance[5], "alice", reason="billed_late")
    # A resolution made in error, taken back by an ops lead: open in both folds.
    store.act("claim", finance[6], "alice")
    store.act("resolve", finance[6], "alice", reason="not_an_error")
    store.act("reopen", finance[6], "olga", reason="resolved_in_error")

    raise_bookings(
        recon_home / "landing",
        {grows["record_id"]: Decimal("1000.00"), barely["record_id"]: Decimal("0.50")},
    )
    monkeypatch.setenv("RECON_AS_OF", "2026-06-16T12:00:00Z")
    assert pipeline.run_pipeline()
    differ = disagreements(recon_home, store)
    sample = list(differ.items())[:3]
    assert not differ, f"{len(differ)} exceptions differ, e.g. {sample}"
    sql = current(recon_home)
    # The replay exercised what it meant to: each kind of outcome is present.
    statuses = {row[0] for row in sql.values()}
    assert {"open", "claimed", "resolved"} <= statuses
    assert sql[finance[4]][2] == "media_ops" and sql[fresh_media[0]][3] is not None
    assert sql[finance[6]][:2] == ("open", None)
    con = duckdb.connect(str(recon_home / "warehouse.duckdb"), read_only=True)
    try:
        taken_back = con.execute(
            "select resolved_at, resolution_code from marts.fct_exception_current where exception_id = ?",
            [finance[6]],
        ).fetchone()
    finally:
        con.close()
    assert taken_back == (None, None)  # the resolution no longer stands

    # More at risk than the resolution accepted: reopened, its SLA from the run that found it.
    second_run = datetime(2026, 6, 16, 12, tzinfo=UTC)
    status, reopens, because, reopened_at, at_risk = outgrowth(recon_home, grows["exception_id"])
    assert (status, reopens, because, reopened_at) == ("open", 1, "amount_grew", second_run)
    assert at_risk == Decimal(grows["amount_at_risk"]) + 1000
    state = store.state(grows["exception_id"])
    assert state.status == "open" and datetime.fromisoformat(state.reopened_at) == second_run
    reopen = store.history(grows["exception_id"])[-1]
    assert (reopen["action"], reopen["actor"], reopen["reason_code"]) == ("reopen", "pipeline", "amount_grew")
    assert Decimal(reopen["amount"]) == at_risk and reopen["target"] == grows["currency"]
    # What an operator reads: the amount accepted, and what was at risk when it reopened.
    from click.testing import CliRunner

    from orchestration import cli

    shown = CliRunner().invoke(cli.recon, ["exceptions", "show", grows["exception_id"][:10]], obj={}).output
    # Money with the currency's places, as `show` prints every amount (not the log's 4 decimals).
    assert f"accepted={Decimal(grows['amount_at_risk']):.2f} {grows['currency']}" in shown
    assert f"reason_code=amount_grew now at risk={at_risk:.2f} {grows['currency']}" in shown
    con = duckdb.connect(str(recon_home / "warehouse.duckdb"), read_only=True)
    try:
        events = con.execute(
            "select event_type, reason_code, amount from marts.fct_exception_history"
            " where exception_id = ? order by event_number",
            [grows["exception_id"]],
        ).fetchall()
    finally:
        con.close()
    assert [e[:2] for e in events] == [
        ("detected", None),
        ("claim", None),
        ("resolve", "client_agreed_variance"),
        ("changed", None),
        ("reopened", "amount_grew"),
    ]
    assert events[2][2] == Decimal(grows["amount_at_risk"]) and events[3][2] == events[4][2] == at_risk
    # Within the tolerance: the resolution still covers it.
    assert outgrowth(recon_home, barely["exception_id"])[:3] == ("resolved", 0, None)
    assert store.state(barely["exception_id"]).status == "resolved"

    # Resolved again at the larger amount: a third run with nothing more at risk leaves it
    # resolved in both folds, and the pipeline does not reopen it a second time.
    store.act("claim", grows["exception_id"], "alice")
    store.act("resolve", grows["exception_id"], "alice", reason="client_agreed_variance")
    monkeypatch.setenv("RECON_AS_OF", "2026-06-17T12:00:00Z")
    assert pipeline.run_pipeline()
    assert not disagreements(recon_home, store)
    assert outgrowth(recon_home, grows["exception_id"])[:3] == ("resolved", 1, "amount_grew")
    assert [a["action"] for a in store.history(grows["exception_id"])][-2:] == ["claim", "resolve"]
