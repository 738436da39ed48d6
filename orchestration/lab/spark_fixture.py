"""The dbt project built on Apache Spark (dbt-spark, ``method: session``) from a small fixture.

The raw tables normally come from ``recon ingest`` into DuckDB. Here a tiny home is generated
and ingested as usual, its ``raw`` schema exported to Parquet, and the Parquet files become
tables of Spark's ``raw`` database; then ``dbt build --target spark`` runs in this same process,
so one JVM serves both steps. Everything Spark writes stays under ``RECON_SPARK_DIR``, which is
emptied first: each run starts from an empty metastore and warehouse.

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
    prepared = time.monotonic()
    print(f"fixture: {len(tables)} raw tables exported in {prepared - started:.1f}s", flush=True)

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
    print(f"spark: dbt build {'passed' if ok else 'FAILED'} in {time.monotonic() - prepared:.1f}s", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
