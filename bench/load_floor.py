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


def load(landing: Path, threads: int) -> list[dict]:
    rows_out: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="load-floor-") as scratch:
        con = duckdb.connect(str(Path(scratch) / "floor.duckdb"))
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("landing", type=Path)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    load_before = os.getloadavg()
    cpu_before, wall_before = cpu_seconds(), time.perf_counter()
    results = load(args.landing, args.threads)
    wall, cpu = time.perf_counter() - wall_before, cpu_seconds() - cpu_before
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


if __name__ == "__main__":
    main()
