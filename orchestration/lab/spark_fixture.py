"""The dbt project built on Apache Spark (dbt-spark, ``method: session``) from a small fixture.

The raw tables normally come from ``recon ingest`` into DuckDB. Here a tiny home is generated
and ingested as usual, its ``raw`` schema exported to Parquet, and the Parquet files become
tables of Spark's ``raw`` database; then ``dbt build --target spark`` runs in this same process,
so one JVM serves both steps. Everything Spark writes stays under ``RECON_SPARK_DIR``, which is
emptied first: each run starts from an empty metastore and warehouse.

Meanwhile the same home is built on DuckDB (``dbt build`` of its models, seeds and snapshot, in
a process of its own), both builds with one business clock (``RECON_AS_OF``), and then every
table of the two builds is compared row by row (``engine_compare``): the run fails when a table
differs beyond the normalisations listed there. ``--no-compare`` builds on Spark alone.

    python -m orchestration.lab.spark_fixture [--orders 200] [--dir DIR] [-- dbt build options]

Needs the ``spark`` extra (``pip install -e ".[spark]"``) and Java 17. ``make test-spark``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]


def make_home(home: Path, orders: int, seed: int) -> Path:
    """A generated and ingested home; returns its DuckDB warehouse."""
    recon = Path(sys.executable).with_name("recon")
    env = {**os.environ, "RECON_HOME": str(home)}
    env.pop("RECON_DUCKDB_PATH", None)
    for args in (["generate", "--orders", str(orders), "--seed", str(seed)], ["ingest"]):
        subprocess.run([str(recon), *args], env=env, check=True, stdout=subprocess.DEVNULL)
    return home / "warehouse.duckdb"


def export_raw(warehouse: Path, out: Path) -> list[str]:
    """Every table of the ``raw`` schema as ``out/<table>.parquet``.

    JSON columns are written as text, and timestamps as instants in UTC (DuckDB's naive
    timestamps are UTC here), which Spark reads as its ``timestamp`` type.
    """
    import duckdb

    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        con.execute("set TimeZone = 'UTC'")
        columns: dict[str, list[str]] = {}
        for table, column, data_type in con.execute(
            "select table_name, column_name, data_type from duckdb_columns() "
            "where schema_name = 'raw' order by table_name, column_index"
        ).fetchall():
            quoted = '"' + column.replace('"', '""') + '"'
            if data_type == "JSON":
                expression = f"cast({quoted} as varchar) as {quoted}"
            elif data_type == "TIMESTAMP":
                expression = f"cast({quoted} as timestamptz) as {quoted}"
            else:
                expression = quoted
            columns.setdefault(table, []).append(expression)
        for table, expressions in columns.items():
            target = (out / f"{table}.parquet").as_posix().replace("'", "''")
            con.execute(f"copy (select {', '.join(expressions)} from raw.\"{table}\") to '{target}' (format parquet)")
    finally:
        con.close()
    return sorted(columns)


def start_duckdb_build(warehouse: Path, scratch: Path) -> subprocess.Popen:
    """`dbt build` on DuckDB (models, seeds, snapshot: the tables compared) of a copy of the
    ingested warehouse, in its own process so that it runs while Spark builds. The copy, its
    manifest and logs go under `scratch`: a home given with --home is only read."""
    scratch.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(warehouse, scratch / "warehouse.duckdb")
    dbt_exe = Path(sys.executable).with_name("dbt")
    env = {**os.environ, "RECON_HOME": str(scratch), "RECON_DUCKDB_PATH": str(scratch / "warehouse.duckdb")}
    args = ["build", "--target", "duckdb", "--resource-type", "model", "seed", "snapshot", "--quiet"]
    args += ["--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR / "profiles")]
    args += ["--target-path", str(scratch / "target"), "--log-path", str(scratch / "logs")]
    return subprocess.Popen([str(dbt_exe), *args], env=env, cwd=PROJECT_DIR)


def compare(duckdb_scratch: Path, scratch: Path) -> bool:
    """Every table of the DuckDB build against the Spark build's; prints the report."""
    from orchestration.lab import engine_compare

    relations = engine_compare.built_relations(duckdb_scratch / "target" / "manifest.json")
    results = engine_compare.compare_builds(
        duckdb_scratch / "warehouse.duckdb", Path(os.environ["RECON_SPARK_DIR"]) / "warehouse", relations
    )
    (scratch / "compare.txt").write_text(engine_compare.report(results) + "\n")
    print(engine_compare.report(results), flush=True)
    return all(result.equal for result in results)


def dbt(args: list[str], scratch: Path) -> bool:
    """dbt on the spark target. Its manifest and logs go under `scratch`: the project's
    target/ holds the DuckDB parse that `recon run` reads, and a Spark parse written there
    (another adapter, other dependencies) would be read by a run in any home meanwhile."""
    from dbt.cli.main import dbtRunner

    common = [
        "--project-dir",
        str(PROJECT_DIR),
        "--profiles-dir",
        str(PROJECT_DIR / "profiles"),
        "--target",
        "spark",
        "--target-path",
        str(scratch / "target"),
        "--log-path",
        str(scratch / "logs"),
    ]
    result = dbtRunner().invoke([*args, *common])
    return bool(result.success)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=200, help="orders in the generated fixture (default 200)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--dir", help="scratch directory (default $RECON_SPARK_DIR, else .recon/spark-fixture)")
    parser.add_argument("--home", help="use this ingested home instead of generating one")
    parser.add_argument("--no-compare", action="store_true", help="build on Spark only, no DuckDB build to compare")
    parser.add_argument("dbt_args", nargs="*", help="extra options for dbt build (after --)")
    options = parser.parse_args(argv)

    scratch = Path(options.dir or os.environ.get("RECON_SPARK_DIR") or PROJECT_DIR / ".recon" / "spark-fixture")
    scratch = scratch.resolve()
    marker = scratch / ".recon-spark-fixture"
    if scratch.exists() and any(scratch.iterdir()) and not marker.exists():
        parser.error(f"{scratch} is not empty and was not made by this script: not removing it")
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True)
    marker.touch()
    os.environ["RECON_SPARK_DIR"] = str(scratch / "spark")
    os.environ.setdefault("DO_NOT_TRACK", "1")

    started = time.monotonic()
    if options.home:
        warehouse = Path(options.home).resolve() / "warehouse.duckdb"
    else:
        warehouse = make_home(scratch / "home", options.orders, options.seed)
    tables = export_raw(warehouse, scratch / "raw")
    # One business clock for both builds (SLA, ages, freshness): the start of this run unless
    # set. The clock of the ingest is that of the build a real run would make.
    os.environ.setdefault("RECON_AS_OF", datetime.now(UTC).replace(microsecond=0).isoformat())
    duckdb_scratch = scratch / "duckdb"
    duckdb_build = None if options.no_compare else start_duckdb_build(warehouse, duckdb_scratch)
    prepared = time.monotonic()
    print(
        f"fixture: {len(tables)} raw tables exported in {prepared - started:.1f}s; "
        f"RECON_AS_OF={os.environ['RECON_AS_OF']}",
        flush=True,
    )

    ok = dbt(
        [
            "run-operation",
            "recon_spark_fixture_tables",
            "--args",
            repr({"directory": str(scratch / "raw"), "tables": tables}),
        ],
        scratch,
    )
    ok = ok and dbt(["build", *options.dbt_args], scratch)
    built = time.monotonic()
    print(f"spark: dbt build {'passed' if ok else 'FAILED'} in {built - prepared:.1f}s", flush=True)
    if duckdb_build is not None:
        duckdb_ok = duckdb_build.wait() == 0
        print(f"duckdb: dbt build {'passed' if duckdb_ok else 'FAILED'} (waited {time.monotonic() - built:.1f}s)")
        same = duckdb_ok and compare(duckdb_scratch, scratch)
        print(f"compare: {time.monotonic() - built:.1f}s", flush=True)
        ok = ok and same
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
