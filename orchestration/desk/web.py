"""The desk's HTTP side: a Starlette app with password logins, signed sessions and CSRF tokens.

No JavaScript: every page is HTML and inline SVG rendered on the server, every action a
form POST. The Content-Security-Policy forbids scripts outright, so an injected
``<script>`` in a client name cannot run even if escaping were missed somewhere.

Security, in order of a request:

* the session cookie holds a random session id signed with the desk's secret
  (``itsdangerous``); an altered or forged cookie fails the signature and is treated
  as no session. The id must also be live in ``desk.sqlite`` (not logged out, expired or
  idle, account not disabled);
* every POST carries the session's CSRF token (the login form a token of its own in a
  signed cookie), and a cross-site ``Origin`` is refused;
* failed logins are throttled per account and per client address (``accounts.py``);
* what an operator may do is decided by the action store (``ActionStore.act``), the same
  code as the CLI; a refusal shows the rule's message with status 403 or 409.
"""

from __future__ import annotations

import csv
import hmac
import io
import json
import os
import re
import secrets
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import duckdb
from itsdangerous import BadSignature, URLSafeTimedSerializer
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from orchestration import links, policy_docs
from orchestration.actions import ActionError, Conflict, InvalidInput, NotFound, StoreMissing
from orchestration.actions.core import spelled_out
from orchestration.desk import charts
from orchestration.desk.accounts import SESSION_LIFETIME, Accounts, LoginRefused
from orchestration.desk.dashboard import dashboard
from orchestration.desk.service import AGE_BUCKETS, Desk, DeskError, InboxQuery, single_filters
from orchestration.settings import recon_home

SESSION_COOKIE = "recon_desk"
LOGIN_COOKIE = "recon_desk_login"
MAX_FORM_BYTES = 256 * 1024
MAX_FIELDS = 1000
TEMPLATES = Path(__file__).parent / "templates"
CSS = Path(__file__).parent / "static" / "desk.css"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
ACTION_LABELS = {
    "claim": "claimed",
    "release": "released",
    "comment": "commented",
    "resolve": "resolved",
    "adjust": "adjustment recorded",
    "approve": "approved",
    "reject": "rejected",
    "reassign": "reassigned",
    "escalate": "escalated",
    "match": "link recorded; the next run applies it, or once approved where it awaits a checker (LNK-…)",
    "unmatch": "unlink recorded; the next run applies it",
    "reopen": "reopened",
}
CSV_INJECTION = ("=", "+", "-", "@", "\t", "\r")
SERVING_UNAVAILABLE = (
    "the published serving copy cannot be read just now, so nothing was done: {} "
    "A program that opens it read-write (a DuckDB session without read-only) stops every reader: "
    "close it, and open the serving copy read-only. `recon status` and `recon publication verify` say more."
)


def desk_secret() -> bytes:
    """``RECON_DESK_SECRET``, else a random key kept in ``$RECON_HOME/desk.secret`` (mode 600)."""
    env = os.environ.get("RECON_DESK_SECRET", "").strip()
    if env:
        if len(env) < 32:
            raise SystemExit("RECON_DESK_SECRET must have at least 32 characters")
        return env.encode()
    path = recon_home() / "desk.secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
    return path.read_text().strip().encode()


def csv_cell(value) -> str:
    """A cell a spreadsheet will not run: text starting with = + - @ (or a tab/CR) gets a leading quote."""
    if value is None:
        return ""
    text = str(value)
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return text
    return "'" + text if text.startswith(CSV_INJECTION) else text


def csv_response(name: str, header: list[str], rows) -> Response:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])
    return Response(
        buf.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def create_app(desk: Desk | None = None, accounts: Accounts | None = None, secret: bytes | None = None) -> Starlette:
    desk = desk or Desk()
    accounts = accounts or Accounts()
    signer = URLSafeTimedSerializer(secret or desk_secret(), salt="recon-desk-session")
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    env.globals.update(
        fmt_number=charts.fmt_number, fmt_percent=charts.fmt_percent, no_candidates_said=links.no_candidates_said
    )
    env.filters["money"] = lambda v: "–" if v is None else f"{Decimal(str(v)):,.2f}"
    env.filters["when"] = lambda v: "–" if not v else str(v)[:16].replace("T", " ")
    # A logged text as it is (orchestration/actions/core.py spelled_out): an invisible or
    # control character an older version let in is shown escaped, not hidden.
    env.filters["shown"] = lambda v: spelled_out(str(v), keep_lines=True)
    env.filters["link"] = links.link_shown  # a match's target: 'orders_invoices: SO-1 ↔ INV-1', as the CLI says it

    def page(request: Request, template: str, status: int = 200, **context) -> HTMLResponse:
        context.setdefault("user", getattr(request.state, "user", None))
        context.setdefault("csrf", getattr(request.state, "csrf", ""))
        body = env.get_template(template).render(request=request, **context)
        return HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)

    def current(request: Request):
        """The live session of the request, or None (no cookie, bad signature, ended or expired)."""
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            return None
        try:
            session_id = signer.loads(token, max_age=int(SESSION_LIFETIME.total_seconds()))
        except BadSignature:
            return None
        session = accounts.session(str(session_id))
        if session is None or session.name not in desk.policy.operators:
            return None
        request.state.user, request.state.csrf, request.state.session = session.name, session.csrf_token, session
        return session

    async def form_of(request: Request) -> dict:
        """The POSTed form, bounded in size, after the CSRF and Origin checks."""
        origin = request.headers.get("origin")
        if origin and not _same_origin(origin, request):
            raise PermissionError("cross-site request refused")
        fields = await read_form(request)
        expected = getattr(request.state, "csrf", None)
        if not expected or not hmac.compare_digest(str(fields.get("csrf_token", "")), expected):
            raise PermissionError("the form's security token is missing or stale: reload the page and try again")
        return fields

    def login_required(handler):
        async def wrapped(request: Request):
            if current(request) is None:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                if request.method != "GET":
                    return PlainTextResponse("not logged in", status_code=401, headers=SECURITY_HEADERS)
                return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)
            try:
                return await handler(request)
            except PermissionError as exc:
                return page(request, "error.html", status=403, message=str(exc))
            except FormTooLarge as exc:
                return page(request, "error.html", status=exc.status, message=str(exc))
            except duckdb.IOException as exc:
                # The serving copy cannot be opened: a process holds it read-write (a DuckDB CLI
                # without -readonly), or left a log beside it. Nothing was done; say so, not a 500.
                first = (str(exc).strip().splitlines() or [""])[0][:300]
                response = page(request, "error.html", status=503, message=SERVING_UNAVAILABLE.format(first))
                response.headers["Retry-After"] = "60"
                return response

        return wrapped

    # ------------------------------------------------------------------ login

    async def login_form(request: Request):
        token = secrets.token_urlsafe(24)
        response = page(request, "login.html", login_csrf=token, next=_safe_next(request.query_params.get("next")))
        response.set_cookie(LOGIN_COOKIE, signer.dumps(token), max_age=900, httponly=True, samesite="strict")
        return response

    def login_page(request: Request, status: int, error: str, nxt: str | None, name: str = "") -> HTMLResponse:
        """The login form again with a fresh token (a stale one would fail every retry)."""
        token = secrets.token_urlsafe(24)
        response = page(request, "login.html", status=status, error=error, login_csrf=token, next=nxt, name=name)
        response.set_cookie(LOGIN_COOKIE, signer.dumps(token), max_age=900, httponly=True, samesite="strict")
        return response

    async def login(request: Request):
        try:
            form = await read_form(request)
        except FormTooLarge as exc:
            return PlainTextResponse(str(exc), status_code=exc.status, headers=SECURITY_HEADERS)
        try:
            expected = signer.loads(request.cookies.get(LOGIN_COOKIE, ""), max_age=900)
        except BadSignature:
            expected = None
        given = str(form.get("login_csrf") or "")
        nxt = _safe_next(str(form.get("next") or ""))
        if not expected or not hmac.compare_digest(given, str(expected)):
            return login_page(request, 403, "the login form had expired: log in again", nxt)
        name, password = str(form.get("name") or "").strip(), str(form.get("password") or "")
        client = request.client.host if request.client else "unknown"
        try:
            # argon2 takes tens of milliseconds: off the event loop, so other pages keep answering.
            session = await run_in_threadpool(
                accounts.authenticate, name, password, client, lambda n: n in desk.policy.operators
            )
        except LoginRefused as exc:
            response = login_page(request, 429 if exc.retry_after else 401, str(exc), nxt, name[:64])
            if exc.retry_after:
                response.headers["Retry-After"] = str(exc.retry_after)
            return response
        response = RedirectResponse(nxt or "/", status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            signer.dumps(session.session_id),
            max_age=int(SESSION_LIFETIME.total_seconds()),
            httponly=True,
            samesite="strict",
            # Behind a proxy that ends TLS the desk is asked over http; the browser's Origin says https.
            secure=request.url.scheme == "https" or (request.headers.get("origin") or "").startswith("https://"),
        )
        response.delete_cookie(LOGIN_COOKIE)
        return response

    @login_required
    async def logout(request: Request):
        await form_of(request)
        accounts.end(request.state.session.session_id)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    # ------------------------------------------------------------------ inbox

    def _query(request: Request) -> InboxQuery:
        return InboxQuery.parse(
            single_filters(request.query_params.multi_items()),
            policy_docs.exception_types(),
            desk.teams(),
            sorted(set(desk.policy.escalate_to)),
        )

    @login_required
    async def inbox(request: Request):
        user = request.state.user
        try:
            query = _query(request)
            result = await run_in_threadpool(desk.inbox, user, query)
        except DeskError as exc:
            return page(request, "error.html", status=400, message=str(exc))
        except StoreMissing as exc:  # a mistyped RECON_ACTIONS_PATH: said, not an empty inbox
            return page(request, "error.html", status=503, message=desk_words(str(exc)))
        params = {k: v for k, v in request.query_params.items() if k != "page" and v}
        done = request.query_params.get("done")
        return page(
            request,
            "inbox.html",
            result=result,
            query=query,
            params=params,
            done=done if done in ("bulk",) else None,
            types=policy_docs.exception_types(),
            teams=desk.teams(),
            severities=sorted(set(desk.policy.escalate_to)),
            ages=[b[0] for b in AGE_BUCKETS],
            operator=desk.operator(user),
            resolve_codes=desk.policy.codes_for("resolve"),
            export=urlencode(params),
        )

    @login_required
    async def inbox_csv(request: Request):
        try:
            result = await run_in_threadpool(desk.inbox, request.state.user, _query(request))
        except DeskError as exc:
            return PlainTextResponse(str(exc), status_code=400, headers=SECURITY_HEADERS)
        except StoreMissing as exc:
            return PlainTextResponse(str(exc), status_code=503, headers=SECURITY_HEADERS)
        header = [
            "exception_id",
            "exception_type",
            "severity",
            "owner_team",
            "status",
            "claimed_by",
            "client_name",
            "record_id",
            "amount_at_risk_reporting",
            "reporting_currency",
            "age_days",
            "sla_due_at",
            "is_breached",
            "escalated_to",
            "reporting_value_note",
        ]
        rows = (
            [
                r["exception_id"],
                r["exception_type"],
                r["severity"],
                r["owner_team"],
                r["status"],
                r["claimed_by"],
                r["client_name"],
                r["record_id"],
                # Empty where the row has no value in today's reporting currency (none, or a run's
                # in another: the inbox shows its own amount), not 0: a spreadsheet would sum it.
                r["amount"] if r["amount_shown"] is None else "",
                desk.reporting_currency,
                r["age_days"],
                r["sla_due_at"].isoformat(),
                r["is_breached"],
                r["escalated_to"],
                # Why amount_at_risk_reporting is empty when a run reported it in another
                # currency before a switch (the sentence `recon exceptions show` prints).
                r["reporting_value_note"] or "",
            ]
            for r in result["all_rows"]
        )
        return csv_response(f"inbox-{result['team']}", header, rows)

    @login_required
    async def bulk(request: Request):
        form = await form_of(request)
        ids = [_exception_id(str(i)[:64]) for i in form.get("ids") or []]
        action = form.get("action", "")
        try:
            # Only resolve takes the bar's reason (release has codes of its own).
            form = {**form, "reason": form.get("reason") if action == "resolve" else None}
            results = await run_in_threadpool(desk.bulk, request.state.user, action, ids, form)
            results = [(eid, desk_words(msg) if msg else None) for eid, msg in results]
        except DeskError as exc:
            return page(request, "error.html", status=400, message=str(exc))
        refused = [(eid, msg) for eid, msg in results if msg]
        if not ids:
            return page(request, "error.html", status=400, message="select at least one exception")
        return page(
            request,
            "bulk.html",
            status=200 if not refused else 207,
            action=action,
            results=results,
            refused=refused,
            back=_safe_next(form.get("back")) or "/",
        )

    # -------------------------------------------------------------- exception

    @login_required
    async def exception_page(request: Request):
        eid = _exception_id(request.path_params["exception_id"])
        try:
            doc = await run_in_threadpool(desk.exception, request.state.user, eid)
        except NotFound as exc:
            return page(request, "error.html", status=404, message=desk_words(str(exc)))
        except ActionError as exc:
            return page(request, "error.html", status=400, message=desk_words(str(exc)))
        # ?done=SEQ names the entry just recorded: the notice is shown only if the log holds
        # that entry, on this exception, by this user (a crafted link shows nothing).
        done = None
        seq = request.query_params.get("done", "")
        if seq.isdigit():
            entry = next((h for h in doc["history"] if h["seq"] == int(seq)), None)
            if entry and entry["actor"] == request.state.user:
                done = f"{ACTION_LABELS.get(entry['action'], entry['action'])} (entry #{entry['seq']} of the log)"
        return page(
            request,
            "exception.html",
            doc=doc,
            waterfalls=_waterfalls(doc),
            teams=desk.teams(),
            done=done,
            error=None,
        )

    @login_required
    async def act(request: Request):
        eid = _exception_id(request.path_params["exception_id"])
        form = await form_of(request)
        action = form.get("action", "")
        try:
            if action not in ACTION_LABELS:
                raise ActionError(f"unknown action {action[:32]!r}")
            entry = await run_in_threadpool(desk.act, request.state.user, action, eid, form)
        except ActionError as exc:
            # 400 a bad value (bounds), 404 nothing there, 409 someone else holds it, 403 a rule says no.
            status = (
                400 if isinstance(exc, InvalidInput) else 404 if isinstance(exc, NotFound)
                else 409 if isinstance(exc, Conflict) else 403
            )  # fmt: skip
            try:
                doc = await run_in_threadpool(desk.exception, request.state.user, eid)
            except ActionError:
                return page(request, "error.html", status=status, message=desk_words(str(exc)))
            return page(
                request,
                "exception.html",
                status=status,
                doc=doc,
                waterfalls=_waterfalls(doc),
                teams=desk.teams(),
                done=None,
                error=desk_words(str(exc)),
            )
        return RedirectResponse(f"/exceptions/{entry['exception_id']}?done={entry['seq']}", status_code=303)

    # -------------------------------------------------------------- dashboard

    @login_required
    async def dashboard_page(request: Request):
        return page(request, "dashboard.html", board=await run_in_threadpool(dashboard, desk))

    @login_required
    async def dashboard_csv(request: Request):
        board = await run_in_threadpool(dashboard, desk)
        name = request.path_params["table"]
        table = board["tables"].get(name)
        if table is None:
            return PlainTextResponse(f"no table {name[:64]!r}", status_code=404, headers=SECURITY_HEADERS)
        return csv_response(name, table["header"], table["rows"])

    async def css(request: Request):
        return Response(CSS.read_text(), media_type="text/css", headers={"Cache-Control": "max-age=300"})

    async def health(request: Request):
        """For a load balancer: 200 ``{"ok": true}`` while the desk can read its action store, else
        503 ``{"ok": false}``. Which publication it serves (its name carries the run id) is said
        to a signed-in user only: a health check needs no login, so it tells a stranger nothing."""
        from orchestration import publish

        ok = await run_in_threadpool(desk.healthy)
        body: dict = {"ok": ok}
        if ok and current(request) is not None:
            record = publish.current()
            body["publication"] = record["publication"] if record else None
        return Response(
            json.dumps(body), status_code=200 if ok else 503, media_type="application/json", headers=SECURITY_HEADERS
        )

    routes = [
        Route("/", inbox),
        Route("/inbox.csv", inbox_csv),
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/bulk", bulk, methods=["POST"]),
        Route("/exceptions/{exception_id}", exception_page),
        Route("/exceptions/{exception_id}/act", act, methods=["POST"]),
        Route("/dashboard", dashboard_page),
        Route("/dashboard/{table}.csv", dashboard_csv),
        Route("/static/desk.css", css),
        Route("/healthz", health),
    ]
    app = Starlette(routes=routes)
    app.state.desk, app.state.accounts = desk, accounts
    return app


class FormTooLarge(Exception):
    """A form the desk does not read: too large or too many fields (413), not a form (415), not UTF-8 (400)."""

    def __init__(self, message: str, status: int = 413) -> None:
        super().__init__(message)
        self.status = status


async def read_form(request: Request) -> dict:
    """An urlencoded form, read up to MAX_FORM_BYTES however it is sent (chunked too), at most MAX_FIELDS fields.

    ``ids`` (the inbox's checkboxes) is a list; every other field its last value.
    """
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise FormTooLarge("the desk takes forms (application/x-www-form-urlencoded) only", status=415)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise FormTooLarge(f"the form is larger than {MAX_FORM_BYTES // 1024} KB")
    try:
        # strict: a %-escaped byte that is not UTF-8 is refused, not logged as U+FFFD in the audit chain
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS, errors="strict")
    except UnicodeDecodeError as exc:
        raise FormTooLarge("the form cannot be read: it is not UTF-8 text", status=400) from exc
    except ValueError as exc:
        raise FormTooLarge(f"the form cannot be read: {str(exc)[:100]}") from exc
    fields: dict = {"ids": []}
    for key, value in pairs:
        if key == "ids":
            fields["ids"].append(value)
        else:
            fields[key] = value
    return fields


# The store words its refusals for the command line; the desk says them in its own terms.
DESK_WORDS = (
    (re.compile(r"run `recon exceptions claim [^`]*` first"), "claim it first"),
    (re.compile(r"run `recon exceptions list`"), "look in the inbox"),
    (re.compile(r"`recon exceptions (match|unmatch) \S+ --with ([^`]*) --reason CODE`"), r"\1 it with \2 and a reason"),
    (re.compile(r"`recon exceptions show [^`]*` lists"), "this page lists"),
    (re.compile(r"\(--reason\)"), "(the reason field)"),
    (re.compile(r"--with KEY \[KEY \.\.\.\]"), "the other side's record keys"),
    (re.compile(r"--adjustment ADJ-…"), "the adjustment"),
    (re.compile(r"\(--text\)"), "(the comment field)"),
    (re.compile(r"--(amount|reason|team|text|in|with|adjustment)\b"), r"the \1 field"),
)


def desk_words(message: str) -> str:
    for pattern, words in DESK_WORDS:
        message = pattern.sub(words, message)
    return message


def _exception_id(text: str) -> str:
    """Ids are lower-case hex: a prefix typed in capitals finds the same exception."""
    return text.lower() if re.fullmatch(r"[0-9A-Fa-f]{1,64}", text) else text


def _same_origin(origin: str, request: Request) -> bool:
    """A form from a page of this desk: the Origin's host (and port) is the one the desk was asked for.

    Its scheme may be http or https: behind a reverse proxy that ends TLS (docs/desk.md) the
    desk is asked over http while the browser's Origin is https, and comparing schemes refused
    every form there as cross-site. The session's CSRF token is checked as well.
    """
    scheme, sep, host = origin.partition("://")
    return bool(sep) and scheme.lower() in ("http", "https") and host.lower() == request.url.netloc.lower()


def _safe_next(target: str | None) -> str | None:
    """A local path to return to after login; anything else (another host, a scheme) is dropped."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target or len(target) > 500:
        return None
    return target


def _waterfalls(doc: dict) -> list[dict]:
    """Per reconciliation, its candidates' score components as waterfall charts."""
    out = []
    for rec in doc["reconciliations"]:
        for cand in (rec.get("top_candidates") or [])[:5]:
            comps = cand.get("components") or {}
            parts = [(name, str(c.get("level")), float(c.get("weight") or 0)) for name, c in comps.items()]
            total = float(cand.get("match_weight") or 0)
            prior = total - sum(w for _, _, w in parts)
            out.append(
                {
                    "reconciliation": rec["reconciliation"],
                    "candidate": cand["candidate_key"],
                    "probability": cand.get("match_probability"),
                    "weight": total,
                    "chart": charts.waterfall(prior, parts, f"score of {cand['candidate_key']}"),
                }
            )
    return out


def now_utc() -> datetime:
    return datetime.now(UTC)
