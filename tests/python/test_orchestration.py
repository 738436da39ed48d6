"""Orchestration without a full build: schedule, landing sensor, and the one-writer lock."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import dagster as dg
import pytest
from conftest import write

from orchestration import cli, pipeline
from orchestration.lock import WarehouseBusy, warehouse_lock


def _defs() -> dg.Definitions:
    from orchestration.definitions import defs

    return defs


def test_nightly_schedule_and_landing_sensor_run_the_main_job() -> None:
    defs = _defs()
    schedule = defs.resolve_schedule_def("recon_nightly")
    assert schedule.cron_schedule == os.environ.get("RECON_SCHEDULE_CRON", "0 2 * * *")
    assert schedule.execution_timezone == "UTC"
    assert schedule.job_name == "recon_job"
    assert defs.resolve_sensor_def("landing_sensor").job_name == "recon_job"


def test_nightly_schedule_asks_for_a_quiet_run_when_nothing_is_new(recon_home: Path, monkeypatch) -> None:
    from orchestration import build_inputs
    from orchestration.defs.ingestion import RAW_SPECS

    schedule = _defs().resolve_schedule_def("recon_nightly")

    def tick() -> dg.RunRequest:
        with dg.instance_for_test() as instance:
            (request,) = schedule.evaluate_tick(dg.build_schedule_context(instance=instance)).run_requests
        return request

    whole = tick()  # nothing published yet: the whole job
    assert whole.asset_selection is None and build_inputs.QUIET_TAG not in whole.tags
    monkeypatch.setattr(build_inputs, "nothing_new", lambda: {"publication": "p1"})
    quiet = tick()
    assert quiet.tags[build_inputs.QUIET_TAG] == "true"
    assert set(quiet.asset_selection) == {spec.key for spec in RAW_SPECS}


def test_landing_sensor_requests_a_run_for_new_or_changed_files_only(recon_home: Path) -> None:
    sensor = _defs().resolve_sensor_def("landing_sensor")
    landing = recon_home / "landing" / "crm" / "orders"

    def tick(cursor: str | None):
        with dg.instance_for_test() as instance:
            return sensor.evaluate_tick(dg.build_sensor_context(cursor=cursor, instance=instance))

    empty = tick(None)
    assert not empty.run_requests and "no new or changed files" in (empty.skip_message or "")
    write(landing / "orders_a.csv", "order_id\nSO-1\n")
    first = tick(None)
    assert len(first.run_requests) == 1 and first.run_requests[0].tags["recon/new_files"] == "1"
    assert not tick(first.cursor).run_requests  # nothing new since
    write(landing / "orders_b.csv", "order_id\nSO-2\n")
    second = tick(first.cursor)
    assert second.run_requests[0].tags["recon/new_files"] == "1"
    assert second.run_requests[0].run_key != first.run_requests[0].run_key
    time.sleep(0.01)
    write(landing / "orders_a.csv", "order_id\nSO-1\nSO-3\n")  # restated: changed content
    assert tick(second.cursor).run_requests[0].tags["recon/new_files"] == "1"


def _hold_lock(home: str, ready, release) -> None:
    os.environ["RECON_HOME"] = home
    with warehouse_lock("test holder"):
        ready.set()
        release.wait(30)


def test_a_second_writer_is_refused_with_the_holder_named(recon_home: Path, capsys) -> None:
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(str(recon_home), ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        with pytest.raises(WarehouseBusy, match="test holder"):
            with warehouse_lock("second", wait_seconds=0.2):
                pass
        assert pipeline.run_pipeline() is False  # refused before anything is written
        err = capsys.readouterr().err
        assert "recon run refused" in err and "held by another process" in err
        assert cli.main(["run", "--quiet"]) == 5  # the exit code schedulers read for "busy"
        out, err = capsys.readouterr()
        assert "recon run refused" in err and "pipeline finished" not in out
        assert not (recon_home / "warehouse.duckdb").exists()
    finally:
        release.set()
        holder.join(30)
    with warehouse_lock("after release", wait_seconds=0):  # the kernel released it with the process
        pass


def test_the_lock_is_reentrant_within_one_run(recon_home: Path) -> None:
    with warehouse_lock("recon run"):
        with warehouse_lock("dagster run x"):  # the job's resource inside `recon run`
            pass
        with warehouse_lock("again"):
            pass


def publish_now() -> dict:
    """A publication record whose build read the landing folder, the action log and the
    project as they are now (what `build_inputs.nothing_new` compares against)."""
    import json

    from orchestration import build_inputs, settings
    from orchestration.actions import ActionStore

    store = ActionStore.existing()
    seq, head = store.head() if store else (0, "")
    record = {
        "publication": "p1",
        "run_id": "r1",
        "build_inputs": {
            "project_sha256": build_inputs.project_digest(),
            "last_action_seq": seq,
            "last_action_hash": head,
        },
        "landing_sha256": build_inputs.landing_digest(),
    }
    settings.publications_dir().mkdir(parents=True, exist_ok=True)
    (settings.publications_dir() / "current.json").write_text(json.dumps(record))
    return record


def test_the_guess_before_a_run_sees_each_kind_of_new_input(recon_home: Path, monkeypatch) -> None:

    from orchestration import build_inputs, settings

    landing = recon_home / "landing" / "crm" / "orders"
    write(landing / "orders_a.csv", "order_id\nSO-1\n")
    publications = settings.publications_dir()
    publications.mkdir(parents=True, exist_ok=True)

    assert build_inputs.nothing_new() is None  # nothing published
    record = publish_now()
    assert build_inputs.nothing_new() == record
    time.sleep(0.01)
    (landing / "orders_a.csv").touch()  # touched: maybe changed
    assert build_inputs.nothing_new() is None
    record = publish_now()
    write(landing / "orders_b.csv", "order_id\nSO-2\n")  # a new file
    assert build_inputs.nothing_new() is None
    record = publish_now()
    monkeypatch.setenv("RECON_AS_OF", "2026-01-31")  # another business clock
    assert build_inputs.nothing_new() is None
    record = publish_now()
    assert build_inputs.nothing_new() == record


def test_the_catalogs_own_events_after_a_build_are_nothing_new(recon_home: Path) -> None:
    """The exception catalog appends auto_resolve / reopen after the build it read; the marts
    leave those events out, so they alone must not make the next night rebuild everything.
    An action a person makes, or a log that is not the one the build read, still does."""
    import json

    from orchestration import build_inputs, settings
    from orchestration.actions import ActionStore

    write(recon_home / "landing" / "crm" / "orders" / "orders_a.csv", "order_id\\nSO-1\\n")
    store = ActionStore()
    gone, stays = "a" * 32, "b" * 32
    store.refresh_catalog(
        [
            {"exception_id": e, "exception_type": "unbilled_order", "owner_team": "finance",
             "severity": "manual_review", "sla_hours": 72, "amount_at_risk": "10.00"}
            for e in (gone, stays)
        ]
    )  # fmt: skip
    store.act("claim", gone, "alice")
    seq = store.head()[0]
    record = publish_now()
    assert build_inputs.nothing_new() == record

    # The catalog of that run: one exception no longer found, closed by the pipeline.
    assert store.refresh_catalog([store.catalog_entry(stays)])["auto_resolved"] == 1
    assert store.head()[0] == seq + 1
    assert build_inputs.nothing_new() == record  # no rebuild for its own event

    # A publication whose build read another log (its last entry not this one): new.
    other = {**record, "build_inputs": {**record["build_inputs"], "last_action_hash": "0" * 64}}
    (settings.publications_dir() / "current.json").write_text(json.dumps(other))
    assert build_inputs.nothing_new() is None
    (settings.publications_dir() / "current.json").write_text(json.dumps(record))

    # A person's action after the catalog's event: new.
    store.act("claim", stays, "alice")
    assert build_inputs.nothing_new() is None


def test_runs_log_their_events_to_dagsters_own_files_through_open_databases(recon_home: Path) -> None:
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

    from orchestration import event_log_storage, settings

    settings.apply_environment()

    @dg.asset
    def tally() -> int:
        return 1

    @dg.asset_check(asset=tally)
    def tally_is_one() -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=True)

    assert "history/runs" not in (recon_home / "dagster" / "dagster.yaml").read_text()  # from DAGSTER_HOME
    runs = event_log_storage.MAX_ENGINES + 3
    with dg.DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        assert isinstance(storage, event_log_storage.PooledSqliteEventLogStorage)
        run_ids = [dg.materialize([tally, tally_is_one], instance=instance).run_id for _ in range(runs)]
        # One open database per run would grow without end in a long-lived UI process.
        assert len(storage._engines) <= event_log_storage.MAX_ENGINES
        written = {run_id: len(storage.get_records_for_run(run_id).records) for run_id in run_ids}

    # Dagster's stock storage reads what was written: same files, same schema, every event.
    stock = SqliteEventLogStorage(str(recon_home / "dagster" / "history" / "runs"))
    try:
        assert {run_id: len(stock.get_records_for_run(run_id).records) for run_id in run_ids} == written
        assert min(written.values()) > 5
        latest = stock.get_latest_materialization_events([dg.AssetKey("tally")])[dg.AssetKey("tally")]
        assert latest is not None and latest.run_id == run_ids[-1]
        check = stock.get_latest_asset_check_execution_by_key([dg.AssetCheckKey(dg.AssetKey("tally"), "tally_is_one")])
        assert len(check) == 1
    finally:
        stock.dispose()


@pytest.mark.parametrize("reader_kind", ["pooled", "stock"])
def test_the_live_run_log_sees_each_event_as_it_is_written(recon_home: Path, reader_kind: str) -> None:
    """The UI follows a running run through the storage's watch(); open databases must not hide commits."""
    from dagster._core.events.log import EventLogEntry
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

    from orchestration.event_log_storage import PooledSqliteEventLogStorage

    base_dir = str(recon_home / "dagster" / "history" / "runs")
    writer = PooledSqliteEventLogStorage(base_dir)
    reader = PooledSqliteEventLogStorage(base_dir) if reader_kind == "pooled" else SqliteEventLogStorage(base_dir)
    run_id = "0f0e0d0c-0b0a-4900-8800-000000000001"
    seen: list[str] = []

    def entry(n: int) -> EventLogEntry:
        return EventLogEntry(error_info=None, level=20, user_message=f"event {n}", run_id=run_id, timestamp=time.time())

    try:
        writer.store_event(entry(0))  # the run's database exists before anyone watches it
        reader.get_records_for_run(run_id)  # and the reader has read it, as the UI does
        reader.watch(run_id, None, lambda event, _cursor: seen.append(event.user_message))
        for n in range(1, 41):
            writer.store_event(entry(n))
            if n % 10 == 0:  # a pause, as between a run's steps: the last event before it must show
                deadline = time.monotonic() + 10
                while len(seen) < n + 1 and time.monotonic() < deadline:
                    time.sleep(0.02)
                assert seen == [f"event {k}" for k in range(n + 1)]
    finally:
        reader.dispose()
        writer.dispose()
