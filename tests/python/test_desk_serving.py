"""The desk when the published serving copy cannot be opened: a BI session holds it read-write.

No dbt run: a two-exception action store (as test_actions builds it), a tiny serving copy
published by ``publish.publish``, and a DuckDB session in another process holding that file.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from starlette.testclient import TestClient
from test_actions import FIN, make_store  # noqa: E402

from orchestration import publish
from orchestration.actions import store_path
from orchestration.desk.accounts import Accounts
from orchestration.desk.service import Desk
from orchestration.desk.web import create_app

SECRET = b"a-test-secret-of-more-than-32-characters-000"
PASSWORD = "correct horse alice battery"


def _alice_signed_in() -> TestClient:
    """The desk on the test's home, with alice (finance) signed in; the store holds two exceptions."""
    make_store(store_path())
    accounts = Accounts()
    accounts.add("alice", PASSWORD, by="olga")
    client = TestClient(
        create_app(Desk(), accounts, SECRET), base_url="http://127.0.0.1:8321", raise_server_exceptions=False
    )
    form = client.get("/login")
    token = re.search(r'name="login_csrf" value="([^"]*)"', form.text).group(1)
    client.post("/login", data={"name": "alice", "password": PASSWORD, "login_csrf": token}, follow_redirects=False)
    return client


@pytest.fixture
def held_read_write(recon_home: Path) -> Iterator[Path]:
    warehouse = recon_home / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse))
    con.execute("create schema marts")
    con.execute("create table marts.fct_reconciled_orders as select range as order_no from range(3)")
    con.close()
    publish.publish(warehouse, "run00001", {})
    serving = publish.serving_path()
    code = f"import duckdb, time\ncon = duckdb.connect({str(serving)!r})\nprint('open', flush=True)\ntime.sleep(120)\n"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "open"
        yield serving
    finally:
        proc.kill()
        proc.wait()


def test_pages_and_actions_say_the_serving_copy_is_held_instead_of_a_500(held_read_write: Path) -> None:
    client = _alice_signed_in()
    inbox = client.get("/")
    assert inbox.status_code == 200  # the inbox reads the action store only
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', inbox.text).group(1)

    for response in (
        client.get("/dashboard"),
        client.get(f"/exceptions/{FIN}"),
        client.post(
            f"/exceptions/{FIN}/act",
            data={"csrf_token": csrf, "action": "match", "with_keys": "INV-1", "reason": "other"},
            follow_redirects=False,
        ),
    ):
        assert response.status_code == 503, response.text[:300]
        assert "serving copy cannot be read just now" in response.text
        assert "Traceback" not in response.text and response.headers["Retry-After"] == "60"


def test_a_page_reading_when_a_publication_replaces_the_serving_copy_reads_on(recon_home: Path) -> None:
    """Request A reads while a publication switches the file; request B comes after the switch.
    B reopened the copy and closed the connection A read through: 500s at every run. Now B waits
    for A, then reads the new publication (not DuckDB's cached old database)."""
    warehouse = recon_home / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse))
    con.execute("create schema marts")
    con.execute("create table marts.fct_reconciled_orders as select range as order_no from range(3)")
    con.close()
    publish.publish(warehouse, "run00001", {})
    make_store(store_path())
    desk = Desk()
    count = "select count(*) from marts.fct_reconciled_orders"
    seen_by_b: list = []

    def request_b() -> None:
        with desk.reading() as reading:
            seen_by_b.append(reading.execute(count).fetchall())

    with desk.reading() as a:  # request A, mid-page
        assert a.execute(count).fetchall() == [(3,)]
        con = duckdb.connect(str(warehouse))
        con.execute("insert into marts.fct_reconciled_orders select 3 + range from range(2)")
        con.close()
        publish.publish(warehouse, "run00002", {})
        b = threading.Thread(target=request_b)
        b.start()
        b.join(0.5)
        assert b.is_alive() and not seen_by_b  # B waits for A to finish reading the old file
        assert a.execute(count).fetchall() == [(3,)]  # A reads on
    b.join(10)
    assert seen_by_b == [[(5,)]]


def test_the_dashboard_on_a_copy_another_version_published_says_so_instead_of_a_500(recon_home: Path) -> None:
    """An upgrade's first run has not published yet: the copy's exception mart has other columns."""
    warehouse = recon_home / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse))
    con.execute("create schema marts")
    con.execute(
        "create table marts.fct_exception_current as "
        "select 'e1' as exception_id, false as is_closed, false as is_breached, 10.0 as amount_at_risk_reporting"
    )
    con.close()
    publish.publish(warehouse, "run00001", {})
    serving = publish.serving_path()
    serving.chmod(0o644)
    con = duckdb.connect(str(serving))  # as the other version wrote it
    con.execute("alter table marts.fct_exception_current rename amount_at_risk_reporting to value_at_risk_reporting")
    con.close()
    client = _alice_signed_in()
    page = client.get("/dashboard")
    assert page.status_code == 200, page.text[:300]
    assert "written by another version of recon" in page.text and "amount_at_risk_reporting" in page.text
    assert client.get("/").status_code == 200
