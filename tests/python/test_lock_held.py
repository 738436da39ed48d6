"""A run refused by a holder of the warehouse lock that may be hung.

A `recon run` refused because another run holds the lock is neither recorded nor alerted:
that run reports its own end (a Dagster run refused so says who holds the lock and is
alerted once per holder: the schedule's or sensor's run is lost). A run that hung holding
it (a dbt process stuck on a lock, a stalled mount, a paused VM) never ends, so past
RECON_LOCK_MAX_HOLD_SECONDS the refused run says who holds it and what to do, records it
for `recon status` and alerts once per holder.
The holder here is a real process (``sleep``) holding a real flock on the lock file, with
the record lock.py writes; nothing runs a pipeline.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from test_alerts import webhook, write_config  # noqa: F401 (webhook is a fixture)

from orchestration import alerts, cli, lock, pipeline, settings, status
from orchestration.defs.resources import REFUSED, WarehouseWriter

# Takes the lock as lock.py does, writes its record dated HELD_FOR seconds back, then
# becomes `sleep` (same pid, the locked descriptor kept across the exec).
HOLDER = """
import fcntl, json, os, sys
fh = open(sys.argv[1], "a+")
fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
os.set_inheritable(fh.fileno(), True)
fh.seek(0); fh.truncate()
fh.write(json.dumps({"holder": sys.argv[2], "pid": os.getpid(), "host": sys.argv[3], "since": sys.argv[4],
                     "token": "f" * 32, "run_id": sys.argv[5]}))
fh.flush()
print("held", flush=True)
os.execv("/bin/sleep", ["sleep", "120"])
"""


class Holder:
    def __init__(
        self, held_for: timedelta, name: str = "recon run", host: str | None = None, run_id: str = "5e1f0c2a-run"
    ):
        self.since = (datetime.now(UTC) - held_for).isoformat()
        lock.lock_path().parent.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                HOLDER,
                str(lock.lock_path()),
                name,
                host or socket.gethostname(),
                self.since,
                run_id,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout.readline().strip() == "held"
        self.pid = self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)


@pytest.fixture
def holders():
    started: list[Holder] = []

    def start(held_for: timedelta, **kw) -> Holder:
        started.append(Holder(held_for, **kw))
        return started[-1]

    yield start
    for holder in started:
        holder.stop()


def test_a_holder_within_its_time_is_busy_and_one_past_it_is_named_with_what_to_do(
    recon_home: Path, holders, monkeypatch: pytest.MonkeyPatch
) -> None:
    working = holders(timedelta(minutes=30))
    with pytest.raises(lock.WarehouseBusy) as caught:
        with lock.warehouse_lock("recon run"):
            pass
    assert type(caught.value) is lock.WarehouseBusy  # a run that is working: plain busy
    working.stop()

    hung = holders(timedelta(hours=3))
    before = lock.lock_path().read_text()
    with pytest.raises(lock.WarehouseHeldTooLong) as caught:
        with lock.warehouse_lock("recon run"):
            pass
    text = str(caught.value)
    assert f"recon run (Dagster run 5e1f0c2a-run) {lock.HELD_MARK} {hung.since} (3 h), longer than 2 h" in text
    assert f"pid {hung.pid} on host {socket.gethostname()}" in text and lock.MAX_HOLD_ENV in text
    assert f"ps -o pid,etime,args -p {hung.pid}" in text and f"`kill {hung.pid}`" in text
    assert "f" * 32 not in text and "token" not in caught.value.record  # never the token
    assert caught.value.record["pid"] == hung.pid and round(caught.value.held_seconds / 3600) == 3
    assert caught.value.who() == (
        f"recon run (Dagster run 5e1f0c2a-run), pid {hung.pid}, since {hung.since}: 3 h, longer than "
        f"{lock.MAX_HOLD_ENV} allows, it may be hung; if it is stuck, `kill {hung.pid}`"
    )  # what `recon trace` prints when it reads the serving copy instead
    # Never taken over: the holder lives and its record is untouched.
    assert hung.proc.poll() is None and lock.lock_path().read_text() == before

    # The limit is the setting's; a mistyped one keeps the default here (runs refuse it, below).
    monkeypatch.setenv(lock.MAX_HOLD_ENV, str(4 * 3600))
    with pytest.raises(lock.WarehouseBusy) as caught:
        with lock.warehouse_lock("recon trace"):
            pass
    assert type(caught.value) is lock.WarehouseBusy
    monkeypatch.setenv(lock.MAX_HOLD_ENV, "two hours")
    with pytest.raises(lock.WarehouseHeldTooLong):
        with lock.warehouse_lock("recon trace"):
            pass


def test_on_another_host_the_message_says_to_look_there(recon_home: Path, holders) -> None:
    hung = holders(timedelta(days=3), name="dagster run 5e1f0c2a-run", host="night-box-2")
    with pytest.raises(lock.WarehouseHeldTooLong) as caught:
        with lock.warehouse_lock("recon run"):
            pass
    text = str(caught.value)
    assert text.startswith(f"dagster run 5e1f0c2a-run {lock.HELD_MARK} {hung.since} (3 days)")  # run id once
    assert "on host night-box-2 (not this machine" in text


@pytest.mark.parametrize("value", ["0", "59", "604801", "2h", "7200.5", "nan"])
def test_the_setting_is_bounded_and_runs_refuse_a_mistake_by_name(
    recon_home: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(lock.MAX_HOLD_ENV, value)
    with pytest.raises(settings.SettingError, match=f"{lock.MAX_HOLD_ENV}=.*60 to 604800"):
        pipeline.check_run_settings()


def test_bounds_and_default() -> None:
    assert lock.DEFAULT_MAX_HOLD_SECONDS == 7200 and lock.MAX_HOLD_BOUNDS == (60, 604800)
    assert [lock.span(s) for s in (90, 7199, 7200, 9000, 2 * 86400, 3 * 86400 + 7200)] == [
        "2 min", "120 min", "2 h", "2.5 h", "2 days", "3.1 days",
    ]  # fmt: skip
    now = datetime(2026, 12, 7, 12, tzinfo=UTC)
    record = json.dumps({"holder": "recon run", "pid": 1, "since": "2026-12-07T10:00:00+00:00", "token": "t"})
    assert lock.overdue(record, now=now, limit=7200) is None  # exactly the limit: not yet
    assert lock.overdue(record, now=now + timedelta(seconds=1), limit=7200) == (
        {"holder": "recon run", "pid": 1, "since": "2026-12-07T10:00:00+00:00"},
        7201.0,
    )
    for text in ("", "{}", "not json", json.dumps({"since": "2026-12-07T10:00:00"}), json.dumps({"since": "x"})):
        assert lock.overdue(text, now=now, limit=60) is None  # unreadable or naive: plain busy


def test_a_refused_run_records_and_alerts_once_per_holder_and_status_says_what_to_do(
    recon_home: Path,
    holders,
    webhook,  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys,
) -> None:
    url, received, _ = webhook
    monkeypatch.setenv("TEST_RECON_WEBHOOK", url)
    monkeypatch.setenv("RECON_ALERTS_CONFIG", str(write_config(tmp_path / "alerts.yml", 25, url)))
    alerts.record_last_run("run-ok-1", True, now=datetime(2026, 6, 1, tzinfo=UTC))
    published = {"publication": "20260601T000000Z-abc", "run_id": "run-ok-1"}

    working = holders(timedelta(minutes=20))
    assert cli.main(["run", "--quiet"]) == 5
    assert json.loads((recon_home / "last_run.json").read_text())["run_id"] == "run-ok-1"  # not recorded
    assert received == [] and status.last_run_lines(published) == []  # nor alerted
    working.stop()

    hung = holders(timedelta(hours=5))
    with pytest.raises(lock.WarehouseHeldTooLong):
        pipeline.run_pipeline(raise_refusals=True)
    last = json.loads((recon_home / "last_run.json").read_text())
    assert last["refused"] and lock.HELD_MARK in last["error"] and f"kill {hung.pid}" in last["error"]
    assert last["lock_held"]["pid"] == hung.pid and last["lock_held"]["limit_seconds"] == 7200
    [message] = received
    assert message["event"] == "run_failed" and message["keys"] == [
        f"lock_held:{socket.gethostname()}:{hung.pid}:{hung.since}"
    ]
    assert f"kill {hung.pid}" in message["text"] and "5e1f0c2a-run" in message["text"]
    first, hint = status.last_run_lines(published)
    assert first.startswith("LAST RUN REFUSED") and f"{lock.HELD_MARK} {hung.since} (5 h then)" in first
    assert f"pid {hung.pid} on host" in first and "20260601T000000Z-abc" in first
    assert "still holds the lock" in hint and f"kill {hung.pid}" in hint

    # Retries (cron, a person) refuse and record again, and do not alert again.
    assert cli.main(["run", "--quiet"]) == 5
    assert pipeline.run_pipeline() is False
    assert len(received) == 1
    assert lock.HELD_MARK in capsys.readouterr().err

    # A daemon run refused by the same holder: its failure carries the reason to the failure
    # sensor, which neither alerts it again nor records over the refusal.
    with pytest.raises(dg.Failure) as caught:
        with WarehouseWriter().yield_for_execution(dg.build_init_resource_context()):
            pass
    reason = caught.value.description
    assert reason.startswith(REFUSED) and lock.HELD_MARK in reason and not caught.value.allow_retries
    alerts.after_run("d43m0n-run", False, reason)
    assert len(received) == 1 and json.loads((recon_home / "last_run.json").read_text())["lock_held"]

    # Once killed, status says the next run goes ahead; another hung holder alerts again.
    hung.stop()
    assert "no longer holds the lock" in status.last_run_lines(published)[1]
    again = holders(timedelta(hours=2, minutes=10))
    assert pipeline.run_pipeline() is False
    assert len(received) == 2 and str(again.pid) in received[1]["keys"][0]


def test_a_daemon_run_refused_busy_names_the_holder_and_alerts_once_per_holder(
    recon_home: Path,
    holders,
    webhook,  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A run the schedule, a sensor or the UI starts while `recon run` (or a command) holds the
    # warehouse within its time: it failed with Dagster's "An exception was thrown during
    # execution.", the failure sensor sent that for every such run and recorded it as the home's
    # last run. Now the failure names the holder and since when, and is alerted once per holder.
    from orchestration.definitions import defs

    url, received, _ = webhook
    monkeypatch.setenv("TEST_RECON_WEBHOOK", url)
    monkeypatch.setenv("RECON_ALERTS_CONFIG", str(write_config(tmp_path / "alerts.yml", 25, url)))
    alerts.record_last_run("run-ok-1", True, now=datetime(2026, 6, 1, tzinfo=UTC))
    sensor = defs.resolve_sensor_def("alert_after_failure")
    working = holders(timedelta(minutes=20))
    with dg.DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def("recon_job").execute_in_process(instance=instance, raise_on_error=False)
        (failure,) = instance.all_logs(result.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
        run = instance.get_run_by_id(result.run_id)
        sensor(
            dg.build_run_status_sensor_context(
                sensor_name=sensor.name, dagster_instance=instance, dagster_run=run, dagster_event=failure.dagster_event
            )
        )
    assert not result.success
    [message] = received
    assert message["event"] == "run_failed"
    assert message["keys"] == [f"lock_busy:{socket.gethostname()}:{working.pid}:{working.since}"]
    text = message["text"]
    assert "An exception was thrown" not in text and lock.BUSY_MARK in text, text
    assert f"recon run (Dagster run 5e1f0c2a-run), pid {working.pid}, since {working.since} (20 min)" in text
    assert f"dagster run {result.run_id} did not start" in text
    assert json.loads((recon_home / "last_run.json").read_text())["run_id"] == "run-ok-1"  # not recorded

    def refused() -> str:
        """A daemon run refused when it starts, its failure as the sensor reads it (above)."""
        with pytest.raises(dg.Failure) as caught:
            with WarehouseWriter().yield_for_execution(dg.build_init_resource_context()):
                pass
        assert caught.value.description.startswith(REFUSED) and not caught.value.allow_retries
        alerts.after_run("d43m0n-run", False, caught.value.description)
        return caught.value.description

    # More runs refused by the same holder: not alerted again, the last run still untouched.
    refused()
    assert len(received) == 1
    assert json.loads((recon_home / "last_run.json").read_text())["run_id"] == "run-ok-1"
    # Another holder: alerted.
    working.stop()
    other = holders(timedelta(minutes=5), name="recon trace 3f2a")
    assert f"recon trace 3f2a (Dagster run 5e1f0c2a-run), pid {other.pid}" in refused()
    assert len(received) == 2 and f":{other.pid}:" in received[1]["keys"][0]


def test_a_daemon_run_past_the_limit_is_failed_by_dagster_and_the_alert_says_what_to_do(
    recon_home: Path,
    holders,
    webhook,  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Under the daemon, runs queue one at a time behind a run that hung: none reached the lock,
    # nothing was refused or alerted, and every later night waited. Dagster's run monitoring
    # (recon's dagster.yaml) now fails a run Dagster launched once it has run longer than
    # RECON_LOCK_MAX_HOLD_SECONDS (its dagster/max_runtime tag), and the failure sensor says so.
    import logging

    from dagster._core.storage.dagster_run import RunRecord
    from dagster._core.storage.tags import MAX_RUNTIME_SECONDS_TAG
    from dagster._daemon.monitoring.run_monitoring import monitor_started_run

    from orchestration.defs import alerting
    from orchestration.defs.resources import MAX_RUNTIME_TAG

    assert MAX_RUNTIME_TAG == MAX_RUNTIME_SECONDS_TAG
    url, received, _ = webhook
    monkeypatch.setenv("TEST_RECON_WEBHOOK", url)
    monkeypatch.setenv("RECON_ALERTS_CONFIG", str(write_config(tmp_path / "alerts.yml", 25, url)))
    monkeypatch.setenv(lock.MAX_HOLD_ENV, "600")
    settings.apply_environment()

    @dg.op(required_resource_keys={"warehouse_writer"})
    def write() -> None:
        pass

    @dg.job(resource_defs={"warehouse_writer": WarehouseWriter()}, executor_def=dg.in_process_executor)
    def writes() -> None:
        write()

    with dg.DagsterInstance.get() as instance:  # what the daemon loads from the dagster.yaml recon wrote
        assert instance.run_monitoring_enabled and instance.run_monitoring_start_timeout_seconds == 900
        assert instance.run_monitoring_max_runtime_seconds == 0  # the limit is each run's tag
        # A run Dagster launched gets the limit once it holds the warehouse; a `recon run`'s own
        # (in-process, under the lock it took) gets none: the daemon could not stop that process.
        launched = writes.execute_in_process(instance=instance)
        assert instance.get_run_by_id(launched.run_id).tags[MAX_RUNTIME_TAG] == "600"
        with lock.warehouse_lock("recon run"):
            in_process = writes.execute_in_process(instance=instance)
        assert MAX_RUNTIME_TAG not in instance.get_run_by_id(in_process.run_id).tags

        # A run that hung holding the warehouse, 11 minutes in, as the daemon's monitoring sees it.
        run_id = "5e1f0c2a-0000-4000-8000-00000000a11d"
        hung = holders(timedelta(minutes=11), name=f"dagster run {run_id}", run_id=run_id)
        run = instance.create_run_for_job(
            writes, run_id=run_id, status=dg.DagsterRunStatus.STARTED, tags={MAX_RUNTIME_TAG: "600"}
        )
        stored = instance.get_run_record_by_id(run.run_id)
        started = (datetime.now(UTC) - timedelta(minutes=11)).timestamp()
        monitor_started_run(
            instance,
            None,
            RunRecord(stored.storage_id, run, stored.create_timestamp, stored.update_timestamp, start_time=started),
            logging.getLogger("test"),
        )
        run = instance.get_run_by_id(run.run_id)
        assert run.status == dg.DagsterRunStatus.FAILURE
        (failure,) = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
        # Forced, its process not stopped here (no code server): Dagster's failure says neither the
        # limit nor the run; its cancelling does. When it stops the process, its failure says the limit.
        assert "forcibly marked as failed" in failure.message
        assert alerting.runtime_limit_exceeded(instance, run_id, failure.message) == 600
        assert alerting.runtime_limit_exceeded(instance, "x", "Exceeded maximum runtime of 7200 seconds.") == 7200
        for sensor in (alerting.alert_after_failure, alerting.alert_after_failed_ui_reprocessing):
            sensor(
                dg.build_run_status_sensor_context(
                    sensor_name=sensor.name,
                    dagster_instance=instance,
                    dagster_run=run,
                    dagster_event=failure.dagster_event,
                )
            )
    [message] = received  # once, whichever sensor looked first
    assert message["event"] == "run_failed" and message["keys"] == [f"run_failed:{run_id}"]
    text = message["text"]
    assert "run 5e1f0c2a: ran longer than 10 min (RECON_LOCK_MAX_HOLD_SECONDS): Dagster's run monitoring" in text
    assert f"pid {hung.pid}) still holds the warehouse lock" in text and f"`kill {hung.pid}`" in text, text
    assert f"raise {lock.MAX_HOLD_ENV}" in text
    last = json.loads((recon_home / "last_run.json").read_text())
    assert last["run_id"] == run_id and last["error"].startswith("ran longer than 10 min")

    # Once its process let go, the message says the next run goes ahead.
    hung.stop()
    assert "It no longer holds the warehouse lock" in lock.runtime_exceeded_message(run_id, 600)
