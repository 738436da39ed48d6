"""Operators under load: N operator processes act on exceptions while `recon run` publishes.

Why: operators act in the action store (SQLite, WAL) while every run copies the log into
the warehouse (``copy_to_warehouse``) and publishes the current exceptions back into the
store (``ActionStore.refresh_catalog``). Issue 10 asks for 10 operators at 5 actions/s each for 5
minutes with runs publishing meanwhile: zero lost or duplicated actions, and the p95
latency of an action. This script is how docs/benchmarks.md ("Operators under load") was
measured; tests/python/test_operator_load.py runs it for a few seconds.

    .venv/bin/python bench/operator_load.py                                   # 10 x 5/s x 300 s
    .venv/bin/python bench/operator_load.py --operators 4 --seconds 20 --home /tmp/lh
    .venv/bin/python bench/operator_load.py --no-runs --json /tmp/load.json   # the store alone

What it does:

1. A demo home (``recon demo``) in a scratch directory, or ``--home`` (a home that already
   has a warehouse and an action store is used as it is).
2. N worker *processes* (spawned, as separate CLI users are), each acting as one operator
   of config/operators.yml at R attempts/s for D seconds. Every attempt builds an
   ``ActionStore()`` and calls ``act`` — what ``recon exceptions <action>`` does, minus the
   interpreter start. An operator works only on exceptions ``_may_work_on`` allows: claim an
   open one (sometimes one another operator holds: contention), then comment, adjust (small
   amounts, under the approval threshold, with an adjust reason code), release (handover)
   or — rarely, so the exceptions last the whole run — resolve with a resolve reason code.
   Refusals the rules must give under contention (Conflict: someone else holds the claim;
   the exception was closed meanwhile) are counted as refusals, not failures.
3. Meanwhile ``recon run`` back to back in a subprocess for the whole duration.
4. Each worker writes every attempt to ``worker-NN.jsonl``: the intended action, start and
   end time, outcome (ok / refused with class and reason / error with message) and, when
   ok, the entry (seq, action_id, entry_hash).
5. One last ``recon run`` (so every action reaches ``raw.operator_actions``), then checks:
   every ok action is in the store exactly once with the reported seq and hash, and in the
   warehouse exactly once (read-only connection, after the runs stopped); no entry in the
   store that no worker reported (except the pipeline's); ``ActionStore.verify()`` finds no
   problem; seqs are 1..n without gaps or duplicates, and the warehouse holds the same seqs.

Prints the figures (and writes them as JSON with ``--json``); exits 1 when an action was
lost or duplicated, an entry is unreported, the chain has a problem, a run failed or an
attempt ended in an unexpected error.

Operators: the roster's people who may work on at least one current exception (with the
demo data: alice, bob, carol, dan, erin and olga; paul's team, operations, only takes
exceptions escalated after an SLA breach, and the demo has none). More workers than that
are second sessions of the same people — olga first (an ops lead may work on every team),
then the teams with the most exceptions — as one person with two terminals open. Two
sessions of one person never act on each other's claims: each works only on the claims it
took itself (a claim on one the other session holds is refused: "you already hold the claim").
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from orchestration import settings  # noqa: E402

RECON = Path(sys.executable).with_name("recon")
START_DELAY_SECONDS = 3.0  # workers are spawned processes: let every one import before the clock starts
REFRESH_SECONDS = 3.0  # how often a worker re-reads the exceptions it may work on
MAX_HELD = 3  # claims one worker holds at a time
# What a worker does with a claim it holds (the rest of the time it claims another):
# resolve is rare so that the demo's few hundred exceptions last a 5-minute run.
HELD_MIX = (("comment", 0.45), ("adjust", 0.28), ("release", 0.25), ("resolve", 0.02))
ADJUST_REASONS = ("fx_difference", "rounding", "pricing_error")
RESOLVE_REASONS = ("matched_manually", "credit_issued", "client_agreed_variance", "not_an_error", "billed_late")
COMMENTS = (
    "checking the invoice in billing",
    "asked the account manager",
    "client confirmed the PO number",
    "waiting for the credit note",
    "FX rate of the invoice date differs",
)
# Refusals the rules give under contention: counted, never failures.
# "awaits_approval": small adjustments of one exception add up past the approval threshold
# (maker-checker counts them together), and resolving waits for the checker.
EXPECTED_REFUSALS = ("conflict", "closed", "not_found", "not_claimed", "not_permitted", "awaits_approval")


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        RECON_HOME=str(home), RECON_DUCKDB_PATH=str(home / "warehouse.duckdb"), DAGSTER_HOME=str(home / "dagster")
    )
    env.pop("RECON_ACTIONS_PATH", None)
    env.pop("RECON_AS_OF", None)
    return env


# --------------------------------------------------------------------------- worker


def classify(exc: BaseException) -> tuple[str, str]:
    """(outcome, reason) of a failed act(): ('refused', expected reason) or ('error', what)."""
    from orchestration.actions import ActionError, Conflict, NotFound

    text = str(exc)
    if isinstance(exc, Conflict):
        return "refused", "conflict"
    if isinstance(exc, NotFound):
        return "refused", "not_found"
    if isinstance(exc, ActionError):
        if " is resolved (" in text or "closed by later data" in text:
            return "refused", "closed"
        if "needs a claim" in text:
            return "refused", "not_claimed"
        if " may not " in text:
            return "refused", "not_permitted"
        if "awaits approval" in text:
            return "refused", "awaits_approval"
        return "error", "unexpected_refusal"
    return "error", type(exc).__name__


def _may_work_on(store, op, row: dict) -> bool:
    state = SimpleNamespace(owner_team=row["owner_team"], escalated_to=row["escalated_to"])
    return store._may_work_on(op, state)


def worker_main(index: int, operator: str, home: str, rate: float, seconds: float, start_at: float, out: str) -> None:
    """One operator session: attempts at ``rate``/s from ``start_at`` for ``seconds``, logged to ``out``."""
    for key, value in _env(Path(home)).items():
        os.environ[key] = value
    from orchestration.actions import ActionStore

    path = Path(home) / "actions.sqlite"
    rng = random.Random(1000 + index)
    held: list[str] = []
    candidates: list[dict] = []
    refreshed = 0.0
    list_errors = 0
    time.sleep(max(0.0, start_at - time.time()))
    end_at = start_at + seconds
    with open(out, "w", buffering=1) as log:
        i = 0
        while True:
            scheduled = start_at + i / rate
            if scheduled >= end_at:
                break
            time.sleep(max(0.0, scheduled - time.time()))
            if time.time() - refreshed > REFRESH_SECONDS or not candidates:
                try:
                    store = ActionStore(path)
                    op = store.policy.operator(operator)
                    candidates = [
                        {"exception_id": r["exception_id"], "status": r["status"], "claimed_by": r["claimed_by"]}
                        for r in store.list_exceptions()
                        if _may_work_on(store, op, r)
                    ]
                except Exception as exc:  # noqa: BLE001 - counted and reported, the session goes on
                    list_errors += 1
                    log.write(json.dumps({"worker": index, "operator": operator, "list_error": repr(exc)}) + "\n")
                refreshed = time.time()
            attempt = choose(rng, operator, held, candidates)
            if attempt is None:  # nothing this operator may work on
                i += 1
                continue
            action, eid, kw = attempt
            record = {
                "worker": index,
                "operator": operator,
                "i": i,
                "action": action,
                "exception_id": eid,
                "kw": kw,
                "scheduled": round(scheduled, 6),
            }
            record["start"] = time.time()
            t0 = time.perf_counter()
            try:
                entry = ActionStore(path).act(action, eid, operator, **kw)  # what the CLI does
            except BaseException as exc:  # noqa: BLE001 - every outcome is recorded
                latency = time.perf_counter() - t0
                outcome, reason = classify(exc)
                record.update(outcome=outcome, reason=reason, error_class=type(exc).__name__, message=str(exc)[:500])
                if eid in held:  # our claim is gone (closed, or never ours after an error)
                    held.remove(eid)
                if isinstance(exc, KeyboardInterrupt):
                    raise
            else:
                latency = time.perf_counter() - t0
                record.update(
                    outcome="ok", seq=entry["seq"], action_id=entry["action_id"], entry_hash=entry["entry_hash"]
                )
                if action == "claim":
                    held.append(eid)
                elif action in ("release", "resolve") and eid in held:
                    held.remove(eid)
            record["end"] = time.time()
            record["latency_ms"] = round(latency * 1000, 3)
            log.write(json.dumps(record) + "\n")
            i += 1
        log.write(json.dumps({"worker": index, "operator": operator, "done": True, "list_errors": list_errors}) + "\n")


def choose(rng: random.Random, operator: str, held: list[str], candidates: list[dict]) -> tuple | None:
    """The next realistic action: work on a held claim, or claim another exception."""
    if held and (len(held) >= MAX_HELD or rng.random() < 0.75):
        eid = rng.choice(held)
        roll, action = rng.random(), HELD_MIX[-1][0]
        for name, weight in HELD_MIX:
            if roll < weight:
                action = name
                break
            roll -= weight
        if action == "comment":
            return "comment", eid, {"comment": rng.choice(COMMENTS)}
        if action == "adjust":
            cents = rng.choice([-1, 1]) * rng.randint(1, 40_000)  # up to 400.00: under the 500.00 threshold
            return "adjust", eid, {"amount": str(Decimal(cents) / 100), "reason": rng.choice(ADJUST_REASONS)}
        if action == "release":
            return "release", eid, {"reason": "handover"}
        return "resolve", eid, {"reason": rng.choice(RESOLVE_REASONS)}
    open_ones = [c for c in candidates if c["status"] == "open" and c["exception_id"] not in held]
    others = [c for c in candidates if c["status"] == "claimed" and c["claimed_by"] != operator]
    # Mostly an open one (the list is up to REFRESH_SECONDS old, so some are taken by now);
    # sometimes one another operator holds: the rules must refuse it.
    pool = others if others and (rng.random() < 0.15 or not open_ones) else open_ones
    if not pool:
        return None
    return "claim", rng.choice(pool)["exception_id"], {}


# --------------------------------------------------------------------------- runs


@dataclass
class RunLog:
    runs: list[dict]
    stop: threading.Event


def run_once(home: Path, label: str) -> dict:
    started = time.time()
    proc = subprocess.run(
        [str(RECON), "run", "--quiet"], env=_env(home), capture_output=True, text=True, cwd=settings.PROJECT_DIR
    )
    return {
        "label": label,
        "start": started,
        "end": time.time(),
        "rc": proc.returncode,
        "tail": (proc.stdout + proc.stderr).strip().splitlines()[-15:] if proc.returncode else [],
    }


def run_loop(home: Path, start_at: float, end_at: float, log: RunLog) -> None:
    """``recon run`` back to back from ``start_at`` until ``end_at`` (a run under way finishes)."""
    time.sleep(max(0.0, start_at - time.time()))
    n = 0
    while time.time() < end_at and not log.stop.is_set():
        n += 1
        log.runs.append(run_once(home, f"load-{n}"))


# --------------------------------------------------------------------------- setup


def setup_home(home: Path | None, orders: int) -> tuple[Path, bool]:
    """A home with a built warehouse and a published catalog: ``--home`` as it is, or a new demo."""
    if home is not None and (home / "actions.sqlite").exists() and (home / "warehouse.duckdb").exists():
        return home.resolve(), False
    created = home is None
    home = (home or Path(tempfile.mkdtemp(prefix="recon-load-"))).resolve()
    home.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    proc = subprocess.run(
        [str(RECON), "demo", "--orders", str(orders)],
        env=_env(home),
        capture_output=True,
        text=True,
        cwd=settings.PROJECT_DIR,
    )
    if proc.returncode:
        raise SystemExit(f"recon demo failed in {home}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    print(f"demo home {home}: built in {time.monotonic() - started:.0f}s", flush=True)
    return home, created


def plan_operators(home: Path, n: int) -> tuple[list[str], Counter]:
    """N operator names: each roster operator who may work on a current exception, then second sessions."""
    os.environ.update(_env(home))
    from orchestration.actions import ActionStore

    store = ActionStore(home / "actions.sqlite")
    rows = store.list_exceptions()
    workable: Counter[str] = Counter()
    for name, op in store.policy.operators.items():
        if "operator" not in op.roles:
            continue
        for r in rows:
            if r["status"] in ("open", "claimed") and _may_work_on(store, op, r):
                workable[name] += 1
    if not workable:
        raise SystemExit("no operator of config/operators.yml may work on any current exception")
    # Ops leads first (they may work on every team), then by how much there is to do.
    ranked = sorted(workable, key=lambda name: ("ops_lead" not in store.policy.operators[name].roles, -workable[name]))
    return [ranked[i % len(ranked)] for i in range(n)], Counter(r["status"] for r in rows)


# --------------------------------------------------------------------------- verify


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def verify(home: Path, records: list[dict], baseline_seq: int) -> dict:
    """Lost, duplicated and unreported actions; chain and seq problems; store vs warehouse."""
    from orchestration.actions import ActionStore, read_log, verify_chain
    from orchestration.warehouse import open_reader

    path = home / "actions.sqlite"
    entries = read_log(path) or []
    chain_problems = verify_chain(entries) + ActionStore(path).verify()
    seqs = [e["seq"] for e in entries]
    seq_dupes = [s for s, c in Counter(seqs).items() if c > 1]
    seq_gaps = sorted(set(range(1, max(seqs, default=0) + 1)) - set(seqs))
    by_seq = {e["seq"]: e for e in entries}
    store_ids = Counter(e["action_id"] for e in entries)

    con = open_reader(home / "warehouse.duckdb")
    try:
        warehouse = con.execute("select seq, action_id, entry_hash from raw.operator_actions order by seq").fetchall()
    finally:
        con.close()
    wh_ids = Counter(r[1] for r in warehouse)
    wh_by_id = {r[1]: (r[0], r[2]) for r in warehouse}
    wh_seqs = Counter(r[0] for r in warehouse)

    ok = [r for r in records if r.get("outcome") == "ok"]
    reported = Counter(r["action_id"] for r in ok)
    lost_store, lost_warehouse, mismatched = [], [], []
    for r in ok:
        entry = by_seq.get(r["seq"])
        if store_ids[r["action_id"]] == 0:
            lost_store.append(r["action_id"])
        elif entry is None or entry["action_id"] != r["action_id"] or entry["entry_hash"] != r["entry_hash"]:
            mismatched.append(r["action_id"])
        if r["action_id"] not in wh_by_id:
            lost_warehouse.append(r["action_id"])
        elif wh_by_id[r["action_id"]] != (r["seq"], r["entry_hash"]):
            mismatched.append(r["action_id"])
    duplicated = sorted(
        {a for a, c in reported.items() if c > 1}
        | {a for a, c in store_ids.items() if c > 1}
        | {a for a, c in wh_ids.items() if c > 1}
    )
    unreported = [
        e["seq"]
        for e in entries
        if e["seq"] > baseline_seq and e["actor"] != "pipeline" and e["action_id"] not in reported
    ]
    pipeline_entries = [e for e in entries if e["seq"] > baseline_seq and e["actor"] == "pipeline"]
    return {
        "store_entries": len(entries),
        "store_entries_during_load": len([e for e in entries if e["seq"] > baseline_seq]),
        "pipeline_entries_during_load": len(pipeline_entries),
        "warehouse_entries": len(warehouse),
        "lost_in_store": len(lost_store),
        "lost_in_warehouse": len(lost_warehouse),
        "mismatched": len(set(mismatched)),
        "duplicated": len(duplicated),
        "unreported": len(unreported),
        "unreported_seqs": unreported[:20],
        "chain_problems": chain_problems[:20],
        "seq_gaps": seq_gaps[:20],
        "seq_duplicates": seq_dupes[:20],
        "warehouse_seq_duplicates": [s for s, c in wh_seqs.items() if c > 1][:20],
        "warehouse_vs_store": sorted(set(wh_seqs) ^ set(seqs))[:20],
    }


def summarise(records: list[dict], runs: list[dict], operators: int, rate: float, seconds: float) -> dict:
    attempts = [r for r in records if "outcome" in r]
    done = [r for r in attempts if r["outcome"] in ("ok", "refused")]
    errors = [r for r in attempts if r["outcome"] == "error"]
    lat = [r["latency_ms"] for r in done]
    lat_ok = [r["latency_ms"] for r in attempts if r["outcome"] == "ok"]
    windows = [(run["start"], run["end"]) for run in runs]

    def in_run(r: dict) -> bool:
        return any(s <= r["start"] <= e or s <= r["end"] <= e for s, e in windows)

    during = [r["latency_ms"] for r in done if in_run(r)]
    outside = [r["latency_ms"] for r in done if not in_run(r)]
    span = (max(r["end"] for r in attempts) - min(r["start"] for r in attempts)) if attempts else 0.0
    lateness = [max(0.0, r["start"] - r["scheduled"]) * 1000 for r in attempts]

    def pct(values: list[float]) -> dict:
        return {f"p{q}": percentile(values, q) for q in (50, 95, 99)} | {"max": max(values, default=None)}

    return {
        "target_per_s": operators * rate,
        "attempts": len(attempts),
        "achieved_per_s": round(len(attempts) / span, 2) if span else 0.0,
        "ok": sum(r["outcome"] == "ok" for r in attempts),
        "ok_per_s": round(sum(r["outcome"] == "ok" for r in attempts) / span, 2) if span else 0.0,
        "refused": dict(Counter(r["reason"] for r in attempts if r["outcome"] == "refused")),
        "errors": len(errors),
        "error_kinds": dict(Counter(f"{r['reason']}: {r['message'][:120]}" for r in errors).most_common(10)),
        "by_action": dict(Counter(f"{r['action']} {r['outcome']}" for r in attempts)),
        "latency_ms": pct(lat),
        "latency_ok_ms": pct(lat_ok),
        "latency_during_runs_ms": pct(during) | {"n": len(during)},
        "latency_outside_runs_ms": pct(outside) | {"n": len(outside)},
        "start_lateness_ms": pct(lateness),
        "span_s": round(span, 1),
        "list_errors": sum(r.get("list_errors", 0) for r in records if r.get("done")),
        "workers_done": sum(1 for r in records if r.get("done")),
    }


def cpu_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot (all cores, /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """CPU seconds of this process and its waited-for children (workers, recon runs)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def machine() -> dict:
    mem = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if "MemTotal" in line), 0)
    import duckdb

    return {
        "cpus": os.cpu_count(),
        "mem_gib": round(int(mem) / 1024 / 1024, 1),
        "python": platform.python_version(),
        "sqlite": __import__("sqlite3").sqlite_version,
        "duckdb": duckdb.__version__,
        "platform": platform.platform(),
    }


# --------------------------------------------------------------------------- main


def run_load(
    home: Path | None = None,
    operators: int = 10,
    rate: float = 5.0,
    seconds: float = 300.0,
    runs: bool = True,
    orders: int = 2000,
    out_dir: Path | None = None,
) -> dict:
    """The whole harness; returns the report (``report['failed']`` lists what went wrong)."""
    home, _ = setup_home(home, orders)
    names, at_start = plan_operators(home, operators)
    from orchestration.actions import ActionStore

    baseline_seq, _ = ActionStore(home / "actions.sqlite").head()
    out_dir = (out_dir or home / f"load-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}").resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"{operators} operators ({', '.join(names)}) x {rate}/s x {seconds:g}s; logs in {out_dir}", flush=True)

    ctx = multiprocessing.get_context("spawn")
    cpu_before = (cpu_busy_seconds(), own_cpu_seconds(), time.monotonic())
    start_at = time.time() + START_DELAY_SECONDS
    procs = [
        ctx.Process(
            target=worker_main,
            args=(i, name, str(home), rate, seconds, start_at, str(out_dir / f"worker-{i:02d}.jsonl")),
            name=f"operator-{i:02d}-{name}",
        )
        for i, name in enumerate(names)
    ]
    for p in procs:
        p.start()
    runlog = RunLog([], threading.Event())
    thread = threading.Thread(target=run_loop, args=(home, start_at, start_at + seconds, runlog), daemon=True)
    if runs:
        thread.start()
    for p in procs:
        p.join()
    if runs:
        thread.join()
    # Other work on the machine meanwhile (other users of the same cores): what it costs us.
    machine_cpu, own_cpu = cpu_busy_seconds() - cpu_before[0], own_cpu_seconds() - cpu_before[1]
    cpu = {
        "wall_s": round(time.monotonic() - cpu_before[2], 1),
        "machine_busy_cpu_s": round(machine_cpu, 1),
        "harness_cpu_s": round(own_cpu, 1),
        "other_procs_cpu_s": round(max(0.0, machine_cpu - own_cpu), 1),
    }
    final = run_once(home, "final")
    records = []
    for path in sorted(out_dir.glob("worker-*.jsonl")):
        records.extend(json.loads(line) for line in path.read_text().splitlines() if line.strip())
    with open(out_dir / "runs.jsonl", "w") as fh:
        for run in [*runlog.runs, final]:
            fh.write(json.dumps(run) + "\n")

    report = {
        "command": {"operators": operators, "rate": rate, "seconds": seconds, "runs": runs, "home": str(home)},
        "operators": names,
        "exceptions_at_start": dict(at_start),
        "summary": summarise(records, runlog.runs, operators, rate, seconds),
        "runs": {
            "started": len(runlog.runs),
            "succeeded": sum(r["rc"] == 0 for r in runlog.runs),
            "seconds": [round(r["end"] - r["start"], 1) for r in runlog.runs],
            "failed_tails": [r["tail"] for r in runlog.runs if r["rc"]][:3],
            "final_rc": final["rc"],
            "final_tail": final["tail"],
        },
        "worker_exit_codes": [p.exitcode for p in procs],
        "verify": verify(home, records, baseline_seq),
        "machine": machine(),
        "cpu": cpu,
        "logs": str(out_dir),
    }
    v, s = report["verify"], report["summary"]
    failed = []
    for key in ("lost_in_store", "lost_in_warehouse", "mismatched", "duplicated", "unreported"):
        if v[key]:
            failed.append(f"{v[key]} {key.replace('_', ' ')}")
    for key in ("chain_problems", "seq_gaps", "seq_duplicates", "warehouse_seq_duplicates", "warehouse_vs_store"):
        if v[key]:
            failed.append(f"{key.replace('_', ' ')}: {v[key][:5]}")
    if s["errors"]:
        failed.append(f"{s['errors']} unexpected errors: {s['error_kinds']}")
    if s["list_errors"]:
        failed.append(f"{s['list_errors']} errors listing exceptions")
    if any(code != 0 for code in report["worker_exit_codes"]) or s["workers_done"] != operators:
        failed.append(f"worker processes ended badly: exit codes {report['worker_exit_codes']}")
    if report["runs"]["started"] != report["runs"]["succeeded"]:
        failed.append(f"{report['runs']['started'] - report['runs']['succeeded']} runs failed during the load")
    if final["rc"]:
        failed.append("the final run failed")
    report["failed"] = failed
    (out_dir / "report.json").write_text(json.dumps(report, indent=2, default=str))
    return report


def render(report: dict) -> str:
    s, v, r, m = report["summary"], report["verify"], report["runs"], report["machine"]
    c = report["command"]

    def ms(d: dict) -> str:
        return " / ".join("–" if d.get(k) is None else f"{d[k]:.1f}" for k in ("p50", "p95", "p99", "max"))

    lines = [
        f"operators under load: {c['operators']} x {c['rate']}/s x {c['seconds']:g}s, "
        f"runs {'on' if c['runs'] else 'off'}, home {c['home']}",
        f"  workers            {', '.join(report['operators'])}",
        f"  attempts           {s['attempts']} in {s['span_s']}s = {s['achieved_per_s']}/s "
        f"(target {s['target_per_s']}/s)",
        f"  ok                 {s['ok']} ({s['ok_per_s']}/s)",
        f"  refused            {sum(s['refused'].values())} {s['refused']}",
        f"  errors             {s['errors']} {s['error_kinds'] or ''}",
        f"  by action          {s['by_action']}",
        f"  latency ms         p50 / p95 / p99 / max = {ms(s['latency_ms'])} (ok + refused)",
        f"    ok only          {ms(s['latency_ok_ms'])}",
        f"    during a run     {ms(s['latency_during_runs_ms'])} ({s['latency_during_runs_ms']['n']} attempts)",
        f"    outside runs     {ms(s['latency_outside_runs_ms'])} ({s['latency_outside_runs_ms']['n']} attempts)",
        f"  start lateness ms  {ms(s['start_lateness_ms'])}",
        f"  runs               {r['started']} started, {r['succeeded']} succeeded during the load "
        f"(s: {r['seconds']}); final run rc {r['final_rc']}",
        f"  store              {v['store_entries']} entries ({v['store_entries_during_load']} during the load, "
        f"{v['pipeline_entries_during_load']} by the pipeline); warehouse {v['warehouse_entries']}",
        f"  lost               store {v['lost_in_store']}, warehouse {v['lost_in_warehouse']}; "
        f"duplicated {v['duplicated']}; unreported {v['unreported']}; mismatched {v['mismatched']}",
        f"  chain              problems {len(v['chain_problems'])}, seq gaps {len(v['seq_gaps'])}, "
        f"seq duplicates {len(v['seq_duplicates'])}, warehouse vs store {len(v['warehouse_vs_store'])}",
        f"  machine            {m['cpus']} cores, {m['mem_gib']} GiB, Python {m['python']}, SQLite {m['sqlite']}, "
        f"DuckDB {m['duckdb']}",
        f"  cpu during load    {report['cpu']['harness_cpu_s']} s by the harness (workers, runs), "
        f"{report['cpu']['other_procs_cpu_s']} s by other processes, in {report['cpu']['wall_s']} s wall "
        f"on {m['cpus']} cores",
        f"  logs               {report['logs']}",
        "  RESULT             " + ("FAILED: " + "; ".join(report["failed"]) if report["failed"] else "ok"),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--operators", type=int, default=10, help="operator worker processes (default 10)")
    parser.add_argument("--rate", type=float, default=5.0, help="attempts per second per operator (default 5)")
    parser.add_argument("--seconds", type=float, default=300.0, help="duration (default 300)")
    parser.add_argument("--home", type=Path, help="RECON_HOME to use (a demo is built there if it has none)")
    parser.add_argument("--orders", type=int, default=2000, help="orders of the demo built when there is no home")
    parser.add_argument("--no-runs", action="store_true", help="no `recon run` in the background (one at the end)")
    parser.add_argument("--json", type=Path, help="also write the report here")
    parser.add_argument("--keep", action="store_true", help="keep the scratch demo home")
    args = parser.parse_args(argv)
    created_home = args.home is None
    report = run_load(args.home, args.operators, args.rate, args.seconds, not args.no_runs, args.orders)
    print(render(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    if created_home and not args.keep and not report["failed"]:
        shutil.rmtree(report["command"]["home"], ignore_errors=True)
    return 1 if report["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
