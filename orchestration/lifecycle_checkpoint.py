"""The exception lifecycle as of the last publication, kept across builds that do not publish.

Two tables carry history no landing file holds: the snapshot of the exceptions
(``snapshots.snap_reconciliation_exceptions``: every version, when it appeared and closed)
and the sightings (``intermediate.int_exception_sightings``: first and last seen, runs
seen). A build writes both before the marts' gates run. When a gate then blocks, nothing is
published, and the operators' action store is not refreshed, but the two tables already hold
the blocked build's exceptions: a tryout saw nine exceptions no published run ever raised
come back as "reopened", with a fresh SLA, once the next good run published.

So before each build, :func:`hold` compares the publication in force with the one recorded
when the checkpoint was taken. The same publication means the builds since did not publish:
the tables are put back as they were at it. Another publication (or none kept yet) means
the tables are what was published: a new checkpoint of them is taken. Each side is one
transaction, so a kill -9 at any point leaves either the old state or the new one.
"""

from __future__ import annotations

import duckdb

from orchestration.warehouse import table_exists

SCHEMA = "lifecycle_checkpoint"
# (schema, table) of each table whose rows are history; names are fixed here, not input.
STATEFUL: tuple[tuple[str, str], ...] = (
    ("snapshots", "snap_reconciliation_exceptions"),
    ("intermediate", "int_exception_sightings"),
)
MARKER = f"{SCHEMA}.taken"


_exists = table_exists


def _copy_name(schema: str, table: str) -> str:
    return f"{schema}__{table}"


def hold(con: duckdb.DuckDBPyConnection, publication: str | None, run_id: str) -> str:
    """Before a build: restore the lifecycle tables to the last publication's, or keep them.

    ``publication`` is the id of the publication in force (None before the first). Returns
    what was done, for the run log.
    """
    taken = (
        con.execute(f"select publication, run_id, tables from {MARKER}").fetchone()
        if _exists(con, SCHEMA, "taken")
        else None
    )
    con.execute("begin transaction")
    try:
        if taken is not None and taken[0] == publication:
            # No publication since the checkpoint: the builds since did not publish.
            kept = set(taken[2] or [])
            restored = []
            for schema, table in STATEFUL:
                if _copy_name(schema, table) in kept:
                    con.execute(f"create schema if not exists {schema}")
                    con.execute(
                        f"create or replace table {schema}.{table} as "
                        f"select * from {SCHEMA}.{_copy_name(schema, table)}"
                    )
                    restored.append(f"{schema}.{table}")
                elif _exists(con, schema, table):
                    con.execute(f"drop table {schema}.{table}")  # it did not exist at the publication
                    restored.append(f"{schema}.{table} (dropped)")
            con.execute("commit")
            if taken[1] == run_id:
                return "lifecycle checkpoint: taken by this run already"
            return (
                f"lifecycle checkpoint: run {taken[1][:8]} and any after it built without publishing; "
                f"{', '.join(restored) or 'nothing'} put back as at publication {publication or '(none yet)'}"
            )
        con.execute(f"drop schema if exists {SCHEMA} cascade")
        con.execute(f"create schema {SCHEMA}")
        kept = []
        for schema, table in STATEFUL:
            if _exists(con, schema, table):
                con.execute(f"create table {SCHEMA}.{_copy_name(schema, table)} as select * from {schema}.{table}")
                kept.append(_copy_name(schema, table))
        con.execute(
            f"create table {MARKER} as select ?::VARCHAR as publication, ?::VARCHAR as run_id, "
            "?::VARCHAR[] as tables, now() as taken_at",
            [publication, run_id, kept],
        )
        con.execute("commit")
        return f"lifecycle checkpoint taken at publication {publication or '(none yet)'}"
    except BaseException:
        con.execute("rollback")
        raise
