"""End to end on a small generated agency: generate → Dagster run (ingest + dbt build) → summary.

One real DuckDB file, a real dbt build with every data and unit test, a real Dagster
instance. The run is repeated to prove a second run without new files changes nothing.
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration import cli, pipeline, settings, status
from orchestration.actions import ActionStore, check_catalog
from orchestration.lab import evaluate, generate

SESSION: dict[str, str] = {}  # what one test of this module leaves for a later one


@pytest.fixture(scope="module")
def pipeline_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("pipeline")
    mp = pytest.MonkeyPatch()
    mp.setenv("RECON_HOME", str(home))
    mp.setenv("RECON_DUCKDB_PATH", str(home / "warehouse.duckdb"))
    mp.setenv("DAGSTER_HOME", str(home / "dagster"))
    yield home
    mp.undo()


@pytest.fixture(scope="module")
def generated(pipeline_home: Path) -> generate.GenerateResult:
    return generate.generate(pipeline_home, seed=11, orders=400)


@pytest.fixture(scope="module")
def first_run(pipeline_home: Path, generated: generate.GenerateResult) -> dict:
    assert pipeline.run_pipeline(), "the Dagster run failed: see the log above"
    con = duckdb.connect(str(pipeline_home / "warehouse.duckdb"), read_only=True)
    try:
        return status.summary(con)
    finally:
        con.close()


def raw_counts(home: Path) -> dict[str, int]:
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        tables = [
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = 'raw' order by 1"
            ).fetchall()
        ]
        return {t: con.execute(f'select count(*) from raw."{t}"').fetchone()[0] for t in tables}
    finally:
        con.close()


def test_every_generated_row_is_loaded_or_quarantined(pipeline_home: Path, generated, first_run: dict) -> None:
    by_table = {f"{row[0]}__{row[1]}": row[4:] for row in first_run["sources"]}
    for table, rows in generated.rows.items():
        read, loaded, bad, rejected = by_table[table]
        # The legacy export (invoices) is rejected whole: its rows are read and rejected.
        assert read - rejected == rows, table
        assert loaded + bad + rejected == read, table
    assert sum(bad for _, _, bad, _ in by_table.values()) == generated.bad_rows


def test_malformed_legacy_file_is_rejected_and_named(first_run: dict) -> None:
    assert [path for path, _ in first_run["rejected_files"]] == ["billing/invoices/invoices_legacy_export.csv"]
    assert "currency" in first_run["rejected_files"][0][1]


def test_reconciliation_produces_real_numbers(pipeline_home: Path, first_run: dict) -> None:
    # Most orders carry a usable reference; the deterministic pass must find them, and
    # noise (missing refs, typos, unbilled orders) must leave some unmatched.
    assert 0.5 < first_run["match_rate"] < 1.0
    types = {t for t, *_ in first_run["exceptions"]}
    assert all(owner for _, owner, *_ in first_run["exceptions"])  # every exception is routed to a team
    assert {"delivered_not_billed", "orphan_invoice", "billed_not_delivered"} <= types
    assert len(types) >= 6  # billing, delivery, fulfilment, currency and lead breaks are typed


def test_deterministic_matches_agree_with_ground_truth(pipeline_home: Path, first_run: dict) -> None:
    with open(pipeline_home / "ground_truth" / "links.csv") as fh:
        truth = {(r["left_id"], r["right_id"]) for r in csv.DictReader(fh) if r["reconciliation"] == "orders_invoices"}
    con = duckdb.connect(str(pipeline_home / "warehouse.duckdb"), read_only=True)
    try:
        made = con.execute("select distinct order_id, invoice_id from marts.fct_order_invoice_matches").fetchall()
    finally:
        con.close()
    assert made
    wrong = [m for m in made if m not in truth]
    # Exact reference matching may only link what truly belongs together.
    assert len(wrong) / len(made) < 0.01, wrong[:10]


def test_matching_engine_meets_quality_targets(pipeline_home: Path, first_run: dict) -> None:
    reports = {r.name: r for r in evaluate.evaluate(pipeline_home / "warehouse.duckdb", pipeline_home / "ground_truth")}
    assert set(reports) >= {"orders_invoices", "delivery_orders", "projects_orders", "lead_forms_leads"}
    report = reports["orders_invoices"]
    assert report.auto.precision >= 0.995
    assert report.auto.recall >= 0.95  # 0.98 at 5,000 orders; a 400-order set is noisier
    assert report.by_pass["reference_exact"].precision == 1.0
    for pass_name in ("reference_ocr", "reference_digits"):
        if pass_name in report.by_pass:
            assert report.by_pass[pass_name].precision == 1.0
    for rep in reports.values():
        assert rep.auto.precision >= 0.99, rep.name


def test_every_record_has_one_state_and_unmatched_ones_show_candidates(pipeline_home: Path, first_run: dict) -> None:
    con = duckdb.connect(str(pipeline_home / "warehouse.duckdb"), read_only=True)
    try:
        states = dict(
            con.execute("select record_state, count(*) from marts.fct_reconciliation_records group by 1").fetchall()
        )
        orders = con.execute("select count(*) from staging.stg_crm__orders where not is_cancelled").fetchone()[0]
        left = con.execute(
            "select count(*) from marts.fct_reconciliation_records "
            "where side = 'left' and reconciliation = 'orders_invoices'"
        ).fetchone()[0]
        explained = con.execute(
            "select count(*) from marts.fct_reconciliation_records "
            "where record_state != 'matched' and candidate_count > 0 and top_candidates is null"
        ).fetchone()[0]
    finally:
        con.close()
    assert set(states) <= {"matched", "suggested", "ambiguous", "unmatched"} and states["matched"] > 0
    assert left == orders
    assert explained == 0


def test_every_dbt_unit_test_passes_on_the_built_warehouse(pipeline_home: Path, first_run: dict, tmp_path) -> None:
    """A run leaves dbt's unit tests out (they check the SQL, not the data); they run here, once.

    dbt reads the column types of each fixture's model from the warehouse, hence after a run.
    """
    import json
    import re
    import shutil
    import subprocess
    import sys

    from orchestration import settings
    from orchestration.defs.dbt import parse_state_path
    from orchestration.pipeline import PARTIAL_PARSE

    settings.apply_environment()
    manifest = json.loads((settings.PROJECT_DIR / "target" / "manifest.json").read_text())
    expected = sum(1 for node in manifest.get("unit_tests", {}).values())
    assert expected > 0, "the manifest lists no unit tests: run `recon prepare`"
    # Its own target directory (the project's target/ is `recon prepare`'s), starting from
    # the parse the run left in this home.
    target = tmp_path / "dbt-target"
    target.mkdir()
    assert parse_state_path().exists(), "the run kept no parse of the project in its home"
    shutil.copyfile(parse_state_path(), target / PARTIAL_PARSE)
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "dbt"),
            "test",
            "--select",
            "test_type:unit",
            "--profiles-dir",
            "profiles",
            "--target-path",
            str(target),
        ],
        cwd=settings.PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    summary = re.search(r"PASS=(\d+) WARN=(\d+) ERROR=(\d+)", done.stdout)
    assert summary, done.stdout[-2000:]
    # dbt counts the project's on-run-start hooks among the passes.
    hooks = sum(1 for node in manifest["nodes"].values() if node["resource_type"] == "operation")
    assert (int(summary.group(1)), int(summary.group(3))) == (expected + hooks, 0)


def test_operator_session_claim_then_resolve(pipeline_home: Path, first_run: dict, capsys) -> None:
    store = ActionStore()
    (first, *_) = store.list_exceptions(team="finance", status="open")
    short = first["exception_id"][:8]
    assert cli.main(["exceptions", "show", short]) == 0
    assert "candidates" in capsys.readouterr().out
    assert cli.main(["exceptions", "claim", short, "--as", "carol"]) == 3  # media_ops: not the owner
    assert cli.main(["exceptions", "claim", short, "--as", "alice"]) == 0
    assert cli.main(["exceptions", "claim", short, "--as", "bob"]) == 5  # already claimed by alice
    assert "already claimed by alice" in capsys.readouterr().err
    assert cli.main(["exceptions", "resolve", short, "--as", "alice", "--reason", "billed_late"]) == 0
    assert cli.main(["audit", "verify"]) == 0
    SESSION["resolved"] = first["exception_id"]


def test_the_catalog_step_writes_only_the_exceptions_a_build_changed(
    pipeline_home: Path, first_run: dict, tmp_path: Path
) -> None:
    """Issue 14: the catalog step on the run's own marts, into a store of its own, three times:
    all rows; the same marts again (no row written); one exception's amount changed and one
    gone (those two written, one auto_resolve). The recorded digest is the catalog's in full."""
    import shutil
    import sqlite3
    from datetime import UTC, datetime, timedelta

    from orchestration.actions import catalog_digest
    from orchestration.actions.bridge import catalog_from_warehouse

    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(pipeline_home / "warehouse.duckdb", warehouse)
    clock = [datetime(2026, 12, 1, tzinfo=UTC)]
    store = ActionStore(tmp_path / "actions.sqlite", clock=lambda: clock[0])

    def stored() -> dict[str, tuple]:
        con = sqlite3.connect(store.path)
        try:
            return {r[0]: r[1:] for r in con.execute("select exception_id, last_seen_at, amount_at_risk, is_current"
                                                      " from exception_catalog")}  # fmt: skip
        finally:
            con.close()

    first = catalog_from_warehouse(warehouse, store)
    assert first["current"] > 20
    before = stored()
    clock[0] += timedelta(days=1)
    assert catalog_from_warehouse(warehouse, store) == {**first, "auto_resolved": 0, "reopened": 0}
    assert stored() == before  # nothing written
    assert {store.catalog_entry(e)["last_seen_at"] for e in before} == {clock[0].isoformat()}

    con = duckdb.connect(str(warehouse))
    changed, gone = (r[0] for r in con.execute(
        "select exception_id from marts.fct_reconciliation_exceptions where amount_at_risk is not null"
        " order by exception_id limit 2").fetchall())  # fmt: skip
    con.execute("update marts.fct_reconciliation_exceptions set amount_at_risk = amount_at_risk + 1"
                " where exception_id = ?", [changed])  # fmt: skip
    con.execute("delete from marts.fct_reconciliation_exceptions where exception_id = ?", [gone])
    con.close()
    clock[0] += timedelta(days=1)
    catalog_from_warehouse(warehouse, store)
    after = stored()
    moved = {e for e in after if after[e] != before[e]}
    assert moved == {changed, gone}
    assert after[changed][0] == clock[0].isoformat() and after[gone][2] == 0
    assert after[gone][0] == (clock[0] - timedelta(days=1)).isoformat()  # last seen the night before
    ro = sqlite3.connect(store.path)
    assert store.recorded_catalog_digest()["digest"] == catalog_digest(ro)[0]
    # Each row carries the reporting currency the build converted its value at risk to; a build
    # in another (var reporting_currency changed) rewrites every row it finds, with that one,
    # and leaves the closed one with its own.
    from orchestration.publish import reporting_currency

    currencies = dict(ro.execute("select exception_id, reporting_currency from exception_catalog").fetchall())
    assert set(currencies.values()) == {reporting_currency()}, set(currencies.values())
    ro.close()
    con = duckdb.connect(str(warehouse))
    con.execute("update marts.fct_reconciliation_exceptions set reporting_currency = 'JPY'")
    con.close()
    clock[0] += timedelta(days=1)
    catalog_from_warehouse(warehouse, store)
    ro = sqlite3.connect(store.path)
    currencies = dict(ro.execute("select exception_id, reporting_currency from exception_catalog").fetchall())
    assert store.recorded_catalog_digest()["digest"] == catalog_digest(ro)[0]
    ro.close()
    assert currencies.pop(gone) == reporting_currency() and set(currencies.values()) == {"JPY"}
    assert store.catalog_entry(changed)["reporting_value_basis"] == "other_reporting_currency"  # today's is not JPY


def test_second_run_without_new_files_changes_no_raw_counts(pipeline_home: Path, first_run: dict) -> None:
    before = raw_counts(pipeline_home)
    assert pipeline.run_pipeline()
    after = raw_counts(pipeline_home)
    # Landing data is unchanged; only the operator actions taken since the last run arrive,
    # and the run anchors the head of the action log twice (ingest, exception catalog).
    assert after.pop("operator_actions") == before.pop("operator_actions", 0) + 2
    assert after.pop("audit_anchors") == before.pop("audit_anchors") + 2
    assert after.pop("build_log") == before.pop("build_log") + 1  # the actions are new: it builds
    # That build started from the first one's parse of the project (reused_parse in
    # orchestration/defs/dbt.py); the project's own parse is for another warehouse path.
    dbt_log = max((pipeline_home / "logs").glob("run-*.log")).read_text()
    assert "Found " in dbt_log  # the dbt build's own log
    assert "Unable to do partial parsing" not in dbt_log
    # ... and it re-parses nothing: no file reads, while dbt parses, a value that changes every
    # run (the run id, the as-of clock); dbt re-parses each file whose env_var() value changed.
    import msgpack

    from orchestration.defs.dbt import parse_state_path

    saved = msgpack.unpackb(parse_state_path().read_bytes(), strict_map_key=False)
    assert set(saved["env_vars"]) <= {"RECON_PROJECT_SHA"}, saved["env_vars"]
    # Each incremental staging model records the last batch it staged (no new batch: the same).
    assert after.pop("staged_batches") == before.pop("staged_batches") + 9
    assert after == before
    from orchestration import publish

    head_seq, head_hash = ActionStore().head()
    anchor = publish.current()["audit_anchor"]
    assert (anchor["seq"], anchor["entry_hash"]) == (head_seq, head_hash) and head_seq >= 2
    assert cli.main(["audit", "verify"]) == 0
    resolved = SESSION.get("resolved")
    if resolved:
        state = ActionStore().state(resolved)
        assert state.status == "resolved" and state.resolution == "billed_late"


def test_runs_and_materializations_are_recorded_in_dagster(pipeline_home: Path, first_run: dict) -> None:
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs()
        assert runs and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        event = instance.get_latest_materialization_event(dg.AssetKey(["marts", "fct_reconciled_orders"]))
        assert event is not None
        raw = instance.get_latest_materialization_event(dg.AssetKey(["raw_crm", "crm__orders"]))
        assert raw is not None and "rows_loaded" in raw.asset_materialization.metadata
        # Every dbt test reports as its asset check, none as dagster-dbt's fallback observation.
        fallback = [
            e
            for e in instance.all_logs(event.run_id, of_type=dg.DagsterEventType.ASSET_OBSERVATION)
            if "instead of an `AssetCheckResult`"
            in (e.dagster_event.asset_observation_data.asset_observation.description or "")
        ]
        assert fallback == []
        checked = {
            e.dagster_event.event_specific_data.check_name
            for e in instance.all_logs(event.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
        }
        assert {"assert_billed_amounts_conserved", "assert_no_missing_billing_on_uncommitted_orders"} <= checked
    # Every match names the Dagster run that produced it.
    con = duckdb.connect(str(pipeline_home / "warehouse.duckdb"), read_only=True)
    try:
        stamped = {
            r[0] for r in con.execute("select distinct dagster_run_id from marts.fct_reconciliation_matches").fetchall()
        }
    finally:
        con.close()
    assert stamped == {event.run_id}
    # dbt's artifacts of the build are in this home, named after the run, never in the project.
    [run_dir] = [
        p for p in (pipeline_home / "dbt-runs").iterdir() if p.name.startswith(f"recon_dbt_assets-{event.run_id[:7]}")
    ]
    assert (run_dir / "run_results.json").exists() and (run_dir / "dbt.log").exists()
    assert not list((settings.PROJECT_DIR / "target").glob(f"recon_dbt_assets-{event.run_id[:7]}-*"))


def test_a_home_keeps_the_dbt_artifacts_of_its_last_five_builds(recon_home: Path) -> None:
    from orchestration.defs import dbt as dbt_defs

    root = recon_home / "dbt-runs"
    for age, name in enumerate(["recon_dbt_assets-newest", *(f"recon_dbt_assets-{n}" for n in range(1, 8))]):
        (root / name / "compiled").mkdir(parents=True)
        (root / name / "run_results.json").write_text("{}")
        os.utime(root / name, (1_700_000_000 - age * 60, 1_700_000_000 - age * 60))
    deleted = dbt_defs.prune_dbt_runs(keep=4)  # before a build: its own makes five
    assert sorted(p.name for p in deleted) == [f"recon_dbt_assets-{n}" for n in range(4, 8)]
    assert sorted(p.name for p in root.iterdir()) == [
        "recon_dbt_assets-1",
        "recon_dbt_assets-2",
        "recon_dbt_assets-3",
        "recon_dbt_assets-newest",
    ]
    assert dbt_defs.prune_dbt_runs(keep=4) == []


def _latest_run(instance: dg.DagsterInstance) -> tuple[dg.DagsterRun, set[str]]:
    run = instance.get_runs(limit=1)[0]
    steps = {stat.step_key for stat in instance.get_run_step_stats(run.run_id) if stat.status.value == "SUCCESS"}
    return run, steps


def _build_log(home: Path) -> list[tuple[str, str]]:
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute("select run_id, status from raw.build_log order by logged_at").fetchall()
    finally:
        con.close()


def test_a_night_with_nothing_new_ingests_and_checks_but_builds_and_publishes_nothing(
    pipeline_home: Path, first_run: dict, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from orchestration import build_inputs, publish

    # The last run's catalog may have appended pipeline events (auto-resolutions) after its
    # build: the next run folds them in. From then on nothing is new.
    for _ in range(3):
        if build_inputs.nothing_new() is not None:
            break
        assert pipeline.run_pipeline()
    published = publish.current()
    assert build_inputs.nothing_new() == published
    builds = _build_log(pipeline_home)

    # Nothing new: a quiet run of the ingestion and the raw gates only.
    assert pipeline.run_pipeline()
    assert "nothing new since publication " + published["publication"] in capsys.readouterr().out
    with dg.DagsterInstance.get() as instance:
        run, steps = _latest_run(instance)
    assert run.tags.get(build_inputs.QUIET_TAG) == "true" and steps == {"ingest_landing", "raw_quality_gates"}
    assert publish.current() == published and _build_log(pipeline_home) == builds

    # A landing file touched but not changed: the guess before the run says "maybe new", the
    # whole job runs, ingestion skips the file, and the dbt step finds the inputs unchanged.
    landed = next(p for p in (pipeline_home / "landing").rglob("*.csv") if "legacy" not in p.name)
    landed.touch()
    assert build_inputs.nothing_new() is None
    assert pipeline.run_pipeline()
    with dg.DagsterInstance.get() as instance:
        run, steps = _latest_run(instance)
    assert build_inputs.QUIET_TAG not in run.tags and "recon_dbt_assets" in steps
    assert "publication__serving_copy" not in steps and publish.current() == published
    assert _build_log(pipeline_home)[-1] == (run.run_id, "skipped")

    # The guess can be wrong the other way (a file lands between the check and the run): a
    # quiet run that loads anything goes on to the whole job, which builds and publishes.
    (landed.parent / "late_export.csv").write_text("not,the,contract\n1,2,3\n")  # rejected, and logged
    monkeypatch.setattr(build_inputs, "nothing_new", lambda: published)
    with dg.DagsterInstance.get() as instance:
        runs_before = len(instance.get_runs())
    assert pipeline.run_pipeline()
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs()
    assert len(runs) == runs_before + 2  # the quiet run, then the whole job
    assert runs[1].tags.get(build_inputs.QUIET_TAG) == "true" and build_inputs.QUIET_TAG not in runs[0].tags
    assert publish.current()["run_id"] == runs[0].run_id
    monkeypatch.undo()


def test_full_refresh_builds_anyway_and_keeps_first_sightings(pipeline_home: Path, first_run: dict) -> None:
    from orchestration import build_inputs, publish

    def first_sightings() -> tuple:
        con = duckdb.connect(str(pipeline_home / "warehouse.duckdb"), read_only=True)
        try:
            return con.execute(
                "select count(*), min(first_seen_at), max(runs_seen) from intermediate.int_exception_sightings"
            ).fetchone()
        finally:
            con.close()

    before = first_sightings()
    published = publish.current()
    assert pipeline.run_pipeline(full_refresh=True)
    assert publish.current()["publication"] != published["publication"]
    after = first_sightings()
    # --full-refresh rebuilds dbt's incremental models, except the sightings: when an
    # exception was first found is history no landing file holds.
    assert after[1] == before[1] and after[2] == before[2] + 1
    assert _build_log(pipeline_home)[-1][1] == "built"
    assert (
        build_inputs.nothing_new() is not None
        or ActionStore().head()[0] > publish.current()["build_inputs"]["last_action_seq"]
    )


def test_an_upgrade_that_changed_a_staging_model_rebuilds_it_and_status_reads_the_old_copy(
    pipeline_home: Path, first_run: dict, capsys
) -> None:
    """A home an earlier release built, run by this one (a tryout upgraded a 4 December home).

    That release staged leads without ``email_letters`` and kept no record of which version
    staged what (or another digest): the first run of this release failed in dbt, "schemas
    on this incremental model are out of sync", and every run after it; and `recon status`
    on the copy the earlier release published stopped with a traceback.
    """
    from orchestration import publish
    from orchestration.defs.dbt import staged_by_another_version

    con = duckdb.connect(str(pipeline_home / "warehouse.duckdb"))
    try:
        con.execute("alter table staging.stg_crm__leads drop column email_letters")
        con.execute("delete from raw.staged_batches where model = 'stg_crm__leads'")  # before the records
        con.execute(
            "update raw.staged_batches set project_sha256 = 'an earlier release', staging_digest = 'an earlier release'"
        )
        built = [r[0] for r in con.execute("select distinct model from raw.staged_batches").fetchall()]
        # ... and published a copy whose exception mart has another column.
        serving = publish.serving_path()
        serving.chmod(0o644)
        served = duckdb.connect(str(serving))
        served.execute("alter table marts.fct_exception_current rename amount_at_risk_reporting to value_at_risk")
        served.close()
    finally:
        con.close()

    assert cli.main(["status"]) == 0
    out = capsys.readouterr().out
    assert "marts.fct_exception_current: Binder Error" in out and "amount_at_risk_reporting" in out
    assert "next `recon run` that passes its gates publishes them again" in out
    assert "== Orders ↔ invoices ==" in out  # the rest is still shown

    (first, *_) = ActionStore().list_exceptions(team="finance")
    assert cli.main(["exceptions", "comment", first["exception_id"][:8], "--as", "alice", "--text", "upgraded"]) == 0
    assert pipeline.run_pipeline(), "the first run after the upgrade failed"
    con = duckdb.connect(str(pipeline_home / "warehouse.duckdb"), read_only=True)
    try:
        assert con.execute("select count(email_letters) from staging.stg_crm__leads").fetchone()[0] > 0
        assert staged_by_another_version(con) == []
        assert set(built) < {r[0] for r in con.execute("select model from raw.staged_batches").fetchall()}
        reason = con.execute("select reason from raw.build_log order by logged_at desc limit 1").fetchone()[0]
    finally:
        con.close()
    assert reason == "full refresh: staging was built by another version of the project"
    assert cli.main(["status"]) == 0 and "cannot read" not in capsys.readouterr().out
    assert cli.main(["audit", "verify"]) == 0


def _ahead(**delta) -> str:
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC).replace(microsecond=0) + timedelta(**delta)).isoformat()


def test_a_run_pinned_ahead_of_the_real_time_is_refused_unless_asked_for(
    recon_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A tryout: `RECON_AS_OF=2029-… recon run`, then every plain `recon run` was refused
    # ("runs move forward in time") until 2029; the only way out was a new RECON_HOME.
    import json

    from orchestration.actions import ActionError

    monkeypatch.delenv("RECON_AS_OF_AHEAD", raising=False)
    ahead = _ahead(days=400)
    monkeypatch.setenv("RECON_AS_OF", ahead)
    with pytest.raises(ActionError, match=re.escape(f"RECON_AS_OF={ahead} is ahead of the real time")):
        pipeline.run_pipeline(raise_refusals=True)
    assert json.loads((recon_home / "last_run.json").read_text())["refused"]  # `recon status` says so
    monkeypatch.setenv("RECON_AS_OF", _ahead(minutes=2))  # within clock skew, as for actions
    pipeline.check_run_settings()
    monkeypatch.setenv("RECON_AS_OF", ahead)
    monkeypatch.setenv("RECON_AS_OF_AHEAD", "allow")  # a what-if on a copy of the home, on purpose
    pipeline.check_run_settings()
    # The settings the Dagster definitions read at load time (they fall back to the defaults)
    # refuse the run, by name.
    monkeypatch.setenv("RECON_SCHEDULE_CRON", "0 2 * *")
    with pytest.raises(settings.SettingError, match="RECON_SCHEDULE_CRON"):
        pipeline.check_run_settings()


def test_a_home_published_ahead_of_the_real_time_is_told_how_to_rewind(
    recon_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from orchestration.actions import ActionError

    monkeypatch.delenv("RECON_AS_OF", raising=False)
    publications = settings.publications_dir()
    publications.mkdir(parents=True)
    current = {"publication": "20291201T000000Z-abc", "run_id": "r1", "as_of": _ahead(days=400)}
    (publications / "current.json").write_text(json.dumps(current))
    with pytest.raises(ActionError, match="ahead of the real time") as refused:
        pipeline.check_run_settings()
    assert "recon run --rewind-clock" in str(refused.value) and "20291201T000000Z-abc" in str(refused.value)
    pipeline.check_run_settings(rewind_clock=True)
    monkeypatch.setenv("RECON_AS_OF", _ahead(minutes=-60))
    with pytest.raises(ActionError, match="unset RECON_AS_OF"):
        pipeline.check_run_settings(rewind_clock=True)
    monkeypatch.delenv("RECON_AS_OF")
    current["as_of"] = _ahead(days=-1)
    (publications / "current.json").write_text(json.dumps(current))
    pipeline.check_run_settings()
    with pytest.raises(ActionError, match="nothing to rewind"):
        pipeline.check_run_settings(rewind_clock=True)


def test_rewinding_brings_what_a_run_dated_ahead_back_to_the_real_time(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    path = tmp_path / "warehouse.duckdb"
    real = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    past, ahead = real - timedelta(days=3), real + timedelta(days=400)
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema intermediate")
        con.execute("create schema snapshots")
        con.execute(
            "create table intermediate.int_exception_sightings"
            " (exception_id varchar, first_seen_at timestamptz, last_seen_at timestamptz, runs_seen int)"
        )
        con.execute("insert into intermediate.int_exception_sightings values ('a', ?, ?, 2), ('b', ?, ?, 1)",
                    [past, ahead, ahead, ahead])  # fmt: skip
        con.execute(
            "create table snapshots.snap_reconciliation_exceptions"
            " (exception_id varchar, dbt_valid_from timestamp, dbt_valid_to timestamp, dbt_updated_at timestamp)"
        )
        naive = {k: v.replace(tzinfo=None) for k, v in {"past": past, "ahead": ahead}.items()}
        con.execute("insert into snapshots.snap_reconciliation_exceptions values ('a', ?, ?, ?), ('a', ?, null, ?)",
                    [naive["past"], naive["ahead"], naive["past"], naive["ahead"], naive["ahead"]])  # fmt: skip
    finally:
        con.close()
    # The action store's catalog keeps first sightings from run to run: rewound too.
    store = ActionStore(tmp_path / "actions.sqlite", clock=lambda: ahead)
    store.refresh_catalog([{"exception_id": "a" * 32, "exception_type": "unbilled_order", "owner_team": "finance",
                            "severity": "manual_review", "sla_hours": 72, "amount_at_risk": "1.00"}])  # fmt: skip
    said = pipeline.rewind_future_dates(path, real, store)
    assert "int_exception_sightings.first_seen_at: 1" in said and "dbt_valid_from: 1" in said, said
    assert "the action store's catalog: 1" in said
    with store._connect() as sqlite:
        seen = sqlite.execute("select first_seen_at, last_seen_at from catalog_entries").fetchone()
    assert tuple(seen) == (real.isoformat(), real.isoformat())
    # Its row digests and digest were written again: `recon audit verify` finds no edit by hand.
    problems, _, _ = check_catalog(store.path, None, "test")
    assert problems == [], problems
    con = duckdb.connect(str(path), read_only=True)
    try:
        sightings = con.execute(
            "select exception_id, first_seen_at, last_seen_at from intermediate.int_exception_sightings order by 1"
        ).fetchall()
        versions = con.execute(
            "select dbt_valid_from, dbt_valid_to from snapshots.snap_reconciliation_exceptions order by 1"
        ).fetchall()
    finally:
        con.close()
    assert sightings == [("a", past, real), ("b", real, real)]
    now = real.replace(tzinfo=None)
    assert versions == [(naive["past"], now), (now, None)]
    assert "nothing dated ahead" in pipeline.rewind_future_dates(path, real, store)  # once only
