"""Alerts against a local SMTP server and a local HTTP receiver, both on 127.0.0.1.

Real parts: an aiosmtpd server that keeps what it receives, an http.server that records
POSTed JSON (and can be told to fail), the SQLite outbox, a real action store, and the
Dagster sensors evaluated through Dagster's own test contexts.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from orchestration import alerts
from orchestration.actions import ActionStore

# ------------------------------------------------------------------ local receivers


class _Mailbox:
    def __init__(self):
        self.messages: list[dict] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        self.messages.append({"to": envelope.rcpt_tos, "data": envelope.content.decode("utf8", "replace")})
        return "250 OK"


@pytest.fixture
def smtp():
    import socket

    with socket.socket() as probe:  # a free port: aiosmtpd's controller cannot start on port 0
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    box = _Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield controller.port, box
    finally:
        controller.stop()


@pytest.fixture
def webhook():
    received: list[dict] = []
    state = {"fail": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if state["fail"] > 0:
                state["fail"] -= 1
                self.send_response(500)
                self.end_headers()
                return
            received.append(json.loads(body))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received, state
    finally:
        server.shutdown()
        server.server_close()


def write_config(path: Path, smtp_port: int, hook_url: str) -> Path:
    path.write_text(
        f"""
channels:
  finance_mail: {{type: smtp, host: 127.0.0.1, port: {smtp_port}, from: recon@agency.test, to: [finance@agency.test]}}
  ops_chat: {{type: webhook, url_env: TEST_RECON_WEBHOOK, timeout_seconds: 5}}
routes:
  - events: [sla_breached, escalated, daily_digest]
    teams: [finance, operations]
    channels: [finance_mail]
  - events: [run_failed, run_blocked, source_stale, match_rate_drop, sla_breached]
    channels: [ops_chat]
listed_per_message: 3
"""
    )
    return path


def catalog_entry(eid: str, team: str, due: str, amount: str) -> dict:
    return {
        "exception_id": eid,
        "exception_type": "orphan_invoice",
        "owner_team": team,
        "severity": "manual_review",
        "sla_hours": 72,
        "record_entity": "int_invoice_billing_items",
        "record_id": f"INV-{eid[:4]}#",
        "client_name": "=cmd|' /C calc'!A0",
        "currency": "EUR",
        "amount_at_risk": amount,
        "amount_at_risk_reporting": amount,
        "details": {"business_due_at": due},
    }


@pytest.fixture
def store(recon_home: Path) -> ActionStore:
    clock = lambda: datetime(2026, 6, 1, 9, 0, tzinfo=UTC)  # noqa: E731
    store = ActionStore(recon_home / "actions.sqlite", clock=clock)
    store.refresh_catalog(
        [
            catalog_entry("a" * 32, "finance", "2026-05-01", "900.00"),  # past SLA
            catalog_entry("b" * 32, "finance", "2026-05-02", "50.00"),  # past SLA
            catalog_entry("c" * 32, "finance", "2026-05-31", "10.00"),  # due 2026-06-03: not yet
            catalog_entry("d" * 32, "media_ops", "2026-04-01", "5.00"),  # past SLA, another team
        ]
    )
    return store


def test_config_is_checked_and_names_the_key(tmp_path: Path) -> None:
    bad = {
        "routes: [{events: [sla_breach], channels: [x]}]\nchannels: {x: {type: webhook, url: 'http://h'}}": (
            "sla_breach"
        ),
        "channels: {x: {type: smtp, host: h}}": "needs host, from and to",
        "channels: {x: {type: webhook, url: 'ftp://h'}}": "http:// or https://",
        "channels: {x: {type: webhook, url: 'http://h', pasword: 1}}": "pasword",
        "routes: [{events: [run_failed], channels: [nowhere]}]": "nowhere",
        "chanels: {}": "chanels",
        "channels: [hook]": "channels is a mapping",
        "channels: {x: {type: webhook, url: 'http://h', headers: [a]}}": "headers",
        "channels: {x: {type: smtp, host: h, from: f, to: 5}}": "to: a list",
        "channels: {x: {type: webhook, url: 'http://h'}}\nroutes: [{events: run_failed, channels: [x]}]": (
            "events: a list"
        ),
        "channels: {x: {type: webhook, url: 'http://h'}}\nroutes: [{events: [sla_breached], teams: [finanse],"
        " channels: [x]}]": "finanse not a team",
        "digest: {cron: 'every day please'}": "not a cron string",
        # A second routes: key replaced the first: every route dropped without a word.
        "channels: {x: {type: webhook, url: 'http://h'}}\nroutes: [{events: [run_failed], channels: [x]}]\n"
        "routes: []": "key 'routes' is written twice",
        # YAML's true is Python's 1: port 1, a 1-second timeout, one event per message.
        "channels: {x: {type: smtp, host: h, from: f, to: [t], port: true}}": "port: a port number",
        "channels: {x: {type: webhook, url: 'http://h', timeout_seconds: yes}}": "timeout_seconds: a number",
        "listed_per_message: true": "listed_per_message is a whole number",
    }
    for text, words in bad.items():
        path = tmp_path / "alerts.yml"
        path.write_text(text)
        with pytest.raises(alerts.AlertConfigError, match=words):
            alerts.load_config(path)
    path.write_bytes("channels: {}\n# caf\u00e9\n".encode("latin-1"))  # was a UnicodeDecodeError traceback
    with pytest.raises(alerts.AlertConfigError, match="not UTF-8 text"):
        alerts.load_config(path)
    # The shipped file routes nothing: alerts are off until someone fills it in.
    shipped = alerts.load_config(Path(__file__).parents[2] / "config" / "alerts.yml")
    assert shipped.routes == () and shipped.digest_cron == "0 7 * * *"


def test_sla_breaches_reach_mail_and_webhook_once(
    store: ActionStore, smtp, webhook, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port, box = smtp
    url, received, _ = webhook
    monkeypatch.setenv("TEST_RECON_WEBHOOK", url)
    config = alerts.load_config(write_config(tmp_path / "alerts.yml", port, url))
    outbox = alerts.Outbox(tmp_path / "alerts.sqlite")

    events = alerts.exception_events(store)
    assert sorted(e.key.split(":")[1][:1] for e in events if e.kind == "sla_breached") == ["a", "b", "d"]
    first = alerts.dispatch(events, config, outbox, sleep=lambda s: None)
    # finance's two breaches: one e-mail; all three breaches to the chat, one message per team.
    assert (first["failed"], first["messages"]) == (0, 3), first
    assert len(box.messages) == 1 and box.messages[0]["to"] == ["finance@agency.test"]
    mail = box.messages[0]["data"]
    assert "Subject: [recon] Exceptions past their SLA (finance): 2" in mail and "aaaaaaaa" in mail
    assert mail.index("aaaaaaaa") < mail.index("bbbbbbbb")  # the larger amount first
    assert sorted(m["team"] for m in received) == ["finance", "media_ops"]
    assert all(m["event"] == "sla_breached" and m["text"].startswith("*[recon]") for m in received)

    # Looked for again (the next run, the sensor): nothing is sent twice.
    again = alerts.dispatch(alerts.exception_events(store), config, outbox, sleep=lambda s: None)
    assert (again["sent"], again["already_sent"]) == (0, 5)  # 2 by mail, 3 to the chat
    assert len(box.messages) == 1 and len(received) == 2


def test_a_failing_webhook_is_retried_then_delivered_later(
    store: ActionStore, smtp, webhook, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port, _ = smtp
    url, received, state = webhook
    monkeypatch.setenv("TEST_RECON_WEBHOOK", url)
    config = alerts.load_config(write_config(tmp_path / "alerts.yml", port, url))
    outbox = alerts.Outbox(tmp_path / "alerts.sqlite")
    event = alerts.Event("run_failed", "run_failed:r1", None, "A run failed", "run r1: dbt failed")

    state["fail"] = alerts.RETRIES  # every try of this look fails
    waits: list[float] = []
    failed = alerts.dispatch([event], config, outbox, sleep=waits.append)
    assert failed["failed"] == 1 and "HTTPError" in failed["errors"][0] and waits == [0.5, 2.0]
    assert received == []
    [(key, channel, status, attempts, *_)] = outbox.rows()
    assert (key, channel, status, attempts) == ("run_failed:r1", "ops_chat", "failed", 3)  # sends, not looks

    state["fail"] = 1  # the next look: one failure, then it goes through
    later = alerts.dispatch([event], config, outbox, sleep=lambda s: None)
    assert later["sent"] == 1 and len(received) == 1 and received[0]["keys"] == ["run_failed:r1"]
    assert outbox.rows()[0][2:4] == ("sent", 5)
    assert alerts.dispatch([event], config, outbox)["already_sent"] == 1


def test_escalations_and_the_daily_digest(store: ActionStore, smtp, webhook, tmp_path, monkeypatch) -> None:
    port, box = smtp
    url, _, _ = webhook
    monkeypatch.setenv("TEST_RECON_WEBHOOK", url)
    config = alerts.load_config(write_config(tmp_path / "alerts.yml", port, url))
    outbox = alerts.Outbox(tmp_path / "alerts.sqlite")
    ActionStore(store.path, clock=store.clock, login=lambda: "desk:olga").act(
        "escalate", "c" * 32, None, team="finance", reason="needs_lead", comment="client called"
    )
    escalations = [e for e in alerts.exception_events(store) if e.kind == "escalated"]
    # Escalation goes to the severity's escalation team (seeds/severity_policy.csv), not the owner.
    assert len(escalations) == 1 and escalations[0].team == "operations" and "client called" in escalations[0].line
    digest = alerts.digest_events("2026-06-01", store)
    assert {e.team for e in digest} == {"finance", "media_ops"}
    finance = next(e for e in digest if e.team == "finance")
    assert finance.line.startswith("3 open, 2 past SLA")
    alerts.dispatch(escalations + digest, config, outbox, sleep=lambda s: None)
    subjects = sorted(m["data"].split("Subject: ")[1].splitlines()[0] for m in box.messages)
    assert subjects == [
        "[recon] Daily digest 2026-06-01 (finance)",
        "[recon] Exceptions escalated to your team (operations)",
    ]
    assert alerts.dispatch(alerts.digest_events("2026-06-01", store), config, outbox)["sent"] == 0  # once a day
    next_day = alerts.dispatch(alerts.digest_events("2026-06-02", store), config, outbox, sleep=lambda s: None)
    assert next_day["sent"] == 1  # finance; media_ops has no digest route


def test_a_store_missing_where_one_is_expected_is_alerted_not_read_as_nothing_overdue(
    store: ActionStore, recon_home: Path, webhook, smtp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port, box = smtp
    url, received, _ = webhook
    monkeypatch.setenv("TEST_RECON_WEBHOOK", url)
    config = alerts.load_config(write_config(tmp_path / "alerts.yml", port, url))
    typo = recon_home / "acitons" / "actions.sqlite"
    monkeypatch.setenv("RECON_ACTIONS_PATH", str(typo))
    # A home where nothing ran yet: no store is expected, nothing to say.
    assert alerts.exception_events() == [] and alerts.digest_events("2026-06-01") == []
    (recon_home / "publications").mkdir()
    (recon_home / "publications" / "current.json").write_text(
        json.dumps({"publication": "20260601T000000Z-abc", "audit_anchor": {"store": str(store.path)}})
    )
    # Before: ActionStore.existing() gave None and the alerts job found nothing overdue.
    [event] = alerts.exception_events()
    assert event.kind == "run_failed" and event.key.startswith("action_store_unreadable:"), event
    assert f"no action store at {typo} (RECON_ACTIONS_PATH=" in event.line
    assert f"which read the store at {store.path}" in event.line
    digests = alerts.digest_events("2026-06-01")
    assert [e.kind for e in digests][0] == "run_failed"
    teams = {e.team for e in digests if e.kind == "daily_digest"}
    assert {"finance", "media_ops"} <= teams
    assert all("No digest: the action store cannot be read" in e.line for e in digests if e.kind == "daily_digest")
    sent = alerts.dispatch([event], config, alerts.Outbox(tmp_path / "alerts.sqlite"), sleep=lambda s: None)
    assert sent["sent"] == 1 and "no action store at" in received[0]["text"]
    assert not typo.parent.exists()  # nothing created in its place
    # The digest job says it too (a store problem in the summary, which fails the Dagster op).
    monkeypatch.setenv("RECON_ALERTS_CONFIG", str(tmp_path / "alerts.yml"))
    assert "no action store at" in alerts.send_digests("2026-06-01")["store_problem"]
    # A path naming a directory is named the same way.
    monkeypatch.setenv("RECON_ACTIONS_PATH", str(recon_home))
    [event] = alerts.exception_events()
    assert "is a directory" in event.line
    monkeypatch.delenv("RECON_ACTIONS_PATH")
    assert all(e.kind == "sla_breached" for e in alerts.exception_events())


def test_run_events_from_the_quality_report(recon_home: Path) -> None:
    history = recon_home / "quality" / "history"
    history.mkdir(parents=True)
    report = {
        "run_id": "run-blocked-1",
        "passed": False,
        "checks": [
            {"name": "raw_keys_unique", "severity": "error", "passed": False, "description": "keys repeat",
             "metadata": {}},
            {"name": "freshness_crm", "severity": "warn", "passed": False, "description": "crm is 80 h old",
             "metadata": {"newest_ingested_at": "2026-05-28T01:00:00"}},
            {"name": "match_rate_orders_invoices", "severity": "error", "passed": False, "description": "dropped",
             "metadata": {"reconciliation": "orders_invoices", "baseline": 0.97}},
        ],
    }  # fmt: skip
    (history / "run-blocked-1.json").write_text(json.dumps(report))
    now = datetime(2026, 6, 1, tzinfo=UTC)
    kinds = {e.kind: e.key for e in alerts.run_events("run-blocked-1", False, "step failed", now)}
    assert kinds == {
        "run_blocked": "run_blocked:run-blocked-1",
        "source_stale": "source_stale:freshness_crm:2026-05-28T01:00:00",
        "match_rate_drop": "match_rate_drop:orders_invoices:2026-06-01",
    }
    # A run that failed with no gate failing is a failure, not a block.
    assert [e.kind for e in alerts.run_events("no-report", False, "dbt crashed", now)] == ["run_failed"]
    assert alerts.run_events("no-report", True, None, now + timedelta(days=1)) == []


def test_recon_status_says_when_the_last_run_published_nothing(recon_home: Path) -> None:
    # A helper's tryout: a failed run left `recon status` showing the old gates, all green.
    from orchestration import status

    assert status.last_run_lines(None) == []  # no run yet
    day = datetime(2026, 6, 1, 12, tzinfo=UTC)
    alerts.record_last_run("run-failed-1", False, "step recon_dbt_assets failed\nTraceback ...", now=day)
    [line] = status.last_run_lines(None)
    assert "LAST RUN FAILED: run run-fail" in line and "step recon_dbt_assets failed." in line
    assert "nothing published yet" in line and "Traceback" not in line
    published = {"publication": "20260601T000000Z-abc", "run_id": "run-ok-0"}
    assert "readers still see publication 20260601T000000Z-abc" in status.last_run_lines(published)[0]
    history = recon_home / "quality" / "history"
    history.mkdir(parents=True)
    (history / "run-blocked-2.json").write_text(json.dumps({"checks": [
        {"name": "match_rate_orders_invoices", "severity": "error", "passed": False}]}))  # fmt: skip
    alerts.record_last_run("run-blocked-2", True, now=day + timedelta(hours=1))  # a gate blocked its publication
    assert "blocked by match_rate_orders_invoices" in status.last_run_lines(published)[0]
    alerts.record_last_run("run-ok-1", True, now=day + timedelta(hours=2))
    assert status.last_run_lines(published) == []
    # A sensor that looks at an older failed run late does not bring it back.
    alerts.record_last_run("run-failed-0", False, "old", now=day)
    assert status.last_run_lines(published) == []


def test_dagster_sensors_send_through_the_same_outbox(
    store: ActionStore, smtp, webhook, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dagster as dg

    from orchestration.defs import alerting

    port, box = smtp
    url, received, _ = webhook
    monkeypatch.setenv("TEST_RECON_WEBHOOK", url)
    monkeypatch.setenv("RECON_ALERTS_CONFIG", str(write_config(tmp_path / "alerts.yml", port, url)))
    monkeypatch.setattr(ActionStore, "expected", classmethod(lambda cls, *a, **k: store))
    with dg.instance_for_test() as instance:
        run = instance.create_run_for_job(alerting.alert_digest_job)
        context = dg.build_run_status_sensor_context(
            sensor_name="alert_after_success",
            dagster_instance=instance,
            dagster_run=run,
            dagster_event=dg.DagsterEvent(event_type_value="PIPELINE_SUCCESS", job_name=run.job_name),
        )
        alerting.alert_after_success(context)
        assert len(box.messages) == 1 and len(received) == 2  # finance mail; finance + media_ops chat
        alerting.alert_after_success(context)  # the same run seen again
        assert len(box.messages) == 1 and len(received) == 2
        result = alerting.alert_digest_job.execute_in_process(instance=instance)
        assert result.success
        assert any("Daily digest" in m["data"] for m in box.messages)


def test_a_broken_config_never_stops_a_run_and_recon_alerts_check_names_it(tmp_path: Path, monkeypatch, capsys) -> None:
    import importlib

    from orchestration import cli
    from orchestration.defs import alerting

    bad = tmp_path / "alerts.yml"
    bad.write_text("digest: {cron: 'every day please'}\n")
    monkeypatch.setenv("RECON_ALERTS_CONFIG", str(bad))
    reloaded = importlib.reload(alerting)  # what loading the definitions does
    assert reloaded.alert_digest.cron_schedule == alerts.DEFAULT_DIGEST_CRON
    assert cli.main(["alerts", "check"]) == 2
    assert "not a cron string" in capsys.readouterr().err
    # A mistyped RECON_ALERTS_CONFIG was "nothing is routed (alerts are off)", exit 0.
    monkeypatch.setenv("RECON_ALERTS_CONFIG", str(tmp_path / "alerst.yml"))
    assert cli.main(["alerts", "check"]) == 2
    assert "alerst.yml: no such file" in capsys.readouterr().err
    # A secret's variable unset here: routed, and said before the first send fails.
    bad.write_text(
        "channels: {hook: {type: webhook, url_env: RECON_TEST_UNSET_HOOK}}\n"
        "routes: [{events: [run_failed], channels: [hook]}]\n"
    )
    monkeypatch.setenv("RECON_ALERTS_CONFIG", str(bad))
    monkeypatch.delenv("RECON_TEST_UNSET_HOOK", raising=False)
    assert cli.main(["alerts", "check"]) == 0
    assert "channels.hook.url_env: RECON_TEST_UNSET_HOOK is not set" in capsys.readouterr().err
    importlib.reload(alerting)


def test_webhook_text_cannot_ping_or_disguise_links(webhook, monkeypatch) -> None:
    url, received, _ = webhook
    channel = alerts.Channel("chat", "webhook", {"type": "webhook", "url": url})
    event = alerts.Event(
        "escalated", "escalated:x", "finance", "Escalated", "by erin: <!channel> <http://evil|Approve>"
    )
    alerts.send_one(channel, [event], 20)
    text = received[0]["text"]
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text and "<http" not in text


def test_a_failed_reprocessing_from_the_ui_alerts_and_other_asset_runs_do_not(
    recon_home: Path, webhook, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A review: the failure sensor watched recon_job and reprocess_landing_job only, and the UI's
    # asset backfill of landing_files partitions runs as __ASSET_JOB, so its failures went unheard.
    import dagster as dg

    from orchestration.definitions import defs
    from orchestration.defs.landing_files import LANDING_FILES, LANDING_FILES_KEY

    url, received, _ = webhook
    monkeypatch.setenv("TEST_RECON_WEBHOOK", url)
    monkeypatch.setenv("RECON_ALERTS_CONFIG", str(write_config(tmp_path / "alerts.yml", 25, url)))
    sensor = defs.resolve_sensor_def("alert_after_failed_ui_reprocessing")

    def tick(run: dg.DagsterRun):
        (failure,) = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
        context = dg.build_run_status_sensor_context(
            sensor_name=sensor.name,
            dagster_instance=instance,
            dagster_run=instance.get_run_by_id(run.run_id),
            dagster_event=failure.dagster_event,
        )
        return sensor(context)

    asset_job = defs.resolve_implicit_global_asset_job_def()
    with dg.instance_for_test() as instance:
        # The UI materializes the partition of a file deleted since: the run fails by name.
        instance.add_dynamic_partitions(LANDING_FILES.name, ["crm/orders/gone.csv"])
        in_ui = asset_job.execute_in_process(
            instance=instance,
            asset_selection=[LANDING_FILES_KEY],
            partition_key="crm/orders/gone.csv",
            raise_on_error=False,
        )
        assert not in_ui.success and in_ui.dagster_run.job_name == "__ASSET_JOB"
        assert tick(in_ui.dagster_run) is None
        (text,) = [m["text"] for m in received if f"run {in_ui.run_id[:8]}" in m["text"]]
        assert "nothing reprocessed: crm/orders/gone.csv: no such file" in text  # the step's reason names the file
        assert json.loads((recon_home / "last_run.json").read_text())["run_id"] == in_ui.run_id
        sent = len(received)
        # A failed run of other assets in the same asset job, and the jobs alert_after_failure watches, are not its.
        other = instance.create_run_for_job(
            asset_job, asset_selection=frozenset({dg.AssetKey(["publication", "serving_copy"])})
        )
        for run in (
            other,
            instance.create_run_for_job(defs.resolve_job_def("reprocess_landing_job")),
            instance.create_run_for_job(defs.resolve_job_def("recon_job")),
        ):
            instance.report_run_failed(run)
            skip = tick(run)
            assert isinstance(skip, dg.SkipReason) and "is not a reprocessing from the UI" in skip.skip_message
        assert len(received) == sent


BAD_QUALITY = "raw:\n  severty: error\n"  # a typo: the key is `severity`


def test_a_refused_recon_run_shows_in_status_and_is_alerted(
    recon_home: Path, webhook, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A tryout: `RECON_QUALITY_CONFIG=<file with a typo> recon run` exited 3, but last_run.json and
    # `recon status` still showed the last good run, and no run_failed was sent.
    from orchestration import cli, pipeline, status
    from orchestration.quality import QualityConfigError

    url, received, _ = webhook
    monkeypatch.setenv("TEST_RECON_WEBHOOK", url)
    monkeypatch.setenv("RECON_ALERTS_CONFIG", str(write_config(tmp_path / "alerts.yml", 25, url)))
    bad = tmp_path / "quality.yml"
    bad.write_text(BAD_QUALITY)
    monkeypatch.setenv("RECON_QUALITY_CONFIG", str(bad))
    alerts.record_last_run("run-ok-1", True, now=datetime(2026, 6, 1, tzinfo=UTC))
    with pytest.raises(QualityConfigError, match="severty"):
        pipeline.run_pipeline(raise_refusals=True)
    last = json.loads((recon_home / "last_run.json").read_text())
    assert last["refused"] and not last["succeeded"] and str(bad) in last["error"] and "severty" in last["error"]
    [line] = status.last_run_lines({"publication": "20260601T000000Z-abc", "run_id": "run-ok-1"})
    assert line.startswith("LAST RUN REFUSED") and "severty" in line and "20260601T000000Z-abc" in line
    [message] = received
    assert message["event"] == "run_failed" and "refused" in message["text"] and "severty" in message["text"]
    # The same mistake again (a cron retrying) is recorded again, but alerted once a day.
    assert cli.main(["run", "--quiet"]) == 3
    assert len(received) == 1
    # A warehouse held by another run is not this run's failure: not recorded, not alerted
    # (pipeline.run_pipeline lets WarehouseBusy through before record_refusal is reached), unless
    # held longer than RECON_LOCK_MAX_HOLD_SECONDS: tests/python/test_lock_held.py.
    monkeypatch.delenv("RECON_QUALITY_CONFIG")
    alerts.record_last_run("run-ok-2", True, now=datetime.now(UTC) + timedelta(minutes=1))
    assert status.last_run_lines({"publication": "p", "run_id": "run-ok-2"}) == []


def test_a_daemon_run_with_a_config_mistake_fails_first_naming_it_and_is_alerted(
    recon_home: Path, webhook, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Under `make dev` the schedule and the landing sensor start runs without `recon run`: a
    # quality.yml typo (or dbt threads: 0 in profiles.yml) must fail the run before it ingests
    # anything, naming the file and key, and the failure sensor must send that reason.
    import shutil

    import dagster as dg

    from orchestration import settings
    from orchestration.definitions import defs

    url, received, _ = webhook
    monkeypatch.setenv("TEST_RECON_WEBHOOK", url)
    monkeypatch.setenv("RECON_ALERTS_CONFIG", str(write_config(tmp_path / "alerts.yml", 25, url)))
    bad = tmp_path / "quality.yml"
    bad.write_text(BAD_QUALITY)
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    shutil.copy(settings.PROJECT_DIR / "profiles" / "profiles.yml", profiles / "profiles.yml")
    text = (profiles / "profiles.yml").read_text()
    assert "threads:" in text
    lines = [line.split("threads:")[0] + "threads: 0" if "threads:" in line else line for line in text.splitlines()]
    (profiles / "profiles.yml").write_text("\n".join(lines))
    sensor = defs.resolve_sensor_def("alert_after_failure")
    job = defs.resolve_job_def("recon_job")
    # In memory: a sqlite instance took 17 s a run to log the dbt checks each run plans.
    with dg.DagsterInstance.ephemeral() as instance:
        for variable, value, named in (
            ("RECON_QUALITY_CONFIG", str(bad), "severty"),
            ("DBT_PROFILES_DIR", str(profiles), "threads must be a whole number"),
        ):
            with monkeypatch.context() as mp:
                mp.setenv(variable, value)
                result = job.execute_in_process(instance=instance, raise_on_error=False)
            assert not result.success
            assert not (recon_home / "warehouse.duckdb").exists()  # refused before ingesting anything
            (failure,) = instance.all_logs(result.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
            sensor(
                dg.build_run_status_sensor_context(
                    sensor_name=sensor.name,
                    dagster_instance=instance,
                    dagster_run=instance.get_run_by_id(result.run_id),
                    dagster_event=failure.dagster_event,
                )
            )
            (text,) = [m["text"] for m in received if f"run {result.run_id[:8]}" in m["text"]]
            assert "run refused before it started" in text and named in text, text
            assert value in text  # the file to fix
            assert named in json.loads((recon_home / "last_run.json").read_text())["error"]
