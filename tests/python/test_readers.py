"""Readers never touch the working warehouse, `recon query` only reads, and publications
are tamper-evident and survive a killed publish. Real DuckDB files, real processes."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from orchestration import cli, ingest, publish, status, warehouse
from orchestration.lab import generate
from orchestration.lock import WarehouseBusy, warehouse_lock
from orchestration.settings import PROJECT_DIR

T0 = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)


def _working_warehouse(home: Path) -> Path:
    """A working warehouse as a run leaves it: ingested raw layer, one mart."""
    generate.generate(home, seed=5, orders=40, file_format="csv")
    warehouse = home / "warehouse.duckdb"
    ingest.ingest_landing(home / "landing", warehouse)
    con = duckdb.connect(str(warehouse))
    try:
        con.execute("create schema marts")
        con.execute("create table marts.rpt_example as select 'SO-1' as order_id, 12.50::decimal(18, 2) as amount")
    finally:
        con.close()
    return warehouse


@pytest.fixture
def published(recon_home: Path) -> Path:
    warehouse = _working_warehouse(recon_home)
    publish.publish(warehouse, "run00001-aaaa", {}, now=T0)
    return warehouse


def _run_main(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _holder_process(code: str, home: Path) -> subprocess.Popen:
    """Another process running ``code``; it prints "ready" when it holds what it opens."""
    env = {**os.environ, "RECON_HOME": str(home), "RECON_DUCKDB_PATH": str(home / "warehouse.duckdb")}
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=PROJECT_DIR, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "ready"
    return proc


# ------------------------------------------------------------------ recon query only reads

FORBIDDEN = [
    ("copy marts.rpt_example to '{out}'", "COPY"),
    ("export database '{out}'", "EXPORT"),
    ("install httpfs", "LOAD"),
    ("load httpfs", "LOAD"),
    ("set enable_external_access = true", "SET"),
    ("attach '{out}' as other", "ATTACH"),
    ("create table marts.x as select 1", "CREATE"),
    ("select 1; copy marts.rpt_example to '{out}'", "one statement at a time"),
    # A tryout got a bare "MULTI statement" refusal for a PIVOT.
    ("pivot marts.rpt_example on order_id using sum(amount)", "name them and it is one read"),
]


@pytest.mark.parametrize(("sql", "why"), FORBIDDEN)
def test_query_refuses_statements_that_are_not_reads(
    published: Path, tmp_path: Path, capsys: pytest.CaptureFixture, sql: str, why: str
) -> None:
    out = tmp_path / "exfiltrated"
    code, stdout, err = _run_main(capsys, "query", sql.format(out=out))
    assert code == status.EXIT_REFUSED
    assert why in err and "refused" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_a_pivot_that_names_its_values_is_a_read(published: Path, capsys: pytest.CaptureFixture) -> None:
    code, stdout, err = _run_main(
        capsys, "query", "pivot marts.rpt_example on order_id in ('SO-1', 'SO-2') using sum(amount)"
    )
    assert code == 0, err
    assert stdout.splitlines()[0].split() == ["SO-1", "SO-2"] and "12.50" in stdout


def test_query_cannot_read_other_files_even_in_a_select(published: Path, capsys: pytest.CaptureFixture) -> None:
    code, stdout, err = _run_main(capsys, "query", "select * from read_csv('/etc/passwd')")
    assert code == status.EXIT_SQL_ERROR
    assert "disabled by configuration" in err and "root" not in stdout
    code, _, err = _run_main(capsys, "query", "select * from glob('/etc/*')")
    assert code == status.EXIT_SQL_ERROR and "disabled by configuration" in err


def test_a_reader_connection_cannot_be_reconfigured(published: Path, tmp_path: Path) -> None:
    con = status.hardened_connect(publish.serving_path())
    try:
        for setting in (
            "enable_external_access = true",
            "autoload_known_extensions = true",
            "lock_configuration = false",
        ):
            with pytest.raises(duckdb.InvalidInputException, match="configuration has been locked"):
                con.execute(f"set {setting}")
        # Past the statement check too (a Python caller): the connection itself refuses files.
        with pytest.raises(duckdb.PermissionException):
            con.execute("copy marts.rpt_example to ?", [str(tmp_path / "x.csv")])
        assert con.execute("select current_setting('TimeZone')").fetchone() == ("UTC",)
    finally:
        con.close()
    assert not (tmp_path / "x.csv").exists()


def test_query_reads_and_sql_errors_are_one_line_without_traceback(published: Path) -> None:
    env = {**os.environ}
    recon = [sys.executable, "-m", "orchestration.cli"]
    ok = subprocess.run([*recon, "query", "select order_id, amount from marts.rpt_example"], env=env,
                        cwd=PROJECT_DIR, capture_output=True, text=True)  # fmt: skip
    assert ok.returncode == 0 and "SO-1" in ok.stdout and "12.50" in ok.stdout
    for sql in ("select * from marts.nope", "selec 1", "copy marts.rpt_example to '/tmp/recon-x.csv'"):
        done = subprocess.run([*recon, "query", sql], env=env, cwd=PROJECT_DIR, capture_output=True, text=True)
        assert done.returncode != 0
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    for sql in ("describe marts.rpt_example", "pragma table_info('marts.rpt_example')", "summarize marts.rpt_example"):
        done = subprocess.run([*recon, "query", sql], env=env, cwd=PROJECT_DIR, capture_output=True, text=True)
        assert done.returncode == 0 and "amount" in done.stdout, done.stderr


# ------------------------------------------------------------------ readers use the serving copy


def test_status_and_query_read_the_serving_copy_while_a_run_holds_the_warehouse(
    published: Path, capsys: pytest.CaptureFixture
) -> None:
    # A run has the working warehouse open for writing (DuckDB's file lock) ...
    writer = _holder_process(
        """
        import os, sys, time, duckdb
        con = duckdb.connect(os.environ["RECON_DUCKDB_PATH"])
        print("ready", flush=True)
        time.sleep(60)
        """,
        published.parent,
    )
    try:
        code, out, err = _run_main(capsys, "status")
        assert code == 0, err
        assert f"reading the published serving copy {publish.serving_path()}" in out
        assert f"for BI tools (open read-only): {publish.serving_path()}" in out
        assert "unchanged since publication" in out
        assert "crm" in out and "orders" in out  # the ingestion log is published with the marts
        code, out, err = _run_main(capsys, "query", "select count(*) as n from raw.ingestion_log")
        assert code == 0 and int(out.splitlines()[1]) > 0, err
    finally:
        writer.kill()
        writer.wait()


def test_a_reader_does_not_keep_a_run_from_opening_the_warehouse(published: Path) -> None:
    with status.reader(False, "recon status") as (source, con):
        assert source.path == publish.serving_path() and not source.working
        assert con.execute("select count(*) from marts.rpt_example").fetchone() == (1,)
        # Meanwhile a run opens the working warehouse read-write, in another process.
        done = subprocess.run(
            [sys.executable, "-c", "import duckdb, sys; duckdb.connect(sys.argv[1]).close()", str(published)],
            capture_output=True, text=True,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr


def test_nothing_published_is_said_plainly(recon_home: Path, capsys: pytest.CaptureFixture) -> None:
    _working_warehouse(recon_home)
    for argv in (["status"], ["query", "select 1"]):
        code, out, err = _run_main(capsys, *argv)
        assert code == status.EXIT_NOT_FOUND and "nothing is published yet" in err and not out
    code, out, err = _run_main(capsys, "query", "select count(*) from marts.rpt_example", "--working")
    assert code == 0 and out.splitlines()[1].strip() == "1" and "working warehouse" in err


def _take_lock(home: str, holder: str, queue) -> None:
    os.environ["RECON_HOME"] = home
    try:
        with warehouse_lock(holder, wait_seconds=0):
            queue.put("got it")
    except WarehouseBusy as exc:
        queue.put(str(exc))


def test_working_reads_are_refused_during_a_run_and_block_runs_cleanly(
    published: Path, capsys: pytest.CaptureFixture
) -> None:
    home = published.parent
    run = _holder_process(
        """
        from orchestration.lock import warehouse_lock
        import time
        with warehouse_lock("dagster run 1234abcd"):
            print("ready", flush=True)
            time.sleep(60)
        """,
        home,
    )
    try:
        code, out, err = _run_main(capsys, "status", "--working")
        assert code == status.EXIT_BUSY and "dagster run 1234abcd" in err and f"pid {run.pid}" in err
        assert len(err.strip().splitlines()) == 1 and not out
    finally:
        run.kill()
        run.wait()
    # A --working read holds the lock: a run that starts meanwhile is refused at once, naming it.
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    with status.reader(True, "recon query") as (source, con):
        assert source.working and source.path == published
        proc = ctx.Process(target=_take_lock, args=(str(home), "recon run", queue))
        proc.start()
        message = queue.get(timeout=60)
        proc.join(30)
    assert "recon query --working" in message and "recon run did not start" in message


def test_a_run_blocked_by_duckdbs_file_lock_names_the_process(published: Path) -> None:
    # A BI tool (any process outside recon) has the working warehouse open.
    bi_tool = _holder_process(
        """
        # bi-tool-dashboard
        import os, time, duckdb
        con = duckdb.connect(os.environ["RECON_DUCKDB_PATH"], read_only=True)
        print("ready", flush=True)
        time.sleep(60)
        """,
        published.parent,
    )
    try:
        with pytest.raises(WarehouseBusy) as caught:
            warehouse.open_writer(published)
    finally:
        bi_tool.kill()
        bi_tool.wait()
    message = str(caught.value)
    assert f"process {bi_tool.pid}" in message and "bi-tool-dashboard" in message  # its command line
    assert str(publish.serving_path()) in message and "Could not set lock" not in message


# ------------------------------------------------------------------ tamper-evident publication


def test_changing_the_serving_copy_leaves_the_archive_intact_and_is_detected(
    published: Path, capsys: pytest.CaptureFixture
) -> None:
    record = publish.current()
    serving, archive = publish.serving_path(), Path(record["path"])
    assert record["sha256"] == publish.sha256_of(serving) == publish.sha256_of(archive)
    assert os.stat(serving).st_ino != os.stat(archive).st_ino and os.stat(serving).st_nlink == 1
    assert not os.stat(serving).st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    assert _run_main(capsys, "publication", "verify")[0] == 0

    # The owner can always make the file writable and open it read-write.
    serving.chmod(stat.S_IRUSR | stat.S_IWUSR)
    con = duckdb.connect(str(serving))
    con.execute("update marts.rpt_example set amount = 0")
    con.close()

    archived = duckdb.connect(str(archive), read_only=True)
    try:
        assert archived.execute("select amount from marts.rpt_example").fetchone()[0] == 12.5
    finally:
        archived.close()
    assert publish.sha256_of(archive) == record["sha256"]
    check = publish.verify()
    changed = {path: state for path, state in check["files"].items() if state != "ok"}
    assert check["ok"] is False and changed == {str(serving): "modified"} and check["files"][str(archive)] == "ok"
    code, out, err = _run_main(capsys, "publication", "verify")
    assert code == 6 and f"modified  {serving}" in out
    assert "do not report from it" in err and "recon run" in err  # and what to do
    code, out, _ = _run_main(capsys, "status")
    assert code == 0 and f"WARNING: {serving} is modified since publication" in out


# ------------------------------------------------------------------ a killed publish


KILLED_PUBLISH = """
import os, signal, sys
from datetime import datetime
from pathlib import Path
from orchestration import publish

class KillWhileRecording:
    # publish() serialises details into the new file last: die there, as kill -9 would.
    def __str__(self):
        os.kill(os.getpid(), signal.SIGKILL)

print("ready", flush=True)
publish.publish(Path(sys.argv[1]), "killed00-run", {"x": KillWhileRecording()}, now=datetime.fromisoformat(sys.argv[2]))
"""


def test_pruning_counts_only_complete_publications_after_a_killed_publish(published: Path) -> None:
    root = publish.publications_dir()
    for day in range(1, publish.KEEP):  # KEEP complete publications in all, T0 included
        publish.publish(published, f"run{day:05d}-good", {}, now=T0 + timedelta(days=day))
    good = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name[:8].isdigit())
    assert len(good) == publish.KEEP
    before = publish.current()

    killed_at = T0 + timedelta(days=publish.KEEP)
    env = {**os.environ}
    done = subprocess.run(
        [sys.executable, "-c", KILLED_PUBLISH, str(published), killed_at.isoformat()],
        env=env, cwd=PROJECT_DIR, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == -signal.SIGKILL, done.stderr
    # What kill -9 leaves: a .building file and a directory with Parquet but no marker.
    killed = f"{killed_at.strftime('%Y%m%dT%H%M%SZ')}-killed00"
    assert list(root.glob(f".{killed}.building.duckdb*"))
    assert any((root / killed / "parquet").iterdir()) and not (root / killed / "warehouse.duckdb").exists()
    assert publish.current() == before  # readers still see the last good publication

    latest = publish.publish(published, "run99999-next", {}, now=killed_at + timedelta(days=1))

    kept = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name[:8].isdigit())
    assert kept == good[1:] + [latest["publication"]]  # the oldest good one goes, the broken one is gone
    assert all((root / name / publish.MARKER).exists() for name in kept)
    assert not list(root.glob(".*.building.duckdb*"))
    assert _verify_ok()


def test_a_broken_publication_never_displaces_a_good_one(published: Path) -> None:
    root = publish.publications_dir()
    # Half-built leftovers newer than every good publication, as a killed publish leaves them.
    for day in (3, 4, 5, 6, 7, 8):
        name = f"{(T0 + timedelta(days=day)).strftime('%Y%m%dT%H%M%SZ')}-broken{day:02d}"
        (root / name / "parquet").mkdir(parents=True)
        (root / name / "parquet" / "rpt_example.parquet").write_bytes(b"PAR1")
        (root / f".{name}.building.duckdb").write_bytes(b"partial")
    publish.publish(published, "run00002-good", {}, now=T0 + timedelta(days=1))
    kept = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name[:8].isdigit())
    assert kept == [f"{(T0 + timedelta(days=d)).strftime('%Y%m%dT%H%M%SZ')}-run0000{d + 1}" for d in (0, 1)]
    assert not list(root.glob(".*.building.duckdb*"))


def _verify_ok() -> bool:
    check = publish.verify()
    return bool(check["ok"]) and set(check["files"].values()) == {"ok"}


def test_publications_made_before_markers_still_count(published: Path) -> None:
    root = publish.publications_dir()
    first = publish.current()["publication"]
    (root / first / publish.MARKER).unlink()  # as the previous code left it: listed in history.jsonl
    assert json.loads((root / "history.jsonl").read_text().splitlines()[0])["publication"] == first
    publish.publish(published, "run00002-good", {}, now=T0 + timedelta(days=1))
    assert (root / first / "warehouse.duckdb").exists()


@pytest.mark.parametrize("argv", [["trace", "SO-1"], ["quality"], ["train"], ["ingest"], ["evaluate"]])
def test_commands_that_need_the_working_warehouse_are_refused_during_a_run(
    recon_home: Path, capsys: pytest.CaptureFixture, argv: list[str]
) -> None:
    run = _holder_process(
        """
        from orchestration.lock import warehouse_lock
        import time
        with warehouse_lock("dagster run 5678efgh"):
            print("ready", flush=True)
            time.sleep(60)
        """,
        recon_home,
    )
    try:
        code, _, err = _run_main(capsys, *argv)
    finally:
        run.kill()
        run.wait()
    assert code == 5 and "dagster run 5678efgh" in err and "Traceback" not in err
    assert not (recon_home / "warehouse.duckdb").exists()


def test_a_history_file_that_cannot_be_written_after_the_switch_is_said_not_called_unpublished(
    published: Path,
) -> None:
    # A review: a history.jsonl left unwritable (an earlier `sudo recon run`) failed the step
    # after the switch with "nothing was published", naming the new publication "the last good".
    history = publish.publications_dir() / "history.jsonl"
    history.unlink()
    history.mkdir()  # cannot be appended to, whoever runs this
    try:
        record = publish.publish(published, "run00002-bbbb", {}, now=T0 + timedelta(hours=1))
    finally:
        history.rmdir()
    assert publish.current()["publication"] == record["publication"] and record["run_id"] == "run00002-bbbb"
    assert record["after_publication_note"].startswith(f"published {record['publication']}, but {history}")
    assert publish.verify()["ok"] is True
