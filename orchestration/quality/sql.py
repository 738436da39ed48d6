"""Small SQL helpers of the gates: quoting, relations, columns, the read-only connection."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from orchestration import contract
from orchestration.ingest import RAW_SCHEMA
from orchestration.warehouse import open_reader

if TYPE_CHECKING:  # pragma: no cover - imported lazily at run time
    pass


# --------------------------------------------------------------------------- helpers


def _ident(name: str) -> str:
    """Quote an identifier that comes from the contract or config (never from data)."""
    if not name.replace("_", "").isalnum():
        raise ValueError(f"refusing to use {name!r} as an SQL identifier")
    return f'"{name}"'


def _relation(relation: str) -> str:
    parts = relation.split(".")
    if len(parts) != 2:
        raise ValueError(f"expected schema.table, got {relation!r}")
    return ".".join(_ident(p) for p in parts)


def _utc_naive(moment: datetime | None) -> datetime:
    if moment is None:
        return datetime.now(UTC).replace(tzinfo=None)
    if moment.tzinfo is not None:
        return moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _connect(warehouse: Path) -> duckdb.DuckDBPyConnection:
    if not warehouse.exists():
        raise FileNotFoundError(f"no warehouse at {warehouse}: run `recon ingest` or `recon run` first")
    return open_reader(warehouse)


def _columns_of(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[str]:
    rows = con.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
        "order by ordinal_position",
        [schema, table],
    ).fetchall()
    return [r[0] for r in rows]


def _raw_columns(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """Columns of every contract table in the raw schema, in order (empty: no such table)."""
    found: dict[str, list[str]] = {ent.table: [] for ent in contract.ENTITIES}
    for table, column in con.execute(
        "select table_name, column_name from information_schema.columns where table_schema = ? "
        "order by table_name, ordinal_position",
        [RAW_SCHEMA],
    ).fetchall():
        if table in found:
            found[table].append(column)
    return found


def _relation_exists(con: duckdb.DuckDBPyConnection, relation: str) -> bool:
    schema, table = relation.split(".")
    return bool(_columns_of(con, schema, table))
