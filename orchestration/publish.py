"""Write–audit–publish: the read-only serving copy BI tools and operators read.

The pipeline builds in the working warehouse. Only after the blocking checks pass does
the ``publication`` asset copy the marts into a new DuckDB file (and Parquet files) under
``$RECON_HOME/publications/``, then switch to it with one atomic rename:

* ``publications/serving.duckdb`` — what readers open (read-only). It is replaced by
  ``os.replace`` of a finished file, so a reader sees the previous good publication or
  the new one, never a half-written file, and never touches the working warehouse or its
  writer lock. A reader that already has the old file open keeps reading it.
* ``publications/parquet`` — a symlink, switched the same way, to the publication's
  Parquet exports (one file per mart).
* ``publications/current.json`` — what is published: run, code version, rule versions,
  checks, row counts, and the sha256 of the published file.

The serving file is a copy of the archived ``publications/<name>/warehouse.duckdb``, not a
hard link: file modes do not stop the owner from opening it read-write, and a change to a
hard-linked serving file would land in the archive too. Both are read-only files whose
sha256 is recorded, so ``recon publication verify`` (and ``recon status``) tell when
either was changed after publication.

A publication is complete once its ``publication.json`` (the completion marker, written
after the DuckDB file and the Parquet exports are finished) exists. Pruning counts only
complete publications and deletes what a killed publish left behind.

A failed check or build never reaches this module, so the last good publication stays.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import pwd
import shutil
import stat
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from orchestration.settings import PROJECT_DIR, env_number, publications_dir, serving_path
from orchestration.warehouse import open_writer

PUBLISHED_SCHEMAS = ("marts",)
# Working-warehouse tables readers need besides the marts: `recon status` shows the files
# loaded and rejected and why rows were quarantined, and only a run opens the working
# warehouse.
PUBLISHED_TABLES = ("raw.ingestion_log", "raw.quarantine", "raw.batch_supersessions")
KPI_HISTORY = "rpt_kpi_history"  # marts.rpt_kpi_history: carried from publication to publication
KEEP = 5  # complete publications kept on disk, the current one included
MARKER = "publication.json"  # written last: a publication directory without it is half-built


def code_version() -> dict:
    """The git commit the code runs from, and whether the work tree differs from it."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=PROJECT_DIR, capture_output=True, text=True, check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    sha = git("rev-parse", "HEAD")
    return {"git_sha": sha or "unknown", "dirty": bool(git("status", "--porcelain")) if sha else None}


def sha256_of(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def stamp_of(path: Path) -> list[int]:
    """[size, mtime_ns, ctime_ns, inode, device] of a published file.

    The kernel sets ctime on every write, truncate, chmod and rename, and no call sets it
    back (``touch -d`` sets mtime only), so a file whose stamp is the one recorded at
    publication has not been written since. `recon status` trusts it instead of reading
    3 GB at 1M orders; `recon publication verify` reads every byte.
    """
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]


def current() -> dict | None:
    """What is published now (``current.json``), or None before the first publication."""
    path = publications_dir() / "current.json"
    return json.loads(path.read_text()) if path.exists() else None


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _atomic_symlink(link: Path, target: Path) -> None:
    tmp = link.with_name(f".{link.name}.tmp")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    os.replace(tmp, link)


def serving_wal(serving: Path | None = None) -> Path:
    """The write-ahead log DuckDB keeps beside ``serving`` when a process opens it read-write."""
    return Path(f"{serving or serving_path()}.wal")


def set_aside_serving_wal(now: datetime | None = None) -> str | None:
    """Move a write-ahead log beside the serving copy out of readers' way; say where (None: none there).

    Readers open the serving copy read-only, which never writes a log, and a publication is
    written whole. A log there is a process that opened the copy read-write (a DuckDB CLI
    without ``-readonly``, as root whom the file's mode does not stop) and wrote. Once a
    publication replaced that file, or the process was killed, no reader can open the serving
    copy at all ("WAL does not match database file"). The log is kept, renamed, not deleted.
    """
    wal = serving_wal()
    if not wal.exists():
        return None
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")
    aside = wal.with_name(f"{wal.name}.set-aside-{stamp}")
    os.replace(wal, aside)
    return (
        f"set aside {aside}: a process opened the serving copy read-write and left this write-ahead log, which "
        "stops every reader opening the serving copy; BI tools open it read-only"
    )


def publish(warehouse: Path, run_id: str, details: dict, now: datetime | None = None) -> dict:
    """Copy the marts of ``warehouse`` into a new publication and make it the serving copy.

    ``details`` (rule versions, checks, input batches, …) is stored with the publication.
    Returns the publication record written to ``current.json``.
    """
    now = now or datetime.now(UTC)
    root = publications_dir()
    root.mkdir(parents=True, exist_ok=True)
    name = f"{now.strftime('%Y%m%dT%H%M%SZ')}-{run_id[:8]}"
    building = root / f".{name}.building.duckdb"
    # What a failed or killed publish left (its file and write-ahead log): only one run
    # publishes at a time (the warehouse lock), so none of it is in use. Cleared first, or a
    # disk filled by them could never be freed by the publication that prunes them.
    for leftover in root.glob(".*.building.duckdb*"):
        leftover.unlink(missing_ok=True)
    parquet_dir = root / name / "parquet"
    parquet_dir.mkdir(parents=True, exist_ok=True)
    con = open_writer(building)
    # The marts are sets, as in the dbt profile: copied and exported in parallel, out of
    # insertion order (docs/benchmarks.md, "Publication out of insertion order").
    con.execute("set preserve_insertion_order = false")
    row_counts: dict[str, int] = {}
    exported: dict[str, str] = {}  # Parquet file name -> the table it exports
    try:
        con.execute("attach ? as working (read_only)", [str(warehouse)])
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables() "
            "where database_name = 'working' "
            "and (list_contains(?, schema_name) or list_contains(?, schema_name || '.' || table_name)) "
            "order by 1, 2",
            [list(PUBLISHED_SCHEMAS), list(PUBLISHED_TABLES)],
        ).fetchall()
        for schema in sorted({schema for schema, _ in tables} | set(PUBLISHED_SCHEMAS)):
            con.execute(f'create schema if not exists "{schema}"')
        for schema, table in tables:
            # Identifiers come from DuckDB's own catalog, quoted; values are parameters.
            con.execute(f'create table "{schema}"."{table}" as select * from working."{schema}"."{table}"')
            row_counts[f"{schema}.{table}"] = con.execute(f'select count(*) from "{schema}"."{table}"').fetchall()[0][0]
            stem = table if schema in PUBLISHED_SCHEMAS else f"{schema}__{table}"
            con.execute(
                f'copy "{schema}"."{table}" to ? (format parquet, compression zstd)',
                [str(parquet_dir / f"{stem}.parquet")],
            )
            exported[f"{stem}.parquet"] = f"{schema}.{table}"
        row_counts[f"marts.{KPI_HISTORY}"], kpi_history_note = append_kpis(con, name, run_id, now, previous=current())
        con.execute(
            f'copy marts."{KPI_HISTORY}" to ? (format parquet, compression zstd)',
            [str(parquet_dir / f"{KPI_HISTORY}.parquet")],
        )
        exported[f"{KPI_HISTORY}.parquet"] = f"marts.{KPI_HISTORY}"
        # What `recon publication verify` checks the exports against: the files are finished here.
        exports = {
            file: {"table": table, "rows": row_counts[table], "sha256": sha256_of(parquet_dir / file)}
            for file, table in sorted(exported.items())
        }
        lineage = copy_lineage(con, {(schema, table) for schema, table in tables})
        described = describe(con, tables + [("marts", KPI_HISTORY)])
        record = {
            "publication": name,
            "run_id": run_id,
            "published_at": now.isoformat(),
            "code_version": code_version(),
            "row_counts": row_counts,
            "exports": exports,
            "described_columns": described,
            "lineage": lineage,
            **({"kpi_history_note": kpi_history_note} if kpi_history_note else {}),
            **details,
        }
        con.execute("create schema if not exists publication")
        con.execute("create table publication.info (key varchar, value json)")
        for key, value in record.items():
            con.execute("insert into publication.info values (?, ?)", [key, json.dumps(value, default=str)])
        con.execute("detach working")
        con.execute("checkpoint")
    except BaseException:
        con.close()
        for left in (building, Path(f"{building}.wal")):
            left.unlink(missing_ok=True)
        shutil.rmtree(root / name, ignore_errors=True)
        raise
    con.close()
    read_only = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
    final = root / name / "warehouse.duckdb"
    os.replace(building, final)
    final.chmod(read_only)
    for exported in parquet_dir.iterdir():
        exported.chmod(read_only)
    # The serving file is a copy, not a hard link to the archive: whoever opens it
    # read-write changes only the copy, and the recorded hash shows it.
    staged = root / ".serving.duckdb.next"
    staged.unlink(missing_ok=True)
    shutil.copyfile(final, staged)
    staged.chmod(read_only)
    record["path"] = str(final)
    record["sha256"] = sha256_of(final)
    _atomic_write(root / name / MARKER, json.dumps(record, indent=2, default=str))  # complete from here on
    # A log a read-write session left beside the serving copy belongs to the file replaced
    # here: beside the new one it would stop every reader. Moved aside first.
    wal_note = set_aside_serving_wal(now)
    # The switch: one rename each; readers see the old or the new publication.
    os.replace(staged, serving_path())
    _atomic_symlink(root / "parquet", Path(name) / "parquet")
    # Taken last (a rename sets ctime): what a quick verify compares without reading the files.
    record["stamps"] = {
        str(path): stamp_of(path)
        for path in (serving_path(), final, *(root / "parquet" / file for file in record.get("exports") or {}))
    }
    if wal_note:
        record["after_publication_note"] = wal_note
    _atomic_write(root / "current.json", json.dumps(record, indent=2, default=str))
    # Published from here on: what follows is bookkeeping, and its failure (a history file left
    # owned by root by an earlier `sudo recon run`) is said, not reported as "nothing published".
    history = root / "history.jsonl"
    try:
        with open(history, "a") as fh:
            fh.write(
                json.dumps({k: record[k] for k in ("publication", "run_id", "published_at", "code_version")}) + "\n"
            )
        _prune(root, keep=name)
    except OSError as exc:
        record["after_publication_note"] = (
            f"published {name}, but {exc.filename or history} could not be written ({exc.strerror or exc}): "
            "the publication history or the pruning of old publications is behind; fix that file's owner or mode"
        )
    return record


# An error that says the publications directory cannot be written: its owner or mode, an
# immutable attribute, a read-only mount. Not transient, so not worth a retry. DuckDB's
# own errors (the building file) carry the words, not the errno.
NOT_WRITABLE_ERRNOS = (errno.EACCES, errno.EPERM, errno.EROFS)
NOT_WRITABLE_WORDS = ("permission denied", "operation not permitted", "read-only file system")


def not_writable_message(exc: BaseException) -> str | None:
    """What to tell the operator when ``exc`` (or what caused it) is a refused write; else None."""
    root = publications_dir()
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in NOT_WRITABLE_ERRNOS:
            what = f"{exc.strerror or type(exc).__name__}: {exc.filename or root}"
            break
        first = (str(exc).strip().splitlines() or [""])[0]
        if any(word in first.lower() for word in NOT_WRITABLE_WORDS):
            what = first
            break
        exc = exc.__cause__ or exc.__context__
    else:
        return None
    try:
        user = pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        user = f"uid {os.geteuid()}"
    try:
        published = current()
    except (OSError, ValueError):  # current.json unreadable too: the directory is what to fix
        published = None
    kept = f"the last good publication {published['publication']}" if published else "the last good publication"
    return (
        f"the publications directory {root} is not writable by {user}, who runs recon ({what}): fix its owner "
        f"and permissions (e.g. `chown -R {user} {root}` and `chmod u+rwx {root}`; `lsattr -d {root}` shows an "
        f"immutable attribute, `findmnt -T {root}` a read-only mount), then run `recon run --full-refresh`. "
        f"Nothing was published; readers keep {kept}."
    )


def restore_serving_copy() -> str | None:
    """Put the serving copy back from the current publication's archive when it is missing
    or not the archive's size (deleted, truncated): a quiet night publishes nothing, so it
    would otherwise stay broken until something new arrived. Only an archive whose sha256 is
    the one recorded is copied. Returns what was done (None when nothing was needed).
    Runs call it under the warehouse lock; a same-size change is `recon publication verify`'s."""
    record = current()
    if not record or not record.get("path"):
        return None
    archive, serving = Path(record["path"]), serving_path()
    wal = serving_wal(serving)
    if (
        serving.is_file()
        and archive.is_file()
        and serving.stat().st_size == archive.stat().st_size
        and not wal.exists()
    ):
        return None
    if not archive.is_file() or (record.get("sha256") and sha256_of(archive) != record["sha256"]):
        return (
            f"the serving copy {serving} is missing or damaged and so is its archive {archive}: "
            "run `recon run --full-refresh` to publish again from the working warehouse"
        )
    staged = serving.parent / ".serving.duckdb.next"
    staged.unlink(missing_ok=True)
    shutil.copyfile(archive, staged)
    staged.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    # A log left by a read-write session: the file it belongs to (written or not) is replaced too.
    wal_note = set_aside_serving_wal()
    os.replace(staged, serving)
    if record.get("stamps"):
        # The copy of a verified archive, stamped anew: else every `recon status` until the
        # next publication (quiet nights publish nothing) would hash it again.
        record["stamps"][str(serving)] = stamp_of(serving)
        _atomic_write(publications_dir() / "current.json", json.dumps(record, indent=2, default=str))
    restored = f"restored the serving copy {serving} from the archive of publication {record['publication']}"
    return f"{restored}; {wal_note}" if wal_note else restored


KPI_COLUMNS = """
    published_at timestamptz not null,
    publication varchar not null,
    run_id varchar not null,
    reconciliation varchar not null,
    side varchar not null,
    kpi varchar not null,
    kpi_value decimal(38, 6),  -- a rate (0..1), a count, or money in reporting_currency
    reporting_currency varchar
"""


def reporting_currency() -> str:
    """The currency every *_reporting amount is in (dbt_project.yml vars.reporting_currency)."""
    import yaml

    doc = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())
    return str(doc.get("vars", {}).get("reporting_currency", "USD"))


def append_kpis(con, name: str, run_id: str, now: datetime, previous: dict | None) -> tuple[int, str | None]:
    """Build ``marts.rpt_kpi_history``: the previous publication's rows, then this one's KPIs.

    The marts are rebuilt at every run, so a trend has to be carried: each publication
    copies the history of the one it replaces (its archived, read-only file) and appends
    one row per KPI, reconciliation ("all" for the whole) and side ("all" when none). A
    BI tool plots ``kpi_value`` over ``published_at``.

    The archive missing or unreadable, the history comes from the serving copy (a copy of
    it); both gone, it starts again here, and the note says so. Returns the table's row
    count and that note (None when the history was carried)."""
    con.execute(f'create table marts."{KPI_HISTORY}" ({KPI_COLUMNS})')
    note = None
    if previous and previous.get("path"):  # else the first publication
        archive = Path(previous["path"])
        if _carry_kpis(con, archive):
            pass
        elif _carry_kpis(con, serving_path()):
            note = f"rpt_kpi_history carried from the serving copy: the archive {archive} is missing or unreadable"
        else:
            note = (
                f"rpt_kpi_history starts again with this publication: neither the archive {archive} nor the "
                "serving copy could be read"
            )
    tables = {
        r[0] for r in con.execute("select table_name from duckdb_tables() where schema_name = 'marts'").fetchall()
    }
    stamp = [now, name, run_id]
    currency = reporting_currency()
    if "rpt_reconciliation_performance" in tables:
        con.execute(
            f"""
            insert into marts."{KPI_HISTORY}"
            select ?, ?, ?, reconciliation, side, unnest(['records', 'match_rate', 'auto_match_rate']),
                   unnest([sum(records)::decimal(38, 6), sum(matched) / nullif(sum(records), 0),
                           sum(auto_matched) / nullif(sum(records), 0)]), null
            from marts.rpt_reconciliation_performance
            group by reconciliation, side
            """,
            stamp,
        )
    if "fct_exception_current" in tables:
        con.execute(
            f"""
            insert into marts."{KPI_HISTORY}"
            select ?, ?, ?, 'all', 'all', unnest(['open_exceptions', 'sla_breaches', 'amount_at_risk']),
                   unnest([count(*)::decimal(38, 6), count(*) filter (where is_breached)::decimal(38, 6),
                           coalesce(sum(amount_at_risk_reporting), 0)::decimal(38, 6)]),
                   unnest([null, null, ?])
            from marts.fct_exception_current
            where not is_closed
            """,
            [*stamp, currency],
        )
    return con.execute(f'select count(*) from marts."{KPI_HISTORY}"').fetchall()[0][0], note


def _carry_kpis(con, source: Path) -> bool:
    """Copy the KPI history of the publication file ``source`` into this one; False when the
    file is missing or cannot be read as a publication."""
    import duckdb

    if not source.is_file():
        return False
    try:
        con.execute("attach ? as previous (read_only)", [str(source)])
    except duckdb.Error:
        return False
    try:
        has = con.execute(
            "select count(*) from duckdb_tables() where database_name = 'previous' "
            "and schema_name = 'marts' and table_name = ?",
            [KPI_HISTORY],
        ).fetchall()[0][0]
        if has:
            con.execute(f'insert into marts."{KPI_HISTORY}" select * from previous.marts."{KPI_HISTORY}"')
        return True
    except duckdb.Error:
        con.execute(f'delete from marts."{KPI_HISTORY}"')
        return False
    finally:
        con.execute("detach previous")


# Lineage: the raw rows, staging and the intermediate record models `recon trace` reads, so
# the desk's exception page traces a record to its file and row from the serving copy.
# Copied whole (no Parquet), and only below a size: past it the copy would cost more than
# it serves, and the trace says to run `recon trace` between runs instead.
LINEAGE_SCHEMAS = ("raw", "staging")
LINEAGE_TABLES = (
    "intermediate.int_invoice_billing_items",
    "intermediate.int_invoice_lines_billable",
    "intermediate.int_ads_campaigns",
    "intermediate.int_fulfilment_projects",
)


def lineage_max_rows() -> int:
    """RECON_PUBLISH_LINEAGE_MAX_ROWS (default 5,000,000), read when a publication copies lineage."""
    return int(env_number("RECON_PUBLISH_LINEAGE_MAX_ROWS", 5_000_000, 0, 10**12))


def copy_lineage(con, published: set[tuple[str, str]]) -> dict:
    """Copy the lineage relations from ``working`` unless they hold more than lineage_max_rows() rows."""
    max_rows = lineage_max_rows()
    wanted = con.execute(
        "select schema_name, table_name, estimated_size from duckdb_tables() where database_name = 'working' "
        "and (list_contains(?, schema_name) or list_contains(?, schema_name || '.' || table_name)) order by 1, 2",
        [list(LINEAGE_SCHEMAS), list(LINEAGE_TABLES)],
    ).fetchall()
    wanted = [(schema, table, size) for schema, table, size in wanted if (schema, table) not in published]
    rows = sum(size or 0 for _, _, size in wanted)
    if rows > max_rows:
        return {"published": False, "rows": rows, "reason": f"over RECON_PUBLISH_LINEAGE_MAX_ROWS={max_rows}"}
    for schema in sorted({schema for schema, _, _ in wanted}):
        con.execute(f'create schema if not exists "{schema}"')
    for schema, table, _ in wanted:  # identifiers from DuckDB's catalog, quoted
        con.execute(f'create table "{schema}"."{table}" as select * from working."{schema}"."{table}"')
    return {"published": True, "rows": rows, "tables": len(wanted)}


KPI_HISTORY_DOCS = {
    "": "KPIs of every publication, appended at each (the trend the dashboard plots). One row per KPI, "
    "reconciliation and side.",
    "published_at": "When the publication was made (UTC).",
    "publication": "The publication's name (publications/<name>).",
    "run_id": "The Dagster run that built it.",
    "reconciliation": "The reconciliation, or 'all' for a KPI of the whole.",
    "side": "left or right side of the reconciliation, or 'all'.",
    "kpi": "records, match_rate, auto_match_rate; open_exceptions, sla_breaches, amount_at_risk.",
    "kpi_value": "The KPI's value: a rate from 0 to 1, a count, or money in reporting_currency.",
    "reporting_currency": "The currency of kpi_value when the KPI is money (amount_at_risk), else empty.",
}


def _sql_string(text: str) -> str:
    """A SQL string literal: ``COMMENT ON`` takes no parameters, so descriptions are quoted here.

    DuckDB's literals have no backslash escapes; doubling the quote is the whole escape.
    Control characters are dropped and the length bounded, so a description is one line of text.
    """
    clean = "".join(ch if ch >= " " else " " for ch in str(text)).strip()[:4000]
    return "'" + clean.replace("'", "''") + "'"


def describe(con, tables: list[tuple[str, str]]) -> int:
    """Carry dbt's descriptions into the publication as table and column comments.

    A BI tool pointed at ``serving.duckdb`` then shows what each column means. Descriptions
    come from the manifest (models in marts, sources in raw) and, for rpt_kpi_history, from
    this module. Returns the number of columns described.
    """
    manifest_path = PROJECT_DIR / "target" / "manifest.json"
    docs: dict[tuple[str, str], dict] = {}
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        for node in [*manifest.get("nodes", {}).values(), *manifest.get("sources", {}).values()]:
            if node.get("resource_type") == "model":
                key = (node.get("schema"), node.get("alias") or node["name"])
            elif node.get("resource_type") == "source":
                key = (node.get("schema"), node.get("identifier") or node["name"])
            else:
                continue
            columns = {c: (v.get("description") or "") for c, v in (node.get("columns") or {}).items()}
            docs[key] = {"": node.get("description") or "", **columns}
    docs[("marts", KPI_HISTORY)] = KPI_HISTORY_DOCS
    described = 0
    for schema, table in tables:
        doc = docs.get((schema, table))
        if not doc:
            continue
        present = {
            r[0]
            for r in con.execute(
                "select column_name from duckdb_columns() where database_name = current_database() "
                "and schema_name = ? and table_name = ?",
                [schema, table],
            ).fetchall()
        }
        if doc.get(""):
            con.execute(f'comment on table "{schema}"."{table}" is {_sql_string(doc[""])}')
        for column, text in doc.items():
            if column and text and column in present:
                con.execute(f'comment on column "{schema}"."{table}"."{column}" is {_sql_string(text)}')
                described += 1
    return described


def _is_complete(root: Path, name: str, listed: set[str]) -> bool:
    """Finished and switched to once: the marker, or (publications made before markers
    existed) the DuckDB file of a publication that history.jsonl lists."""
    folder = root / name
    return (folder / MARKER).is_file() or (name in listed and (folder / "warehouse.duckdb").is_file())


def _listed(root: Path) -> set[str]:
    history = root / "history.jsonl"
    if not history.exists():
        return set()
    return {json.loads(line)["publication"] for line in history.read_text().splitlines() if line.strip()}


def _prune(root: Path, keep: str) -> None:
    """Keep the newest KEEP complete publications (and always ``keep``, the current one).

    Runs under the writer lock, after ``keep`` is switched to, so any other half-built
    directory or ``.building`` file is what a killed publish left: delete it. Only
    complete publications count towards KEEP, so a broken one never displaces a good one.
    """
    listed = _listed(root)
    names = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name[:8].isdigit())
    complete = [n for n in names if n == keep or _is_complete(root, n, listed)]
    for broken in sorted(set(names) - set(complete)):
        shutil.rmtree(root / broken, ignore_errors=True)
    for leftover in root.glob(".*.building.duckdb*"):
        leftover.unlink(missing_ok=True)
    for old in complete[:-KEEP]:
        if old != keep:
            shutil.rmtree(root / old, ignore_errors=True)


def archived_anchors() -> list[tuple[str, dict]]:
    """(publication, audit anchor) of every complete publication kept on disk, oldest first.

    Each archive's ``publication.json`` keeps the anchor its run recorded; ``recon audit
    verify`` checks the log against all of them, and ``current.json`` against its own, so
    editing one JSON file no longer makes a rewritten log verify.
    """
    root = publications_dir()
    if not root.exists():
        return []
    listed = _listed(root)
    out = []
    for name in sorted(p.name for p in root.iterdir() if p.is_dir() and p.name[:8].isdigit()):
        marker = root / name / MARKER
        if not _is_complete(root, name, listed) or not marker.is_file():
            continue
        try:
            anchor = json.loads(marker.read_text()).get("audit_anchor")
        except (OSError, ValueError):
            continue
        if anchor:
            out.append((name, anchor))
    return out


def verify(quick: bool = False) -> dict:
    """Compare the serving copy, the archived publication and its Parquet exports with the
    sha256 recorded at publication.

    Returns ``{"publication", "recorded", "files": {path: "ok" | "modified" | "missing" |
    "added"}, "notes": {path: text}, "exports_recorded", "ok"}``; ``None`` values when
    nothing is published or no hash was recorded (a publication made before hashes were,
    until the next run publishes). Exports are checked where BI tools read them
    (``publications/parquet/``); a publication made before exports were recorded has
    ``exports_recorded`` False and only its DuckDB files checked. ``notes`` says how many
    rows a modified export holds against the rows published.

    ``quick``: a file whose stamp (``stamp_of``) is the one recorded at publication counts
    as unchanged without being read; any other is hashed. ``"quick"`` in the result says
    whether every file was settled that way.
    """
    record = current()
    if record is None:
        return {"publication": None, "recorded": None, "files": {}, "notes": {}, "exports_recorded": False, "ok": None}
    recorded = record.get("sha256")
    files: dict[str, str] = {}
    notes: dict[str, str] = {}
    stamps = (record.get("stamps") or {}) if quick else {}
    hashed = 0

    def same(path: Path, sha: str | None) -> bool:
        nonlocal hashed
        if stamps.get(str(path)) is not None and stamps[str(path)] == stamp_of(path):
            return True
        hashed += 1
        return sha256_of(path) == sha

    if recorded:
        for path in (serving_path(), Path(record["path"])):
            if not path.exists():
                files[str(path)] = "missing"
            else:
                files[str(path)] = "ok" if same(path, recorded) else "modified"
        wal = serving_wal()
        if wal.exists():  # no reader can open the serving copy while it is there (set_aside_serving_wal)
            files[str(wal)] = "added"
            notes[str(wal)] = (
                "a write-ahead log: a process opened the serving copy read-write; readers cannot open it while "
                "this is here"
            )
    exports = record.get("exports")
    if recorded and exports is not None:
        folder = publications_dir() / "parquet"
        for file, meta in sorted(exports.items()):
            path = folder / file
            if not path.is_file():
                files[str(path)] = "missing"
            elif same(path, meta.get("sha256")):
                files[str(path)] = "ok"
            else:
                files[str(path)] = "modified"
                notes[str(path)] = _parquet_rows_note(path, meta.get("rows"))
        # A file BI tools would read with parquet/*.parquet that the publication never wrote.
        if folder.is_dir():
            for path in sorted(folder.glob("*.parquet")):
                if path.name not in exports:
                    files[str(path)] = "added"
    return {
        "publication": record["publication"],
        "recorded": recorded,
        "files": files,
        "notes": notes,
        "exports_recorded": exports is not None,
        "ok": all(v == "ok" for v in files.values()) if recorded else None,
        "quick": bool(recorded) and hashed == 0,
    }


def _parquet_rows_note(path: Path, published_rows: int | None) -> str:
    """How many rows a changed export holds now, against the rows published."""
    import pyarrow.parquet as pq

    try:
        rows = pq.read_metadata(path).num_rows
    except Exception:  # any unreadable file is reported the same way
        return "not a readable Parquet file"
    return f"{rows:,} rows; {published_rows:,} published" if published_rows is not None else f"{rows:,} rows"
