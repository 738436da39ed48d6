"""During a replay, `recon exceptions list` judges "overdue" by the run's as-of, like the marts.

A real run pinned to 2026-08-09 (RECON_AS_OF) on a hand-written book; the operator then
lists the exceptions without RECON_AS_OF in their shell. The list must judge SLAs at the
replay's as-of (as fct_exception_current and `recon status` do), not at today's date, and
go back to the real clock once a run on the real clock refreshes the catalog.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from test_operator_match_rate import invoices, small_book

from orchestration import cli, pipeline, publish
from orchestration.actions import ActionStore

AS_OF = "2026-08-09T09:00:00Z"


def listed(capsys: pytest.CaptureFixture, *argv: str) -> list[dict]:
    capsys.readouterr()
    assert cli.main(["exceptions", "list", "--json", *argv]) == 0
    return json.loads(capsys.readouterr().out)


def test_the_list_judges_overdue_by_the_replays_as_of_like_the_marts(
    recon_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    small_book(recon_home / "landing")
    # An invoice nobody booked: an orphan from three days after its issue date, due 72 h later.
    invoices(recon_home / "landing", "orphan", [("INV-9", "Omega Oil Plc", "", "3000.00")])
    monkeypatch.setenv("RECON_AS_OF", AS_OF)
    assert pipeline.run_pipeline()
    monkeypatch.delenv("RECON_AS_OF")  # the operator's shell does not pin it

    con = duckdb.connect(str(publish.serving_path()), read_only=True)
    try:
        marts = dict(
            con.execute(
                "select exception_id, is_breached from marts.fct_exception_current where not is_closed"
            ).fetchall()
        )
        [(state_as_of,)] = con.execute("select distinct state_as_of from marts.fct_exception_current").fetchall()
    finally:
        con.close()
    assert state_as_of == datetime(2026, 8, 9, 9, tzinfo=UTC)
    assert False in marts.values()  # an exception still inside its SLA at the replay's as-of

    rows = listed(capsys)
    assert {r["exception_id"]: r["is_overdue"] for r in rows if r["exception_id"] in marts} == marts
    assert {r["exception_id"] for r in listed(capsys, "--overdue")} == {e for e, late in marts.items() if late}
    capsys.readouterr()
    assert cli.main(["exceptions", "list"]) == 0
    out = capsys.readouterr().out
    assert "as of 2026-08-09T09:00:00+00:00 (the last run's pinned RECON_AS_OF: a replay" in out
    inside = next(e for e, late in marts.items() if not late)
    assert cli.main(["exceptions", "show", inside[:12]]) == 0
    assert "BREACHED" not in capsys.readouterr().out

    # The desk's inbox agrees with the marts and the list.
    from orchestration.desk.service import Desk

    desk_rows = {r["exception_id"]: r["is_breached"] for r in Desk().rows() if r["exception_id"] in marts}
    assert desk_rows == marts

    # By today's date every one of them is past its SLA: that is what the list showed before.
    store = ActionStore()
    assert all(store.state(e).is_breached for e in marts)
    # RECON_AS_OF in the reader's shell still wins, and a run on the real clock ends the replay.
    monkeypatch.setenv("RECON_AS_OF", "2026-08-20T09:00:00Z")
    assert all(r["is_overdue"] for r in listed(capsys) if r["exception_id"] in marts)
    monkeypatch.delenv("RECON_AS_OF")
    store.refresh_catalog(_catalog(store))
    assert store.replay_as_of() is None
    assert all(r["is_overdue"] for r in listed(capsys) if r["exception_id"] in marts)
    assert cli.main(["exceptions", "list"]) == 0
    assert "a replay" not in capsys.readouterr().out


def _catalog(store: ActionStore) -> list[dict]:
    """The current catalog, as a run would hand it to refresh_catalog."""
    import sqlite3

    con = sqlite3.connect(store.path)
    con.row_factory = sqlite3.Row
    try:
        rows = con.execute("select * from exception_catalog where is_current = 1").fetchall()
    finally:
        con.close()
    return [{**dict(r), "details": json.loads(r["details"] or "{}")} for r in rows]
