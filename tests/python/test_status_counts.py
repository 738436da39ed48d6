"""`recon status` counts add up with the tables it prints, cancelled orders included.

A real run on a hand-written book: one order billed in full, one billed short, one not
billed, one billed twice (its duplicate_billing exception names the two invoices), and one
cancelled after it was billed and credited in full (the mart reads it
`credited` and `cancelled`: until 2026-12-07 it read `billed` and `complete`, billed as
booked). The headline counts active orders; the tables list every order, active and
cancelled in their own columns, so each adds up to the headline.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_operator_match_rate import ORDERS, invoices, write_csv

from orchestration import cli, pipeline, publish, status

CREDIT_NOTES = ["credit_note_id", "invoice_id", "client_name", "reference", "issue_date", "currency", "net_amount",
                "reason"]  # fmt: skip


def book(landing: Path) -> None:
    def order(n: int, client: str, state: str, updated: str) -> list[str]:
        return [f"SO-{n}", f"C-{n}", client, f"PO-100{n}", "insertion_order", "9000.00", "USD", "2026-08-01",
                "2026-08-31", "am", state, updated]  # fmt: skip

    write_csv(
        landing / "crm" / "orders" / "orders.csv",
        ORDERS,
        [
            order(1, "Acme Widgets Ltd", "booked", "2026-07-20T10:00:00Z"),
            order(2, "Beta Bakery Ltd", "booked", "2026-07-20T10:00:00Z"),
            order(3, "Gamma Garden Ltd", "booked", "2026-07-20T10:00:00Z"),
            order(4, "Zeta Zoo Ltd", "cancelled", "2026-08-25T10:00:00Z"),  # cancelled after billing
            order(5, "Eta Events Ltd", "booked", "2026-07-20T10:00:00Z"),  # billed twice
        ],
    )
    invoices(
        landing,
        "invoices",
        [
            ("INV-1", "Acme Widgets Ltd", "PO-1001", "9000.00"),
            ("INV-2", "Beta Bakery Ltd", "PO-1002", "8000.00"),
            ("INV-4", "Zeta Zoo Ltd", "PO-1004", "9000.00"),
            ("INV-5", "Eta Events Ltd", "PO-1005", "9000.00"),
            ("INV-5B", "Eta Events Ltd", "PO-1005", "9000.00"),  # the same bill again
        ],
    )
    write_csv(
        landing / "billing" / "credit_notes" / "credit_notes.csv",
        CREDIT_NOTES,
        [["CN-4", "INV-4", "Zeta Zoo Ltd", "PO-1004", "2026-08-26", "USD", "9000.00", "order_cancelled"]],
    )


def test_status_counts_and_tables_agree_with_a_cancelled_order_billed_and_credited(
    recon_home: Path, capsys: pytest.CaptureFixture
) -> None:
    book(recon_home / "landing")
    assert pipeline.run_pipeline()

    con = status.hardened_connect(publish.serving_path())
    try:
        data = status.summary(con)
        [(cancelled_state, cancelled_completeness)] = con.execute(
            "select billing_state, completeness_state from marts.fct_reconciled_orders where is_cancelled"
        ).fetchall()
    finally:
        con.close()
    # Billed 9,000 and credited 9,000 after its cancellation: nothing billed net, not billed
    # as booked.
    assert (cancelled_state, cancelled_completeness) == ("credited", "cancelled")
    assert (data["orders_total"], data["orders_active"], data["orders_cancelled"]) == (5, 4, 1)
    assert data["orders_matched"] == 3 and data["orders_billed_in_full"] == 1  # SO-1 only, not the cancelled SO-4
    for rows in (data["billing_states"], data["completeness"]):
        assert sum(r[1] for r in rows) == data["orders_active"]
        assert sum(r[2] for r in rows) == data["orders_cancelled"]
    by_state = {r[0]: r[1:3] for r in data["billing_states"]}
    assert by_state["billed"] == (1, 0) and by_state["under_billed"] == (1, 0) and by_state["not_billed"] == (1, 0)
    assert by_state["credited"] == (0, 1)
    completeness = {r[0]: r[1:3] for r in data["completeness"]}
    assert completeness["cancelled"] == (0, 1)  # not `complete` in the cancelled column

    capsys.readouterr()
    assert cli.main(["status"]) == 0
    out = capsys.readouterr().out
    assert "5 orders: 4 active, 1 cancelled (the tables list both, each in its own column)" in out
    assert "match rate: 75.0% of the 4 active orders have a matched invoice; 1 of the 4 billed in full" in out
    assert "billing state  active orders  cancelled orders  booked, active orders (reporting ccy)" in out

    # SO-5 is billed twice: its exception names the two invoices, each its whole booking, whose
    # total its rule compared (number, line, date, amount), so finance can credit the copy
    # without a query; which of the two is the copy no rule says.
    [(duplicate,)] = con_rows(
        "select exception_id from marts.fct_reconciliation_exceptions"
        " where exception_type = 'duplicate_billing' and record_id = 'SO-5'"
    )
    capsys.readouterr()
    assert cli.main(["exceptions", "show", duplicate]) == 0
    out = capsys.readouterr().out
    assert "  billed twice               NINV-5 line 1, 2026-08-05, 9000.00 USD\n" in out, out
    assert "    and again                NINV-5B line 1, 2026-08-05, 9000.00 USD  (0 day(s) apart)\n" in out, out


def con_rows(sql: str) -> list[tuple]:
    con = status.hardened_connect(publish.serving_path())
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()
