"""Exception scoring (orchestration/lab/evaluate_exceptions.py) on a hand-made warehouse.

The scorer is the measuring stick of issue 11's targets; these pin what it counts as right,
in particular for records whose true counterpart was quarantined on landing.
"""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pytest

from orchestration.lab import evaluate_exceptions


def _write(path: Path, header: list[str], rows: list[tuple]) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


@pytest.fixture
def world(tmp_path: Path) -> tuple[duckdb.DuckDBPyConnection, Path]:
    truth = tmp_path / "ground_truth"
    truth.mkdir()
    _write(
        truth / "records.csv",
        ["entity", "record_id", "discrepancy", "detail"],
        [
            ("billing__invoices", "INV-ORPHAN", "orphan_invoice", ""),
            ("crm__orders", "O-UNBILLED", "unbilled", ""),
            # Planted elsewhere, never raised here: these types are scored.
            ("ads__delivery", "C-SANDBOX", "orphan_spend", ""),
            ("crm__orders", "O-DELIVERED", "delivered_not_billed", ""),
            ("crm__orders", "O-CANCELLED", "billed_cancelled_order", ""),
        ],
    )
    _write(
        truth / "links.csv",
        ["reconciliation", "left_id", "right_id", "link_type"],
        [
            ("orders_invoices", "O-OK", "INV-OK", "exact"),
            # O-GONE's row failed validation: its invoice and campaign have no order here.
            ("orders_invoices", "O-GONE", "INV-LOST", "exact"),
            ("delivery_orders", "C-LOST", "O-GONE", "reference"),
            ("delivery_orders", "C-OK", "O-OK", "reference"),
            # O-WORKED's invoice failed validation; its campaign arrived.
            ("orders_invoices", "O-WORKED", "INV-GONE", "exact"),
            ("delivery_orders", "C-WORKED", "O-WORKED", "reference"),
            # A void invoice bills nothing: its order's billing is the re-issue.
            ("orders_invoices", "O-OK", "INV-VOID", "void"),
            ("orders_invoices", "O-OK", "INV-REISSUE", "reissue"),
            ("orders_invoices", "O-GONE", "INV-VOID-LOST", "void"),
            # O-VOIDED's void invoice arrived, its re-issue did not: nothing bills it here.
            ("orders_invoices", "O-VOIDED", "INV-VOID-2", "void"),
            ("orders_invoices", "O-VOIDED", "INV-REISSUE-LOST", "reissue"),
            # A cancelled order's lost invoice does not make it unbilled.
            ("orders_invoices", "O-CANCELLED", "INV-GONE-2", "exact"),
        ],
    )
    con = duckdb.connect()
    con.execute("create schema staging; create schema intermediate; create schema marts")
    tables = {
        "staging.stg_crm__orders": ("order_id", ["O-OK", "O-UNBILLED", "O-WORKED", "O-CANCELLED", "O-VOIDED"]),
        "intermediate.int_invoice_billing_items": ("invoice_id", ["INV-OK", "INV-ORPHAN", "INV-LOST", "INV-REISSUE"]),
        "staging.stg_ads__delivery": ("campaign_id", ["C-OK", "C-LOST", "C-WORKED"]),
        "staging.stg_fulfilment__deliverables": ("deliverable_id", ["D-1"]),
    }
    for table, (column, ids) in tables.items():
        con.execute(f"create table {table} ({column} varchar)")
        con.executemany(f"insert into {table} values (?)", [[i] for i in ids])
    con.execute("create table marts.fct_reconciled_orders (order_id varchar, expects_fulfilment boolean)")
    con.executemany(
        "insert into marts.fct_reconciled_orders values (?, false)", [["O-OK"], ["O-UNBILLED"], ["O-WORKED"]]
    )
    con.execute(
        "create table marts.fct_reconciliation_exceptions "
        "(exception_type varchar, record_entity varchar, record_id varchar)"
    )
    return con, truth


def _scores(con: duckdb.DuckDBPyConnection, truth: Path) -> dict[str, tuple[int, int, int]]:
    return {
        s.exception_type: (s.score.predicted, s.score.correct, s.score.relevant)
        for s in evaluate_exceptions.score_exceptions(con, truth)
        if s.score is not None
    }


def test_a_record_whose_counterpart_was_quarantined_is_scored_as_unmatched(world) -> None:
    con, truth = world
    con.execute(
        "insert into marts.fct_reconciliation_exceptions values "
        "('orphan_invoice', 'int_invoice_billing_items', 'INV-ORPHAN#'), "
        "('orphan_invoice', 'int_invoice_billing_items', 'INV-LOST#IO:1'), "
        "('orphan_spend', 'int_ads_campaigns', 'C-LOST'), "
        "('unbilled_order', 'stg_crm__orders', 'O-UNBILLED'), "
        "('delivered_not_billed', 'stg_crm__orders', 'O-WORKED')"
    )
    scores = _scores(con, truth)
    # The planted orphan and the invoice of a quarantined order: both right.
    assert scores["orphan_invoice"] == (2, 2, 2)
    assert scores["orphan_spend"] == (1, 1, 2)
    # An order whose only invoice was quarantined is unbilled here (something was delivered
    # for O-WORKED; nothing for O-VOIDED, whose void invoice bills nothing); a cancelled one
    # is not.
    assert scores["delivered_not_billed"] == (1, 1, 2)
    assert scores["unbilled_order"] == (1, 1, 2)


def test_an_exception_on_a_matched_record_is_a_false_positive(world) -> None:
    con, truth = world
    con.execute(
        "insert into marts.fct_reconciliation_exceptions values "
        "('orphan_invoice', 'int_invoice_billing_items', 'INV-OK#'), "
        "('orphan_spend', 'int_ads_campaigns', 'C-OK')"
    )
    scores = _scores(con, truth)
    assert scores["orphan_invoice"] == (1, 0, 2)
    assert scores["orphan_spend"] == (1, 0, 2)
    assert scores["unbilled_order"] == (0, 0, 2)


def test_a_type_the_dialect_does_not_plant_stays_unscored(world) -> None:
    con, truth = world
    # No planted orphan invoice: the invoice of a quarantined order does not make it scored.
    _write(truth / "records.csv", ["entity", "record_id", "discrepancy", "detail"], [])
    con.execute(
        "insert into marts.fct_reconciliation_exceptions "
        "values ('orphan_invoice', 'int_invoice_billing_items', 'INV-LOST#')"
    )
    assert "orphan_invoice" not in _scores(con, truth)


def test_an_order_whose_work_was_all_quarantined_is_scored_unbilled(world) -> None:
    con, truth = world
    # O-UNSEEN was planted "completed, not billed", but its only deliverable failed
    # validation: the run sees an order with nothing done and no billing.
    with open(truth / "records.csv", "a", newline="") as fh:
        csv.writer(fh).writerow(("crm__orders", "O-UNSEEN", "completed_not_billed", ""))
    with open(truth / "links.csv", "a", newline="") as fh:
        csv.writer(fh).writerow(("deliverables_orders", "D-GONE", "O-UNSEEN", "reference"))
    con.execute("insert into staging.stg_crm__orders values ('O-UNSEEN')")
    con.execute(
        "insert into marts.fct_reconciliation_exceptions values "
        "('unbilled_order', 'stg_crm__orders', 'O-UNBILLED'), "
        "('unbilled_order', 'stg_crm__orders', 'O-UNSEEN'), "
        "('delivered_not_billed', 'stg_crm__orders', 'O-WORKED')"
    )
    scores = _scores(con, truth)
    assert scores["unbilled_order"] == (2, 2, 3)
    assert scores["delivered_not_billed"] == (1, 1, 2)
