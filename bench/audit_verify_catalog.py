"""`recon audit verify` on a large exception catalog: what checking the catalog costs.

Why: the catalog is outside the hash chain, so verify recomputes its digest (sha256 over
every row) and compares the current exceptions with the publication. docs/benchmarks.md
("Audit verify at 100,000 exceptions") was measured with this script; run it on an older
commit to compare (the parts that do not exist there are skipped).

    .venv/bin/python bench/audit_verify_catalog.py --home /tmp/avc --rows 100000

It builds, in a scratch RECON_HOME: a store whose catalog holds ROWS synthetic exceptions
(details of about 1 KB, like a real catalog's, through ``refresh_catalog``), 20 actions, and
a publication whose ``fct_reconciliation_exceptions`` holds the same exceptions, anchored
like a run's. Then it times ``refresh_catalog`` (the first, a night with nothing changed, a night
with 1 % changed and 0.5 % gone and new), the digest, ``check_catalog``,
``catalog_disagreements`` and the whole ``recon audit verify`` (a fresh process, 3 times).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

DETAILS = {
    "domain": "billing", "business_due_at": "2026-09-05", "reconciliation": "orders_invoices",
    "record_state": "unmatched", "matched_keys": None,
    "top_candidates": [{"candidate_key": "INV-00012345#1", "match_probability": 0.42, "match_weight": 1.7,
                        "components": {"reference": {"level": "fuzzy", "weight": 2.1},
                                       "amount": {"level": "close", "weight": 0.9}}}],
    "reconciliations": [{"reconciliation": "orders_invoices", "side": "left", "record_state": "unmatched",
                         "matched_keys": None, "top_candidates": None}],
    "legs": {"order_type": "insertion_order", "booked": 6000.0, "billed": 0.0, "credited": 0.0, "delivered": 0.0,
             "fulfilled": 0.0, "expects_delivery": True, "expects_fulfilment": False, "billing_state": "not_billed",
             "delivery_state": "not_delivered", "fulfilment_state": "not_applicable"},
}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="a scratch RECON_HOME (created)")
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    os.environ["RECON_HOME"] = str(args.home)
    os.environ.pop("RECON_AS_OF", None)
    args.home.mkdir(parents=True, exist_ok=True)
    import duckdb

    from orchestration import actions, publish

    rows = [
        {"exception_id": hashlib.md5(str(i).encode()).hexdigest(), "exception_type": "unbilled_order",
         "owner_team": "finance", "severity": "manual_review", "sla_hours": 72, "record_entity": "stg_crm__orders",
         "record_id": f"SO-{i:08d}", "client_name": f"Client {i % 997}", "currency": "USD",
         "amount_at_risk": f"{1000 + i % 5000}.0000", "amount_at_risk_reporting": f"{1000 + i % 5000}.0000",
         "details": DETAILS}
        for i in range(args.rows)
    ]  # fmt: skip
    store = actions.ActionStore(args.home / "actions.sqlite")
    timings: dict[str, float] = {}
    start = time.perf_counter()
    store.refresh_catalog(rows)
    timings["refresh_catalog"] = time.perf_counter() - start
    # The next nights: nothing changed; then 1 % of the exceptions changed (an amount), 0.5 % gone
    # and as many new ones (a night of late files). Each is what the catalog step pays that night.
    start = time.perf_counter()
    store.refresh_catalog(rows)
    timings["refresh_catalog, nothing changed"] = time.perf_counter() - start
    step = 100
    for i in range(0, len(rows), step):
        rows[i] = {**rows[i], "amount_at_risk_reporting": f"{2 + i % 5000}.0000"}
    gone = len(rows) // 200
    rows = rows[gone:] + [
        {**rows[-1], "exception_id": hashlib.md5(f"new {i}".encode()).hexdigest(), "record_id": f"SO-N{i:07d}"}
        for i in range(gone)
    ]
    start = time.perf_counter()
    store.refresh_catalog(rows)
    timings["refresh_catalog, 1 % changed, 0.5 % gone, 0.5 % new"] = time.perf_counter() - start
    for row in rows[:20]:
        store.act("claim", row["exception_id"], "alice")
    warehouse = args.home / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse))
    con.execute("create schema if not exists marts")
    import pyarrow as pa

    columns = ("exception_id", "exception_type", "owner_team", "severity", "record_entity", "record_id",
               "client_name", "currency", "amount_at_risk", "amount_at_risk_reporting")  # fmt: skip
    table = pa.table({c: [r[c] for r in rows] for c in columns} | {"sla_hours": [r["sla_hours"] for r in rows]})
    con.register("exceptions", table)
    con.execute(
        "create or replace table marts.fct_reconciliation_exceptions as select exception_id, exception_type,"
        " owner_team, severity, sla_hours, record_entity, record_id, client_name, currency,"
        " cast(amount_at_risk as decimal(18, 4)) as amount_at_risk,"
        " cast(amount_at_risk_reporting as decimal(18, 4)) as amount_at_risk_reporting from exceptions"
    )
    con.close()
    publish.publish(warehouse, "run-bench", {"audit_anchor": actions.anchor_record(store)})
    (args.home / "last_run.json").write_text(json.dumps({"run_id": "run-bench", "succeeded": True}))
    if hasattr(actions, "catalog_digest"):
        ro = sqlite3.connect(f"file:{store.path}?mode=ro", uri=True)
        start = time.perf_counter()
        actions.catalog_digest(ro)
        timings["catalog_digest"] = time.perf_counter() - start
        ro.close()
    if hasattr(actions, "check_catalog"):
        start = time.perf_counter()
        assert actions.check_catalog(store.path, publish.current()["audit_anchor"], "the publication")[:2] == ([], True)
        timings["check_catalog"] = time.perf_counter() - start
    start = time.perf_counter()
    assert actions.catalog_disagreements(store.path, publish.serving_path()) == []
    timings["catalog_disagreements"] = time.perf_counter() - start
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "orchestration.cli", "audit", "verify"], capture_output=True)
        runs.append(time.perf_counter() - start)
        assert done.returncode == 0, done.stdout.decode()[-2000:]
    timings["recon audit verify (median of 3)"] = statistics.median(runs)
    print(json.dumps({"rows": args.rows, **{k: round(v, 2) for k, v in timings.items()}}, indent=2))


if __name__ == "__main__":
    main()
