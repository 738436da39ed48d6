"""A manual link round trip: match → run → marts and money follow → unmatch → run.

Real parts only: a generated landing folder, the Dagster job (ingest, dbt build,
publication), the SQLite action store written through the CLI, the published marts read
back. The operator links an orphan billing item to an order by hand; the next run must
match it by the `operator` pass (versioned by the action), bill the order with it and
close the orphan exception. When the item is restated, the link lapses and is raised for
review (manual_link_changed) until the operator matches again. Unmatching it from the
order's new exception must undo all of that, and the engine must not link the pair again
by any rule.
"""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

import pytest

# The read-only warehouse query the lifecycle test uses.
from conftest import BuiltHomes
from test_lifecycle import query  # noqa: E402

from orchestration import cli, pipeline
from orchestration.actions import ActionStore
from orchestration.lab import generate


def recon(*argv: str) -> int:
    return cli.main(list(argv))


def restate_one_line(home: Path, item: str) -> None:
    """Re-send the landing file holding one of the item's lines, that line 10.00 higher."""
    [(invoice_id, line_number)] = query(
        home,
        "select invoice_id, line_number from intermediate.int_invoice_lines_billable"
        " where billing_item_id = ? order by line_number limit 1",
        [item],
    )
    for path in sorted((home / "landing" / "billing" / "invoice_lines").glob("*.csv")):
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
        hits = [r for r in rows if r["invoice_id"] == invoice_id and int(r["line_number"]) == line_number]
        if hits:
            hits[0]["net_amount"] = str(Decimal(hits[0]["net_amount"]) + Decimal("10.00"))
            hits[0]["unit_price"] = str(Decimal(hits[0]["net_amount"]) / Decimal(hits[0]["quantity"] or 1))
            with open(path, "w", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
            return
    raise AssertionError(f"no landing row for {invoice_id} line {line_number}")


def withdraw(home: Path, folder: str, column: str, values: set[str]) -> list[str]:
    """Re-send each landing file of ``folder`` holding rows whose ``column`` is one of
    ``values``, without them (an incremental file restated at its path without a record
    withdraws it: landing contract). Returns the files re-sent, relative to landing."""
    resent = []
    for path in sorted((home / "landing" / folder).glob("*.csv")):
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
        kept = [r for r in rows if r[column] not in values]
        if len(kept) < len(rows):
            with open(path, "w", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(kept)
            resent.append(str(path.relative_to(home / "landing")))
    assert resent, (folder, column, values)
    return resent


def spend_past_range(home: Path, campaign: str, currency: str) -> None:
    """Re-send the landing file holding the campaign's first two days, each at 90 % of its
    currency's range for one amount: each is within it, their sum is not (amount_out_of_range)."""
    spend = {"JPY": "900000000000", "SEK": "90000000000"}.get(currency, "9000000000")
    for path in sorted((home / "landing" / "ads" / "delivery").glob("*.csv")):
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
        hits = [r for r in rows if r["campaign_id"] == campaign][:2]
        if len(hits) == 2:
            for row in hits:
                row["spend"] = spend
            with open(path, "w", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
            return
    raise AssertionError(f"no landing file with two days of {campaign}")


def checked(exception_id: str) -> None:
    """Approve the links waiting for a checker on the exception (maker–checker: a match of
    records of another client or currency, or moving more than adjustment_approval_threshold,
    applies only once approved): bob, finance's approver, where he may, else olga (ops lead)."""
    state = ActionStore().state(exception_id)
    for link_id, held in state.pending_links.items():
        finance = "finance" in (state.owner_team, state.escalated_to)
        checker = "bob" if finance and held["maker"] != "bob" else "olga"
        assert checker != held["maker"], f"no approver but the maker for {link_id} on {exception_id}"
        assert recon("exceptions", "approve", exception_id[:12], "--as", checker, "--link", link_id) == 0


def given_to_finance(exception_id: str) -> None:
    """Reassign the exception to finance (olga, ops lead), so that bob, its approver, checks
    olga's links on it: the shipped roster has no other approver than olga outside finance."""
    if ActionStore().state(exception_id).owner_team != "finance":
        assert recon("exceptions", "reassign", exception_id[:12], "--as", "olga", "--team", "finance",
                     "--reason", "wrong_team") == 0  # fmt: skip


def linked_by_hand(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first two nights both tests start from: a generated book and a run, then an
    operator links two orphan billing items by hand, each to orders of its currency (the
    first test's to one order, the second test's to two), and a second run. What each test
    checks is picked here, disjoint, and kept in the home (picks.json)."""
    generate.generate(home, seed=7, orders=300, file_format="csv", bad_rows=False, bad_files=False)
    assert pipeline.run_pipeline()

    # Two orphan billing items; the first test's order, and the second test's two orders.
    [(exception_id, item, currency, amount), (two_exception, two_item, two_currency, two_amount)] = query(
        home,
        "select exception_id, record_id, currency, amount_at_risk from marts.fct_reconciliation_exceptions"
        " where exception_type = 'orphan_invoice' order by record_id limit 2",
    )
    [(order, billed_before)] = query(
        home,
        "select order_id, billed_amount from marts.fct_reconciled_orders"
        " where currency = ? and not is_cancelled order by order_id limit 1",
        [currency],
    )
    first, second = [
        o
        for (o,) in query(
            home,
            "select order_id from marts.fct_reconciled_orders where currency = ? and not is_cancelled"
            " and order_id <> ? order by order_id limit 2",
            [two_currency, order],
        )
    ]

    assert recon("exceptions", "claim", exception_id[:12], "--as", "alice") == 0
    assert recon("exceptions", "match", exception_id[:12], "--as", "alice", "--reason", "confirmed_by_document",
                 "--with", order) == 0  # fmt: skip
    checked(exception_id)
    assert recon("exceptions", "claim", two_exception[:12], "--as", "alice") == 0
    assert recon("exceptions", "match", two_exception[:12], "--as", "alice", "--reason", "confirmed_by_document",
                 "--with", first, second) == 0  # fmt: skip
    checked(two_exception)
    # One record of each other kind placed on an order by hand, from that order's exception
    # (olga, ops lead, acts on any team's): a campaign, a project, a credit note, each moved
    # from the order the rules gave it. The first test withdraws them.
    taken = [order, first, second]
    placed = {}
    for reconciliation, records in (
        ("delivery_orders", "select right_key from marts.fct_reconciliation_matches where reconciliation ="
                            " 'delivery_orders' and left_key <> ? order by right_key limit 1"),
        ("projects_orders", "select right_key from marts.fct_reconciliation_matches where reconciliation ="
                            " 'projects_orders' and left_key <> ? order by right_key limit 1"),
        ("credit_notes", "select credit_note_id from intermediate.int_credit_note_assignments"
                         " where order_id <> ? order by credit_note_id limit 1"),
    ):  # fmt: skip
        [(on_exception, on_order)] = query(
            home,
            "select min(exceptions.exception_id), exceptions.record_id from marts.fct_reconciliation_exceptions"
            " as exceptions where exceptions.record_entity = 'stg_crm__orders'"
            " and exceptions.record_id not in (select unnest(?)) and (? = 'credit_notes' or exceptions.record_id in"
            " (select record_key from marts.fct_reconciliation_records where reconciliation = ? and side = 'left'))"
            " group by exceptions.record_id order by exceptions.record_id limit 1",
            [taken, reconciliation, reconciliation],
        )
        [(record,)] = query(home, records, [on_order])
        given_to_finance(on_exception)
        assert recon("exceptions", "claim", on_exception[:12], "--as", "olga") == 0
        assert recon("exceptions", "match", on_exception[:12], "--as", "olga", "--reason", "confirmed_by_document",
                     "--in", reconciliation, "--with", record) == 0  # fmt: skip
        checked(on_exception)
        taken.append(on_order)
        placed[reconciliation] = {"order": on_order, "record": record}
    # A second campaign placed by hand, which the first test holds out of matching (its spend
    # past its currency's range), and a lead confirmed by hand with its form submission,
    # which the first test withdraws (lead_forms_leads raises no exceptions by its spec).
    [(on_exception, on_order)] = query(
        home,
        "select min(exceptions.exception_id), exceptions.record_id from marts.fct_reconciliation_exceptions"
        " as exceptions where exceptions.record_entity = 'stg_crm__orders' and exceptions.record_id not in"
        " (select unnest(?)) and exceptions.record_id in (select record_key from marts.fct_reconciliation_records"
        " where reconciliation = 'delivery_orders' and side = 'left')"
        " group by exceptions.record_id order by exceptions.record_id limit 1",
        [taken],
    )
    [(campaign, campaign_currency)] = query(
        home,
        "select matches.right_key, campaigns.currency from marts.fct_reconciliation_matches as matches"
        " inner join intermediate.int_ads_campaigns as campaigns on matches.right_key = campaigns.campaign_id"
        " where matches.reconciliation = 'delivery_orders' and matches.left_key <> ? and matches.right_key <> ?"
        " order by matches.right_key limit 1",
        [on_order, placed["delivery_orders"]["record"]],
    )
    given_to_finance(on_exception)
    assert recon("exceptions", "claim", on_exception[:12], "--as", "olga") == 0
    assert recon("exceptions", "match", on_exception[:12], "--as", "olga", "--reason", "confirmed_by_document",
                 "--in", "delivery_orders", "--with", campaign) == 0  # fmt: skip
    checked(on_exception)
    held_out = {"order": on_order, "record": campaign, "currency": campaign_currency}
    [(lead_exception, lead, submission)] = query(
        home,
        "select exceptions.exception_id, exceptions.record_id, records.matched_keys[1]"
        " from marts.fct_reconciliation_exceptions as exceptions inner join marts.fct_reconciliation_records"
        " as records on records.reconciliation = 'lead_forms_leads' and records.side = 'left'"
        " and records.record_key = exceptions.record_id and records.record_state = 'matched'"
        " where exceptions.exception_type = 'attribution_mismatch' order by exceptions.record_id limit 1",
    )
    given_to_finance(lead_exception)
    assert recon("exceptions", "claim", lead_exception[:12], "--as", "olga") == 0
    assert recon("exceptions", "match", lead_exception[:12], "--as", "olga", "--reason", "confirmed_by_document",
                 "--with", submission) == 0  # fmt: skip
    checked(lead_exception)
    assert pipeline.run_pipeline(), "a manual link (one of them to two orders) stopped the run"
    picks = {
        "one": {"exception_id": exception_id, "item": item, "amount": str(amount), "order": order,
                "billed_before": str(billed_before)},
        "two": {"exception_id": two_exception, "item": two_item, "amount": str(two_amount), "first": first,
                "second": second},
        "placed": placed,
        "held_out": held_out,
        "lead": {"lead": lead, "submission": submission},
    }  # fmt: skip
    (home / "picks.json").write_text(json.dumps(picks))


@pytest.fixture
def after_the_links(built_homes: BuiltHomes, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict]:
    """The home after linked_by_hand's two nights (built once for the tests of this file)."""
    home = built_homes.restore("manual-match-linked", linked_by_hand, monkeypatch)
    return home, json.loads((home / "picks.json").read_text())


def test_manual_match_feeds_the_engine_and_unmatch_undoes_it(
    after_the_links: tuple[Path, dict], capsys: pytest.CaptureFixture
) -> None:
    recon_home, picks = after_the_links
    # An orphan billing item, and an order of its currency it was linked to (linked_by_hand).
    exception_id, item, order = picks["one"]["exception_id"], picks["one"]["item"], picks["one"]["order"]
    amount, billed_before = Decimal(picks["one"]["amount"]), Decimal(picks["one"]["billed_before"])
    [entry] = [h for h in ActionStore().history(exception_id) if h["action"] == "match"]

    [(pass_name, rule_version, decision)] = query(
        recon_home,
        "select pass_name, rule_version, decision from marts.fct_reconciliation_matches"
        " where reconciliation = 'orders_invoices' and left_key = ? and right_key = ?",
        [order, item],
    )
    assert (pass_name, rule_version, decision) == ("operator", f"operator:{entry['action_id']}", "matched")
    # The money follows: the order is billed with the item (same currency, no FX).
    [(billed_after,)] = query(
        recon_home, "select billed_amount from marts.fct_reconciled_orders where order_id = ?", [order]
    )
    assert billed_after == billed_before + amount
    # The orphan is gone: later data (the operator's link) reconciled it.
    [(status,)] = query(
        recon_home, "select status from marts.fct_exception_current where exception_id = ?", [exception_id]
    )
    assert status == "auto_resolved"

    # The item is restated after the link: the link lapses, the rules decide again, and
    # the link is raised for review until the operator matches again.
    restate_one_line(recon_home, item)
    # The same night the sources withdraw a record of each other kind an operator placed on
    # an order by hand (linked_by_hand): the second test's item (linked to two orders), a
    # campaign, a project and a credit note, each file re-sent without it.
    two, placed = picks["two"], picks["placed"]
    # The item's whole invoice, header and lines (an invoice's header alone still bills).
    [(invoice,)] = query(
        recon_home,
        "select distinct invoice_id from intermediate.int_invoice_lines_billable where billing_item_id = ?",
        [two["item"]],
    )
    assert item.split("#")[0] != invoice, "the first test's item is on the invoice withdrawn"
    withdraw(recon_home, "billing/invoices", "invoice_id", {invoice})
    withdraw(recon_home, "billing/invoice_lines", "invoice_id", {invoice})
    withdraw(recon_home, "ads/delivery", "campaign_id", {placed["delivery_orders"]["record"]})
    withdraw(recon_home, "fulfilment/deliverables", "project_id", {placed["projects_orders"]["record"]})
    [credit_note_file] = withdraw(
        recon_home, "billing/credit_notes", "credit_note_id", {placed["credit_notes"]["record"]}
    )
    # The lead's form submission withdrawn; the second campaign's spend past what the models
    # compute with, two days at 90 % of its currency's range each: held out of matching.
    lead, submission = picks["lead"]["lead"], picks["lead"]["submission"]
    withdraw(recon_home, "ads/lead_forms", "submission_id", {submission})
    held_out = picks["held_out"]
    spend_past_range(recon_home, held_out["record"], held_out["currency"])
    assert pipeline.run_pipeline()
    # Each order that lost a record placed on it by hand is reviewed: the link decides nothing
    # any more and what it placed left the order. Before, nothing was raised (the record's own
    # exception, if open, closed as record_withdrawn).
    reviewed = {
        o: (status, at_risk)
        for o, status, at_risk in query(
            recon_home,
            "select record_id, status, amount_at_risk from marts.fct_exception_current"
            " where exception_type = 'manual_link_changed' and record_entity = 'stg_crm__orders'",
        )
    }
    lost = [two["first"], two["second"], *(p["order"] for p in placed.values())]
    # Not the order of the campaign held out of matching: it is not withdrawn (its
    # amount_out_of_range asks for the source to be corrected). Before, it was reviewed too.
    assert query(
        recon_home,
        "select 1 from intermediate.int_amounts_out_of_range where record_entity = 'int_ads_campaigns'"
        " and record_id = ?",
        [held_out["record"]],
    ), "the campaign is not held out"
    assert reviewed == {o: ("open", 0) for o in lost}, reviewed
    assert not query(
        recon_home,
        "select 1 from intermediate.int_operator_links_withdrawn where withdrawn_key = ?",
        [held_out["record"]],
    )
    # The lead whose submission was withdrawn is reviewed, and the review says what withdrew it.
    # Before, a lead link lapsed without a word.
    [(lead_review, lead_status)] = query(
        recon_home,
        "select exception_id, status from marts.fct_exception_current where exception_type = 'manual_link_changed'"
        " and record_entity = 'stg_crm__leads' and record_id = ?",
        [lead],
    )
    assert lead_status == "open"
    capsys.readouterr()
    assert recon("exceptions", "show", lead_review[:12]) == 0
    shown = capsys.readouterr().out
    assert (
        f"{lead} ↔ {submission}: linked by olga (#" in shown
        and f"lapsed: ads/lead_forms submission_id {submission} was withdrawn from its source" in shown
        and "the rules decide this record again" in shown
    ), shown
    # The review names the link and the file that withdrew the record.
    [(review,)] = query(
        recon_home,
        "select exception_id from marts.fct_exception_current where exception_type = 'manual_link_changed'"
        " and record_id = ?",
        [placed["credit_notes"]["order"]],
    )
    capsys.readouterr()
    assert recon("exceptions", "show", review[:12]) == 0
    shown = capsys.readouterr().out
    note = placed["credit_notes"]["record"]
    assert (
        f"by hand (credit_notes)     {placed['credit_notes']['order']} ↔ {note}: linked by olga (#" in shown
        and f"lapsed: billing/credit_notes credit_note_id {note} was withdrawn from its source: "
        f"{credit_note_file} was restated without it (batch "
        in shown
    ), shown
    [(review,)] = query(
        recon_home,
        "select exception_id from marts.fct_exception_current where exception_type = 'manual_link_changed'"
        " and record_id = ?",
        [two["first"]],
    )
    assert recon("exceptions", "show", review[:12]) == 0
    shown = capsys.readouterr().out
    assert f"lapsed: billing/invoice_lines invoice_id {invoice} was withdrawn from its source" in shown, shown
    # The lapsed campaign link is undone from its order's review, though the campaign is gone
    # from the published data (before: refused, exit 4, and the link stayed in the log).
    campaign_order, campaign = placed["delivery_orders"]["order"], placed["delivery_orders"]["record"]
    [(campaign_review,)] = query(
        recon_home,
        "select exception_id from marts.fct_exception_current where exception_type = 'manual_link_changed'"
        " and record_id = ?",
        [campaign_order],
    )
    assert recon("exceptions", "claim", campaign_review[:12], "--as", "olga") == 0
    assert recon("exceptions", "unmatch", campaign_review[:12], "--as", "olga", "--reason", "wrong_match",
                 "--in", "delivery_orders", "--with", campaign) == 0, capsys.readouterr().err  # fmt: skip
    [undone] = [h for h in ActionStore().history(campaign_review) if h["action"] == "unmatch"]
    assert (undone["actor"], undone["reason_code"]) == ("olga", "wrong_match")
    assert json.loads(undone["target"])["right"] == [campaign]
    assert not query(
        recon_home,
        "select 1 from marts.fct_reconciliation_matches where reconciliation = 'orders_invoices'"
        " and left_key = ? and right_key = ? and pass_name = 'operator'",
        [order, item],
    )
    [(changed_exception, changed_status)] = query(
        recon_home,
        "select exception_id, status from marts.fct_exception_current"
        " where exception_type = 'manual_link_changed' and record_id = ?",
        [item],
    )
    assert changed_status == "open"
    # A review, not money: the item's own break carries what is at risk (a tryout saw a
    # restated invoice's amount counted twice, by the orphan and by the lapsed link).
    [(link_at_risk, link_at_risk_reporting)] = query(
        recon_home,
        "select amount_at_risk, amount_at_risk_reporting from marts.fct_reconciliation_exceptions"
        " where exception_id = ?",
        [changed_exception],
    )
    assert link_at_risk == 0 and link_at_risk_reporting == 0
    assert recon("exceptions", "claim", changed_exception[:12], "--as", "paul") == 0
    # A key the published data does not hold is refused before anything is recorded.
    capsys.readouterr()
    assert recon("exceptions", "match", changed_exception[:12], "--as", "paul", "--reason", "confirmed_by_document",
                 "--with", "NO-SUCH-ORDER") == 4  # fmt: skip
    assert "no order NO-SUCH-ORDER" in capsys.readouterr().err
    # A reason code is required, and must be one for match.
    assert recon("exceptions", "match", changed_exception[:12], "--as", "paul", "--with", order) == 3
    assert recon("exceptions", "match", changed_exception[:12], "--as", "paul", "--reason", "wrong_match",
                 "--with", order) == 3  # fmt: skip
    assert [h["action"] for h in ActionStore().history(changed_exception)] == ["claim"]
    assert recon("exceptions", "match", changed_exception[:12], "--as", "paul", "--reason", "confirmed_by_document",
                 "--with", order) == 0  # fmt: skip
    checked(changed_exception)
    assert pipeline.run_pipeline()
    [(pass_name,)] = query(
        recon_home,
        "select pass_name from marts.fct_reconciliation_matches"
        " where reconciliation = 'orders_invoices' and left_key = ? and right_key = ?",
        [order, item],
    )
    assert pass_name == "operator"
    [(changed_status,)] = query(
        recon_home, "select status from marts.fct_exception_current where exception_id = ?", [changed_exception]
    )
    assert changed_status == "auto_resolved"
    # The campaign link undone: no longer listed as lapsed, forbidden, and its review closed.
    assert not query(
        recon_home, "select 1 from intermediate.int_operator_links_withdrawn where withdrawn_key = ?", [campaign]
    )
    assert query(
        recon_home,
        "select is_linked, actor, reason_code from intermediate.int_operator_links"
        " where reconciliation = 'delivery_orders' and left_key = ? and right_key = ?",
        [campaign_order, campaign],
    ) == [(False, "olga", "wrong_match")]
    [(campaign_review_status,)] = query(
        recon_home, "select status from marts.fct_exception_current where exception_id = ?", [campaign_review]
    )
    assert campaign_review_status == "auto_resolved"

    # The order is now billed more than booked: its billing exception is where the link is undone.
    [(order_exception,)] = query(
        recon_home,
        "select exception_id from marts.fct_reconciliation_exceptions where record_id = ?"
        " and exception_type in ('amount_variance', 'duplicate_billing')",
        [order],
    )
    assert recon("exceptions", "claim", order_exception[:12], "--as", "alice") == 0
    assert recon("exceptions", "unmatch", order_exception[:12], "--as", "alice", "--reason", "wrong_match",
                 "--with", item) == 0  # fmt: skip
    assert pipeline.run_pipeline()
    assert not query(
        recon_home,
        "select 1 from marts.fct_reconciliation_matches where reconciliation = 'orders_invoices'"
        " and left_key = ? and right_key = ?",
        [order, item],
    )
    [(billed_final,)] = query(
        recon_home, "select billed_amount from marts.fct_reconciled_orders where order_id = ?", [order]
    )
    assert billed_final == billed_before
    [(status,)] = query(
        recon_home, "select status from marts.fct_exception_current where exception_id = ?", [exception_id]
    )
    assert status == "open"  # the orphan is back: reopened
    # The pair is forbidden to every pass, not merely no longer forced.
    assert not query(
        recon_home,
        "select 1 from intermediate.int_orders_invoices__pairs where left_key = ? and right_key = ?",
        [order, item],
    )


def test_an_item_linked_by_hand_to_several_orders_never_stops_a_run(
    after_the_links: tuple[Path, dict], capsys: pytest.CaptureFixture
) -> None:
    # A helper's tryout: one match naming two orders, or two operators each matching the
    # same item to another order, failed the decisions' unique test and so every later run.
    # linked_by_hand matched an orphan item to two orders, and its run went through.
    recon_home, picks = after_the_links
    item, amount = picks["two"]["item"], Decimal(picks["two"]["amount"])
    first, second = picks["two"]["first"], picks["two"]["second"]
    linked = query(
        recon_home,
        "select order_id, billed_amount + ancillary_amount from intermediate.int_order_invoice_matches"
        " where billing_item_id = ? and match_pass = 'operator' order by order_id",
        [item],
    )
    assert [o for o, _ in linked] == sorted([first, second])
    assert sum(a for _, a in linked) == amount  # split between them, not counted twice

    # Another operator, through another order's exception, links the same item once more
    # (bob: finance, alice's team, owns the first order exceptions of this book).
    [(other_exception, third)] = query(
        recon_home,
        "select exception_id, record_id from marts.fct_reconciliation_exceptions"
        " where record_entity = 'stg_crm__orders' and owner_team = 'finance'"
        " and record_id not in (select unnest(?)) order by record_id limit 1",
        # Not the first test's order, nor one an operator placed a record on (claimed).
        [
            [
                first,
                second,
                picks["one"]["order"],
                picks["held_out"]["order"],
                *(p["order"] for p in picks["placed"].values()),
            ]
        ],
    )
    capsys.readouterr()
    assert recon("exceptions", "claim", other_exception[:12], "--as", "bob") == 0
    assert recon("exceptions", "match", other_exception[:12], "--as", "bob", "--reason", "confirmed_by_document",
                 "--with", item) == 0  # fmt: skip
    assert f"note: {item} is matched to {first} now; linking it here too ties it to both" in capsys.readouterr().err
    checked(other_exception)
    assert pipeline.run_pipeline(), "a second operator's link of the same item stopped the run"
    linked = query(
        recon_home,
        "select order_id from intermediate.int_order_invoice_matches"
        " where billing_item_id = ? and match_pass = 'operator'",
        [item],
    )
    assert {o for (o,) in linked} == {first, second, third}
