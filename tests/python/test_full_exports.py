"""A source that sends a full export every night under a new dated name (HubSpot's
`hubspot-crm-exports-all-deals-YYYY-MM-DD.csv`, CRM reports, project tools).

Each file is a new path, so before `delivery: full` it was a new batch beside the others: a
deal deleted in the CRM stayed current from the older file for good, and its order kept
raising exceptions. Declared full in the landing contract, the newest export supersedes every
earlier batch of its entity; a late (older) export withdraws nothing; a truncated one blocks at
the withdrawn-share gate; raw stays append-only and its counts add up.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from orchestration import contract, ingest, quality
from orchestration.quality import runner

ORDER_COLUMNS = (
    "order_id,client_id,client_name,order_ref,order_type,amount,currency,service_start_date,service_end_date,"
    "status,updated_at"
).split(",")


@pytest.fixture
def deals_are_full_exports(monkeypatch: pytest.MonkeyPatch) -> None:
    declare_deals_full(monkeypatch)


def declare_deals_full(monkeypatch: pytest.MonkeyPatch) -> None:
    """The agency's contract declares crm/orders `delivery: full` (its CRM exports every deal
    each night)."""
    orders = dataclasses.replace(contract.ENTITY_BY_TABLE["crm__orders"], delivery="full")
    monkeypatch.setitem(contract.ENTITY_BY_TABLE, "crm__orders", orders)
    monkeypatch.setattr(
        contract, "ENTITIES", tuple(orders if e.table == "crm__orders" else e for e in contract.ENTITIES)
    )


def deals_export(landing: Path, day: str, deals: range | list[int]) -> str:
    """A full export of the given deals, as the CRM names it: the export date in the name."""
    rel = f"crm/orders/hubspot-crm-exports-all-deals-{day}.csv"
    path = landing / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(ORDER_COLUMNS)]
    for n in deals:
        lines.append(
            f"SO-{n:05d},C-1,Acme Ltd,PO-{n:05d},insertion_order,1000.00,EUR,2026-11-01,2026-11-30,booked,"
            "2026-10-20T09:00:00Z"
        )
    path.write_text("\n".join(lines) + "\n")
    return rel


def new_files(landing: Path, warehouse: Path) -> list[ingest.FileOutcome]:
    """Ingest, and what became of the files not seen before."""
    return [f for f in ingest.ingest_landing(landing, warehouse).files if f.status != "skipped"]


def current_orders(warehouse: Path) -> set[str]:
    """The order ids staging would read: rows of batches no restatement or export superseded."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute(
            f"""
            select distinct order_id from raw.crm__orders
            where _batch_id in (select batch_id from raw.ingestion_log where status = 'loaded')
                and _batch_id not in ({ingest.superseded_batches_sql()})
            """
        ).fetchall()
    finally:
        con.close()
    return {r[0] for r in rows}


def raw_counts(warehouse: Path) -> tuple[int, int, int, int]:
    """Rows in raw.crm__orders, and the ingestion log's rows read, loaded and quarantined."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        stored = con.execute("select count(*) from raw.crm__orders").fetchone()[0]
        read, loaded, quarantined = con.execute(
            "select sum(rows_read), sum(rows_loaded), sum(rows_quarantined) from raw.ingestion_log "
            "where source = 'crm' and entity = 'orders' and status = 'loaded'"
        ).fetchone()
    finally:
        con.close()
    return stored, read, loaded, quarantined


def test_the_newest_full_export_withdraws_a_deal_a_late_one_withdraws_nothing(
    tmp_path: Path, deals_are_full_exports: None
) -> None:
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"

    deals_export(landing, "2026-12-01", range(1, 21))
    [first] = new_files(landing, warehouse)
    assert first.status == "loaded" and first.delivery == "full" and first.supersedes_batch_ids == []
    assert current_orders(warehouse) == {f"SO-{n:05d}" for n in range(1, 21)}

    # Night 2: deal 5 was deleted in the CRM.
    deals_export(landing, "2026-12-02", [n for n in range(1, 21) if n != 5])
    [second] = new_files(landing, warehouse)
    assert second.supersedes_batch_ids == [first.batch_id] and second.keys_withdrawn == 1
    assert second.exported_at == datetime(2026, 12, 2)
    assert "supersedes batch(es) 1; 1 order_id value(s) the export(s) it replaces held are not in it" in (
        second.message
    ), second.message
    assert "SO-00005" not in current_orders(warehouse) and len(current_orders(warehouse)) == 19

    # A late file: the export of 30 November arrives now. Older than the current one, it is
    # kept in raw but superseded on arrival: deal 5 does not come back.
    deals_export(landing, "2026-11-30", range(1, 21))
    [late] = new_files(landing, warehouse)
    assert late.status == "loaded" and late.superseded_on_arrival_by == second.batch_id
    assert late.supersedes_batch_ids == [] and "superseded on arrival, so it withdraws nothing" in late.message
    assert "SO-00005" not in current_orders(warehouse) and len(current_orders(warehouse)) == 19

    # Night 3: deal 5 is back (restored in the CRM), deal 7 is gone.
    deals_export(landing, "2026-12-03", [n for n in range(1, 21) if n != 7])
    [third] = new_files(landing, warehouse)
    assert third.supersedes_batch_ids == [second.batch_id]  # the late export was superseded already
    assert current_orders(warehouse) == {f"SO-{n:05d}" for n in range(1, 21) if n != 7}

    # Raw is append-only: every row of every export is still there, and the counts add up.
    stored, read, loaded, quarantined = raw_counts(warehouse)
    assert stored == loaded == 20 + 19 + 20 + 19 and read == loaded + quarantined
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        supersessions = con.execute(
            "select batch_id, superseded_by_batch_id, reason from raw.batch_supersessions order by batch_id"
        ).fetchall()
    finally:
        con.close()
    assert supersessions == [
        (first.batch_id, second.batch_id, "full_export"),
        (second.batch_id, third.batch_id, "full_export"),
        (late.batch_id, second.batch_id, "late_full_export"),
    ]


def test_incremental_files_under_new_names_keep_every_deal(tmp_path: Path) -> None:
    """The default, `delivery: incremental`: a file under a new name adds to the earlier ones."""
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    deals_export(landing, "2026-12-01", range(1, 4))
    ingest.ingest_landing(landing, warehouse)
    deals_export(landing, "2026-12-02", [1, 2])
    [second] = new_files(landing, warehouse)
    assert second.delivery == "incremental" and second.supersedes_batch_ids == []
    assert current_orders(warehouse) == {"SO-00001", "SO-00002", "SO-00003"}


def test_a_truncated_full_export_blocks_until_the_complete_one_arrives(
    tmp_path: Path, deals_are_full_exports: None
) -> None:
    landing, warehouse, history = tmp_path / "landing", tmp_path / "warehouse.duckdb", tmp_path / "history"
    start = datetime(2026, 12, 1, 6, 0)

    def night(day: int, deals: range | list[int]) -> quality.CheckResult:
        deals_export(landing, f"2026-12-{day:02d}", deals)
        ingest.ingest_landing(landing, warehouse)
        report = runner.run_quality_checks(warehouse, history, f"night-{day}", start + timedelta(days=day), phase="raw")
        return report.get("volume_spike", "raw_crm/crm__orders")

    assert night(1, range(1000)).passed
    # A night with a few deals deleted: the export is checked against the one it supersedes.
    steady = night(2, range(3, 1000))
    assert steady.passed and steady.metadata["restated"]["rows_replaced"] == 1000, steady.metadata
    assert steady.metadata["restated"]["rows_loaded"] == 997

    # The export was cut short: 10 rows after 997. It would withdraw 987 deals: it blocks.
    truncated = night(3, range(10))
    assert not truncated.passed and truncated.blocking, truncated.description
    assert (
        "full export(s) crm/orders/hubspot-crm-exports-all-deals-2026-12-03.csv hold 10 rows where the export(s) "
        "they supersede held 997" in truncated.description
    ), truncated.description
    assert "is delivered as full exports (landing contract delivery: full)" in truncated.description
    assert "so the 987 rows missing from" in truncated.description
    assert "drop the complete file, at the same path (a restatement) or under a newer dated name" in (
        truncated.description
    )

    # The complete export of the next night supersedes the truncated one: the run passes.
    whole = night(4, range(3, 1001))
    assert whole.passed, whole.description
    assert whole.metadata["restated"]["rows_replaced"] == 997  # against the last export that passed
    # Nothing in raw was deleted along the way.
    stored, read, loaded, _ = raw_counts(warehouse)
    assert stored == loaded == read == 1000 + 997 + 10 + 998


def test_nightly_full_exports_through_the_build_withdraw_restore_and_block(
    recon_home: Path, monkeypatch: pytest.MonkeyPatch, deals_are_full_exports: None
) -> None:
    """Three nights of HubSpot deal exports through real runs (ingest, gates, dbt build,
    exception catalog, publication): a deal disappears and its open exception closes, it
    reappears and the exception reopens, and a truncated export blocks the run."""
    from test_agency_nights import ORDER_COLUMNS as AGENCY_ORDER_COLUMNS
    from test_agency_nights import ORDERS, exception_of, query, run, write_agency, write_csv

    from orchestration.actions import ActionStore

    landing = recon_home / "landing"

    def export(day: str, order_ids: list[str]) -> None:
        rows = [
            dict(zip(AGENCY_ORDER_COLUMNS, (oid, "C-01", "Acme Widgets Ltd", ref, "insertion_order", amount, "USD",
                                            "2026-10-01", "2026-10-31", "2026-09-20", "completed", "2026-09-20 09:30"),
                     strict=True))
            for oid, ref, amount in ORDERS if oid in order_ids
        ]  # fmt: skip
        write_csv(landing / f"crm/orders/hubspot-crm-exports-all-deals-{day}.csv", AGENCY_ORDER_COLUMNS, rows)

    def orders_in_marts() -> set[str]:
        return {r[0] for r in query(recon_home, "select order_id from marts.fct_reconciled_orders")}

    write_agency(landing)  # the export of 19 November: three deals
    run(monkeypatch, "2026-11-20T03:00:00Z")
    assert orders_in_marts() == {"SO-2610-01", "SO-2610-02", "SO-2610-03"}
    unbilled = exception_of(recon_home, "delivered_not_billed", "SO-2610-02")

    # Night 2: deal SO-2610-02 was deleted in the CRM.
    export("2026-11-20", ["SO-2610-01", "SO-2610-03"])
    run(monkeypatch, "2026-11-21T03:00:00Z")
    assert orders_in_marts() == {"SO-2610-01", "SO-2610-03"}
    [(status,)] = query(recon_home, "select status from marts.fct_exception_current where exception_id = ?", [unbilled])
    assert status == "auto_resolved"
    store = ActionStore()
    # Closed with the reason in the log, not as if later data had reconciled it.
    assert (store.state(unbilled).status, store.state(unbilled).resolution) == ("auto_resolved", "record_withdrawn")
    closing = store.history(unbilled)[-1]
    assert (closing["action"], closing["reason_code"]) == ("auto_resolve", "record_withdrawn")
    assert closing["comment"] == (
        "crm/orders order_id SO-2610-02 was withdrawn from its source: not in "
        "crm/orders/hubspot-crm-exports-all-deals-2026-11-20.csv (batch 5), which superseded "
        "crm/orders/hubspot-crm-exports-all-deals-2026-11-19.csv; the exception closed with it and reopens if "
        "the record comes back"
    ), closing["comment"]
    # The trace of the closed exception shows the deal's row as superseded, not as an older version.
    from orchestration.trace import render, trace

    text = render(trace(recon_home / "warehouse.duckdb", store.path, unbilled[:8]))
    assert "superseded by a newer full export (batch 5)" in text, text
    # An exception whose record is still there but reconciled keeps the plain auto-resolve.
    assert all(
        h["reason_code"] is None
        for eid in (exception_of(recon_home, "delivered_not_billed", "SO-2610-01"),)
        for h in store.history(eid)
    )
    # Raw kept every row: 3 of the first export, 2 of the second, the first superseded.
    [(stored, current)] = query(
        recon_home,
        "select count(*), count(*) filter (where _batch_id not in (select batch_id from raw.batch_supersessions)) "
        "from raw.crm__orders",
    )
    assert (stored, current) == (5, 2)

    # Night 3: the deal is back.
    export("2026-11-21", ["SO-2610-01", "SO-2610-02", "SO-2610-03"])
    run(monkeypatch, "2026-11-22T03:00:00Z")
    assert orders_in_marts() == {"SO-2610-01", "SO-2610-02", "SO-2610-03"}
    [(status,)] = query(recon_home, "select status from marts.fct_exception_current where exception_id = ?", [unbilled])
    assert status == "open"
    assert store.state(unbilled).status == "open" and store.history(unbilled)[-1]["action"] == "reopen"

    # Night 4: the export was cut short (one deal of three): the raw gate blocks the run and
    # the publication of night 3 stays.
    export("2026-11-22", ["SO-2610-01"])
    monkeypatch.setenv("RECON_AS_OF", "2026-11-23T03:00:00Z")
    from orchestration import pipeline

    assert not pipeline.run_pipeline()
    serving = duckdb.connect(str(recon_home / "publications" / "serving.duckdb"), read_only=True)
    try:
        published = {r[0] for r in serving.execute("select order_id from marts.fct_reconciled_orders").fetchall()}
    finally:
        serving.close()
    assert published == {"SO-2610-01", "SO-2610-02", "SO-2610-03"}


def test_the_export_date_comes_from_the_path_else_from_when_it_landed() -> None:
    assert ingest.export_time("crm/orders/hubspot-crm-exports-all-deals-2026-12-02.csv", None) == (
        datetime(2026, 12, 2),
        "the date in its name",
    )
    # The last date below <source>/<entity>/: a dated folder, then a dated name.
    assert ingest.export_time("crm/orders/2026-12-01/deals_20261203.csv", None)[0] == datetime(2026, 12, 3)
    assert ingest.export_time("crm/orders/deals_2026_12_04.csv", None)[0] == datetime(2026, 12, 4)
    # Not a date (month 13, day 99), or none: the file's modification time, UTC.
    landed = int(datetime(2026, 12, 5, 2, 30, tzinfo=UTC).timestamp()) * 10**9
    assert ingest.export_time("crm/orders/deals_20261399.csv", landed) == (
        datetime(2026, 12, 5, 2, 30),
        "when it landed (no date in its name)",
    )
    assert ingest.export_time("crm/orders/deals.csv", landed)[0] == datetime(2026, 12, 5, 2, 30)


def test_an_unknown_delivery_mode_is_refused_naming_the_entity() -> None:
    with pytest.raises(ValueError, match="crm/orders: delivery 'nightly' is not one of incremental, full"):
        dataclasses.replace(contract.ENTITY_BY_TABLE["crm__orders"], delivery="nightly")


def test_the_first_full_export_supersedes_every_batch_loaded_before_the_declaration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files loaded while the entity was incremental (two dated files, one restated) all
    count until the first full export: it supersedes every one of them."""
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    deals_export(landing, "2026-12-01", range(1, 4))
    deals_export(landing, "2026-12-02", range(4, 6))
    new_files(landing, warehouse)
    deals_export(landing, "2026-12-02", range(4, 7))  # restated at its path
    [restated] = new_files(landing, warehouse)
    assert current_orders(warehouse) == {f"SO-{n:05d}" for n in range(1, 7)}

    declare_deals_full(monkeypatch)
    deals_export(landing, "2026-12-03", [1, 4])
    [first_full] = new_files(landing, warehouse)
    assert sorted(first_full.supersedes_batch_ids) == [1, restated.batch_id]  # not batch 2: restated already
    assert first_full.keys_withdrawn == 4 and current_orders(warehouse) == {"SO-00001", "SO-00004"}
