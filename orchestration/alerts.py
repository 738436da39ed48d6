"""Alerts that reach people: e-mail (SMTP) and webhooks (Slack-compatible JSON), routed by config/alerts.yml.

Events, each with an idempotency key so it is sent once per channel however often it is
looked for:

========================  ============================================  =====================================
event                     when                                          key
========================  ============================================  =====================================
``sla_breached``          an open exception is past its SLA             exception id + the SLA due time
``escalated``             an operator escalated an exception            the action id
``run_failed``            a run failed (not by a gate)                  run id
``run_failed``            a run refused by a lock held too long         the holder: host, pid, since
``run_failed``            a Dagster run refused by a lock held (busy)   the holder: host, pid, since
``run_blocked``           a blocking quality gate stopped a run         run id
``source_stale``          a source's newest file is older than allowed  check + the newest file's load time
``match_rate_drop``       a match rate fell below its baseline          reconciliation + day
``daily_digest``          every morning, per team                       team + day
========================  ============================================  =====================================

An action store the alerts cannot read where one is expected (a mistyped RECON_ACTIONS_PATH)
is itself sent as ``run_failed`` (key ``action_store_unreadable``), and each team's digest says
so: alerts that read no store do not say nothing is overdue.

Dagster sends them: a run-status and a run-failure sensor on ``recon_job`` and the
``alert_digest`` schedule (orchestration/defs/alerting.py). A run started by ``recon run``
(in-process, maybe with no daemon) sends its own events when it ends; the keys make the
sensor's later look a no-op. What was sent, tried and failed is kept in
``$RECON_HOME/alerts.sqlite``; a send that fails is retried at once (``RETRIES``, with
backoff) and again at the next look, up to ``MAX_ATTEMPTS``.

Events of one kind and team go out as one message per channel (a first run on a year of
history breaches hundreds of SLAs: that is one e-mail listing the largest, not hundreds).
"""

from __future__ import annotations

import hashlib
import json
import os
import smtplib
import sqlite3
import ssl
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.message import EmailMessage
from pathlib import Path

from orchestration.settings import PROJECT_DIR, recon_home

EVENTS = (
    "sla_breached", "escalated", "run_failed", "run_blocked", "source_stale", "match_rate_drop", "daily_digest",
)  # fmt: skip
CHANNEL_KEYS = {
    "smtp": {"type", "host", "port", "from", "to", "starttls", "ssl", "username", "password_env", "timeout_seconds"},
    "webhook": {"type", "url", "url_env", "timeout_seconds", "headers"},
}
TOP_KEYS = {"channels", "routes", "digest", "listed_per_message"}
RETRIES = 3
BACKOFF_SECONDS = (0.5, 2.0)
DEFAULT_DIGEST_CRON = "0 7 * * *"
MAX_ATTEMPTS = 10  # sends over all looks (RETRIES per look); then the event is left failed (alerts.sqlite says why)


class AlertConfigError(Exception):
    """config/alerts.yml is wrong; the message names the key and what to write."""


@dataclass(frozen=True)
class Event:
    kind: str
    key: str
    team: str | None
    title: str
    line: str  # one line for the message's list
    weight: Decimal = Decimal(0)  # larger first when a message lists only some
    fields: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Channel:
    name: str
    type: str
    settings: dict


@dataclass(frozen=True)
class Route:
    events: tuple[str, ...]
    teams: tuple[str, ...] | None
    channels: tuple[str, ...]


@dataclass(frozen=True)
class AlertConfig:
    channels: dict[str, Channel]
    routes: tuple[Route, ...]
    digest_cron: str = "0 7 * * *"
    listed_per_message: int = 20


def config_path() -> Path:
    return Path(os.environ.get("RECON_ALERTS_CONFIG") or PROJECT_DIR / "config" / "alerts.yml")


def load_config(path: Path | None = None) -> AlertConfig:
    """Read and check config/alerts.yml; a key it does not know is an error, not ignored."""
    from orchestration import strict_yaml

    override = None if path else os.environ.get("RECON_ALERTS_CONFIG")
    path = Path(path or config_path())
    if not path.exists():
        if override:  # a mistyped path turned every alert off without a word
            raise AlertConfigError(f"RECON_ALERTS_CONFIG={override}: no such file; fix the path or unset it")
        return AlertConfig({}, ())
    # Strict: a second `routes:` key silently replaced the first (every route dropped),
    # and a file that was not UTF-8, or a directory, was a traceback.
    try:
        doc = strict_yaml.load_mapping(path)
    except strict_yaml.StrictYamlError as exc:
        raise AlertConfigError(str(exc)) from None
    unknown = set(doc) - TOP_KEYS
    if unknown:
        raise AlertConfigError(
            f"{path}: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(TOP_KEYS))}"
        )

    def strings(value, where: str) -> list[str]:
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
            raise AlertConfigError(f"{where}: a list of names, e.g. [a, b]")
        return value

    if not isinstance(doc.get("channels") or {}, dict):
        raise AlertConfigError(f"{path}: channels is a mapping of name -> settings, e.g. channels: {{ops_chat: …}}")
    if not isinstance(doc.get("routes") or [], list):
        raise AlertConfigError(f"{path}: routes is a list of routes, each with events and channels")
    channels = {}
    for name, spec in (doc.get("channels") or {}).items():
        where = f"{path}: channels.{name}"
        if not isinstance(spec, dict) or spec.get("type") not in CHANNEL_KEYS:
            raise AlertConfigError(f"{where}: needs type: smtp or type: webhook")
        unknown = set(spec) - CHANNEL_KEYS[spec["type"]]
        if unknown:
            allowed = ", ".join(sorted(CHANNEL_KEYS[spec["type"]]))
            raise AlertConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; known: {allowed}")
        if spec["type"] == "smtp":
            if not spec.get("host") or not spec.get("from") or not spec.get("to"):
                raise AlertConfigError(f"{where}: an smtp channel needs host, from and to (a list of addresses)")
            port = spec.get("port", 25)
            if not _is_number(port, whole=True) or not 1 <= port <= 65535:
                raise AlertConfigError(f"{where}.port: a port number 1-65535")
            if isinstance(spec["to"], str):
                spec = {**spec, "to": [spec["to"]]}
            strings(spec["to"], f"{where}.to")
        else:
            if bool(spec.get("url")) == bool(spec.get("url_env")):
                raise AlertConfigError(f"{where}: give url or url_env (the variable holding a secret URL), one of them")
            if spec.get("url") and not str(spec["url"]).startswith(("http://", "https://")):
                raise AlertConfigError(f"{where}.url: an http:// or https:// URL")
            headers = spec.get("headers") or {}
            if not isinstance(headers, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
            ):
                raise AlertConfigError(f"{where}.headers: a mapping of header name -> text")
        timeout = spec.get("timeout_seconds", 10)
        if not _is_number(timeout) or not 0 < timeout <= 120:
            raise AlertConfigError(f"{where}.timeout_seconds: a number of seconds, 0 to 120")
        channels[name] = Channel(name, spec["type"], spec)
    routes = []
    for i, spec in enumerate(doc.get("routes") or []):
        where = f"{path}: routes[{i}]"
        if not isinstance(spec, dict) or set(spec) - {"events", "teams", "channels"}:
            raise AlertConfigError(f"{where}: a route has events, channels and optionally teams")
        events = tuple(strings(spec.get("events"), f"{where}.events"))
        bad = [e for e in events if e not in EVENTS]
        if not events or bad:
            raise AlertConfigError(f"{where}.events: {', '.join(bad) or 'none given'}; events are {', '.join(EVENTS)}")
        names = tuple(strings(spec.get("channels"), f"{where}.channels"))
        missing = [c for c in names if c not in channels]
        if not names or missing:
            raise AlertConfigError(f"{where}.channels: {', '.join(missing) or 'none given'} not under channels:")
        teams = spec.get("teams")
        if teams is not None:
            known = _teams()
            unknown = [t for t in strings(teams, f"{where}.teams") if known and t not in known]
            if unknown:
                raise AlertConfigError(f"{where}.teams: {', '.join(unknown)} not a team of config/operators.yml "
                                       f"({', '.join(sorted(known))})")  # fmt: skip
        routes.append(Route(events, tuple(teams) if teams else None, names))
    digest = doc.get("digest") or {}
    if not isinstance(digest, dict) or set(digest) - {"cron"}:
        raise AlertConfigError(f"{path}: digest takes only cron")
    from dagster._utils.schedules import is_valid_cron_string

    if not is_valid_cron_string(str(digest.get("cron", "0 7 * * *"))):
        raise AlertConfigError(f'{path}: digest.cron {digest.get("cron")!r} is not a cron string (e.g. "0 7 * * *")')
    listed = doc.get("listed_per_message", 20)
    if not _is_number(listed, whole=True) or not 1 <= listed <= 500:
        raise AlertConfigError(f"{path}: listed_per_message is a whole number 1-500")
    return AlertConfig(channels, tuple(routes), str(digest.get("cron", "0 7 * * *")), listed)


def _is_number(value: object, whole: bool = False) -> bool:
    """A YAML number; never true or false (YAML's `port: yes` is True, which Python counts as 1)."""
    return not isinstance(value, bool) and isinstance(value, int if whole else int | float)


def unset_secrets(config: AlertConfig) -> list[str]:
    """Channels whose password_env or url_env names a variable this environment does not set:
    their sends fail at the first event (`recon alerts check` says so beforehand)."""
    out = []
    for name, channel in config.channels.items():
        for key in ("url_env", "password_env"):
            variable = channel.settings.get(key)
            if variable and not os.environ.get(str(variable)):
                out.append(f"channels.{name}.{key}: {variable} is not set in this environment")
    return out


def _teams() -> set[str]:
    """The roster's teams and escalation targets, or nothing when the roster cannot be read here."""
    try:
        from orchestration.actions import Policy

        policy = Policy.load()
    except Exception:  # the config is checked without a roster too (a copy elsewhere)
        return set()
    return {op.team for op in policy.operators.values()} | set(policy.escalate_to.values())


# ------------------------------------------------------------------------ events


def _report(run_id: str) -> dict | None:
    from orchestration import quality

    path = Path(quality.default_history_dir()) / f"{run_id}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def run_events(run_id: str, succeeded: bool, error: str | None = None, now: datetime | None = None) -> list[Event]:
    """What a finished run tells: failed or blocked, stale sources, match-rate drops (its quality report)."""
    now = now or datetime.now(UTC)
    report = _report(run_id)
    checks = (report or {}).get("checks") or []
    out = []
    blocking = [c for c in checks if not c.get("passed") and c.get("severity") == "error"]
    if blocking:
        names = ", ".join(c["name"] for c in blocking)
        out.append(Event("run_blocked", f"run_blocked:{run_id}", None, "A run was blocked by its quality gates",
                         f"run {run_id[:8]}: {names}. {blocking[0].get('description', '')}"[:600]))  # fmt: skip
    elif not succeeded:
        out.append(Event("run_failed", f"run_failed:{run_id}", None, "A run failed",
                         # 900: a run Dagster stopped for its runtime says what to do (lock.runtime_exceeded_message)
                         f"run {run_id[:8]}: {(error or 'see the Dagster run log').strip()}"[:900]))  # fmt: skip
    for check in checks:
        if check.get("passed"):
            continue
        meta = check.get("metadata") or {}
        if check["name"].startswith("freshness_"):
            out.append(Event("source_stale", f"source_stale:{check['name']}:{meta.get('newest_ingested_at')}", None,
                             "A source is stale", check.get("description", check["name"])))  # fmt: skip
        elif check["name"].startswith("match_rate_") and meta.get("baseline") is not None:
            rec = meta.get("reconciliation", check["name"])
            out.append(Event("match_rate_drop", f"match_rate_drop:{rec}:{now.date().isoformat()}", None,
                             "A match rate dropped against its baseline", check.get("description", rec)))  # fmt: skip
    return out


def _alert_store(store=None):
    """``(store, problem)``: the action store the alerts read, or why it cannot be read.

    ``(None, None)`` only in a home where nothing ran yet. A store missing where one is
    expected (a published run, the warehouse's anchors: ``ActionStore.expected``), or a path
    naming a directory, is the problem, named: alerts that read no store would otherwise say
    nothing is overdue (a mistyped RECON_ACTIONS_PATH in the alerts job's environment)."""
    from orchestration.actions import ActionError, ActionStore

    if store is not None:
        return store, None
    try:
        return ActionStore.expected(), None
    except ActionError as exc:
        return None, str(exc)


def store_problem_event(problem: str, now: datetime | None = None) -> Event:
    """A store the alerts cannot read, as run_failed (the route that hears of broken runs): once
    per problem and day, as a refused run is."""
    now = now or datetime.now(UTC)
    digest = hashlib.sha256(problem.strip().encode()).hexdigest()[:12]
    return Event("run_failed", f"action_store_unreadable:{digest}:{now.date().isoformat()}", None,
                 "The action store cannot be read: SLA breaches and escalations are unknown",
                 f"alerts read no action store: {problem.strip()}"[:600])  # fmt: skip


def exception_events(store=None) -> list[Event]:
    """SLA breaches of open exceptions, and escalations, from the action store (or, when it
    cannot be read where one is expected, that: ``store_problem_event``)."""
    store, problem = _alert_store(store)
    if problem is not None:
        return [store_problem_event(problem)]
    if store is None:
        return []
    from orchestration.actions.store import reporting_value_basis, todays_value
    from orchestration.publish import reporting_currency

    today = reporting_currency()  # a value at risk in another (the var changed since) is not summed as today's
    _, states = store.fold_all()
    out = []
    with store._connect() as con:
        catalog = {
            r["exception_id"]: dict(r) for r in con.execute("select * from catalog_entries where is_current = 1")
        }
        escalations = con.execute(
            "select action_id, exception_id, actor, target, comment from actions where action = 'escalate'"
        ).fetchall()
    for eid, entry in catalog.items():
        state = states.get(eid)
        if state is None or state.is_closed:
            continue
        due, breached, escalated = store.sla_of(state, entry)
        if not breached:
            continue
        value = todays_value(entry, today)
        amount = value or Decimal(0)
        shown = (
            f"{amount:,.2f} at risk"
            if value is not None or reporting_value_basis(entry, today) == "in_reporting_currency"
            else f"value at risk not in today's reporting currency ({today})"
        )
        out.append(
            Event(
                "sla_breached",
                f"sla_breached:{eid}:{due.isoformat()}",
                state.owner_team,
                "Exceptions past their SLA",
                f"{eid[:8]} {entry['exception_type']} {entry['record_id']} ({entry['client_name'] or '?'}): "
                f"{shown}, due {due:%Y-%m-%d %H:%M} UTC"
                + (f", escalated to {state.escalated_to or escalated}" if state.escalated_to or escalated else ""),
                amount,
            )
        )
    for action_id, eid, actor, target, comment in escalations:
        entry = catalog.get(eid) or {}
        out.append(
            Event(
                "escalated",
                f"escalated:{action_id}",
                target,
                "Exceptions escalated to your team",
                f"{eid[:8]} {entry.get('exception_type', '')} {entry.get('record_id', '')}: by {actor}"
                + (f": {comment}" if comment else ""),
            )  # fmt: skip
        )
    return out


def digest_events(day: str, store=None) -> list[Event]:
    """One digest per team: open, past SLA, value at risk, new in the last day, the most urgent.

    When the store cannot be read where one is expected, each team's digest says so (a
    digest that did not come would look like a quiet day), beside ``store_problem_event``."""
    store, problem = _alert_store(store)
    if problem is not None:
        return [store_problem_event(problem)] + [
            Event(
                "daily_digest",
                f"daily_digest:{team}:{day}:store_unreadable",
                team,
                f"Daily digest {day}",
                f"No digest: the action store cannot be read. {problem}"[:600],
            )  # fmt: skip
            for team in sorted(_teams())
        ]
    if store is None:
        return []
    from orchestration.actions.store import reporting_value_basis, todays_value
    from orchestration.publish import reporting_currency

    today = reporting_currency()
    _, states = store.fold_all()
    now = store.clock()
    per_team: dict[str, list] = defaultdict(list)
    with store._connect() as con:
        for entry in con.execute("select * from catalog_entries where is_current = 1"):
            state = states.get(entry["exception_id"])
            if state is None or state.is_closed:
                continue
            due, breached, _ = store.sla_of(state, entry)
            per_team[state.owner_team].append((due, breached, dict(entry)))
    out = []
    for team, rows in sorted(per_team.items()):
        rows.sort(key=lambda r: r[0])
        at_risk = sum((todays_value(r[2], today) or Decimal(0) for r in rows), Decimal(0))
        # Values a run wrote in another reporting currency (the var changed since) are not summed; said.
        other = sum(1 for r in rows if reporting_value_basis(r[2], today) != "in_reporting_currency")
        not_summed = f" ({other} with a value not in today's reporting currency, {today}, not summed)" if other else ""
        new = sum(1 for r in rows if datetime.fromisoformat(r[2]["first_seen_at"]) > now - timedelta(days=1))
        urgent = "; ".join(f"{r[2]['exception_id'][:8]} {r[2]['exception_type']} due {r[0]:%Y-%m-%d}" for r in rows[:5])
        out.append(
            Event(
                "daily_digest",
                f"daily_digest:{team}:{day}",
                team,
                f"Daily digest {day}",
                f"{len(rows)} open, {sum(r[1] for r in rows)} past SLA, {new} new since yesterday, "
                f"{at_risk:,.2f} at risk{not_summed}. Most urgent: {urgent}",
            )  # fmt: skip
        )
    return out


# ------------------------------------------------------------------------ sending


class Outbox:
    """What was sent where: ``(event key, channel)`` is sent at most once."""

    def __init__(self, path: Path | None = None):
        self.path = Path(path or recon_home() / "alerts.sqlite")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.execute(
                "create table if not exists deliveries (event_key text not null, channel text not null,"
                " status text not null, attempts integer not null, first_tried_at text not null,"
                " last_tried_at text not null, last_error text, primary key (event_key, channel))"
            )

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            con.execute("pragma journal_mode = wal")
            yield con
        finally:
            con.close()

    def pending(self, keys: list[str], channel: str) -> set[str]:
        with self._connect() as con:
            done = {
                k
                for k, status, attempts in con.execute(
                    "select event_key, status, attempts from deliveries where channel = ?", [channel]
                )
                if status == "sent" or attempts >= MAX_ATTEMPTS
            }
        return {k for k in keys if k not in done}

    def record(self, keys: list[str], channel: str, error: str | None, tries: int = 1) -> None:
        """Record a delivery (``tries`` sends, the last one's ``error`` or None) of each key to ``channel``."""
        now = datetime.now(UTC).isoformat()
        with self._connect() as con:
            con.execute("begin immediate")
            for key in keys:
                con.execute(
                    "insert into deliveries values (?, ?, ?, ?, ?, ?, ?) on conflict (event_key, channel) do update"
                    " set status = excluded.status, attempts = deliveries.attempts + excluded.attempts,"
                    " last_tried_at = excluded.last_tried_at, last_error = excluded.last_error",
                    [key, channel, "failed" if error else "sent", tries, now, now, error],
                )
            con.execute("commit")

    def rows(self) -> list[tuple]:
        with self._connect() as con:
            return con.execute("select * from deliveries order by first_tried_at, event_key, channel").fetchall()


def _message(events: list[Event], listed: int) -> tuple[str, str]:
    first = events[0]
    team = f" ({first.team})" if first.team else ""
    subject = f"[recon] {first.title}{team}" + (f": {len(events)}" if len(events) > 1 else "")
    shown = sorted(events, key=lambda e: (-e.weight, e.key))[:listed]
    body = [f"{first.title}{team}: {len(events)} new." if len(events) > 1 else f"{first.title}{team}."]
    body += [f"- {e.line}" for e in shown]
    if len(events) > listed:
        body.append(f"… and {len(events) - listed} more: open the desk (recon ui) or `recon exceptions list`.")
    return subject, "\n".join(body)


def slack_escape(text: str) -> str:
    """Slack's three control characters, so a client name or comment is shown, never acted on."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def send_smtp(channel: Channel, subject: str, body: str) -> None:
    s = channel.settings
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = s["from"], ", ".join(s["to"]), subject
    msg.set_content(body)
    timeout = s.get("timeout_seconds", 10)
    cls = smtplib.SMTP_SSL if s.get("ssl") else smtplib.SMTP
    with cls(s["host"], s.get("port", 25), timeout=timeout) as server:
        if s.get("starttls"):
            server.starttls(context=ssl.create_default_context())
        if s.get("username"):
            password = os.environ.get(s.get("password_env") or "", "")
            if not password:
                raise RuntimeError(
                    f"channel {channel.name}: set {s.get('password_env') or 'password_env'} in the environment"
                )
            server.login(s["username"], password)
        server.send_message(msg)


def send_webhook(channel: Channel, subject: str, body: str, events: list[Event]) -> None:
    s = channel.settings
    url = s.get("url") or os.environ.get(s["url_env"], "")
    if not url.startswith(("http://", "https://")):
        raise RuntimeError(f"channel {channel.name}: {s.get('url_env')} holds no http(s) URL")
    payload = {
        # Slack's incoming webhooks read `text`, where <...> is markup (<!channel>, links): escaped.
        "text": slack_escape(f"*{subject}*\n{body}"),
        "event": events[0].kind,
        "team": events[0].team,
        "keys": [e.key for e in events],
    }
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", **(s.get("headers") or {})},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=s.get("timeout_seconds", 10)) as response:  # noqa: S310 (config URL)
        if not 200 <= response.status < 300:
            raise RuntimeError(f"HTTP {response.status}")


def send_one(channel: Channel, events: list[Event], listed: int) -> None:
    """One message for ``events`` to ``channel``, now (no outbox, no retries)."""
    subject, body = _message(events, listed)
    if channel.type == "smtp":
        send_smtp(channel, subject, body)
    else:
        send_webhook(channel, subject, body, events)


def dispatch(events: list[Event], config: AlertConfig | None = None, outbox: Outbox | None = None,
             sleep=time.sleep) -> dict:  # fmt: skip
    """Send each event to the channels its routes name, once; returns counts per outcome."""
    config = config or load_config()
    outbox = outbox or Outbox()
    summary = {"events": len(events), "sent": 0, "already_sent": 0, "failed": 0, "messages": 0, "errors": []}
    if not events or not config.routes:
        return summary
    batches: dict[tuple[str, str, str | None], list[Event]] = defaultdict(list)
    for event in events:
        names = {c for r in config.routes if event.kind in r.events and (r.teams is None or event.team in r.teams)
                 for c in r.channels}  # fmt: skip
        for name in sorted(names):
            batches[(name, event.kind, event.team)].append(event)
    for (name, _, _), batch in sorted(batches.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or "")):
        channel = config.channels[name]
        unique = {e.key: e for e in batch}
        todo = outbox.pending(sorted(unique), name)
        summary["already_sent"] += len(unique) - len(todo)
        if not todo:
            continue
        todo_events = [unique[k] for k in sorted(todo)]
        error, tries = None, 0
        for attempt in range(RETRIES):
            tries += 1
            try:
                send_one(channel, todo_events, config.listed_per_message)
                error = None
                break
            except Exception as exc:  # noqa: BLE001 - one channel's failure must not stop the others
                error = f"{type(exc).__name__}: {exc}"[:500]
                if attempt < RETRIES - 1:
                    sleep(BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS) - 1)])
        outbox.record(sorted(todo), name, error, tries)
        if error:
            summary["failed"] += len(todo)
            summary["errors"].append(f"{name}: {error}")
        else:
            summary["sent"] += len(todo)
            summary["messages"] += 1
    return summary


LAST_RUN = "last_run.json"  # in RECON_HOME: how the latest finished run of the job ended


def record_last_run(run_id: str, succeeded: bool, error: str | None = None, now: datetime | None = None) -> None:
    """Write how this run ended, for `recon status` (which reads no Dagster storage).

    Blocking checks count as a failure to publish though the run itself succeeded.
    """
    report = _report(run_id) or {}
    blocking = [c["name"] for c in report.get("checks") or [] if not c.get("passed") and c.get("severity") == "error"]
    finished = now or _run_end_time(run_id) or datetime.now(UTC)
    record = {
        "run_id": run_id,
        "succeeded": succeeded and not blocking,
        "finished_at": finished.astimezone(UTC).isoformat(timespec="seconds"),
        "error": (error or "").strip()[:500] or None,
        "blocking_checks": blocking,
    }
    earlier = last_run()
    # The daemon's sensor may look at a run after a newer one ended: never go back in time.
    if earlier and earlier.get("run_id") != run_id and str(earlier.get("finished_at", "")) > record["finished_at"]:
        return
    path = recon_home() / LAST_RUN
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(tmp, path)


def _run_end_time(run_id: str) -> datetime | None:
    """When the Dagster run ended, from the instance's run storage (None when unknown)."""
    try:
        import dagster as dg

        with dg.DagsterInstance.get() as instance:
            found = instance.get_run_record_by_id(run_id)
        end = found.end_time if found else None
        return datetime.fromtimestamp(end, UTC) if end else None
    except Exception:  # no instance here (a test, a home without DAGSTER_HOME): the caller's clock
        return None


def last_run() -> dict | None:
    try:
        return json.loads((recon_home() / LAST_RUN).read_text())
    except (OSError, ValueError):
        return None


def after_run(run_id: str, succeeded: bool, error: str | None = None) -> dict:
    """Everything a finished run may have to tell: its own events, and the exceptions it left past SLA.

    A run refused because another process holds the warehouse lock (busy, or too long) was
    alerted where it was refused, once per holder (orchestration/defs/resources.py): not again
    for each run, and not recorded as this home's last run (the holder's own end is, or the
    refusal by a holder held too long, recorded there)."""
    from orchestration.lock import BUSY_MARK, HELD_MARK

    lock_held = not succeeded and (HELD_MARK in (error or "") or BUSY_MARK in (error or ""))
    try:
        if not lock_held:
            record_last_run(run_id, succeeded, error)
    except OSError:
        pass  # a full or read-only home must not cost the alert that says so
    config = load_config()
    if not config.routes:
        return {"events": 0, "sent": 0, "already_sent": 0, "failed": 0, "messages": 0, "errors": []}
    events = [e for e in run_events(run_id, succeeded, error) if not (lock_held and e.key == f"run_failed:{run_id}")]
    return _with_store_problem(dispatch(events + (found := exception_events()), config), found)


def _with_store_problem(summary: dict, events: list[Event]) -> dict:
    """The summary, with ``store_problem`` when the events say the action store could not be read."""
    problem = next((e.line for e in events if e.key.startswith("action_store_unreadable:")), None)
    return {**summary, "store_problem": problem} if problem else summary


def record_refused_run(reason: str, now: datetime | None = None, lock_held: dict | None = None) -> dict:
    """Write a run refused before it started (a config file or RECON_* variable with a mistake,
    rules not approved, a warehouse lock held too long) to last_run.json: `recon status` says so
    instead of the last good run. ``lock_held`` is the holder's lock record (no token), with
    ``held_seconds`` and ``limit_seconds``."""
    now = now or datetime.now(UTC)
    record = {
        "run_id": None,
        "refused": True,
        "succeeded": False,
        "finished_at": now.astimezone(UTC).isoformat(timespec="seconds"),
        # The lock's message is longer than a config mistake's: it says what to do.
        "error": (reason or "").strip()[: 1200 if lock_held else 500] or None,
        "blocking_checks": [],
        **({"lock_held": lock_held} if lock_held else {}),
    }
    path = recon_home() / LAST_RUN
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(tmp, path)
    return record


def refusal_event(reason: str, now: datetime | None = None) -> Event:
    """A refused run as run_failed: once per reason and day (a cron retrying hourly with the same
    typo alerts once a day, a different mistake at once)."""
    now = now or datetime.now(UTC)
    digest = hashlib.sha256(reason.strip().encode()).hexdigest()[:12]
    return Event("run_failed", f"run_refused:{digest}:{now.date().isoformat()}", None, "A run was refused",
                 f"recon run refused before it started: {reason.strip()}"[:600])  # fmt: skip


def after_refusal(reason: str, now: datetime | None = None) -> dict:
    """A run refused before it started: recorded for `recon status`, and sent as run_failed."""
    try:
        record_refused_run(reason, now)
    except OSError:
        pass  # a full or read-only home must not cost the alert that says so
    config = load_config()
    if not config.routes:
        return {"events": 0, "sent": 0, "already_sent": 0, "failed": 0, "messages": 0, "errors": []}
    return dispatch([refusal_event(reason, now)], config)


def lock_held_event(reason: str, holder: dict) -> Event:
    """A run refused because the warehouse lock has been held too long, as run_failed: once per
    holder (host, pid and since name one holding), however many runs it refuses meanwhile."""
    who = f"{holder.get('host') or '?'}:{holder.get('pid')}:{holder.get('since')}"
    return Event("run_failed", f"lock_held:{who}", None, "A run was refused: the warehouse lock is held too long",
                 f"recon run refused: {reason.strip()}"[:900])  # fmt: skip


def after_lock_held(reason: str, holder: dict, held_seconds: float, limit_seconds: float,
                    now: datetime | None = None) -> dict:  # fmt: skip
    """A run refused by a holder of the warehouse lock past RECON_LOCK_MAX_HOLD_SECONDS (maybe
    hung): recorded for `recon status` at every refusal, sent as run_failed once per holder."""
    held = {**holder, "held_seconds": round(held_seconds), "limit_seconds": round(limit_seconds)}
    try:
        record_refused_run(reason, now, lock_held=held)
    except OSError:
        pass  # a full or read-only home must not cost the alert that says so
    config = load_config()
    if not config.routes:
        return {"events": 0, "sent": 0, "already_sent": 0, "failed": 0, "messages": 0, "errors": []}
    return dispatch([lock_held_event(reason, holder)], config)


def lock_busy_event(reason: str, holder: dict | None, now: datetime | None = None) -> Event:
    """A Dagster run (schedule, sensor, UI) refused because another process holds the warehouse
    lock, within RECON_LOCK_MAX_HOLD_SECONDS: once per holder (host, pid and since), however many
    runs it refuses; by the reason and day when the lock file named no holder."""
    if holder:
        key = f"lock_busy:{holder.get('host') or '?'}:{holder.get('pid')}:{holder.get('since')}"
    else:
        now = now or datetime.now(UTC)
        key = f"lock_busy:{hashlib.sha256(reason.strip().encode()).hexdigest()[:12]}:{now.date().isoformat()}"
    return Event("run_failed", key, None, "A run was refused: another process holds the warehouse",
                 f"Dagster run refused: {reason.strip()}"[:900])  # fmt: skip


def after_lock_busy(reason: str, holder: dict | None) -> dict:
    """A Dagster run refused by a holder of the warehouse lock within its time: sent as run_failed
    once per holder, not recorded (the holder's own end is what `recon status` reports, as for a
    `recon run` refused this way)."""
    config = load_config()
    if not config.routes:
        return {"events": 0, "sent": 0, "already_sent": 0, "failed": 0, "messages": 0, "errors": []}
    return dispatch([lock_busy_event(reason, holder)], config)


def send_digests(day: str | None = None) -> dict:
    config = load_config()
    day = day or datetime.now(UTC).date().isoformat()
    events = digest_events(day)
    return _with_store_problem(dispatch(events, config) if config.routes else {"events": 0, "sent": 0}, events)
