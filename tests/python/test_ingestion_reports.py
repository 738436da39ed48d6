"""The ingestion reports against `recon status`, on real runs of a hand-written book.

A tryout found `rpt_ingestion_quality` and `recon status` giving different row counts for
one run (the report counted a restated file's superseded batch and a rejection already
fixed), and `rpt_source_freshness.hours_since_last_file` negative in a replay (files
ingested after the run's as-of).

Both tests start from one first run (built once per pytest worker, `built_homes`): the
replay, whose landing also holds the stray file the second run finds moved.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from conftest import BuiltHomes
from test_operator_match_rate import ORDERS, write_csv
from test_status_counts import book

from orchestration import ingest, pipeline, publish, status

REPLAY_AS_OF = "2026-09-01T00:00:00Z"


def first_run(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The orders file landed on 31 August at noon (its load time set so, as a warehouse
    loaded then holds it); the invoices, and a file in a folder that names no entity (it is
    rejected), only now. The run replays 1 September."""
    landing = home / "landing"
    book(landing)
    invoices = landing / "billing"
    parked = home / "parked"
    invoices.rename(parked)
    ingest.ingest_landing(landing, home / "warehouse.duckdb")
    con = duckdb.connect(str(home / "warehouse.duckdb"))
    try:
        noon = datetime(2026, 8, 31, 12, 0)
        con.execute("update raw.ingestion_log set ingested_at = ?", [noon])
        con.execute("update raw.crm__orders set _ingested_at = ?", [noon])
    finally:
        con.close()
    parked.rename(invoices)
    order = ["SO-9", "C-9", "Eta Electric Ltd", "PO-1009", "insertion_order", "900.00", "USD", "2026-08-01",
             "2026-08-31", "am", "booked", "2026-07-20T10:00:00Z"]  # fmt: skip
    write_csv(landing / "crm" / "late.csv", ORDERS, [order])
    monkeypatch.setenv("RECON_AS_OF", REPLAY_AS_OF)
    assert pipeline.run_pipeline()


@pytest.fixture
def after_first_run(built_homes: BuiltHomes, monkeypatch: pytest.MonkeyPatch) -> Path:
    return built_homes.restore("ingestion-reports-replay", first_run, monkeypatch)


def _serving():
    return status.hardened_connect(publish.serving_path())


def test_ingestion_quality_counts_what_recon_status_counts(
    after_first_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    landing = after_first_run / "landing"
    # The stray file the first run rejected, now moved as its message advises.
    stray = landing / "crm" / "late.csv"
    con = duckdb.connect(str(after_first_run / "warehouse.duckdb"), read_only=True)
    try:
        rejected = con.execute("select status from raw.ingestion_log where source_file like '%crm/late.csv'").fetchall()
    finally:
        con.close()
    assert rejected == [("rejected",)], rejected
    # The orders file restated at its path (one amount corrected), the stray file moved.
    orders = landing / "crm" / "orders" / "orders.csv"
    orders.write_text(
        orders.read_text().replace(
            "SO-3,C-3,Gamma Garden Ltd,PO-1003,insertion_order,9000.00",
            "SO-3,C-3,Gamma Garden Ltd,PO-1003,insertion_order,9100.00",
        )
    )
    stray.rename(landing / "crm" / "orders" / "late.csv")
    # The real clock, as a night runs: this run's as-of must come after the files it ingests
    # itself (at the real time). A pin two hours ahead did that before a run pinned ahead of
    # the real time was refused (pipeline.not_ahead_of_real_time); the build's own clock does it.
    monkeypatch.delenv("RECON_AS_OF", raising=False)
    assert pipeline.run_pipeline()

    con = _serving()
    try:
        from_status = status.summary(con)["sources"]
        report = con.execute(
            """
            select source_system, entity, files_loaded, files_rejected, rows_read, rows_loaded,
                rows_quarantined, rows_rejected
            from marts.rpt_ingestion_quality
            order by source_system, entity
            """
        ).fetchall()
        restated = con.execute(
            "select files_restated, files_superseded from marts.rpt_ingestion_quality"
            " where source_entity = 'crm__orders'"
        ).fetchone()
    finally:
        con.close()
    by_entity = {(r[0], r[1]): r for r in from_status}
    # The case that disagreed: orders.csv restated (counted once) and late.csv loaded.
    assert by_entity[("crm", "orders")][2:6] == (2, 0, 6, 6)
    assert by_entity[("crm", "")][2:] == (0, 0, 0, 0, 0, 0)  # the rejection was fixed
    assert [tuple(r) for r in report] == [tuple(r) for r in from_status]
    assert restated == (1, 1)


def test_a_replay_reads_freshness_as_of_its_instant(after_first_run: Path) -> None:
    # The orders file landed on 31 August at noon; the invoices only now. A replay as of
    # 1 September (the first run): 12 hours since the orders file, and no invoices yet. They
    # made the age negative (-2,300 hours).
    con = _serving()
    try:
        freshness = {
            (r[0], r[1]): r[2:]
            for r in con.execute(
                "select source_system, entity, batches_loaded, rows_loaded, last_ingested_at, hours_since_last_file"
                " from marts.rpt_source_freshness"
            ).fetchall()
        }
    finally:
        con.close()
    orders = freshness[("crm", "orders")]
    assert (orders[0], orders[1], orders[3]) == (1, 5, 12.0)
    assert orders[2].astimezone(UTC) == datetime(2026, 8, 31, 12, 0, tzinfo=UTC)
    assert freshness[("billing", "invoices")] == (0, 0, None, None)
    assert all(r[3] is None or r[3] >= 0 for r in freshness.values())
