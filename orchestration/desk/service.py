"""What the desk shows and does, without HTTP: the inbox, an exception, actions, the dashboard.

Reads come from two places, neither of them the working warehouse:

* the action store (SQLite, WAL): the exception catalog the last run wrote and the log of
  actions, folded into each exception's state. The desk keeps the folded states in memory
  and applies only the entries appended since it last looked (the log is append-only),
  so an inbox of 100,000 exceptions does not replay the log at every page;
* the published serving copy (DuckDB, read-only): records, candidates, matches and the
  dashboard's marts. The desk opens it read-only and reopens it when a publication
  replaces the file; a run in progress never blocks it, and it never blocks a run.

Every action goes through :class:`ActionStore.act`, the service layer the CLI uses, with
the desk's authenticated user as login (``desk:NAME``): the same rules, the same
messages, the same hash-chained log.
"""

from __future__ import annotations

import json
import os
import re
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from orchestration import identity, links, publish
from orchestration.actions import (
    ACTIONS,
    ActionError,
    ActionStore,
    ExceptionState,
    Policy,
    check_run_store,
    store_path,
)
from orchestration.actions.store import in_todays_currency
from orchestration.identity import DESK_LOGIN_PREFIX
from orchestration.settings import PROJECT_DIR, serving_path
from orchestration.warehouse import open_reader

PAGE_SIZE = 50
MAX_PAGE = 10_000
MAX_BULK = 500  # exceptions one bulk action may take
AGE_BUCKETS = (
    ("0-2 days", 0, 2),
    ("3-7 days", 3, 7),
    ("8-30 days", 8, 30),
    ("31-90 days", 31, 90),
    ("over 90 days", 91, None),
)
SORTS = {
    "sla": lambda r: (r["is_closed"], r["sla_due_at"], r["exception_id"]),
    "amount": lambda r: (-r["amount"], r["exception_id"]),
    "age": lambda r: (-r["age_days"], r["exception_id"]),
}
# 1000, 1,000, 250.50: no exponents, and ASCII digits only (re's \d is any script's digit:
# min_amount=١٠٠٠٠ filtered at 10000, where the CLI's --amount refuses other scripts' digits).
AMOUNT = re.compile(r"-?(\d{1,3}(,\d{3})+|\d{1,13})(\.\d{1,4})?", re.ASCII)
FILTER_KEYS = ("team", "type", "client", "severity", "status", "age", "min_amount", "max_amount", "sort", "page")
STATUSES = ("active", "open", "claimed", "resolved", "auto_resolved", "all")


class DeskError(Exception):
    """A request the desk refuses before asking the store (a bad filter, too many ids)."""


def single_filters(items) -> dict:
    """A query string's (key, value) pairs as one value per key; a filter given twice is refused.

    ``?type=orphan_invoice&type=unbilled_order`` showed unbilled orders alone (the last value
    won), with nothing to say the first was dropped."""
    out: dict = {}
    for key, value in items:
        if key in out and key in FILTER_KEYS and value != out[key]:
            raise DeskError(f"{key} is given twice ({out[key][:32]!r} and {value[:32]!r}): filter by one value")
        out[key] = value
    return out


@dataclass
class InboxQuery:
    team: str | None = None
    exception_type: str | None = None
    client: str | None = None
    severity: str | None = None
    status: str = "active"
    age: str | None = None
    min_amount: Decimal | None = None
    max_amount: Decimal | None = None
    sort: str = "sla"
    page: int = 1

    @classmethod
    def parse(cls, params: dict, known_types: list[str], teams: list[str], severities: list[str]) -> InboxQuery:
        """Bounded, validated filters from a query string; a wrong value is refused, not ignored."""

        def choice(key: str, allowed) -> str | None:
            value = (params.get(key) or "").strip()
            if not value:
                return None
            if value not in allowed:
                raise DeskError(f"{key}={value[:64]!r} is not one of: {', '.join(allowed)}")
            return value

        def amount(key: str) -> Decimal | None:
            value = (params.get(key) or "").strip()
            if not value:
                return None
            if not AMOUNT.fullmatch(value):
                raise DeskError(f"{key}={value[:32]!r} is not an amount; write e.g. 1000, 1,000 or 250.50")
            try:
                parsed = Decimal(value.replace(",", ""))
            except InvalidOperation as exc:
                raise DeskError(f"{key}={value[:32]!r} is not an amount; write e.g. 1000 or 250.50") from exc
            if not parsed.is_finite() or abs(parsed) > Decimal("1e12"):
                raise DeskError(f"{key} must be a number between -1e12 and 1e12")
            return parsed

        try:
            page = int(params.get("page") or 1)
        except ValueError as exc:
            raise DeskError("page must be a whole number") from exc
        client = (params.get("client") or "").strip()
        if len(client) > 200:
            raise DeskError("client: at most 200 characters")
        return cls(
            team=choice("team", teams),
            exception_type=choice("type", known_types),
            client=client or None,
            severity=choice("severity", severities),
            status=choice("status", STATUSES) or "active",
            age=choice("age", [b[0] for b in AGE_BUCKETS]),
            min_amount=amount("min_amount"),
            max_amount=amount("max_amount"),
            sort=choice("sort", list(SORTS)) or "sla",
            page=max(1, min(page, MAX_PAGE)),
        )


def _parsed(entry: dict, today: str) -> dict:
    """A catalog row with what every inbox request needs parsed once: dates, amount, the listed fields.

    The amount sorted, filtered and summed is the value at risk in ``today``'s reporting currency
    only (a row a run wrote in another, closed since, is shown by its own amount): before, such a
    value was summed as today's."""
    found_value = Decimal(entry["amount_at_risk_reporting"] or 0)
    entry = in_todays_currency(entry, today)
    details = json.loads(entry["details"] or "{}")
    business = details.get("business_due_at") if isinstance(details, dict) else None
    return {
        "first_seen": datetime.fromisoformat(entry["first_seen_at"]),
        "business": datetime.fromisoformat(business).replace(tzinfo=UTC) if business else None,
        "sla_hours": entry["sla_hours"],
        "row": {
            "exception_id": entry["exception_id"],
            "exception_type": entry["exception_type"],
            "severity": entry["severity"],
            "client_name": entry["client_name"] or "",
            "record_id": entry["record_id"] or "",
            "currency": entry["currency"],
            # The reporting amount, in today's reporting currency (sorting, filters, totals) ...
            "amount": Decimal(entry["amount_at_risk_reporting"] or 0),
            # ... and, where there is none, what the inbox shows instead: the exception's own
            # amount and currency (invoice lines whose header has not arrived: currency
            # unknown), or nothing (amount_out_of_range). Before, both showed 0.00.
            "amount_shown": _own_amount_shown(entry),
            # Why there is no value in today's reporting currency when a run reported it in
            # another before the switch (in_todays_currency), as `recon exceptions show` says.
            "reporting_value_note": entry.get("reporting_value_note"),
            # What escalation asks of it: whether anything was at risk when found, in any currency.
            "found_at_risk": found_value,
            "is_current": bool(entry["is_current"]),
        },
    }


def _own_amount_shown(entry: dict) -> str | None:
    """None when the reporting amount is what the inbox shows; else the text in its place."""
    if entry.get("amount_at_risk_reporting") is not None:
        return None
    if entry.get("amount_at_risk") is None:
        return ""
    return f"{Decimal(entry['amount_at_risk']):,.2f} {entry.get('currency') or '(currency unknown)'}"


@dataclass
class _Folded:
    signature: tuple | None = None
    catalog: dict[str, dict] = field(default_factory=dict)
    head: int = 0
    states: dict[str, ExceptionState] | None = None


class Desk:
    def __init__(self, actions_path: Path | None = None, serving: Path | None = None, clock=None):
        self.actions_path = Path(actions_path or store_path())
        self.serving = Path(serving or serving_path())
        self._policy, self._policy_key = None, None
        self.reporting_currency = publish.reporting_currency()
        self.clock = clock
        self._lock = threading.RLock()
        self._folded = _Folded()
        self._row_cache: dict[str, tuple] = {}
        self._row_cache_signature = None
        self._reader = None
        self._reader_key = None
        self._reading = 0  # blocks in reading() now
        self._readers_done = threading.Condition()

    # ---------------------------------------------------------------- stores

    @property
    def policy(self) -> Policy:
        """The roster and policy seeds, read again whenever one of their files changed.

        A user removed from config/operators.yml loses the desk at their next request (their
        session is refused); a changed team or role applies at once, without a restart.
        """
        files = [identity.roster_path(), PROJECT_DIR / "seeds" / "reason_codes.csv",
                 PROJECT_DIR / "seeds" / "severity_policy.csv"]  # fmt: skip
        key = tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files)
        with self._lock:
            if key != self._policy_key:
                self._policy, self._policy_key = Policy.load(), key
            return self._policy

    def healthy(self) -> bool:
        """Whether the action store, which every page and action reads, can be read now.

        Read-only and bounded: a health check must not create, lock or wait on the store. A
        store not made yet is fine (the first page makes it)."""
        import sqlite3

        if not self.actions_path.exists():
            try:
                check_run_store(self.actions_path)  # expected there (published runs): not healthy
            except ActionError:
                return False
            return True
        try:
            con = sqlite3.connect(f"file:{self.actions_path.resolve()}?mode=ro", uri=True, timeout=2)
            try:
                con.execute("select count(*) from sqlite_master").fetchone()
            finally:
                con.close()
        except sqlite3.Error:
            return False
        return True

    def store(self, user: str | None = None) -> ActionStore:
        """The action store, acting for ``user`` (authenticated by the desk) when given."""
        kw = {"clock": self.clock} if self.clock else {}
        # Made by a page only in a home where nothing ran yet; where runs published (a mistyped
        # RECON_ACTIONS_PATH) refused, naming it, rather than an empty inbox.
        check_run_store(self.actions_path)
        login = (lambda: DESK_LOGIN_PREFIX + user) if user else (lambda: "desk")
        return ActionStore(self.actions_path, policy=self.policy, login=login, **kw)

    @contextmanager
    def reading(self):
        """A cursor on the serving copy for the length of the block; None before a publication.

        A publication replaces the file, and the next block reopens it, but only once every
        block still reading through the old connection is done. Closing a connection fails the
        cursors other requests read through (500s at every run), and DuckDB gives a new
        connection to a path whose old database is still open that old database: the replaced
        file. So the reopen waits. Blocks must not nest (the inner one could wait on the outer).
        """
        with self._readers_done:
            while True:
                try:
                    st = os.stat(self.serving)
                    key = (st.st_ino, st.st_mtime_ns, st.st_size)
                except FileNotFoundError:
                    key = None
                if key is None or key == self._reader_key or self._reading == 0:
                    break
                self._readers_done.wait()
            cursor = None
            if key is not None:
                if key != self._reader_key:
                    if self._reader is not None:
                        self._reader.close()
                    self._reader, self._reader_key = None, None
                    self._reader, self._reader_key = open_reader(self.serving), key
                cursor = self._reader.cursor()
            self._reading += 1
        try:
            yield cursor
        finally:
            if cursor is not None:
                cursor.close()
            with self._readers_done:
                self._reading -= 1
                self._readers_done.notify_all()

    def operator(self, name: str):
        return self.policy.operators[name]

    def teams(self) -> list[str]:
        """Teams with a queue: those with operators (a team of approvers of rules only has none)."""
        workers = {op.team for op in self.policy.operators.values() if {"operator", "ops_lead"} & op.roles}
        return sorted(workers | set(self.policy.escalate_to.values()))

    # ----------------------------------------------------------------- inbox

    def _catalog(self, store: ActionStore) -> dict[str, dict]:
        """The catalog, parsed once per run (cached), and every state brought up to the log's head."""
        with store._connect() as con:
            # The digest each run's refresh records (any row written, retired or re-sighted changes
            # it), and the refresh's clock: one that changed no row still moves when its current
            # rows were last seen. Read without scanning the catalog.
            signature = tuple(
                con.execute(
                    "select (select digest from catalog_digest where id = 1),"
                    " (select catalog_rows from catalog_digest where id = 1),"
                    " (select as_of from catalog_clock where id = 1)"
                ).fetchone()
            )
            reload = signature != self._folded.signature
            catalog = (
                {
                    r["exception_id"]: _parsed(dict(r), self.reporting_currency)
                    for r in con.execute("select * from catalog_entries")
                }
                if reload
                else self._folded.catalog
            )
        with self._lock:
            folded = self._folded
            head, states = store.fold_all(
                0 if reload else folded.head, None if reload else folded.states, catalog_unchanged=not reload
            )
            self._folded = _Folded(signature, catalog, head, states)
        return catalog

    def rows(self, user: str | None = None) -> list[dict]:
        """Every catalogued exception with its state as of now: what the inbox filters and sorts.

        A row is built once per state (the fold gives a changed exception a new state object)
        and kept; per call only what moves with the clock is set again: breached, the
        automatic escalation and the age. That keeps an inbox of 100,000 exceptions cheap.
        """
        store = self.store(user)
        catalog = self._catalog(store)
        states = self._folded.states or {}
        # The clock `recon exceptions list` and the marts judge SLAs by: during a replay, its as-of.
        now, _ = store.reading_clock()
        escalate_to = store.policy.escalate_to
        cache = self._row_cache
        if self._row_cache_signature != self._folded.signature:
            cache = self._row_cache = {}
            self._row_cache_signature = self._folded.signature
        out = []
        for eid, entry in catalog.items():
            state = states.get(eid)
            if state is None:
                continue
            cached = cache.get(eid)
            if cached is None or cached[0] is not state:
                due, _, _ = store.sla_clock(state, entry["first_seen"], entry["business"], entry["sla_hours"])
                if state.reopened_at:
                    opened = datetime.fromisoformat(state.reopened_at)
                else:
                    opened = min(entry["first_seen"], entry["business"]) if entry["business"] else entry["first_seen"]
                row = {
                    **entry["row"],
                    "status": state.status,
                    "is_closed": state.is_closed,
                    "owner_team": state.owner_team,
                    "claimed_by": state.claimed_by,
                    "sla_due_at": due,
                    "aged_from": opened,
                    "last_action": state.last_action,
                }
                cache[eid] = cached = (state, row)
            row = cached[1]
            breached = not row["is_closed"] and row["sla_due_at"] < now
            row["is_breached"] = breached
            escalates = breached and store.policy.escalates(state.severity, row["found_at_risk"])
            row["escalated_to"] = state.escalated_to or (escalate_to.get(state.severity) if escalates else None)
            # A closed exception's age stops at its closing, as fct_exception_current.age_hours does.
            until = datetime.fromisoformat(state.closed_at) if state.is_closed and state.closed_at else now
            row["age_days"] = max(0, (until - row["aged_from"]).days)
            out.append(row)
        return out

    def inbox(self, user: str, query: InboxQuery) -> dict:
        """One page of ``user``'s queue (their team's, or ``query.team`` for an ops lead), most urgent first."""
        op = self.operator(user)
        team = query.team or op.team
        if team != op.team and "ops_lead" not in op.roles:
            raise DeskError(f"{user} works the {op.team} queue; only an ops lead may open another team's")
        rows = [r for r in self.rows(user) if r["is_current"] or query.status in ("resolved", "auto_resolved", "all")]
        rows = [r for r in rows if r["owner_team"] == team or r["escalated_to"] == team]
        if query.status == "active":
            rows = [r for r in rows if not r["is_closed"]]
        elif query.status != "all":
            rows = [r for r in rows if r["status"] == query.status]
        if query.exception_type:
            rows = [r for r in rows if r["exception_type"] == query.exception_type]
        if query.severity:
            rows = [r for r in rows if r["severity"] == query.severity]
        if query.client:
            needle = query.client.casefold()
            rows = [r for r in rows if needle in r["client_name"].casefold()]
        if query.age:
            _, low, high = next(b for b in AGE_BUCKETS if b[0] == query.age)
            rows = [r for r in rows if r["age_days"] >= low and (high is None or r["age_days"] <= high)]
        if query.min_amount is not None:
            rows = [r for r in rows if r["amount"] >= query.min_amount]
        if query.max_amount is not None:
            rows = [r for r in rows if r["amount"] <= query.max_amount]
        rows.sort(key=SORTS[query.sort])
        pages = max(1, -(-len(rows) // PAGE_SIZE))
        page = min(query.page, pages)
        return {
            "team": team,
            "total": len(rows),
            "breached": sum(r["is_breached"] for r in rows),
            "at_risk": sum((r["amount"] for r in rows), Decimal(0)),
            # The rows whose value is in another reporting currency, left out of at_risk, and why.
            "reporting_currency": self.reporting_currency,
            "not_summed": sum(1 for r in rows if r["reporting_value_note"]),
            "value_notes": sorted({r["reporting_value_note"] for r in rows if r["reporting_value_note"]}),
            "page": page,
            "pages": pages,
            "rows": rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE],
            "all_rows": rows,
        }

    # -------------------------------------------------------------- one exception

    def exception(self, user: str, exception_id: str) -> dict:
        store = self.store(user)
        entry = store.catalog_entry(exception_id)
        eid = entry["exception_id"]
        state = store.state(eid)
        details = json.loads(entry.get("details") or "{}")
        reconciliations = details.get("reconciliations") or []
        with self.reading() as con:  # the lineage too: it opens the same file
            records, orders = [], {}
            for rec in reconciliations:
                keys = [entry["record_id"], *(rec.get("matched_keys") or [])]
                keys += [c["candidate_key"] for c in rec.get("top_candidates") or []]
                if con is not None:
                    found = con.execute(
                        "select reconciliation, side, record_key, record_date, record_state, matched_keys, matched_by,"
                        " candidate_count from marts.fct_reconciliation_records"
                        " where reconciliation = ? and list_contains(?, record_key) order by side, record_key",
                        [rec["reconciliation"], keys],
                    ).fetchall()
                    cols = (
                        "reconciliation",
                        "side",
                        "record_key",
                        "record_date",
                        "record_state",
                        "matched_keys",
                        "matched_by",
                        "candidate_count",
                    )
                    records += [dict(zip(cols, r, strict=True)) for r in found]
            order_keys = sorted(
                {r["record_key"] for r in records if r["record_key"].startswith("SO-")}
                | ({entry["record_id"]} if entry["record_entity"] == "stg_crm__orders" else set())
            )
            if con is not None and order_keys:
                cols = (
                    "order_id",
                    "client_name",
                    "order_ref",
                    "order_type",
                    "order_status",
                    "service_start_date",
                    "service_end_date",
                    "currency",
                    "booked_amount",
                    "billed_amount",
                    "credited_amount",
                    "delivered_amount",
                    "fulfilled_amount",
                    "billing_state",
                    "delivery_state",
                    "fulfilment_state",
                )
                found = con.execute(
                    f"select {', '.join(cols)} from marts.fct_reconciled_orders where list_contains(?, order_id)",
                    [order_keys],
                ).fetchall()  # fixed column names; the keys are a parameter
                orders = {r[0]: dict(zip(cols, r, strict=True)) for r in found}
            compared = self._compared(con, entry, reconciliations) if con is not None else []
            lineage = self.lineage(eid)
        return {
            "entry": entry,
            "state": state,
            "details": details,
            "compared": compared,
            "reconciliations": reconciliations,
            "records": records,
            "orders": orders,
            "history": store.history(eid),
            "lineage": lineage,
            "reason_codes": {a: self.policy.codes_for(a) for a in ACTIONS},
        }

    @staticmethod
    def _compared(con, entry: dict, reconciliations: list[dict]) -> list[dict]:
        """Per reconciliation, the compared values of the exception's record beside its matched records and
        top candidates (marts.fct_reconciliation_record_values): what each score component looked at."""
        has = con.execute(
            "select count(*) from duckdb_tables() where schema_name = 'marts' "
            "and table_name = 'fct_reconciliation_record_values'"
        ).fetchall()[0][0]
        if not has:
            return []
        out = []
        for rec in reconciliations:
            side = rec.get("side") or "left"
            other = "right" if side == "left" else "left"
            candidates = [c["candidate_key"] for c in rec.get("top_candidates") or []]
            keys = list(dict.fromkeys([*(rec.get("matched_keys") or []), *candidates]))[:5]
            found = dict(
                ((s, k), json.loads(v))
                for s, k, v in con.execute(
                    "select side, record_key, record_values from marts.fct_reconciliation_record_values"
                    " where reconciliation = ?"
                    " and ((side = ? and record_key = ?) or (side = ? and list_contains(?, record_key)))",
                    [rec["reconciliation"], side, entry["record_id"], other, keys],
                ).fetchall()
            )
            mine = found.get((side, entry["record_id"]))
            if mine is None:
                continue
            columns = [(entry["record_id"], mine)] + [(k, found[(other, k)]) for k in keys if (other, k) in found]
            fields = list(dict.fromkeys(f for _, values in columns for f in values))
            out.append(
                {
                    "reconciliation": rec["reconciliation"],
                    "keys": [k for k, _ in columns],
                    "rows": [(f, [values.get(f) for _, values in columns]) for f in fields],
                }
            )
        return out

    def lineage(self, exception_id: str) -> str:
        """What `recon trace` prints for the exception, traced in the serving copy (no working warehouse)."""
        from orchestration import trace

        if not self.serving.exists():
            return "nothing is published yet"
        try:
            found = trace.trace(self.serving, self.actions_path, exception_id, publication=publish.current())
        except trace.TraceError as exc:
            return f"no lineage: {exc}"
        return trace.render(found)

    # ---------------------------------------------------------------- actions

    def act(self, user: str, action: str, exception_id: str, form: dict) -> dict:
        """One action by ``user``, checked by the store's rules; ``ActionError`` carries the rule's message."""
        store = self.store(user)
        link = None
        if action in ("match", "unmatch"):
            keys = [k for k in (form.get("with_keys") or "").replace(",", " ").split() if k]
            entry = store.catalog_entry(exception_id)
            details = json.loads(entry.get("details") or "{}")
            try:
                link = links.build({**entry, "domain": details.get("domain")}, keys, form.get("reconciliation") or None)
            except links.LinkError as exc:
                raise ActionError(str(exc)) from exc
            with self.reading():  # a publication's reopen waits for it: it opens the same file
                missing, link = links.look_up(link, self.serving)
            if missing:
                raise ActionError(f"the published data has no {'; no '.join(missing)}: check the key")
        return store.act(
            action,
            exception_id,
            None,
            reason=form.get("reason") or None,
            comment=form.get("comment") or None,
            amount=form.get("amount") or None,
            adjustment=form.get("adjustment") or None,
            team=form.get("team") or None,
            link=link,
        )

    def bulk(self, user: str, action: str, exception_ids: list[str], form: dict) -> list[tuple[str, str | None]]:
        """The same action on each exception, each its own log entry: ``[(id, refusal or None)]``."""
        if action not in ("claim", "release", "resolve"):
            raise DeskError(f"bulk {action!r} is not offered: claim, release or resolve")
        if len(exception_ids) > MAX_BULK:
            raise DeskError(f"at most {MAX_BULK} exceptions at once")
        out = []
        for eid in exception_ids:
            try:
                self.act(user, action, eid, form)
                out.append((eid, None))
            except ActionError as exc:
                out.append((eid, str(exc)))
        return out
