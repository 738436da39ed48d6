"""One writer at a time on the working warehouse.

DuckDB refuses a second writer process outright; a run that started anyway would fail
half-way. Every run takes an OS lock (``flock``) on ``$RECON_HOME/warehouse.lock`` for
its whole length: ``recon run`` around the job, and runs launched from the Dagster UI,
the schedule or the sensor through the ``warehouse_writer`` resource. A second run waits
up to ``RECON_LOCK_WAIT_SECONDS`` (default 0: refuse at once) and is then refused with a
message naming the run that holds the lock. The kernel releases the lock when the
holding process ends, so a crashed run never leaves it stuck.

Commands other than a run that must open the working warehouse (``--working`` reads,
``recon trace``, ``recon quality``, ``recon train``, ``recon ingest``) take the same lock
for their length, without waiting: refused while a run writes, and a run that starts
meanwhile is refused naming them. A process outside recon (a BI tool, the duckdb CLI)
that opens the working warehouse holds DuckDB's own file lock; the run then fails with
that process's pid and command line (``explain_file_lock``).

A holder killed with ``kill -9`` cannot clean up: the kernel frees the lock, but a
``dbt build`` it started keeps writing, orphaned, and its Dagster run stays STARTED. So
each holder puts a token in its environment (``RECON_LOCK_TOKEN``, inherited by every
process it starts) and its record in the lock file, and clears the record on release.
The next holder that finds a record whose process is gone stops every process still
carrying that token before it touches the warehouse (``take_over``), and the Dagster
resource marks the dead run failed.

A holder that is alive but hung (a dbt process stuck on a lock, a stalled network mount, a
paused VM) is never taken over: only a person can tell it from a slow run. A run refused
while the holder has held the lock longer than ``RECON_LOCK_MAX_HOLD_SECONDS`` (default 2
hours) is refused with ``WarehouseHeldTooLong``, whose message names the holder (pid, host,
run id, since when) and what to do; the run records and alerts it (orchestration/pipeline.py).
A run Dagster launched gets the same limit as its ``dagster/max_runtime``: the daemon's run
monitoring stops it past that (orchestration/defs/resources.py), since the runs queued behind
it would never reach the lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import socket
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from orchestration.settings import loading, recon_home, serving_path

_held: dict[str, int] = {}  # lock path -> depth, so one process may nest (recon run → its assets)
TOKEN_ENV = "RECON_LOCK_TOKEN"
# What the last acquisition found of a holder that died holding the lock (see take_over).
last_takeover: dict | None = None


class WarehouseBusy(RuntimeError):
    """Another run holds the warehouse. ``record`` is the holder's lock record without its token,
    when the lock file had a readable one (a Dagster run alerts once per holder by it)."""

    def __init__(self, message: str, record: dict | None = None):
        super().__init__(message)
        self.record = record


class WarehouseHeldTooLong(WarehouseBusy):
    """Another process has held the warehouse longer than ``max_hold_seconds``: maybe hung.

    ``record`` is its lock record without the token; ``held_seconds`` and ``limit_seconds``
    say how long it has held the lock and how long it may.
    """

    record: dict

    def __init__(self, message: str, record: dict, held_seconds: float, limit_seconds: float):
        super().__init__(message, record)
        self.held_seconds = held_seconds
        self.limit_seconds = limit_seconds

    def who(self) -> str:
        """The holder in a few words, for a command that went ahead another way (``recon trace``)."""
        pid = self.record.get("pid")
        return (
            f"{describe_run(self.record)}, pid {pid}, since {self.record.get('since')}: {span(self.held_seconds)}, "
            f"longer than {MAX_HOLD_ENV} allows, it may be hung; if it is stuck, `kill {pid}`"
        )


MAX_HOLD_ENV = "RECON_LOCK_MAX_HOLD_SECONDS"
HELD_MARK = "has held the warehouse lock since"  # in every WarehouseHeldTooLong message
BUSY_MARK = "the warehouse is held by another process"  # in every refusal by a holder within its time
# Two hours: the longest whole runs measured on the reference machine (2 cores) are 6-7 min
# at 1M orders and 9 min at 200k under heavy load; the stages of a 10M run took 70 min on a
# contended machine (docs/benchmarks.md). Raise it for homes whose runs take over an hour.
DEFAULT_MAX_HOLD_SECONDS = 7_200
MAX_HOLD_BOUNDS = (60, 7 * 86_400)


def max_hold_seconds() -> int:
    """How long a holder may keep the warehouse before a refused run reports it as maybe hung
    (``RECON_LOCK_MAX_HOLD_SECONDS``, whole seconds, 60 to 7 days); SettingError naming it
    when invalid (runs refuse that: orchestration.pipeline.check_run_settings)."""
    from orchestration.settings import env_number

    return int(env_number(MAX_HOLD_ENV, DEFAULT_MAX_HOLD_SECONDS, *MAX_HOLD_BOUNDS))


def span(seconds: float) -> str:
    """A duration as a person reads it: minutes under two hours, then hours, then days."""
    if seconds < 7_200:
        return f"{seconds / 60:.0f} min"
    hours, days = f"{seconds / 3_600:.1f}", f"{seconds / 86_400:.1f}"
    if seconds < 2 * 86_400:
        return f"{hours.removesuffix('.0')} h"
    return f"{days.removesuffix('.0')} days"


def describe_run(record: dict) -> str:
    """The holder as its record names it, with the Dagster run id when it is not in the name."""
    name = str(record.get("holder") or "unknown holder")
    run_id = record.get("run_id")
    return f"{name} (Dagster run {run_id})" if run_id and str(run_id) not in name else name


def overdue(text: str, now: datetime | None = None, limit: float | None = None) -> tuple[dict, float] | None:
    """The lock record in ``text`` and how long it has held the lock, when longer than ``limit``
    (``max_hold_seconds``); None for a holder within its time, or a record without a readable
    ``since`` (a holder between taking the lock and writing its record)."""
    try:
        record = json.loads(text) if text.strip() else None
        since = datetime.fromisoformat(str(record["since"])) if isinstance(record, dict) else None
    except (ValueError, KeyError):
        return None
    if since is None or since.tzinfo is None:
        return None
    held = ((now or datetime.now(UTC)) - since).total_seconds()
    if held <= (max_hold_seconds() if limit is None else limit):
        return None
    return {k: v for k, v in record.items() if k != "token"}, held


def held_too_long_message(record: dict, held: float, limit: float, refused: str) -> str:
    """Who has held the lock too long, and what the operator does about it (never automatic)."""
    pid = record.get("pid")
    host = record.get("host")
    here = socket.gethostname()
    where = f" on host {host}" if host else ""
    if host and host != here:
        where += f" (not this machine, {here}: look there)"
    alive = host not in (None, here) or _alive(pid)
    check = (
        f"check it: `ps -o pid,etime,args -p {pid}` and its log under logs/ in {recon_home()}"
        if alive
        else f"pid {pid} is gone, yet the lock is held: `fuser -v {lock_path()}` names the process holding it"
    )
    return (
        f"{describe_run(record)} {HELD_MARK} {record.get('since')} ({span(held)}), longer "
        f"than {span(limit)} ({MAX_HOLD_ENV}): it may be hung (a dbt process stuck on a lock, a stalled mount, a "
        f"paused VM); pid {pid}{where}. {refused} did not start. To do: {check}. If it is still working, let it "
        f"finish (or raise {MAX_HOLD_ENV}); if it is stuck, `kill {pid}` (`kill -9 {pid}` if it does not end): "
        "the next run stops what it left running and marks its Dagster run failed. recon never takes the lock "
        "from a live process."
    )


def runtime_exceeded_message(run_id: str, limit: float) -> str:
    """A Dagster run that Dagster's run monitoring stopped and failed past its ``dagster/max_runtime``
    (RECON_LOCK_MAX_HOLD_SECONDS: orchestration/defs/resources.py): what happened, whether its
    process still holds the warehouse, and what to do."""
    holder = current_holder()
    if holder and holder.get("run_id") == run_id:
        pid = holder.get("pid")
        where = f" on host {holder.get('host')}" if holder.get("host") not in (None, socket.gethostname()) else ""
        process = (
            f"Its process (pid {pid}{where}) still holds the warehouse lock, and runs are refused until it ends: if "
            f"it is stuck, `kill {pid}` (`kill -9 {pid}` if it does not end); the next run cleans up what it left"
        )
    else:
        process = "It no longer holds the warehouse lock: the next run goes ahead"
    return (
        f"ran longer than {span(limit)} ({MAX_HOLD_ENV}): Dagster's run monitoring stopped it and marked it failed, "
        f"so the runs queued behind it start. It may have hung (a dbt process stuck on a lock, a stalled mount, a "
        f"paused VM) or been slow. {process}. To do: see the step it stopped in (Runs page; dbt's log under "
        f"{recon_home() / 'dbt-runs'}); if runs of this home take that long, raise {MAX_HOLD_ENV} where "
        "`recon dev` (the daemon) starts."
    )


def _describe_holder(text: str, now: datetime | None = None) -> tuple[str, dict | None]:
    """Who holds the lock, as a person reads it: holder and its Dagster run, pid, host when not
    this one, since when and how long that is; and its record without the token, if readable."""
    try:
        record = json.loads(text)
    except ValueError:
        record = None
    if not isinstance(record, dict):
        return text.strip()[:200] or "unknown holder", None
    record = {k: v for k, v in record.items() if k != "token"}
    host = record.get("host")
    where = f" on host {host}" if host and host != socket.gethostname() else ""
    since = record.get("since", "?")
    try:
        held = ((now or datetime.now(UTC)) - datetime.fromisoformat(str(since))).total_seconds()
        since = f"{since} ({span(max(held, 0))})"
    except (TypeError, ValueError):  # naive or unreadable: as written
        pass
    return f"{describe_run(record)}, pid {record.get('pid', '?')}{where}, since {since}", record


def lock_path() -> Path:
    return recon_home() / "warehouse.lock"


def default_wait() -> float:
    from orchestration.settings import env_number

    return env_number("RECON_LOCK_WAIT_SECONDS", 0, 0, 86_400, whole=False)


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
                    text = fh.read()
                    # A mistyped setting is refused by the run's own checks; here it must not hide the holder.
                    limit = loading(max_hold_seconds, DEFAULT_MAX_HOLD_SECONDS)
                    found = overdue(text, limit=limit)
                    if found:
                        record, held = found
                        raise WarehouseHeldTooLong(
                            held_too_long_message(record, held, limit, holder), record, held, limit
                        ) from None
                    who, record = _describe_holder(text)
                    raise WarehouseBusy(
                        f"{BUSY_MARK} ({who}); {holder} did not start. Wait for it to finish (runs: see"
                        " `make dev` → Runs), or set RECON_LOCK_WAIT_SECONDS to queue behind it.",
                        record,
                    ) from None
                time.sleep(min(1.0, max(0.05, deadline - time.monotonic())))
        fh.seek(0)
        take_over(fh.read())
        token = uuid.uuid4().hex
        fh.seek(0)
        fh.truncate()
        fh.write(
            json.dumps(
                {
                    "holder": holder,
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "since": datetime.now(UTC).isoformat(),
                    "token": token,
                }
            )
        )
        fh.flush()
        _held[key] = 1
        inherited = os.environ.get(TOKEN_ENV)
        os.environ[TOKEN_ENV] = token
        try:
            yield
        finally:
            if inherited is None:
                os.environ.pop(TOKEN_ENV, None)
            else:
                os.environ[TOKEN_ENV] = inherited
            _held.pop(key, None)
            fh.seek(0)
            fh.truncate()
            fh.flush()
            fcntl.flock(fh, fcntl.LOCK_UN)
    finally:
        fh.close()


def holding() -> bool:
    """Whether this process holds the warehouse lock (a `recon run` around its in-process run)."""
    return bool(_held.get(str(lock_path())))


def record_run(run_id: str) -> None:
    """Add the Dagster run id to this process's lock record, so a successor can fail the run."""
    path = lock_path()
    if not _held.get(str(path)):
        return
    try:
        record = json.loads(path.read_text() or "null")
    except (OSError, ValueError):
        return
    if isinstance(record, dict) and record.get("pid") == os.getpid():
        record["run_id"] = run_id
        path.write_text(json.dumps(record))


def _carrying(token: str, settle_seconds: float = 2.0) -> list[int]:
    """Processes (other than this one) whose environment carries the lock token.

    A process caught in the middle of exec shows an empty environment for a moment: the
    parent of a vfork resumes before the kernel has mapped the child's new environment.
    A holder killed just after starting a child (measured: about 1 run in 10 of a test
    that does exactly that, on a loaded machine) would leave that child unseen, so empty
    environments are read again until they fill or ``settle_seconds`` pass.
    """
    needle = f"{TOKEN_ENV}={token}".encode()
    found: list[int] = []
    pending = [int(e.name) for e in Path("/proc").iterdir() if e.name.isdigit() and int(e.name) != os.getpid()]
    deadline = time.monotonic() + settle_seconds
    while pending:
        empty = []
        for pid in pending:
            try:
                environ = Path(f"/proc/{pid}/environ").read_bytes()
            except OSError:
                continue  # gone, or another user's
            if not environ:
                empty.append(pid)  # mid-exec, a zombie, or a kernel thread
            elif needle in environ.split(b"\0"):
                found.append(pid)
        if not empty or time.monotonic() >= deadline:
            break
        pending = [pid for pid in empty if _alive(pid) and not _zombie_or_kernel(pid)]
        time.sleep(0.02)
    return found


def _zombie_or_kernel(pid: int) -> bool:
    """A zombie or a kernel thread: its environment stays empty for good."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    fields = stat[stat.rfind(")") + 2 :].split()
    # state is the first field after the name; flags (the 7th) carry PF_KTHREAD (0x00200000).
    return fields[0] in ("Z", "X") or bool(int(fields[6]) & 0x00200000)


def takeovers_path() -> Path:
    return recon_home() / "logs" / "takeovers.jsonl"


def takeovers() -> list[dict]:
    """Every holder found dead holding the lock, oldest first."""
    try:
        lines = takeovers_path().read_text().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def take_over(previous: str, wait_seconds: float = 15.0) -> dict | None:
    """Clean up after a holder that died holding the lock; returns what was found, or None.

    ``previous`` is the lock file's content when the lock was acquired. A holder that
    released cleanly leaves it empty; a live one still holds the lock, so a record here
    whose process is gone is a killed holder. Every process still carrying its token (an
    orphaned ``dbt build``) is killed, and this waits until they are gone.
    """
    global last_takeover
    last_takeover = None
    try:
        record = json.loads(previous) if previous.strip() else None
    except ValueError:
        return None
    if not isinstance(record, dict) or _alive(record.get("pid")) or not record.get("token"):
        return None
    stopped = []
    for pid in _carrying(record["token"]):
        command = _command_of(pid)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
        stopped.append({"pid": pid, "command": command[:200]})
    deadline = time.monotonic() + wait_seconds
    while stopped and time.monotonic() < deadline and any(_alive(p["pid"]) for p in stopped):
        time.sleep(0.05)
    last_takeover = {**record, "stopped": stopped, "found_at": datetime.now(UTC).isoformat()}
    # Kept, so whichever run comes next can close the dead holder's Dagster run.
    log = takeovers_path()
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as fh:
        fh.write(json.dumps(last_takeover) + "\n")
    if stopped:
        print(
            f"recon: {record.get('holder')} (pid {record.get('pid')}) ended without releasing the warehouse; "
            f"stopped {len(stopped)} process(es) it left running: "
            + "; ".join(f"pid {p['pid']} {p['command'][:80]}" for p in stopped),
            file=sys.stderr,
        )
    return last_takeover


def current_holder() -> dict | None:
    """Who holds the warehouse now, from the lock file, without taking the lock.

    A holder writes its name and pid into the file and clears it on release; a process
    killed while holding leaves its record behind, so a record only counts while its pid
    is alive.
    """
    try:
        record = json.loads(lock_path().read_text() or "null")
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not _alive(record.get("pid")):
        return None
    return record


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _command_of(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return " ".join(raw.decode(errors="replace").replace("\0", " ").split())


def explain_file_lock(path: Path, error: str) -> str:
    """Turn DuckDB's "Could not set lock on file" into who holds the file and what to do.

    DuckDB names the conflicting process ("Conflicting lock is held in <exe> (PID n)");
    this adds its command line and, if it is a recon process, what it recorded in the
    warehouse lock file.
    """
    found = re.search(r"\(PID (\d+)\)", error)
    pid = int(found.group(1)) if found else None
    who = f"process {pid}" if pid else "another process"
    command = _command_of(pid) if pid else ""
    if command:
        who += f" (`{command[:200]}`)"
    holder = current_holder()
    if holder and holder.get("pid") == pid:
        who += f", recorded as {holder.get('holder')} since {holder.get('since')}"
    return (
        f"cannot open the working warehouse {path} for writing: {who} has it open. "
        "Only a run may open the working warehouse; readers and BI tools open "
        f"{serving_path()} instead. Close that process"
        + (f" (kill {pid} if it is stuck)" if pid else "")
        + " and run again."
    )
