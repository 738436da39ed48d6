"""The desk on a catalog of two exceptions (as test_actions builds it), no warehouse: the inbox's fold, forms."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

from starlette.testclient import TestClient
from test_actions import FIN, MEDIA, T0, Clock, make_store  # noqa: E402

from orchestration.actions import store_path
from orchestration.desk.accounts import Accounts
from orchestration.desk.service import Desk
from orchestration.desk.web import SESSION_COOKIE, create_app


def test_an_action_on_a_store_whose_log_was_empty_shows_in_the_inbox(tmp_path: Path, recon_home: Path) -> None:
    """The first inbox of a new store folds an empty log (head 0); what is done next must show in it."""
    path = tmp_path / "actions.sqlite"
    make_store(path)
    desk = Desk(actions_path=path, serving=tmp_path / "no-serving.duckdb", clock=Clock(T0))
    assert {r["exception_id"]: r["status"] for r in desk.rows("alice")}[FIN] == "open"
    desk.store("alice").act("claim", FIN[:8], None)
    row = {r["exception_id"]: r for r in desk.rows("alice")}[FIN]
    assert (row["status"], row["claimed_by"]) == ("claimed", "alice")
    desk.store("alice").act("resolve", FIN[:8], None, reason="billed_late")
    row = {r["exception_id"]: r for r in desk.rows("alice")}[FIN]
    assert (row["status"], row["claimed_by"]) == ("resolved", None)


def test_fold_all_leaves_the_callers_states_as_they_were(tmp_path: Path) -> None:
    store = make_store(tmp_path / "actions.sqlite")
    head, before = store.fold_all()
    assert head == 0
    store.act("claim", FIN[:8], "alice")
    _, after = store.fold_all(head, before, catalog_unchanged=True)
    assert before[FIN].status == "open" and after[FIN].status == "claimed"


def test_a_comment_whose_bytes_are_not_utf8_is_refused_not_logged_as_replacement_characters(recon_home: Path) -> None:
    """%FF%FE is no UTF-8 text: the store refuses such bytes from the CLI, and the desk logged them as U+FFFD."""
    store = make_store(store_path())
    accounts = Accounts()
    accounts.add("alice", "correct horse alice battery", by="olga")
    client = TestClient(create_app(Desk(), accounts, b"a-test-secret-of-more-than-32-characters-000"))
    form = client.get("/login")
    token = re.search(r'name="login_csrf" value="([^"]*)"', form.text).group(1)
    login = {"name": "alice", "password": "correct horse alice battery", "login_csrf": token}
    client.post("/login", data=login, follow_redirects=False)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text).group(1)
    response = client.post(
        f"/exceptions/{FIN}/act",
        content=f"csrf_token={csrf}&action=comment&comment=%FF%FEnot+text",
        headers={"content-type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert response.status_code == 400 and "not UTF-8" in response.text
    assert store.history(FIN) == []
    not_a_form = client.post(f"/exceptions/{FIN}/act", json={"csrf_token": csrf, "action": "claim"})
    assert not_a_form.status_code == 415 and store.history(FIN) == []


def test_behind_a_proxy_that_ends_tls_forms_work_and_the_session_cookie_is_secure(recon_home: Path) -> None:
    """The browser is on https://desk.example.com; the proxy asks the desk over http with the same Host.
    Every form was refused as cross-site (the Origin's scheme is https), and the cookie was never Secure."""
    store = make_store(store_path())
    accounts = Accounts()
    accounts.add("alice", "correct horse alice battery", by="olga")
    client = TestClient(
        create_app(Desk(), accounts, b"a-test-secret-of-more-than-32-characters-000"),
        base_url="http://desk.example.com",
    )
    browser = {"origin": "https://desk.example.com"}
    form = client.get("/login")
    token = re.search(r'name="login_csrf" value="([^"]*)"', form.text).group(1)
    login = {"name": "alice", "password": "correct horse alice battery", "login_csrf": token}
    response = client.post("/login", data=login, headers=browser, follow_redirects=False)
    assert response.status_code == 303 and "secure" in response.headers["set-cookie"].lower()
    # The browser sends its Secure cookie over https; the proxy passes it on over http.
    client.cookies.set(SESSION_COOKIE, response.cookies[SESSION_COOKIE])
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text).group(1)

    claim = {"csrf_token": csrf, "action": "claim"}
    response = client.post(f"/exceptions/{FIN}/act", data=claim, headers=browser, follow_redirects=False)
    assert response.status_code == 303, response.text[:300]
    assert [a["action"] for a in store.history(FIN)] == ["claim"]
    for other in ("https://evil.example.com", "https://desk.example.com.evil.example", "null"):
        refused = client.post(f"/exceptions/{FIN}/act", data=claim, headers={"origin": other})
        assert refused.status_code == 403 and "cross-site" in refused.text
    assert len(store.history(FIN)) == 1


def test_a_catalog_refreshed_at_the_same_as_of_shows_its_new_owner_and_amount(tmp_path: Path, recon_home: Path) -> None:
    """Two runs at one pinned RECON_AS_OF write the same last_seen_at: the desk kept the first catalog
    (its owner, amount, SLA) because count, latest sighting and current rows had not changed."""
    path = tmp_path / "actions.sqlite"
    store = make_store(path)
    desk = Desk(actions_path=path, serving=tmp_path / "no-serving.duckdb", clock=Clock(T0))
    assert {r["exception_id"]: r["owner_team"] for r in desk.rows("alice")}[FIN] == "finance"
    rows = [
        {"exception_id": FIN, "exception_type": "unbilled_order", "owner_team": "media_ops",
         "severity": "manual_review", "sla_hours": 72, "currency": "USD", "amount_at_risk": "9999.00",
         "amount_at_risk_reporting": "9999.00"},
        {"exception_id": MEDIA, "exception_type": "over_delivery", "owner_team": "media_ops",
         "severity": "manual_review", "sla_hours": 24, "currency": "USD", "amount_at_risk": "80.00",
         "amount_at_risk_reporting": "80.00"},
    ]  # fmt: skip
    store.refresh_catalog(rows)  # the same clock: the same last_seen_at
    row = {r["exception_id"]: r for r in desk.rows("alice")}[FIN]
    assert (row["owner_team"], row["amount"]) == ("media_ops", Decimal("9999.00"))
