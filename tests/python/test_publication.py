"""Write–audit–publish and shadow mode on one small agency, through real Dagster runs."""

from __future__ import annotations

import csv
import json
import os
import stat
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest
import yaml

from orchestration import pipeline, publish
from orchestration.lab import generate
from orchestration.rules import shadow
from orchestration.settings import PROJECT_DIR


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("publication")
    mp = pytest.MonkeyPatch()
    mp.setenv("RECON_HOME", str(home))
    mp.setenv("RECON_DUCKDB_PATH", str(home / "warehouse.duckdb"))
    mp.setenv("DAGSTER_HOME", str(home / "dagster"))
    generate.generate(home, seed=21, orders=300, file_format="csv")
    assert pipeline.run_pipeline(), "the Dagster run failed: see the log above"
    yield home
    mp.undo()


def test_a_good_run_publishes_a_read_only_serving_copy(home: Path) -> None:
    record = publish.current()
    assert record is not None and record["publication"].endswith(record["run_id"][:8])
    serving = publish.serving_path()
    assert not os.stat(serving).st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    con = duckdb.connect(str(serving), read_only=True)
    try:
        tables = {
            t for (t,) in con.execute("select table_name from duckdb_tables() where schema_name = 'marts'").fetchall()
        }
        assert {"fct_reconciled_orders", "fct_exception_current", "fct_reconciliation_matches"} <= tables
        published_run = con.execute("select distinct dagster_run_id from marts.fct_reconciled_orders").fetchall()
        info = dict(con.execute("select key, value from publication.info").fetchall())
    finally:
        con.close()
    assert published_run == [(record["run_id"],)]  # mart rows carry the run that produced them
    assert json.loads(info["rule_versions"])["orders_invoices"].startswith("orders_invoices.v")
    assert (home / "publications" / "parquet" / "fct_reconciled_orders.parquet").exists()


@contextmanager
def unwritable(directory: Path) -> Iterator[None]:
    """``directory`` refuses new entries: its mode for an ordinary user; as root, whom modes
    do not stop, the immutable attribute (skipped where the file system has none)."""
    if os.geteuid() != 0:
        mode = directory.stat().st_mode
        directory.chmod(0o555)
        try:
            yield
        finally:
            directory.chmod(mode)
        return
    done = subprocess.run(["chattr", "+i", str(directory)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot make {directory} unwritable as root here: {done.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(directory)], check=True)


def test_an_unwritable_publications_directory_fails_once_naming_it(home: Path) -> None:
    import dagster as dg

    from orchestration.definitions import defs

    good = publish.current()
    root = home / "publications"
    job = defs.resolve_job_def("recon_job")
    started = time.monotonic()
    with unwritable(root):
        result = job.execute_in_process(
            asset_selection=[dg.AssetKey(["publication", "serving_copy"])], raise_on_error=False
        )
    assert not result.success
    assert time.monotonic() - started < 9  # no retry: the first one would wait 10 s
    events = [e.event_type_value for e in result.all_events]
    assert "STEP_UP_FOR_RETRY" not in events and events.count("STEP_FAILURE") == 1
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    message = failure.event_specific_data.error.message
    assert str(root) in message and "not writable" in message and "fix its owner and permissions" in message, message
    assert "max_retries" not in message
    assert publish.current() == good  # the last good publication stays, and still verifies
    assert publish.verify()["ok"] is True


# Before the export test below: it rewrites exports, which gives them new stamps.
def test_status_trusts_the_stamp_and_still_sees_a_write_with_its_time_put_back(home: Path) -> None:
    # At 1M orders `recon status` read 3.1 GB (serving copy, archive, exports) to say "unchanged".
    from orchestration import status

    published = publish.current()
    assert set(published["stamps"]) >= {str(publish.serving_path()), published["path"]}
    quick = publish.verify(quick=True)
    assert (quick["ok"], quick["quick"]) == (True, True)
    assert any("not written since" in line for line in status.publication_lines())
    export = next(path for path in published["stamps"] if path.endswith(".parquet"))
    target = Path(export)
    before = target.stat()
    data = target.read_bytes()
    try:
        target.chmod(0o644)
        target.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # one bit, same size
        os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))  # and its time put back
        target.chmod(0o444)
        check = publish.verify(quick=True)
        assert check["files"][export] == "modified" and not check["quick"]
    finally:
        target.chmod(0o644)
        target.write_bytes(data)
        target.chmod(0o444)
    # Restored bytes under a new stamp: hashed, and found as published.
    check = publish.verify(quick=True)
    assert (check["ok"], check["quick"]) == (True, False)


def test_verify_names_a_missing_or_altered_parquet_export(home: Path, capsys: pytest.CaptureFixture) -> None:
    from orchestration import cli, status

    folder = home / "publications" / "parquet"
    gone, altered = folder / "fct_reconciled_orders.parquet", folder / "rpt_kpi_history.parquet"
    kept = {path: path.read_bytes() for path in (gone, altered)}
    scratch_con = duckdb.connect()
    rows = scratch_con.execute("select count(*) from read_parquet(?)", [str(altered)]).fetchone()[0]
    assert cli.main(["publication", "verify"]) == 0
    assert f"ok        {gone}" in capsys.readouterr().out
    try:
        gone.unlink()
        # Rewritten with a row fewer: still a valid Parquet file, not the one published.
        scratch = home / "scratch.parquet"
        scratch_con.execute(
            "copy (select * from read_parquet(?) limit ?) to ? (format parquet)", [str(altered), rows - 1, str(scratch)]
        )
        scratch_con.close()
        altered.chmod(0o644)
        os.replace(scratch, altered)
        (folder / "extra.parquet").write_bytes(kept[gone])  # a file BI tools would glob that was never published

        assert cli.main(["publication", "verify"]) == 6
        captured = capsys.readouterr()
        assert f"missing   {gone}" in captured.out
        assert f"modified  {altered} ({rows - 1:,} rows; {rows:,} published)" in captured.out
        assert f"added     {folder / 'extra.parquet'}" in captured.out
        assert "recon run --full-refresh" in captured.err
        warnings = [line for line in status.publication_lines() if "WARNING" in line]
        assert any(str(gone) in line and "missing" in line for line in warnings), warnings
        assert any(str(altered) in line and "modified" in line for line in warnings), warnings
    finally:
        (folder / "extra.parquet").unlink(missing_ok=True)
        for path, data in kept.items():
            if path.exists():
                path.chmod(0o644)
            path.write_bytes(data)
            path.chmod(0o444)
    assert cli.main(["publication", "verify"]) == 0


def test_every_parquet_export_has_its_tables_column_types(home: Path) -> None:
    """A BI tool reading parquet/ gets the serving copy's types: a HUGEINT (DuckDB's sum of a BIGINT)
    was written as DOUBLE, so row counts read as 9.0 and lose digits past 2**53."""
    record = publish.current()
    con = duckdb.connect(str(publish.serving_path()), read_only=True)
    try:
        for file, meta in record["exports"].items():
            schema, table = meta["table"].split(".")
            in_table = con.execute(f'select column_name, column_type from (describe "{schema}"."{table}")').fetchall()
            path = str(home / "publications" / "parquet" / file)
            exported = con.execute(
                "select column_name, column_type from (describe select * from read_parquet(?))", [path]
            ).fetchall()
            assert exported == in_table, (file, [(a, b) for a, b in zip(in_table, exported, strict=True) if a != b])
    finally:
        con.close()


def test_shadow_rules_report_drift_and_leave_production_alone(home: Path, tmp_path: Path) -> None:
    spec = "macros/specs/spec__orders_invoices.sql"
    candidate = tmp_path / "candidate"
    (candidate / spec).parent.mkdir(parents=True)
    text = (PROJECT_DIR / spec).read_text()
    assert "auto_match: 0.95" in text
    (candidate / spec).write_text(text.replace("auto_match: 0.95", "auto_match: 0.9999"))
    warehouse = home / "warehouse.duckdb"
    before = (warehouse.stat().st_mtime_ns, (home / "publications" / "current.json").read_text())

    report = shadow.run_shadow(candidate)

    orders_invoices = next(m for m in report["drift"]["matches"] if m["reconciliation"] == "orders_invoices")
    assert orders_invoices["lost"] > 0 and orders_invoices["gained"] == 0
    added = {e["exception_type"]: e["added"] for e in report["drift"]["exceptions"]}
    assert added.get("match_needs_review", 0) == orders_invoices["lost"]  # each lost match now awaits review
    assert report["candidate_rules_hash"] != report["production_rules_hash"]
    assert (warehouse.stat().st_mtime_ns, (home / "publications" / "current.json").read_text()) == before
    history = (home / "shadow" / "history.jsonl").read_text().splitlines()
    assert json.loads(history[-1])["matches_lost"] == orders_invoices["lost"]
    assert "| orders_invoices |" in Path(report["report_path"]).read_text()


def test_shadow_refuses_files_that_are_not_rules(home: Path, tmp_path: Path) -> None:
    candidate = tmp_path / "candidate"
    (candidate / "models").mkdir(parents=True)
    (candidate / "models" / "evil.sql").write_text("select 1")
    with pytest.raises(shadow.ShadowError, match="only rule files can be shadowed"):
        shadow.run_shadow(candidate)
    with pytest.raises(shadow.ShadowError, match="no such directory"):
        shadow.run_shadow(tmp_path / "missing")
    with pytest.raises(shadow.ShadowError, match="is a file"):
        shadow.run_shadow(candidate / "models" / "evil.sql")


def test_a_shadow_refused_by_the_lock_leaves_nothing_behind(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = "macros/specs/spec__orders_invoices.sql"
    candidate = tmp_path / "candidate"
    (candidate / spec).parent.mkdir(parents=True)
    (candidate / spec).write_text((PROJECT_DIR / spec).read_text())
    before = sorted(p.name for p in (home / "shadow").iterdir()) if (home / "shadow").exists() else []

    class Busy(Exception):
        pass

    def refuse(holder: str):
        raise Busy(holder)

    monkeypatch.setattr(shadow, "warehouse_lock", refuse)
    with pytest.raises(Busy):
        shadow.run_shadow(candidate)
    assert sorted(p.name for p in (home / "shadow").iterdir() if not p.name.endswith(".jsonl")) == [
        n for n in before if not n.endswith(".jsonl")
    ]


def test_a_volume_spike_blocks_the_publication_and_the_last_good_one_stays(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # One earlier run is history enough here (the shipped config asks for five).
    config = yaml.safe_load((PROJECT_DIR / "config" / "quality.yml").read_text())
    config["spikes"]["min_history_runs"] = 1
    (tmp_path / "quality.yml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("RECON_QUALITY_CONFIG", str(tmp_path / "quality.yml"))
    good = publish.current()
    # A CRM export ten times the usual size: valid rows, new ids.
    orders = home / "landing" / "crm" / "orders"
    with open(orders / "orders_00000.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        header, rows = reader.fieldnames, list(reader)
    with open(orders / "orders_bulk_resend.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=header)
        writer.writeheader()
        for copy in range(10):
            for row in rows:
                writer.writerow({**row, "order_id": f"SO-9{copy}{row['order_id'][3:]}"})

    capsys.readouterr()
    assert pipeline.run_pipeline() is False  # the run reports the blocked publication

    # The terminal says it once, in words: which check, why, what stays published. A tryout
    # found Dagster's stack trace twice and a line per step not run before that summary.
    said = capsys.readouterr()
    terminal = said.out + said.err
    assert "check failed (error): raw_crm/crm__orders volume_spike" in terminal
    assert "not published: the last good publication stays" in terminal
    assert "stopped the run: a blocking check failed (above)" in terminal
    for noise in ("Stack Trace", "Traceback", "Dependencies for step", "STEP_FAILURE", "last lines of the dbt log"):
        assert noise not in terminal, noise

    assert publish.current() == good  # the last good publication stays, readable
    con = duckdb.connect(str(publish.serving_path()), read_only=True)
    try:
        assert con.execute("select distinct dagster_run_id from marts.fct_reconciled_orders").fetchall() == [
            (good["run_id"],)
        ]
    finally:
        con.close()
    reports = sorted((home / "quality" / "history").glob("*.json"), key=lambda p: p.stat().st_mtime)
    report = json.loads(reports[-1].read_text())
    spike = next(c for c in report["checks"] if c["name"] == "volume_spike" and c["asset"] == "raw_crm/crm__orders")
    assert not spike["passed"] and spike["severity"] == "error"
    assert not report["passed"]


def test_older_shadow_runs_keep_their_reports_and_lose_their_bulk(tmp_path: Path) -> None:
    root = tmp_path / "shadow"
    names = [f"2026120{i}T000000Z-abcdef0{i}" for i in range(1, 6)]
    for name in names:
        (root / name / "project").mkdir(parents=True)
        (root / name / "shadow.duckdb").write_text("x")
        (root / name / "drift.md").write_text("report")
    shadow._prune_shadows(root, keep=names[-1])
    bulky = [n for n in names if (root / n / "shadow.duckdb").exists() or (root / n / "project").exists()]
    assert bulky == names[-shadow.KEEP_WAREHOUSES :]
    assert all((root / n / "drift.md").read_text() == "report" for n in names)


def test_a_damaged_publication_folder_is_repaired_or_named_never_silently_lost(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from orchestration import cli, settings
    from orchestration.actions import ActionError

    root = settings.publications_dir()
    before = publish.current()
    # A backdated business clock would publish negative ages and a KPI trend running backwards.
    monkeypatch.setenv("RECON_AS_OF", "2026-01-01T00:00:00Z")
    with pytest.raises(ActionError, match="earlier than that of the last publication"):
        pipeline.run_pipeline(raise_refusals=True)
    monkeypatch.delenv("RECON_AS_OF")
    assert publish.current() == before

    # The serving copy deleted: readers are told it comes back, and a run (before anything
    # else, under its lock: a quiet night publishes nothing) puts it back from the archive.
    serving = publish.serving_path()
    serving.chmod(0o644)
    serving.unlink()
    assert cli.main(["status"]) == 4
    assert "the next `recon run` puts it back" in capsys.readouterr().err
    assert "restored the serving copy" in publish.restore_serving_copy()
    assert publish.sha256_of(serving) == before["sha256"] and publish.restore_serving_copy() is None
    # Stamped anew: status does not hash it again (the exports an earlier test rewrote may be).
    assert publish.current()["stamps"][str(serving)] == publish.stamp_of(serving)
    serving.chmod(0o644)
    with open(serving, "r+b") as fh:  # truncated
        fh.truncate(100_000)
    assert "restored the serving copy" in publish.restore_serving_copy()
    assert publish.sha256_of(serving) == before["sha256"]

    # What a publication killed on a full disk leaves (its file and its write-ahead log) is
    # cleared by the next one; the archive it carries the KPI trend from gone, the trend comes
    # from the serving copy, and the record says so.
    (root / ".19990101T000000Z-deadbeef.building.duckdb.wal").write_bytes(b"\0" * 1024)
    archive = Path(before["path"])
    archive.chmod(0o644)
    archive.unlink()
    trend = duckdb.connect(str(publish.serving_path()), read_only=True)
    try:
        carried = trend.execute("select count(*) from marts.rpt_kpi_history").fetchone()[0]
    finally:
        trend.close()
    record = publish.publish(settings.warehouse_path(), "repairrun-0001", {})
    assert not list(root.glob(".*.building.duckdb*"))
    assert "carried from the serving copy" in record["kpi_history_note"]
    con = duckdb.connect(str(publish.serving_path()), read_only=True)
    try:
        rows, publications = con.execute(
            "select count(*), count(distinct publication) from marts.rpt_kpi_history"
        ).fetchone()
    finally:
        con.close()
    assert carried > 0 and rows > carried and publications >= 2


def test_a_runs_terminal_leaves_out_only_the_failures_its_summary_repeats() -> None:
    import io

    terminal = io.StringIO()
    errors = pipeline.SummarisedErrors(terminal)
    kept = [
        "2026 - dagster - WARNING - recon_job - r - ingest_landing - a.csv: rejected, nothing loaded\n",
        "2026 - dagster - ERROR - recon_job - r - 1 - ingest_landing - STEP_FAILURE - Execution of step failed.\n"
        "\nKeyError: 'x'\n\nStack Trace:\n  File ...\n",
    ]
    dropped = [
        "2026 - dagster - ERROR - recon_job - r - 1 - raw_quality_gates - STEP_FAILURE - Execution failed.\n"
        "\ndagster._core.errors.DagsterAssetCheckFailedError: 1 blocking asset check failed\n\nStack Trace:\n",
        "2026 - dagster - ERROR - recon_job - r - recon_dbt_assets - Dependencies for step recon_dbt_assets failed\n",
        "2026 - dagster - ERROR - recon_job - r - 1 - RUN_FAILURE - Execution of run failed.\n"
        "\ndagster._core.errors.DagsterAssetCheckFailedError: 1 blocking asset check failed\n",
    ]
    for text in kept + dropped:
        assert errors.write(text) == len(text)
    assert terminal.getvalue() == "".join(kept)  # a step's own exception keeps its trace
