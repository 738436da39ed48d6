"""When an exception's SLA starts and whom it escalates to, on real runs of a hand-written book.

Three defects a hostile tryout found (six clients, twelve nights):
- a break born of an operator's correction (an unmatch made just now of a pair from
  August) was breached on its first sighting: it aged from August;
- a `billed_cancelled_order` aged from the midnight before the cancellation, not from it;
- a void invoice (nothing at risk, severity auto_resolve, never closed by later data) was
  escalated to operations a week after it was found.
The marts (`fct_exception_current`) and the action store (`recon exceptions`) must agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from test_lifecycle import query
from test_operator_match_rate import INVOICES, LINES, ORDERS, write_csv
from test_status_counts import book

from orchestration import cli, pipeline
from orchestration.actions import ActionStore

CANCELLED_AT = datetime(2026, 8, 20, 17, 30, tzinfo=UTC)
FIRST_RUN = "2026-09-20T09:00:00Z"
CORRECTED_AT = datetime(2026, 9, 21, 9, 0, tzinfo=UTC)
SECOND_RUN = "2026-09-21T10:00:00Z"


def extras(landing: Path) -> None:
    """A cancelled order still billed (cancelled at 17:30), and a void invoice."""
    write_csv(
        landing / "crm" / "orders" / "cancelled.csv",
        ORDERS,
        [["SO-6", "C-6", "Theta Tiles Ltd", "PO-1006", "insertion_order", "4000.00", "USD", "2026-08-01",
          "2026-08-31", "am", "cancelled", CANCELLED_AT.strftime("%Y-%m-%dT%H:%M:%SZ")]],
    )  # fmt: skip
    write_csv(
        landing / "billing" / "invoices" / "extras.csv",
        INVOICES,
        [
            ["INV-6", "NINV-6", "Theta Tiles Ltd", "PO-1006", "2026-08-10", "2026-09-10", "USD", "4000.00", "0.00",
             "4000.00", "issued", "2026-08-10T09:00:00Z"],
            ["INV-9", "NINV-9", "Acme Widgets Ltd", "", "2026-08-06", "2026-09-06", "USD", "700.00", "0.00",
             "700.00", "void", "2026-08-06T09:00:00Z"],
        ],
    )  # fmt: skip
    write_csv(
        landing / "billing" / "invoice_lines" / "extras.csv",
        LINES,
        [["INV-6", "1", "Media buying Aug 2026", "PO-1006", "1", "4000.00", "4000.00"],
         ["INV-9", "1", "Media buying Aug 2026", "", "1", "700.00", "700.00"]],
    )  # fmt: skip


def current(home: Path, exception_type: str, record_id: str | None = None) -> dict:
    rows = query(
        home,
        "select exception_id, record_id, aged_from, first_seen_at, is_breached, escalated_to,"
        " amount_at_risk_reporting from marts.fct_exception_current where exception_type = ?"
        + (" and record_id = ?" if record_id else ""),
        [exception_type, *([record_id] if record_id else [])],
    )
    assert len(rows) == 1, (exception_type, rows)
    keys = ["exception_id", "record_id", "aged_from", "first_seen_at", "is_breached", "escalated_to", "amount"]
    return dict(zip(keys, rows[0], strict=True))


@pytest.fixture(scope="module")
def nights(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Two runs: the book as of 20 September; an unmatch the next morning; a run an hour later."""
    home = tmp_path_factory.mktemp("clocks") / "recon"
    home.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        for name, value in (("RECON_HOME", home), ("RECON_DUCKDB_PATH", home / "warehouse.duckdb"),
                            ("DAGSTER_HOME", home / "dagster"), ("RECON_USER", "alice")):  # fmt: skip
            mp.setenv(name, str(value))
        book(home / "landing")
        extras(home / "landing")
        mp.setenv("RECON_AS_OF", FIRST_RUN)
        assert pipeline.run_pipeline()
        store = ActionStore()
        first = {
            key: dict(row, state=store.state(row["exception_id"]))
            for key, row in (
                ("cancelled", current(home, "billed_cancelled_order", "SO-6")),
                ("void", current(home, "void_invoice")),
                ("unbilled", current(home, "unbilled_order", "SO-3")),
            )
        }
        # An operator finds SO-2's invoice was never its bill and unmatches it, now.
        variance = current(home, "amount_variance", "SO-2")
        [(item,)] = query(
            home,
            "select right_key from marts.fct_reconciliation_matches where reconciliation = 'orders_invoices'"
            " and left_key = 'SO-2'",
        )
        mp.setenv("RECON_AS_OF", CORRECTED_AT.strftime("%Y-%m-%dT%H:%M:%SZ"))
        assert cli.main(["exceptions", "claim", variance["exception_id"][:12]]) == 0
        assert cli.main(["exceptions", "unmatch", variance["exception_id"][:12], "--reason", "wrong_match",
                         "--with", item]) == 0  # fmt: skip
        mp.setenv("RECON_AS_OF", SECOND_RUN)
        assert pipeline.run_pipeline()
        born = query(
            home,
            "select exception_id, exception_type, aged_from, sla_due_at, is_breached, escalated_to"
            " from marts.fct_exception_current where record_id in ('SO-2', ?) and first_seen_at = ?"
            " order by exception_type",
            [item, datetime.fromisoformat(SECOND_RUN)],
        )
        store = ActionStore()
        born_states = {row[0]: store.state(row[0]) for row in born}
        unbilled_after = current(home, "unbilled_order", "SO-3")
    return {"first": first, "born": born, "born_states": born_states, "unbilled_after": unbilled_after}


def test_a_cancelled_order_billed_ages_from_its_cancellation(nights: dict) -> None:
    cancelled = nights["first"]["cancelled"]
    assert cancelled["aged_from"].astimezone(UTC) == CANCELLED_AT  # 17:30, not midnight
    assert cancelled["state"].sla_due_at == datetime(2026, 8, 23, 17, 30, tzinfo=UTC)  # the store agrees


def test_a_breach_with_nothing_at_risk_stays_with_its_team(nights: dict) -> None:
    # The void invoice carries nothing: past its SLA (168 h), breached and kept by finance;
    # an order not billed (9,000 at risk, manual_review) escalates.
    void, unbilled = nights["first"]["void"], nights["first"]["unbilled"]
    assert void["amount"] == 0 and void["is_breached"] and void["escalated_to"] is None
    assert void["state"].is_breached and void["state"].escalated_to is None
    assert unbilled["is_breached"] and unbilled["escalated_to"] == "operations"
    assert unbilled["state"].escalated_to == "operations"


def test_a_break_born_of_a_correction_is_due_from_it(nights: dict) -> None:
    # The order unbilled and the invoice left over by the unmatch age from it (09:00), so
    # the run an hour later finds them within their SLA, in the marts and the store.
    assert {row[1] for row in nights["born"]} >= {"unbilled_order"}, nights["born"]
    for exception_id, exception_type, aged_from, sla_due_at, is_breached, escalated_to in nights["born"]:
        assert aged_from.astimezone(UTC) == CORRECTED_AT, exception_type
        assert not is_breached and escalated_to is None, exception_type
        state = nights["born_states"][exception_id]
        assert state.sla_due_at == sla_due_at.astimezone(UTC) and not state.is_breached, exception_type
    # A break there before the correction keeps its clock.
    assert nights["unbilled_after"]["aged_from"] == nights["first"]["unbilled"]["aged_from"]
