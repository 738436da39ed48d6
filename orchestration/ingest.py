"""Ingestion: landing files → append-only ``raw`` tables in the DuckDB warehouse.

Each landing file is one batch, loaded in one transaction. The file's sha256 makes
ingestion idempotent (a file already seen is skipped) and tells a restatement (same
path, new content) from a new file. Every row read is either loaded into
``raw.<source>__<entity>`` or written to ``raw.quarantine`` with the column, the reason
and the original text; a file whose structure is unusable is rejected whole and
recorded in ``raw.ingestion_log``. The counts are checked before each commit.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from orchestration import contract
from orchestration.contract import Column, Entity
from orchestration.lock import WarehouseBusy, explain_file_lock

BATCH_ROWS = 100_000
RAW_SCHEMA = "raw"
META_COLUMNS = (
    ("_batch_id", "BIGINT"),
    ("_source_file", "VARCHAR"),
    ("_file_sha256", "VARCHAR"),
    ("_row_number", "BIGINT"),
    ("_ingested_at", "TIMESTAMP"),
)
# Accept up to 4 significant decimals; trailing zeros beyond that (as typed Parquet
# decimals render) are harmless.
DECIMAL_PATTERN = r"^[+-]?[0-9]{1,14}(\.[0-9]{0,4}0*)?$"
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
TIMESTAMP_PREFIX = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
RECORD_COLUMN = "_record"  # quarantine column name for a line that is not a record at all


class FileRejected(Exception):
    """The file cannot be read as a table of this entity; nothing of it is loaded."""


@dataclass
class FileOutcome:
    source_file: str
    source: str
    entity: str
    status: str  # loaded | rejected | skipped
    sha256: str
    batch_id: int | None = None
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    is_restatement: bool = False
    supersedes_batch_id: int | None = None
    message: str = ""


@dataclass
class IngestReport:
    files: list[FileOutcome] = field(default_factory=list)
    seconds: float = 0.0

    def by_status(self, status: str) -> list[FileOutcome]:
        return [f for f in self.files if f.status == status]

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows_loaded for f in self.files)

    @property
    def rows_quarantined(self) -> int:
        return sum(f.rows_quarantined for f in self.files)

    def rows_loaded_by_table(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.by_status("loaded"):
            key = f"{f.source}__{f.entity}"
            out[key] = out.get(key, 0) + f.rows_loaded
        return out


# --------------------------------------------------------------------------- DDL


def _ident(name: str) -> str:
    """Quote an identifier that comes from the contract (never from data)."""
    if not name.replace("_", "").isalnum():
        raise ValueError(f"refusing to use {name!r} as an SQL identifier")
    return f'"{name}"'


def ensure_raw_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the raw schema: one table per contract entity, the log, quarantine and operator actions."""
    con.execute(f"create schema if not exists {RAW_SCHEMA}")
    for ent in contract.ENTITIES:
        cols = [f"{_ident(c.name)} {c.sql_type}" for c in ent.columns]
        cols += [f"{_ident(n)} {t}" for n, t in META_COLUMNS]
        con.execute(f"create table if not exists {RAW_SCHEMA}.{_ident(ent.table)} ({', '.join(cols)})")
        # A warehouse made under an older contract gains the columns added since (null in
        # the rows it already holds); raw stays append-only.
        for c in ent.columns:
            con.execute(
                f"alter table {RAW_SCHEMA}.{_ident(ent.table)} add column if not exists {_ident(c.name)} {c.sql_type}"
            )
    con.execute(
        f"""
        create table if not exists {RAW_SCHEMA}.ingestion_log (
            batch_id BIGINT primary key,
            source VARCHAR,
            entity VARCHAR,
            source_file VARCHAR,
            file_sha256 VARCHAR,
            file_bytes BIGINT,
            file_format VARCHAR,
            status VARCHAR,
            is_restatement BOOLEAN,
            supersedes_batch_id BIGINT,
            rows_read BIGINT,
            rows_loaded BIGINT,
            rows_quarantined BIGINT,
            message VARCHAR,
            contract_version VARCHAR,
            ingested_at TIMESTAMP
        )
        """
    )
    # Filled by actions.copy_to_warehouse from the action store, every run.
    con.execute(
        f"""
        create table if not exists {RAW_SCHEMA}.operator_actions (
            seq BIGINT, action_id VARCHAR, exception_id VARCHAR, action VARCHAR, actor VARCHAR,
            acted_at TIMESTAMP, reason_code VARCHAR, comment VARCHAR, amount DECIMAL(18, 4), target VARCHAR,
            state_before JSON, state_after JSON, prev_hash VARCHAR, entry_hash VARCHAR
        )
        """
    )
    con.execute(
        f"""
        create table if not exists {RAW_SCHEMA}.quarantine (
            batch_id BIGINT,
            source VARCHAR,
            entity VARCHAR,
            source_file VARCHAR,
            row_number BIGINT,
            column_name VARCHAR,
            reason VARCHAR,
            original_value VARCHAR,
            problems JSON,
            record JSON,
            quarantined_at TIMESTAMP
        )
        """
    )


# --------------------------------------------------------------- row validation


def _problem_checks(col: Column) -> list[tuple[str, list]]:
    """SQL conditions (with their parameters) that make a value of ``col`` unusable.

    Each entry is ``(condition_sql, params)``; ``params`` are bound in order, the last
    two being the column name and the reason an operator reads.
    """
    q = _ident(col.name)
    text = f"trim({q})"
    present = f"nullif({text}, '') is not null"
    checks: list[tuple[str, list]] = []
    if col.required:
        checks.append(
            (
                f"nullif({text}, '') is null",
                [f"required value is empty: fill in {col.name} for this row and re-drop the file"],
            )
        )
    fmt = contract.KIND_FORMAT[col.kind]
    if col.kind == "decimal":
        checks.append(
            (
                f"{present} and not regexp_full_match({text}, ?)",
                [DECIMAL_PATTERN, f"not a decimal number; expected {fmt}"],
            )
        )
    elif col.kind == "integer":
        checks.append((f"{present} and try_cast({text} as BIGINT) is null", [f"not a whole number; expected {fmt}"]))
    elif col.kind == "date":
        checks.append(
            (
                f"{present} and (not regexp_full_match({text}, ?) or try_cast({text} as DATE) is null)",
                [DATE_PATTERN, f"not a date; expected {fmt}"],
            )
        )
    elif col.kind == "timestamp":
        checks.append(
            (
                f"{present} and (not regexp_matches({text}, ?) or try_cast({text} as TIMESTAMPTZ) is null)",
                [TIMESTAMP_PREFIX, f"not a timestamp; expected {fmt}"],
            )
        )
    elif col.kind == "currency":
        checks.append(
            (
                f"{present} and not list_contains(?, upper({text}))",
                [list(contract.CURRENCIES), f"unknown currency code; expected {fmt}"],
            )
        )
    if col.allowed:
        checks.append(
            (
                f"{present} and not list_contains(?, lower({text}))",
                [list(col.allowed), "unknown value; expected one of " + ", ".join(col.allowed)],
            )
        )
    # Every check ends with the column name and reason, bound as parameters.
    return [(cond, params[:-1] + [col.name, params[-1]]) for cond, params in checks]


def _cast_expr(col: Column) -> str:
    q = _ident(col.name)
    text = f"nullif(trim({q}), '')"
    if col.kind == "string":
        expr = f"lower({text})" if col.allowed else f"nullif({q}, '')"
    elif col.kind == "decimal":
        expr = f"cast({text} as DECIMAL(18, 4))"
    elif col.kind == "integer":
        expr = f"cast({text} as BIGINT)"
    elif col.kind == "date":
        expr = f"cast({text} as DATE)"
    elif col.kind == "timestamp":
        # Session time zone is UTC: a value without offset is read as UTC, one with an
        # offset is converted; the stored TIMESTAMP is UTC wall time.
        expr = f"timezone('UTC', cast({text} as TIMESTAMPTZ))"
    elif col.kind == "currency":
        expr = f"upper({text})"
    else:  # pragma: no cover - the contract only uses the kinds above
        raise ValueError(col.kind)
    return f"{expr} as {q}"


@dataclass(frozen=True)
class _EntitySql:
    check_sql: str
    check_params: list
    insert_sql: str
    quarantine_sql: str


def _entity_sql(ent: Entity) -> _EntitySql:
    problems: list[str] = []
    params: list = []
    for col in ent.columns:
        for cond, p in _problem_checks(col):
            problems.append(f"case when {cond} then {{'column': ?, 'reason': ?}} end")
            params.extend(p)
    cols = ", ".join(_ident(c.name) for c in ent.columns)
    originals = ", ".join(f"{_ident(c.name)} := {_ident(c.name)}" for c in ent.columns)
    check_sql = (
        "create or replace temp table _checked as "
        f"select {cols}, _row_number, to_json(struct_pack({originals})) as _record, "
        f"list_filter([{', '.join(problems)}], lambda x: x is not null) as _problems "
        "from _landing_batch"
    )
    target = f"{RAW_SCHEMA}.{_ident(ent.table)}"
    meta = ", ".join(_ident(n) for n, _ in META_COLUMNS)
    insert_sql = (
        f"insert into {target} ({cols}, {meta}) "
        f"select {', '.join(_cast_expr(c) for c in ent.columns)}, ?, ?, ?, _row_number, ? "
        "from _checked where len(_problems) = 0"
    )
    quarantine_sql = (
        f"insert into {RAW_SCHEMA}.quarantine "
        "select ?, ?, ?, ?, _row_number, _problems[1]['column'], _problems[1]['reason'], "
        "json_extract_string(_record, '$.' || _problems[1]['column']), to_json(_problems), _record, ? "
        "from _checked where len(_problems) > 0"
    )
    return _EntitySql(check_sql, params, insert_sql, quarantine_sql)


# ------------------------------------------------------------------ file readers


def _normalise_header(names: list[str], path: Path) -> list[str]:
    normalised = [n.strip().lower() for n in names]
    seen: set[str] = set()
    for n in normalised:
        if n in seen:
            raise FileRejected(f"column {n!r} appears twice in the header; keep one and re-drop the file")
        seen.add(n)
    return normalised


def _check_columns(ent: Entity, present: list[str]) -> list[str]:
    """Reject a file that lacks required columns; return a note on ignored extras."""
    missing = [c for c in ent.required_columns if c not in present]
    if missing:
        raise FileRejected(
            f"missing required column(s) {', '.join(missing)} for {ent.source}/{ent.name}; "
            f"the contract (docs/landing_contract.md) requires {', '.join(ent.required_columns)}. "
            "Add the column(s) and re-drop the file."
        )
    extras = [c for c in present if c not in ent.column_names]
    return [f"ignored column(s) not in the contract: {', '.join(extras)}"] if extras else []


def _as_string_table(table: pa.Table, ent: Entity, first_row: int) -> pa.Table:
    """Contract columns as strings (missing optional ones as nulls) plus ``_row_number``."""
    arrays = []
    for col in ent.columns:
        if col.name in table.column_names:
            arr = table.column(col.name)
            if not pa.types.is_string(arr.type) and not pa.types.is_large_string(arr.type):
                arr = arr.cast(pa.string())
        else:
            arr = pa.nulls(table.num_rows, pa.string())
        arrays.append(arr)
    arrays.append(pa.array(range(first_row, first_row + table.num_rows), pa.int64()))
    return pa.table(arrays, names=[*ent.column_names, "_row_number"])


def _read_csv(path: Path, ent: Entity, notes: list[str]) -> Iterator[tuple[pa.Table, list]]:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        try:
            header = next(csv.reader(fh))
        except StopIteration as exc:
            raise FileRejected("file is empty: expected a header row naming the columns") from exc
        except (UnicodeDecodeError, csv.Error) as exc:
            raise FileRejected(f"header row is unreadable ({exc}); save the file as UTF-8 CSV") from exc
    names = _normalise_header(header, path)
    notes.extend(_check_columns(ent, names))
    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=8 << 20),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names}, strings_can_be_null=True
            ),
        )
        row = 1
        for batch in reader:
            table = pa.Table.from_batches([batch])
            yield _as_string_table(table, ent, row), []
            row += table.num_rows
    except pa.ArrowInvalid as exc:
        raise FileRejected(
            f"CSV structure is unreadable ({exc}); check quoting and that every row has "
            f"{len(names)} fields like the header"
        ) from exc


def _read_parquet(path: Path, ent: Entity, notes: list[str]) -> Iterator[tuple[pa.Table, list]]:
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise FileRejected(f"not a readable Parquet file ({exc})") from exc
    raw_names = pf.schema_arrow.names
    names = _normalise_header(raw_names, path)
    notes.extend(_check_columns(ent, names))
    row = 1
    try:
        for batch in pf.iter_batches(batch_size=BATCH_ROWS):
            table = pa.Table.from_batches([batch]).rename_columns(names)
            yield _as_string_table(table, ent, row), []
            row += table.num_rows
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
        raise FileRejected(f"Parquet data is unreadable ({exc})") from exc


def _json_text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def _read_jsonl(path: Path, ent: Entity, notes: list[str]) -> Iterator[tuple[pa.Table, list]]:
    """JSON Lines, parsed with numbers kept as text so decimals stay exact.

    A line that is not a JSON object is quarantined on its own (column ``_record``);
    a required key that no line carries rejects the file, like a missing CSV column.
    """
    keys_seen: set[str] = set()
    rows: dict[str, list] = {c: [] for c in ent.column_names}
    numbers: list[int] = []
    bad: list[tuple[int, str, str]] = []

    def flush():
        table = pa.table({c: pa.array(v, pa.string()) for c, v in rows.items()})
        out = _as_string_table(table, ent, 1)
        out = out.set_column(out.num_columns - 1, "_row_number", pa.array(numbers, pa.int64()))
        return out

    try:
        with open(path, encoding="utf-8") as fh:
            for line_no, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line, parse_float=str, parse_int=str)
                except json.JSONDecodeError as exc:
                    bad.append((line_no, line.rstrip("\n"), f"line is not valid JSON ({exc.msg}); fix the line"))
                    continue
                if not isinstance(obj, dict):
                    bad.append((line_no, line.rstrip("\n"), "line is not a JSON object; write one object per line"))
                    continue
                lowered = {str(k).strip().lower(): v for k, v in obj.items()}
                keys_seen.update(lowered)
                for c in ent.column_names:
                    rows[c].append(_json_text(lowered.get(c)))
                numbers.append(line_no)
                if len(numbers) >= BATCH_ROWS or len(bad) >= BATCH_ROWS:
                    yield flush(), bad
                    rows = {c: [] for c in ent.column_names}
                    numbers, bad = [], []
    except UnicodeDecodeError as exc:
        raise FileRejected(f"file is not UTF-8 text ({exc}); save it as UTF-8 JSON Lines") from exc
    if numbers or bad:
        yield flush(), bad
    if not keys_seen:
        raise FileRejected("no JSON object in the file: expected one JSON object per line")
    notes.extend(_check_columns(ent, sorted(keys_seen)))


READERS = {"csv": _read_csv, "parquet": _read_parquet, "jsonl": _read_jsonl}


# ------------------------------------------------------------------- ingestion


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def discover(landing: Path) -> list[Path]:
    """Landing files in a stable order: by path, so batches are numbered reproducibly."""
    if not landing.exists():
        return []
    return sorted(p for p in landing.rglob("*") if p.is_file() and not p.name.startswith("."))


def connect(warehouse: Path) -> duckdb.DuckDBPyConnection:
    """The run's read-write connection; if another process has the file open, say which."""
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(warehouse))
    except duckdb.IOException as exc:
        if "Could not set lock" not in str(exc):
            raise
        raise WarehouseBusy(explain_file_lock(warehouse, str(exc))) from exc
    con.execute("set TimeZone = 'UTC'")
    return con


def ingest_landing(landing: Path, warehouse: Path) -> IngestReport:
    """Load every new landing file; return what happened to each one."""
    started = time.monotonic()
    report = IngestReport()
    con = connect(warehouse)
    try:
        ensure_raw_schema(con)
        for path in discover(landing):
            report.files.append(_ingest_file(con, landing, path))
    finally:
        con.close()
    report.seconds = time.monotonic() - started
    return report


def _ingest_file(con: duckdb.DuckDBPyConnection, landing: Path, path: Path) -> FileOutcome:
    rel = path.relative_to(landing).as_posix()
    parts = rel.split("/")
    source, entity_name = (parts[0], parts[1]) if len(parts) >= 3 else (parts[0], "")
    sha = sha256_of(path)
    outcome = FileOutcome(rel, source, entity_name, "skipped", sha)

    previous = con.execute(
        f"select batch_id, status from {RAW_SCHEMA}.ingestion_log where file_sha256 = ? order by batch_id limit 1",
        [sha],
    ).fetchone()
    if previous:
        outcome.batch_id = previous[0]
        outcome.message = f"already ingested as batch {previous[0]} ({previous[1]}); skipped"
        return outcome

    earlier = con.execute(
        f"select max(batch_id) from {RAW_SCHEMA}.ingestion_log where source_file = ? and status = 'loaded'",
        [rel],
    ).fetchone()[0]
    outcome.is_restatement = earlier is not None
    outcome.supersedes_batch_id = earlier
    outcome.batch_id = con.execute(f"select coalesce(max(batch_id), 0) + 1 from {RAW_SCHEMA}.ingestion_log").fetchone()[
        0
    ]
    fmt = contract.FILE_FORMATS.get(path.suffix.lower())
    now = datetime.now(UTC).replace(tzinfo=None)

    con.execute("begin transaction")
    try:
        if len(parts) < 3:
            raise FileRejected(f"file is not under <source>/<entity>/; move it to e.g. crm/orders/{path.name}")
        try:
            ent = contract.entity(source, entity_name)
        except KeyError as exc:
            raise FileRejected(str(exc.args[0])) from exc
        if fmt is None:
            raise FileRejected(f"unsupported file type {path.suffix!r}; use .csv (with header), .parquet or .jsonl")
        _load_rows(con, ent, path, fmt, outcome, now)
        outcome.status = "loaded"
        if outcome.is_restatement:
            outcome.message = (f"restatement of batch {earlier}; " + outcome.message).rstrip("; ")
    except FileRejected as exc:
        con.execute("rollback")
        con.execute("begin transaction")
        outcome.status = "rejected"
        outcome.rows_read = outcome.rows_loaded = outcome.rows_quarantined = 0
        outcome.is_restatement, outcome.supersedes_batch_id = False, None
        outcome.message = f"{rel}: rejected, nothing loaded: {exc}"
    except BaseException:
        con.execute("rollback")
        raise
    con.execute(
        f"insert into {RAW_SCHEMA}.ingestion_log values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            outcome.batch_id,
            source,
            entity_name,
            rel,
            sha,
            path.stat().st_size,
            fmt,
            outcome.status,
            outcome.is_restatement,
            outcome.supersedes_batch_id,
            outcome.rows_read,
            outcome.rows_loaded,
            outcome.rows_quarantined,
            outcome.message,
            contract.CONTRACT_VERSION,
            now,
        ],
    )
    con.execute("commit")
    return outcome


_SQL_CACHE: dict[str, _EntitySql] = {}


def _load_rows(
    con: duckdb.DuckDBPyConnection, ent: Entity, path: Path, fmt: str, outcome: FileOutcome, now: datetime
) -> None:
    sql = _SQL_CACHE.setdefault(ent.table, _entity_sql(ent))
    notes: list[str] = []
    rel = outcome.source_file
    for table, bad_lines in READERS[fmt](path, ent, notes):
        outcome.rows_read += table.num_rows + len(bad_lines)
        if table.num_rows:
            con.register("_landing_batch", table)
            con.execute(sql.check_sql, sql.check_params)
            con.unregister("_landing_batch")
            loaded = con.execute(sql.insert_sql, [outcome.batch_id, rel, outcome.sha256, now]).fetchone()[0]
            quarantined = con.execute(
                sql.quarantine_sql, [outcome.batch_id, ent.source, ent.name, rel, now]
            ).fetchone()[0]
            outcome.rows_loaded += loaded
            outcome.rows_quarantined += quarantined
        for line_no, text, reason in bad_lines:
            con.execute(
                f"insert into {RAW_SCHEMA}.quarantine values (?, ?, ?, ?, ?, ?, ?, ?, ?, to_json(?::VARCHAR), ?)",
                [
                    outcome.batch_id,
                    ent.source,
                    ent.name,
                    rel,
                    line_no,
                    RECORD_COLUMN,
                    reason,
                    text,
                    json.dumps([{"column": RECORD_COLUMN, "reason": reason}]),
                    text,
                    now,
                ],
            )
            outcome.rows_quarantined += 1
    if outcome.rows_loaded + outcome.rows_quarantined != outcome.rows_read:
        raise RuntimeError(
            f"{rel}: read {outcome.rows_read} rows but loaded {outcome.rows_loaded} and quarantined "
            f"{outcome.rows_quarantined}; refusing to commit an unbalanced batch"
        )
    if outcome.rows_quarantined:
        notes.append(f"{outcome.rows_quarantined} row(s) quarantined (see raw.quarantine)")
    outcome.message = "; ".join(notes)


def describe(outcome: FileOutcome) -> str:
    buf = io.StringIO()
    buf.write(f"{outcome.status:<9} {outcome.source_file}")
    if outcome.status == "loaded":
        buf.write(f"  read={outcome.rows_read} loaded={outcome.rows_loaded} quarantined={outcome.rows_quarantined}")
    if outcome.message:
        buf.write(f"  — {outcome.message}")
    return buf.getvalue()
