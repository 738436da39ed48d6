"""The one way to open DuckDB: a reader or the writer, in UTC, with the memory and spill settings.

Every connection the product opens comes from here, so each gets the same settings:

* ``TimeZone = UTC`` (time is UTC everywhere);
* ``RECON_DUCKDB_MEMORY_LIMIT`` and ``RECON_DUCKDB_TEMP_DIRECTORY`` when set — the same
  variables the dbt profile reads, so a large build and a large evaluation spill alike;
* for the writer, a clear ``WarehouseBusy`` naming the process that holds the file;
* for readers of the serving copy that run people's SQL (``recon query``), the hardened
  configuration: no file or network access, no extensions, settings locked.

Only a run opens the working warehouse for writing (it holds ``orchestration.lock``); every
other reader opens a file read-only, usually the published serving copy.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

# For SQL people type: no file or network access, no extension loading or installing.
HARDENED_CONFIG = {
    "enable_external_access": False,
    "autoload_known_extensions": False,
    "autoinstall_known_extensions": False,
    "allow_community_extensions": False,
}


def resource_config(*, spill: bool = True) -> dict[str, str]:
    """Memory limit and spill directory from the environment (unset: DuckDB's defaults).

    A memory limit DuckDB cannot read is refused naming the variable (settings.SettingError)."""
    from orchestration.settings import env_memory_limit

    config: dict[str, str] = {}
    memory = env_memory_limit()
    if memory:
        config["memory_limit"] = memory
    if spill and os.environ.get("RECON_DUCKDB_TEMP_DIRECTORY"):
        config["temp_directory"] = os.environ["RECON_DUCKDB_TEMP_DIRECTORY"]
    return config


def open_reader(path: Path | str, *, hardened: bool = False) -> duckdb.DuckDBPyConnection:
    """A read-only connection to a DuckDB file (the serving copy, a scratch warehouse).

    A hardened reader keeps DuckDB's own spill place: with file access off, DuckDB refuses
    to be given another (RECON_DUCKDB_TEMP_DIRECTORY is for builds and evaluations)."""
    config: dict[str, object] = dict(resource_config(spill=not hardened))
    if hardened:
        config.update(HARDENED_CONFIG)
    con = duckdb.connect(str(path), read_only=True, config=config)
    con.execute("set TimeZone = 'UTC'")
    if hardened:
        con.execute("set lock_configuration = true")
    return con


def open_writer(path: Path | str | None = None) -> duckdb.DuckDBPyConnection:
    """A read-write connection; ``None`` is an in-memory database (attach files to it).

    If another process has the file open, raises ``WarehouseBusy`` saying which.
    """
    from orchestration.lock import WarehouseBusy, explain_file_lock

    if path is None:
        con = duckdb.connect(config=resource_config())
    else:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            con = duckdb.connect(str(path), config=resource_config())
        except duckdb.IOException as exc:
            if "Could not set lock" not in str(exc):
                raise
            raise WarehouseBusy(explain_file_lock(Path(path), str(exc))) from exc
    con.execute("set TimeZone = 'UTC'")
    return con


@contextmanager
def reading(path: Path | str, *, hardened: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """``open_reader`` as a context manager: the connection is closed on the way out."""
    con = open_reader(path, hardened=hardened)
    try:
        yield con
    finally:
        con.close()


@contextmanager
def writing(path: Path | str | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """``open_writer`` as a context manager."""
    con = open_writer(path)
    try:
        yield con
    finally:
        con.close()


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    """Whether ``schema.table`` exists (a table or a view) in the open database."""
    return bool(
        con.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchone()[0]
    )
