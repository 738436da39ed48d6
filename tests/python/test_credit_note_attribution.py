"""Credit notes an operator can attribute (issue 11, trust).

Landing files written by hand, real Dagster runs, the published marts read back. Real
exports name the credited invoice's number in a reference, description or memo field
("Credit for INV-1043", "CN against 1044"), not the order: such a credit note credits the
order that invoice is matched to, however the number is typed, and never through an invoice
of another client.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import BuiltHomes
from test_agency_nights import INVOICE_COLUMNS, LINE_COLUMNS, ORDER_COLUMNS, query, run, write_csv
from test_manual_match import checked

from orchestration import cli, links, publish
from orchestration.actions import ActionStore
from orchestration.trace import render, trace

CREDIT_COLUMNS = "credit_note_id,invoice_id,client_name,reference,issue_date,currency,net_amount,reason".split(",")

# order id, client id, client name, reference, amount, invoice id, invoice number
ORDERS = (
    ("SO-2610-11", "C-01", "Acme Widgets Ltd", "PO-2610-11", "10000.00", "INV-01043", "1043"),
    ("SO-2610-12", "C-01", "Acme Widgets Ltd", "PO-2610-12", "6000.00", "INV-01044", "1044"),
    ("SO-2610-21", "C-02", "Birch Dental LLC", "PO-2610-21", "7000.00", "INV-02077", "1077"),
    # A billing system whose ids are UUIDs and which gives no number.
    ("SO-2610-13", "C-01", "Acme Widgets Ltd", "PO-2610-13", "3000.00", "cc8a74cb-7e07-406f-9062-a543cc338181", ""),
)


def recon(*argv: str) -> int:
    return cli.main(list(argv))


def write_two_clients(landing: Path) -> None:
    """Two clients' October orders (content packages, billed in advance), each invoiced in full."""
    write_csv(
        landing / "crm/orders/orders_2026-10.csv",
        ORDER_COLUMNS,
        [
            dict(zip(ORDER_COLUMNS, (oid, cid, name, ref, "content_package", amount, "USD", "2026-10-01",
                                     "2026-10-31", "2026-09-20", "completed", "2026-09-20 09:30"), strict=True))
            for oid, cid, name, ref, amount, _, _ in ORDERS
        ],
    )  # fmt: skip
    write_csv(
        landing / "billing/invoices/invoices_2026-10.csv",
        INVOICE_COLUMNS,
        [
            dict(zip(INVOICE_COLUMNS, (iid, number, name, ref, "2026-10-02", "2026-11-01", "USD", amount, "0.00",
                                       amount, "issued", "2026-10-02T08:00:00Z"), strict=True))
            for _, _, name, ref, amount, iid, number in ORDERS
        ],
    )  # fmt: skip
    write_csv(
        landing / "billing/invoice_lines/invoice_lines_2026-10.csv",
        LINE_COLUMNS,
        [
            dict(zip(LINE_COLUMNS, (iid, "1", "Content October 2026", ref, "1", amount, amount), strict=True))
            for _, _, _, ref, amount, iid, _ in ORDERS
        ],
    )  # fmt: skip


def credit_notes(landing: Path, rows: list[tuple]) -> None:
    write_csv(
        landing / "billing/credit_notes/credit_notes_2026-11.csv",
        CREDIT_COLUMNS,
        [dict(zip(CREDIT_COLUMNS, row, strict=True)) for row in rows],
    )


FIRST_NIGHT = "2026-11-20T03:00:00Z"


def first_night(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The night every test here starts from: the two clients' orders and invoices, and the
    credit notes of the first two tests (CN-1 to CN-8 the first's, CN-9 and CN-10 the
    second's, which quote nothing), one run."""
    landing = home / "landing"
    write_two_clients(landing)
    credit_notes(landing, [
        # The number with its prefix, in the reference.
        ("CN-1", "", "Acme Widgets", "Credit for INV-1043", "2026-11-16", "USD", "100.00", "make-good"),
        # A bare number in the description (reason), not the reference.
        ("CN-2", "", "Acme Widgets", "", "2026-11-16", "USD", "200.00", "CN against 1044 - late delivery"),
        # Lower case, a space, leading zeros.
        ("CN-3", "", "ACME WIDGETS LTD", "inv 01043", "2026-11-16", "USD", "40.00", ""),
        # The invoice id column typed otherwise than the billing system spells it.
        ("CN-4", "inv-1044", "Acme Widgets", "", "2026-11-16", "USD", "50.00", "goodwill"),
        # Acme's credit note quoting Birch's invoice: never Birch's order.
        ("CN-5", "", "Acme Widgets", "Credit for INV-02077", "2026-11-16", "USD", "300.00", ""),
        # Birch's credit note quoting a number only Acme's invoices carry: nobody's.
        ("CN-6", "", "Birch Dental", "", "2026-11-16", "USD", "70.00", "Credit for invoice 1043"),
        # An order reference of no order (a typo of PO-2610-12) is not invoice 1044's number.
        ("CN-7", "", "Acme Widgets", "PO-1044", "2026-11-16", "USD", "60.00", ""),
        # Digits that end a UUID are no invoice number.
        ("CN-8", "", "Acme Widgets", "", "2026-11-16", "USD", "20.00", "refund 338181"),
        # The second test's: nothing to attribute them by, an operator links them.
        ("CN-9", "", "Acme Widgets", "", "2026-11-16", "USD", "500.00", "goodwill"),
        ("CN-10", "", "Acme Widgets", "", "2026-11-16", "USD", "80.00", "pricing correction"),
    ])  # fmt: skip
    run(monkeypatch, FIRST_NIGHT)


@pytest.fixture
def after_first_night(built_homes: BuiltHomes, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The home after first_night (built once for the tests of this file)."""
    home = built_homes.restore("credit-notes-first-night", first_night, monkeypatch)
    monkeypatch.setenv("RECON_AS_OF", FIRST_NIGHT)  # the clock where the night left it
    return home


def test_a_credit_note_naming_the_invoice_number_credits_its_order(after_first_night: Path) -> None:
    recon_home = after_first_night
    credited = dict(query(recon_home, "select order_id, credited_amount from marts.fct_reconciled_orders"))
    assert credited == {"SO-2610-11": 140, "SO-2610-12": 250, "SO-2610-13": 0, "SO-2610-21": 0}, credited
    unmatched = query(
        recon_home,
        "select record_id, amount_at_risk from marts.fct_exception_current"
        " where exception_type = 'unmatched_credit_note' order by record_id",
    )
    # CN-9 and CN-10 (the next test's) quote nothing: unmatched too.
    assert unmatched == [("CN-10", 80), ("CN-5", 300), ("CN-6", 70), ("CN-7", 60), ("CN-8", 20), ("CN-9", 500)], (
        unmatched
    )
    # How each was attributed, for an operator reading why.
    how = dict(
        query(
            recon_home,
            "select credit_note_id, attributed_by || ':' || coalesce(credited_invoice_id, '')"
            " from intermediate.int_credit_note_assignments where order_id is not null",
        )
    )
    assert how == {
        "CN-1": "invoice_number:INV-01043",
        "CN-2": "invoice_number:INV-01044",
        "CN-3": "invoice_number:INV-01043",
        "CN-4": "invoice_number:INV-01044",
    }, how


def test_an_operator_links_a_credit_note_and_unmatch_undoes_it(
    after_first_night: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """Round trip: match → run → marts and money follow → unmatch → run → back as it was.
    CN-9 (500.00) and CN-10 (80.00) quote nothing; the first test's credit notes are there
    too (they credit SO-2610-11 140 and SO-2610-12 250, CN-5 to CN-8 unmatched)."""
    recon_home = after_first_night
    exceptions = dict(
        query(
            recon_home,
            "select record_id, exception_id from marts.fct_exception_current"
            " where exception_type = 'unmatched_credit_note' and status = 'open'",
        )
    )
    assert set(exceptions) == {"CN-5", "CN-6", "CN-7", "CN-8", "CN-9", "CN-10"}
    cn9, cn10 = exceptions["CN-9"][:12], exceptions["CN-10"][:12]

    monkeypatch.setenv("RECON_AS_OF", "2026-11-20T10:00:00Z")
    assert recon("exceptions", "claim", cn9, "--as", "alice") == 0
    assert recon("exceptions", "claim", cn10, "--as", "alice") == 0
    # A key the published data lacks, or two orders for one credit note: refused, nothing recorded.
    capsys.readouterr()
    assert recon("exceptions", "match", cn9, "--as", "alice", "--reason", "confirmed_by_document",
                 "--with", "SO-NOPE") == 4  # fmt: skip
    assert "SO-NOPE" in capsys.readouterr().err
    assert recon("exceptions", "match", cn9, "--as", "alice", "--reason", "confirmed_by_document",
                 "--with", "SO-2610-11", "SO-2610-12") == 2  # fmt: skip
    # To an order; to an invoice (the engine follows it to the order it bills).
    assert recon("exceptions", "match", cn9, "--as", "alice", "--reason", "confirmed_by_document",
                 "--with", "SO-2610-12") == 0  # fmt: skip
    assert recon("exceptions", "match", cn10, "--as", "alice", "--reason", "confirmed_by_document",
                 "--with", "INV-01043") == 0  # fmt: skip
    checked(cn9)  # a link waiting for a checker applies once approved (maker–checker)
    checked(cn10)
    [entry] = [h for h in ActionStore().history(exceptions["CN-9"]) if h["action"] == "match"]
    assert (entry["actor"], entry["reason_code"]) == ("alice", "confirmed_by_document")

    run(monkeypatch, "2026-11-21T03:00:00Z")
    credited = dict(query(recon_home, "select order_id, credited_amount from marts.fct_reconciled_orders"))
    assert credited == {"SO-2610-11": 140 + 80, "SO-2610-12": 250 + 500, "SO-2610-13": 0, "SO-2610-21": 0}, credited
    net = query(recon_home, "select net_billed_amount from marts.fct_reconciled_orders where order_id = 'SO-2610-12'")
    assert net == [(6000 - 250 - 500,)]
    how = query(
        recon_home,
        "select credit_note_id, attributed_by, credited_invoice_id from intermediate.int_credit_note_assignments"
        " where credit_note_id in ('CN-9', 'CN-10') order by credit_note_id",
    )
    assert how == [("CN-10", "operator", "INV-01043"), ("CN-9", "operator", None)], how
    states = dict(
        query(
            recon_home,
            "select record_id, status from marts.fct_exception_current where exception_type = 'unmatched_credit_note'",
        )
    )
    assert states == {"CN-5": "open", "CN-6": "open", "CN-7": "open", "CN-8": "open", "CN-9": "auto_resolved",
                      "CN-10": "auto_resolved"}, states  # fmt: skip

    # What the link recorded: each credit note as the publication showed it (its fingerprint).
    [cn10_match] = [h for h in ActionStore().history(exceptions["CN-10"]) if h["action"] == "match"]
    published = dict(query(recon_home, "select credit_note_id, record_fingerprint from marts.fct_credit_notes"))
    assert links.Link.from_target(cn10_match["target"]).right_fingerprints == (published["CN-10"],)
    # A credit note the publication lacks is refused by name, before anything is recorded.
    missing, _ = links.look_up(links.Link(links.CREDIT_NOTES, ("SO-2610-12",), ("CN-NOPE",)), publish.serving_path())
    assert missing == ["credit note CN-NOPE"], missing

    # The link was wrong: undone on the exception it closed (no other is open on its records).
    monkeypatch.setenv("RECON_AS_OF", "2026-11-21T10:00:00Z")
    assert recon("exceptions", "unmatch", cn9, "--as", "alice", "--reason", "wrong_match",
                 "--with", "SO-2610-12") == 0  # fmt: skip
    # Said once is enough: the same unmatch again changes nothing and is refused.
    assert recon("exceptions", "unmatch", cn9, "--as", "alice", "--reason", "wrong_match",
                 "--with", "SO-2610-12") != 0  # fmt: skip
    # The same night, CN-10 comes again, restated (80.00 -> 95.00): alice linked the 80.00
    # note, so her link no longer decides the one billing now says.
    write_csv(
        recon_home / "landing/billing/credit_notes/credit_notes_2026-11-21.csv",
        CREDIT_COLUMNS,
        [dict(zip(CREDIT_COLUMNS, ("CN-10", "", "Acme Widgets", "", "2026-11-16", "USD", "95.00",
                                   "pricing correction"), strict=True))],
    )  # fmt: skip
    run(monkeypatch, "2026-11-22T03:00:00Z")
    credited = dict(query(recon_home, "select order_id, credited_amount from marts.fct_reconciled_orders"))
    assert credited == {"SO-2610-11": 140, "SO-2610-12": 250, "SO-2610-13": 0, "SO-2610-21": 0}, credited
    states = dict(
        query(
            recon_home,
            "select record_id, status from marts.fct_exception_current where exception_type = 'unmatched_credit_note'",
        )
    )
    assert states == {"CN-5": "open", "CN-6": "open", "CN-7": "open", "CN-8": "open", "CN-9": "open",
                      "CN-10": "open"}, states  # fmt: skip
    notes = query(recon_home, "select credit_note_id, order_id, attributed_by, operator_link_lapsed, net_amount"
                  " from marts.fct_credit_notes where credit_note_id in ('CN-9', 'CN-10') order by 1")  # fmt: skip
    assert notes == [("CN-10", None, None, True, 95), ("CN-9", None, None, False, 500)], notes
    [(changed, status, at_risk)] = query(
        recon_home,
        "select exception_id, status, amount_at_risk from marts.fct_exception_current"
        " where exception_type = 'manual_link_changed' and record_id = 'CN-10'",
    )
    assert (status, at_risk) == ("open", 0), (status, at_risk)
    # The review says which link lapsed, though it was made on another exception.
    capsys.readouterr()
    assert recon("exceptions", "show", changed[:12]) == 0
    shown = capsys.readouterr().out
    assert "INV-01043 ↔ CN-10: linked by alice (#" in shown and "no longer decides it" in shown, shown

    # Reviewed by operations, who own manual_link_changed (seed exception_policy): paul links
    # the 95.00 note again, from the review itself; the next run credits it.
    monkeypatch.setenv("RECON_AS_OF", "2026-11-22T10:00:00Z")
    assert recon("exceptions", "claim", changed[:12], "--as", "paul") == 0
    assert recon("exceptions", "match", changed[:12], "--as", "paul", "--reason", "confirmed_by_document",
                 "--with", "INV-01043") == 0  # fmt: skip
    checked(changed)
    # Billing sends the 95.00 note again, its client name in other case and spacing: the same
    # note as the rules read it (by its normalised name), so paul's link holds.
    write_csv(
        recon_home / "landing/billing/credit_notes/credit_notes_2026-11-22.csv",
        CREDIT_COLUMNS,
        [dict(zip(CREDIT_COLUMNS, ("CN-10", "", "ACME  widgets", "", "2026-11-16", "USD", "95.00",
                                   "pricing correction"), strict=True))],
    )  # fmt: skip
    run(monkeypatch, "2026-11-23T03:00:00Z")
    credited = dict(query(recon_home, "select order_id, credited_amount from marts.fct_reconciled_orders"))
    assert credited == {"SO-2610-11": 140 + 95, "SO-2610-12": 250, "SO-2610-13": 0, "SO-2610-21": 0}, credited
    states = dict(
        query(
            recon_home,
            "select exception_type || ' ' || record_id, status from marts.fct_exception_current"
            " where record_id in ('CN-9', 'CN-10')",
        )
    )
    assert states == {"unmatched_credit_note CN-9": "open", "unmatched_credit_note CN-10": "auto_resolved",
                      "manual_link_changed CN-10": "auto_resolved"}, states  # fmt: skip


def test_a_restated_invoice_header_whose_lines_say_otherwise_is_raised(
    after_first_night: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The billing source re-sends a header (a new status, a new total) but not its lines, or
    lines but not their header. A new status alone: the lines carry on under it. Amounts that
    no longer agree: raised on the invoice (trace names the file and row), never billed in
    silence from whichever half came last. (The first night's credit notes credit, they do
    not bill: billed amounts and these exceptions are the invoices' own.)"""
    recon_home = after_first_night
    landing = recon_home / "landing"

    write_csv(
        landing / "billing/invoices/invoices_2026-11-restated.csv",
        INVOICE_COLUMNS,
        [
            # A discount restated the header to 8,000; its lines (10,000) were not re-sent.
            dict(zip(INVOICE_COLUMNS, ("INV-01043", "1043", "Acme Widgets Ltd", "PO-2610-11", "2026-10-02",
                                       "2026-11-01", "USD", "8000.00", "0.00", "8000.00", "issued",
                                       "2026-11-10T08:00:00Z"), strict=True)),
            # Paid: a new status, the same amounts.
            dict(zip(INVOICE_COLUMNS, ("INV-01044", "1044", "Acme Widgets Ltd", "PO-2610-12", "2026-10-02",
                                       "2026-11-01", "USD", "6000.00", "0.00", "6000.00", "paid",
                                       "2026-11-10T08:00:00Z"), strict=True)),
        ],
    )  # fmt: skip
    # Birch's line re-sent at 7,500; its header (7,000) was not.
    write_csv(
        landing / "billing/invoice_lines/invoice_lines_2026-11-restated.csv",
        LINE_COLUMNS,
        [dict(zip(LINE_COLUMNS, ("INV-02077", "1", "Content October 2026", "PO-2610-21", "1", "7500.00",
                                 "7500.00"), strict=True))],
    )  # fmt: skip
    run(monkeypatch, "2026-11-21T03:00:00Z")

    billed = dict(query(recon_home, "select order_id, billed_amount from marts.fct_reconciled_orders"))
    assert billed["SO-2610-12"] == 6000  # the paid header's lines carry on
    raised = query(
        recon_home,
        "select record_entity, record_id, amount_at_risk, status from marts.fct_exception_current"
        " where exception_type = 'invoice_lines_disagree' order by record_id",
    )
    assert raised == [
        ("stg_billing__invoices", "INV-01043", 2000, "open"),
        ("stg_billing__invoices", "INV-02077", 500, "open"),
    ], raised
    [(exception_id,)] = query(
        recon_home,
        "select exception_id from marts.fct_exception_current where exception_type = 'invoice_lines_disagree'"
        " and record_id = 'INV-01043'",
    )
    text = render(trace(recon_home / "warehouse.duckdb", ActionStore().path, exception_id[:8]))
    assert "billing/invoices/invoices_2026-11-restated.csv" in text, text
    [(exception_id,)] = query(
        recon_home,
        "select exception_id from marts.fct_exception_current where exception_type = 'invoice_lines_disagree'"
        " and record_id = 'INV-02077'",
    )
    text = render(trace(recon_home / "warehouse.duckdb", ActionStore().path, exception_id[:8]))
    assert "billing/invoice_lines/invoice_lines_2026-11-restated.csv" in text, text

    # The lines are re-sent as the header now says: settled.
    write_csv(
        landing / "billing/invoice_lines/invoice_lines_2026-11-restated-2.csv",
        LINE_COLUMNS,
        [dict(zip(LINE_COLUMNS, ("INV-01043", "1", "Content October 2026", "PO-2610-11", "1", "8000.00",
                                 "8000.00"), strict=True))],
    )  # fmt: skip
    run(monkeypatch, "2026-11-22T03:00:00Z")
    billed = dict(query(recon_home, "select order_id, billed_amount from marts.fct_reconciled_orders"))
    assert billed["SO-2610-11"] == 8000
    states = dict(
        query(
            recon_home,
            "select record_id, status from marts.fct_exception_current where exception_type = 'invoice_lines_disagree'",
        )
    )
    assert states == {"INV-01043": "auto_resolved", "INV-02077": "open"}, states
