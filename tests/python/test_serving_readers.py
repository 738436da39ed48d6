"""BI readers of the published serving copy: what one that opens it read-write leaves behind.

A tiny working warehouse published with ``publish.publish`` (no dbt run): the serving copy,
its archive and a DuckDB session in another process, killed as a crashed BI tool is.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from orchestration import publish


@pytest.fixture
def warehouse(recon_home: Path) -> Path:
    path = recon_home / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    con.execute("create schema marts")
    con.execute("create table marts.fct_reconciled_orders as select range as order_no from range(10)")
    con.close()
    return path


def a_read_write_session_writes_and_is_killed(serving: Path) -> None:
    """A DuckDB session that opens the serving copy read-write (root: its mode 444 does not stop it), writes a
    table, and is killed before it closes: its write-ahead log stays beside the file."""
    code = (
        "import duckdb, sys, time\n"
        f"con = duckdb.connect({str(serving)!r})\n"
        "con.execute('create table marts.my_scratch as select 1 as x')\n"
        "print('written', flush=True)\n"
        "time.sleep(120)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "written"
    finally:
        proc.kill()
        proc.wait()
    assert Path(f"{publish.serving_path()}.wal").exists()


def readable(serving: Path) -> int:
    con = duckdb.connect(str(serving), read_only=True)
    try:
        return con.execute("select count(*) from marts.fct_reconciled_orders").fetchall()[0][0]
    finally:
        con.close()


def test_the_next_publication_is_readable_after_a_read_write_session_left_its_log(warehouse: Path) -> None:
    publish.publish(warehouse, "run00001", {})
    serving = publish.serving_path()
    a_read_write_session_writes_and_is_killed(serving)
    check = publish.verify()
    assert not check["ok"] and check["files"][str(Path(f"{publish.serving_path()}.wal"))] == "added"

    record = publish.publish(warehouse, "run00002", {})
    assert readable(serving) == 10
    assert not Path(f"{publish.serving_path()}.wal").exists()
    assert "set aside" in record["after_publication_note"]
    assert list(serving.parent.glob("serving.duckdb.wal.set-aside-*"))  # kept, not deleted
    assert publish.verify()["ok"]


def tables(serving: Path) -> set[str]:
    con = duckdb.connect(str(serving), read_only=True)
    try:
        return {t for (t,) in con.execute("select table_name from duckdb_tables()").fetchall()}
    finally:
        con.close()


def test_a_quiet_run_puts_back_a_serving_copy_a_read_write_session_changed(warehouse: Path) -> None:
    """The log holds the session's writes: readers replay it and see a table nobody published."""
    publish.publish(warehouse, "run00001", {})
    serving = publish.serving_path()
    a_read_write_session_writes_and_is_killed(serving)
    assert "my_scratch" in tables(serving)

    done = publish.restore_serving_copy()  # what a run with nothing new does first
    assert done and "restored" in done and "set aside" in done
    assert "my_scratch" not in tables(serving) and readable(serving) == 10
    assert publish.verify()["ok"]


def test_a_run_that_succeeded_exits_0_when_a_bi_session_holds_the_serving_copy(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """`recon run` exited 5 ("conflict") after a successful run: only its summary could not open the copy."""
    from orchestration import cli

    publish.publish(warehouse, "run00001", {})
    serving = publish.serving_path()
    code = f"import duckdb, time\ncon = duckdb.connect({str(serving)!r})\nprint('open', flush=True)\ntime.sleep(120)\n"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "open"
        monkeypatch.setattr(cli, "_run_pipeline", lambda **kw: True)  # a run that succeeded and published
        assert cli.main(["run"]) == 0
    finally:
        proc.kill()
        proc.wait()
    assert "the run succeeded, but its summary cannot be shown" in capsys.readouterr().err
