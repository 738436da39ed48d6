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


# The files that take minutes, longest first (fresh-clone `.ci/run`, docs/benchmarks.md "CI
# time"). pytest-xdist's --dist loadfile hands whole files to the workers in collection
# order; collected alphabetically, the simulation and the unlabelled weights came last and
# kept one worker busy for minutes while the other had nothing left.
SLOW_FILES_FIRST = (
    "test_manual_match.py",
    "test_credit_note_attribution.py",
    "test_operator_match_rate.py",
    "test_unlabelled_weights.py",
    "test_outgrown_resolution.py",
    "test_simulate.py",
    "test_spec_exceptions.py",
    "test_agency_nights.py",
    "test_full_exports.py",
    "test_lifecycle.py",
    "test_pipeline.py",
    "test_lifecycle_checkpoint.py",
    "test_exception_clocks.py",
    "test_lifecycle_parity.py",
    "test_held_out.py",
    "test_landing_partitions.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: position for position, name in enumerate(SLOW_FILES_FIRST)}
    # Stable: the tests of a file, and the other files, keep their order.
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
