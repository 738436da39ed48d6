"""Where a small run's time goes: the whole job through Dagster, phase by phase.

Why: at a few hundred orders a run is mostly fixed cost (process start, Dagster's event
records, dbt's parse of the project, GX), and `make test` runs the job about a hundred
times, so this cost decides whether CI fits its 30 minutes. docs/benchmarks.md ("What a
small run spends") was measured with it.

    .venv/bin/python bench/run_overhead.py --orders 300 --runs 3

Generates ``--orders`` (the default dialect, seed 11) into a scratch RECON_HOME, runs
``recon run`` (the first build: dbt parses the whole project), then ``recon run
--full-refresh`` ``--runs - 1`` times (each builds everything again, starting from the
parse the home kept). For every run it prints the process's wall time, the Dagster events
the run stored, each step's time from the run's event records, and dbt's own phases from
its JSON log: start to "Found N models" (parse) and from there to the end (execution).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from orchestration import settings  # noqa: E402

RECON = Path(sys.executable).with_name("recon")


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def run_phases(home: Path, run_id: str) -> dict[str, float | int]:
    """Event count and step seconds from the run's own event database (Dagster's layout)."""
    con = sqlite3.connect(f"file:{home / 'dagster' / 'history' / 'runs' / f'{run_id}.db'}?mode=ro", uri=True)
    try:
        (events,) = con.execute("select count(*) from event_logs").fetchone()
        rows = con.execute(
            "select step_key, dagster_event_type, timestamp from event_logs "
            "where dagster_event_type in ('STEP_START', 'STEP_SUCCESS', 'STEP_FAILURE') order by id"
        ).fetchall()
        first, last = con.execute("select min(timestamp), max(timestamp) from event_logs").fetchone()
    finally:
        con.close()
    started: dict[str, datetime] = {}
    out: dict[str, float | int] = {"events": events}
    for step, kind, stamp in rows:
        at = datetime.fromisoformat(stamp)
        if kind == "STEP_START":
            started[step] = at
        elif step in started:
            out[step] = (at - started[step]).total_seconds()
    out["first_to_last_event"] = (datetime.fromisoformat(last) - datetime.fromisoformat(first)).total_seconds()
    return out


def dbt_phases(run_id: str) -> dict[str, float]:
    """dbt's parse and execution seconds, from the JSON log in the run's target directory."""
    targets = sorted((settings.PROJECT_DIR / "target").glob(f"recon_dbt_assets-{run_id[:7]}-*/dbt.log"))
    if not targets:
        return {}
    # dbt rotates its log at 10 MB: dbt.log.1 holds the start of a build, dbt.log its end.
    rotated = sorted(targets[-1].parent.glob("dbt.log.*"), key=lambda p: -int(p.suffix[1:]))
    lines = [line for log in [*rotated, targets[-1]] for line in log.read_text().splitlines()]
    stamps: dict[str, float] = {}
    full_parse = False
    for line in lines:
        info = json.loads(line)["info"]
        if info["name"] in ("MainReportVersion", "FoundStats", "CommandCompleted"):
            stamps.setdefault(info["name"], _ts(info["ts"]))
        full_parse |= info["name"] == "UnableToPartialParse"
    out = {"dbt_full_parse": float(full_parse)}
    if {"MainReportVersion", "FoundStats"} <= stamps.keys():
        out["dbt_parse"] = stamps["FoundStats"] - stamps["MainReportVersion"]
    if {"FoundStats", "CommandCompleted"} <= stamps.keys():
        out["dbt_execute"] = stamps["CommandCompleted"] - stamps["FoundStats"]
    return out


def latest_run_id(home: Path) -> str:
    con = sqlite3.connect(f"file:{home / 'dagster' / 'history' / 'runs.db'}?mode=ro", uri=True)
    try:
        return con.execute("select run_id from runs order by id desc limit 1").fetchone()[0]
    finally:
        con.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3, help="the first run, then full refreshes")
    parser.add_argument("--home", type=Path, help="scratch home (default: a temporary directory)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if not 1 <= args.orders <= 100_000 or not 1 <= args.runs <= 20:
        parser.error("--orders must be 1..100000 and --runs 1..20")
    home = args.home or Path(tempfile.mkdtemp(prefix="recon-run-overhead-"))
    if home.exists() and any(home.iterdir()):
        parser.error(f"{home} is not empty: give an empty or new directory")
    env = {**os.environ, "RECON_HOME": str(home)}
    env.pop("RECON_DUCKDB_PATH", None)
    env.pop("DAGSTER_HOME", None)
    subprocess.run([str(RECON), "generate", "--seed", "11", "--orders", str(args.orders)], env=env, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    print(f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}, {args.orders} orders")
    results = []
    for n in range(args.runs):
        command = [str(RECON), "run", "--quiet"] + (["--full-refresh"] if n else [])
        started = time.monotonic()
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall = time.monotonic() - started
        run_id = latest_run_id(home)
        row = {"run": n + 1, "wall": wall, **run_phases(home, run_id), **dbt_phases(run_id)}
        results.append(row)
        parse = "full" if row.get("dbt_full_parse") else "reused"
        print(
            f"run {n + 1} ({'first' if not n else 'full refresh'}, {parse} parse): wall {wall:.1f} s, "
            f"{row['events']} events; ingest {row.get('ingest_landing', 0):.1f} s, raw gates "
            f"{row.get('raw_quality_gates', 0):.1f} s, dbt step {row.get('recon_dbt_assets', 0):.1f} s "
            f"(dbt parse {row.get('dbt_parse', 0):.1f} s, execute {row.get('dbt_execute', 0):.1f} s), "
            f"publication {row.get('publication__serving_copy', 0):.1f} s; outside the event records "
            f"{wall - row['first_to_last_event']:.1f} s"
        )
    if args.json:
        args.json.write_text(json.dumps({"orders": args.orders, "runs": results}, indent=2))
    if not args.home:
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
