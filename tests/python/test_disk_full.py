"""A full disk ends in a clear message, not a traceback, and nothing half-done is kept.

The warehouse lives on a small tmpfs (skipped where mounting is not allowed): ingestion runs
out of space part-way, then the disk grows and the same command finishes the job with
every file either loaded whole or not at all.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from orchestration.lab import generate


@pytest.fixture
def small_disk(tmp_path: Path):
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_ingest_on_a_full_disk_says_so_and_recovers(small_disk: Path, tmp_path: Path, monkeypatch) -> None:
    world = tmp_path / "world"
    generate.generate(world, seed=9, orders=800)
    home = tmp_path / "home"  # landing on the roomy disk, the warehouse on the small one
    shutil.copytree(world / "landing", home / "landing")
    warehouse = small_disk / "warehouse.duckdb"
    for name, value in (("RECON_HOME", home), ("RECON_DUCKDB_PATH", warehouse)):
        monkeypatch.setenv(name, str(value))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    recon = str(Path(sys.executable).with_name("recon"))

    full = subprocess.run([recon, "ingest"], capture_output=True, text=True)
    assert full.returncode == 28, full.stdout + full.stderr
    assert "the disk is full" in full.stderr and "Traceback" not in full.stderr, full.stderr

    subprocess.run(["mount", "-o", "remount,size=256m", str(small_disk)], check=True)
    again = subprocess.run([recon, "ingest"], capture_output=True, text=True)
    assert again.returncode == 0, again.stdout + again.stderr
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        logged = con.execute(
            "select source_file, status, rows_read, rows_loaded, rows_quarantined from raw.ingestion_log"
        ).fetchall()
        loaded_rows = con.execute("select count(*) from raw.crm__orders").fetchone()[0]
    finally:
        con.close()
    files = sorted(p.relative_to(home / "landing").as_posix() for p in (home / "landing").rglob("*") if p.is_file())
    assert sorted(path for path, *_ in logged) == files  # every file accounted for, once
    # A rejected file (the generator's legacy export) reads its rows and rejects them all.
    assert all(
        read == loaded + quarantined + (read if status == "rejected" else 0)
        for _, status, read, loaded, quarantined in logged
    )
    orders_logged = sum(loaded for path, status, _, loaded, _ in logged if path.startswith("crm/orders/"))
    assert loaded_rows == orders_logged  # no half-loaded file left rows behind
