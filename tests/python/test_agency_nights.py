"""A small agency over a few nights, with landing files written by hand (helper session).

Three insertion orders of one client for October, delivered in full; two invoices arrive late.
Real Dagster runs at a pinned business clock that moves forward, operators acting through
ActionStore as the CLI does. Each test here was a defect found by running such nights:

1. an exception that went past its SLA and then closed (auto-resolved by the late invoice, or
   resolved by an operator after it was due) lost its `sla_breached` and `escalated` events
   from fct_exception_history, and `recon trace` called it "in time": the breach was the
   current state's only, so closing an exception rewrote its past;
2. `recon trace` was refused while a run held the working warehouse (exit 5), although the
   serving copy holds the lineage it reads (the desk traces from it): an operator tracing
   during a daytime run (the landing sensor starts one whenever a file lands) got nothing;
3. a small ad-hoc invoice with no reference, raised as an orphan invoice because it fits no
   order of its client, held the client's unbilled orders open as if it might bill them:
   their delivered_not_billed exceptions were auto-resolved, neither raised nor pending, and
   the value at risk fell from the unbilled bookings to the ad-hoc invoice's 420;
4. a credit note that reached no order (no reference, or quoting an invoice id no order's
   billing holds) was left out of every order's credited amount and raised nothing: money
   given back to a client vanished from view;
5. the late invoice of two orders quoting the first one's reference on its header only
   ("Google Ads" 12,000 + "Meta Ads" 8,000, no line references) was one 20,000 billing item
   of SO-2610-01, only suggested (over 1.3 times its booking: match_needs_review), and
   SO-2610-02, booked at 8,000, stayed delivered and not billed.
"""

from __future__ import annotations

import contextlib
import csv
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from conftest import BuiltHomes

from orchestration import cli, pipeline
from orchestration.actions import ActionStore
from orchestration.trace import render, trace

ORDER_COLUMNS = (
    "order_id,client_id,client_name,order_ref,order_type,amount,currency,service_start_date,service_end_date,"
    "order_date,status,updated_at"
).split(",")
DELIVERY_COLUMNS = (
    "platform,account_id,campaign_id,campaign_name,delivery_date,impressions,clicks,spend,currency"
).split(",")
INVOICE_COLUMNS = (
    "invoice_id,invoice_number,client_name,reference,issue_date,due_date,currency,net_amount,tax_amount,"
    "total_amount,status,updated_at"
).split(",")
LINE_COLUMNS = "invoice_id,line_number,description,reference,quantity,unit_price,net_amount".split(",")

# order id, reference, amount (USD), October 2026
ORDERS = (("SO-2610-01", "PO-2610-01", "12000.00"), ("SO-2610-02", "PO-2610-02", "8000.00"),
          ("SO-2610-03", "PO-2610-03", "5000.00"))  # fmt: skip


def write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def write_agency(landing: Path) -> None:
    write_csv(
        landing / "crm/orders/hubspot-crm-exports-all-deals-2026-11-19.csv",
        ORDER_COLUMNS,
        [
            dict(zip(ORDER_COLUMNS, (oid, "C-01", "Acme Widgets Ltd", ref, "insertion_order", amount, "USD",
                                     "2026-10-01", "2026-10-31", "2026-09-20", "completed", "2026-09-20 09:30"),
                     strict=True))
            for oid, ref, amount in ORDERS
        ],
    )  # fmt: skip
    delivery = []
    for oid, ref, amount in ORDERS:
        daily = f"{float(amount) / 31:.2f}"
        for day in range(1, 32):
            delivery.append(
                dict(zip(DELIVERY_COLUMNS, ("google_ads", "act_101", f"CMP-{oid[3:]}", f"Acme Widgets | {ref} | Oct",
                                            f"2026-10-{day:02d}", "12000", "150", daily, "USD"), strict=True))
            )  # fmt: skip
    write_csv(landing / "ads/delivery/delivery_2026-10.csv", DELIVERY_COLUMNS, delivery)
    write_invoices(landing, "2026-10", ["SO-2610-03"])


def write_invoices(landing: Path, name: str, order_ids: list[str]) -> None:
    invoices, lines = [], []
    for n, (oid, ref, amount) in enumerate(ORDERS, 1):
        if oid not in order_ids:
            continue
        iid = f"INV-0100{n}"
        invoices.append(
            dict(zip(INVOICE_COLUMNS, (iid, f"2026-0100{n}", "Acme Widgets", ref, "2026-10-02", "2026-11-01", "USD",
                                       amount, "0.00", amount, "issued", "2026-10-02T08:00:00Z"), strict=True))
        )  # fmt: skip
        lines.append(dict(zip(LINE_COLUMNS, (iid, "1", "Media buying October 2026", ref, "1", amount, amount),
                              strict=True)))  # fmt: skip
    write_csv(landing / f"billing/invoices/invoices_{name}.csv", INVOICE_COLUMNS, invoices)
    write_csv(landing / f"billing/invoice_lines/invoice_lines_{name}.csv", LINE_COLUMNS, lines)


def write_consolidated_invoice(landing: Path, name: str) -> None:
    """October's invoice of SO-2610-01 and SO-2610-02: the header quotes SO-2610-01's reference
    only, a line per platform quotes none."""
    write_csv(
        landing / f"billing/invoices/invoices_{name}.csv",
        INVOICE_COLUMNS,
        [dict(zip(INVOICE_COLUMNS, ("INV-01001", "2026-01001", "Acme Widgets", "PO-2610-01", "2026-11-20",
                                    "2026-12-20", "USD", "20000.00", "0.00", "20000.00", "issued",
                                    "2026-11-20T08:00:00Z"), strict=True))],
    )  # fmt: skip
    write_csv(
        landing / f"billing/invoice_lines/invoice_lines_{name}.csv",
        LINE_COLUMNS,
        [dict(zip(LINE_COLUMNS, ("INV-01001", n, text, "", "1", amount, amount), strict=True))
         for n, text, amount in (("1", "Google Ads - October 2026", "12000.00"),
                                 ("2", "Meta Ads - October 2026", "8000.00"))],
    )  # fmt: skip


@contextlib.contextmanager
def run_holding_the_warehouse(holder: str) -> Iterator[None]:
    """Another process holds the warehouse lock, as a run does (a lock is re-entrant within one)."""
    holding = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom orchestration.lock import warehouse_lock\n"
         f"with warehouse_lock({holder!r}, wait_seconds=0):\n    print('held', flush=True)\n    time.sleep(120)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holding.stdout is not None and holding.stdout.readline().strip() == "held"
        yield
    finally:
        holding.kill()
        holding.wait()


def run(monkeypatch: pytest.MonkeyPatch, as_of: str) -> None:
    monkeypatch.setenv("RECON_AS_OF", as_of)
    assert pipeline.run_pipeline(), "the Dagster run failed: see the log above"


def query(home: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def exception_of(home: Path, exception_type: str, record_id: str) -> str:
    rows = query(
        home,
        "select exception_id from marts.fct_exception_current where exception_type = ? and record_id = ?",
        [exception_type, record_id],
    )
    assert len(rows) == 1, (exception_type, record_id, rows)
    return rows[0][0]


def sla_events(home: Path, exception_id: str) -> list[tuple]:
    return query(
        home,
        "select event_type, event_at, target from marts.fct_exception_history "
        "where exception_id = ? and event_type in ('sla_breached', 'escalated') order by event_number",
        [exception_id],
    )


FIRST_NIGHT = "2026-11-20T03:00:00Z"


def first_night(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """October's invoices of two orders are late. Billed in advance: due 1 October, plus 35
    days of billing grace, so both are delivered_not_billed, past their 24 h SLA."""
    write_agency(home / "landing")
    run(monkeypatch, FIRST_NIGHT)


@pytest.fixture
def after_first_night(built_homes: BuiltHomes, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The agency's home after its first night (built once for the tests of this file)."""
    home = built_homes.restore("agency-first-night", first_night, monkeypatch)
    monkeypatch.setenv("RECON_AS_OF", FIRST_NIGHT)  # the clock where the night left it
    return home


def test_a_breach_stays_in_the_history_after_the_exception_closes(
    after_first_night: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recon_home = after_first_night
    landing = recon_home / "landing"
    late = exception_of(recon_home, "delivered_not_billed", "SO-2610-01")
    worked = exception_of(recon_home, "delivered_not_billed", "SO-2610-02")
    due = query(recon_home, "select sla_due_at from marts.fct_exception_current where exception_id = ?", [late])[0][0]
    breached = [("sla_breached", due, "finance"), ("escalated", due, "operations")]
    assert sla_events(recon_home, late) == breached
    assert [e[0] for e in sla_events(recon_home, worked)] == ["sla_breached", "escalated"]

    # Between the nights alice settles one, after its SLA; the invoice of both lands, quoting
    # SO-2610-01's reference on its header only.
    monkeypatch.setenv("RECON_AS_OF", "2026-11-20T10:00:00Z")
    store = ActionStore()
    store.act("claim", worked, "alice")
    store.act("resolve", worked, "alice", reason="billed_late")
    write_consolidated_invoice(landing, "2026-10-late")
    run(monkeypatch, "2026-11-21T03:00:00Z")

    # Its Meta line, SO-2610-02's booking to the cent, bills SO-2610-02, not the header's order.
    matches = query(
        recon_home,
        "select order_id, billing_item_id, match_pass, billed_amount from marts.fct_order_invoice_matches "
        "where invoice_id = 'INV-01001' order by order_id",
    )
    assert [(order, item.endswith("#L2"), billed) for order, item, _, billed in matches] == [
        ("SO-2610-01", False, 12000),
        ("SO-2610-02", True, 8000),
    ], matches
    assert not query(
        recon_home, "select 1 from marts.fct_exception_current where exception_type = 'match_needs_review'"
    )

    states = dict(
        query(recon_home, "select exception_id, status from marts.fct_exception_current where exception_id in (?, ?)",
              [late, worked])
    )  # fmt: skip
    assert states == {late: "auto_resolved", worked: "resolved"}
    # Both went past their SLA while open: closing them does not undo the breach.
    assert sla_events(recon_home, late) == breached
    assert [e[0] for e in sla_events(recon_home, worked)] == ["sla_breached", "escalated"]

    # Nor does the trace call a breached exception, closed since, in time.
    text = render(trace(recon_home / "warehouse.duckdb", store.path, late[:8]))
    assert "(in time)" not in text, text
    assert "closed after its SLA" in text


def test_trace_reads_the_serving_copy_while_a_run_holds_the_warehouse(
    after_first_night: Path, capsys: pytest.CaptureFixture
) -> None:
    recon_home = after_first_night
    late = exception_of(recon_home, "delivered_not_billed", "SO-2610-01")
    capsys.readouterr()
    with run_holding_the_warehouse("recon run (the nightly job)"):
        code = cli.main(["trace", late[:8]])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "crm/orders/hubspot-crm-exports-all-deals-2026-11-19.csv" in out, out
    assert f"{late[:8]}  delivered_not_billed on SO-2610-01" in out, out
    assert "a run holds the working warehouse (recon run (the nightly job), pid" in err, err
    assert "traced from the published serving copy" in err, err
    # Nothing published yet (a new home): still refused, naming the holder.
    (recon_home / "publications" / "serving.duckdb").unlink()
    with run_holding_the_warehouse("recon run (the nightly job)"):
        assert cli.main(["trace", late[:8]]) == 5
    assert "held by another process (recon run (the nightly job)" in capsys.readouterr().err


def test_an_orphan_invoice_holds_no_unbilled_order_open(
    after_first_night: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recon_home = after_first_night
    landing = recon_home / "landing"
    unbilled = [exception_of(recon_home, "delivered_not_billed", order) for order in ("SO-2610-01", "SO-2610-02")]
    # An ad-hoc job billed to the client in November: no reference, 420 against bookings of
    # 12,000 and 8,000. A QuickBooks export re-saved, its line lost to an accounting negative.
    write_csv(
        landing / "billing/invoices/qb_adhoc_2026-11.csv",
        INVOICE_COLUMNS,
        [dict(zip(INVOICE_COLUMNS, ("INV-02004", "2026-02004", "Acme Widgets", "", "2026-11-12", "2026-12-12", "USD",
                                    "420.00", "0.00", "420.00", "issued", "2026-11-12T08:00:00Z"), strict=True))],
    )  # fmt: skip
    run(monkeypatch, "2026-11-21T03:00:00Z")

    [(orphan_status, orphan_at_risk)] = query(
        recon_home,
        "select status, amount_at_risk from marts.fct_exception_current "
        "where exception_type = 'orphan_invoice' and record_id = 'INV-02004#'",  # the whole invoice: no lines
    )
    assert (orphan_status, orphan_at_risk) == ("open", 420)
    # Nothing billed the two orders: they stay delivered and not billed, at their bookings.
    still = dict(
        query(
            recon_home,
            "select record_id, status from marts.fct_exception_current where exception_id in (?, ?)",
            unbilled,
        )
    )
    assert still == {"SO-2610-01": "open", "SO-2610-02": "open"}, still
    [(at_risk,)] = query(
        recon_home,
        "select sum(amount_at_risk_reporting) from marts.fct_exception_current where not is_closed",
    )
    assert at_risk == 12000 + 8000 + 420


def test_a_credit_note_reaching_no_order_is_an_exception(recon_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    landing = recon_home / "landing"
    write_agency(landing)
    columns = "credit_note_id,invoice_id,client_name,reference,issue_date,currency,net_amount,reason".split(",")
    write_csv(
        landing / "billing/credit_notes/credit_notes_2026-11.csv",
        columns,
        [dict(zip(columns, row, strict=True)) for row in (
            ("CN-000302", "", "Acme Widgets", "", "2026-11-16", "USD", "500.00", "goodwill - late launch"),
            ("CN-000303", "INV-09999", "Acme Widgets", "", "2026-11-16", "USD", "1200.00", "overbilled October"),
            ("CN-000304", "INV-01003", "Acme Widgets", "", "2026-11-16", "USD", "300.00", "make-good"),
            ("CN-000305", "", "Acme Widgets", "PO 2610 03", "2026-11-16", "USD", "100.00", "make-good"),
        )],
    )  # fmt: skip
    run(monkeypatch, "2026-11-20T03:00:00Z")

    raised = query(
        recon_home,
        "select record_id, status, currency, amount_at_risk, amount_at_risk_reporting, owner_team "
        "from marts.fct_exception_current where exception_type = 'unmatched_credit_note' order by record_id",
    )
    assert raised == [
        ("CN-000302", "open", "USD", 500, 500, "finance"),
        ("CN-000303", "open", "USD", 1200, 1200, "finance"),
    ], raised
    # The two that reach SO-2610-03 (through its invoice, through its reference) credit it.
    credited = "select credited_amount from marts.fct_reconciled_orders where order_id = 'SO-2610-03'"
    assert query(recon_home, credited) == [(400,)]
