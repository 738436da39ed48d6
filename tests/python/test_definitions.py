"""The Dagster code location loads offline and shows the whole graph."""

from __future__ import annotations

import time

import dagster as dg

from orchestration import contract


def test_definitions_load_with_raw_dbt_assets_checks_and_job(recon_home) -> None:
    started = time.monotonic()
    from orchestration import definitions

    repo = definitions.defs.get_repository_def()
    keys = set(repo.asset_graph.get_all_asset_keys())
    for ent in contract.ENTITIES:
        assert dg.AssetKey([f"raw_{ent.source}", ent.table]) in keys
    # dbt assets are keyed by schema and name, as BI users see them in the warehouse.
    for key in (
        ["staging", "stg_crm__orders"],
        ["marts", "fct_reconciled_orders"],
        ["marts", "fct_order_invoice_matches"],
        ["reference", "fx_rates"],
    ):
        assert dg.AssetKey(key) in keys, key
    check_keys = {ck.name for ck in repo.asset_graph.asset_check_keys}
    assert "unique_stg_crm__orders_order_id" in check_keys  # dbt tests are asset checks
    job = definitions.defs.resolve_job_def("recon_job")
    assert job.executor_def is dg.in_process_executor
    assert time.monotonic() - started < 60


def test_translator_groups_by_folder_and_owner_from_meta() -> None:
    from orchestration.defs.dbt import ReconDbtTranslator

    translator = ReconDbtTranslator()
    model = {
        "resource_type": "model",
        "fqn": ["recon", "marts", "reconciliation", "fct_x"],
        "meta": {"owner": "finance"},
    }
    assert translator.get_group_name(model) == "marts"
    assert translator.get_owners(model) == ["team:finance"]
    assert translator.get_group_name({"resource_type": "seed", "fqn": ["recon", "fx_rates"]}) == "reference"
    assert translator.get_owners({"resource_type": "model", "fqn": ["recon", "staging", "x"]}) is None


def test_dbt_step_builds_everything_but_unit_tests() -> None:
    from orchestration.defs.dbt import dbt_build_args

    # Unit tests run once in `make test` (test_pipeline.py), not in every run.
    assert dbt_build_args() == ["build", "--exclude-resource-type", "unit_test"]


def test_environment_puts_dbt_on_path_for_dagster_dev(recon_home, monkeypatch) -> None:
    # `recon dev` runs from .venv/bin without an activated venv; dagster-dbt then looks
    # dbt up on PATH when it prepares the project.
    import shutil
    import sys
    from pathlib import Path

    from orchestration import settings

    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert shutil.which("dbt") is None or "/.venv/" not in shutil.which("dbt")
    settings.apply_environment()
    found = shutil.which("dbt")
    assert found is not None and found.startswith(str(Path(sys.executable).parent))


def code_location_lines() -> list[str]:
    """The graph as text: every asset with its group and upstream keys, every check, the automation."""
    from orchestration.definitions import defs

    repo = defs.get_repository_def()
    graph = repo.asset_graph
    lines = []
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        deps = ",".join(sorted(p.to_user_string() for p in node.parent_keys))
        lines.append(f"asset {key.to_user_string()} group={node.group_name} deps=[{deps}]")
    for check in sorted(graph.asset_check_keys, key=lambda c: (c.asset_key.to_user_string(), c.name)):
        lines.append(f"check {check.asset_key.to_user_string()}:{check.name}")
    lines.append("jobs " + ",".join(sorted(j.name for j in repo.get_all_jobs())))
    lines.append("schedules " + ",".join(sorted(s.name for s in repo.schedule_defs)))
    lines.append("sensors " + ",".join(sorted(s.name for s in repo.sensor_defs)))
    return lines


def test_code_location_matches_its_snapshot(recon_home) -> None:
    # A model, test, check or dependency added or lost shows up here as a diff to review.
    # After an intended change: RECON_UPDATE_SNAPSHOTS=1 pytest tests/python/test_definitions.py
    import os
    from pathlib import Path

    snapshot = Path(__file__).parent / "snapshots" / "code_location.txt"
    lines = code_location_lines()
    if os.environ.get("RECON_UPDATE_SNAPSHOTS") == "1":
        snapshot.write_text("\n".join(lines) + "\n")
    expected = snapshot.read_text().splitlines()
    missing = sorted(set(expected) - set(lines))
    extra = sorted(set(lines) - set(expected))
    assert not missing and not extra, f"not in the code location: {missing[:20]}; new: {extra[:20]}"
    assert lines == expected


def test_loading_the_code_location_writes_nothing_and_runs_no_git(tmp_path) -> None:
    # dagster dev, the daemon and every run load this module: no dagster.yaml, no state
    # directory, no dbt parse and no git call at import (entry points prepare those), and
    # nothing of the lab (generators, evaluators).
    import os
    import subprocess
    import sys
    from pathlib import Path

    from orchestration import settings

    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    marker = tmp_path / "git-was-called"
    (fake_bin / "git").write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    (fake_bin / "git").chmod(0o755)
    home = tmp_path / "home"
    manifest = settings.PROJECT_DIR / "target" / "manifest.json"
    before = manifest.stat().st_mtime_ns
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RECON_", "DAGSTER_"))}
    env.update(RECON_HOME=str(home), PATH=f"{fake_bin}{os.pathsep}{env.get('PATH', '')}")
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from orchestration.definitions import defs; defs.get_repository_def(); "
            "lab = [m for m in sys.modules if m.startswith('orchestration.lab')]; "
            "assert not lab, f'a run loads the lab: {lab}'",
        ],
        env=env,
        cwd=tmp_path,
        check=True,
        timeout=120,
    )
    assert not home.exists(), sorted(str(p) for p in home.rglob("*"))
    assert not marker.exists(), "loading the definitions ran git"
    assert manifest.stat().st_mtime_ns == before, "loading the definitions re-parsed the dbt project"
    assert Path(tmp_path / "dagster.yaml").exists() is False


def test_marts_are_terminal() -> None:
    # Intermediate models do the work and marts only publish: no model or snapshot outside
    # models/marts reads a mart (data tests and exposures may).
    import json

    from orchestration import pipeline

    manifest = json.loads(pipeline.prepare().read_text())
    nodes = manifest["nodes"]
    marts = {
        uid
        for uid, n in nodes.items()
        if n["resource_type"] == "model" and n["original_file_path"].startswith("models/marts/")
    }
    offenders = sorted(
        f"{n['original_file_path']} reads {nodes[dep]['name']}"
        for n in nodes.values()
        if n["resource_type"] in ("model", "snapshot") and not n["original_file_path"].startswith("models/marts/")
        for dep in n["depends_on"]["nodes"]
        if dep in marts
    )
    assert marts and offenders == []


def test_a_reparse_never_shows_a_reader_half_a_manifest() -> None:
    """Runs in other homes read target/manifest.json without prepare's lock: it is swapped in whole."""
    import json
    import os
    import threading

    from orchestration import pipeline, settings

    manifest = pipeline.prepare()
    project_file = settings.PROJECT_DIR / "dbt_project.yml"
    stamp = project_file.stat()
    reads: list[str] = []
    done = threading.Event()

    def read_until_done() -> None:
        while not done.is_set():
            try:
                json.loads(manifest.read_bytes())
                reads.append("whole")
            except (ValueError, FileNotFoundError) as exc:
                reads.append(f"{type(exc).__name__}: {exc}"[:120])

    reader = threading.Thread(target=read_until_done)
    reader.start()
    try:
        # A project file newer than the manifest: prepare(force=True) parses again.
        os.utime(project_file, ns=(stamp.st_atime_ns, time.time_ns() + 10**9))
        before = manifest.stat().st_mtime_ns
        pipeline.prepare(force=True)
        assert manifest.stat().st_mtime_ns != before, "the project was not parsed again"
    finally:
        done.set()
        reader.join()
        os.utime(project_file, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert reads and set(reads) == {"whole"}, [r for r in reads if r != "whole"][:3]


def test_every_dbt_test_is_an_asset_check_of_the_dbt_assets() -> None:
    """A review: two singular tests named fct_reconciliation_exceptions in meta.dagster.ref
    without reading it. dagster-dbt makes a check only on a parent of the test, so they had
    none, and every build logged "Logging an AssetObservation instead of an AssetCheckResult"
    for them (a test's result goes to a check only when its key is among the run's checks)."""
    import json

    from dagster_dbt.asset_utils import get_asset_check_key_for_test

    from orchestration.defs.dbt import ReconDbtTranslator, recon_dbt_assets
    from orchestration.defs.resources import dbt_project

    project = dbt_project()
    manifest = json.loads(project.manifest_path.read_text())
    tests = [uid for uid, node in manifest["nodes"].items() if node["resource_type"] == "test"]
    keys = {uid: get_asset_check_key_for_test(manifest, ReconDbtTranslator(), uid, project=project) for uid in tests}
    assert {uid for uid, key in keys.items() if key not in recon_dbt_assets.check_keys} == set()
    for name in ("assert_billed_amounts_conserved", "assert_no_missing_billing_on_uncommitted_orders"):
        key = keys[f"test.recon.{name}"]
        assert key.asset_key == dg.AssetKey(["intermediate", "int_exception_breaks"])


def test_definitions_load_whatever_the_quality_config_says(tmp_path) -> None:
    # A quality.yml typo raised QualityConfigError while the definitions loaded: under `make dev`
    # the schedule, the landing sensor and the failure alerts all stopped, and nothing said so.
    # Now they load; every quality check is declared blocking and the run is refused at its
    # first step, naming the file and key (test_alerts.py: a daemon run with a config mistake).
    import os
    import subprocess
    import sys

    bad = tmp_path / "quality.yml"
    bad.write_text("raw:\n  severty: error\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RECON_", "DAGSTER_"))}
    # Two environment typos read at load time too: a cron with four fields, an interval below 5 s.
    env.update(
        RECON_HOME=str(tmp_path / "home"),
        RECON_QUALITY_CONFIG=str(bad),
        RECON_SCHEDULE_CRON="0 2 * *",
        RECON_SENSOR_INTERVAL_SECONDS="1",
    )
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "from orchestration.definitions import defs; from orchestration.defs import quality_gates as q; "
            "repo = defs.get_repository_def(); "
            "print(sorted(s.name + ' ' + s.cron_schedule for s in repo.schedule_defs)); "
            "print(sorted(s.name for s in repo.sensor_defs)); "
            "print(q.QUALITY_CONFIG_ERROR); print({s.severity for s in q.QUALITY_SPECS}, len(q.QUALITY_SPECS))",
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    schedules, sensors, error, severities = out.stdout.splitlines()[-4:]
    assert "recon_nightly 0 2 * * *" in schedules  # the default; the run names the variable
    assert "landing_sensor" in sensors and "alert_after_failure" in sensors
    assert str(bad) in error and "severty" in error
    assert severities.startswith("{'error'}")
