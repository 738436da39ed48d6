"""Spark's tables against DuckDB's, row by row, for the same fixture.

The project says the same models give the same rows on both engines. ``spark_fixture``
builds one generated fixture on each and calls ``compare_builds``: every model, seed and
snapshot table that dbt built is read from both (DuckDB's file, and the Parquet files under
Spark's warehouse directory, read by DuckDB), and the two are compared as multisets of rows.

Values are normalised only where the engines legitimately store the same value differently
(``NORMALISATIONS``, each with its reason); columns that hold a run id or a build time
(``EXCLUDED_COLUMNS``) are left out. Anything else that differs is a difference.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

# Columns whose value is the run or the moment of the build, not the data: they differ
# between any two builds, on one engine or two.
EXCLUDED_COLUMNS = frozenset(
    {
        "dbt_invocation_id",  # dbt's id of the invocation
        "dagster_run_id",  # RECON_RUN_ID, the Dagster run (empty outside Dagster)
        "dbt_valid_from",  # snapshot: the build's clock (strategy check)
        "dbt_valid_to",
        "dbt_updated_at",
        "dbt_scd_id",  # snapshot: a hash of the key and dbt_updated_at
    }
)

# What is normalised, and why that is not hiding a difference. Printed in the report.
NORMALISATIONS = (
    "doubles: to ten significant digits; the engines' log2, pow and sums differ in the last "
    "bits (weights and probabilities differ by 1e-16), and a decision they change shows in "
    "the level, decision and state columns, which are compared exactly",
    "numbers: compared by value; a decimal's scale (Spark widens it in arithmetic: 12.50 is "
    "12.500000) and an integer's width (int vs bigint) are how a value is stored, not the value",
    "timestamps: compared as UTC instants; DuckDB keeps a naive UTC timestamp or a timestamptz, "
    "Spark an instant in Parquet, all the same point in time",
    "lists: a null list is [] and null elements are dropped; Spark's list aggregates "
    "(collect_list) skip nulls and give [] for no rows where DuckDB's list() keeps nulls and "
    "gives null (documented in the README); the order of elements is kept",
    "json: DuckDB's JSON type is text on Spark; compared as the text of the parsed value",
)


@dataclass
class TableResult:
    relation: str
    duckdb_rows: int = 0
    spark_rows: int = 0
    only_duckdb: int = 0
    only_spark: int = 0
    problem: str = ""  # a table or column missing, or types that cannot be compared
    excluded: list[str] = field(default_factory=list)
    samples: list[str] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return not self.problem and self.only_duckdb == 0 and self.only_spark == 0


def built_relations(manifest: Path) -> list[tuple[str, str]]:
    """(schema, table) of every model, seed and snapshot dbt materialised in the database."""
    nodes = json.loads(manifest.read_text())["nodes"].values()
    return sorted(
        (node["schema"], node["alias"])
        for node in nodes
        if node["resource_type"] in ("model", "seed", "snapshot")
        and node["config"].get("enabled", True)
        and node["config"].get("materialized") != "ephemeral"
    )


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


_INTEGERS = {"tinyint", "smallint", "integer", "bigint", "hugeint", "utinyint", "usmallint", "uinteger", "ubigint"}
_FLOATS = {"float", "double"}
_TIMESTAMPS = {"timestamp", "timestamp with time zone", "timestamp_ns", "timestamp_ms", "timestamp_s"}


def _kind(type_) -> str:
    name = type_.id
    if name in _INTEGERS:
        return "integer"
    if name in _FLOATS:
        return "float"
    if name == "decimal":
        return "decimal"
    if name in _TIMESTAMPS:
        return "timestamp"
    if name == "varchar" and str(type_) == "JSON":
        return "json"
    return name


def _scale(type_) -> int:
    return int(dict(type_.children)["scale"]) if type_.id == "decimal" else 0


def normalised(left: str, right: str, left_type, right_type, depth: int = 0) -> tuple[str, str] | None:
    """SQL for `left` (of `left_type`) and `right` (of `right_type`) that give equal values of one
    type when the engines stored the same value; None when the types cannot hold the same value."""
    kinds = {_kind(left_type), _kind(right_type)}
    if kinds <= {"integer", "decimal", "float"}:
        if "float" in kinds:
            # Ten significant digits, -0.0 as 0.0: the engines' math libraries (log2, pow) and
            # sums differ in the last bits. A decision a score changes shows in other columns.
            return (
                f"printf('%.9e', cast({left} as double) + 0.0)",
                f"printf('%.9e', cast({right} as double) + 0.0)",
            )
        if "decimal" in kinds:
            target = f"decimal(38, {max(_scale(left_type), _scale(right_type))})"
        else:
            target = "hugeint"
        return f"cast({left} as {target})", f"cast({right} as {target})"
    if kinds == {"timestamp"}:

        def utc(expression: str, type_) -> str:
            if type_.id == "timestamp with time zone":
                return f"timezone('UTC', {expression})"
            return f"cast({expression} as timestamp)"

        return utc(left, left_type), utc(right, right_type)
    if kinds <= {"json", "varchar"} and "json" in kinds:
        return f"cast(cast({left} as json) as varchar)", f"cast(cast({right} as json) as varchar)"
    if kinds == {"list"}:
        element = f"recon_e{depth}"
        inner = normalised(element, element, left_type.child, right_type.child, depth + 1)
        if inner is None:
            return None

        def listed(expression: str, body: str) -> str:
            kept = f"list_filter({expression}, lambda {element}: {element} is not null)"
            return f"coalesce(list_transform({kept}, lambda {element}: {body}), [])"

        return listed(left, inner[0]), listed(right, inner[1])
    if kinds == {"struct"}:
        left_fields, right_fields = dict(left_type.children), dict(right_type.children)
        if list(left_fields) != list(right_fields):
            return None
        pairs = []
        for name in left_fields:
            pair = normalised(
                f"{left}.{_quote(name)}", f"{right}.{_quote(name)}", left_fields[name], right_fields[name], depth
            )
            if pair is None:
                return None
            pairs.append((name, pair))
        return (
            "struct_pack(" + ", ".join(f"{_quote(name)} := {pair[0]}" for name, pair in pairs) + ")",
            "struct_pack(" + ", ".join(f"{_quote(name)} := {pair[1]}" for name, pair in pairs) + ")",
        )
    if len(kinds) == 1:
        return left, right
    return None


def spark_files(spark_warehouse: Path, schema: str, table: str) -> Path:
    return spark_warehouse / f"{schema}.db" / table


def compare_table(
    con: duckdb.DuckDBPyConnection, spark_warehouse: Path, schema: str, table: str, samples: int = 3
) -> TableResult:
    result = TableResult(f"{schema}.{table}")
    duck = f"{_quote(schema)}.{_quote(table)}"
    directory = spark_files(spark_warehouse, schema, table)
    parquet = sorted(directory.glob("*.parquet")) if directory.is_dir() else []
    if not parquet:
        result.problem = f"no Parquet files at {directory}"
        return result
    spark = "read_parquet([" + ", ".join(_text(path.as_posix()) for path in parquet) + "])"
    try:
        duck_relation = con.sql(f"select * from {duck}")
    except duckdb.Error as exc:
        result.problem = f"not in DuckDB: {exc}"
        return result
    spark_relation = con.sql(f"select * from {spark}")
    duck_types = dict(zip(duck_relation.columns, duck_relation.types, strict=True))
    spark_columns = zip(spark_relation.columns, spark_relation.types, strict=True)
    spark_types = {name.lower(): type_ for name, type_ in spark_columns}
    missing = sorted(set(duck_types) ^ set(spark_types))
    if missing:
        result.problem = "columns in one engine only: " + ", ".join(missing)
        return result
    left, right, problems = [], [], []
    for column, duck_type in duck_types.items():
        if column in EXCLUDED_COLUMNS:
            result.excluded.append(column)
            continue
        pair = normalised(_quote(column), _quote(column), duck_type, spark_types[column])
        if pair is None:
            problems.append(f"{column} ({duck_type} on DuckDB, {spark_types[column]} on Spark)")
            continue
        left.append(f"{pair[0]} as {_quote(column)}")
        right.append(f"{pair[1]} as {_quote(column)}")
    if problems:
        result.problem = "types that cannot hold the same values: " + ", ".join(problems)
        return result
    if not left:
        left, right = ["1 as recon_row"], ["1 as recon_row"]
    a = f"select {', '.join(left)} from {duck}"
    b = f"select {', '.join(right)} from {spark}"
    result.duckdb_rows = con.execute(f"select count(*) from {duck}").fetchall()[0][0]
    result.spark_rows = con.execute(f"select count(*) from {spark}").fetchall()[0][0]
    for side, query in (("duckdb", f"({a}) except all ({b})"), ("spark", f"({b}) except all ({a})")):
        count = con.execute(f"select count(*) from ({query})").fetchall()[0][0]
        setattr(result, f"only_{side}", count)
        cursor = con.execute(f"select * from ({query}) limit {int(samples)}")
        columns = [column[0] for column in cursor.description]
        for row in cursor.fetchall():
            shown = ", ".join(f"{name}={value!r}" for name, value in zip(columns, row, strict=True))
            result.samples.append(f"only {side}: {shown}")
    return result


def compare_builds(
    duckdb_warehouse: Path, spark_warehouse: Path, relations: list[tuple[str, str]]
) -> list[TableResult]:
    con = duckdb.connect(str(duckdb_warehouse), read_only=True)
    try:
        con.execute("set TimeZone = 'UTC'")
        return [compare_table(con, spark_warehouse, schema, table) for schema, table in relations]
    finally:
        con.close()


def report(results: list[TableResult]) -> str:
    """The comparison in a few lines: one per table that differs, then the totals."""
    lines = []
    for result in results:
        if result.equal:
            continue
        if result.problem:
            lines.append(f"  {result.relation}: {result.problem}")
            continue
        lines.append(
            f"  {result.relation}: {result.duckdb_rows} rows on DuckDB, {result.spark_rows} on Spark; "
            f"{result.only_duckdb} only on DuckDB, {result.only_spark} only on Spark"
        )
        lines.extend(f"    {sample}" for sample in result.samples)
    differing = sum(not result.equal for result in results)
    rows = sum(result.duckdb_rows for result in results)
    lines.append(
        f"compare: {len(results)} tables, {rows} rows on DuckDB, "
        f"{sum(result.spark_rows for result in results)} on Spark: "
        + (f"{differing} differ" if differing else "every table has the same rows")
    )
    return "\n".join(lines)
