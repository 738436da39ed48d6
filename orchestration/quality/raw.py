"""Raw-table checks, per current batch: columns, keys, lineage, currencies, enumerations, signs."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import duckdb

from orchestration import contract
from orchestration.contract import Entity
from orchestration.ingest import RAW_SCHEMA, superseded_batches_sql

if TYPE_CHECKING:  # pragma: no cover - imported lazily at run time
    import pandas as pd

from orchestration.quality.config import LINEAGE_COLUMNS, _raw_checks_of, raw_asset
from orchestration.quality.gx import _key, _Validator, _verdict
from orchestration.quality.results import CheckResult
from orchestration.quality.sql import _ident

# ------------------------------------------------------------------------- raw checks

_CURRENT_BATCHES = f"""
    current_batches as (
        select batch_id
        from {RAW_SCHEMA}.ingestion_log
        where status = 'loaded'
            and batch_id not in ({superseded_batches_sql()})
    )"""


@dataclass
class _RawPlan:
    """Frame columns behind each raw check; missing contract columns it cannot check."""

    columns: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    missing: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))


def _batch_frame(
    con: duckdb.DuckDBPyConnection,
    ent: Entity,
    present: set[str],
    allow_negative: Sequence[str],
    version_columns: Sequence[str],
) -> tuple[pd.DataFrame, _RawPlan]:
    """One row per batch of the table: row count and, per check, a count of offending rows.

    Key and value counts cover current batches only (superseded loads never reach
    staging); lineage counts cover every row, since a row without a batch is in none.
    """
    plan = _RawPlan()
    table = f"{RAW_SCHEMA}.{_ident(ent.table)}"
    params: dict[str, Any] = {}
    select = [
        "batch_rows._batch_id as batch_id",
        ("any_value(batch_rows._source_file)" if "_source_file" in present else "null::VARCHAR") + " as source_file",
        "count(*)::BIGINT as row_count",
        "bool_or(batch_rows._is_current) as is_current",
    ]

    def count(alias: str, condition: str, check: str, current_only: bool = True) -> None:
        scope = "batch_rows._is_current and " if current_only else ""
        select.append(f"count(*) filter (where {scope}({condition}))::BIGINT as {_ident(alias)}")
        plan.columns[check].append(alias)

    for col in ent.key:
        if col in present:
            count(f"null__{col}", f"batch_rows.{_ident(col)} is null", "raw_keys_not_null")
        else:
            plan.missing["raw_keys_not_null"].append(col)
            plan.missing["raw_keys_unique"].append(col)
    for col in LINEAGE_COLUMNS:
        if col in present:
            count(f"null__{col}", f"batch_rows.{_ident(col)} is null", "raw_lineage_not_null", current_only=False)
        else:
            plan.missing["raw_lineage_not_null"].append(col)
    for col in ent.columns:
        q = f"batch_rows.{_ident(col.name)}"
        if col.kind == "currency":
            if col.name in present:
                params["currencies"] = list(contract.CURRENCIES)
                count(
                    f"bad_currency__{col.name}",
                    f"{q} is not null and not list_contains($currencies, {q})",
                    "raw_currency_valid",
                )
            else:
                plan.missing["raw_currency_valid"].append(col.name)
        if col.allowed:
            if col.name in present:
                params[f"allowed_{col.name}"] = list(col.allowed)
                count(
                    f"disallowed__{col.name}",
                    f"{q} is not null and not list_contains($allowed_{col.name}, lower({q}))",
                    "raw_allowed_values",
                )
            else:
                plan.missing["raw_allowed_values"].append(col.name)
        # The contract says per column what a negative value means; only columns where it
        # means nothing (and those exempted in config) must be non-negative.
        if col.kind in ("decimal", "integer") and not col.negative and col.name not in allow_negative:
            if col.name in present:
                count(f"negative__{col.name}", f"{q} < 0", "raw_non_negative")
            else:
                plan.missing["raw_non_negative"].append(col.name)

    needed = sorted({c for c in present if c in ent.column_names or c in LINEAGE_COLUMNS})
    unique_on = [*ent.key, *version_columns]
    if all(c in present for c in unique_on):
        # Rows sharing key (and version) within one batch: identical copies are a re-send
        # that staging dedupes; differing copies leave staging to pick one by row order.
        group_cols = ", ".join(_ident(c) for c in unique_on)
        key_not_null = " and ".join(f"{_ident(k)} is not null" for k in ent.key)
        content = [_ident(c) for c in ent.column_names if c in present]
        join_on = " and ".join(f"source_rows.{_ident(c)} is not distinct from keyed.{_ident(c)}" for c in unique_on)
        # Two passes: find keys that repeat within a batch, then compare the content of
        # only those rows (rare), instead of hashing every row of the table.
        duplicates = f""",
    repeated_keys as (
        select _batch_id, {group_cols}, count(*) as copies
        from {table}
        where _batch_id in (select batch_id from current_batches) and {key_not_null}
        group by _batch_id, {group_cols}
        having count(*) > 1
    ),
    key_versions as (
        select
            keyed._batch_id,
            any_value(keyed.copies) as copies,
            count(distinct row({", ".join(f"source_rows.{c}" for c in content)})) as versions
        from repeated_keys as keyed
        inner join {table} as source_rows
            on source_rows._batch_id = keyed._batch_id and {join_on}
        group by keyed._batch_id, {", ".join(f"keyed.{_ident(c)}" for c in unique_on)}
    ),
    duplicate_keys as (
        select
            _batch_id,
            count(*)::BIGINT as duplicated_keys,
            sum(copies - versions)::BIGINT as exact_copy_rows,
            count(*) filter (where versions > 1)::BIGINT as conflicting_keys
        from key_versions
        group by _batch_id
    )"""
        dup_join = "left join duplicate_keys on duplicate_keys._batch_id = per_batch.batch_id"
        dup_select = ", ".join(
            f"coalesce(duplicate_keys.{c}, 0)::BIGINT as {c}"
            for c in ("duplicated_keys", "exact_copy_rows", "conflicting_keys")
        )
        plan.columns["raw_keys_unique"].append("conflicting_keys")
    else:
        plan.missing["raw_keys_unique"].extend(c for c in version_columns if c not in present)
        duplicates, dup_join = "", ""
        dup_select = "0::BIGINT as duplicated_keys, 0::BIGINT as exact_copy_rows, 0::BIGINT as conflicting_keys"
    sql = f"""
    with {_CURRENT_BATCHES}{duplicates},
    batch_rows as (
        select {", ".join(f"source_rows.{_ident(c)}" for c in needed)},
            current_batches.batch_id is not null as _is_current
        from {table} as source_rows
        left join current_batches on current_batches.batch_id = source_rows._batch_id
    ),
    per_batch as (
        select {", ".join(select)}
        from batch_rows
        group by batch_rows._batch_id
    )
    select per_batch.*, {dup_select}
    from per_batch
    {dup_join}
    order by per_batch.batch_id nulls first
    """
    frame = con.execute(sql, params).df()
    return frame, plan


def _raw_checks(
    con: duckdb.DuckDBPyConnection, validator: _Validator, cfg: Mapping[str, Any], present: Mapping[str, list[str]]
) -> list[CheckResult]:
    import pandas as pd

    severity = cfg["raw"]["severity"]
    expected = {ent.table: [*ent.column_names, *LINEAGE_COLUMNS] for ent in contract.ENTITIES}

    # Schema: a column per table listing the columns it has; each must contain the contract's.
    width = max([len(cols) for cols in present.values()] + [1])
    schema_frame = pd.DataFrame(
        {table: pd.Series(cols + [None] * (width - len(cols)), dtype="object") for table, cols in present.items()}
    )
    schema_results = validator.validate(
        "raw_columns",
        schema_frame,
        [
            (table, validator.expect.ExpectColumnDistinctValuesToContainSet(column=table, value_set=columns))
            for table, columns in expected.items()
        ],
    )

    # Batches: per table one row per batch with offending counts, stacked into one long
    # frame (table, check, batch, offending) that one expectation validates.
    frames: dict[str, tuple[pd.DataFrame, _RawPlan]] = {}
    parts = []
    for ent in contract.ENTITIES:
        if "_batch_id" not in present[ent.table]:
            continue
        frame, plan = _batch_frame(
            con,
            ent,
            set(present[ent.table]),
            cfg["raw"]["allow_negative"].get(ent.table, []),
            cfg["raw"]["version_columns"].get(ent.table, []),
        )
        frames[ent.table] = (frame, plan)
        for check, columns in plan.columns.items():
            parts.append(
                pd.DataFrame(
                    {
                        "table": ent.table,
                        "check": check,
                        "batch_id": frame["batch_id"],
                        "source_file": frame["source_file"],
                        "offending": frame[columns].sum(axis=1).astype("int64"),
                    }
                )
            )
    long = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["table", "check", "offending"])
    batch_results = validator.validate(
        "raw_batches",
        long,
        [("raw_batches", validator.expect.ExpectColumnValuesToBeBetween(column="offending", min_value=0, max_value=0))]
        if parts
        else [],
    )

    results: list[CheckResult] = []
    for ent in contract.ENTITIES:
        asset, cols = raw_asset(ent), present[ent.table]
        passed, gx, _ = _verdict([r for r in schema_results if _key(r) == ent.table])
        results.append(
            CheckResult(
                "raw_columns",
                asset,
                severity,
                passed,
                {
                    "table_exists": bool(cols),
                    "expected_columns": len(expected[ent.table]),
                    "present_columns": len(cols),
                    "missing_columns": [c for c in expected[ent.table] if c not in cols],
                    "columns_not_in_contract": [c for c in cols if c not in expected[ent.table]],
                    "expectations": gx,
                },
            )
        )
        for name, _ in _raw_checks_of(ent)[1:]:
            if ent.table not in frames:
                reason = f"{RAW_SCHEMA}.{ent.table} does not exist" if not cols else "column _batch_id is missing"
                results.append(CheckResult(name, asset, severity, False, {"error": reason}))
                continue
            frame, plan = frames[ent.table]
            columns = plan.columns.get(name, [])
            bad = None
            scope = frame if name == "raw_lineage_not_null" else frame[frame["is_current"].fillna(False).astype(bool)]
            metadata: dict[str, Any] = {
                "rows_checked": int(scope["row_count"].sum()),
                "batches_checked": len(scope),
                "by_column": {column: int(frame[column].sum()) for column in columns},
            }
            if columns:
                mine = long.index[(long["table"] == ent.table) & (long["check"] == name)]
                passed, gx, failing = _verdict(batch_results, mine)
                bad = long.loc[sorted(failing)]
                metadata.update(
                    offending=int(long.loc[mine, "offending"].sum()),
                    failing_batches=len(bad),
                    failing_files=[str(f) for f in bad["source_file"].head(5)],
                    expectations=gx,
                )
            else:
                passed = True
            if name == "raw_keys_unique":
                metadata.update(
                    {c: int(frame[c].sum()) for c in ("duplicated_keys", "exact_copy_rows", "conflicting_keys")}
                )
            if plan.missing.get(name):
                metadata["missing_columns"] = plan.missing[name]
                passed = False
            description = "" if passed else _raw_message(name, ent.table, metadata, bad)
            results.append(CheckResult(name, asset, severity, passed, metadata, description))
    return results


# What each raw check found wrong, by the prefix of its count column (see _batch_frame).
_FOUND = {
    "null": "no value in",
    "bad_currency": "a currency outside ISO 4217 in",
    "disallowed": "a value the contract does not allow in",
    "negative": "a negative value in",
}


def _raw_message(name: str, table: str, metadata: Mapping[str, Any], bad: pd.DataFrame | None) -> str:
    """A failed raw check in words: which rows of which files, which column, what to do.

    Ingestion quarantines such rows, so a raw check fails on rows loaded before a contract
    change, or written into the raw schema by something other than ingestion.
    """
    if metadata.get("missing_columns"):
        return (
            f"{name}: {RAW_SCHEMA}.{table} has no column {', '.join(metadata['missing_columns'])}; "
            "the raw schema is older than the contract: run `recon ingest` (it adds contract columns) "
            "or check config/quality.yml's version_columns."
        )
    found = []
    for alias, rows in metadata.get("by_column", {}).items():
        if not rows:
            continue
        if alias == "conflicting_keys":
            found.append(f"{rows:,} key(s) loaded twice in one file with different values")
        else:
            kind, _, column = alias.partition("__")
            found.append(f"{rows:,} row(s) with {_FOUND.get(kind, kind)} column {column}")
    files = []
    if bad is not None:
        for batch_id, source_file in bad[["batch_id", "source_file"]].drop_duplicates().head(5).itertuples(index=False):
            files.append(f"{source_file if isinstance(source_file, str) else '(no file recorded)'} (batch {batch_id})")
        if len(bad) > 5:
            files.append(f"and {len(bad) - 5:,} more batch(es)")
    where = f" in {', '.join(files)}" if files else ""
    return (
        f"{name}: {RAW_SCHEMA}.{table} has {'; '.join(found) or 'offending rows'}{where}. "
        "Ingestion quarantines such rows, so these were loaded before a contract change or written "
        "into the raw schema by something else. Re-drop the corrected file at the same landing path "
        "(it restates its batch), or `recon ingest --again <file>` to read it again under the "
        "contract in force; `recon trace` on a key shows the file and row."
    )
