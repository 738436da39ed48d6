"""The action store: what operators do to exceptions, and the rules they do it under.

Operators act while the pipeline may hold the DuckDB write lock, so actions live in
their own transactional store: a SQLite file in WAL mode under RECON_HOME. Every
interface (CLI, future UI) calls :class:`ActionStore`, the one place the rules are
enforced. Each action is one row of an append-only log: triggers refuse UPDATE and
DELETE, and every row carries the hash of the previous one, so ``verify`` finds an
entry that was edited, deleted or reordered behind the store's back.

A rule write happens inside ``BEGIN IMMEDIATE``: the check (who holds the claim?) and
the append are one transaction, so of many concurrent claims exactly one wins.

What an operator types is bounded before it is logged (:func:`check_inputs`): the log is
append-only, so a value the warehouse cannot hold would otherwise be there for good. The
chain's head is anchored outside the store at every run (``raw.audit_anchors`` in the
warehouse, ``audit_anchor`` in the publication's ``current.json``), so deleting the newest
entries, the table or the file is found (:func:`check_anchor`), and a store restored from
an older backup cannot fork the log silently (:func:`check_continuity`).
"""

from __future__ import annotations

import copy
import csv
import fcntl
import hashlib
import json
import os
import re
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

import yaml

from orchestration import identity
from orchestration.settings import PROJECT_DIR, recon_home

GENESIS = "0" * 64
ACTIONS = (
    "claim", "release", "comment", "resolve", "adjust", "approve", "reject", "reassign", "escalate", "match", "unmatch",
)  # fmt: skip
# Appended by the pipeline, never by a person: the break disappeared (later data reconciled
# it) or came back after it had disappeared.
PIPELINE_ACTIONS = ("auto_resolve", "reopen")
PIPELINE_ACTOR = "pipeline"
HASHED_FIELDS = (
    "seq",
    "action_id",
    "exception_id",
    "action",
    "actor",
    "acted_at",
    "reason_code",
    "comment",
    "amount",
    "target",
    "state_before",
    "state_after",
)
# Hashed when present: entries written before a field existed keep their hash. ``login`` is
# the authenticated OS login that wrote the entry; ``actor`` the operator it acted as.
OPTIONAL_HASHED_FIELDS = ("effective_at", "login")
STORED_FIELDS = (*HASHED_FIELDS, *OPTIONAL_HASHED_FIELDS, "prev_hash", "entry_hash")

# Bounds on what an operator may enter. raw.operator_actions holds amounts as DECIMAL(18, 4)
# (up to about 1e14); 1e12 leaves a factor of 100 for sums of adjustments.
MAX_ABS_AMOUNT = Decimal("1000000000000")
AMOUNT_PLACES = 4
MAX_TEXT_CHARS = 2000  # --text (comments)
MAX_CODE_CHARS = 64  # --reason, --team, --adjustment, exception id prefixes
ID_PREFIX = re.compile(r"[0-9A-Za-z_-]{1,64}")
CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
CONTROL_CHARS_BUT_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # tabs and line breaks are fine in a comment


class ActionError(Exception):
    """An action was refused; ``exit_code`` is what the CLI exits with."""

    exit_code = 3


class NotFound(ActionError):
    exit_code = 4


class Conflict(ActionError):
    exit_code = 5


class IdentityRefused(ActionError):
    """The OS login is not in the roster, or may not act as the operator named (--as / RECON_USER)."""


class ForkError(ActionError):
    """The action store and the warehouse disagree about the log: restored, truncated or forked."""

    exit_code = 6


def store_path() -> Path:
    return Path(os.environ.get("RECON_ACTIONS_PATH", recon_home() / "actions.sqlite")).resolve()


def wall_clock() -> datetime:
    """The real time: what ``acted_at`` records. RECON_AS_OF never changes it."""
    return datetime.now(UTC).replace(microsecond=0)


def as_of_pinned() -> str | None:
    """RECON_AS_OF when set: the run replays that time (tests, demos, replays)."""
    return os.environ.get("RECON_AS_OF", "").strip() or None


def utc_now() -> datetime:
    """The business clock: the real time, or the time RECON_AS_OF pins (the variable the dbt build reads).

    It decides SLA clocks, escalation and when an action takes effect on an exception's
    timeline (``effective_at``), never the audit timestamp ``acted_at``.
    """
    as_of = os.environ.get("RECON_AS_OF", "").strip()
    if as_of:
        try:
            pinned = datetime.fromisoformat(as_of)
        except ValueError as exc:
            raise ActionError(f"RECON_AS_OF={as_of} is not an ISO timestamp; use e.g. 2026-11-30T09:00:00Z") from exc
        return pinned if pinned.tzinfo else pinned.replace(tzinfo=UTC)
    return datetime.now(UTC).replace(microsecond=0)


# ------------------------------------------------------------------- bounds


def parse_amount(value: object, argument: str = "--amount") -> Decimal:
    """An adjustment amount as a Decimal the warehouse can hold, or a refusal naming the bound.

    Finite, not zero, |amount| <= 1,000,000,000,000 and at most 4 decimal places: the
    warehouse stores DECIMAL(18, 4) and sums adjustments.
    """
    allowed = (
        f"{argument} must be a non-zero decimal number between -{MAX_ABS_AMOUNT:,} and {MAX_ABS_AMOUNT:,} "
        f"with at most {AMOUNT_PLACES} decimal places, e.g. 125.50"
    )
    text = str(value).strip() if value is not None else ""
    if not text or len(text) > 40:
        raise ActionError(f"{allowed}; got {text[:40]!r}{'…' if len(text) > 40 else ''}")
    try:
        amount = Decimal(text)
    except (InvalidOperation, ValueError) as exc:
        raise ActionError(f"{allowed} (a decimal number, e.g. 125.50); got {text!r}") from exc
    if not amount.is_finite():
        raise ActionError(f"{allowed}; got {text!r}, which is not a finite number")
    if amount.is_zero():
        raise ActionError(f"{allowed}; got {text!r}: an adjustment of zero changes nothing")
    if abs(amount) > MAX_ABS_AMOUNT:
        raise ActionError(f"{allowed}; got {text!r}, outside that range")
    quantum = Decimal(1).scaleb(-AMOUNT_PLACES)
    if amount != amount.quantize(quantum):
        raise ActionError(f"{allowed}; got {text!r}, which has more than {AMOUNT_PLACES} decimal places")
    if amount.as_tuple().exponent < -AMOUNT_PLACES:  # 12.500000: same value, fewer zeros
        amount = amount.quantize(quantum)
    return amount


def amount_text(amount: Decimal) -> str:
    """Plain notation (never 1E+3), as the log stores it."""
    return format(amount, "f")


def check_text(value: str | None, argument: str, limit: int, allow_newlines: bool = False) -> str | None:
    """Free text within ``limit`` characters and without control characters, or a refusal."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ActionError(f"{argument} must be text")
    if len(value) > limit:
        raise ActionError(f"{argument} is {len(value)} characters; at most {limit} are allowed")
    if (CONTROL_CHARS_BUT_LINES if allow_newlines else CONTROL_CHARS).search(value):
        raise ActionError(f"{argument} contains control characters; type plain text")
    return value


def check_inputs(kw: dict) -> dict:
    """Bound every argument an interface passes to ``ActionStore.act`` before any rule runs."""
    out = dict(kw)
    out["comment"] = check_text(kw.get("comment"), "--text", MAX_TEXT_CHARS, allow_newlines=True)
    for key, argument in (("reason", "--reason"), ("team", "--team"), ("adjustment", "--adjustment")):
        out[key] = check_text(kw.get(key), argument, MAX_CODE_CHARS)
    if kw.get("amount") is not None:
        out["amount"] = parse_amount(kw["amount"])
    return out


def check_id_prefix(prefix: object) -> str:
    if not isinstance(prefix, str) or not ID_PREFIX.fullmatch(prefix):
        shown = repr(prefix)[:80]
        raise NotFound(
            f"no exception with id {shown}: an id is up to {MAX_CODE_CHARS} letters, digits, - or _ "
            "(run `recon exceptions list`)"
        )
    return prefix


# ------------------------------------------------------------------- policy


@dataclass(frozen=True)
class Operator:
    name: str
    team: str
    roles: frozenset[str]
    logins: tuple[str, ...] = ()


@dataclass(frozen=True)
class Policy:
    """People, teams and thresholds (config/operators.yml), reason codes and escalation targets (seeds)."""

    operators: dict[str, Operator]
    escalate_to: dict[str, str]  # severity -> team that takes over after an SLA breach
    approval_threshold: Decimal
    reason_codes: dict[str, str]  # code -> action it applies to ('any' for all)
    users: dict[str, dict] = field(default_factory=dict)  # the roster's users as written (identity)

    @classmethod
    def load(cls, config: Path | None = None, reasons: Path | None = None) -> Policy:
        try:
            config = config or identity.roster_path()
            users = identity.load_users(config)
            identity.login_map(users)  # a login given to two users is refused here, not at the first action
        except identity.IdentityError as exc:
            raise IdentityRefused(str(exc)) from exc
        reasons = reasons or PROJECT_DIR / "seeds" / "reason_codes.csv"
        severities = PROJECT_DIR / "seeds" / "severity_policy.csv"
        doc = yaml.safe_load(config.read_text())
        operators = {
            name: Operator(name, spec["team"], frozenset(spec.get("roles", [])), identity.logins_of(name, spec))
            for name, spec in users.items()
        }
        with open(reasons, newline="") as fh:
            codes = {row["reason_code"]: row["applies_to"] for row in csv.DictReader(fh)}
        with open(severities, newline="") as fh:
            escalate_to = {row["severity"]: row["escalate_to"] for row in csv.DictReader(fh)}
        return cls(operators, escalate_to, Decimal(str(doc["adjustment_approval_threshold"])), codes, users)

    def escalation_team(self, severity: str | None) -> str:
        """Who takes over an exception of this severity (seed severity_policy)."""
        if severity not in self.escalate_to:
            raise ActionError(f"severity {severity!r} has no escalation target: add it to seeds/severity_policy.csv")
        return self.escalate_to[severity]

    def operator(self, name: str | None) -> Operator:
        if not name:
            raise ActionError("no operator given: pass --as NAME or set RECON_USER")
        if name not in self.operators:
            raise ActionError(f"unknown operator {name!r}: add them to config/operators.yml")
        return self.operators[name]

    def acting(self, login: str, requested: str | None, what: str = "act") -> Operator:
        """The operator the authenticated ``login`` acts as (``requested`` only with the act_as role)."""
        users = self.users or {
            op.name: {"roles": sorted(op.roles), **({"logins": list(op.logins)} if op.logins else {})}
            for op in self.operators.values()
        }
        try:
            return self.operator(identity.acting_name(users, login, requested, what))
        except identity.IdentityError as exc:
            raise IdentityRefused(str(exc)) from exc

    def check_reason(self, code: str | None, action: str) -> str:
        if not code:
            raise ActionError(f"{action} needs a reason code (--reason); one of: {', '.join(self.codes_for(action))}")
        applies = self.reason_codes.get(code)
        if applies is None or applies not in (action, "any"):
            codes = self.codes_for(action)
            allowed = f"use one of: {', '.join(codes)}" if codes else f"{action} takes no reason code"
            raise ActionError(f"reason code {code!r} is not valid for {action}; {allowed}")
        return code

    def codes_for(self, action: str) -> list[str]:
        return sorted(c for c, a in self.reason_codes.items() if a in (action, "any"))


# -------------------------------------------------------------------- state


@dataclass
class ExceptionState:
    """An exception's operator state, folded from its actions in order."""

    exception_id: str
    owner_team: str
    severity: str | None = None
    status: str = "open"  # open | claimed | resolved | auto_resolved
    claimed_by: str | None = None
    escalated_to: str | None = None
    reopened_at: str | None = None
    sla_due_at: datetime | None = None
    is_breached: bool = False
    attempts: int = 0
    pending_adjustments: dict[str, dict] = field(default_factory=dict)
    applied_adjustments: list[dict] = field(default_factory=list)
    resolution: str | None = None
    last_action: str | None = None
    last_action_at: str | None = None

    def snapshot(self) -> dict:
        return {
            "status": self.status,
            "owner_team": self.owner_team,
            "claimed_by": self.claimed_by,
            "escalated_to": self.escalated_to,
            "pending_adjustments": sorted(self.pending_adjustments),
        }

    def apply(self, row: dict) -> None:
        action, actor = row["action"], row["actor"]
        # When it took effect on the exception's timeline: the business clock (RECON_AS_OF in a
        # replay), recorded beside the real acted_at; entries from before effective_at use acted_at.
        at = row.get("effective_at") or row["acted_at"]
        if action == "claim":
            self.status, self.claimed_by = "claimed", actor
            self.attempts += 1
        elif action == "release":
            self.status, self.claimed_by = "open", None
        elif action == "resolve":
            self.status, self.claimed_by, self.resolution = "resolved", None, row["reason_code"]
        elif action == "adjust":
            entry = {
                "adjustment_id": row["target"],
                "amount": row["amount"],
                "maker": actor,
                "reason": row["reason_code"],
            }
            needs_approval = json.loads(row["state_after"]).get("pending_adjustments", [])
            if row["target"] in needs_approval:
                self.pending_adjustments[row["target"]] = entry
            else:
                self.applied_adjustments.append(entry)
        elif action == "approve":
            self.applied_adjustments.append(self.pending_adjustments.pop(row["target"]))
        elif action == "reject":
            self.pending_adjustments.pop(row["target"], None)
        elif action == "reassign":
            self.owner_team, self.status, self.claimed_by = row["target"], "open", None
        elif action == "escalate":
            self.escalated_to = row["target"]
        elif action == "auto_resolve":
            self.status, self.claimed_by, self.resolution = "auto_resolved", None, "reconciled_by_later_data"
        elif action == "reopen":
            self.status, self.claimed_by, self.resolution = "open", None, None
            self.escalated_to, self.reopened_at = None, at
        self.last_action, self.last_action_at = action, at

    @property
    def is_closed(self) -> bool:
        return self.status in ("resolved", "auto_resolved")


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
);
"""


def entry_hash(prev_hash: str, row: dict) -> str:
    fields = {k: row.get(k) for k in HASHED_FIELDS}
    fields.update({k: row[k] for k in OPTIONAL_HASHED_FIELDS if row.get(k) is not None})
    payload = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256((prev_hash + payload).encode()).hexdigest()


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

    def login(self) -> str:
        """The authenticated login this store records and checks actions against."""
        return self._login() if self._login else identity.current_login()

    @classmethod
    def existing(cls, path: Path | None = None, **kw) -> ActionStore | None:
        """The store at ``path`` if the file is there; None rather than creating an empty one."""
        path = path or store_path()
        return cls(path, **kw) if path.exists() else None

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

    def refresh_catalog(self, exceptions: list[dict]) -> dict[str, int]:
        """Replace the catalog of current exceptions with what the last run found.

        An exception keeps its first_seen_at across runs; one no longer found is kept
        with is_current = 0 (its actions stay meaningful). The pipeline appends
        ``auto_resolve`` to the log of an open exception that is no longer found, and
        ``reopen`` to a closed one that is found again. Returns the counts.
        """
        now = self.clock().isoformat()
        with self._connect() as con, self._writer_turn():
            con.execute("begin immediate")
            was_current = dict(con.execute("select exception_id, is_current from exception_catalog").fetchall())
            con.execute("update exception_catalog set is_current = 0")
            for e in exceptions:
                con.execute(
                    """
                    insert into exception_catalog values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)
                    on conflict (exception_id) do update set
                        exception_type = excluded.exception_type, owner_team = excluded.owner_team,
                        severity = excluded.severity, sla_hours = excluded.sla_hours,
                        record_entity = excluded.record_entity, record_id = excluded.record_id,
                        client_name = excluded.client_name, currency = excluded.currency,
                        amount_at_risk = excluded.amount_at_risk,
                        amount_at_risk_reporting = excluded.amount_at_risk_reporting,
                        details = excluded.details, last_seen_at = excluded.last_seen_at, is_current = 1
                    """,
                    [
                        e["exception_id"],
                        e["exception_type"],
                        e["owner_team"],
                        e["severity"],
                        e.get("sla_hours"),
                        e.get("record_entity"),
                        e.get("record_id"),
                        e.get("client_name"),
                        e.get("currency"),
                        None if e.get("amount_at_risk") is None else str(e["amount_at_risk"]),
                        None if e.get("amount_at_risk_reporting") is None else str(e["amount_at_risk_reporting"]),
                        json.dumps(e.get("details") or {}, default=str),
                        now,
                        now,
                    ],
                )
            found = {e["exception_id"] for e in exceptions}
            events = {"auto_resolve": 0, "reopen": 0}
            for eid in sorted(was_current):
                if was_current[eid] and eid not in found:
                    action = "auto_resolve"
                elif not was_current[eid] and eid in found:
                    action = "reopen"
                else:
                    continue
                state = self._state(con, eid)
                if state.is_closed == (action == "reopen"):
                    self._append(con, eid, action, PIPELINE_ACTOR, state, {}, login=self.login())
                    events[action] += 1
            retired = con.execute("select count(*) from exception_catalog where is_current = 0").fetchone()[0]
            con.execute("commit")
        return {
            "current": len(exceptions),
            "no_longer_found": retired,
            "auto_resolved": events["auto_resolve"],
            "reopened": events["reopen"],
        }

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
                raise NotFound(f"no exception with id {prefix!r}: run `recon exceptions list`")
            if len(rows) > 1:
                raise ActionError(f"id prefix {prefix!r} is ambiguous: type more characters")
            return rows[0][0]

        if con is not None:
            return lookup(con)
        with self._connect() as c:
            return lookup(c)

    # -------------------------------------------------------------- state

    def _state(self, con: sqlite3.Connection, exception_id: str) -> ExceptionState:
        row = con.execute(
            "select owner_team, severity, sla_hours, first_seen_at, details from exception_catalog"
            " where exception_id = ?",
            [exception_id],
        ).fetchone()
        if row is None:
            raise NotFound(f"no exception {exception_id}")
        state = ExceptionState(exception_id, row["owner_team"], row["severity"])
        for action in con.execute("select * from actions where exception_id = ? order by seq", [exception_id]):
            state.apply(dict(action))
        # The SLA runs from when the business expected the counterpart (its business date
        # plus grace) or the first sighting if sooner, or from when it last came back: the
        # same rule as fct_exception_current.aged_from.
        opened = datetime.fromisoformat(state.reopened_at or row["first_seen_at"])
        if not state.reopened_at:
            details = json.loads(row["details"] or "{}")
            due = details.get("business_due_at") if isinstance(details, dict) else None
            if due:
                opened = min(opened, datetime.fromisoformat(due).replace(tzinfo=UTC))
        state.sla_due_at = opened + timedelta(hours=row["sla_hours"] or 0)
        state.is_breached = not state.is_closed and state.sla_due_at < self.clock()
        if state.is_breached and state.escalated_to is None:
            # Automatic escalation: past its SLA, the escalation target may take it over.
            state.escalated_to = self.policy.escalation_team(state.severity)
        return state

    def state(self, exception_id: str) -> ExceptionState:
        with self._connect() as con:
            return self._state(con, self.resolve_id(exception_id, con))

    def history(self, exception_id: str) -> list[dict]:
        with self._connect() as con:
            eid = self.resolve_id(exception_id, con)
            return [dict(r) for r in con.execute("select * from actions where exception_id = ? order by seq", [eid])]

    def catalog_entry(self, exception_id: str) -> dict:
        with self._connect() as con:
            eid = self.resolve_id(exception_id, con)
            return dict(con.execute("select * from exception_catalog where exception_id = ?", [eid]).fetchone())

    # -------------------------------------------------------------- rules

    def _may_work_on(self, op: Operator, state: ExceptionState) -> bool:
        return (
            op.team == state.owner_team
            or "ops_lead" in op.roles
            or (state.escalated_to is not None and op.team == state.escalated_to)
        )

    def _check(self, action: str, op: Operator, state: ExceptionState, kw: dict) -> dict:
        """Refuse what the rules forbid; return the fields to record for the action."""
        if action not in ACTIONS:
            raise ActionError(f"unknown action {action!r}; use one of {', '.join(ACTIONS)}")
        # A reason code is recorded only if the policy allows it for this action.
        reason = self.policy.check_reason(kw["reason"], action) if kw.get("reason") else None
        fields: dict = {"reason_code": reason, "comment": kw.get("comment"), "amount": None, "target": None}
        if action != "comment" and state.is_closed:
            how = "closed by later data" if state.status == "auto_resolved" else f"resolved ({state.resolution})"
            raise ActionError(f"exception {state.exception_id[:8]} is {how}; nothing to {action}")
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
            if state.claimed_by is None:
                raise ActionError(
                    f"{action} needs a claim: run `recon exceptions claim {state.exception_id[:8]}` first"
                )
            if state.claimed_by != op.name and not (action == "release" and "ops_lead" in op.roles):
                raise Conflict(f"exception {state.exception_id[:8]} is claimed by {state.claimed_by}, not {op.name}")
            if action == "resolve":
                if state.pending_adjustments:
                    raise ActionError(
                        "an adjustment awaits approval ("
                        + ", ".join(state.pending_adjustments)
                        + "); approve or reject it before resolving"
                    )
                fields["reason_code"] = self.policy.check_reason(kw.get("reason"), "resolve")
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
            if action == "adjust":
                amount = parse_amount(kw.get("amount"))  # bounded again: act() may be called directly
                fields["reason_code"] = self.policy.check_reason(kw.get("reason"), "adjust")
                fields["amount"] = amount_text(amount)
                fields["target"] = f"ADJ-{uuid.uuid4().hex[:8]}"
                fields["needs_approval"] = abs(amount) > self.policy.approval_threshold
        elif action in ("approve", "reject"):
            adjustment = kw.get("adjustment")
            if adjustment not in state.pending_adjustments:
                pending = ", ".join(state.pending_adjustments) or "none"
                raise NotFound(f"no pending adjustment {adjustment!r} on {state.exception_id[:8]} (pending: {pending})")
            if "approver" not in op.roles:
                raise ActionError(f"{op.name} has no approver role: ask an approver to {action} {adjustment}")
            if state.pending_adjustments[adjustment]["maker"] == op.name:
                raise ActionError(f"{op.name} made {adjustment}; a different approver must check it (maker-checker)")
            fields["target"] = adjustment
        elif action == "reassign":
            team = kw.get("team")
            if team not in self.policy_teams():
                raise ActionError(f"unknown team {team!r}; teams: {', '.join(self.policy_teams())}")
            if not ("ops_lead" in op.roles or op.team == state.owner_team):
                raise ActionError(f"{op.name} may not reassign: only {state.owner_team} or an ops lead")
            fields["reason_code"] = self.policy.check_reason(kw.get("reason"), "reassign")
            fields["target"] = team
        elif action == "escalate":
            if not self._may_work_on(op, state):
                raise ActionError(f"{op.name} may not escalate an exception owned by {state.owner_team}")
            if state.escalated_to:
                raise Conflict(f"already escalated to {state.escalated_to}")
            fields["reason_code"] = self.policy.check_reason(kw.get("reason"), "escalate")
            fields["target"] = self.policy.escalation_team(state.severity)
        elif action == "comment":
            if not (kw.get("comment") or "").strip():
                raise ActionError("comment needs text (--text)")
        return fields

    def policy_teams(self) -> list[str]:
        teams = {op.team for op in self.policy.operators.values()}
        return sorted(teams | set(self.policy.escalate_to.values()))

    def act(self, action: str, exception_id: str, actor: str | None, **kw) -> dict:
        """Check the rules and append the action, atomically. Returns the recorded entry."""
        kw = check_inputs(kw)
        login = self.login()
        op = self.policy.acting(login, check_text(actor, "--as", MAX_CODE_CHARS), action)
        with self._connect() as con, self._writer_turn():
            con.execute("begin immediate")
            try:
                eid = self.resolve_id(exception_id, con)
                state = self._state(con, eid)
                fields = self._check(action, op, state, kw)
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
    ) -> list[dict]:
        """Current exceptions with their operator state, most urgent SLA first."""
        with self._connect() as con:
            where, params = [], []
            if not include_retired:
                where.append("is_current = 1")
            for column, value in (("severity", severity), ("exception_type", exception_type)):
                if value:
                    where.append(f"{column} = ?")  # column names are fixed above, values bound
                    params.append(value)
            rows = con.execute(
                "select * from exception_catalog" + (" where " + " and ".join(where) if where else ""), params
            ).fetchall()
            out = []
            for row in rows:
                entry = dict(row)
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


# ------------------------------------------------------------ anchors


def anchor_record(store: ActionStore) -> dict:
    """The head of the chain now: what a run writes to raw.audit_anchors and current.json."""
    seq, head = store.head()
    return {"seq": seq, "entry_hash": head, "store": str(store.path), "anchored_at": wall_clock().isoformat()}


def record_anchor(con, store: ActionStore, run_id: str | None, step: str) -> dict:
    """Append the store's head to raw.audit_anchors (the warehouse's memory of the log)."""
    from orchestration.ingest import ensure_raw_schema

    ensure_raw_schema(con)
    anchor = anchor_record(store)
    con.execute(
        "insert into raw.audit_anchors (anchor_id, anchored_at, run_id, step, seq, entry_hash, store_path) "
        "select coalesce(max(anchor_id), 0) + 1, cast(? as timestamptz), ?, ?, ?, ?, ? from raw.audit_anchors",
        [anchor["anchored_at"], run_id, step, anchor["seq"], anchor["entry_hash"], anchor["store"]],
    )
    return anchor


def check_anchor(entries: list[dict] | None, anchor: dict | None, path: Path, source: str) -> list[str]:
    """Problems of a log (None: file or table missing) against an anchored head.

    A log may have grown since the anchor; it may not have fewer entries, nor another
    entry at the anchored seq.
    """
    if not anchor:
        return []
    seq, anchored = int(anchor["seq"]), anchor["entry_hash"]
    where = f"{source} anchored seq {seq} (hash {anchored[:12]}) at {anchor.get('anchored_at')}"
    if entries is None:
        if not Path(path).exists():
            return [f"the action store {path} is missing, but {where}: restore the file from a backup"]
        if seq == 0:
            return []
        return [f"the action store {path} has 0 entries, but {where}; its actions table is missing (dropped?)"]
    if seq == 0:
        return []
    at = next((e for e in entries if e["seq"] == seq), None)
    if at is None:
        return [
            f"the action store {path} has {len(entries)} entries, but {where}: the newest entries were deleted, "
            "or the store was replaced by an older copy"
        ]
    if at["entry_hash"] != anchored:
        return [
            f"entry seq {seq} has hash {at['entry_hash'][:12]}, but {where}: the log was rewritten from there "
            "on, or restored and then written to (a fork)"
        ]
    return []


# ------------------------------------------------------- warehouse bridges


def catalog_from_warehouse(warehouse: Path, store: ActionStore) -> dict[str, int]:
    """Copy the current exceptions (and what an operator needs to see) into the store.

    Runs after each pipeline build, so operators work from the action store alone and
    never need the warehouse, which the next run may be holding for writing.
    """
    from orchestration.warehouse import open_reader

    con = open_reader(warehouse)
    try:
        cur = con.execute(
            """
            with records as (
                -- The record of each exception in every reconciliation it takes part in (an
                -- order is the left side of several), with its candidates when unmatched.
                select
                    exceptions.exception_id,
                    list(struct_pack(
                        reconciliation := records.reconciliation,
                        side := records.side,
                        record_state := records.record_state,
                        matched_keys := records.matched_keys,
                        top_candidates := records.top_candidates
                    ) order by records.reconciliation) as reconciliations
                from marts.fct_reconciliation_exceptions as exceptions
                inner join marts.fct_reconciliation_records as records
                    on records.record_key = exceptions.record_id
                    and (
                        records.record_model = exceptions.record_entity
                        or (
                            exceptions.record_entity = 'stg_crm__orders'
                            and records.record_model = 'int_orders_resolved'
                        )
                    )
                group by exceptions.exception_id
            )
            select
                exceptions.*,
                to_json(records.reconciliations) as reconciliations_json,
                case when orders.order_id is not null then to_json(struct_pack(
                    order_type := orders.order_type,
                    booked := orders.booked_amount,
                    billed := orders.billed_amount,
                    credited := orders.credited_amount,
                    delivered := orders.delivered_amount,
                    fulfilled := orders.fulfilled_amount,
                    expects_delivery := orders.expects_delivery,
                    expects_fulfilment := orders.expects_fulfilment,
                    billing_state := orders.billing_state,
                    delivery_state := orders.delivery_state,
                    fulfilment_state := orders.fulfilment_state
                )) end as legs_json
            from marts.fct_reconciliation_exceptions as exceptions
            left join records
                on exceptions.exception_id = records.exception_id
            left join marts.fct_reconciled_orders as orders
                on exceptions.record_entity = 'stg_crm__orders'
                and exceptions.record_id = orders.order_id
            """
        )
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    finally:
        con.close()
    from orchestration.links import DOMAIN_RECONCILIATION

    exceptions = []
    for row in rows:
        reconciliations = json.loads(row.pop("reconciliations_json") or "[]")
        for rec in reconciliations:
            rec["top_candidates"] = json.loads(rec["top_candidates"]) if rec.get("top_candidates") else None
        # The reconciliation the exception's domain is about comes first.
        preferred = DOMAIN_RECONCILIATION.get(row.get("domain") or "")
        reconciliations.sort(key=lambda r: (r["reconciliation"] != preferred, r["reconciliation"]))
        main = reconciliations[0] if reconciliations else {}
        due = row.get("pending_until") or row.get("due_date")
        details = {
            "domain": row.get("domain"),
            # When the business expected the counterpart (business date plus grace): the
            # SLA counts from it, as in fct_exception_current.aged_from.
            "business_due_at": due.isoformat() if due is not None else None,
            "reconciliation": main.get("reconciliation"),
            "record_state": main.get("record_state"),
            "matched_keys": main.get("matched_keys"),
            "top_candidates": main.get("top_candidates"),
            "reconciliations": reconciliations,
            "legs": json.loads(row.pop("legs_json") or "null"),
        }
        exceptions.append({**row, "details": details})
    return store.refresh_catalog(exceptions)


# raw.operator_actions: the store's fields with their warehouse types, then what the copy adds.
ACTION_COLUMN_TYPES = {
    "seq": "bigint", "action_id": "varchar", "exception_id": "varchar", "action": "varchar",
    "actor": "varchar", "acted_at": "timestamptz", "reason_code": "varchar", "comment": "varchar",
    "amount": "decimal(18, 4)", "target": "varchar", "state_before": "json", "state_after": "json",
    "prev_hash": "varchar", "entry_hash": "varchar", "effective_at": "timestamptz", "login": "varchar",
    "amount_text": "varchar", "copy_problem": "varchar",
}  # fmt: skip
WAREHOUSE_MAX_AMOUNT = Decimal("99999999999999.9999")  # DECIMAL(18, 4)


@dataclass
class ActionCopy:
    """What one run carried into raw.operator_actions."""

    copied: int
    flagged: list[str]  # entries copied with a field set to null, and why


def warehouse_row(entry: dict) -> tuple[dict, list[str]]:
    """An entry in a form the warehouse insert cannot fail on, with what had to be left out.

    Entries are checked when they are written, but the log keeps what older versions
    wrote; a value the warehouse cannot hold is copied as null, kept as text, and flagged.
    """
    row = {k: entry.get(k) for k in ACTION_COLUMN_TYPES if k not in ("amount_text", "copy_problem")}
    problems: list[str] = []
    text = entry.get("amount")
    row["amount_text"] = text
    if text is not None:
        try:
            amount = Decimal(str(text).strip())
            if not amount.is_finite():
                raise ActionError("not a finite number")
            if abs(amount) > WAREHOUSE_MAX_AMOUNT:
                raise ActionError(f"outside ±{WAREHOUSE_MAX_AMOUNT:,}, what DECIMAL(18, 4) holds")
            if amount != amount.quantize(Decimal(1).scaleb(-AMOUNT_PLACES)):
                raise ActionError(f"more than {AMOUNT_PLACES} decimal places")
            row["amount"] = amount_text(amount)
        except (InvalidOperation, ValueError, ActionError) as exc:
            row["amount"] = None
            reason = str(exc) if isinstance(exc, ActionError) else "not a decimal number"
            problems.append(f"amount {str(text)[:40]!r}: {reason}")
    for key in ("acted_at", "effective_at"):
        if row.get(key) is not None:
            try:
                datetime.fromisoformat(str(row[key]))
            except ValueError:
                problems.append(f"{key} {str(row[key])[:40]!r}: not an ISO timestamp")
                row[key] = None
    for key in ("state_before", "state_after"):
        try:
            json.loads(row[key])
        except (TypeError, ValueError):
            problems.append(f"{key}: not JSON")
            row[key] = None
    row["copy_problem"] = (
        f"seq {entry['seq']}: " + "; ".join(problems) + " — copied as null; the store keeps the entry as written"
        if problems
        else None
    )
    return row, problems


def _warehouse_entry(con, seq: int) -> tuple[int, str] | None:
    row = con.execute("select seq, entry_hash from raw.operator_actions where seq = ?", [seq]).fetchone()
    return (row[0], row[1]) if row else None


def _fork_point(store: ActionStore, con) -> int | None:
    """The first seq where the warehouse's copy and the store differ (or the store ends); None if none."""
    warehouse = con.execute("select seq, entry_hash from raw.operator_actions order by seq").fetchall()
    stored = {e["seq"]: e["entry_hash"] for e in store.all_actions()}
    for seq, digest in warehouse:
        if stored.get(seq) != digest:
            return seq
    return None


def check_continuity(store: ActionStore, con) -> None:
    """Refuse to copy from a store that is not the one the warehouse has been copying.

    The copy takes only ``seq > max(seq)`` of the warehouse. After a restore from an older
    backup, new actions reuse seq numbers: they would never reach the marts. So the
    warehouse's newest entry and the newest anchor must be in the store with the same hash.
    """
    head_seq, _ = store.head()
    references = []
    newest = con.execute("select seq, entry_hash from raw.operator_actions order by seq desc limit 1").fetchone()
    if newest:
        references.append((newest[0], newest[1], "raw.operator_actions (copied by earlier runs)"))
    anchor = con.execute(
        "select seq, entry_hash, step, run_id from raw.audit_anchors order by anchor_id desc limit 1"
    ).fetchone()
    if anchor and anchor[0] > 0:
        references.append((anchor[0], anchor[1], f"raw.audit_anchors (run {anchor[3]}, step {anchor[2]})"))
    accept = (
        "if that file is lost, accept the store as it is with `recon audit accept-fork --as OPS_LEAD --reason TEXT` "
        "(the warehouse's entries from the fork on are kept in raw.operator_actions_forked). "
        "The run stops here so that no action is dropped silently."
    )
    for seq, digest, where in references:
        entry = store.entry(seq)
        if entry is not None and entry["entry_hash"] == digest:
            continue
        fork = _fork_point(store, con)
        behind = entry is None and (fork is None or fork > head_seq)
        if behind:
            raise ForkError(
                f"the action store {store.path} ends at seq {head_seq}, but the warehouse already holds seq {seq} "
                f"(hash {digest[:12]}, in {where}): the store was truncated or restored from an older backup. "
                f"Restore the newer actions.sqlite (the one whose entry seq {seq} has hash {digest[:12]}) and run "
                f"again; {accept}"
            )
        if fork is None:  # the warehouse's rows agree; only the later anchor does not
            copied = newest[0] if newest else 0
            fork_text = f"{copied + 1}" + (f" or later (up to {seq})" if seq > copied + 1 else "")
        else:
            fork_text = str(fork)
        written = max(0, head_seq - (int(fork_text.split()[0]) - 1))
        raise ForkError(
            f"the action store {store.path} and the warehouse disagree: the log forked at seq {fork_text}. "
            f"{where} holds seq {seq} with hash {digest[:12]}; the store's entry there is "
            f"{'missing' if entry is None else entry['entry_hash'][:12]}. The store was restored or replaced and "
            f"{written} new entr{'y was' if written == 1 else 'ies were'} written after that, reusing seq numbers; "
            f"copying only what is newer than the warehouse would drop them. Restore the newer actions.sqlite if "
            f"you have it and re-enter the actions written since the restore; {accept}"
        )


def copy_to_warehouse(store: ActionStore, con) -> ActionCopy:
    """Append actions the warehouse has not seen to raw.operator_actions.

    Refuses (ForkError) when the store is not a continuation of what the warehouse holds;
    never fails on an entry's content (see ``warehouse_row``).
    """
    from orchestration.ingest import ensure_raw_schema

    ensure_raw_schema(con)
    check_continuity(store, con)
    seen = con.execute("select coalesce(max(seq), 0) from raw.operator_actions").fetchall()[0][0]
    new = store.all_actions(after_seq=seen)
    flagged: list[str] = []
    if new:
        import pyarrow as pa

        rows = []
        for entry in new:
            row, problems = warehouse_row(entry)
            rows.append(row)
            if problems:
                flagged.append(row["copy_problem"])
        columns = list(ACTION_COLUMN_TYPES)
        batch = pa.Table.from_pydict(
            {k: [str(r[k]) if r[k] is not None else None for r in rows] for k in columns},
            schema=pa.schema([(k, pa.string()) for k in columns]),
        )
        con.register("new_operator_actions", batch)
        try:
            # try_cast: a value warehouse_row let through still cannot stop the run.
            con.execute(
                f"insert into raw.operator_actions ({', '.join(columns)}) select "
                + ", ".join(f"try_cast({k} as {t})" for k, t in ACTION_COLUMN_TYPES.items())  # fixed names, types
                + " from new_operator_actions order by cast(seq as bigint)"
            )
        finally:
            con.unregister("new_operator_actions")
    return ActionCopy(len(new), flagged)


def accept_fork(store: ActionStore, con, actor: str | None, reason: str | None) -> int:
    """Accept the store as it is: set the warehouse's entries from the fork on aside.

    For when the newer store file is lost. An ops lead does it, with a reason; the
    entries go to raw.operator_actions_forked (with who, when and why), nothing is
    deleted without a copy. Returns how many entries were set aside.
    """
    from orchestration.ingest import ensure_raw_schema

    login = store.login()
    op = store.policy.acting(login, check_text(actor, "--as", MAX_CODE_CHARS), "accept a fork")
    if "ops_lead" not in op.roles:
        raise ActionError(f"{op.name} is not an ops lead: accepting a fork of the action log needs an ops lead")
    reason = check_text(reason, "--reason", MAX_TEXT_CHARS)
    if not (reason or "").strip():
        raise ActionError("accept-fork needs --reason: say what happened to the action store")
    ensure_raw_schema(con)
    fork = _fork_point(store, con)
    if fork is None:
        anchor = con.execute("select seq, entry_hash from raw.audit_anchors order by anchor_id desc limit 1").fetchone()
        at = store.entry(anchor[0]) if anchor else None
        if anchor is None or anchor[0] == 0 or (at is not None and at["entry_hash"] == anchor[1]):
            raise ActionError("no fork: the store continues what the warehouse holds; nothing to accept")
        fork = con.execute("select coalesce(max(seq), 0) + 1 from raw.operator_actions").fetchone()[0]
    now = wall_clock().isoformat()
    con.execute("begin transaction")
    try:
        con.execute(
            "insert into raw.operator_actions_forked by name select *, cast(? as timestamptz) as accepted_at, "
            "? as accepted_by, ? as accept_reason from raw.operator_actions where seq >= ?",
            [now, op.name, reason, fork],
        )
        moved = con.execute("delete from raw.operator_actions where seq >= ?", [fork]).fetchone()[0]
        common = store.entry(fork - 1) if fork > 1 else None
        con.execute(
            "insert into raw.audit_anchors (anchor_id, anchored_at, run_id, step, seq, entry_hash, store_path) "
            "select coalesce(max(anchor_id), 0) + 1, cast(? as timestamptz), null, ?, ?, ?, ? from raw.audit_anchors",
            [
                now,
                f"accept_fork by {op.name} (login {login})",
                fork - 1,
                common["entry_hash"] if common else GENESIS,
                str(store.path),
            ],
        )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return moved
