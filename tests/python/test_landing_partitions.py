"""Landing files as Dagster partitions: recorded by every run, reprocessed by a backfill."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from conftest import write
from test_ingest import order_row, orders_csv, rows

from orchestration.defs.automation import build_request
from orchestration.defs.landing_files import LANDING_FILES, LANDING_FILES_KEY, partition_key


def _defs() -> dg.Definitions:
    from orchestration.definitions import defs

    return defs


def _ingest_only(instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    """The main job's ingestion and raw gates (a quiet run), on a persistent instance."""
    from orchestration.pipeline import quiet_selection

    job = _defs().resolve_job_def("recon_job")
    return job.execute_in_process(instance=instance, asset_selection=quiet_selection(), raise_on_error=False)


def _reprocess(
    instance: dg.DagsterInstance, first: str, last: str | None = None, tags: dict | None = None
) -> dg.ExecuteInProcessResult:
    job = _defs().resolve_job_def("reprocess_landing_job")
    tags = {
        **(tags or {}),
        "dagster/asset_partition_range_start": first,
        "dagster/asset_partition_range_end": last or first,
    }
    return job.execute_in_process(instance=instance, tags=tags, raise_on_error=False)


def _materialized(instance: dg.DagsterInstance) -> dict[str, dict]:
    """Each partition's latest materialization metadata, by partition key."""
    out = {}
    records = instance.fetch_materializations(LANDING_FILES_KEY, limit=1000).records
    for record in sorted(records, key=lambda r: r.storage_id):
        mat = record.asset_materialization
        out[mat.partition] = {k: v.value for k, v in mat.metadata.items()}
    return out


def test_every_run_makes_each_landing_file_a_partition_and_records_what_it_loaded(recon_home: Path) -> None:
    write(recon_home / "landing/crm/orders/a.csv", orders_csv(order_row("1")))
    write(recon_home / "landing/crm/orders/b.csv", "not,an,orders,header\n1,2,3,4\n")  # rejected
    with dg.instance_for_test() as instance:
        assert _ingest_only(instance).success
        assert sorted(instance.get_dynamic_partitions(LANDING_FILES.name)) == ["crm/orders/a.csv", "crm/orders/b.csv"]
        done = _materialized(instance)
        assert set(done) == {"crm/orders/a.csv"}  # the rejected file is left to reprocess after a fix
        assert (done["crm/orders/a.csv"]["batch_id"], done["crm/orders/a.csv"]["rows_loaded"]) == (1, 1)
        # A second run adds no partition twice and records nothing for skipped files.
        assert _ingest_only(instance).success
        assert len(instance.get_dynamic_partitions(LANDING_FILES.name)) == 2
        assert len(instance.fetch_materializations(LANDING_FILES_KEY, limit=10).records) == 1


def test_files_loaded_outside_dagster_are_recorded_once_not_left_to_reprocess(recon_home: Path) -> None:
    # A review: files loaded before this feature, or by `recon ingest`, stayed "missing" for
    # good, and a backfill of the missing partitions would have read them all again.
    from orchestration import ingest, settings

    write(recon_home / "landing/crm/orders/a.csv", orders_csv(order_row("1")))
    ingest.ingest_landing(settings.landing_dir(), settings.warehouse_path())  # as `recon ingest` does
    with dg.instance_for_test() as instance:
        assert _ingest_only(instance).success
        done = _materialized(instance)
        assert set(done) == {"crm/orders/a.csv"} and done["crm/orders/a.csv"]["batch_id"] == 1
        assert _ingest_only(instance).success  # recorded once, not every run
        assert len(instance.fetch_materializations(LANDING_FILES_KEY, limit=10).records) == 1
    assert rows(recon_home, "select count(*) from raw.ingestion_log") == [(1,)]


def test_a_backfill_reads_those_files_again_and_nothing_else(recon_home: Path) -> None:
    for name in ("a", "b", "c"):
        write(recon_home / f"landing/crm/orders/{name}.csv", orders_csv(order_row(name)))
    with dg.instance_for_test() as instance:
        assert _ingest_only(instance).success
        # A file that lands after the last run is the next run's, not the backfill's.
        write(recon_home / "landing/crm/orders/d.csv", orders_csv(order_row("d")))
        result = _reprocess(instance, "crm/orders/a.csv", "crm/orders/b.csv")
        assert result.success
        log = rows(
            recon_home, "select batch_id, source_file, is_restatement, supersedes_batch_id from raw.ingestion_log"
        )
        assert sorted(log) == [
            (1, "crm/orders/a.csv", False, None),
            (2, "crm/orders/b.csv", False, None),
            (3, "crm/orders/c.csv", False, None),
            (4, "crm/orders/a.csv", True, 1),
            (5, "crm/orders/b.csv", True, 2),
        ]
        done = _materialized(instance)
        assert (done["crm/orders/a.csv"]["batch_id"], done["crm/orders/a.csv"]["restatement_of_batch"]) == (4, 1)
        assert (done["crm/orders/b.csv"]["batch_id"], done["crm/orders/b.csv"]["restatement_of_batch"]) == (5, 2)
        assert done["crm/orders/c.csv"]["batch_id"] == 3
        # Raw is append-only: the restating batches add rows that staging reads instead.
        current = rows(recon_home, "select count(*), count(distinct order_id) from raw.crm__orders")
        assert current == [(5, 3)]


def test_a_backfill_of_a_file_that_is_gone_fails_by_name_and_reads_nothing(recon_home: Path) -> None:
    path = write(recon_home / "landing/crm/orders/a.csv", orders_csv(order_row("1")))
    with dg.instance_for_test() as instance:
        assert _ingest_only(instance).success
        path.unlink()
        result = _reprocess(instance, "crm/orders/a.csv")
        assert not result.success
        (failure,) = [e for e in result.all_events if e.is_step_failure]
        message = failure.event_specific_data.error.message
        assert "nothing reprocessed: crm/orders/a.csv: no such file" in message
        assert "leave its partition out of the backfill" in message
        assert rows(recon_home, "select count(*) from raw.ingestion_log") == [(1,)]
        # Nothing was read again, so nothing is built.
        skip = build_request(instance, instance.get_run_by_id(result.run_id))
        assert isinstance(skip, dg.SkipReason) and "nothing was read again" in skip.skip_message


def test_a_reprocessed_file_still_rejected_fails_the_run_and_keeps_the_others(recon_home: Path) -> None:
    write(recon_home / "landing/crm/orders/a.csv", orders_csv(order_row("1")))
    write(recon_home / "landing/crm/orders/b.csv", "not,an,orders,header\n1,2,3,4\n")
    with dg.instance_for_test() as instance:
        assert _ingest_only(instance).success
        result = _reprocess(instance, "crm/orders/a.csv", "crm/orders/b.csv")
        assert not result.success
        (failure,) = [e for e in result.all_events if e.is_step_failure]
        assert "1 of 2 file(s) not loaded: crm/orders/b.csv: rejected" in failure.event_specific_data.error.message
        # a.csv was read again and is recorded; b.csv's partition stays unmaterialized.
        done = _materialized(instance)
        assert set(done) == {"crm/orders/a.csv"} and done["crm/orders/a.csv"]["batch_id"] == 3
        # A tryout: the build followed only successful runs, so a.csv was read and never built.
        request = build_request(instance, instance.get_run_by_id(result.run_id))
        assert isinstance(request, dg.RunRequest) and request.run_key == f"after-reprocessing-{result.run_id}"
        assert _defs().resolve_sensor_def("build_after_reprocessing").job_name == "recon_job"


def test_a_path_dagster_cannot_key_is_loaded_and_said_not_partitioned(recon_home: Path) -> None:
    write(recon_home / "landing/crm/orders/a...b.csv", orders_csv(order_row("1")))
    with dg.instance_for_test() as instance:
        result = _ingest_only(instance)
        assert result.success
        assert instance.get_dynamic_partitions(LANDING_FILES.name) == []
        warnings = [e.message for e in result.all_events if e.event_type_value == "ENGINE_EVENT"] + [
            str(e.message) for e in instance.all_logs(result.run_id) if e.level >= 30
        ]
        assert any("cannot be reprocessed from Dagster (use recon ingest --again)" in w for w in warnings)
    assert rows(recon_home, "select count(*) from raw.crm__orders") == [(1,)]


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("crm/orders/a.csv", "crm/orders/a.csv"),
        ("crm/orders/a...csv", None),
        ("crm/orders/a\tb.csv", None),
        ("crm/orders/" + "x" * 1100 + ".csv", None),
        ("", None),
    ],
)
def test_partition_keys_are_the_path_or_none(path: str, key: str | None) -> None:
    assert partition_key(path) == key


class BuildSensor:
    """The sensor build_after_reprocessing ticking on a real instance, its cursor kept between
    ticks as the daemon keeps it. The first tick starts watching: runs that end later count."""

    def __init__(self, instance: dg.DagsterInstance) -> None:
        self.instance = instance
        self.cursor: str | None = None
        self.tick()

    def tick(self, cursor: str | None = None) -> dg.RunRequest | dg.SkipReason:
        """One evaluation: its one run request, else why it skipped."""
        sensor = _defs().resolve_sensor_def("build_after_reprocessing")
        context = dg.build_sensor_context(
            instance=self.instance, cursor=cursor or self.cursor, sensor_name="build_after_reprocessing"
        )
        result = sensor(context)
        if isinstance(result, dg.SkipReason):
            return result
        self.cursor = result.cursor or self.cursor
        if result.run_requests:
            (request,) = result.run_requests  # one build per tick, however many runs ended
            return request
        skip = result.skip_reason
        return skip if isinstance(skip, dg.SkipReason) else dg.SkipReason(skip)


def test_the_build_runs_after_a_reprocessing_and_once_after_a_backfills_last_run(recon_home: Path) -> None:
    defs = _defs()
    assert defs.resolve_sensor_def("build_after_reprocessing").job_name == "recon_job"
    assert LANDING_FILES_KEY not in defs.resolve_job_def("recon_job").asset_layer.executable_asset_keys
    assert defs.resolve_job_def("reprocess_landing_job").partitions_def == LANDING_FILES
    write(recon_home / "landing/crm/orders/a.csv", orders_csv(order_row("1")))
    write(recon_home / "landing/crm/orders/b.csv", orders_csv(order_row("2")))
    with dg.instance_for_test() as instance:
        assert _ingest_only(instance).success
        ticks = BuildSensor(instance)
        alone = _reprocess(instance, "crm/orders/a.csv")
        request = ticks.tick()
        assert isinstance(request, dg.RunRequest)
        assert request.run_key == f"after-reprocessing-{alone.run_id}"
        assert request.tags["recon/reprocess_run"] == alone.run_id
        # A job backfill is a run per file: while one has not finished, no build yet.
        backfill = {"dagster/backfill": "bf1"}
        assert _reprocess(instance, "crm/orders/a.csv", tags=backfill).success
        queued = instance.create_run_for_job(
            defs.resolve_job_def("reprocess_landing_job"), status=dg.DagsterRunStatus.NOT_STARTED, tags=backfill
        )
        skip = ticks.tick()
        assert isinstance(skip, dg.SkipReason) and "1 more run(s) of backfill bf1" in skip.skip_message
        instance.delete_run(queued.run_id)
        assert _reprocess(instance, "crm/orders/b.csv", tags=backfill).success
        build = ticks.tick()
        assert isinstance(build, dg.RunRequest) and build.run_key == "after-backfill-bf1-2"
        assert build.tags["recon/reprocess_backfill"] == "bf1"
        # The last run of a backfill fails (its file is gone): the others' files are built all the same.
        (recon_home / "landing/crm/orders/a.csv").unlink()
        other = {"dagster/backfill": "bf2"}
        assert _reprocess(instance, "crm/orders/b.csv", tags=other).success
        failed = _reprocess(instance, "crm/orders/a.csv", tags=other)
        assert not failed.success
        after = build_request(instance, instance.get_run_by_id(failed.run_id))
        assert isinstance(after, dg.RunRequest) and after.run_key == "after-backfill-bf2-2"
        # A build already there for the backfill (started by hand, or before the sensor's cursor
        # remembered its key) is not asked again.
        instance.create_run_for_job(
            defs.resolve_job_def("recon_job"), status=dg.DagsterRunStatus.NOT_STARTED, tags=after.tags
        )
        again = build_request(instance, instance.get_run_by_id(failed.run_id))
        assert isinstance(again, dg.SkipReason) and "already requested" in again.skip_message
        # The UI's "materialize partitions" runs the asset in Dagster's own asset job.
        asset_job = defs.resolve_implicit_global_asset_job_def()
        in_ui = asset_job.execute_in_process(
            instance=instance,
            asset_selection=[LANDING_FILES_KEY],
            partition_key="crm/orders/b.csv",
        )
        assert in_ui.success and in_ui.dagster_run.job_name != "reprocess_landing_job"
        # The tick also reads bf2's two ends: its build is there, so only in_ui's is asked.
        assert ticks.tick().run_key == f"after-reprocessing-{in_ui.run_id}"
        # Any other successful run (the build itself) starts nothing.
        assert _ingest_only(instance).success
        assert "reprocessed no landing file" in ticks.tick().skip_message


def test_a_cancelled_backfill_builds_what_its_runs_read_again(
    recon_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A review: a cancelled run fires neither the success nor the failure sensor, so what a
    # cancelled backfill's runs had read again waited for the nightly run to be built.
    from dagster._core.errors import DagsterExecutionInterruptedError

    from orchestration import ingest, settings

    for name in ("a", "b", "c"):
        write(recon_home / f"landing/crm/orders/{name}.csv", orders_csv(order_row(name)))

    def cancel_queued(run: dg.DagsterRun) -> None:  # what cancelling a backfill does to its queued runs
        instance.report_run_canceling(run, message="Canceling run from the queue.")
        instance.report_run_canceled(run)

    with dg.instance_for_test() as instance:
        defs = _defs()
        assert _ingest_only(instance).success
        ticks = BuildSensor(instance)
        reprocess_job = defs.resolve_job_def("reprocess_landing_job")
        # A backfill of two runs: the first reads c.csv again while the second waits in the queue.
        backfill = {"dagster/backfill": "bf1"}
        queued = instance.create_run_for_job(reprocess_job, status=dg.DagsterRunStatus.NOT_STARTED, tags=backfill)
        first = _reprocess(instance, "crm/orders/c.csv", tags=backfill)
        assert first.success and "1 more run(s) of backfill bf1" in ticks.tick().skip_message
        # Cancelling the backfill cancels its queued run: the last run is over, and neither succeeded nor failed.
        cancel_queued(queued)
        build = ticks.tick()
        assert isinstance(build, dg.RunRequest) and build.run_key == "after-backfill-bf1-2"
        assert build.tags["recon/build_key"] == "after-backfill-bf1-2"
        # The build is asked once: the next tick reads no new end, and the build's tag answers a retry.
        assert "no run ended since the last tick" in ticks.tick().skip_message
        instance.create_run_for_job(
            defs.resolve_job_def("recon_job"), status=dg.DagsterRunStatus.NOT_STARTED, tags=build.tags
        )
        assert "already requested" in build_request(instance, instance.get_run_by_id(queued.run_id)).skip_message

        # A run cancelled while it reads: Dagster interrupts the step once a.csv is committed, before b.csv.
        real_sha256_of = ingest.sha256_of

        def cancelled_at_b(path: Path) -> str:
            if path.name == "b.csv":
                (running,) = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
                instance.report_run_canceling(running)  # what terminating a run does first
                raise DagsterExecutionInterruptedError("Execution interrupted")  # what the run worker's step sees
            return real_sha256_of(path)

        monkeypatch.setattr(ingest, "sha256_of", cancelled_at_b)
        stopped = _reprocess(instance, "crm/orders/a.csv", "crm/orders/b.csv", tags={"dagster/backfill": "bf2"})
        monkeypatch.setattr(ingest, "sha256_of", real_sha256_of)
        run = instance.get_run_by_id(stopped.run_id)
        assert run.status == dg.DagsterRunStatus.CANCELED and run.tags["recon/read_again"] == "true"
        log = rows(
            recon_home, "select batch_id, source_file, supersedes_batch_id from raw.ingestion_log where batch_id > 3"
        )
        assert log == [(4, "crm/orders/c.csv", 3), (5, "crm/orders/a.csv", 1)]
        done = _materialized(instance)  # a.csv's partition says it was read again; b.csv's is unchanged
        assert (done["crm/orders/a.csv"]["batch_id"], done["crm/orders/b.csv"]["batch_id"]) == (5, 2)
        assert ingest.ingest_head(settings.warehouse_path()) == 5  # the nightly run builds it too
        build = ticks.tick()
        assert isinstance(build, dg.RunRequest) and build.run_key == "after-backfill-bf2-1"

        # A backfill cancelled before any of its runs read a file builds nothing.
        idle = instance.create_run_for_job(
            reprocess_job, status=dg.DagsterRunStatus.NOT_STARTED, tags={"dagster/backfill": "bf3"}
        )
        cancel_queued(idle)
        assert "nothing was read again by backfill bf3" in ticks.tick().skip_message


def test_reprocessings_that_end_together_start_one_build(recon_home: Path) -> None:
    # A review: three run-end sensors (success, failure, cancellation) each asked for a build
    # per run; reprocessings that ended together started three builds of the same warehouse.
    write(recon_home / "landing/crm/orders/a.csv", orders_csv(order_row("1")))
    write(recon_home / "landing/crm/orders/b.csv", "not,an,orders,header\n1,2,3,4\n")  # rejected
    write(recon_home / "landing/crm/orders/c.csv", orders_csv(order_row("3")))
    with dg.instance_for_test() as instance:
        assert _ingest_only(instance).success
        ticks = BuildSensor(instance)
        # Between two ticks: one reprocessing succeeds, one fails having read a.csv again (b.csv is
        # still rejected), and a backfill whose first run read c.csv is cancelled with its second queued.
        done = _reprocess(instance, "crm/orders/c.csv")
        failed = _reprocess(instance, "crm/orders/a.csv", "crm/orders/b.csv")
        assert done.success and not failed.success
        backfill = {"dagster/backfill": "bf1"}
        queued = instance.create_run_for_job(
            _defs().resolve_job_def("reprocess_landing_job"), status=dg.DagsterRunStatus.NOT_STARTED, tags=backfill
        )
        assert _reprocess(instance, "crm/orders/c.csv", tags=backfill).success
        instance.report_run_canceling(queued, message="Canceling run from the queue.")
        instance.report_run_canceled(queued)
        before = ticks.cursor
        build = ticks.tick()
        assert isinstance(build, dg.RunRequest)
        assert build.tags["recon/build_keys"].split() == sorted(
            ["after-backfill-bf1-2", f"after-reprocessing-{done.run_id}", f"after-reprocessing-{failed.run_id}"]
        )
        assert build.tags["recon/reprocess_runs"] == "3"
        # A tick the daemon retries asks for the same run (Dagster drops a run key it has seen)...
        assert ticks.tick(cursor=before).run_key == build.run_key
        # ... and the next tick for nothing.
        assert "no run ended since the last tick" in ticks.tick().skip_message
        # A review: the merged build dropped each backfill's build-key tag, so a request
        # once the cursor forgot its keys asked for the backfill's build again.
        instance.create_run_for_job(
            _defs().resolve_job_def("recon_job"), status=dg.DagsterRunStatus.NOT_STARTED, tags=build.tags
        )
        assert "already requested" in build_request(instance, instance.get_run_by_id(queued.run_id)).skip_message
        assert [s.name for s in _defs().sensors if s.name.startswith("build_after")] == ["build_after_reprocessing"]
