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
