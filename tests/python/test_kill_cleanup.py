"""kill -9 of a run: what it leaves behind is cleaned up by the next one.

The kernel frees the warehouse lock when a holder dies, but a ``dbt build`` the holder
started keeps running, orphaned, and its Dagster run would stay STARTED for good. The
next holder stops the orphans (found by the token in their environment) and the next
run marks the dead Dagster run failed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from orchestration import lock
from orchestration.lab import generate

HOLDER = """
import subprocess, sys, time
from orchestration.lock import warehouse_lock
with warehouse_lock("recon run"):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    print(child.pid, flush=True)
    time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (killed, not yet reaped by its parent) counts as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_the_next_holder_stops_what_a_killed_holder_left_running(recon_home: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER], stdout=subprocess.PIPE, text=True, env=dict(os.environ))
    orphan = int(proc.stdout.readline())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _alive(orphan), "the child must outlive its killed parent, as dbt does"
    try:
        with lock.warehouse_lock("next run"):
            found = lock.last_takeover
        assert found is not None and found["holder"] == "recon run"
        assert [p["pid"] for p in found["stopped"]] == [orphan]
        assert not _alive(orphan)
        # A clean release leaves nothing to take over.
        with lock.warehouse_lock("the run after"):
            assert lock.last_takeover is None
    finally:
        if _alive(orphan):
            os.kill(orphan, signal.SIGKILL)


def test_a_run_killed_during_the_build_is_marked_failed_and_its_dbt_stopped(recon_home: Path) -> None:
    generate.generate(recon_home, seed=5, orders=40)
    recon = str(Path(sys.executable).with_name("recon"))
    log = recon_home / "killed.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([recon, "run", "--verbose"], stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while 'Started execution of step "recon_dbt_assets"' not in log.read_text():
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.1)
    token = json.loads(lock.lock_path().read_text())["token"]
    while not any("dbt" in lock._command_of(pid) for pid in lock._carrying(token)):
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)  # dbt is running now
    proc.wait()
    with lock.warehouse_lock("next holder"):
        stopped = lock.last_takeover["stopped"]
    assert any("dbt" in p["command"] for p in stopped), stopped
    done = subprocess.run([recon, "run"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs()
    statuses = sorted(r.status.value for r in runs)
    assert statuses == ["FAILURE", "SUCCESS"], statuses
    failed = next(r for r in runs if r.status.value == "FAILURE")
    with dg.DagsterInstance.get() as instance:
        messages = [e.message for e in instance.all_logs(failed.run_id) if e.message]
    assert any("ended without finishing" in m and "were stopped" in m for m in messages), messages


@pytest.fixture(autouse=True)
def _no_token_leak():
    yield
    assert lock.TOKEN_ENV not in os.environ
