"""The operator desk over HTTP: logins, sessions, CSRF, the inbox, actions, the dashboard.

Real parts: one generated agency run through the Dagster job (working warehouse,
publication, SQLite action store), desk accounts made with `recon users add`, and the
Starlette app driven through its ASGI interface. Every action is checked in the
action log the CLI writes, never in the desk's own view of it.
"""

from __future__ import annotations

import html
import json
import re
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from orchestration import cli, pipeline, settings
from orchestration.actions import ActionStore
from orchestration.desk import charts
from orchestration.desk.accounts import LIMITS, MAX_FAILURES, Accounts
from orchestration.desk.service import Desk
from orchestration.desk.web import SESSION_COOKIE, create_app, csv_cell
from orchestration.lab import generate

PASSWORDS = {name: f"correct horse {name} battery" for name in ("alice", "carol", "olga", "bob")}
SECRET = b"a-test-secret-of-more-than-32-characters-000"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("desk") / "recon"
    home.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RECON_HOME", str(home))
        mp.setenv("RECON_DUCKDB_PATH", str(home / "warehouse.duckdb"))
        mp.setenv("DAGSTER_HOME", str(home / "dagster"))
        generate.generate(home, seed=5, orders=300, file_format="csv", bad_rows=False, bad_files=False)
        assert pipeline.run_pipeline()
        yield home


@pytest.fixture(scope="module")
def accounts(home: Path, tmp_path_factory: pytest.TempPathFactory):
    import io
    import sys

    for name, password in PASSWORDS.items():
        stdin, sys.stdin = sys.stdin, io.StringIO(password + "\n")
        try:
            assert cli.main(["users", "add", name, "--password-stdin"]) == 0
        finally:
            sys.stdin = stdin
    return Accounts()


def client_for(accounts: Accounts, address: str = "10.0.0.1") -> TestClient:
    return TestClient(create_app(Desk(), accounts, SECRET), base_url="http://127.0.0.1:8321", client=(address, 5000))


def login(client: TestClient, name: str, password: str | None = None, expect: int = 303):
    form = client.get("/login")
    token = re.search(r'name="login_csrf" value="([^"]*)"', form.text).group(1)
    response = client.post(
        "/login",
        data={"name": name, "password": password or PASSWORDS[name], "login_csrf": token, "next": "/"},
        follow_redirects=False,
    )
    assert response.status_code == expect, response.text[:500]
    return response


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def log(home: Path) -> list[dict]:
    con = sqlite3.connect(home / "actions.sqlite")
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute("select * from actions order by seq")]
    finally:
        con.close()


def open_ids(home: Path, team: str) -> list[str]:
    store = ActionStore(home / "actions.sqlite")
    return [r["exception_id"] for r in store.list_exceptions(team=team) if r["status"] == "open"]


# --------------------------------------------------------------------- accounts


def test_users_add_takes_people_and_roles_only_from_the_roster(accounts: Accounts, capsys, monkeypatch) -> None:
    import io
    import sys

    from orchestration import identity

    def add(*argv: str, password: str = "a long enough password") -> int:
        stdin, sys.stdin = sys.stdin, io.StringIO(password + "\n")
        try:
            return cli.main(["users", "add", *argv, "--password-stdin"])
        finally:
            sys.stdin = stdin

    # What was typed is refused with exit 2, as `recon exceptions` refuses it (README: exit
    # codes), not click's 1 (a helper's review: a script could not tell a refusal from a failure).
    assert add("mallory") == 2
    assert "mallory is not in config/operators.yml" in capsys.readouterr().err
    # A typo of a roster user is answered with that user, not with advice to add `ERIN:` (or
    # `erin :`, or `:`) to the governed roster.
    for typed in ("ERIN", "erin ", "eirn"):
        assert add(typed) == 2
        assert "did you mean 'erin'?" in capsys.readouterr().err
    assert add("") == 2
    assert "'' is not a user name" in capsys.readouterr().err
    stdin, sys.stdin = sys.stdin, io.StringIO("a long enough password\n")
    try:  # was "zed has no desk login: `recon users add zed` makes one", which refuses zed
        assert cli.main(["users", "passwd", "zed", "--password-stdin"]) == 2
    finally:
        sys.stdin = stdin
    assert "zed is not in config/operators.yml" in capsys.readouterr().err
    assert add("erin", "--team", "finance") == 2
    assert "in team account_management" in capsys.readouterr().err
    assert add("erin", "--roles", "operator,ops_lead") == 2
    assert "has roles operator" in capsys.readouterr().err
    assert add("erin", password="short") == 2
    assert "12 to 256 characters" in capsys.readouterr().err
    assert add("alice") == 2  # already has a login
    assert "already has a desk login" in capsys.readouterr().err
    # A login that may not administer logins is refused by a rule: 3, as for any action.
    with monkeypatch.context() as mp:
        mp.setattr(identity, "os_login", lambda: "someone-unknown")
        assert add("erin") == 3
        assert "may not add desk logins" in capsys.readouterr().err

    stored = (Path(accounts.path)).read_bytes()
    assert b"$argon2id$" in stored
    assert all(p.encode() not in stored for p in PASSWORDS.values())


def test_wrong_password_is_refused_and_repeated_failures_are_throttled(accounts: Accounts) -> None:
    client = client_for(accounts, "10.9.9.9")
    login(client, "nobody", "not the password at all", expect=401)  # an unknown name fails the same way
    for _ in range(MAX_FAILURES):
        login(client, "bob", "still not the password", expect=401)
    # Throttled now, even with the right password, for this account from this address ...
    response = login(client, "bob", expect=429)
    assert "too many failed logins" in response.text and int(response.headers["retry-after"]) > 0
    # ... but a stranger's five guesses do not lock bob out from elsewhere.
    login(client_for(accounts, "10.9.9.10"), "bob")
    # An address trying many names is throttled for every name.
    spray = client_for(accounts, "10.9.9.20")
    for i in range(LIMITS["client"]):
        login(spray, f"name{i}", "not the password at all", expect=401)
    login(spray, "carol", expect=429)
    login(client_for(accounts, "10.9.9.21"), "carol")


def test_a_disabled_login_stays_disabled_until_an_ops_lead_enables_it(accounts: Accounts) -> None:
    accounts.add("dan", "dan's long enough password", by="test")
    login(client_for(accounts, "10.7.7.7"), "dan", "dan's long enough password")
    accounts.disable("dan")
    accounts.set_password("dan", "dan's brand new password")  # what `recon users passwd dan` does
    login(client_for(accounts, "10.7.7.8"), "dan", "dan's brand new password", expect=401)
    accounts.enable("dan")
    login(client_for(accounts, "10.7.7.9"), "dan", "dan's brand new password")


def test_a_user_leaving_the_roster_loses_the_desk_at_once(accounts: Accounts, tmp_path: Path, monkeypatch) -> None:
    """The desk reads the roster again when its file changes: no restart, and the session is refused."""
    from orchestration import identity
    from orchestration.actions import Policy

    desk = Desk()
    client = TestClient(create_app(desk, accounts, SECRET), base_url="http://127.0.0.1:8321", client=("10.6.6.6", 1))
    login(client, "carol")
    assert client.get("/", follow_redirects=False).status_code == 200
    full = Policy.load()
    without = Policy(
        {k: v for k, v in full.operators.items() if k != "carol"},
        full.escalate_to,
        full.approval_threshold,
        full.reason_codes,
        {k: v for k, v in full.users.items() if k != "carol"},
    )
    changed = tmp_path / "operators.yml"
    changed.write_text("changed")  # another file: the desk sees a change and loads the policy again
    monkeypatch.setattr(identity, "roster_path", lambda *a, **k: changed)
    monkeypatch.setattr(Policy, "load", classmethod(lambda cls, *a, **k: without))
    assert client.get("/", follow_redirects=False).status_code == 303  # the session no longer counts
    # The right password now fails exactly like a wrong one: no hint that it was right.
    response = login(client_for_desk(desk, accounts, "10.6.6.7"), "carol", expect=401)
    assert "wrong name or password" in response.text


def client_for_desk(desk: Desk, accounts: Accounts, address: str) -> TestClient:
    return TestClient(create_app(desk, accounts, SECRET), base_url="http://127.0.0.1:8321", client=(address, 5000))


def test_forged_altered_and_ended_sessions_are_refused(accounts: Accounts) -> None:
    client = client_for(accounts)
    login(client, "alice")
    assert client.get("/", follow_redirects=False).status_code == 200
    real = client.cookies.get(SESSION_COOKIE)

    forged = TestClient(create_app(Desk(), accounts, b"another-secret-of-more-than-32-characters"))
    forged.cookies.set(SESSION_COOKIE, real)
    assert forged.get("/", follow_redirects=False).status_code == 303  # signed with another key: no session

    tampered = client_for(accounts)
    tampered.cookies.set(SESSION_COOKIE, real[:-2] + ("AA" if not real.endswith("AA") else "BB"))
    assert tampered.get("/", follow_redirects=False).headers["location"].startswith("/login")

    from itsdangerous import URLSafeTimedSerializer

    guessed = client_for(accounts)  # right key, but an id the store never issued
    guessed.cookies.set(SESSION_COOKIE, URLSafeTimedSerializer(SECRET, salt="recon-desk-session").dumps("x" * 43))
    assert guessed.get("/", follow_redirects=False).status_code == 303

    page = client.get("/")
    assert client.post("/logout", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False).status_code == 303
    replay = client_for(accounts)
    replay.cookies.set(SESSION_COOKIE, real)
    assert replay.get("/", follow_redirects=False).status_code == 303  # logged out: the cookie is dead


# ------------------------------------------------------------------------ inbox


def test_inbox_is_my_teams_queue_and_filters_are_validated(home: Path, accounts: Accounts) -> None:
    client = client_for(accounts)
    login(client, "carol")
    page = client.get("/")
    assert page.status_code == 200 and "media_ops queue" in page.text
    store = ActionStore(home / "actions.sqlite")
    media = {r["exception_id"] for r in store.list_exceptions(team="media_ops") if r["status"] != "resolved"}
    shown = set(re.findall(r'name="ids" value="([0-9a-f]+)"', page.text))
    assert shown and shown <= media
    total = int(re.search(r'id="total">(\d+)<', page.text).group(1))
    assert total == len(media)

    # Only an ops lead opens another team's queue.
    refused = client.get("/?team=finance")
    assert refused.status_code == 400 and "only an ops lead" in refused.text
    for bad in ("type=no_such_type", "min_amount=1e400", "sort=name;drop", "page=x", "age=forever"):
        assert client.get("/?" + bad).status_code == 400, bad
    # Digits of another script were read as a number (١٠٠٠٠ as 10000), and a filter given
    # twice kept its last value without a word; both are refused by name.
    eastern = client.get("/?min_amount=%D9%A1%D9%A0%D9%A0%D9%A0%D9%A0")
    assert eastern.status_code == 400 and "min_amount=" in eastern.text and "is not an amount" in eastern.text
    twice = client.get("/?severity=manual_review&severity=block_payout")
    assert twice.status_code == 400 and "severity is given twice" in twice.text
    assert client.get("/inbox.csv?type=orphan_spend&type=unmatched_campaign").status_code == 400
    assert client.get("/?status=all&status=all").status_code == 200  # the same value twice is one filter

    # Sort by amount: largest first; a filter narrows the count.
    by_amount = client.get("/?sort=amount&status=all")
    amounts = [Decimal(a.replace(",", "")) for a in re.findall(r'<td class="num">([\d,]+\.\d\d)</td>', by_amount.text)]
    assert amounts == sorted(amounts, reverse=True) and amounts
    kind = store.list_exceptions(team="media_ops")[0]["exception_type"]
    narrowed = client.get(f"/?type={kind}&status=all")
    assert int(re.search(r'id="total">(\d+)<', narrowed.text).group(1)) == sum(
        1 for r in store.list_exceptions(team="media_ops") if r["exception_type"] == kind
    )

    csv_text = client.get(f"/inbox.csv?type={kind}&status=all").text
    assert csv_text.splitlines()[0].startswith("exception_id,exception_type")
    assert len(csv_text.splitlines()) == 1 + sum(
        1 for r in store.list_exceptions(team="media_ops") if r["exception_type"] == kind
    )


def test_csv_cells_cannot_become_formulas() -> None:
    assert csv_cell('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    assert csv_cell("+1") == "'+1" and csv_cell("-2") == "'-2" and csv_cell("@SUM(A1)") == "'@SUM(A1)"
    assert csv_cell("\tx") == "'\tx" and csv_cell("Acme") == "Acme"
    assert csv_cell(Decimal("-12.50")) == "-12.50"  # a number stays a number


# ---------------------------------------------------------------------- actions


def test_bulk_claim_logs_each_exception_and_the_store_rules_apply(home: Path, accounts: Accounts) -> None:
    client = client_for(accounts)
    login(client, "alice")
    page = client.get("/")
    ids = open_ids(home, "finance")[:3]
    before = len(log(home))

    # No CSRF token, a wrong one, or another site's origin: refused, nothing recorded.
    assert client.post("/bulk", data={"action": "claim", "ids": ids}).status_code == 403
    assert client.post("/bulk", data={"action": "claim", "ids": ids, "csrf_token": "forged"}).status_code == 403
    cross = client.post(
        "/bulk",
        data={"action": "claim", "ids": ids, "csrf_token": csrf_of(page.text)},
        headers={"Origin": "http://evil.example"},
    )
    assert cross.status_code == 403
    assert len(log(home)) == before

    done = client.post("/bulk", data={"action": "claim", "ids": ids, "csrf_token": csrf_of(page.text)})
    assert done.status_code == 200 and "3 of 3 recorded" in done.text
    entries = log(home)[before:]
    assert [(e["exception_id"], e["action"], e["actor"], e["login"]) for e in entries] == [
        (eid, "claim", "alice", "desk:alice") for eid in ids
    ]

    # Resolving needs a reason code: the store's rule and message, per exception.
    refused = client.post("/bulk", data={"action": "resolve", "ids": ids[:1], "csrf_token": csrf_of(page.text)})
    assert refused.status_code == 207 and "resolve needs a reason code" in refused.text
    assert len(log(home)) == before + 3


def test_an_operator_of_another_team_cannot_act(home: Path, accounts: Accounts) -> None:
    eid = open_ids(home, "finance")[-1]
    client = client_for(accounts)
    login(client, "carol")  # media_ops
    page = client.get(f"/exceptions/{eid}")
    assert page.status_code == 200
    before = len(log(home))
    response = client.post(f"/exceptions/{eid}/act", data={"action": "claim", "csrf_token": csrf_of(page.text)})
    assert response.status_code == 403
    assert "owned by finance" in response.text or "may not" in response.text
    assert len(log(home)) == before

    # The ops lead may; the entry says it came through the desk.
    lead = client_for(accounts)
    login(lead, "olga")
    page = lead.get(f"/exceptions/{eid}")
    done = lead.post(
        f"/exceptions/{eid}/act",
        data={"action": "comment", "comment": "looking", "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert done.status_code == 303
    last = log(home)[-1]
    assert (last["action"], last["actor"], last["login"], last["comment"]) == (
        "comment",
        "olga",
        "desk:olga",
        "looking",
    )


def test_exception_page_shows_candidates_lineage_and_history(home: Path, accounts: Accounts) -> None:
    store = ActionStore(home / "actions.sqlite")
    scored = [
        r
        for r in store.list_exceptions()
        if any(rec.get("top_candidates") for rec in json.loads(r["details"]).get("reconciliations") or [])
    ]
    assert scored, "the fixture run has no exception with scored candidates"
    client = client_for(accounts)
    login(client, "olga")
    page = client.get(f"/exceptions/{scored[0]['exception_id']}")
    assert page.status_code == 200
    assert 'class="chart waterfall"' in page.text and "match weight" in page.text
    # The compared values of the record and its candidates, side by side (fct_reconciliation_record_values).
    assert "What was compared" in page.text and 'class="grid compared"' in page.text
    assert 'id="lineage"' in page.text and "trace " in page.text
    # The lineage reaches the landing file and row: the serving copy carries raw and staging.
    assert "raw." in page.text and "not in this copy" not in page.text
    assert client.get("/exceptions/ffffffffffff").status_code == 404
    # A matched record lists no candidates, and the page says who matched it (before: "the
    # break is in its amounts" of every matched record, one linked by hand included).
    matched = [
        r
        for r in store.list_exceptions()
        if (json.loads(r["details"]).get("reconciliations") or [{}])[0].get("record_state") == "matched"
        and not json.loads(r["details"])["reconciliations"][0].get("top_candidates")
    ]
    assert matched, "the fixture run has no exception on a matched record"
    page = client.get(f"/exceptions/{matched[0]['exception_id']}")
    assert "No candidates listed: the record is matched by pass " in page.text, page.text
    assert "break is in its amounts" not in page.text


def test_the_desk_reads_only_the_serving_copy(home: Path, accounts: Accounts) -> None:
    """While a run holds the working warehouse, every page still answers."""
    from orchestration.warehouse import open_writer

    client = client_for(accounts)
    login(client, "olga")
    writer = open_writer(settings.warehouse_path())
    try:
        eid = open_ids(home, "finance")[0]
        for path in ("/", "/dashboard", f"/exceptions/{eid}", "/dashboard/ageing.csv"):
            assert client.get(path).status_code == 200, path
    finally:
        writer.close()


def test_folded_states_match_the_store_after_every_action(home: Path, accounts: Accounts) -> None:
    """The desk folds the log once and then only new entries; it must agree with the store's own fold."""
    desk = Desk()
    store = ActionStore(home / "actions.sqlite")
    first = {r["exception_id"]: r for r in desk.rows()}
    eid = open_ids(home, "media_ops")[0]
    store_for_carol = desk.store("carol")
    store_for_carol.act("claim", eid, None)
    store_for_carol.act("comment", eid, None, comment="on it")
    second = {r["exception_id"]: r for r in desk.rows()}
    assert first[eid]["status"] == "open" and second[eid]["status"] == "claimed"
    for exception_id, row in second.items():
        state = store.state(exception_id)
        assert (row["status"], row["claimed_by"], row["owner_team"], row["sla_due_at"], row["is_breached"]) == (
            state.status,
            state.claimed_by,
            state.owner_team,
            state.sla_due_at,
            state.is_breached,
        ), exception_id


def test_a_closed_exceptions_age_stops_at_its_closing(
    home: Path, accounts: Accounts, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime, timedelta

    desk = Desk()
    eid, still_open = open_ids(home, "finance")[-2:]
    store = desk.store("alice")
    store.act("claim", eid, None)
    store.act("resolve", eid, None, reason="billed_late")
    closed_at = datetime.fromisoformat(store.state(eid).closed_at)
    # Thirty days on, the open one has aged thirty days more; the resolved one has not.
    monkeypatch.setenv("RECON_AS_OF", (datetime.now(UTC) + timedelta(days=30)).isoformat())
    rows = {r["exception_id"]: r for r in Desk().rows("alice")}
    assert rows[eid]["status"] == "resolved"
    assert rows[eid]["age_days"] == max(0, (closed_at - rows[eid]["aged_from"]).days)
    assert rows[still_open]["age_days"] >= 30


# -------------------------------------------------------------------- dashboard


def test_dashboard_and_kpi_history(home: Path, accounts: Accounts) -> None:
    from orchestration.warehouse import open_reader

    client = client_for(accounts)
    login(client, "alice")
    page = client.get("/dashboard")
    assert page.status_code == 200
    con = open_reader(settings.serving_path())
    try:
        open_n = con.execute("select count(*) from marts.fct_exception_current where not is_closed").fetchone()[0]
        history = con.execute(
            "select kpi, kpi_value from marts.rpt_kpi_history where reconciliation = 'all'"
        ).fetchall()
    finally:
        con.close()
    assert f'id="kpi-open">{open_n}<' in page.text
    assert dict(history)["open_exceptions"] == open_n
    for chart in ("ageing", "by_exception_type", "value_by_client", "match_trend", "freshness"):
        assert f'id="chart-{chart}"' in page.text, chart
    exported = client.get("/dashboard/open_by_exception_type.csv")
    assert exported.status_code == 200 and exported.text.startswith("exception_type,open_exceptions")
    assert client.get("/dashboard/nothing.csv").status_code == 404


def test_charts_escape_labels() -> None:
    svg = charts.bars([("<script>alert(1)</script>", 3)], "t")
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert "<script>" not in charts.waterfall(-2.0, [("<b>", "1", 3.0)], "w")


def test_the_serving_copy_is_described_for_bi_tools(home: Path) -> None:
    """A BI tool pointed at serving.duckdb sees dbt's descriptions as comments, and the currency of every amount."""
    from orchestration.warehouse import open_reader

    con = open_reader(settings.serving_path())
    try:
        missing = con.execute(
            "select table_name, column_name from duckdb_columns() where schema_name = 'marts'"
            " and (table_name like 'rpt_%' or table_name in ('fct_exception_current', 'fct_reconciled_orders'))"
            " and coalesce(comment, '') = ''"
        ).fetchall()
        tables = dict(
            con.execute("select table_name, comment from duckdb_tables() where schema_name = 'marts'").fetchall()
        )
        reporting = con.execute(
            "select table_name, list(column_name) from duckdb_columns() where schema_name = 'marts'"
            " and column_name like '%\\_reporting' escape '\\' group by 1"
        ).fetchall()
        currencies = {
            t for (t,) in con.execute(
                "select table_name from duckdb_columns()"
                " where schema_name = 'marts' and column_name = 'reporting_currency'"
            ).fetchall()
        }  # fmt: skip
        stale_name = con.execute(
            "select count(*) from duckdb_columns() where schema_name = 'marts' and column_name like '%value_at_risk%'"
        ).fetchone()[0]
    finally:
        con.close()
    assert missing == []
    assert all(tables[t] for t in ("fct_exception_current", "rpt_kpi_history", "rpt_exception_summary"))
    assert {t for t, _ in reporting} <= currencies, "an amount in reporting currency without reporting_currency"
    assert stale_name == 0  # one name for the value at risk: amount_at_risk_reporting


def test_every_action_works_through_the_desk_forms(home: Path, accounts: Accounts) -> None:
    """The exception page's forms carry what each action needs; maker-checker holds across users."""
    store = ActionStore(home / "actions.sqlite")
    fresh = [r["exception_id"] for r in store.list_exceptions(team="finance") if r["status"] == "open"]
    fresh = [eid for eid in fresh if not store.state(eid).escalated_to]  # not past SLA: escalate is open to it
    assert fresh, "the fixture run has no finance exception within its SLA"
    eid = fresh[-1]
    alice, olga = client_for(accounts), client_for(accounts, "10.0.0.2")
    login(alice, "alice")
    login(olga, "olga")  # an approver (bob's login is throttled by an earlier test)

    def act(client: TestClient, action: str, expect: int = 303, **form) -> str:
        page = client.get(f"/exceptions/{eid}")
        assert f'value="{action}"' in page.text, f"no form for {action}"
        response = client.post(
            f"/exceptions/{eid}/act",
            data={"action": action, "csrf_token": csrf_of(page.text), **form},
            follow_redirects=False,
        )
        assert response.status_code == expect, (action, response.text[-800:])
        return response.text

    before = len(log(home))
    act(alice, "claim")
    act(alice, "comment", comment="checking the PO")
    act(alice, "adjust", amount="12.50", reason="rounding")  # under the threshold: applied
    act(alice, "adjust", amount="900.00", reason="pricing_error")  # over it: waits for an approver
    pending = ActionStore(home / "actions.sqlite").state(eid).pending_adjustments
    assert len(pending) == 1
    [adjustment] = pending
    assert "has no approver role" in act(alice, "approve", expect=403, adjustment=adjustment)
    act(olga, "approve", adjustment=adjustment)
    act(alice, "release", reason="handover")
    act(alice, "escalate", reason="needs_lead")
    act(alice, "reassign", team="account_management", reason="wrong_team")
    entries = log(home)[before:]
    assert [e["action"] for e in entries] == [
        "claim", "comment", "adjust", "adjust", "approve", "release", "escalate", "reassign",
    ]  # fmt: skip
    assert {e["login"] for e in entries} == {"desk:alice", "desk:olga"}
    state = ActionStore(home / "actions.sqlite").state(eid)
    assert state.owner_team == "account_management" and not state.pending_adjustments
    assert len(state.applied_adjustments) == 2


def test_a_resolution_made_in_error_is_reopened_from_the_desk(home: Path, accounts: Accounts) -> None:
    store = ActionStore(home / "actions.sqlite")
    eid = next(
        r["exception_id"]
        for r in reversed(store.list_exceptions(team="finance"))
        if r["status"] == "open" and not store.state(r["exception_id"]).escalated_to
    )
    alice = client_for(accounts, "10.0.0.7")
    login(alice, "alice")

    def act(action: str, **form) -> None:
        page = alice.get(f"/exceptions/{eid}")
        response = alice.post(
            f"/exceptions/{eid}/act",
            data={"action": action, "csrf_token": csrf_of(page.text), **form},
            follow_redirects=False,
        )
        assert response.status_code == 303, (action, response.text[-800:])

    assert 'value="reopen"' not in alice.get(f"/exceptions/{eid}").text  # open: nothing to reopen
    act("claim")
    act("resolve", reason="billed_late")
    page = alice.get(f"/exceptions/{eid}").text
    assert 'value="reopen"' in page and "resolved_in_error" in page and "amount_grew" not in page
    act("reopen", reason="resolved_in_error", comment="billed late was the wrong call")
    state = ActionStore(home / "actions.sqlite").state(eid)
    assert (state.status, state.resolution) == ("open", None)
    assert log(home)[-1]["action"] == "reopen" and log(home)[-1]["login"] == "desk:alice"


def test_hostile_requests_get_clear_refusals_and_record_nothing(home: Path, accounts: Accounts) -> None:
    client = client_for(accounts, "10.5.5.5")
    login(client, "alice")
    eid = open_ids(home, "finance")[2]
    page = client.get(f"/exceptions/{eid}")
    csrf = csrf_of(page.text)
    before = len(log(home))

    # A crafted success notice shows nothing; a capitalised id prefix finds the exception.
    assert 'id="done"' not in client.get(f"/exceptions/{eid}?done=approve").text
    assert 'id="done"' not in client.get(f"/exceptions/{eid}?done=1").text  # entry 1 is not alice's on it
    assert client.get(f"/exceptions/{eid[:10].upper()}").status_code == 200

    # A form sent in chunks, over the limit, is refused before it is parsed.
    def chunks():
        for _ in range(40):
            yield b"comment=" + b"x" * 8192 + b"&"

    big = client.post(
        f"/exceptions/{eid}/act",
        content=chunks(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert big.status_code == 413
    many = client.post("/bulk", data={"csrf_token": csrf, "action": "claim", "ids": ["x"] * 1200})
    assert many.status_code == 413

    # Messages speak of the form, not of CLI options.
    refused = client.post(f"/exceptions/{eid}/act", data={"action": "resolve", "csrf_token": csrf})
    assert refused.status_code in (403, 409) and "recon exceptions" not in refused.text and "--" not in refused.text

    # A value out of bounds is a 400 (bad input), not a rule's 403.
    nan = client.post(f"/exceptions/{eid}/act", data={"action": "adjust", "amount": "NaN", "csrf_token": csrf})
    assert nan.status_code == 400

    # Amounts: exponents and stray separators are not amounts.
    for bad in ("1e3", "1,0,0,0", "1_000"):
        assert client.get(f"/?min_amount={bad}").status_code == 400, bad
    assert client.get("/?min_amount=1,000.50").status_code == 200
    assert len(log(home)) == before

    # A login form left open past its token: the refusal carries a fresh form that works.
    fresh = client_for(accounts, "10.5.5.6")
    fresh.get("/login")
    fresh.cookies.delete("recon_desk_login")
    stale = fresh.post("/login", data={"name": "alice", "password": PASSWORDS["alice"], "login_csrf": "old"})
    assert stale.status_code == 403 and "log in again" in stale.text
    token = re.search(r'name="login_csrf" value="([^"]+)"', stale.text).group(1)
    again = fresh.post(
        "/login", data={"name": "alice", "password": PASSWORDS["alice"], "login_csrf": token}, follow_redirects=False
    )
    assert again.status_code == 303


def test_adjustments_split_under_the_threshold_still_need_a_checker(home: Path, accounts: Accounts) -> None:
    from orchestration.actions import Policy

    policy = Policy.load()
    threshold = policy.approval_threshold
    # An exception in the reporting currency, which the threshold is in: pieces in another
    # currency are converted before they are counted (test_actions covers that).
    catalog = ActionStore(home / "actions.sqlite").list_exceptions(team="finance")
    eid = next(
        r["exception_id"]
        for r in catalog
        if r["status"] == "open"
        and r["currency"] == policy.reporting_currency
        and r["exception_id"] in open_ids(home, "finance")[2:]
    )
    store = Desk().store("alice")
    store.act("claim", eid, None)
    piece = str((threshold * 2 / 3).quantize(Decimal("0.01")))
    first = store.act("adjust", eid, None, amount=piece, reason="rounding")
    second = store.act("adjust", eid, None, amount=piece, reason="rounding")
    pending = json.loads(second["state_after"])["pending_adjustments"]
    assert first["target"] not in pending and pending == [second["target"]]
    # finance's approver checks it; the first piece needed none.
    ActionStore(home / "actions.sqlite", login=lambda: "desk:bob").act(
        "approve", eid, None, adjustment=second["target"]
    )
    state = ActionStore(home / "actions.sqlite").state(eid)
    assert not state.pending_adjustments and [a.get("approved_by") for a in state.applied_adjustments] == [None, "bob"]


def test_audit_verify_holds_the_catalog_a_real_run_wrote(
    home: Path, accounts: Accounts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """After a real run and operators' actions through the desk (the tests above), the catalog
    verifies; in a copy of the home, deleting an open exception from it (gone from `recon
    exceptions list` and the inbox) or making its value at risk 1.00 fails (a tryout saw "audit ok")."""
    import shutil

    assert cli.main(["audit", "verify"]) == 0, capsys.readouterr().out
    capsys.readouterr()
    eid = open_ids(home, "finance")[0]
    for sql, expected in (
        (f"delete from exception_catalog where exception_id = '{eid}'", "is published but missing from the store's"),
        (f"update exception_catalog set amount_at_risk_reporting = '1.00' where exception_id = '{eid}'",
         "amount_at_risk_reporting '1.00' (published"),
    ):  # fmt: skip
        copy = tmp_path / f"copy{len(sql)}"
        shutil.copytree(home, copy, ignore=shutil.ignore_patterns("dagster"))
        monkeypatch.setenv("RECON_HOME", str(copy))
        monkeypatch.setenv("RECON_DUCKDB_PATH", str(copy / "warehouse.duckdb"))
        con = sqlite3.connect(copy / "actions.sqlite")
        con.execute(sql)
        con.commit()
        con.close()
        assert cli.main(["audit", "verify"]) == 6
        out = capsys.readouterr().out
        assert expected in out and "do not match the digest the run that wrote it recorded" in out, out


# ------------------------------------------------------- a desk over a small publication (no run)


def small_desk(recon_home: Path) -> tuple[TestClient, str, ActionStore]:
    """alice signed in to a desk over a tiny publication and a one-exception store: an orphan
    billing item INV-1# (finance) that the published records can link to the orders SO-1, SO-2."""
    import duckdb

    from orchestration import publish
    from orchestration.actions import store_path

    warehouse = recon_home / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse))
    con.execute("create schema marts")
    con.execute(
        "create table marts.fct_reconciliation_records as select * from (values"
        " ('orders_invoices', 'left', 'int_orders_resolved', 'SO-1', 'f1'),"
        " ('orders_invoices', 'left', 'int_orders_resolved', 'SO-2', 'f2'),"
        " ('orders_invoices', 'right', 'int_invoice_billing_items', 'INV-1#', 'f3'))"
        " as t(reconciliation, side, record_model, record_key, record_fingerprint)"
    )
    con.close()
    publish.publish(warehouse, "run00001", {})
    store = ActionStore(store_path())
    eid = "c0ffee" + "0" * 26
    store.refresh_catalog(
        [
            {"exception_id": eid, "exception_type": "orphan_invoice", "owner_team": "finance",
             "severity": "manual_review", "sla_hours": 72, "record_entity": "int_invoice_billing_items",
             "record_id": "INV-1#", "currency": "USD", "amount_at_risk": "10.00", "amount_at_risk_reporting": "10.00",
             "details": {"domain": "billing"}},
        ]
    )  # fmt: skip
    accounts = Accounts()
    accounts.add("alice", PASSWORDS["alice"], by="olga")
    client = client_for(accounts)
    login(client, "alice")
    return client, eid, store


def test_a_second_unmatch_or_match_on_the_desk_is_refused_and_logs_nothing(recon_home: Path) -> None:
    # A tryout: the same unmatch sent twice was logged twice; the second changed nothing.
    client, eid, store = small_desk(recon_home)
    page = client.get(f"/exceptions/{eid}")
    csrf = csrf_of(page.text)

    def act(action: str, **form: str):
        return client.post(
            f"/exceptions/{eid}/act", data={"action": action, "csrf_token": csrf, **form}, follow_redirects=False
        )

    def error_of(response) -> str:
        return html.unescape(re.search(r'id="error">([^<]*)<', response.text).group(1))

    assert act("claim").status_code == 303
    match = {"with_keys": "SO-1", "reason": "confirmed_by_document"}
    assert act("match", **match).status_code == 303
    # The history says the link as the CLI does, not as the log's JSON with fingerprints.
    history = html.unescape(client.get(f"/exceptions/{eid}").text.split('id="history"')[1])
    assert '<span class="mono">orders_invoices: SO-1 ↔ INV-1</span>' in history, history
    assert "fingerprints" not in history and '"left"' not in history, history
    logged = len(store.history(eid))
    again = act("match", **match)
    assert again.status_code == 409, again.text[:500]
    error = error_of(again)
    assert "SO-1 ↔ INV-1# is linked already" in error and "nothing recorded" in error, error
    assert "unmatch it with SO-1 and a reason" in error and "recon exceptions" not in error, error
    assert len(store.history(eid)) == logged

    assert act("unmatch", with_keys="SO-1", reason="wrong_match").status_code == 303
    logged = len(store.history(eid))
    again = act("unmatch", with_keys="SO-1", reason="wrong_match")
    assert again.status_code == 409, again.text[:500]
    error = error_of(again)
    assert "SO-1 ↔ INV-1# may never be linked already" in error, error
    assert "match it with SO-1 and a reason" in error and "recon exceptions" not in error, error
    assert len(store.history(eid)) == logged
    assert store.verify() == []


def test_the_desk_refuses_invisible_characters_as_the_cli_does_and_shows_old_ones(recon_home: Path) -> None:
    # A tryout: a comment with a zero-width space or a tab was logged, and shown as if it held none.
    from test_audit_integrity import legacy_append

    client, eid, store = small_desk(recon_home)
    csrf = csrf_of(client.get(f"/exceptions/{eid}").text)

    def comment(text: str):
        form = {"action": "comment", "comment": text, "csrf_token": csrf}
        return client.post(f"/exceptions/{eid}/act", data=form, follow_redirects=False)

    refused = comment("paid\u200b on 3 May")
    error = html.unescape(re.search(r'id="error">([^<]*)<', refused.text).group(1))
    assert refused.status_code == 400, refused.text[:500]
    assert "the text field contains ZERO WIDTH SPACE (U+200B) at character 5" in error, error
    assert store.history(eid) == []
    assert comment("Zoë paid 二 👩‍💻 می‌خواهم").status_code == 303
    legacy_append(store.path, exception_id=eid, comment="paid\u200b\tlater")  # logged by an older version
    history = html.unescape(client.get(f"/exceptions/{eid}").text.split('id="history"')[1])
    assert "Zoë paid 二 👩‍💻 می‌خواهم" in history and "paid\\u200b\\x09later" in history, history


def test_bulk_actions_take_an_id_typed_in_capitals_as_the_exception_page_does(recon_home: Path) -> None:
    # A tryout: the bulk form refused 358D5910 (an id pasted from a spreadsheet that
    # upper-cased it) where the exception page and its forms find the exception.
    client, eid, store = small_desk(recon_home)
    csrf = csrf_of(client.get("/").text)
    done = client.post("/bulk", data={"action": "claim", "ids": [eid[:8].upper()], "csrf_token": csrf})
    assert done.status_code == 200 and "1 of 1 recorded" in done.text, done.text[:2000]
    assert [(h["action"], h["actor"]) for h in store.history(eid)] == [("claim", "alice")]
    done = client.post("/bulk", data={"action": "release", "ids": [eid.upper()], "csrf_token": csrf})
    assert done.status_code == 200 and "1 of 1 recorded" in done.text, done.text[:2000]
    # A record key is not hex: left as typed, and answered with its exception's id.
    refused = client.post("/bulk", data={"action": "claim", "ids": ["INV-1"], "csrf_token": csrf})
    assert refused.status_code == 207 and "INV-1 is a record: its exceptions are c0ffee00" in refused.text


def test_healthz_tells_a_stranger_only_ok_and_a_signed_in_user_the_publication(recon_home: Path) -> None:
    # A tryout: /healthz named the publication it served (its name carries the run id) to
    # anyone who asked, no login needed. A load balancer needs ok or not ok and the status.
    from orchestration import publish
    from orchestration.actions import store_path

    client, _, _ = small_desk(recon_home)
    name = publish.current()["publication"]
    stranger = TestClient(client.app, base_url="http://127.0.0.1:8321")
    health = stranger.get("/healthz")
    assert (health.status_code, health.json()) == (200, {"ok": True})
    assert name not in health.text and "run00001" not in health.text
    signed_in = client.get("/healthz")
    assert (signed_in.status_code, signed_in.json()) == (200, {"ok": True, "publication": name})

    # A mistyped RECON_ACTIONS_PATH in a home with published runs: not ok, and the inbox says
    # which variable and path instead of an empty queue (a store was made there before).
    typo = recon_home / "acitons.sqlite"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RECON_ACTIONS_PATH", str(typo))
        mistyped = TestClient(create_app(Desk(), client.app.state.accounts, SECRET), base_url="http://127.0.0.1:8321")
        assert (mistyped.get("/healthz").status_code, mistyped.get("/healthz").json()) == (503, {"ok": False})
        login(mistyped, "alice")
        inbox = mistyped.get("/")
        assert inbox.status_code == 503 and "RECON_ACTIONS_PATH" in inbox.text and str(typo) in inbox.text
    assert not typo.exists()

    # An action store the desk cannot read: not ok, for the load balancer to take it out.
    store_path().write_bytes(b"not a database" * 100)
    for response in (stranger.get("/healthz"), client.get("/healthz")):
        assert (response.status_code, response.json()) == (503, {"ok": False})


def test_the_inbox_and_its_csv_say_why_a_value_in_another_reporting_currency_is_left_out(
    recon_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A review: after var reporting_currency changed (USD to EUR), `recon exceptions show` said
    why an exception's value was not shown; the inbox showed its own amount and no reason, left
    it out of the value at risk silently, and its CSV had an empty cell and no reason."""
    import csv
    import io

    from orchestration import publish

    _, eid, _ = small_desk(recon_home)  # found by a run that reported in USD
    monkeypatch.setattr(publish, "reporting_currency", lambda: "EUR")  # var reporting_currency: EUR
    client = client_for(Accounts())
    login(client, "alice")
    note = "not in today's reporting currency (EUR): last found when runs reported in USD"
    page = html.unescape(client.get("/").text)
    row = page.split(f'id="row-{eid[:8]}"')[1].split("</tr>")[0]
    assert "10.00 USD" in row and f'title="{note}">not in EUR *</span>' in row, row
    assert (
        "* 1 exception(s) with no value in today's reporting currency (EUR), shown by their own amount "
        f"and not summed in the value at risk: {note}." in page
    ), page
    [header, line] = list(csv.reader(io.StringIO(client.get("/inbox.csv").text)))
    shown = dict(zip(header, line, strict=True))
    assert shown["amount_at_risk_reporting"] == "" and shown["reporting_currency"] == "EUR", shown
    assert shown["reporting_value_note"] == note, shown
    detail = html.unescape(client.get(f"/exceptions/{eid}").text)
    assert f'(<span id="reporting-value-note">{note}</span>)' in detail


def test_an_exception_with_no_reporting_amount_shows_its_own_in_the_inbox() -> None:
    """A review: the inbox showed 0.00 for invoice lines whose header has not arrived (their
    currency is the header's) and for amount_out_of_range (no amount fits)."""
    from orchestration.desk.service import _own_amount_shown

    assert _own_amount_shown({"amount_at_risk_reporting": "12.5", "amount_at_risk": "10", "currency": "EUR"}) is None
    assert _own_amount_shown({"amount_at_risk_reporting": None, "amount_at_risk": "2000", "currency": None}) == (
        "2,000.00 (currency unknown)"
    )
    assert _own_amount_shown({"amount_at_risk_reporting": None, "amount_at_risk": "7", "currency": "XTS"}) == "7.00 XTS"
    assert _own_amount_shown({"amount_at_risk_reporting": None, "amount_at_risk": None, "currency": "USD"}) == ""


def test_duplicate_billing_shows_the_items_its_rule_compared_and_none_for_the_total() -> None:
    """A review: the desk named two items "billed again … repeats …" worked out after the rule,
    apart from it: an order billed about twice its booking in unequal items was shown its two
    equal instalments. A rule that compared no two items now names none and says what it
    compared; two items it compared are named without calling either the copy."""
    from jinja2 import ChainableUndefined, Environment, FileSystemLoader, Undefined, select_autoescape

    from orchestration.desk import web

    env = Environment(
        loader=FileSystemLoader(web.TEMPLATES), autoescape=select_autoescape(["html"]), undefined=ChainableUndefined
    )
    # As the desk's own (web.create_app); the page's other fields are left out here.
    env.filters["money"] = lambda v: "–" if v is None or isinstance(v, Undefined) else f"{Decimal(str(v)):,.2f}"
    for name in ("when", "shown", "link"):
        env.filters[name] = str
    env.globals.update(fmt_number=str, fmt_percent=str, no_candidates_said=lambda *a: "")
    in_all = {
        "rule": "billed_twice_the_booking",
        "currency": "EUR",
        "order_currency": "EUR",
        "invoice_count": 3,
        "booked_amount": Decimal("1000"),
        "billed_amount": Decimal("2000"),
        "original": None,
        "repeat": None,
    }
    several = {**in_all, "rule": "excess_billed_twice", "billed_amount": Decimal("1500")}
    pair = {"rule": "copy_within_cycle", "currency": "USD", "days_apart": 1,
            "original": {"invoice_number": "SI-6", "lines": "1", "issue_date": "2026-01-03", "amount": 450},
            "repeat": {"invoice_number": "SI-7", "lines": "1", "issue_date": "2026-01-04", "amount": 450,
                       "matched": True}}  # fmt: skip
    doc = {
        "entry": {"exception_type": "duplicate_billing", "exception_id": "e" * 32, "record_id": "SO-55"},
        "details": {"repeated_billing": [in_all, several, pair]},
    }
    request = type("Request", (), {"url": type("URL", (), {"path": "/exceptions/x"})()})()
    page = env.get_template("exception.html").render(doc=doc, request=request, waterfalls=[], teams=[])
    rows = [re.sub(r"<[^>]+>", "", line) for line in page.splitlines() if "<th>billed" in line]
    assert rows == [
        "billed in all2.0 × the booking (2,000.00 of 1,000.00 EUR) on 3 invoice(s); no single item is named as"
        " repeating another: the rule compared what was billed in all with the booking, not one item with another",
        "billed in allover the booking by 500.00 (1,500.00 of 1,000.00 EUR), the amount of each of several of its"
        " items; no single item is named as repeating another: which of them is billed again the rule does not say",
        "billed twiceSI-6 line 1, 2026-01-03, 450.00 USD and again SI-7 line 1, 2026-01-04, 450.00 USD"
        " (1 day(s) apart)",
    ], rows
