"""The floor of landing a book: every landing file read into DuckDB by its own readers, nothing checked.

Issue 14 asks for 10M orders end to end in 5 minutes on this machine. Whatever the product
does with a row (the contract's checks, quarantine, staging, matching, exceptions, tests,
publication), it first has to read it. This script measures only that: each entity folder's
CSV, JSON Lines and Parquet files read with DuckDB's own readers (CSV columns as text, JSON
rows that do not fit a guessed type skipped, so no file stops the load) into one table per
entity and format, in one process, on a new database file. It checks
nothing, writes no log, and keeps no history: no product can land the same files faster on
the same machine with DuckDB, so the seconds it prints are a lower bound for ingestion.

    .venv/bin/python bench/load_floor.py /path/to/landing [--threads 2]

Prints each entity's files, rows and seconds, then the whole: wall seconds, CPU seconds of
this process, bytes read, and the machine's load average before and after.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import duckdb

READERS = {
    ".csv": "read_csv(?, all_varchar = true, union_by_name = true, ignore_errors = true, null_padding = true)",
    ".jsonl": "read_json(?, format = 'newline_delimited', union_by_name = true, ignore_errors = true)",
    ".parquet": "read_parquet(?, union_by_name = true)",
}


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def load(landing: Path, threads: int, database: Path) -> list[dict]:
    rows_out: list[dict] = []
    con = duckdb.connect(str(database))
    con.execute("set threads = ?", [threads])
    con.execute("set preserve_insertion_order = false")
    for folder in sorted(p for p in landing.glob("*/*") if p.is_dir()):
        entity = f"{folder.parent.name}__{folder.name}"
        for suffix, reader in READERS.items():
            files = sorted(str(f) for f in folder.rglob(f"*{suffix}"))
            if not files:
                continue
            size = sum(os.path.getsize(f) for f in files)
            table = f"{entity}__{suffix.lstrip('.')}"
            started = time.perf_counter()
            sql = f"create table {table} as select * from {reader}"
            try:
                con.execute(sql, [files])
                (count,) = con.execute(f"select count(*) from {table}").fetchone()
                error = None
            except duckdb.Error as exc:  # a legacy file the product rejects: say so, go on
                count, error = 0, str(exc).splitlines()[0][:120]
            rows_out.append(
                {
                    "table": table,
                    "files": len(files),
                    "bytes": size,
                    "rows": count,
                    "seconds": time.perf_counter() - started,
                    "error": error,
                }
            )
    con.execute("checkpoint")
    con.close()
    return rows_out


# The keyed reconciliation by hand, as one would write it for this data alone: each order's
# latest version, each invoice's, joined on the reference the invoice quotes, the billed total
# against the booking. What the floor of `make bench` does for the keyed stage, here on the
# raw tables the load made (only CSV orders and invoices: dialect A's formats).
KEYED = """
create table keyed as
with orders as (
    select order_id, order_ref, try_cast(amount as decimal(18, 2)) as booked, currency
    from crm__orders__csv
    qualify row_number() over (partition by order_id order by updated_at desc) = 1
),
invoices as (
    select invoice_id, reference, try_cast(net_amount as decimal(18, 2)) as net, currency
    from billing__invoices__csv
    qualify row_number() over (partition by invoice_id order by updated_at desc) = 1
),
billed as (
    select o.order_id, any_value(o.booked) as booked, sum(i.net) as billed, count(i.invoice_id) as invoices
    from orders as o
    left join invoices as i on i.reference = o.order_ref and i.currency = o.currency
    group by o.order_id
)
select
    case
        when invoices = 0 then 'unbilled'
        when billed = booked then 'billed'
        else 'variance'
    end as state,
    count(*) as orders
from billed
group by 1
"""


def keyed(database: Path, threads: int) -> tuple[float, list[tuple]]:
    con = duckdb.connect(str(database))
    con.execute("set threads = ?", [threads])
    started = time.perf_counter()
    con.execute(KEYED)
    seconds = time.perf_counter() - started
    states = con.execute("select * from keyed order by 1").fetchall()
    con.close()
    return seconds, states


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("landing", type=Path)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--scratch", type=Path, default=None, help="where the scratch database goes (default: TMPDIR)")
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="load-floor-", dir=args.scratch) as scratch:
        database = Path(scratch) / "floor.duckdb"
        cpu_before, wall_before = cpu_seconds(), time.perf_counter()
        results = load(args.landing, args.threads, database)
        wall, cpu = time.perf_counter() - wall_before, cpu_seconds() - cpu_before
        cpu_keyed = cpu_seconds()
        keyed_seconds, states = keyed(database, args.threads)
        cpu_keyed = cpu_seconds() - cpu_keyed
    for r in results:
        note = f"  ({r['error']})" if r["error"] else ""
        print(
            f"{r['table']:<45} {r['files']:>4} files {r['bytes'] / 1e6:>9.1f} MB "
            f"{r['rows']:>11,} rows {r['seconds']:>7.1f} s{note}"
        )
    total_rows = sum(r["rows"] for r in results)
    total_bytes = sum(r["bytes"] for r in results)
    print(
        f"whole: {sum(r['files'] for r in results)} files, {total_bytes / 1e9:.2f} GB, {total_rows:,} rows; "
        f"wall {wall:.1f} s, CPU {cpu:.1f} s, threads {args.threads}; "
        f"load average {load_before[0]:.1f} -> {os.getloadavg()[0]:.1f}"
    )
    print(
        f"keyed reconciliation by hand: wall {keyed_seconds:.1f} s, CPU {cpu_keyed:.1f} s; "
        + ", ".join(f"{state} {orders:,}" for state, orders in states)
    )


if __name__ == "__main__":
    main()
