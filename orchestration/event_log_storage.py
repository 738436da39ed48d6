"""Dagster's SQLite event log, with one engine per database kept open.

Dagster's own ``SqliteEventLogStorage`` builds a SQLAlchemy engine and opens a new SQLite
connection for every event it stores, two or three times for an asset event (the run's
database, then the index). A run of this project stores about 1,500 events (a dbt build
yields a materialization per model and an asset check per test), so a 300-order run spent
about a fifth of its time opening databases: measured in docs/benchmarks.md.

This storage keeps the same files, schema and layout (``DAGSTER_HOME/history/runs``: one
database per run and an index), so a home written by either class is read by the other.
It differs only in keeping a small pool of engines, one per database, with their
connections open:

- at most ``MAX_ENGINES`` databases are kept open; the one used longest ago is closed;
- every connection runs with ``synchronous=NORMAL`` in WAL mode (Dagster sets WAL when it
  creates a database): a commit survives a killed process; a power cut may lose the last
  events, never corrupt the file;
- connections are shared between threads only under the storage's own lock, as Dagster's
  class already serialises every access with it;
- each stored event touches its run's database file: the UI follows a running run by
  watching that file (Dagster's ``watch()``), and with connections open a commit reaches
  it only at a checkpoint, which Dagster otherwise gets from closing its last connection.
  The touch comes after the commit, so a woken reader always finds the event;
- the directory comes from ``DAGSTER_HOME`` when the instance loads, so a copied home (the
  kill -9 simulation copies them) writes its own events, not the original's.

``orchestration/settings.py`` names this class in the ``dagster.yaml`` it writes.
"""

from __future__ import annotations

import collections
import contextlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as db
from dagster import StringSource
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import ConfigurableClassData
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import QueuePool

# Open databases kept per process: the index, the run being written, and a few a UI reads.
MAX_ENGINES = 8


def _tune_connection(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """``SqliteEventLogStorage`` that reuses an open engine per database (see module doc)."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        self._engines: collections.OrderedDict[str, Engine] = collections.OrderedDict()
        self._engines_lock = threading.Lock()
        super().__init__(base_dir, inst_data)

    @classmethod
    def config_type(cls):
        # ``dagster_home: {env: DAGSTER_HOME}`` in dagster.yaml: Dagster's own layout under it.
        return {"dagster_home": StringSource}

    @classmethod
    def from_config_value(cls, inst_data, config_value):  # ty: ignore[invalid-method-override]
        return cls(os.path.join(config_value["dagster_home"], "history", "runs"), inst_data=inst_data)

    def _engine(self, shard: str) -> Engine:
        with self._engines_lock:
            engine = self._engines.get(shard)
            if engine is not None:
                self._engines.move_to_end(shard)
                return engine
            engine = create_engine(
                self.conn_string_for_shard(shard),
                poolclass=QueuePool,
                pool_size=1,
                max_overflow=2,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
            )
            db.event.listen(engine, "connect", _tune_connection)
            self._engines[shard] = engine
            while len(self._engines) > MAX_ENGINES:
                _, oldest = self._engines.popitem(last=False)
                oldest.dispose()
            return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn:
                with conn.begin():
                    yield conn

    def store_event(self, event) -> None:
        super().store_event(event)
        # After the commit: wakes watchers of this run (see module doc).
        with contextlib.suppress(FileNotFoundError):
            os.utime(self.path_for_shard(event.run_id))

    def _close_engines(self) -> None:
        with self._engines_lock:
            while self._engines:
                _, engine = self._engines.popitem()
                engine.dispose()

    def wipe(self) -> None:
        # Run databases are deleted from disk: close them first. Another process (the UI)
        # keeps its own open until it evicts them; `dagster run wipe` is for stopped instances.
        with self._db_lock:
            self._close_engines()
        super().wipe()

    def dispose(self) -> None:
        super().dispose()  # stops the watcher thread, which could open an engine again
        self._close_engines()
