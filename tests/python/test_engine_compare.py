"""engine_compare (make test-spark's row-by-row check): what it forgives and what it does not.

Spark's side is a Parquet directory written here by DuckDB with Spark's types, so the test
needs no Spark: the comparison is DuckDB reading both."""

from __future__ import annotations

from pathlib import Path

import duckdb

from orchestration.lab import engine_compare

DUCKDB_ROWS = """
    select * from (values
        (1, cast(12.5 as decimal(18, 2)), timestamp '2026-11-30 09:00:00', ['a', null, 'b'], cast(null as varchar[]),
         cast('{"k": [1, 2]}' as json), 0.1 + 0.2, 'run-1'),
        (2, cast(-3 as decimal(18, 2)), timestamp '2026-11-30 23:59:59.5', cast([] as varchar[]), ['x'],
         cast('{}' as json), cast(-0.0 as double), 'run-1')
    ) as rows (id, amount, seen_at, refs, tags, payload, score, dagster_run_id)
"""

# Spark's storage of the same values: wider decimals and integers, instants, lists without
# nulls and [] for none, JSON as text, a sum's last bit and 0.0 for -0.0, another run id.
SPARK_ROWS = """
    select
        cast(id as bigint) as id,
        cast(amount as decimal(38, 6)) as amount,
        cast(seen_at as timestamptz) as seen_at,
        coalesce(list_filter(refs, lambda e: e is not null), []) as refs,
        coalesce(tags, []) as tags,
        cast(payload as varchar) as payload,
        case when id = 1 then 0.3 else 0.0 end as score,
        'run-2' as dagster_run_id
    from duck
"""


def build(tmp_path: Path, spark_select: str) -> list[engine_compare.TableResult]:
    tmp_path = tmp_path / f"build{len(list(tmp_path.iterdir()))}"
    tmp_path.mkdir()
    warehouse = tmp_path / "warehouse.duckdb"
    spark = tmp_path / "spark"
    con = duckdb.connect(str(warehouse))
    try:
        con.execute("set TimeZone = 'UTC'")
        con.execute("create schema marts")
        con.execute(f"create table marts.t as {DUCKDB_ROWS}")
        (spark / "marts.db" / "t").mkdir(parents=True)
        target = (spark / "marts.db" / "t" / "part-00000.parquet").as_posix()
        query = spark_select.replace("from duck", "from marts.t")
        con.execute(f"copy ({query}) to '{target}' (format parquet)")
    finally:
        con.close()
    return engine_compare.compare_builds(warehouse, spark, [("marts", "t"), ("marts", "missing")])


def test_the_same_values_stored_the_spark_way_are_equal(tmp_path: Path) -> None:
    table, missing = build(tmp_path, SPARK_ROWS)
    assert table.equal, engine_compare.report([table])
    assert (table.duckdb_rows, table.spark_rows) == (2, 2)
    assert table.excluded == ["dagster_run_id"]
    assert not missing.equal and "no Parquet files" in missing.problem


def test_a_changed_value_is_a_difference(tmp_path: Path) -> None:
    changed = SPARK_ROWS.replace("cast(amount as decimal(38, 6))", "cast(amount + 0.001 as decimal(38, 6))")
    (table, _) = build(tmp_path, changed)
    assert (table.only_duckdb, table.only_spark) == (2, 2)
    assert "amount=Decimal('12.500000')" in "\n".join(table.samples)


def test_a_score_off_in_the_seventh_digit_is_a_difference(tmp_path: Path) -> None:
    (table, _) = build(tmp_path, SPARK_ROWS.replace("then 0.3 else", "then 0.3000001 else"))
    assert (table.only_duckdb, table.only_spark) == (1, 1)


def test_a_reordered_list_and_a_duplicated_row_are_differences(tmp_path: Path) -> None:
    reordered = SPARK_ROWS.replace(
        "coalesce(list_filter(refs, lambda e: e is not null), [])",
        "coalesce(list_reverse(list_filter(refs, lambda e: e is not null)), [])",
    )
    (table, _) = build(tmp_path, reordered)
    assert (table.only_duckdb, table.only_spark) == (1, 1)
    duplicated = SPARK_ROWS.replace("from duck", "from duck, range(2) where id = 1 or range = 0")
    (table, _) = build(tmp_path, duplicated)
    assert (table.spark_rows, table.only_duckdb, table.only_spark) == (3, 0, 1)
    assert "3 on Spark" in engine_compare.report([table])


def test_a_column_on_one_engine_only_is_named(tmp_path: Path) -> None:
    (table, _) = build(tmp_path, SPARK_ROWS.replace("as payload,", "as payload, 1 as extra,"))
    assert table.problem == "columns in one engine only: extra"
