"""orchestration.warehouse: every connection gets UTC and the memory and spill settings."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from orchestration import warehouse


def test_writer_and_reader_share_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECON_DUCKDB_MEMORY_LIMIT", "512MB")
    monkeypatch.setenv("RECON_DUCKDB_TEMP_DIRECTORY", str(tmp_path / "spill"))
    path = tmp_path / "nested" / "w.duckdb"
    with warehouse.writing(path) as con:  # the folder is created
        con.execute("create table t as select timestamptz '2026-01-01 12:00:00+02' as seen_at")
        assert con.execute("select current_setting('TimeZone')").fetchone()[0] == "UTC"
    with warehouse.reading(path) as con:
        assert con.execute("select current_setting('TimeZone')").fetchone()[0] == "UTC"
        assert con.execute("select current_setting('memory_limit')").fetchone()[0] in ("512.0 MiB", "488.2 MiB")
        assert con.execute("select current_setting('temp_directory')").fetchone()[0] == str(tmp_path / "spill")
        assert str(con.execute("select seen_at from t").fetchone()[0]) == "2026-01-01 10:00:00+00:00"
        with pytest.raises(duckdb.Error):
            con.execute("create table u (x int)")  # a reader cannot write


def test_hardened_reader_reads_its_file_and_nothing_else(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    outside = tmp_path / "secret.csv"
    outside.write_text("a\n1\n")
    with warehouse.writing(path) as con:
        con.execute("create table t as select 1 as x")
    with warehouse.reading(path, hardened=True) as con:
        assert con.execute("select x from t").fetchone()[0] == 1
        with pytest.raises(duckdb.Error):
            con.execute("select * from read_csv(?)", [str(outside)])
        with pytest.raises(duckdb.Error):
            con.execute("set enable_external_access = true")  # locked
