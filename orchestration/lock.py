"""One writer at a time on the working warehouse.

DuckDB refuses a second writer process outright; a run that started anyway would fail
half-way. Every run takes an OS lock (``flock``) on ``$RECON_HOME/warehouse.lock`` for
its whole length: ``recon run`` around the job, and runs launched from the Dagster UI,
the schedule or the sensor through the ``warehouse_writer`` resource. A second run waits
up to ``RECON_LOCK_WAIT_SECONDS`` (default 0: refuse at once) and is then refused with a
message naming the run that holds the lock. The kernel releases the lock when the
holding process ends, so a crashed run never leaves it stuck.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from orchestration.settings import recon_home

_held: dict[str, int] = {}  # lock path -> depth, so one process may nest (recon run → its assets)


class WarehouseBusy(RuntimeError):
    """Another run holds the warehouse."""


def lock_path() -> Path:
    return recon_home() / "warehouse.lock"


def default_wait() -> float:
    return float(os.environ.get("RECON_LOCK_WAIT_SECONDS", "0"))


@contextmanager
def warehouse_lock(holder: str, wait_seconds: float | None = None) -> Iterator[None]:
    """Hold the warehouse for ``holder`` (a run id or command) or raise WarehouseBusy."""
    path = lock_path()
    key = str(path)
    if _held.get(key):
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    wait = default_wait() if wait_seconds is None else wait_seconds
    deadline = time.monotonic() + wait
    fh = open(path, "a+")  # noqa: SIM115 - held for the whole run, closed below
    try:
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    fh.seek(0)
                    raise WarehouseBusy(
                        f"the warehouse is being written by another run ({fh.read().strip() or 'unknown holder'});"
                        " this run did not start. Wait for it to finish (see `make dev` → Runs), or set"
                        " RECON_LOCK_WAIT_SECONDS to queue behind it."
                    ) from None
                time.sleep(min(1.0, max(0.05, deadline - time.monotonic())))
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps({"holder": holder, "pid": os.getpid(), "since": datetime.now(UTC).isoformat()}))
        fh.flush()
        _held[key] = 1
        try:
            yield
        finally:
            _held.pop(key, None)
            fh.seek(0)
            fh.truncate()
            fh.flush()
            fcntl.flock(fh, fcntl.LOCK_UN)
    finally:
        fh.close()
