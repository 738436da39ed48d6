"""The action store on a real SQLite file: rules, single claim under concurrency, audit chain."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from orchestration.actions import ActionError, ActionStore, Conflict, InvalidInput, NotFound

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
FIN = "a" * 32
MEDIA = "b" * 32


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def catalog() -> list[dict]:
    return [
        {"exception_id": FIN, "exception_type": "unbilled_order", "owner_team": "finance",
         "severity": "manual_review", "sla_hours": 72, "currency": "USD", "amount_at_risk": "1200.00",
         "amount_at_risk_reporting": "1200.00"},
        {"exception_id": MEDIA, "exception_type": "over_delivery", "owner_team": "media_ops",
         "severity": "manual_review", "sla_hours": 24, "currency": "USD", "amount_at_risk": "80.00",
         "amount_at_risk_reporting": "80.00"},
    ]  # fmt: skip


def make_store(path: Path, clock: Clock | None = None) -> ActionStore:
    store = ActionStore(path, clock=clock or Clock(T0))
    store.refresh_catalog(catalog())
    return store


@pytest.fixture
def store(tmp_path: Path) -> ActionStore:
    return make_store(tmp_path / "actions.sqlite")


def test_claim_then_resolve_with_reason_records_state_before_and_after(store: ActionStore) -> None:
    store.act("claim", FIN[:8], "alice")
    entry = store.act("resolve", FIN[:8], "alice", reason="billed_late")
    assert '"status": "claimed"' in entry["state_before"] and '"status": "resolved"' in entry["state_after"]
    state = store.state(FIN)
    assert (state.status, state.claimed_by, state.resolution, state.attempts) == ("resolved", None, "billed_late", 1)
    assert [a["action"] for a in store.history(FIN)] == ["claim", "resolve"]
    assert store.verify() == []


@pytest.mark.parametrize(
    ("steps", "error", "message"),
    [
        ([("resolve", "alice", {"reason": "billed_late"})], ActionError, "needs a claim"),
        ([("claim", "carol", {})], ActionError, "may not claim: owned by finance"),
        ([("claim", "alice", {}), ("claim", "bob", {})], Conflict, "already claimed by alice"),
        ([("claim", "alice", {}), ("resolve", "alice", {})], ActionError, "needs a reason code"),
        ([("claim", "alice", {}), ("resolve", "alice", {"reason": "rounding"})], ActionError, "not valid for resolve"),
        ([("claim", "alice", {}), ("resolve", "bob", {"reason": "billed_late"})], Conflict, "claimed by alice"),
        ([("claim", "mallory", {})], ActionError, "unknown operator 'mallory'"),
        # No --as: the login's own user (the shipped roster maps root to dev_runner, team
        # operations, role act_as only): a service account works through --as, never itself,
        # even on what escalates to its team (a tryout found it could).
        ([("claim", None, {})], ActionError, "dev_runner has no operator role: may not claim"),
        ([("reassign", None, {"team": "finance", "reason": "wrong_team"})], ActionError, "no operator role"),
        ([("claim", "alice", {}), ("adjust", "alice", {"amount": "ten", "reason": "rounding"})], ActionError,
         "decimal number"),
        ([("reassign", "carol", {"team": "media_ops", "reason": "wrong_team"})], ActionError, "may not reassign"),
        ([("comment", "alice", {"comment": "  "})], ActionError, "needs text"),
        ([("reassign", "alice", {"team": "finance", "reason": "wrong_team"})], ActionError, "already owned by finance"),
    ],
)  # fmt: skip
def test_every_rule_refuses_with_a_clear_message(store, steps, error, message) -> None:
    *setup, (action, actor, kw) = steps
    for a, who, args in setup:
        store.act(a, FIN, who, **args)
    with pytest.raises(error, match=message):
        store.act(action, FIN, actor, **kw)


def test_unknown_exception_is_not_found(store: ActionStore) -> None:
    with pytest.raises(NotFound, match="no exception with id 'ffff'"):
        store.act("claim", "ffff", "alice")


def test_a_record_id_or_an_upper_case_id_typed_for_an_exception_id_is_answered_with_the_ids(tmp_path: Path) -> None:
    # A tryout: `recon exceptions show SO-1009` (the order the operator is asked about) and
    # `show 358D5910` (an id copied from a spreadsheet that upper-cased it) both said only
    # "no exception with id ...". The refusal names the ids to type; nothing is guessed.
    store = ActionStore(tmp_path / "actions.sqlite", clock=Clock(T0))
    base = {"owner_team": "finance", "severity": "manual_review", "sla_hours": 72}
    store.refresh_catalog(
        [
            {
                **base,
                "exception_id": "358d5910" + "0" * 24,
                "exception_type": "amount_variance",
                "record_id": "SO-1009",
            },
            {
                **base,
                "exception_id": "403f62b3" + "0" * 24,
                "exception_type": "currency_mismatch",
                "record_id": "SO-1009",
            },
            {
                **base,
                "exception_id": "ff190c5c" + "0" * 24,
                "exception_type": "orphan_invoice",
                "record_id": "INV-2009#",
            },
        ]
    )
    with pytest.raises(
        NotFound,
        match=r"SO-1009 is a record: its exceptions are 358d5910 \(amount_variance, open\), "
        r"403f62b3 \(currency_mismatch, open\)",
    ):
        store.act("claim", "SO-1009", "alice")
    with pytest.raises(NotFound, match=r"INV-2009 is a record: its exceptions are ff190c5c \(orphan_invoice, open\)"):
        store.catalog_entry("INV-2009")
    with pytest.raises(NotFound, match=r"ids are in lower case: 358d5910"):
        store.catalog_entry("358D5910")
    with pytest.raises(NotFound, match=r"no exception with id 'SO-9999': run `recon exceptions list`$"):
        store.catalog_entry("SO-9999")


def test_maker_checker_for_adjustments_above_threshold(store: ActionStore) -> None:
    store.act("claim", FIN, "bob")
    small = store.act("adjust", FIN, "bob", amount="12.50", reason="rounding")
    assert store.state(FIN).pending_adjustments == {} and len(store.state(FIN).applied_adjustments) == 1
    big = store.act("adjust", FIN, "bob", amount="-900.00", reason="pricing_error")
    adjustment = big["target"]
    assert adjustment in store.state(FIN).pending_adjustments and small["target"] != adjustment
    with pytest.raises(ActionError, match="maker-checker"):
        store.act("approve", FIN, "bob", adjustment=adjustment)
    with pytest.raises(ActionError, match="no approver role"):
        store.act("approve", FIN, "alice", adjustment=adjustment)
    with pytest.raises(ActionError, match="awaits approval"):
        store.act("resolve", FIN, "bob", reason="credit_issued")
    with pytest.raises(ActionError, match=f"approve needs --adjustment .*pending: {adjustment}"):
        store.act("approve", FIN, "olga")  # which one: the command line named none
    store.act("approve", FIN, "olga", adjustment=adjustment)
    assert store.state(FIN).pending_adjustments == {}
    store.act("resolve", FIN, "bob", reason="credit_issued")
    assert store.state(FIN).status == "resolved"


def finance_exception(
    eid: str, currency: str | None, at_risk: str | None, reporting: str | None, kind: str = "amount_variance"
) -> dict:
    return {"exception_id": eid, "exception_type": kind, "owner_team": "finance",
            "severity": "manual_review", "sla_hours": 72, "currency": currency, "amount_at_risk": at_risk,
            "amount_at_risk_reporting": reporting}  # fmt: skip


def test_the_threshold_is_compared_in_the_reporting_currency(tmp_path: Path) -> None:
    """480 EUR is 541.50 USD at the exception's own rate (11999.8724 / 10636.94): over the 500 USD
    threshold, it waits for a checker; 440 EUR (496.38 USD) does not. An exception whose rate is
    unknown (no currency, or nothing at risk to take a rate from) needs a checker for any amount."""
    eur, no_rate, no_currency = "e" * 32, "f" * 32, "c" * 32
    store = ActionStore(tmp_path / "actions.sqlite", clock=Clock(T0))
    store.refresh_catalog(
        [
            finance_exception(eur, "EUR", "10636.9400", "11999.8724"),
            finance_exception(no_rate, "GBP", "0.0000", "0.0000"),
            finance_exception(no_currency, None, None, None),
        ]
    )
    assert store.policy.reporting_currency == "USD" and store.policy.approval_threshold == Decimal("500.00")
    for eid in (eur, no_rate, no_currency):
        store.act("claim", eid, "alice")
    big = store.act("adjust", eur, "alice", amount="480", reason="fx_difference")
    assert store.state(eur).pending_adjustments.keys() == {big["target"]}
    store.act("reject", eur, "bob", adjustment=big["target"])
    small = store.act("adjust", eur, "alice", amount="-440", reason="fx_difference")  # rejected 480 not counted
    assert (
        not store.state(eur).pending_adjustments
        and store.state(eur).applied_adjustments[0]["adjustment_id"] == (small["target"])
    )
    for eid in (no_rate, no_currency):
        tiny = store.act("adjust", eid, "alice", amount="0.01", reason="rounding")
        assert store.state(eid).pending_adjustments.keys() == {tiny["target"]}, eid
    assert store.verify() == []


def test_a_mixed_currency_mismatch_is_compared_at_its_currencys_fx_rate(tmp_path: Path) -> None:
    """A review: an EUR order billed by a GBP invoice of 1,000 and a JPY one of 1,000,000 is a
    currency_mismatch "in GBP" with 1,001,000 at risk, 8,219.52 USD: the ratio (0.0082) made
    50,000 GBP (62,826 USD at the seed's November rate, 1.256523) 410 USD, under the 500 USD
    threshold. The seed's GBP rate decides: 50,000 waits for a checker, 390 (490.04 USD) does
    not, 400 (502.61 USD) does. A currency the seed has no rate for needs a checker at any amount."""
    mixed, no_rate = "e" * 32, "f" * 32
    store = ActionStore(tmp_path / "actions.sqlite", clock=Clock(T0))
    store.refresh_catalog(
        [
            finance_exception(mixed, "GBP", "1001000.0000", "8219.5230", kind="currency_mismatch"),
            finance_exception(no_rate, "XAU", "10.0000", "26000.0000", kind="currency_mismatch"),
        ]
    )
    for eid in (mixed, no_rate):
        store.act("claim", eid, "alice")
    big = store.act("adjust", mixed, "alice", amount="50000", reason="fx_difference")
    assert store.state(mixed).pending_adjustments.keys() == {big["target"]}
    store.act("reject", mixed, "bob", adjustment=big["target"])
    small = store.act("adjust", mixed, "alice", amount="-390", reason="fx_difference")
    assert not store.state(mixed).pending_adjustments
    assert store.state(mixed).applied_adjustments[0]["adjustment_id"] == small["target"]
    more = store.act("adjust", mixed, "alice", amount="10", reason="rounding")  # 400 GBP in all
    assert store.state(mixed).pending_adjustments.keys() == {more["target"]}
    tiny = store.act("adjust", no_rate, "alice", amount="0.01", reason="rounding")
    assert store.state(no_rate).pending_adjustments.keys() == {tiny["target"]}
    assert store.verify() == []
    assert store.policy.fx_rate("GBP", T0.date()) == Decimal("1.256523")


def test_every_adjustment_counts_towards_the_total_approved_or_not(store: ActionStore) -> None:
    """After 800 adjusted and approved, a further 90 and then 10 each wait for a checker: the
    total is 890, then 900 (the tryout saw both applied: only unapproved ones were counted)."""
    store.act("claim", FIN, "alice")
    first = store.act("adjust", FIN, "alice", amount="800", reason="pricing_error")
    store.act("approve", FIN, "bob", adjustment=first["target"])
    second = store.act("adjust", FIN, "alice", amount="90", reason="pricing_error")
    assert second["target"] in store.state(FIN).pending_adjustments
    third = store.act("adjust", FIN, "alice", amount="-10", reason="rounding")  # pending ones count too
    assert set(store.state(FIN).pending_adjustments) == {second["target"], third["target"]}


def test_the_total_counts_pending_adjustments_but_not_rejected_ones(store: ActionStore) -> None:
    store.act("claim", FIN, "alice")
    pending = store.act("adjust", FIN, "alice", amount="600", reason="pricing_error")
    store.act("reject", FIN, "bob", adjustment=pending["target"])
    applied = store.act("adjust", FIN, "alice", amount="400", reason="pricing_error")  # 400: the 600 was rejected
    assert not store.state(FIN).pending_adjustments
    over = store.act("adjust", FIN, "alice", amount="100.01", reason="rounding")  # 500.01 with the 400
    assert store.state(FIN).pending_adjustments.keys() == {over["target"]} and applied["target"] != over["target"]


def test_an_adjustment_id_typed_in_other_case_or_without_its_prefix_is_named_not_taken(store: ActionStore) -> None:
    # A tryout: `approve --adjustment adj-6ed424ef` (or 6ed424ef, or pasted with a space) was
    # refused listing every pending adjustment, without saying which one was meant.
    store.act("claim", FIN, "alice")
    pending = store.act("adjust", FIN, "alice", amount="600", reason="pricing_error")["target"]
    store.act("adjust", FIN, "alice", amount="700", reason="pricing_error")
    for typed in (pending.lower(), pending.removeprefix("ADJ-"), f" {pending} "):
        with pytest.raises(NotFound, match=f"did you mean {pending}\\? pending: ADJ-"):
            store.act("approve", FIN, "bob", adjustment=typed)
    with pytest.raises(NotFound, match=r"\(pending: ADJ-"):
        store.act("approve", FIN, "bob", adjustment="ADJ-00000000")
    assert pending in store.state(FIN).pending_adjustments


def test_escalation_lets_the_escalation_team_claim(store: ActionStore) -> None:
    store.act("escalate", MEDIA, "carol", reason="needs_lead")
    assert store.state(MEDIA).escalated_to == "operations"
    store.act("claim", MEDIA, "olga")
    store.act("release", MEDIA, "olga", reason="handover")
    store.act("reassign", MEDIA, "olga", team="finance", reason="wrong_team")
    store.act("claim", MEDIA, "alice")
    assert store.state(MEDIA).owner_team == "finance"


def test_sla_due_and_overdue_follow_the_clock(tmp_path: Path) -> None:
    clock = Clock(T0)
    store = make_store(tmp_path / "a.sqlite", clock)
    assert not any(e["is_overdue"] for e in store.list_exceptions())
    clock.now = T0 + timedelta(hours=30)
    assert [e["exception_id"] for e in store.list_exceptions(overdue=True)] == [MEDIA]
    clock.now = T0 + timedelta(hours=100)
    overdue = store.list_exceptions(overdue=True)
    assert [e["exception_id"] for e in overdue] == [MEDIA, FIN]  # most urgent SLA first
    store.act("claim", FIN, "alice")
    store.act("resolve", FIN, "alice", reason="billed_late")
    assert [e["exception_id"] for e in store.list_exceptions(overdue=True)] == [MEDIA]
    assert [e["exception_id"] for e in store.list_exceptions(team="finance", status="resolved")] == [FIN]


def test_sla_breach_escalates_to_the_severity_target(tmp_path: Path) -> None:
    clock = Clock(T0)
    store = make_store(tmp_path / "a.sqlite", clock)
    with pytest.raises(ActionError, match="may not claim: owned by media_ops"):
        store.act("claim", MEDIA, "paul")  # operations, not an ops lead: not yet
    clock.now = T0 + timedelta(hours=25)  # MEDIA's 24 h SLA has passed
    state = store.state(MEDIA)
    assert (state.is_breached, state.escalated_to) == (True, "operations")
    assert store.list_exceptions(overdue=True)[0]["escalated_to"] == "operations"
    store.act("claim", MEDIA, "paul")
    assert store.state(MEDIA).claimed_by == "paul"
    assert store.state(FIN).escalated_to is None  # 72 h: not breached


def test_no_action_takes_effect_before_the_exception_or_its_latest_action(tmp_path: Path) -> None:
    """A resolution backdated before the first sighting put resolved_at before first_seen_at in
    the marts (negative hours to resolution); one before the claim reordered the history."""
    clock = Clock(T0)
    store = make_store(tmp_path / "a.sqlite", clock)  # first seen at T0
    clock.now = T0 - timedelta(days=5)
    with pytest.raises(ActionError, match=f"exception {FIN[:8]} was first seen at 2026-11-02T09:00:00\\+00:00"):
        store.act("claim", FIN, "alice")
    with pytest.raises(ActionError, match="first seen at .* or later"):
        store.act("comment", MEDIA, "carol", comment="backdated")  # a comment too: it is on the timeline
    assert store.all_actions() == []
    clock.now = T0  # the time of the run that found it: allowed
    store.act("claim", FIN, "alice")
    clock.now = T0 + timedelta(hours=6)
    store.act("comment", FIN, "alice", comment="called the client")
    clock.now = T0 + timedelta(hours=2)  # after the sighting, before the latest action
    with pytest.raises(ActionError, match="latest action, comment, in effect from 2026-11-02T15:00:00\\+00:00"):
        store.act("resolve", FIN, "alice", reason="billed_late")
    assert [a["action"] for a in store.history(FIN)] == ["claim", "comment"]
    clock.now = T0 + timedelta(hours=6)
    store.act("resolve", FIN, "alice", reason="billed_late")
    state = store.state(FIN)
    assert state.status == "resolved" and state.closed_at == (T0 + timedelta(hours=6)).isoformat()
    assert store.verify() == []


def test_a_refused_backdated_action_names_a_time_every_rule_allows(tmp_path: Path) -> None:
    """Each rule named its own bound: an operator backdating a comment was told to set
    RECON_AS_OF to the first sighting, which the later run and the latest claim refused again
    (helper session, a replay over nights)."""
    clock = Clock(T0)
    store = make_store(tmp_path / "a.sqlite", clock)  # first seen at T0
    clock.now = T0 + timedelta(days=1)
    store.refresh_catalog(catalog())  # the next night's run: catalog as of T0 + 1 day
    clock.now = T0 + timedelta(days=1, hours=6)
    store.act("claim", FIN, "alice")
    latest = (T0 + timedelta(days=1, hours=6)).isoformat()
    for backdated in (T0 - timedelta(hours=1), T0 + timedelta(hours=1), T0 + timedelta(days=1, hours=1)):
        clock.now = backdated
        with pytest.raises(ActionError, match=f" to {re.escape(latest)} or later$"):
            store.act("comment", FIN, "alice", comment="backdated")
    clock.now = datetime.fromisoformat(latest)  # as the message says: accepted
    store.act("comment", FIN, "alice", comment="at the time the refusal named")
    assert [a["action"] for a in store.history(FIN)] == ["claim", "comment"]


def test_pipeline_closes_a_break_that_reconciles_and_reopens_it_when_it_returns(tmp_path: Path) -> None:
    clock = Clock(T0)
    store = make_store(tmp_path / "a.sqlite", clock)
    media = store.catalog_entry(MEDIA)
    fin = store.catalog_entry(FIN)
    store.act("claim", FIN, "alice")
    clock.now = T0 + timedelta(hours=10)
    counts = store.refresh_catalog([media])  # FIN's counterpart arrived: the break is gone
    assert (counts["current"], counts["auto_resolved"], counts["reopened"]) == (1, 1, 0)
    state = store.state(FIN)
    assert (state.status, state.claimed_by, state.resolution) == ("auto_resolved", None, "reconciled_by_later_data")
    with pytest.raises(ActionError, match="closed by later data"):
        store.act("claim", FIN, "bob")
    assert store.refresh_catalog([media])["auto_resolved"] == 0  # closed once, not every run
    clock.now = T0 + timedelta(hours=100)
    counts = store.refresh_catalog([media, fin])  # a restatement removed the invoice: it is back
    assert (counts["auto_resolved"], counts["reopened"]) == (0, 1)
    state = store.state(FIN)
    assert (state.status, state.is_breached) == ("open", False)  # the SLA restarts when it reopens
    assert state.sla_due_at == T0 + timedelta(hours=100 + 72)
    store.act("claim", FIN, "bob")
    history = [(a["action"], a["actor"]) for a in store.history(FIN)]
    assert history == [("claim", "alice"), ("auto_resolve", "pipeline"), ("reopen", "pipeline"), ("claim", "bob")]
    assert store.verify() == []


# Each claimant is its own interpreter: it imports the store, waits for the start file so
# that all of them claim at once, claims, and prints what happened. Plain subprocesses with
# a timeout, not a multiprocessing pool: a pool whose child dies waits forever.
_CLAIMANT = """
import sys, time
from pathlib import Path
from orchestration.actions import ActionStore, Conflict
path, go, exception_id, actor = sys.argv[1:]
deadline = time.monotonic() + 120
while not Path(go).exists() and time.monotonic() < deadline:
    time.sleep(0.01)
try:
    ActionStore(Path(path)).act("claim", exception_id, actor)
    print("won")
except Conflict as exc:
    print(f"refused: {exc}")
"""


def test_concurrent_claims_exactly_one_wins_and_nothing_is_lost(tmp_path: Path) -> None:
    path = tmp_path / "race.sqlite"
    make_store(path)
    actors = ["alice", "bob", "olga"] * 4
    go = tmp_path / "go"
    claimants = [
        subprocess.Popen(
            [sys.executable, "-c", _CLAIMANT, str(path), str(go), FIN, actor],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for actor in actors
    ]
    go.touch()
    results = []
    for claimant in claimants:
        try:
            out, err = claimant.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            for c in claimants:
                c.kill()
            pytest.fail("a claimant did not finish in 180 s")
        assert claimant.returncode == 0, err
        results.append(out.strip())
    assert results.count("won") == 1
    assert all("already claimed by" in r or "already hold" in r for r in results if r != "won")
    store = ActionStore(path)
    assert [a["action"] for a in store.history(FIN)] == ["claim"]
    assert store.verify() == []
    with sqlite3.connect(path) as con:
        assert con.execute("pragma integrity_check").fetchone()[0] == "ok"
        assert con.execute("pragma journal_mode").fetchone()[0] == "wal"


def _three_actions(store: ActionStore) -> None:
    store.act("comment", FIN, "alice", comment="looking")
    store.act("claim", FIN, "alice")
    store.act("comment", FIN, "alice", comment="invoice found")


def test_log_refuses_update_and_delete_through_sqlite(store: ActionStore) -> None:
    _three_actions(store)
    with sqlite3.connect(store.path) as con:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            con.execute("update actions set actor = 'bob' where seq = 1")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            con.execute("delete from actions where seq = 1")


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        ("update actions set comment = 'nothing to see' where seq = 2", "entry seq 2: content does not match"),
        ("delete from actions where seq = 2", "entry seq 3: expected seq 2"),
        (
            "update actions set seq = 100 where seq = 1; update actions set seq = 1 where seq = 2; "
            "update actions set seq = 2 where seq = 100;",
            "does not follow the entry before it",
        ),
    ],
    ids=["edited", "deleted", "reordered"],
)
def test_audit_verify_finds_tampering_and_says_where(store: ActionStore, tamper: str, expected: str) -> None:
    _three_actions(store)
    assert store.verify() == []
    with sqlite3.connect(store.path) as con:
        # Someone with file access removes the guards first: the chain still tells.
        con.execute("drop trigger actions_no_update")
        con.execute("drop trigger actions_no_delete")
        con.executescript(tamper)
    problems = store.verify()
    assert problems and any(expected in p for p in problems), problems


def test_writers_queue_on_the_store_lock_and_go_on_when_it_is_released(tmp_path: Path) -> None:
    """A write waits its turn on actions.sqlite.lock (a kernel queue, not SQLite's sleeping retries)."""
    import fcntl
    import threading

    store = make_store(tmp_path / "actions.sqlite")
    done: list[dict] = []
    with open(tmp_path / "actions.sqlite.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another writer's turn
        writer = threading.Thread(target=lambda: done.append(store.act("claim", FIN, "alice")))
        writer.start()
        writer.join(0.5)
        assert done == [] and writer.is_alive()  # waiting, not failed and not written past the turn
        assert store.history(FIN) == []  # readers are not held up
        fcntl.flock(held, fcntl.LOCK_UN)
    writer.join(10)
    assert [e["action"] for e in done] == ["claim"] and done[0]["seq"] == 1
    assert store.verify() == []


@pytest.mark.parametrize(
    ("action", "actor", "kw", "message"),
    [
        ("claim", "alcie", {},
         "unknown operator 'alcie': did you mean 'alice'? If not, add them to config/operators.yml"),
        ("claim", "mallory", {}, "unknown operator 'mallory': add them to config/operators.yml"),
        ("reassign", "alice", {"team": "finanse", "reason": "wrong_team"},
         "'finanse' is not a team that works exceptions; did you mean 'finance'? Teams: "),
        ("reassign", "alice", {"team": "media_ops", "reason": "wrong_teem"},
         "reason code 'wrong_teem' is not valid for reassign; did you mean 'wrong_team'? Use one of: wrong_team"),
    ],
)  # fmt: skip
def test_a_typo_in_a_name_is_answered_with_the_name_it_is_close_to(store, action, actor, kw, message) -> None:
    # A tryout: `recon exceptions claim ID --as alcie` said only "unknown operator 'alcie': add
    # them to config/operators.yml", sending the operator to edit the governed roster.
    with pytest.raises(ActionError) as refused:
        store.act(action, FIN, actor, **kw)
    assert str(refused.value).startswith(message), str(refused.value)


def test_a_resolution_made_in_error_is_reopened_by_a_person_with_a_reason(tmp_path: Path) -> None:
    # A tryout: `resolve --reason written_off` by mistake could not be taken back; claim,
    # release, reassign and escalate were all refused ("resolved; nothing to ..."), even for
    # an ops lead, until new data happened to reopen it.
    clock = Clock(T0)
    store = make_store(tmp_path / "actions.sqlite", clock)
    sla_before = store.state(FIN).sla_due_at
    with pytest.raises(ActionError, match="is open; only a resolution can be reopened"):
        store.act("reopen", FIN[:8], "alice", reason="resolved_in_error")
    store.act("claim", FIN[:8], "alice")
    store.act("resolve", FIN[:8], "alice", reason="written_off")
    clock.now = T0 + timedelta(hours=5)
    with pytest.raises(ActionError, match="reopen needs a reason code"):
        store.act("reopen", FIN[:8], "alice")
    with pytest.raises(ActionError, match="'amount_grew' is recorded by the pipeline only"):
        store.act("reopen", FIN[:8], "alice", reason="amount_grew")
    with pytest.raises(ActionError, match="may not reopen an exception owned by finance"):
        store.act("reopen", FIN[:8], "carol", reason="resolved_in_error")
    entry = store.act("reopen", FIN[:8], "bob", reason="resolved_in_error", comment="written off by mistake")
    assert (entry["actor"], entry["reason_code"]) == ("bob", "resolved_in_error")
    state = store.state(FIN)
    # Open again, unclaimed, no resolution; the SLA runs from where it did (the break never left).
    assert (state.status, state.claimed_by, state.resolution, state.resolution_seq) == ("open", None, None, None)
    assert state.sla_due_at == sla_before and state.reopened_at is None
    assert store.act("claim", FIN[:8], "alice")["action"] == "claim"  # workable again
    assert "amount_grew" not in store.policy.codes_for("reopen")
    assert store.verify() == []

    # A break later data closed is not a person's to reopen: a run reopens it when found again.
    store.refresh_catalog([])
    with pytest.raises(ActionError, match="auto_resolved; only a resolution can be reopened"):
        store.act("reopen", MEDIA[:8], "olga", reason="resolved_in_error")


def test_a_link_moved_or_restated_since_may_be_matched_again_but_the_same_link_may_not(store: ActionStore) -> None:
    # What the engine reads (int_operator_links) decides whether a match changes anything: a
    # campaign linked to O1 and then moved to O2 goes back to O1 with a third match; a record
    # published with another fingerprint since is matched again to record it; the same link
    # with the same fingerprints is refused.
    from orchestration.links import Link

    store.act("claim", MEDIA, "carol")

    def match(left: str, prints: tuple = ()) -> dict:
        link = Link("delivery_orders", (left,), ("K1",), prints[:1], prints[1:])
        return store.act("match", MEDIA, "carol", reason="confirmed_by_client", link=link)

    match("O1", ("a", "b"))
    match("O2", ("c", "b"))
    match("O1", ("a", "b"))  # moved back
    with pytest.raises(Conflict, match=r"O1 ↔ K1 is linked already \(matched as #\d+ by carol"):
        match("O1", ("a", "b"))
    match("O1", ("a", "b2"))  # K1 restated since
    logged = len(store.history(MEDIA))
    with pytest.raises(Conflict, match="nothing recorded"):
        match("O1", ("a", "b2"))
    assert len(store.history(MEDIA)) == logged


def test_a_breach_with_nothing_at_risk_escalates_only_where_the_severity_says(tmp_path: Path) -> None:
    # A tryout: every void invoice, duplicate export and currency mismatch (0 at risk,
    # severity auto_resolve, never closed by later data) escalated to operations a week
    # after it was found. Seed severity_policy.escalates_with_nothing_at_risk decides.
    void, suggested, lead = "c" * 32, "d" * 32, "e" * 32
    clock = Clock(T0)
    store = ActionStore(tmp_path / "actions.sqlite", clock=clock)
    store.refresh_catalog(
        [
            {"exception_id": void, "exception_type": "void_invoice", "owner_team": "finance",
             "severity": "auto_resolve", "sla_hours": 168, "currency": "USD", "amount_at_risk": "0.0000",
             "amount_at_risk_reporting": "0.0000"},
            {"exception_id": suggested, "exception_type": "match_needs_review", "owner_team": "finance",
             "severity": "auto_resolve", "sla_hours": 168, "currency": "USD", "amount_at_risk": "500.00",
             "amount_at_risk_reporting": "500.00"},
            {"exception_id": lead, "exception_type": "duplicate_lead", "owner_team": "account_management",
             "severity": "manual_review", "sla_hours": 72, "currency": None, "amount_at_risk": None,
             "amount_at_risk_reporting": None},
        ]
    )  # fmt: skip
    clock.now = T0 + timedelta(hours=200)
    states = {eid: store.state(eid) for eid in (void, suggested, lead)}
    assert all(s.is_breached for s in states.values())
    assert states[void].escalated_to is None  # breached, stays with finance
    assert states[suggested].escalated_to == "operations"  # something at risk
    assert states[lead].escalated_to == "operations"  # manual_review: a person must look, money or not
    # An operator may still escalate it by hand.
    store.act("escalate", void[:8], "alice", reason="needs_lead")
    assert store.state(void).escalated_to == "operations"


def catalog_row(path: Path, eid: str) -> dict:
    """A row of the catalog_entries view as the store holds it (what the desk and alerts read)."""
    con = sqlite3.connect(path)
    con.row_factory = sqlite3.Row
    try:
        return dict(con.execute("select * from catalog_entries where exception_id = ?", [eid]).fetchone())
    finally:
        con.close()


def test_a_value_at_risk_is_shown_summed_and_converted_only_in_todays_reporting_currency(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fct_exception_current's rule in the store: a run writes each row's value at risk with its
    reporting currency (fct_reconciliation_exceptions.reporting_currency); with var
    reporting_currency changed since, a row of a run that reported in another is not shown,
    summed (desk, alerts) or taken as a rate (the approval threshold), but said so. Before, an
    exception closed under USD showed its USD value as EUR."""
    from orchestration import alerts, publish
    from orchestration.desk import service

    gbp = "e" * 32
    path = tmp_path / "actions.sqlite"
    usd_run = [*catalog(), finance_exception(gbp, "GBP", "1000.0000", "1256.5230")]
    store = ActionStore(path, clock=Clock(T0))
    store.refresh_catalog([{**e, "reporting_currency": "USD"} for e in usd_run])
    store.refresh_catalog([{**e, "reporting_currency": "USD"} for e in usd_run if e["exception_id"] != MEDIA])
    assert store.catalog_entry(MEDIA)["amount_at_risk_reporting"] == "80.00"  # closed, today's currency (USD)
    assert store.catalog_entry(MEDIA)["reporting_value_basis"] == "in_reporting_currency"

    monkeypatch.setattr(publish, "reporting_currency", lambda: "EUR")  # var reporting_currency: EUR
    eur = ActionStore(path, clock=Clock(T0 + timedelta(days=30)))
    entry = eur.catalog_entry(MEDIA)
    assert entry["amount_at_risk_reporting"] is None and entry["reporting_value_basis"] == "other_reporting_currency"
    assert (
        "not in today's reporting currency (EUR): last found when runs reported in USD" in entry["reporting_value_note"]
    )
    listed = {e["exception_id"]: e for e in eur.list_exceptions(include_retired=True)}
    assert {e["amount_at_risk_reporting"] for e in listed.values()} == {None}  # none is in EUR yet
    # The desk sorts, filters and sums nothing of them, and shows each one's own amount instead.
    parsed = service._parsed(catalog_row(path, MEDIA), "EUR")["row"]
    assert parsed["amount"] == 0 and parsed["amount_shown"] == "80.00 USD" and parsed["found_at_risk"] == 80
    # Alerts neither: FIN is past its SLA, with a value of a USD run.
    [breach] = [e for e in alerts.exception_events(eur) if e.kind == "sla_breached" and FIN[:8] in e.line]
    assert "value at risk not in today's reporting currency (EUR)" in breach.line and breach.weight == 0
    digest = {e.team: e.line for e in alerts.digest_events("2026-12-02", eur)}
    assert "0.00 at risk (2 with a value not in today's reporting currency, EUR, not summed)" in digest["finance"]
    # The threshold (500 EUR): GBP to EUR at the seed's rate, not at the USD run's ratio (1.2565).
    raw = catalog_row(path, gbp)
    assert eur.policy.reporting_currency == "EUR" and raw["reporting_currency"] == "USD"
    on = (T0 + timedelta(days=30)).date()
    rate = eur.policy.fx_rate("GBP", on)
    assert rate is not None and abs(rate - Decimal("1.2565")) > Decimal("0.01")
    assert eur.policy.in_reporting_currency(Decimal(100), raw, on) == Decimal(100) * rate
    # The next run, in EUR: what it finds is in EUR again; the one closed under USD stays unshown.
    eur.refresh_catalog(
        [{**e, "amount_at_risk_reporting": "1107.69", "reporting_currency": "EUR"} for e in catalog()[:1]]
    )
    assert eur.catalog_entry(FIN)["amount_at_risk_reporting"] == "1107.69"
    assert eur.catalog_entry(MEDIA)["amount_at_risk_reporting"] is None
    assert eur.catalog_entry(gbp)["reporting_value_basis"] == "other_reporting_currency"  # closed by this run
    assert eur.verify() == []


def publish_record_values(rows: list[tuple[str, str, str, dict]]) -> None:
    """A serving copy holding only marts.fct_reconciliation_record_values (reconciliation, side,
    key, values): what a match's check for a checker reads (orchestration.links.review)."""

    import duckdb

    from orchestration import publish

    path = publish.serving_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema if not exists marts")
        con.execute(
            "create or replace table marts.fct_reconciliation_record_values"
            " (reconciliation varchar, side varchar, record_key varchar, record_values json)"
        )
        con.executemany(
            "insert into marts.fct_reconciliation_record_values values (?, ?, ?, ?)",
            [(r, s, k, json.dumps(v)) for r, s, k, v in rows],
        )
    finally:
        con.close()


def test_a_manual_match_of_another_client_or_over_the_threshold_waits_for_a_checker(store: ActionStore) -> None:
    # A tryout: one operator linked a USD 9,999,999,999.9999 invoice of Zoo Ltd to an EUR order
    # of Copper Wellness, two notes and exit 0; the next run put 10 billion at risk. A match of
    # another client or currency, or moving more than adjustment_approval_threshold, now waits
    # for a different approver of the team, and the engine's reading (_link_words, as
    # int_operator_links) leaves it out until approved.
    from orchestration.links import Link

    order = {"client_id": "C-1", "name": "copper wellness", "currency": "USD", "amount": 1000}
    publish_record_values([
        ("orders_invoices", "left", "SO-1", order),
        ("orders_invoices", "left", "SO-2", {**order, "amount": 900000}),
        ("orders_invoices", "right", "X-A20#", {"client_id": None, "name": "zoo", "currency": "USD",
                                                 "amount": 9999999999.9999}),
        ("orders_invoices", "right", "INV-9#", {**order, "amount": 120.5}),
        ("orders_invoices", "right", "INV-8#", {**order, "currency": "EUR", "amount": 100}),
    ])  # fmt: skip
    store.act("claim", FIN, "alice")

    def match(left: str, right: str) -> dict:
        link = Link("orders_invoices", (left,), (right,))
        return store.act("match", FIN, "alice", reason="confirmed_by_document", link=link)

    small = match("SO-1", "INV-9#")  # same client and currency, 120.50 USD: applies at the next run
    assert "awaits_approval" not in small["target"] and not store.state(FIN).pending_links
    assert store.linked_pairs("orders_invoices") == {("SO-1", "INV-9#")}
    big = match("SO-1", "X-A20#")
    target = json.loads(big["target"])
    waiting = target["awaits_approval"]
    assert waiting.startswith("LNK-") and json.loads(big["state_after"])["pending_links"] == [waiting]
    assert any("another client" in r for r in target["review"]), target["review"]
    moved = [r for r in target["review"] if r.startswith("it moves")]
    assert moved == ["it moves 9,999,999,999.9999 USD, over adjustment_approval_threshold 500.00 USD"]
    assert store.linked_pairs("orders_invoices") == {("SO-1", "INV-9#")}  # not applied while it waits
    other = match("SO-1", "INV-8#")  # another currency, 100 EUR
    assert any("another currency" in r for r in json.loads(other["target"])["review"])
    with pytest.raises(ActionError, match="a link awaits approval"):
        store.act("resolve", FIN, "alice", reason="billed_late")
    with pytest.raises(ActionError, match="alice has no approver role"):
        store.act("approve", FIN, "alice", link_id=waiting)
    with pytest.raises(ActionError, match="approve needs --adjustment .* or --link LNK-…"):
        store.act("approve", FIN, "bob")
    with pytest.raises(NotFound, match="is a pending link: give it with --link"):
        store.act("approve", FIN, "bob", adjustment=waiting)
    approved = store.act("approve", FIN, "bob", link_id=waiting)
    assert approved["target"] == waiting and waiting not in store.state(FIN).pending_links
    assert store.linked_pairs("orders_invoices") == {("SO-1", "INV-9#"), ("SO-1", "X-A20#")}
    [word] = store.links_of("orders_invoices", "X-A20#")
    assert word["seq"] == approved["seq"]  # in force from its approval, as the engine orders it
    store.act("reject", FIN, "olga", link_id=json.loads(other["target"])["awaits_approval"])
    assert ("SO-1", "INV-8#") not in store.linked_pairs("orders_invoices") and not store.state(FIN).pending_links
    assert store.verify() == []


def test_an_adjustment_is_bounded_by_its_currencys_range(store: ActionStore) -> None:
    # A tryout: adjust --amount 999999999999 on a USD 100 exception was taken (the bound was
    # 10^12 in every currency); the landing contract caps one USD amount below 10^10.
    store.act("claim", FIN, "alice")
    with pytest.raises(InvalidInput, match=r"below 10,000,000,000 on exception aaaaaaaa, in USD: the landing"):
        store.act("adjust", FIN, "alice", amount="999999999999", reason="rounding")
    with pytest.raises(InvalidInput, match="in USD"):
        store.act("adjust", FIN, "alice", amount="-10000000000", reason="rounding")
    assert store.act("adjust", FIN, "alice", amount="9999999999.99", reason="rounding")["amount"] == "9999999999.99"


def test_an_action_on_a_resolved_exception_says_its_state_before_its_reason_code(store: ActionStore) -> None:
    store.act("claim", FIN, "alice")
    store.act("resolve", FIN, "alice", reason="billed_late")
    with pytest.raises(ActionError, match=r"is resolved \(billed_late\); nothing to adjust"):
        store.act("adjust", FIN, "alice", amount="10", reason="no_such_code")
