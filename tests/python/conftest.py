"""Shared fixtures: every test gets its own RECON_HOME with a real DuckDB file."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def recon_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty state directory, with the environment every entry point derives from it."""
    home = tmp_path / "recon"
    home.mkdir()
    monkeypatch.setenv("RECON_HOME", str(home))
    monkeypatch.setenv("RECON_DUCKDB_PATH", str(home / "warehouse.duckdb"))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    return home


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
