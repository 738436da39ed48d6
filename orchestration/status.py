"""Read-only views for people: the run summary and ad-hoc queries.

Readers open the published serving copy (``publications/serving.duckdb``), never the
working warehouse: only a run opens that, and a reader holding it open would make the
next run fail on DuckDB's file lock. ``--working`` reads the working warehouse instead,
for debugging: it takes the warehouse lock for the length of the read, so it is refused
while a run writes, and a run started meanwhile is refused at once, naming it.

Every reader connection is hardened: read-only, no access to files other than the
database (no COPY TO, EXPORT, read_csv, ATTACH), no extension install or load, and the
configuration locked so a statement cannot ``SET`` any of it back. ``recon query`` runs
one read statement (``check_read_statement``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
from rich.console import RenderableType

from orchestration import publish, settings
from orchestration.ingest import superseded_batches_sql
from orchestration.lock import WarehouseBusy, warehouse_lock
from orchestration.terminal import table
from orchestration.warehouse import open_reader, table_exists

DAGSTER_UI = "make dev   (Dagster UI on http://127.0.0.1:3000)"

# Reader connections are hardened (orchestration.warehouse.HARDENED_CONFIG):
# enable_external_access=false keeps the database file itself readable and refuses every
# other file and extension; the configuration is locked, so statements cannot undo this.
# `recon query` runs exactly one statement that reads: DuckDB's SELECT type, which covers
# SELECT, WITH, FROM-first queries, VALUES, DESCRIBE, SHOW and SUMMARIZE, and these
# catalog pragmas. Everything else (COPY, EXPORT, INSTALL, LOAD, ATTACH, SET, CALL,
# EXPLAIN, writes) is refused before it runs.
READ_PRAGMAS = ("table_info", "show_tables", "show_tables_expanded", "database_size", "storage_info", "version")

EXIT_SQL_ERROR = 1
EXIT_REFUSED = 3
EXIT_NOT_FOUND = 4
EXIT_BUSY = 5


class ReaderError(RuntimeError):
    """A reader cannot do what was asked; the message says why and what to do."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class Source:
    """What a reader reads: the published serving copy, or (``--working``) the warehouse."""

    path: Path
    working: bool
    publication: dict | None = None

    def describe(self) -> str:
        if self.working:
            return f"working warehouse {self.path} (runs write it; not for BI tools)"
        pub = self.publication or {}
        return (
            f"published serving copy {self.path} (publication {pub.get('publication')}, "
            f"run {str(pub.get('run_id'))[:8]}, published {pub.get('published_at')})"
        )


def hardened_connect(path: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection that can read this database file and nothing else."""
    try:
        con = open_reader(path, hardened=True)
    except duckdb.Error as exc:
        raise ReaderError(f"cannot open {path} read-only: {_first_line(exc)}", EXIT_BUSY) from exc
    return con


@contextmanager
def reader(working: bool, command: str) -> Iterator[tuple[Source, duckdb.DuckDBPyConnection]]:
    """Open what a reader reads: the serving copy, or the working warehouse under its lock."""
    from orchestration.settings import warehouse_path

    if not working:
        published = publish.current()
        path = publish.serving_path()
        if published is not None and not path.exists():
            raise ReaderError(
                f"the serving copy {path} of publication {published.get('publication')} is missing: the next "
                "`recon run` puts it back from its archive; meanwhile read the working warehouse with --working",
                EXIT_NOT_FOUND,
            )
        if published is None or not path.exists():
            raise ReaderError(
                f"nothing is published yet ({path} does not exist): a run publishes when its blocking checks "
                "pass; run `recon run` (or `make demo`), or read the working warehouse with --working",
                EXIT_NOT_FOUND,
            )
        con = hardened_connect(path)
        try:
            yield Source(path, False, published), con
        finally:
            con.close()
        return
    path = warehouse_path()
    if not path.exists():
        raise ReaderError(f"no warehouse at {path}: run `recon run` (or `make demo`) first", EXIT_NOT_FOUND)
    try:
        with warehouse_lock(f"{command} --working", wait_seconds=0):
            con = hardened_connect(path)
            try:
                yield Source(path, True), con
            finally:
                con.close()
    except WarehouseBusy as exc:
        from orchestration.lock import current_holder

        holder = current_holder() or {}
        who = f"{holder.get('holder')} (pid {holder.get('pid')}, since {holder.get('since')})" if holder else "a run"
        raise ReaderError(
            f"refused: {who} is writing the working warehouse {path}. Without --working, {command} reads the "
            "published copy, which no run blocks; or wait for the run to finish.",
            EXIT_BUSY,
        ) from exc


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


_has = table_exists


# raw.ingestion_log with is_superseded: a loaded batch that a later loaded batch of its
# path restates (ingest sets supersedes_batch_id only on loaded restatements), or that a
# full export of its entity superseded (raw.batch_supersessions; a publication made before
# it existed has none).
# A rejection stays outstanding until it is fixed: its path logged something since, or the
# same bytes loaded under another path (moved or renamed as the message advised).
_REJECTION_FIXED = """
    exists (
        select 1 from raw.ingestion_log as later
        where later.batch_id > {rejected}.batch_id
            and (
                later.source_file = {rejected}.source_file
                or (later.file_sha256 = {rejected}.file_sha256 and later.status in ('loaded', 'duplicate'))
            )
    )"""

_SUPERSEDED_TEMPLATE = f"""
    log as (
        select
            ingestion_log.*,
            ingestion_log.status = 'loaded' and ingestion_log.batch_id in ({{superseded}}) as is_superseded,
            ingestion_log.status = 'rejected' and {_REJECTION_FIXED.format(rejected="ingestion_log")} as is_fixed
        from raw.ingestion_log
    )"""


def summary(con: duckdb.DuckDBPyConnection) -> dict:
    """The numbers `recon status` prints, as data (tests assert on these)."""
    out: dict = {"sources": [], "superseded": [], "quarantine_reasons": [], "rejected_files": []}
    # Publications made before the ingestion log was published have no raw schema.
    out["has_ingestion"] = _has(con, "raw", "ingestion_log") and _has(con, "raw", "quarantine")
    if not out["has_ingestion"]:
        return _marts_summary(con, out)
    _SUPERSEDED = _SUPERSEDED_TEMPLATE.format(
        superseded=superseded_batches_sql("raw", full_exports=_has(con, "raw", "batch_supersessions"))
    )
    # A restatement (a new batch of the same path) supersedes the path's earlier batch: raw
    # keeps both, staging reads the current one. Files and rows count current batches only,
    # so a restated file is counted once; what was superseded is listed apart. Rejected files
    # count while they are outstanding (as listed below the table), their rows read and
    # rejected: rows read = loaded + quarantined + rejected.
    out["sources"] = con.execute(
        f"""
        with {_SUPERSEDED}
        select source, entity,
            count(*) filter (where status = 'loaded' and not is_superseded),
            count(*) filter (where status = 'rejected' and not is_fixed),
            coalesce(sum(rows_read) filter (where not is_superseded and not is_fixed), 0),
            coalesce(sum(rows_loaded) filter (where not is_superseded), 0),
            coalesce(sum(rows_quarantined) filter (where not is_superseded), 0),
            coalesce(sum(rows_read) filter (where status = 'rejected' and not is_fixed), 0)
        from log
        group by source, entity
        order by source, entity
        """
    ).fetchall()
    out["superseded"] = con.execute(
        f"""
        with {_SUPERSEDED}
        select source, entity, count(*), coalesce(sum(rows_read), 0), coalesce(sum(rows_loaded), 0),
            coalesce(sum(rows_quarantined), 0)
        from log
        where is_superseded
        group by source, entity
        order by source, entity
        """
    ).fetchall()
    # Quarantined rows of superseded batches were corrected by the restatement: not listed.
    grouped = con.execute(
        f"""
        with {_SUPERSEDED}
        select quarantine.source || '/' || quarantine.entity, quarantine.column_name,
            split_part(quarantine.reason, ';', 1), count(*)
        from raw.quarantine as quarantine
        where not exists (
            select 1 from log where log.batch_id = quarantine.batch_id and log.is_superseded
        )
        group by all
        order by 4 desc, 1, 2
        """
    ).fetchall()
    out["quarantine_reasons"] = grouped[:QUARANTINE_REASONS_SHOWN]
    out["quarantine_reasons_more"] = (
        len(grouped) - QUARANTINE_REASONS_SHOWN,
        sum(r[3] for r in grouped[QUARANTINE_REASONS_SHOWN:]),
    )
    out["rejected_files"] = con.execute(
        f"""
        select rejected.source_file, rejected.message
        from raw.ingestion_log as rejected
        where rejected.status = 'rejected' and not {_REJECTION_FIXED.format(rejected="rejected")}
        order by rejected.batch_id
        """
    ).fetchall()
    # Copies skipped as duplicates (the bytes of a loaded, current file at a new path), while
    # the copy's path has nothing later (a copy loaded on request with --again is a file).
    # A publication older than duplicate_of_batch_id has none to list.
    has_twins = con.execute(
        "select count(*) from information_schema.columns where table_schema = 'raw' "
        "and table_name = 'ingestion_log' and column_name = 'duplicate_of_batch_id'"
    ).fetchone()[0]
    out["duplicate_files"] = []
    if has_twins:
        out["duplicate_files"] = con.execute(
            """
            select copy.source_file, original.source_file, original.batch_id
            from raw.ingestion_log as copy
            inner join raw.ingestion_log as original
                on copy.duplicate_of_batch_id = original.batch_id
            where copy.status = 'duplicate'
                and not exists (
                    select 1 from raw.ingestion_log as later
                    where later.source_file = copy.source_file and later.batch_id > copy.batch_id
                )
            order by copy.batch_id
            """
        ).fetchall()
    # Current files whose path is no longer in the landing folder (archived, moved, deleted):
    # raw is append-only, so their rows stay loaded and current, and a tryout found nothing
    # said so. Paths come from the log; only their existence is looked up.
    landing = settings.landing_dir()
    current_files = con.execute(
        f"""
        with {_SUPERSEDED}
        select source_file, coalesce(rows_loaded, 0) from log
        where status = 'loaded' and not is_superseded
        order by source_file
        """
    ).fetchall()
    out["missing_files"] = [(path, rows) for path, rows in current_files if not (landing / path).is_file()]
    return _marts_summary(con, out)


# Orders per state: active orders, cancelled orders, and the active orders' booking.
_BY_STATE = """
    select {state}, count(*) filter (where not is_cancelled), count(*) filter (where is_cancelled),
        sum(booked_amount_reporting) filter (where not is_cancelled)
    from marts.fct_reconciled_orders
    group by 1
    order by 2 desc, 3 desc, 1
"""


def _marts_summary(con: duckdb.DuckDBPyConnection, out: dict) -> dict:
    for name, fill in (
        ("fct_reconciled_orders", _orders_summary),
        ("fct_reconciliation_records", _records_summary),
        ("fct_exception_current", _exceptions_summary),
        ("fct_pending_breaks", _pending_summary),
    ):
        if not _has(con, "marts", name):
            continue
        try:
            fill(con, out)
        except (duckdb.BinderException, duckdb.CatalogException) as exc:
            # A copy another version of recon wrote (an upgrade whose first run has not
            # published yet): say which table and why, and show the rest.
            out.setdefault("unreadable", []).append((f"marts.{name}", _first_line(exc)))
    return out


def _orders_summary(con: duckdb.DuckDBPyConnection, out: dict) -> None:
    # Every count says which orders it covers: the headline counts active orders (not
    # cancelled); the tables list every order, active and cancelled in their own columns,
    # so each table's active column adds up to the headline's active orders (a cancelled
    # order reads cancelled, credited, billed_cancelled or over_credited, never `billed`).
    row = con.execute(
        "select count(*) filter (where not is_cancelled), "
        "count(*) filter (where not is_cancelled and invoice_count > 0), "
        "count(*) filter (where not is_cancelled and billing_state = 'billed'), "
        "count(*) filter (where is_cancelled), count(*) "
        "from marts.fct_reconciled_orders"
    ).fetchone()
    billing_states = con.execute(_BY_STATE.format(state="billing_state")).fetchall()
    (
        out["orders_active"],
        out["orders_matched"],
        out["orders_billed_in_full"],
        out["orders_cancelled"],
        out["orders_total"],
    ) = row
    out["match_rate"] = (row[1] / row[0]) if row[0] else 0.0
    out["billing_states"] = billing_states


def _records_summary(con: duckdb.DuckDBPyConnection, out: dict) -> None:
    reconciliations = con.execute(
        "select reconciliation, side, "
        "count(*) filter (where record_state = 'matched'), "
        "count(*) filter (where record_state = 'suggested'), "
        "count(*) filter (where record_state = 'ambiguous'), "
        "count(*) filter (where record_state = 'unmatched'), count(*) "
        "from marts.fct_reconciliation_records group by 1, 2 order by 1, 2"
    ).fetchall()
    out["completeness"] = con.execute(_BY_STATE.format(state="completeness_state")).fetchall()
    out["reconciliations"] = reconciliations


def _exceptions_summary(con: duckdb.DuckDBPyConnection, out: dict) -> None:
    # Exceptions not closed, as of the last run: routed, timed, and what is at stake.
    exceptions = con.execute(
        "select exception_type, owner_team, severity, count(*), "
        "count(*) filter (where is_breached), sum(amount_at_risk_reporting) "
        "from marts.fct_exception_current where not is_closed "
        "group by 1, 2, 3 order by 4 desc, 1"
    ).fetchall()
    out["exception_states"] = con.execute(
        "select status, count(*) from marts.fct_exception_current group by 1 order by 1"
    ).fetchall()
    out["exceptions"] = exceptions


def _pending_summary(con: duckdb.DuckDBPyConnection, out: dict) -> None:
    out["pending"] = con.execute(
        "select awaits_source, count(*), min(pending_until) from marts.fct_pending_breaks group by 1 order by 1"
    ).fetchall()


def quality_lines(report: dict | None) -> list[str]:
    """The last run's quality gates: what failed or warned, in the checks' own words.

    Match-rate checks say what to tune (the reconciliation, side, rate, baseline and the
    key in config/quality.yml), so a first run on new data explains its warnings here.
    Checks still setting their baseline are listed even when they pass.
    """
    if report is None:
        return ["", "== Quality gates ==", "  no checked run yet ($RECON_HOME/quality/history is empty)"]
    summary = report.get("summary") or {}
    # When the run happened; the business clock it checked against when that differs (RECON_AS_OF).
    when = f"run at {report['recorded_at']}" if report.get("recorded_at") else ""
    as_of = report.get("checked_at")
    # Compared to the second: checked_at keeps microseconds, recorded_at does not.
    pinned = str(as_of)[:19] != str(report.get("recorded_at"))[:19]
    when = f"{when}, as of {as_of}" if when and pinned else when or f"checked {as_of}"
    lines = [
        "",
        f"== Quality gates (run {str(report.get('run_id'))[:8]}, {when}; recon quality re-runs them) ==",
        f"  {summary.get('checks', 0)} checks: {summary.get('failed', 0)} failed or warned, "
        f"{summary.get('blocking', 0)} blocking",
    ]
    for check in report.get("checks") or []:
        baseline = (check.get("metadata") or {}).get("status") == "baseline"
        if check.get("passed") and not baseline:
            continue
        label = "ok" if check.get("passed") else "BLOCKS" if check.get("severity") == "error" else "warn"
        lines.append(f"  {label:<6} {check.get('asset')} {check.get('name')}")
        if check.get("description"):
            lines.append(f"         {check['description']}")
    return lines


def render_published() -> list[str | RenderableType]:
    """`recon status`: the published serving copy (what BI tools see)."""
    with reader(False, "recon status") as (source, con):
        return render(source, con)


def render(source: Source, con: duckdb.DuckDBPyConnection) -> list[str | RenderableType]:
    """`recon status` as lines and rich tables, in order; ``terminal.show`` prints them."""
    data = summary(con)
    blocks: list[str | RenderableType] = ["", f"reading the {source.describe()}"]
    blocks += source_blocks(data)
    if data.get("unreadable"):
        blocks += ["", "== Tables this version of recon cannot read (not shown below) =="]
        blocks += [f"  {name}: {why}" for name, why in data["unreadable"]]
        blocks += [
            "  written by another version of recon (an upgrade whose first run has not "
            + (
                "published yet): the next `recon run` that passes its gates publishes them again"
                if not source.working
                else "built yet): the next `recon run` builds them again"
            )
        ]
    if "match_rate" in data:
        active, cancelled = data["orders_active"], data["orders_cancelled"]
        blocks += [
            "",
            "== Orders ↔ invoices ==",
            f"  {data['orders_total']:,} orders: {active:,} active, {cancelled:,} cancelled "
            "(the tables list both, each in its own column)",
            f"  match rate: {data['match_rate']:.1%} of the {active:,} active orders have a matched invoice; "
            f"{data['orders_billed_in_full']:,} of the {active:,} billed in full (billing state billed)",
        ]
        blocks.append(table(_state_headers("billing state"), _state_rows(data["billing_states"]), indent=2))
    if "reconciliations" in data:
        blocks += ["", "== Reconciliations (records by state; see marts.fct_reconciliation_records) =="]
        headers = ["reconciliation", "side", "matched", "suggested", "ambiguous", "unmatched", "records"]
        blocks.append(table(headers, data["reconciliations"], indent=2))
        blocks += ["", "== Reconciled orders by completeness (every leg: booked, delivered, fulfilled, billed) =="]
        blocks.append(table(_state_headers("completeness"), _state_rows(data["completeness"]), indent=2))
    if "exceptions" in data:
        blocks += ["", "== Open exceptions, routed (recon exceptions list) =="]
        if data["exceptions"]:
            headers = ["type", "owner team", "severity", "count", "past SLA", "at risk (reporting ccy)"]
            rows = [(t, o, s, n, b, _money(a)) for t, o, s, n, b, a in data["exceptions"]]
            blocks.append(table(headers, rows, indent=2))
        else:
            blocks.append("  none")
        blocks += ["  by status: " + ", ".join(f"{s} {n:,}" for s, n in data["exception_states"])]
    if data.get("pending"):
        blocks += ["", "== Pending late data (not exceptions yet: the source is inside its grace window) =="]
        blocks.append(table(["awaits source", "breaks", "first grace ends"], data["pending"], indent=2))
    from orchestration import quality
    from orchestration.settings import warehouse_path

    blocks += quality_lines(quality.latest_report())
    blocks += ["", *publication_lines()]
    blocks += [
        f"working warehouse: {warehouse_path()}  (only runs open it; `recon status --working` reads it between runs)",
        f"open the Dagster UI: {DAGSTER_UI}",
        'query the results:  .venv/bin/recon query "select * from marts.fct_reconciled_orders limit 10"',
    ]
    return blocks


def _capped(lines: list[str], where_the_rest_are: str = "") -> list[str]:
    """The first DUPLICATES_SHOWN lines of a file list, and how many more (and where to see them)."""
    more = len(lines) - DUPLICATES_SHOWN
    return lines[:DUPLICATES_SHOWN] + ([f"  … and {more} more{where_the_rest_are}"] if more > 0 else [])


def source_blocks(data: dict) -> list[str | RenderableType]:
    """The raw layer part of `recon status`: current files per source, what restatements
    superseded (kept in raw, not counted), rejected files and quarantined rows."""
    blocks: list[str | RenderableType] = ["", "== Sources (raw layer; current files, a restated file counted once) =="]
    if not data["has_ingestion"]:
        blocks += ["  not in this publication (published before the ingestion log was); the next run publishes it"]
    else:
        headers = ["source", "entity", "files", "rejected", "rows read", "loaded", "quarantined", "rejected rows"]
        blocks.append(table(headers, data["sources"], indent=2))
    if data.get("superseded"):
        blocks += [
            "",
            "== Superseded by restatements (earlier versions of restated files: kept in raw, not counted above, "
            "not read by staging) ==",
        ]
        headers = ["source", "entity", "files", "rows read", "loaded", "quarantined"]
        blocks.append(table(headers, data["superseded"], indent=2))
    if data["rejected_files"]:
        blocks += ["", "== Rejected files (nothing loaded; fix and re-drop) =="]
        blocks += [f"  {msg}" for _, msg in data["rejected_files"]]
    duplicates = data.get("duplicate_files") or []
    if duplicates:
        blocks += [
            "",
            f"== Duplicate files: {len(duplicates)} skipped (the same bytes as a loaded file; nothing loaded, "
            "not counted above) ==",
        ]
        blocks += _capped(
            [f"  {copy}: copy of {original} (batch {batch})" for copy, original, batch in duplicates],
            ': recon query "select source_file, duplicate_of_batch_id from raw.ingestion_log '
            "where status = 'duplicate'\"",
        )
        blocks.append("  delete the copies: their rows are loaded from the original")
    missing = data.get("missing_files") or []
    if missing:
        blocks += [
            "",
            f"== Loaded files no longer in landing: {len(missing)} (their rows stay loaded and current, "
            "counted above) ==",
        ]
        blocks += _capped([f"  {path}  ({rows:,} rows loaded)" for path, rows in missing])
        blocks.append(
            "  archiving a loaded file is fine; to take its rows back, re-drop it at the same path without them "
            "(a restatement)"
        )
    blocks += [
        "",
        "== Quarantined rows by reason, current files (see raw.quarantine for file, row and original value) ==",
    ]
    if data["quarantine_reasons"]:
        blocks.append(table(["entity", "column", "reason", "rows"], data["quarantine_reasons"], indent=2))
        more, more_rows = data.get("quarantine_reasons_more") or (0, 0)
        if more > 0:
            blocks.append(
                f'  … and {more} more reason(s) for {more_rows:,} row(s): recon query "select source, entity, '
                'column_name, reason, count(*) from raw.quarantine group by all order by 5 desc"'
            )
    else:
        blocks.append("  none")
    return blocks


def _state_headers(state: str) -> list[str]:
    return [state, "active orders", "cancelled orders", "booked, active orders (reporting ccy)"]


def _state_rows(rows: list[tuple]) -> list[tuple]:
    return [(s, active, cancelled, _money(a)) for s, active, cancelled, a in rows]


def _money(amount) -> str:
    return f"{amount:,.2f}" if amount is not None else ""


QUARANTINE_REASONS_SHOWN = 12
DUPLICATES_SHOWN = 10


def last_run_lines(published: dict | None) -> list[str]:
    """The latest run, when it ended without publishing: BI still sees the last good copy."""
    from orchestration import alerts

    last = alerts.last_run()
    if not last or last.get("succeeded") or (published and published.get("run_id") == last.get("run_id")):
        return []
    kept = f"publication {published['publication']}" if published else "nothing published yet"
    if last.get("refused") and isinstance(last.get("lock_held"), dict):
        return lock_held_lines(last, kept)
    if last.get("refused"):
        why = (last.get("error") or "see recon run").splitlines()[0][:500]
        return [
            f"LAST RUN REFUSED at {last.get('finished_at')} before it started: {why}. Nothing ran; readers still "
            f"see {kept}. Fix it and run again (recon run)."
        ]
    why = (
        "blocked by " + ", ".join(last["blocking_checks"])
        if last.get("blocking_checks")
        else (last.get("error") or "see the Dagster run log").splitlines()[0][:200]
    )
    return [
        f"LAST RUN FAILED: run {str(last.get('run_id'))[:8]} at {last.get('finished_at')}: {why}. "
        f"Nothing new was published; readers still see {kept}. Fix it and run again (recon run)."
    ]


def lock_held_lines(last: dict, kept: str) -> list[str]:
    """The latest run was refused by a holder of the warehouse lock past RECON_LOCK_MAX_HOLD_SECONDS:
    who (run, pid, host), since when, and whether it still holds the lock now."""
    from orchestration import lock

    held = last["lock_held"]
    where = f" on host {held['host']}" if held.get("host") else ""
    lines = [
        f"LAST RUN REFUSED at {last.get('finished_at')}: {lock.describe_run(held)} {lock.HELD_MARK} "
        f"{held.get('since')} ({lock.span(float(held.get('held_seconds') or 0))} then), longer than "
        f"{lock.span(float(held.get('limit_seconds') or 0))} ({lock.MAX_HOLD_ENV}); pid {held.get('pid')}{where}. "
        f"It may be hung. Nothing ran; readers still see {kept}."
    ]
    now = lock.current_holder() or {}
    if (now.get("pid"), now.get("since")) == (held.get("pid"), held.get("since")):
        pid = held.get("pid")
        lines.append(
            f"  it still holds the lock: check it (`ps -o pid,etime,args -p {pid}`); if it is stuck, `kill {pid}` "
            f"(`kill -9 {pid}` if it does not end): the next run cleans up after it. recon never takes the lock "
            "from a live process."
        )
    else:
        lines.append("  it no longer holds the lock: the next run goes ahead (recon run).")
    return lines


def publication_lines() -> list[str]:
    """Which file BI tools open, and whether it is still what was published."""
    published = publish.current()
    if published is None:
        return [
            *last_run_lines(None),
            "for BI tools: nothing published yet: a run publishes when its blocking checks pass",
        ]
    lines = [
        *last_run_lines(published),
        f"for BI tools (open read-only): {publish.serving_path()}  "
        f"({published['publication']}, run {published['run_id'][:8]})",
    ]
    check = publish.verify(quick=True)
    if check["ok"] is None:
        lines.append("  sha256: not recorded for this publication (the next run records it)")
    elif check["ok"]:
        exports = "and Parquet exports " if check["exports_recorded"] else "(Parquet exports not recorded) "
        how = (
            " (not written since: size, times and inode as published; `recon publication verify` reads every byte)"
            if check["quick"]
            else ""
        )
        lines.append(
            f"  sha256 {check['recorded'][:16]}…: serving copy, archive {exports}unchanged since publication{how}"
        )
    else:
        for path, state in check["files"].items():
            if state != "ok":
                note = f" ({check['notes'][path]})" if path in check["notes"] else ""
                lines.append(
                    f"  WARNING: {path} is {state}{note} since publication: do not report from it; "
                    "`recon publication verify` lists what changed, `recon run --full-refresh` publishes again"
                )
    return lines


def check_read_statement(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Refuse anything but one read statement (READ_PRAGMAS, DuckDB's SELECT type)."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise ReaderError(f"SQL error: {_first_line(exc)}", EXIT_SQL_ERROR) from exc
    if len(statements) != 1:
        raise ReaderError(f"refused: one statement at a time, got {len(statements)}", EXIT_REFUSED)
    statement = statements[0]
    if statement.type == duckdb.StatementType.SELECT:
        return
    if statement.type == duckdb.StatementType.PRAGMA:
        found = re.match(r"\s*pragma\s+(\w+)", statement.query, re.IGNORECASE)
        if found and found.group(1).lower() in READ_PRAGMAS:
            return
    if statement.type == duckdb.StatementType.MULTI and re.search(r"\bpivot\b", statement.query, re.IGNORECASE):
        # DuckDB reads the values first and creates a type for them: a write on a read-only copy.
        raise ReaderError(
            "refused: a PIVOT without its values is several statements (DuckDB creates a type for the values it "
            "finds); name them and it is one read: PIVOT t ON col IN ('a', 'b') USING sum(x)",
            EXIT_REFUSED,
        )
    raise ReaderError(
        f"refused: {statement.type.name} statement; recon query only reads (SELECT, WITH, FROM, VALUES, "
        f"DESCRIBE, SHOW, SUMMARIZE, PRAGMA {'/'.join(READ_PRAGMAS)})",
        EXIT_REFUSED,
    )


def query(con: duckdb.DuckDBPyConnection, sql: str, limit: int = 50) -> tuple[RenderableType, bool]:
    """Run one read statement on a hardened connection: up to ``limit`` rows as a table,
    and whether more rows followed (the caller says so: rows are never dropped silently).

    No rule under the header: scripts read the header on line 1 and row N on line N + 1.
    """
    check_read_statement(con, sql)
    try:
        cur = con.execute(sql)
        headers = [d[0] for d in cur.description] if cur.description else []
        rows = cur.fetchmany(limit + 1)
    except duckdb.Error as exc:
        raise ReaderError(f"SQL error: {_first_line(exc)}", EXIT_SQL_ERROR) from exc
    more = len(rows) > limit
    return (table(headers, rows[:limit], rule=False) if headers else "ok"), more
