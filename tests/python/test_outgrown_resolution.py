"""A resolution covers what it accepted, under the replays a hostile tryout made (helper session).

Real runs on seed 3 (300 orders, csv, no bad rows or files) with a pinned business clock that
moves forward, CRM order files restated in place between runs, operators acting through
ActionStore as the CLI does. Every problem found is collected and reported at the end. Each
was a defect of the rule's first version (d1843fc):

1. growth found by the run at the same instant as the resolution (or by a run already under
   way when the operator resolved) must reopen it: the resolution accepted the value the
   catalog showed, not the one the run found;
2. a reassigned exception reopened keeps the team it was given, in the marts as in the store;
3. reopened by amount_grew, then gone and back: fct_exception_current.reopen_count counts
   every reopening the store logs;
4. a booking restated in another currency reopens (what was accepted was in the other one);
5. an action with a business time before the last run is refused (it would accept a value
   that run had already replaced);
6. a second run at the same RECON_AS_OF with the data restated builds (a snapshot version
   replaced as it began repeated an event in fct_exception_history and failed every build).

One lifecycle, two folds (formerly test_lifecycle_parity.py): the lifecycle is computed twice,
in dbt, from detections and the action log copied into the warehouse, for the marts and BI;
in the action store, from the same log, to decide whether an operator may act. The same log
is replayed through both after a mix of claims, releases, resolutions, reassignments,
escalations and comments by several operators, and every exception's status, holder, owner
team, escalation and SLA breach must come out the same. Among them, resolved variances whose
booking the CRM then raises: by more than the tolerance, the resolution no longer covers what
is at risk and both folds reopen it; by less, it stays resolved.

Both tests start from the same first night (seed 3 at 15 June, noon), built once per pytest
worker (`built_homes`).
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from conftest import BuiltHomes

from orchestration import pipeline
from orchestration.actions import ActionStore
from orchestration.actions.core import ActionError
from orchestration.lab import generate


def set_orders(landing: Path, changes: dict[str, dict[str, str]]) -> None:
    for path in sorted((landing / "crm" / "orders").glob("*.csv")):
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            header, rows = list(reader.fieldnames or []), list(reader)
        hit = False
        for row in rows:
            if row["order_id"] in changes:
                row.update(changes[row["order_id"]])
                hit = True
        if hit:
            with open(path, "w", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=header, lineterminator="\n")
                writer.writeheader()
                writer.writerows(rows)


def marts(home: Path) -> dict[str, dict]:
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        cur = con.execute("select * from marts.fct_exception_current")
        names = [d[0] for d in cur.description]
        return {r[0]: dict(zip(names, r, strict=True)) for r in cur.fetchall()}
    finally:
        con.close()


def find(home: Path, exception_type: str, record_id: str) -> str:
    ids = [e for e, r in marts(home).items() if r["exception_type"] == exception_type and r["record_id"] == record_id]
    assert len(ids) == 1, (exception_type, record_id, ids)
    return ids[0]


def run(monkeypatch: pytest.MonkeyPatch, as_of: str) -> None:
    monkeypatch.setenv("RECON_AS_OF", as_of)
    assert pipeline.run_pipeline()


FIRST_NIGHT = "2026-06-15T12:00:00Z"


def first_night(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECON_AS_OF", FIRST_NIGHT)
    generate.generate(home, seed=3, orders=300, file_format="csv", bad_rows=False, bad_files=False)
    run(monkeypatch, FIRST_NIGHT)


@pytest.fixture
def after_first_night(built_homes: BuiltHomes, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Seed 3 (300 orders, csv, no bad rows or files) after its first run, at 15 June noon."""
    home = built_homes.restore("seed-3-first-night", first_night, monkeypatch)
    monkeypatch.setenv("RECON_AS_OF", FIRST_NIGHT)  # the clock where the night left it
    return home


def test_a_resolution_covers_only_what_it_accepted(after_first_night: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recon_home = after_first_night
    problems: list[str] = []
    landing = recon_home / "landing"
    store = ActionStore()

    race = find(recon_home, "amount_variance", "SO-00000249")  # 2,902.08 billed short
    handed = find(recon_home, "delivered_not_billed", "SO-00000010")  # 5,650 GBP
    twice = find(recon_home, "amount_variance", "SO-00000264")  # 1,109.15 billed short
    to_usd = find(recon_home, "delivered_not_billed", "SO-00000173")  # 15,200 EUR
    # (SO-00000041, 29,688.55 USD, was this one until orders_invoices.v20 found the line of a
    # consolidated invoice that bills it: it was never unbilled.)
    to_gbp = find(recon_home, "delivered_not_billed", "SO-00000096")  # 3,050 EUR
    late = find(recon_home, "amount_variance", "SO-00000146")  # 7,516.10 billed short

    for eid in (twice, to_usd, to_gbp):
        store.act("claim", eid, "alice")
        store.act("resolve", eid, "alice", reason="client_agreed_variance")
    store.act("reassign", handed, "alice", team="operations", reason="wrong_team")
    store.act("claim", handed, "paul")
    store.act("resolve", handed, "paul", reason="not_an_error")
    store.act("claim", race, "alice")

    # Run 2. The CRM restates bookings; alice resolves `race` at the run's own instant, from
    # the catalog she sees (2,902.08), before the run that finds 3,902.08.
    set_orders(
        landing,
        {
            "SO-00000249": {"amount": "7500.00"},  # +1,000
            "SO-00000010": {"amount": "6650.00"},  # +1,000
            "SO-00000264": {"amount": "2900.00"},  # +500
            "SO-00000173": {"amount": "15300.00", "currency": "USD"},  # 16,822.60 USD -> 15,300 USD
            "SO-00000096": {"amount": "3000.00", "currency": "GBP"},  # 3,050 EUR (~3,300 USD) -> ~3,800 USD
            "SO-00000146": {"amount": "18950.00"},  # +1,000 (7,516.10 -> 8,516.10)
        },
    )
    monkeypatch.setenv("RECON_AS_OF", "2026-06-16T12:00:00Z")
    accepted = store.act("resolve", race, "alice", reason="client_agreed_variance")["amount"]
    run(monkeypatch, "2026-06-16T12:00:00Z")
    now = marts(recon_home)

    # 1. Growth found by the run at the resolution's instant.
    r = now[race]
    if r["status"] == "resolved" and abs(r["amount_at_risk"]) > Decimal(accepted) + 1:
        problems.append(
            f"1: {race[:8]} resolved accepting {accepted}, run at the same instant finds {r['amount_at_risk']}:"
            f" still resolved (marts {r['status']}, store {store.state(race).status})"
        )
    # 2. Reassigned, resolved, outgrown: owner team in both folds.
    h, s = now[handed], store.state(handed)
    assert h["reopened_because"] == "amount_grew"
    if h["owner_team"] != s.owner_team:
        problems.append(f"2: {handed[:8]} reopened (amount_grew): marts owner {h['owner_team']}, store {s.owner_team}")
    # 4. Currency restated: reopened whether its value went down (EUR 15,200 as USD 15,300) or
    # up (EUR 3,050 as GBP 3,000), in both folds.
    for eid in (to_usd, to_gbp):
        e = now[eid]
        if (e["status"], e["reopened_because"], store.state(eid).status) != ("open", "amount_grew", "open"):
            problems.append(
                f"4: {eid[:8]} restated as {e['currency']} {e['amount_at_risk']}: marts {e['status']}"
                f" ({e['reopened_because']}), store {store.state(eid).status}"
            )

    # `twice` reopened (amount_grew); resolved again; run 3 takes the break away, run 4 brings it back.
    assert now[twice]["reopen_count"] == 1
    store.act("claim", twice, "alice")
    store.act("resolve", twice, "alice", reason="client_agreed_variance")
    set_orders(landing, {"SO-00000264": {"amount": "1290.85"}, "SO-00000146": {"amount": "17950.00"}})
    run(monkeypatch, "2026-06-17T12:00:00Z")
    # `late`: 8,516.10 at 06-16, back to 7,516.10 at 06-17. Alice acts now with a clock before
    # the 06-16 run (after its first sighting, and it has no actions): refused, nothing recorded.
    monkeypatch.setenv("RECON_AS_OF", "2026-06-15T18:00:00Z")
    backdated = True
    try:
        store.act("claim", late, "alice")
        store.act("resolve", late, "alice", reason="client_agreed_variance")
    except ActionError as exc:
        backdated = False
        assert "the last run saw the data as of 2026-06-17T12:00:00+00:00" in str(exc)
    if backdated or store.history(late):
        problems.append(f"5: {late[:8]} acted on with RECON_AS_OF before the last run: accepted")
    set_orders(landing, {"SO-00000264": {"amount": "2900.00"}})
    run(monkeypatch, "2026-06-18T12:00:00Z")
    now = marts(recon_home)

    # 3. reopen_count after amount_grew then came_back.
    reopens = sum(1 for a in store.history(twice) if a["action"] == "reopen")
    if now[twice]["reopen_count"] != reopens:
        problems.append(
            f"3: {twice[:8]} reopened {reopens} times in the store (amount_grew, came_back); "
            f"marts reopen_count {now[twice]['reopen_count']} ({now[twice]['reopened_because']})"
        )
    # 1 again: a later run with nothing new leaves the race resolved for good.
    if now[race]["status"] == "resolved" and abs(now[race]["amount_at_risk"]) > Decimal(accepted) + 1:
        problems.append(f"1: {race[:8]} still resolved two runs later at {now[race]['amount_at_risk']}")
    # A second run at the same instant with the booking restated again (two runs at one
    # RECON_AS_OF): the snapshot holds a version replaced as it began, which once repeated
    # an event_id in fct_exception_history and failed every later build.
    set_orders(landing, {"SO-00000249": {"amount": "7600.00"}})
    run(monkeypatch, "2026-06-18T12:00:00Z")
    now = marts(recon_home)

    # Both folds agree on every exception, SLA included, and the log verifies.
    for eid, m in now.items():
        s = store.state(eid)
        store_at = datetime.fromisoformat(s.reopened_at) if s.reopened_at else None
        mine = (m["status"], m["claimed_by"], m["owner_team"], m["last_reopened_at"], m["sla_due_at"])
        theirs = (s.status, s.claimed_by, s.owner_team, store_at, s.sla_due_at)
        if mine != theirs:
            problems.append(f"fold: {eid[:8]} marts {mine}, store {theirs}")
    assert not store.verify()
    assert not problems, "\n".join(problems[:20])


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


def test_sql_and_python_lifecycles_agree_on_every_exception(
    after_first_night: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One business clock for the runs and the actions (the SLA breach depends on it): the
    # actions below are taken at the first night's.
    recon_home = after_first_night
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
    finance, media, accounts = by_team["finance"], by_team["media_ops"], by_team["account_management"]
    # Escalating by hand needs one not yet escalated by an SLA breach (on this night every
    # media_ops exception is: account management's, erin's team).
    fresh = [e for e in accounts if store.state(e).escalated_to is None]
    assert len(finance) >= 7 and media and fresh

    store.act("claim", finance[0], "alice")
    store.act("claim", finance[1], "alice")
    store.act("release", finance[1], "alice")
    store.act("claim", finance[2], "bob")
    store.act("resolve", finance[2], "bob", reason="not_an_error")
    store.act("claim", finance[3], "alice")
    store.act("comment", finance[3], "bob", comment="looking at the PO")
    store.act("reassign", finance[4], "olga", team="media_ops", reason="wrong_team")
    store.act("claim", finance[4], "carol")
    store.act("claim", fresh[0], "erin")
    store.act("escalate", fresh[0], "erin", reason="needs_lead")
    other = media[0]
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
    assert sql[finance[4]][2] == "media_ops" and sql[fresh[0]][3] is not None
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
