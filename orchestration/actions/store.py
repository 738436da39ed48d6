"""The SQLite action store: the append-only, hash-chained log and the exception catalog."""

from __future__ import annotations

import copy
import fcntl
import hashlib
import json
import sqlite3
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

from orchestration import identity
from orchestration.actions.bounds import amount_text, check_id_prefix, check_inputs, check_text, parse_amount
from orchestration.actions.core import (
    ACTIONS,
    GENESIS,
    HASHED_FIELDS,
    MAX_CODE_CHARS,
    OPTIONAL_HASHED_FIELDS,
    PIPELINE_ACTOR,
    PIPELINE_REASONS,
    STORED_FIELDS,
    ActionError,
    Conflict,
    InvalidInput,
    NotFound,
    ahead_of_real_time,
    as_of_pinned,
    check_store_file,
    missing_store,
    store_path,
    utc_now,
    wall_clock,
)
from orchestration.actions.policy import Operator, Policy
from orchestration.actions.state import LINK_APPROVAL_PREFIX, ExceptionState, link_approval_id

# -------------------------------------------------------------------- store

SCHEMA = """
create table if not exists actions (
    seq integer primary key,
    action_id text not null unique,
    exception_id text not null,
    action text not null,
    actor text not null,
    acted_at text not null,
    reason_code text,
    comment text,
    amount text,
    target text,
    state_before text not null,
    state_after text not null,
    prev_hash text not null,
    entry_hash text not null,
    effective_at text,
    login text
);
create index if not exists actions_by_exception on actions (exception_id, seq);
create trigger if not exists actions_no_update before update on actions
begin select raise(abort, 'the action log is append-only: entries cannot be changed'); end;
create trigger if not exists actions_no_delete before delete on actions
begin select raise(abort, 'the action log is append-only: entries cannot be deleted'); end;
create table if not exists exception_catalog (
    exception_id text primary key,
    exception_type text not null,
    owner_team text not null,
    severity text not null,
    sla_hours integer,
    record_entity text,
    record_id text,
    client_name text,
    currency text,
    amount_at_risk text,
    amount_at_risk_reporting text,
    details text,
    first_seen_at text not null,
    last_seen_at text not null,
    is_current integer not null
    -- added by ActionStore._migrate_catalog: content_digest (what the warehouse gave, to find
    -- what changed), row_digest (every column above, for `recon audit verify`), reporting_currency
    -- (the currency amount_at_risk_reporting is in: the reporting currency of the run that wrote
    -- the row; null in rows written before it was kept)
);
-- The digest of the catalog as the run that wrote it left it (refresh_catalog, in the same
-- transaction): `recon audit verify` recomputes it, and the publication anchors it.
create table if not exists catalog_digest (
    id integer primary key check (id = 1),
    digest text not null,
    catalog_rows integer not null,
    written_at text not null
);
create table if not exists catalog_clock (
    -- One row: the business clock of the run that last refreshed the catalog, and whether
    -- RECON_AS_OF pinned it (a replay). Readers judge SLAs by it during replays.
    id integer primary key check (id = 1),
    as_of text not null,
    pinned integer not null
);
"""

# Every column of exception_catalog, in the order the digest reads them. A column added to the
# catalog is added here too (and the next run records the new digest).
CATALOG_COLUMNS = (
    "exception_id", "exception_type", "owner_team", "severity", "sla_hours", "record_entity", "record_id",
    "client_name", "currency", "amount_at_risk", "amount_at_risk_reporting", "details", "first_seen_at",
    "last_seen_at", "is_current", "reporting_currency",
)  # fmt: skip
# The columns of the releases before reporting_currency: the digest v1 reads them only, and a
# row whose reporting_currency is null digests over them alone (catalog_row_digest), so the
# rows those releases wrote keep their digests (`recon audit verify` stays clean) until rewritten.
CATALOG_COLUMNS_BEFORE_CURRENCY = CATALOG_COLUMNS[:15]
# What a run's warehouse decides of a row: the rest (sightings, is_current) is the store's.
CONTENT_COLUMNS = (*CATALOG_COLUMNS[1:12], "reporting_currency")
# The digest of the catalog as rows of (exception_id, row_digest); the version before it
# (a sha256 over every value of every row) is read only in stores a release before wrote.
CATALOG_DIGEST_V2 = "v2:"
# The catalog as readers see it: a current row was last seen by the run that last refreshed
# the catalog (catalog_clock), which does not rewrite a row that did not change.
CATALOG_VIEW = """
create view if not exists catalog_entries as
select
    exception_id, exception_type, owner_team, severity, sla_hours, record_entity, record_id, client_name,
    currency, amount_at_risk, amount_at_risk_reporting, details, first_seen_at,
    case when is_current = 1 then coalesce((select as_of from catalog_clock where id = 1), last_seen_at)
        else last_seen_at end as last_seen_at,
    is_current, reporting_currency
from exception_catalog;
"""

# Why a catalog row shows no value at risk in today's reporting currency (reporting_value_basis),
# as fct_exception_current says it of the same exception.
NOT_TODAYS_CURRENCY = {
    "other_reporting_currency": "not in today's reporting currency ({today}): last found when runs reported in {was}",
    "currency_not_recorded": (
        "not in today's reporting currency ({today}) as far as the store knows: written before it kept the currency "
        "(the next run that finds it records it)"
    ),
}


def reporting_value_basis(entry: Mapping, today: str) -> str:
    """Whose value a catalog row's amount_at_risk_reporting is, by fct_exception_current's rule:
    ``in_reporting_currency`` when the run that wrote it reported in ``today`` (today's
    reporting currency), else ``other_reporting_currency`` or ``currency_not_recorded``."""
    was = entry.get("reporting_currency")
    if was is None:
        return "currency_not_recorded"
    return "in_reporting_currency" if str(was).upper() == today.upper() else "other_reporting_currency"


def in_todays_currency(entry: dict, today: str) -> dict:
    """A catalog row as readers show, sum and convert it: amount_at_risk_reporting only when it is
    in ``today``'s reporting currency, else None, with ``reporting_value_basis`` and, for a row not
    in it, ``reporting_value_note`` (the sentence to show in its place)."""
    basis = reporting_value_basis(entry, today)
    out = {**entry, "reporting_value_basis": basis}
    if basis != "in_reporting_currency":
        out["amount_at_risk_reporting"] = None
        out["reporting_value_note"] = NOT_TODAYS_CURRENCY[basis].format(
            today=today, was=entry.get("reporting_currency")
        )
    return out


def todays_value(entry: Mapping, today: str) -> Decimal | None:
    """A catalog row's value at risk in ``today``'s reporting currency, or None (none, or in another)."""
    if reporting_value_basis(entry, today) != "in_reporting_currency" or entry.get("amount_at_risk_reporting") is None:
        return None
    return Decimal(str(entry["amount_at_risk_reporting"]))


def catalog_row_digest(values) -> str:
    """The row digest of a catalog row's values in ``CATALOG_COLUMNS`` order: a null
    reporting_currency (the last column) is left out, so a row the releases before it wrote
    keeps its digest, and a currency set or cleared on a row gives another digest."""
    values = tuple(values)
    if len(values) == len(CATALOG_COLUMNS) and values[-1] is None:
        values = values[:-1]
    return values_digest(values)


def _stored_columns(con: sqlite3.Connection) -> str:
    """``CATALOG_COLUMNS`` as a select list, without reporting_currency in a store not yet migrated
    to it (`recon audit verify` reads a store read-only, before any release opened it)."""
    present = {r[1] for r in con.execute("pragma table_info(exception_catalog)")}
    return ", ".join(CATALOG_COLUMNS if "reporting_currency" in present else CATALOG_COLUMNS_BEFORE_CURRENCY)


def values_digest(values) -> str:
    """sha256 of a row's values as Python writes their tuple (``repr``): text, integer or null each
    reads one way, so an amount '1.00' for '1.0000', 72 for '72' or '' for NULL is another digest.
    Values as SQLite gives them back (str, int, float, None) give the digest they were written with."""
    return hashlib.sha256(repr(tuple(values)).encode("utf-8", "surrogatepass")).hexdigest()


def _catalog_values(e: dict, today: str) -> list:
    """The values of ``CONTENT_COLUMNS`` a catalog row is written with, from an exception the build
    found, and last the reporting currency of its amount_at_risk_reporting (``today``'s when ``e``
    does not say: a caller that computed it now)."""
    return [
        e["exception_type"],
        e["owner_team"],
        e["severity"],
        None if e.get("sla_hours") is None else int(e["sla_hours"]),
        e.get("record_entity"),
        e.get("record_id"),
        e.get("client_name"),
        e.get("currency"),
        None if e.get("amount_at_risk") is None else str(e["amount_at_risk"]),
        None if e.get("amount_at_risk_reporting") is None else str(e["amount_at_risk_reporting"]),
        _details_text(e.get("details")),
        e["reporting_currency"] if "reporting_currency" in e else today,
    ]


def catalog_digest(con: sqlite3.Connection, version: str = CATALOG_DIGEST_V2) -> tuple[str, int]:
    """(digest, rows) of the exception catalog, recomputed from every column of every row.

    Each row's values give its row digest (:func:`values_digest` over ``CATALOG_COLUMNS``), and
    the rows' (exception_id, row digest) in exception_id order give the catalog's: an amount
    set to '1.00', a row deleted or added, a first sighting or is_current changed all give
    another digest. ``refresh_catalog`` keeps each row's digest beside it, so a run that
    changed 1 % of the rows hashes 1 % (:func:`stored_catalog_digest`); this reads them all.
    ``version`` "" is the digest of the releases before (one sha256 over every value).
    """
    if version != CATALOG_DIGEST_V2:
        return _catalog_digest_v1(con)
    digest, rows = hashlib.sha256(), 0
    columns = _stored_columns(con)  # fixed names
    cur = con.execute(f"select {columns} from exception_catalog order by exception_id")
    while batch := cur.fetchmany(5000):
        digest.update("".join(f"{row[0]},{catalog_row_digest(row)}\n" for row in batch).encode())
        rows += len(batch)
    return CATALOG_DIGEST_V2 + digest.hexdigest(), rows


def stored_catalog_digest(con: sqlite3.Connection) -> tuple[str, int]:
    """(digest, rows) of the catalog from the row digests kept beside the rows (no row re-hashed)."""
    digest, rows = hashlib.sha256(), 0
    cur = con.execute("select exception_id, row_digest from exception_catalog order by exception_id")
    while batch := cur.fetchmany(20000):
        digest.update("".join(f"{eid},{row_digest}\n" for eid, row_digest in batch).encode())
        rows += len(batch)
    return CATALOG_DIGEST_V2 + digest.hexdigest(), rows


def edited_catalog_rows(con: sqlite3.Connection, limit: int = 5) -> list[str]:
    """Ids of catalog rows whose values no longer give the row digest the run wrote beside them."""
    columns = _stored_columns(con)  # fixed names
    cur = con.execute(f"select {columns}, row_digest from exception_catalog order by exception_id")
    edited = []
    while batch := cur.fetchmany(5000):
        edited += [row[0] for row in batch if catalog_row_digest(tuple(row)[:-1]) != row[-1]]
        if len(edited) >= limit:
            break
    return edited[:limit]


def _catalog_digest_v1(con: sqlite3.Connection) -> tuple[str, int]:
    """The digest releases before ``CATALOG_DIGEST_V2`` recorded: sha256 over every value of every row."""
    digest, rows = hashlib.sha256(), 0
    line = " || ',' || ".join(f"quote({c})" for c in CATALOG_COLUMNS_BEFORE_CURRENCY)  # fixed names
    cur = con.execute(f"select {line} || char(10) from exception_catalog order by exception_id")
    while batch := cur.fetchmany(5000):
        digest.update("".join(row[0] for row in batch).encode())
        rows += len(batch)
    return digest.hexdigest(), rows


def digest_version(digest: str | None) -> str:
    return CATALOG_DIGEST_V2 if (digest or "").startswith(CATALOG_DIGEST_V2) else ""


def _details_text(details) -> str:
    """An exception's details as stored: JSON text as the warehouse wrote it, or a dict encoded here."""
    if isinstance(details, str):
        return details
    return json.dumps(details or {}, default=str)


def entry_hash(prev_hash: str, row: dict) -> str:
    fields = {k: row.get(k) for k in HASHED_FIELDS}
    fields.update({k: row[k] for k in OPTIONAL_HASHED_FIELDS if row.get(k) is not None})
    payload = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256((prev_hash + payload).encode()).hexdigest()


def store_expected_because(con=None) -> str | None:
    """Why this home must have an action store already, or None (nothing ran here yet).

    The publication (``current.json``) and the warehouse's anchors (``raw.audit_anchors``,
    given a DuckDB connection ``con``) each record where the store was when a run read it.
    """
    from orchestration import publish

    published = publish.current()
    if published:
        anchored = (published.get("audit_anchor") or {}).get("store")
        where = f", which read the store at {anchored}" if anchored else ""
        return f"this home has published runs (the last: {published.get('publication')}{where})"
    if con is None:
        return None
    tables = con.execute(
        "select count(*) from duckdb_tables() where schema_name = 'raw' and table_name = 'audit_anchors'"
    ).fetchone()[0]
    if not tables:
        return None
    last = con.execute(
        "select seq, store_path, run_id from raw.audit_anchors order by anchor_id desc limit 1"
    ).fetchone()
    if last is None:
        return None
    return f"the warehouse anchored the action log (last at seq {last[0]}, run {last[2]}, store {last[1]})"


def check_run_store(path: Path | None = None, con=None) -> None:
    """What :meth:`ActionStore.for_run` refuses, checked before a run starts (``con`` None:
    by the publication alone, without opening the warehouse)."""
    path = path or store_path()
    check_store_file(path)
    if not path.exists():
        because = store_expected_because(con)
        if because is not None:
            raise missing_store(path, because)


class ActionStore:
    def __init__(
        self,
        path: Path | None = None,
        policy: Policy | None = None,
        clock: Callable[[], datetime] = utc_now,
        wall_clock: Callable[[], datetime] = wall_clock,
        login: Callable[[], str] | None = None,
    ):
        """``clock`` is the business clock (SLA, effective_at); ``wall_clock`` stamps acted_at.

        ``login`` says who is authenticated (default: the OS login, ``identity.os_login``);
        an interface that authenticates its users itself (the desk) passes its own.
        """
        self.path = path or store_path()
        self.policy = policy or Policy.load()
        self.clock = clock
        self.wall_clock = wall_clock
        self._login = login
        check_store_file(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.executescript(SCHEMA)
            columns = {r["name"] for r in con.execute("pragma table_info(actions)")}
            for column in OPTIONAL_HASHED_FIELDS:
                if column in columns:
                    continue
                try:  # a store made before the column existed
                    con.execute(f"alter table actions add column {column} text")  # fixed names
                except sqlite3.OperationalError as exc:  # another process migrated it just now
                    if "duplicate column" not in str(exc):
                        raise
            self._migrate_catalog(con)

    @staticmethod
    def _migrate_catalog(con: sqlite3.Connection) -> None:
        """The row digests beside each catalog row (a store made before them: null until the next run),
        and the reporting currency of its value at risk (null in rows written before it was kept)."""
        columns = {r["name"] for r in con.execute("pragma table_info(exception_catalog)")}
        for column in ("content_digest", "row_digest", "reporting_currency"):
            if column in columns:
                continue
            try:
                con.execute(f"alter table exception_catalog add column {column} text")  # fixed names
            except sqlite3.OperationalError as exc:  # another process migrated it just now
                if "duplicate column" not in str(exc):
                    raise
        if "reporting_currency" not in {r["name"] for r in con.execute("pragma table_info(catalog_entries)")}:
            con.execute("drop view if exists catalog_entries")  # a release before's, without the currency
        con.executescript(CATALOG_VIEW)
        # What the catalog step reads of every row, without the details: the row digests in
        # exception_id order (the catalog's digest) and what it compares (covering).
        con.execute(
            "create index if not exists catalog_row_digests on exception_catalog"
            " (exception_id, row_digest, is_current, content_digest, first_seen_at)"
        )

    def replay_as_of(self) -> datetime | None:
        """The pinned as-of of the run that last refreshed the catalog, when RECON_AS_OF pinned it.

        None when that run ran on the real clock (or no run refreshed the catalog yet).
        """
        with self._connect() as con:
            row = con.execute("select as_of, pinned from catalog_clock where id = 1").fetchone()
        return datetime.fromisoformat(row["as_of"]) if row and row["pinned"] else None

    def reading_clock(self) -> tuple[datetime, str]:
        """The business clock a reader judges SLAs by, and where it comes from.

        The same clock the marts and `recon status` use: ``RECON_AS_OF`` when this process
        pins it; else, during a replay (the last run pinned RECON_AS_OF), that run's as-of;
        else the real time (outside replays SLA clocks are counted live between runs).
        """
        if as_of_pinned():
            return utc_now(), "RECON_AS_OF"
        replay = self.replay_as_of()
        if replay is not None:
            return replay, "replay"
        return utc_now(), "real"

    def use_reading_clock(self) -> tuple[datetime, str]:
        """Judge SLAs (listing, show) by :meth:`reading_clock`, fixed for this store's reads."""
        now, source = self.reading_clock()
        self.clock = lambda: now
        return now, source

    def login(self) -> str:
        """The authenticated login this store records and checks actions against."""
        return self._login() if self._login else identity.current_login()

    @classmethod
    def existing(cls, path: Path | None = None, **kw) -> ActionStore | None:
        """The store at ``path`` if the file is there; None rather than creating an empty one."""
        path = path or store_path()
        return cls(path, **kw) if path.exists() else None

    @classmethod
    def expected(cls, path: Path | None = None, **kw) -> ActionStore | None:
        """The store at ``path`` for a reader that also runs in a home where nothing ran yet (the
        alerts): None only there. Missing where a run published or the warehouse anchored it, it
        is refused (:func:`missing_store`, naming why one is expected), as :meth:`open_existing`
        refuses it: a mistyped RECON_ACTIONS_PATH must not read as "nothing overdue"."""
        path = path or store_path()
        check_store_file(path)
        if path.exists():
            return cls(path, **kw)
        because = store_expected_because()
        if because is None:
            return None
        raise missing_store(path, because)

    @classmethod
    def open_existing(cls, path: Path | None = None, **kw) -> ActionStore:
        """The store for a command: never created here (a mistyped RECON_ACTIONS_PATH or
        RECON_HOME would otherwise get a new, empty store and list no exceptions). Only a run
        creates it (:meth:`for_run`); actions need the catalog a run published into it."""
        path = path or store_path()
        check_store_file(path)
        if not path.exists():
            raise missing_store(path, store_expected_because())
        return cls(path, **kw)

    @classmethod
    def for_run(cls, con, path: Path | None = None, **kw) -> ActionStore:
        """The store a run copies from and publishes into, made only by the first run of a home.

        Missing where the warehouse anchored it, or in a home with a publication, it is
        refused: a new empty store would take over silently (the old one's actions stranded)
        or, for a warehouse that copied actions, fail later as a "truncated" store.
        """
        path = path or store_path()
        check_run_store(path, con)
        return cls(path, **kw)

    def head(self) -> tuple[int, str]:
        """(seq, entry_hash) of the newest entry; (0, GENESIS) for an empty log."""
        with self._connect() as con:
            row = con.execute("select seq, entry_hash from actions order by seq desc limit 1").fetchone()
        return (row["seq"], row["entry_hash"]) if row else (0, GENESIS)

    def entry(self, seq: int) -> dict | None:
        with self._connect() as con:
            row = con.execute("select * from actions where seq = ?", [seq]).fetchone()
        return dict(row) if row else None

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        con.row_factory = sqlite3.Row
        try:
            con.execute("pragma journal_mode = wal")
            con.execute("pragma synchronous = full")
            yield con
        finally:
            con.close()

    @contextmanager
    def _writer_turn(self) -> Iterator[None]:
        """Queue for the store's one write slot on an OS lock, then ``BEGIN IMMEDIATE``.

        SQLite makes a writer that finds the store busy sleep and retry, with sleeps growing
        to 100 ms, and keeps no queue: with 10 operators at 5 actions/s an action waited up
        to 0.8 s (p95 0.23 s) for a lock that was free most of the time (docs/benchmarks.md,
        "Operators under load"). Writers first take ``flock`` on ``actions.sqlite.lock``; the
        kernel wakes a waiter the moment it is released. It only orders writers: ``BEGIN
        IMMEDIATE`` still decides, so a writer without it stays correct. It is held for one
        transaction, which SQLite's own busy timeout bounds, and released when the process ends.
        """
        with open(self.path.with_name(self.path.name + ".lock"), "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)  # closing the file releases it
            yield

    # ------------------------------------------------------------ catalog

    def current_records(self) -> list[tuple[str, str | None, str | None]]:
        """(exception_id, record_entity, record_id) of every exception the catalog holds as current."""
        with self._connect() as con:
            return [
                (row[0], row[1], row[2])
                for row in con.execute(
                    "select exception_id, record_entity, record_id from exception_catalog where is_current = 1"
                ).fetchall()
            ]

    def refresh_catalog(self, exceptions: list[dict], withdrawn: Mapping[str, str] | None = None) -> dict[str, int]:
        """Replace the catalog of current exceptions with what the last run found.

        An exception keeps its first_seen_at across runs; one no longer found is kept
        with is_current = 0 (its actions stay meaningful). The pipeline appends
        ``auto_resolve`` to the log of an open exception that is no longer found, and
        ``reopen`` to a closed one that is found again. ``withdrawn`` names exceptions no
        longer found because their record was withdrawn from its source (a full export or a
        restatement without it), with what withdrew it: their ``auto_resolve`` carries the
        reason ``record_withdrawn`` and that text, so the closing is not silent. Returns the
        counts.

        Only rows that changed are written: each row keeps the digest of what the warehouse
        gave (``content_digest``) and of all its columns (``row_digest``). A current row's
        last_seen_at is when it was last written; readers read the catalog_entries view,
        where a current row was last seen by this refresh (catalog_clock).
        """
        now = self.clock().isoformat()
        from orchestration.publish import reporting_currency

        # The currency of each row's amount_at_risk_reporting: the run's, as the warehouse gives it
        # (fct_reconciliation_exceptions.reporting_currency); a caller that gives none gives today's.
        today = reporting_currency()
        with self._connect() as con, self._writer_turn():
            con.execute("begin immediate")
            previous = {
                r[0]: r[1:]
                for r in con.execute(
                    "select exception_id, is_current, content_digest, first_seen_at, row_digest from exception_catalog"
                )
            }
            was_current = {eid: row[0] for eid, row in previous.items()}
            clock = con.execute("select as_of from catalog_clock where id = 1").fetchone()
            written: list[list] = []
            for e in exceptions:
                # The warehouse may give the digest of what it found (the bridge: DuckDB's, over
                # the same values), and only the id and digest of a row the store has as found.
                content = e.get("content_digest")
                values = None if content is not None else _catalog_values(e, today)
                content = content if content is not None else values_digest(values)
                old = previous.get(e["exception_id"])
                if old is not None and old[0] and old[1] == content and old[3] is not None:
                    continue  # current, and the same as the run that last wrote it
                if values is None:
                    if "exception_type" not in e:
                        raise ActionError(
                            f"exception {e['exception_id']} came without its values, but the catalog does not hold "
                            "it as found: the catalog changed since its digests were read; run again"
                        )
                    values = _catalog_values(e, today)
                first_seen = old[2] if old is not None else now
                row = [e["exception_id"], *values[:-1], first_seen, now, 1, values[-1]]
                written.append([*row, content, catalog_row_digest(row)])
            # One statement for the rows that changed (a whole catalog on the first run: at 1M
            # orders about 300,000 exceptions). The rows not found are retired after it.
            con.executemany(
                """
                    insert into exception_catalog ("""
                + ", ".join((*CATALOG_COLUMNS, "content_digest", "row_digest"))  # fixed names
                + """) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    on conflict (exception_id) do update set
                        exception_type = excluded.exception_type, owner_team = excluded.owner_team,
                        severity = excluded.severity, sla_hours = excluded.sla_hours,
                        record_entity = excluded.record_entity, record_id = excluded.record_id,
                        client_name = excluded.client_name, currency = excluded.currency,
                        amount_at_risk = excluded.amount_at_risk,
                        amount_at_risk_reporting = excluded.amount_at_risk_reporting,
                        details = excluded.details, last_seen_at = excluded.last_seen_at, is_current = 1,
                        reporting_currency = excluded.reporting_currency,
                        content_digest = excluded.content_digest, row_digest = excluded.row_digest
                    """,
                written,
            )
            found = {e["exception_id"] for e in exceptions}
            # A retired row was last seen by the refresh before this one, which found it.
            gone = [eid for eid, current in was_current.items() if current and eid not in found]
            con.executemany(
                "update exception_catalog set is_current = 0, last_seen_at = coalesce(?, last_seen_at)"
                " where exception_id = ?",
                ([clock[0] if clock else None, eid] for eid in gone),
            )
            # Row digests of the rows retired now, and of rows a release before wrote without one.
            stale = [*gone, *(eid for eid, row in previous.items() if row[3] is None and eid not in found)]
            columns = ", ".join(CATALOG_COLUMNS)  # fixed names
            con.executemany(
                "update exception_catalog set row_digest = ? where exception_id = ?",
                (
                    [catalog_row_digest(row), row[0]]
                    for eid in stale
                    for row in con.execute(
                        f"select {columns} from exception_catalog where exception_id = ?", [eid]
                    ).fetchall()
                ),
            )
            # Resolutions the build found outgrown (more at risk than they accepted, or in another
            # currency), by the log entry of the resolution: fct_exception_current, read by
            # catalog_from_warehouse. The one in force reopens; one resolved again since does not.
            outgrown = {
                e["exception_id"]: e
                for e in exceptions
                if e.get("reopened_because") == "amount_grew" and e.get("outgrown_resolution_seq") is not None
            }
            events = {"auto_resolve": 0, "reopen": 0, "withdrawn": 0}
            for eid in sorted(was_current):
                fields: dict = {}
                if was_current[eid] and eid not in found:
                    action = "auto_resolve"
                    if withdrawn and eid in withdrawn:
                        fields = {"reason_code": "record_withdrawn", "comment": withdrawn[eid]}
                elif not was_current[eid] and eid in found:
                    action = "reopen"
                elif eid in outgrown:
                    # With what is at risk now, beside the amount the resolution accepted.
                    at_risk = _at_risk_text(outgrown[eid])
                    action = "reopen"
                    fields = {
                        "reason_code": "amount_grew",
                        "amount": at_risk,
                        "target": outgrown[eid].get("currency") if at_risk is not None else None,
                    }
                else:
                    continue
                state = self._state(con, eid)
                if (
                    eid in outgrown
                    and action == "reopen"
                    and fields
                    and not (
                        state.status == "resolved" and state.resolution_seq == outgrown[eid]["outgrown_resolution_seq"]
                    )
                ):
                    continue  # reopened already, or resolved again since
                if state.is_closed == (action == "reopen"):
                    self._append(con, eid, action, PIPELINE_ACTOR, state, fields, login=self.login())
                    events[action] += 1
                    events["withdrawn"] += fields.get("reason_code") == "record_withdrawn"
            retired = con.execute("select count(*) from exception_catalog where is_current = 0").fetchone()[0]
            con.execute(
                "insert or replace into catalog_clock (id, as_of, pinned) values (1, ?, ?)",
                [now, 1 if as_of_pinned() else 0],
            )
            digest, rows = stored_catalog_digest(con)
            con.execute(
                "insert into catalog_digest (id, digest, catalog_rows, written_at) values (1, ?, ?, ?) "
                "on conflict (id) do update set digest = excluded.digest, catalog_rows = excluded.catalog_rows, "
                "written_at = excluded.written_at",
                # To the microsecond: `recon audit verify` asks whether it was written after the
                # publication, which the same run may make within the second.
                [digest, rows, datetime.now(UTC).isoformat()],
            )
            con.execute("commit")
        return {
            "current": len(exceptions),
            "no_longer_found": retired,
            "auto_resolved": events["auto_resolve"],
            "auto_resolved_withdrawn": events["withdrawn"],
            "reopened": events["reopen"],
        }

    def found_digests(self) -> dict[str, str]:
        """The content digest of each current catalog row a run of this release wrote (by id)."""
        with self._connect() as con:
            return dict(
                con.execute(
                    "select exception_id, content_digest from exception_catalog"
                    " where is_current = 1 and row_digest is not null"
                ).fetchall()
            )

    def rewind_catalog(self, real: datetime) -> int:
        """Bring first and last sightings dated after ``real`` back to it (``recon run
        --rewind-clock``, after a run pinned ahead of the real time); returns the rows changed.

        The catalog keeps an exception's first sighting from run to run: one first found by a
        run pinned to 2029 stayed first seen in 2029 after the warehouse was rewound (the desk
        showed it first seen after its last sighting). Each row changed gets its row digest
        again, and the catalog its digest, in one transaction, as a refresh writes them."""
        columns = ", ".join(CATALOG_COLUMNS)
        changed = 0
        with self._connect() as con, self._writer_turn():
            con.execute("begin immediate")
            for row in con.execute(f"select {columns} from exception_catalog").fetchall():
                values = dict(zip(CATALOG_COLUMNS, row, strict=True))
                clamped = {
                    key: real.isoformat()
                    for key in ("first_seen_at", "last_seen_at")
                    if (_aware(values[key]) or real) > real
                }
                if not clamped:
                    continue
                values.update(clamped)
                con.execute(
                    "update exception_catalog set first_seen_at = ?, last_seen_at = ?, row_digest = ?"
                    " where exception_id = ?",
                    [values["first_seen_at"], values["last_seen_at"], catalog_row_digest(values.values()),
                     values["exception_id"]],
                )  # fmt: skip
                changed += 1
            clock = con.execute("select as_of from catalog_clock where id = 1").fetchone()
            if clock and _aware(clock[0]) > real:
                con.execute("update catalog_clock set as_of = ?, pinned = 0 where id = 1", [real.isoformat()])
            if changed:
                digest, rows = stored_catalog_digest(con)
                con.execute(
                    "update catalog_digest set digest = ?, catalog_rows = ?, written_at = ? where id = 1",
                    [digest, rows, datetime.now(UTC).isoformat()],
                )
            con.execute("commit")
        return changed

    def recorded_catalog_digest(self) -> dict | None:
        """The catalog's digest as the last refresh recorded it: digest, catalog_rows, written_at."""
        with self._connect() as con:
            row = con.execute("select digest, catalog_rows, written_at from catalog_digest where id = 1").fetchone()
        return dict(row) if row else None

    def resolve_id(self, prefix: str, con: sqlite3.Connection | None = None) -> str:
        """An exception id from a unique prefix (ids are md5 hex; operators type 8 chars)."""

        check_id_prefix(prefix)

        def lookup(c: sqlite3.Connection) -> str:
            # A plain prefix comparison: no LIKE, so % and _ are characters, not wildcards.
            rows = c.execute(
                "select exception_id from exception_catalog where substr(exception_id, 1, length(?)) = ? limit 2",
                [prefix, prefix],
            ).fetchall()
            if not rows:
                raise NotFound(
                    f"no exception with id {prefix!r}: run `recon exceptions list`" + self._id_hint(c, prefix)
                )
            if len(rows) > 1:
                raise ActionError(f"id prefix {prefix!r} is ambiguous: type more characters")
            return rows[0][0]

        if con is not None:
            return lookup(con)
        with self._connect() as c:
            return lookup(c)

    def _id_hint(self, con: sqlite3.Connection, typed: str) -> str:
        """What an unknown id was most likely meant as: an id typed in upper case (ids are md5
        hex, lower case), or a record's id (the order or invoice an operator is asked about;
        a whole invoice's item ``INV-1#`` is shown ``INV-1``). Named, never guessed."""
        lower = typed.lower()
        if (
            lower != typed
            and con.execute(
                "select 1 from exception_catalog where substr(exception_id, 1, length(?)) = ?", [lower, lower]
            ).fetchone()
        ):
            return f"; ids are in lower case: {lower}"
        rows = con.execute(
            "select exception_id, exception_type from exception_catalog where record_id in (?, ?)"
            " order by is_current desc, exception_id limit 6",
            [typed, f"{typed}#"],
        ).fetchall()
        if not rows:
            return ""
        named = [f"{r[0][:8]} ({r[1]}, {self._state(con, r[0]).status})" for r in rows[:5]]
        more = ", and more: `recon exceptions list --all`" if len(rows) > 5 else ""
        return f"; {typed} is a record: its exceptions are {', '.join(named)}{more}"

    # -------------------------------------------------------------- state

    def _state(self, con: sqlite3.Connection, exception_id: str) -> ExceptionState:
        row = con.execute(
            "select owner_team, severity, sla_hours, first_seen_at, details, amount_at_risk_reporting"
            " from exception_catalog"
            " where exception_id = ?",
            [exception_id],
        ).fetchone()
        if row is None:
            raise NotFound(f"no exception {exception_id}")
        state = ExceptionState(exception_id, row["owner_team"], row["severity"])
        for action in con.execute("select * from actions where exception_id = ? order by seq", [exception_id]):
            state.apply(dict(action))
        return self._with_sla(state, row)

    def _with_sla(self, state: ExceptionState, row) -> ExceptionState:
        state.sla_due_at, state.is_breached, escalated = self.sla_of(state, row)
        state.escalated_to = state.escalated_to or escalated
        return state

    def sla_of(self, state: ExceptionState, row) -> tuple[datetime, bool, str | None]:
        """``(SLA due, breached, escalation team)`` of a folded state and its catalog row, as of the store's clock."""
        details = json.loads(row["details"] or "{}")
        due = details.get("business_due_at") if isinstance(details, dict) else None
        business = datetime.fromisoformat(due).replace(tzinfo=UTC) if due else None
        escalates = "amount_at_risk_reporting" not in row.keys() or self.policy.escalates(
            state.severity, row["amount_at_risk_reporting"]
        )
        return self.sla_clock(
            state, datetime.fromisoformat(row["first_seen_at"]), business, row["sla_hours"], escalates=escalates
        )

    def sla_clock(
        self,
        state: ExceptionState,
        first_seen: datetime,
        business_due: datetime | None,
        sla_hours: int | None,
        escalates: bool = True,
    ) -> tuple[datetime, bool, str | None]:
        """The SLA rule, on parsed values (the desk keeps them parsed).

        The SLA runs from when the business expected the counterpart (its business date
        plus grace) or the first sighting if sooner, or from when it last came back: the
        same rule as fct_exception_current.aged_from. Past its SLA an exception is escalated
        automatically, the escalation target may take it over, unless ``escalates`` is false
        (nothing at risk, of a severity that then stays with its team: Policy.escalates).
        """
        if state.reopened_at:
            opened = datetime.fromisoformat(state.reopened_at)
        else:
            opened = min(first_seen, business_due) if business_due else first_seen
        due_at = opened + timedelta(hours=sla_hours or 0)
        breached = not state.is_closed and due_at < self.clock()
        escalated = (
            self.policy.escalation_team(state.severity)
            if breached and escalates and state.escalated_to is None
            else None
        )
        return due_at, breached, escalated

    def fold_all(
        self, after_seq: int = 0, folded: dict[str, ExceptionState] | None = None, catalog_unchanged: bool = False
    ) -> tuple[int, dict]:
        """Every catalogued exception's state folded from the log in one pass: ``(head seq, {id: state})``.

        ``folded`` (what an earlier call returned for ``after_seq``) is carried on: the log is
        append-only, so applying only the entries after ``after_seq`` gives the same states
        as folding from the start. When the catalog gained exceptions since (a run), it
        folds from the start. SLA and breach are left to :meth:`sla_of`: they move with the clock.
        ``catalog_unchanged`` (the caller saw the same catalog since) skips reading it.
        """
        with self._connect() as con:
            con.execute("begin")  # one snapshot of the catalog and the log
            try:
                rows = (
                    []
                    if catalog_unchanged and folded is not None
                    else con.execute("select exception_id, owner_team, severity from exception_catalog").fetchall()
                )
                carried = not (folded is None or any(r["exception_id"] not in folded for r in rows))
                if not carried:
                    folded, after_seq = {}, 0
                    for r in rows:
                        folded[r["exception_id"]] = ExceptionState(r["exception_id"], r["owner_team"], r["severity"])
                else:
                    folded = dict(folded)
                head = after_seq
                for action in con.execute("select * from actions where seq > ? order by seq", [after_seq]):
                    state = folded.get(action["exception_id"])
                    if state is not None:
                        # A caller's states are its own: change copies. Also when they were folded from
                        # an empty log (after_seq 0): the desk tells a changed state by its identity.
                        if carried:
                            state = folded[action["exception_id"]] = copy.deepcopy(state)
                        state.apply(dict(action))
                    head = action["seq"]
            finally:
                con.execute("rollback")
        return head, folded

    def state(self, exception_id: str) -> ExceptionState:
        with self._connect() as con:
            return self._state(con, self.resolve_id(exception_id, con))

    def history(self, exception_id: str) -> list[dict]:
        with self._connect() as con:
            eid = self.resolve_id(exception_id, con)
            return [dict(r) for r in con.execute("select * from actions where exception_id = ? order by seq", [eid])]

    def links_of(self, reconciliation: str, right_key: str) -> list[dict]:
        """The operators' last word on each pair of ``reconciliation`` naming ``right_key``
        (as the engine reads them; _link_words), oldest first: what `recon exceptions show`
        prints of a record linked by hand, whichever exception the link was recorded on."""
        with self._connect() as con:
            words = self._link_words(con, reconciliation)
        return sorted(
            ({"left": left, "right": right, **word} for (left, right), word in words.items() if right == right_key),
            key=lambda w: w["seq"],
        )

    def linked_pairs(self, reconciliation: str) -> set[tuple[str, str]]:
        """The (left key, right key) pairs of ``reconciliation`` an operator's link holds now
        (as the engine reads the log: _link_words), whatever the published copy holds of them."""
        with self._connect() as con:
            return {pair for pair, word in self._link_words(con, reconciliation).items() if word["linked"]}

    def catalog_entry(self, exception_id: str) -> dict:
        """An exception's catalog row as readers show it: its value at risk in the reporting
        currency only when in today's (:func:`in_todays_currency`)."""
        from orchestration.publish import reporting_currency

        with self._connect() as con:
            eid = self.resolve_id(exception_id, con)
            row = dict(con.execute("select * from catalog_entries where exception_id = ?", [eid]).fetchone())
        return in_todays_currency(row, reporting_currency())

    # -------------------------------------------------------------- rules

    def _may_work_on(self, op: Operator, state: ExceptionState) -> bool:
        return (
            op.team == state.owner_team
            or "ops_lead" in op.roles
            or (state.escalated_to is not None and op.team == state.escalated_to)
        )

    def _needs_approval(self, amount: Decimal, state: ExceptionState, catalog: dict | None) -> bool:
        """Whether an adjustment of ``amount`` (in the exception's currency) waits for a checker.

        Adjustments on one exception count together: every one recorded on it, applied,
        approved or pending (not rejected), plus this one, so a total split into pieces under
        the threshold still needs a checker once the pieces pass it, and so does each piece
        after an approved one. The total is converted to the reporting currency, which the
        threshold is in (``Policy.in_reporting_currency``); a total that cannot be converted
        needs a checker.
        """
        total = abs(amount)
        for earlier in [*state.applied_adjustments, *state.pending_adjustments.values()]:
            try:
                total += abs(Decimal(str(earlier["amount"]).strip()))
            except (InvalidOperation, ValueError):
                return True  # an amount an older version logged unbounded: no total to trust
        if not total.is_finite():
            return True
        reporting = self.policy.in_reporting_currency(total, catalog, self.clock().date())
        return reporting is None or reporting > self.policy.approval_threshold

    def _check(
        self,
        action: str,
        op: Operator,
        state: ExceptionState,
        kw: dict,
        catalog: dict | None = None,
        undoing_link: bool = False,
    ) -> dict:
        """Refuse what the rules forbid; return the fields to record for the action.

        ``catalog`` is the exception's catalog row (its currency and value at risk).
        ``undoing_link``: an unmatch of a pair an operator linked, on the exception that link
        closed (see act()).
        """
        if action not in ACTIONS:
            raise ActionError(f"unknown action {action!r}; use one of {', '.join(ACTIONS)}")
        if action == "reopen" and kw.get("reason") in PIPELINE_REASONS:
            raise ActionError(f"reason {kw.get('reason')!r} is recorded by the pipeline only; nothing recorded")
        # The exception's state first: a reason code is beside the point on a closed exception
        # (adjust on a resolved one complained of its reason code before saying it was resolved).
        if action not in ("comment", "reopen") and state.is_closed and not undoing_link:
            how = (
                ("closed: its record was withdrawn from its source" if state.resolution == "record_withdrawn"
                 else "closed by later data")
                if state.status == "auto_resolved"
                else f"resolved ({state.resolution})"
            )  # fmt: skip
            raise ActionError(f"exception {state.exception_id[:8]} is {how}; nothing to {action}")
        # A reason code is recorded only if the policy allows it for this action.
        reason = self.policy.check_reason(kw["reason"], action) if kw.get("reason") else None
        fields: dict = {"reason_code": reason, "comment": kw.get("comment"), "amount": None, "target": None}
        if action in ("claim", "reassign") and not {"operator", "ops_lead"} & set(op.roles):
            # Working exceptions is the operator role's (config/operators.yml); a service
            # account (act_as) or a rule approver acts --as an operator, never as itself.
            raise ActionError(
                f"{op.name} has no operator role: may not {action}; act --as an operator of team {state.owner_team}"
            )
        if action == "claim":
            if not self._may_work_on(op, state):
                raise ActionError(
                    f"{op.name} ({op.team}) may not claim: owned by {state.owner_team}"
                    + (f", escalated to {state.escalated_to}" if state.escalated_to else "")
                    + "; ask an ops lead to reassign it"
                )
            if state.claimed_by == op.name:
                raise Conflict(f"you already hold the claim on {state.exception_id[:8]}")
            if state.claimed_by:
                raise Conflict(f"exception {state.exception_id[:8]} is already claimed by {state.claimed_by}")
        elif action in ("release", "resolve", "adjust", "match", "unmatch"):
            if undoing_link:
                # Closed, so nobody holds a claim: the team that owns it may undo the link.
                if not self._may_work_on(op, state):
                    raise ActionError(f"{op.name} may not unmatch on an exception owned by {state.owner_team}")
            elif state.claimed_by is None:
                raise ActionError(
                    f"{action} needs a claim: run `recon exceptions claim {state.exception_id[:8]}` first"
                )
            if (
                not undoing_link
                and state.claimed_by != op.name
                and not (action == "release" and "ops_lead" in op.roles)
            ):
                raise Conflict(f"exception {state.exception_id[:8]} is claimed by {state.claimed_by}, not {op.name}")
            if action == "resolve":
                if state.pending_adjustments:
                    raise ActionError(
                        "an adjustment awaits approval ("
                        + ", ".join(state.pending_adjustments)
                        + "); approve or reject it before resolving"
                    )
                if state.pending_links:
                    raise ActionError(
                        "a link awaits approval ("
                        + ", ".join(state.pending_links)
                        + "); approve or reject it (--link) before resolving"
                    )
                fields["reason_code"] = self.policy.check_reason(kw.get("reason"), "resolve")
                # What the resolution accepts, and in which currency: a later run that finds
                # more at risk, or the break in another currency, reopens it
                # (int_exception_outgrown_resolutions; refresh_catalog mirrors the reopening).
                fields["amount"] = _at_risk_text(catalog)
                if fields["amount"] is not None:
                    fields["target"] = (catalog or {}).get("currency")
            if action == "release" and kw.get("reason"):
                fields["reason_code"] = self.policy.check_reason(kw.get("reason"), "release")
            if action in ("match", "unmatch"):
                # The link was built and bounded by orchestration.links; it is recorded as JSON
                # the engine reads (int_operator_links) and chained like every other field.
                link = kw.get("link")
                if link is None or not hasattr(link, "target"):
                    raise ActionError(f"{action} needs the records to link: --with KEY [KEY ...]")
                fields["reason_code"] = self.policy.check_reason(kw.get("reason"), action)
                fields["target"] = link.target()
                review = list(kw.get("link_review") or ()) if action == "match" else []
                if review:
                    # Maker–checker: recorded, with why, and not applied (int_operator_links, _link_words)
                    # until a different approver of the team approves its id.
                    doc = json.loads(fields["target"])
                    doc["awaits_approval"] = f"{LINK_APPROVAL_PREFIX}{uuid.uuid4().hex[:8]}"
                    doc["review"] = review
                    fields["target"] = json.dumps(doc, sort_keys=True, separators=(",", ":"))
            if action == "adjust":
                amount = parse_amount(kw.get("amount"))  # bounded again: act() may be called directly
                _check_currency_range(amount, catalog, state.exception_id)
                fields["reason_code"] = self.policy.check_reason(kw.get("reason"), "adjust")
                fields["amount"] = amount_text(amount)
                fields["target"] = f"ADJ-{uuid.uuid4().hex[:8]}"
                fields["needs_approval"] = self._needs_approval(amount, state, catalog)
        elif action in ("approve", "reject"):
            # An adjustment (--adjustment ADJ-…) or a manual link (--link LNK-…) waiting for a checker.
            if kw.get("adjustment") and kw.get("link_id"):
                raise ActionError(f"{action} takes --adjustment or --link, not both: one {action} checks one thing")
            if kw.get("link_id"):
                what, prefix, pending = "link", LINK_APPROVAL_PREFIX, state.pending_links
                checked = kw["link_id"]
            else:
                what, prefix, pending = "adjustment", "ADJ-", state.pending_adjustments
                checked = kw.get("adjustment")
            if not checked:  # the command line gave none: say which option, and what to give it
                listed = ", ".join(state.pending_adjustments) or "none"
                links_said = (
                    f"; or --link LNK-…, the link to {action} (pending: {', '.join(state.pending_links)})"
                    if state.pending_links
                    else ""
                )
                raise ActionError(
                    f"{action} needs --adjustment ADJ-…, the adjustment to {action} (pending: {listed}){links_said}"
                )
            if checked not in pending:
                listed = ", ".join(pending) or "none"
                # adj-6ed424ef, 6ed424ef or ' ADJ-6ed424ef' pasted: named, never taken for it
                # (an approval names exactly what it checks).
                typed = checked.strip().upper().removeprefix(prefix)
                meant = [a for a in pending if a.upper().removeprefix(prefix) == typed]
                hint = f"did you mean {meant[0]}? " if meant else ""
                other = state.pending_links if what == "adjustment" else state.pending_adjustments
                if checked.strip() in other:
                    hint = f"{checked.strip()} is a pending {'link' if what == 'adjustment' else 'adjustment'}: " + (
                        "give it with --link. " if what == "adjustment" else "give it with --adjustment. "
                    )
                raise NotFound(f"no pending {what} {checked!r} on {state.exception_id[:8]} ({hint}pending: {listed})")
            if "approver" not in op.roles:
                raise ActionError(f"{op.name} has no approver role: ask an approver to {action} {checked}")
            if not self._may_work_on(op, state):
                raise ActionError(
                    f"{op.name} ({op.team}) may not {action} on an exception owned by {state.owner_team}: "
                    "an approver of that team, or an ops lead"
                )
            if pending[checked]["maker"] == op.name:
                raise ActionError(f"{op.name} made {checked}; a different approver must check it (maker-checker)")
            fields["target"] = checked
        elif action == "reassign":
            team = kw.get("team")
            if team not in self.working_teams():
                match = identity.close_match(team, self.working_teams())
                raise ActionError(
                    f"{team!r} is not a team that works exceptions; "
                    + (f"did you mean {match!r}? Teams: " if match else "teams: ")
                    + ", ".join(self.working_teams())
                )
            if not ("ops_lead" in op.roles or op.team == state.owner_team):
                raise ActionError(f"{op.name} may not reassign: only {state.owner_team} or an ops lead")
            if team == state.owner_team:  # recorded, it would only drop the claim
                raise ActionError(f"exception {state.exception_id[:8]} is already owned by {team}; nothing to reassign")
            fields["reason_code"] = self.policy.check_reason(kw.get("reason"), "reassign")
            fields["target"] = team
        elif action == "escalate":
            if not self._may_work_on(op, state):
                raise ActionError(f"{op.name} may not escalate an exception owned by {state.owner_team}")
            if state.escalated_to:
                raise Conflict(f"already escalated to {state.escalated_to}")
            fields["reason_code"] = self.policy.check_reason(kw.get("reason"), "escalate")
            fields["target"] = self.policy.escalation_team(state.severity)
        elif action == "reopen":
            # Taking back a resolution made in error. An auto-resolved break is gone from the
            # data: only data brings it back (the pipeline reopens it when found again).
            if state.status != "resolved":
                raise ActionError(
                    f"exception {state.exception_id[:8]} is {state.status}; only a resolution can be reopened"
                    + (" (later data closed this one; it reopens when a run finds the break again)"
                       if state.status == "auto_resolved" else "")
                )  # fmt: skip
            if not self._may_work_on(op, state):
                raise ActionError(f"{op.name} may not reopen an exception owned by {state.owner_team}")
            fields["reason_code"] = self.policy.check_reason(kw.get("reason"), "reopen")
        elif action == "comment":
            if not (kw.get("comment") or "").strip():
                raise ActionError("comment needs text (--text)")
        return fields

    def _check_effective_time(self, state: ExceptionState, catalog: dict, last_run: str | None = None) -> None:
        """Refuse an action whose business time comes before the exception's timeline.

        An action takes effect at the business clock (RECON_AS_OF when pinned). Before the
        exception's first sighting it would resolve what did not exist yet (the marts showed
        resolved_at before first_seen_at and negative hours to resolution); before its latest
        action it would reorder its history (a resolution ahead of its claim); before the run
        that last refreshed the catalog (``last_run``, its as-of) it would act on what that
        run already changed (a resolution accepting a value at risk a later version had
        replaced). Equal times are fine: a replay acts at the time of the run that found it.
        """
        now = self.clock()
        first_seen = _aware(catalog["first_seen_at"])
        latest = _aware(state.last_action_at) if state.last_action_at else None
        run_at = _aware(last_run)
        pinned = as_of_pinned()
        clock = (
            f"the business clock is {now.isoformat()} (RECON_AS_OF={pinned})"
            if pinned
            else f"the business clock is the real time, {now.isoformat()}"
        )
        eid = state.exception_id[:8]
        # The time to suggest is the earliest every rule allows, not the bound of the rule
        # that refused: a clock set to the first sighting can still come before the last run
        # or the latest action, and an operator who followed the message was refused again.
        earliest = max(t for t in (first_seen, run_at, latest, now) if t is not None).isoformat()
        retry = ("unset RECON_AS_OF, or set it" if pinned else "set RECON_AS_OF") + f" to {earliest} or later"
        # A clock pinned ahead of the real time (RECON_AS_OF=2029-… left in a shell, or a
        # mistyped year): the action took effect then, and every later action on the exception,
        # by anyone, was refused as "before its latest action" until that date; the marts
        # counted years to resolution. Replays pin the past; a person acts at most now.
        real = self.wall_clock()
        if pinned and ahead_of_real_time(now, real):
            ahead = max((t for t in (first_seen, run_at, latest) if t is not None), default=None)
            wait = (
                f"; this exception's runs or actions are already at {ahead.isoformat()}, so it takes actions from then"
                if ahead is not None and ahead_of_real_time(ahead, real)
                else ""
            )
            raise ActionError(
                f"RECON_AS_OF={pinned} is ahead of the real time ({real.isoformat()}): an action taking effect then "
                f"would hold every later action on exception {eid} until that time. Nothing recorded: unset "
                f"RECON_AS_OF, or pin a time no later than now{wait}"
            )
        # The way out of a timeline already dated ahead of the real time (an action, or a run,
        # recorded with RECON_AS_OF pinned ahead before the rule above): at the real time, an
        # action takes effect now, after every entry in the log (readers go by its order), and
        # is not held until that date. Exit 3 with "set RECON_AS_OF to 2029-… or later" was a
        # dead end: the rule above refuses exactly that.
        if not pinned:
            first_seen, run_at, latest = (
                None if t is not None and ahead_of_real_time(t, real) else t for t in (first_seen, run_at, latest)
            )
        if first_seen is not None and now < first_seen:
            raise ActionError(
                f"exception {eid} was first seen at {first_seen.isoformat()}; an action cannot take effect before "
                f"the exception existed, and {clock}. Nothing recorded: "
                + (retry if pinned else f"the run that found it was pinned ahead; {retry}")
            )
        if run_at is not None and now < run_at:
            raise ActionError(
                f"exception {eid}: the last run saw the data as of {run_at.isoformat()}; an action cannot take "
                f"effect before it, and {clock}. Nothing recorded: {retry}"
            )
        if latest is not None and now < latest:
            raise ActionError(
                f"exception {eid} (first seen {catalog['first_seen_at']}) has its latest action, {state.last_action}, "
                f"in effect from {latest.isoformat()}; an action cannot take effect before it, and {clock}. "
                f"Nothing recorded: {retry}"
            )

    def _link_words(self, con: sqlite3.Connection, reconciliation: str) -> dict[tuple[str, str], dict]:
        """Per (left key, right key) of one reconciliation, the operators' last word on the pair.

        Read from the log as the engine reads it (int_operator_links): the latest match or
        unmatch naming the pair wins, whichever exception it was recorded on. Each word has
        ``linked`` (a match whose right record no later match moved elsewhere, where a right
        record belongs to one left record only) and ``forbidden`` (an unmatch).
        """
        from orchestration import links, specs

        if reconciliation == links.CREDIT_NOTES:
            shares = False  # a credit note credits one order: a later link moves it
        else:
            try:
                shares = links.right_may_share(specs.load_spec(reconciliation))
            except Exception:  # a spec this checkout cannot read: never call a pair moved
                shares = True
        words: dict[tuple[str, str], dict] = {}
        last_match_of_right: dict[str, int] = {}
        # Matches waiting for a checker, by their LNK id: applied at their approval (its seq),
        # never when rejected, as int_operator_links reads them.
        waiting: dict[tuple[str, str], dict] = {}
        for entry in con.execute(
            "select seq, exception_id, action, actor, target from actions"
            " where action in ('match', 'unmatch', 'approve', 'reject') order by seq"
        ):
            row = dict(entry)
            if row["action"] in ("approve", "reject"):
                held = waiting.pop((row["exception_id"], row["target"] or ""), None)
                if held is None or row["action"] == "reject":
                    continue
                row = {**held, "seq": row["seq"]}  # the link takes effect when approved
            elif row["action"] == "match" and link_approval_id(row["target"]) is not None:
                waiting[(row["exception_id"], link_approval_id(row["target"]))] = row
                continue
            try:
                link = links.Link.from_target(row["target"])
            except (TypeError, ValueError, KeyError):
                continue  # not a link the engine reads either
            if link.reconciliation != reconciliation:
                continue
            for i, left in enumerate(link.left):
                for j, right in enumerate(link.right):
                    words[(left, right)] = {
                        "action": row["action"],
                        "seq": row["seq"],
                        "actor": row["actor"],
                        "exception_id": row["exception_id"],
                        "fingerprints": (_nth(link.left_fingerprints, i), _nth(link.right_fingerprints, j)),
                    }
                    if row["action"] == "match":
                        last_match_of_right[right] = row["seq"]
        for (_, right), word in words.items():
            moved = not shares and word["action"] == "match" and word["seq"] < last_match_of_right[right]
            word["linked"] = word["action"] == "match" and not moved
            word["forbidden"] = word["action"] == "unmatch"
        return words

    def _undoes_own_link(self, con: sqlite3.Connection, action: str, state: ExceptionState, kw: dict) -> bool:
        """Whether this is an unmatch, on an exception closed by later data, of a pair an operator's
        link holds now. The link is what closed it (an unmatched credit note or an orphan invoice
        matched by hand is no longer found): refusing it as closed left a wrong link with no way
        back when no other exception was open on its records. The next run finds the break again
        and reopens it."""
        link = kw.get("link")
        if action != "unmatch" or state.status != "auto_resolved" or not hasattr(link, "target"):
            return False
        words = self._link_words(con, link.reconciliation)
        return any(words.get((left, right), {}).get("linked") for left in link.left for right in link.right)

    def _check_link_changes(self, con: sqlite3.Connection, action: str, eid: str, target: str, record: str) -> None:
        """Refuse a match or unmatch that changes no pair: the log would say twice what the engine already reads.

        An unmatch of pairs all forbidden already, or a match of pairs all linked already with
        the records as they are published now (a match after a restatement records the new
        fingerprints, and is a change). ``record`` is the exception's own record key.
        """
        from orchestration.links import Link

        link = Link.from_target(target)
        words = self._link_words(con, link.reconciliation)
        pairs = [
            ((left, right), (_nth(link.left_fingerprints, i), _nth(link.right_fingerprints, j)))
            for i, left in enumerate(link.left)
            for j, right in enumerate(link.right)
        ]
        if action == "unmatch":
            unchanged = all(words.get(pair, {}).get("forbidden") for pair, _ in pairs)
        else:
            unchanged = all(
                words.get(pair, {}).get("linked") and words[pair]["fingerprints"] == prints for pair, prints in pairs
            )
        if not unchanged:
            return
        short = eid[:8]
        others = [k for k in (*link.left, *link.right) if k != record] or [*link.right]
        keys = {*link.left, *link.right}
        in_force = sorted(
            (word["seq"], f"{left} ↔ {right} (#{word['seq']} by {word['actor']})")
            for (left, right), word in words.items()
            if word["linked"] and (left in keys or right in keys)
        )
        said = sorted({words[pair]["seq"] for pair, _ in pairs})
        by = sorted({words[pair]["actor"] for pair, _ in pairs})
        shown = "; ".join(f"{left} ↔ {right}" for (left, right), _ in pairs[:5]) + ("; ..." if len(pairs) > 5 else "")
        linked_now = (
            "Linked by operators now: "
            + "; ".join(text for _, text in in_force[:5])
            + ("; ..." if len(in_force) > 5 else "")
            if in_force
            else f"No operator's link is in force on these records (`recon exceptions show {short}` lists the "
            "engine's matches)"
        )
        recorded = ", ".join(f"#{s}" for s in said) + " by " + ", ".join(by)
        if action == "unmatch":
            raise Conflict(
                f"in {link.reconciliation}: {shown} may never be linked already (unmatched as {recorded}); "
                f"nothing recorded. {linked_now}. To link again: "
                f"`recon exceptions match {short} --with {' '.join(others)} --reason CODE`"
            )
        raise Conflict(
            f"in {link.reconciliation}: {shown} is linked already (matched as {recorded}, the records as published "
            f"now); nothing recorded. {linked_now}. To break the link: "
            f"`recon exceptions unmatch {short} --with {' '.join(others)} --reason CODE`"
        )

    def link_review(self, link) -> list[str]:
        """Why a manual match waits for a checker (empty: it applies at the next run), as
        :func:`orchestration.links.review` reads the published copy: records of another client
        or currency, or more money moved than ``adjustment_approval_threshold``."""
        if link is None or not hasattr(link, "target"):
            return []
        from orchestration import links, publish

        return links.review(link, publish.serving_path(), self.policy, self.clock().date())

    def working_teams(self) -> list[str]:
        """Teams an exception may be given to: those with an operator to work it."""
        return sorted({op.team for op in self.policy.operators.values() if {"operator", "ops_lead"} & op.roles})

    def policy_teams(self) -> list[str]:
        teams = {op.team for op in self.policy.operators.values()}
        return sorted(teams | set(self.policy.escalate_to.values()))

    def act(self, action: str, exception_id: str, actor: str | None, **kw) -> dict:
        """Check the rules and append the action, atomically. Returns the recorded entry."""
        kw = check_inputs(kw)
        login = self.login()
        op = self.policy.acting(login, check_text(actor, "--as", MAX_CODE_CHARS), action)
        # Why a match needs a checker, read from the published copy before the write turn (a
        # caller's say is not taken: every interface gets the same rule).
        kw["link_review"] = self.link_review(kw.get("link")) if action == "match" else []
        with self._connect() as con, self._writer_turn():
            con.execute("begin immediate")
            try:
                eid = self.resolve_id(exception_id, con)
                state = self._state(con, eid)
                catalog = dict(con.execute("select * from catalog_entries where exception_id = ?", [eid]).fetchone())
                last_run = con.execute("select as_of from catalog_clock where id = 1").fetchone()
                self._check_effective_time(state, catalog, last_run["as_of"] if last_run else None)
                fields = self._check(
                    action, op, state, kw, catalog, undoing_link=self._undoes_own_link(con, action, state, kw)
                )
                if action in ("match", "unmatch"):
                    self._check_link_changes(con, action, eid, fields["target"], catalog.get("record_id"))
                row = self._append(con, eid, action, op.name, state, fields, login=login)
                con.execute("commit")
            except BaseException:
                con.execute("rollback")
                raise
        return row

    def _append(
        self,
        con: sqlite3.Connection,
        eid: str,
        action: str,
        actor: str,
        state: ExceptionState,
        fields: dict,
        login: str | None = None,
    ) -> dict:
        """Append one action to the chain, with the state before and after it (caller holds the transaction)."""
        before = state.snapshot()
        last = con.execute("select seq, entry_hash from actions order by seq desc limit 1").fetchone()
        seq = (last["seq"] + 1) if last else 1
        prev = last["entry_hash"] if last else GENESIS
        row = {
            "seq": seq,
            "action_id": uuid.uuid4().hex,
            "exception_id": eid,
            "action": action,
            "actor": actor,
            # The real time, always; the business time it takes effect at is recorded beside it.
            "acted_at": self.wall_clock().isoformat(),
            "effective_at": self.clock().isoformat(),
            "reason_code": fields.get("reason_code"),
            "comment": fields.get("comment"),
            "amount": fields.get("amount"),
            "target": fields.get("target"),
            "state_before": json.dumps(before, sort_keys=True),
            "state_after": None,
            "login": login,
        }
        after = copy.deepcopy(state)
        if action == "adjust":
            # Whether this adjustment waits for approval is decided now, under the
            # threshold in force, and recorded: apply() reads it from state_after.
            pending = set(state.pending_adjustments) | ({fields["target"]} if fields["needs_approval"] else set())
            row["state_after"] = json.dumps({**before, "pending_adjustments": sorted(pending)})
        after.apply(row)
        row["state_after"] = json.dumps(after.snapshot(), sort_keys=True)
        row["prev_hash"] = prev
        row["entry_hash"] = entry_hash(prev, row)
        con.execute(
            f"insert into actions ({', '.join(STORED_FIELDS)}) values ({', '.join('?' for _ in STORED_FIELDS)})",
            [row[k] for k in STORED_FIELDS],  # fixed column names; values bound
        )
        return row

    # ---------------------------------------------------------- listing

    def list_exceptions(
        self,
        team: str | None = None,
        owner: str | None = None,
        status: str | None = None,
        severity: str | None = None,
        exception_type: str | None = None,
        overdue: bool = False,
        include_retired: bool = False,
        client: str | None = None,
    ) -> list[dict]:
        """Current exceptions with their operator state, most urgent SLA first (values at risk in
        the reporting currency only when in today's: :func:`in_todays_currency`)."""
        from orchestration.publish import reporting_currency

        today = reporting_currency()
        with self._connect() as con:
            where, params = [], []
            if not include_retired:
                where.append("is_current = 1")
            for column, value in (("severity", severity), ("exception_type", exception_type)):
                if value:
                    where.append(f"{column} = ?")  # column names are fixed above, values bound
                    params.append(value)
            rows = con.execute(
                "select * from catalog_entries" + (" where " + " and ".join(where) if where else ""), params
            ).fetchall()
            out = []
            for row in rows:
                entry = in_todays_currency(dict(row), today)
                # The client name contains it, in any case: the desk's client filter.
                if client and client.casefold() not in (entry.get("client_name") or "").casefold():
                    continue
                state = self._state(con, entry["exception_id"])
                entry.update(
                    status=state.status,
                    owner_team=state.owner_team,
                    claimed_by=state.claimed_by,
                    escalated_to=state.escalated_to,
                    attempts=state.attempts,
                    sla_due_at=state.sla_due_at.isoformat(),
                    is_overdue=state.is_breached,
                    last_action=state.last_action,
                )
                if team and entry["owner_team"] != team:
                    continue
                if owner and entry["claimed_by"] != owner:
                    continue
                if status and entry["status"] != status:
                    continue
                if overdue and not entry["is_overdue"]:
                    continue
                out.append(entry)
        closed = ("resolved", "auto_resolved")
        return sorted(out, key=lambda e: (e["status"] in closed, e["sla_due_at"], e["exception_id"]))

    # ------------------------------------------------------------ audit

    def verify(self) -> list[str]:
        """Problems in the hash chain; empty when every entry is intact and in order.

        The chain alone cannot tell that its newest entries are gone: ``check_anchor``
        compares it with the head a run anchored outside the store.
        """
        with self._connect() as con:
            return verify_chain(dict(r) for r in con.execute("select * from actions order by seq"))

    def all_actions(self, after_seq: int = 0) -> list[dict]:
        with self._connect() as con:
            return [dict(r) for r in con.execute("select * from actions where seq > ? order by seq", [after_seq])]


def _check_currency_range(amount: Decimal, catalog: dict | None, exception_id: str) -> None:
    """Refuse an adjustment past the range of one amount in the exception's currency.

    The landing contract's range (orchestration.contract.AMOUNT_LIMITS, exclusive: below
    10,000,000,000 in USD, 10^11 in SEK, 10^12 in JPY): an amount past it is no amount any
    source may send, and the models convert amounts between currencies within it. An
    exception of no known currency keeps the store's own bound (MAX_ABS_AMOUNT).
    """
    from orchestration.contract import AMOUNT_LIMITS

    currency = str((catalog or {}).get("currency") or "").strip().upper()
    limit = AMOUNT_LIMITS.get(currency)
    if limit is not None and abs(amount) >= limit:
        raise InvalidInput(
            f"--amount must be above -{limit:,} and below {limit:,} on exception {exception_id[:8]}, in {currency}: "
            f"the landing contract's range for one amount in {currency} (docs/landing_contract.md); "
            f"got {amount_text(amount)}; nothing recorded"
        )


def _nth(values: tuple | list, index: int):
    """The n-th of a link's fingerprints, None where the link has none (as the engine unnests them)."""
    return values[index] if index < len(values) else None


def _at_risk_text(catalog: dict | None) -> str | None:
    """The catalog's value at risk as the log stores amounts, or None when it has none to record."""
    text = (catalog or {}).get("amount_at_risk")
    try:
        amount = Decimal(str(text).strip()) if text is not None else None
    except (InvalidOperation, ValueError):
        return None
    return amount_text(amount) if amount is not None and amount.is_finite() else None


def _aware(text: str | None) -> datetime | None:
    """An ISO timestamp of the store as an aware datetime (UTC when it carries no offset)."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def verify_chain(entries) -> list[str]:
    """Problems in a hash chain given its entries in seq order."""
    problems: list[str] = []
    prev, expected_seq = GENESIS, 1
    for entry in entries:
        if entry["seq"] != expected_seq:
            gap = entry["seq"] - expected_seq
            problems.append(
                f"entry seq {entry['seq']}: expected seq {expected_seq} — "
                f"{gap} entr{'y' if gap == 1 else 'ies'} deleted before it"
            )
        if entry["prev_hash"] != prev:
            problems.append(
                f"entry seq {entry['seq']}: does not follow the entry before it "
                "(an entry was deleted, inserted or the order changed)"
            )
        if entry_hash(entry["prev_hash"], entry) != entry["entry_hash"]:
            problems.append(f"entry seq {entry['seq']}: content does not match its hash (edited)")
        prev, expected_seq = entry["entry_hash"], entry["seq"] + 1
    return problems


def read_log(path: Path) -> list[dict] | None:
    """Every entry of the store at ``path``, opened read-only (an audit changes nothing).

    None when the file has no actions table. The caller checks that the file exists.
    """
    con = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True, timeout=60)
    con.row_factory = sqlite3.Row
    try:
        if con.execute("select 1 from sqlite_master where type = 'table' and name = 'actions'").fetchone() is None:
            return None
        return [dict(r) for r in con.execute("select * from actions order by seq")]
    finally:
        con.close()


def check_catalog(
    path: Path, anchor: dict | None, source: str, run_since: str | None = None
) -> tuple[list[str], bool, bool]:
    """(problems, anchored, written_since) of the store's exception catalog: edited, deleted or added rows.

    The catalog is outside the hash chain and only a run writes it (``refresh_catalog``),
    recording its digest in the same transaction. Recomputed here (read-only): a row
    deleted, added or changed by hand no longer matches. A catalog rewritten with its digest
    recomputed is found against the digest the publication anchored (``anchor``), unless a
    run wrote the catalog since that publication: ``run_since`` is the publication's time when
    a run may have (one holds the warehouse, or one failed since), and ``written_since`` says
    the recorded digest is newer than it. ``anchored`` says the catalog is the very one that
    publication's run wrote (nothing more to compare).
    """
    con = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True, timeout=60)
    con.row_factory = sqlite3.Row
    try:
        con.execute("begin")  # one snapshot: the catalog and its digest as one run's commit left them
        tables = {r[0] for r in con.execute("select name from sqlite_master where type = 'table'")}
        if "exception_catalog" not in tables:
            return [], False, False
        recorded = (
            con.execute("select digest, catalog_rows, written_at from catalog_digest where id = 1").fetchone()
            if "catalog_digest" in tables
            else None
        )
        anchored = (anchor or {}).get("catalog_digest")
        # Recomputed the way the recorded digest was made (a store a release before wrote has
        # the older digest until its next run), and the anchor's way if that differs.
        version = digest_version(recorded["digest"] if recorded else anchored)
        digest, rows = catalog_digest(con, version)
        if anchored and digest_version(anchored) != version:
            anchor_digest = catalog_digest(con, digest_version(anchored))[0]
        else:
            anchor_digest = digest
        edited = edited_catalog_rows(con) if version and recorded is not None and recorded["digest"] != digest else []
    finally:
        con.close()
    if recorded is None:
        if not anchored:  # a store no run of this version has written yet: the next run records it
            return [], False, False
        return (
            [
                f"the store's exception catalog ({rows} rows) has no recorded digest, but {source} anchored one "
                f"({anchored[:12]}, {anchor.get('catalog_rows')} rows): the digest was deleted, or the store replaced"
            ],
            False,
            False,
        )
    written_since = run_since is not None and _later(recorded["written_at"], run_since)
    if recorded["digest"] != digest:
        return (
            [
                f"the store's exception catalog was edited outside a run: its {rows} rows do not match the digest "
                f"the run that wrote it recorded ({recorded['catalog_rows']} rows, at {recorded['written_at']}); "
                "a row was deleted, added or changed (an amount, an owner, a sighting)"
                + (f"; rows changed since the run wrote them: {', '.join(e[:8] for e in edited)}" if edited else "")
            ],
            False,
            written_since,
        )
    against_anchor = not written_since
    if against_anchor and anchored and anchored != anchor_digest:
        return (
            [
                f"the store's exception catalog ({rows} rows, digest {digest[:12]}) is not the one {source} anchored "
                f"({anchor.get('catalog_rows')} rows, digest {anchored[:12]}), and no run has written it since: it was "
                "rewritten and its digest recomputed, or the store replaced"
            ],
            False,
            written_since,
        )
    return [], bool(against_anchor and anchored), written_since


def _later(instant: str, than: str) -> bool:
    """``instant`` after ``than`` (ISO timestamps); False when either cannot be read."""
    try:
        return datetime.fromisoformat(instant) > datetime.fromisoformat(than)
    except (TypeError, ValueError):
        return False


# The catalog fields that decide who may act (claim, approve, reassign) and how urgently,
# and what an operator reads of the money (the list, the inbox, the maker–checker rate).
CATALOG_CHECKED = (
    "exception_type", "owner_team", "severity", "sla_hours", "currency", "amount_at_risk", "amount_at_risk_reporting",
)  # fmt: skip


def catalog_disagreements(path: Path, serving: Path, limit: int = 20) -> list[str]:
    """Catalog rows of the store at ``path`` that differ from the published exceptions.

    Each run rewrites the store's exception catalog from the marts it publishes; the
    catalog is not part of the hash chain, so an owner team edited in it would let someone
    claim what another team owns until the next run. Compared read-only with the serving
    copy's marts.fct_reconciliation_exceptions, for the exceptions both hold, and the
    published exceptions the catalog lacks. It names the rows; ``check_catalog`` (the digest)
    also finds edits to what is not published (retired exceptions, details, sightings).
    """
    from orchestration.warehouse import open_reader

    if not serving.exists():
        return []
    con = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True, timeout=60)
    con.row_factory = sqlite3.Row
    try:
        if con.execute("select 1 from sqlite_master where name = 'exception_catalog'").fetchone() is None:
            return []
        catalog = {r["exception_id"]: dict(r) for r in con.execute("select * from exception_catalog")}
    finally:
        con.close()
    import duckdb

    reader = open_reader(serving)
    try:
        columns = {
            r[0]
            for r in reader.execute(
                "select column_name from information_schema.columns"
                " where table_schema = 'marts' and table_name = 'fct_reconciliation_exceptions'"
            ).fetchall()
        }
        checked = [k for k in CATALOG_CHECKED if k in columns]  # a publication of an older version has fewer
        if "exception_id" not in columns:  # a publication without the exceptions mart: nothing to compare
            return []
        published = {  # amounts as text, as the catalog holds them (Decimal('1.00') would show its type)
            row[0]: dict(
                zip(
                    ("exception_id", *checked),
                    (v if v is None or isinstance(v, int) else str(v) for v in row),
                    strict=True,
                )
            )
            for row in reader.execute(
                "select " + ", ".join(("exception_id", *checked)) + " from marts.fct_reconciliation_exceptions"
            ).fetchall()
        }
    except duckdb.CatalogException:
        return []
    finally:
        reader.close()
    out = [
        f"exception {eid[:8]} is published but missing from the store's catalog (deleted: operators no longer see it)"
        for eid in sorted(published.keys() - catalog.keys())[:limit]
    ]
    for eid in sorted(catalog.keys() & published.keys()):
        if len(out) >= limit:
            break
        differs = [
            f"{k} {catalog[eid].get(k)!r} (published {published[eid][k]!r})"
            for k in checked
            if str(catalog[eid].get(k)) != str(published[eid][k])
        ]
        if differs:
            out.append(f"exception {eid[:8]} in the store's catalog: " + ", ".join(differs))
    return out
