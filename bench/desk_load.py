"""The desk under load: page times with 100,000 open exceptions, and actions per second while runs publish.

    .venv/bin/python bench/desk_load.py                       # 100k exceptions, 4 operators x 60 s of runs
    .venv/bin/python bench/desk_load.py --exceptions 20000 --seconds 20 --home /tmp/dl

1. A demo home (``recon demo``, 2,000 orders), then inflated: the action store's catalog
   gets ``--exceptions`` synthetic open exceptions, all in finance's queue (the worst case
   for one operator's inbox), and the serving copy's ``marts.fct_exception_current`` the
   same number of rows (the dashboard's queries). The serving copy is replaced the way a
   publication does it (a new file, renamed over the old one).
2. The desk served by uvicorn on 127.0.0.1 in this process; an HTTP client logged in as
   alice (finance). Each page is fetched ``--repeat`` times after one cold load: the
   inbox (default, filtered by type, sorted by amount, page 100), an exception, the
   dashboard, and the inbox CSV. Times are wall-clock per request, client side.
3. ``--operators`` clients (finance, media_ops, content_ops, account_management
   operators) claim and release exceptions of their own queue through the desk's forms as
   fast as they can, while ``recon run`` runs back to back in a subprocess for
   ``--seconds``. Reported: actions per second overall and inside the publication windows
   (from the publication's ``.building`` file appearing to ``current.json`` changing),
   action latency p50/p95, refusals (a rule said no) and errors (anything else).

Prints the figures; ``--json FILE`` writes them. Machine: say which when you quote them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "bench desk password 12345"
OPERATORS = ("alice", "carol", "dan", "erin")


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] if values else float("nan")


def inflate(home: Path, n: int) -> None:
    """n synthetic open exceptions: in the action store's catalog and in the serving copy."""
    import duckdb

    from orchestration.actions import ActionStore
    from orchestration.warehouse import open_reader

    store = ActionStore(home / "actions.sqlite")
    with store._connect() as con:
        existing = [dict(r) for r in con.execute("select * from exception_catalog where is_current = 1")]
    rng = random.Random(7)
    types = ["orphan_invoice", "amount_variance", "duplicate_billing", "delivered_not_billed", "unbilled_order"]
    now = datetime.now(UTC)
    synthetic = []
    for i in range(n):
        due = (now - timedelta(days=rng.randint(0, 400))).date().isoformat()
        amount = f"{rng.uniform(10, 50000):.2f}"
        synthetic.append(
            {
                "exception_id": f"{i:08x}" + "f" * 24,
                "exception_type": rng.choice(types),
                "owner_team": "finance",
                "severity": rng.choice(["manual_review", "block_payout", "auto_resolve"]),
                "sla_hours": 72,
                "record_entity": "int_invoice_billing_items",
                "record_id": f"INV-BENCH-{i:07d}#",
                "client_name": f"Bench Client {i % 2000:04d} Ltd",
                "currency": "EUR",
                "amount_at_risk": amount,
                "amount_at_risk_reporting": amount,
                "details": {"business_due_at": due, "domain": "billing", "reconciliations": []},
            }
        )
    for e in existing:
        e["details"] = json.loads(e["details"] or "{}")
    store.refresh_catalog(existing + synthetic)

    serving = home / "publications" / "serving.duckdb"
    work = serving.with_name(".bench.duckdb")
    shutil.copyfile(serving, work)
    work.chmod(0o644)
    con = duckdb.connect(str(work))
    con.execute(
        """
        insert into marts.fct_exception_current by name
        select one.* replace (
            printf('%08x', r.i::bigint) || repeat('f', 24) as exception_id,
            'INV-BENCH-' || lpad(r.i::varchar, 7, '0') || '#' as record_id,
            'finance' as owner_team
        )
        from (select * from marts.fct_exception_current where not is_closed limit 1) as one, range(?) as r(i)
        """,
        [n],
    )
    con.close()
    work.chmod(0o444)
    os.replace(work, serving)
    reader = open_reader(serving)
    print(
        "serving copy: open exceptions",
        reader.execute("select count(*) from marts.fct_exception_current where not is_closed").fetchone()[0],
    )
    reader.close()


def login(client, name: str) -> None:
    form = client.get("/login")
    token = re.search(r'name="login_csrf" value="([^"]*)"', form.text).group(1)
    r = client.post("/login", data={"name": name, "password": PASSWORD, "login_csrf": token}, follow_redirects=False)
    assert r.status_code == 303, r.text[:300]


def page_times(base: str, repeat: int) -> dict:
    import httpx2 as httpx

    out = {}
    with httpx.Client(base_url=base, timeout=120) as client:
        login(client, "alice")
        first = client.get("/")
        eid = re.search(r'name="ids" value="([0-9a-f]+)"', first.text).group(1)
        pages = {
            "inbox": "/",
            "inbox_by_type": "/?type=orphan_invoice",
            "inbox_by_amount": "/?sort=amount",
            "inbox_page_100": "/?page=100",
            "exception": f"/exceptions/{eid}",
            "dashboard": "/dashboard",
            "inbox_csv": "/inbox.csv",
        }
        for name, path in pages.items():
            times = []
            for _ in range(repeat + 1):
                t = time.perf_counter()
                r = client.get(path)
                assert r.status_code == 200, (path, r.status_code)
                times.append(time.perf_counter() - t)
            out[name] = {"cold_s": round(times[0], 3), "p50_s": round(pct(times[1:], 0.5), 3),
                         "p95_s": round(pct(times[1:], 0.95), 3), "bytes": len(r.content)}  # fmt: skip
            print(f"  {name:<16} cold {times[0]:.3f}s  p50 {out[name]['p50_s']:.3f}s  p95 {out[name]['p95_s']:.3f}s")
    return out


def actions_during_runs(home: Path, base: str, operators: int, seconds: float) -> dict:
    import httpx2 as httpx

    from orchestration.actions import ActionStore

    store = ActionStore(home / "actions.sqlite")
    stop = threading.Event()
    records: list[tuple[float, float, str]] = []  # (start, end, outcome)
    lock = threading.Lock()
    pubs = home / "publications"
    windows: list[list[float]] = []

    def watch() -> None:  # publication windows: .building file appears → current.json changes
        current = (pubs / "current.json").stat().st_mtime_ns
        start = None
        while not stop.is_set():
            building = any(pubs.glob(".*.building.duckdb"))
            if building and start is None:
                start = time.time()
            mtime = (pubs / "current.json").stat().st_mtime_ns
            if mtime != current:
                current = mtime
                windows.append([start or time.time(), time.time()])
                start = None
            time.sleep(0.01)

    def operator(name: str) -> None:
        team = store.policy.operators[name].team
        ids = [r["exception_id"] for r in store.list_exceptions(team=team) if r["status"] == "open"][:200]
        rng = random.Random(name)
        with httpx.Client(base_url=base, timeout=120) as client:
            login(client, name)
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/dashboard").text).group(1)
            while not stop.is_set() and ids:
                eid = rng.choice(ids)
                for action in ("claim", "release"):
                    t = time.time()
                    r = client.post(f"/exceptions/{eid}/act", data={"action": action, "csrf_token": csrf},
                                    follow_redirects=False)  # fmt: skip
                    outcome = "ok" if r.status_code == 303 else "refused" if r.status_code in (403, 409) else "error"
                    with lock:
                        records.append((t, time.time(), outcome))

    env = {**os.environ, "RECON_HOME": str(home)}
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    threads = [threading.Thread(target=operator, args=(n,), daemon=True) for n in OPERATORS[:operators]]
    runs = 0
    t0 = time.time()
    for th in threads:
        th.start()
    while time.time() - t0 < seconds:
        done = subprocess.run([str(Path(sys.executable).with_name("recon")), "run", "--quiet"], env=env,
                              cwd=ROOT, capture_output=True, text=True)  # fmt: skip
        runs += 1
        if done.returncode != 0:
            print(done.stdout[-2000:], done.stderr[-2000:])
    stop.set()
    for th in threads:
        th.join(timeout=30)
    t1 = time.time()
    ok = [r for r in records if r[2] == "ok"]
    inside = [r for r in ok if any(a <= r[1] <= b for a, b in windows)]
    window_s = sum(b - a for a, b in windows)
    latency = [r[1] - r[0] for r in ok]
    return {
        "operators": operators,
        "seconds": round(t1 - t0, 1),
        "runs": runs,
        "publications": len(windows),
        "actions_ok": len(ok),
        "refused": sum(1 for r in records if r[2] == "refused"),
        "errors": sum(1 for r in records if r[2] == "error"),
        "actions_per_s": round(len(ok) / (t1 - t0), 1),
        "publication_window_s": round(window_s, 1),
        "actions_per_s_while_publishing": round(len(inside) / window_s, 1) if window_s else None,
        "latency_p50_s": round(pct(latency, 0.5), 3),
        "latency_p95_s": round(pct(latency, 0.95), 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exceptions", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--operators", type=int, default=4, choices=range(1, len(OPERATORS) + 1))
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--home", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    home = (args.home or Path(f"/tmp/desk-load-{os.getpid()}")).resolve()
    os.environ["RECON_HOME"] = str(home)
    os.environ["RECON_DUCKDB_PATH"] = str(home / "warehouse.duckdb")
    os.environ["DAGSTER_HOME"] = str(home / "dagster")
    recon = str(Path(sys.executable).with_name("recon"))
    if not (home / "publications" / "serving.duckdb").exists():
        subprocess.run([recon, "demo"], check=True, cwd=ROOT, capture_output=True)
    for name in OPERATORS:
        subprocess.run([recon, "users", "add", name, "--password-stdin"], input=PASSWORD + "\n", text=True,
                       cwd=ROOT, capture_output=True)  # fmt: skip
    import uvicorn

    from orchestration.desk.web import create_app

    t = time.perf_counter()
    inflate(home, args.exceptions)
    print(f"inflated with {args.exceptions:,} open exceptions in {time.perf_counter() - t:.1f}s")
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    print(f"pages ({args.repeat} warm requests each, after one cold):")
    result = {"exceptions": args.exceptions, "pages": page_times(base, args.repeat)}
    print(f"actions: {args.operators} operators claim/release through the desk while recon run repeats:")
    result["actions"] = actions_during_runs(home, base, args.operators, args.seconds)
    for key, value in result["actions"].items():
        print(f"  {key:<32} {value}")
    server.should_exit = True
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0 if result["actions"]["errors"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
