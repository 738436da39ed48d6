"""Shared fixtures: every test gets its own RECON_HOME with a real DuckDB file."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def recon_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty state directory, with the environment every entry point derives from it."""
    home = tmp_path / "recon"
    home.mkdir()
    point_at(home, monkeypatch)
    return home


def point_at(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECON_HOME", str(home))
    monkeypatch.setenv("RECON_DUCKDB_PATH", str(home / "warehouse.duckdb"))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))


class BuiltHomes:
    """Homes that several tests of a file start from, each built once per pytest worker.

    A test's first night (landing files, a real ``recon run``) is most of its time when
    the tests of a file share it. ``restore(key, build)`` builds the home the first time
    (``build(home, monkeypatch)``: the environment it changes is undone after the build),
    keeps a pristine copy, and hands every test the same path with the pristine contents
    restored: the same path, because dbt keeps its parse per profile, and the profile
    holds the warehouse path (a copy elsewhere would parse the project again). A build
    that failed is built again by the next test, which fails the same way.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.built: set[str] = set()

    def restore(
        self, key: str, build: Callable[[Path, pytest.MonkeyPatch], None], monkeypatch: pytest.MonkeyPatch
    ) -> Path:
        home, pristine = self.root / key / "recon", self.root / key / "pristine"
        shutil.rmtree(home, ignore_errors=True)
        if key in self.built:
            shutil.copytree(pristine, home, symlinks=True)
        else:
            home.mkdir(parents=True)
            with pytest.MonkeyPatch.context() as during_build:
                point_at(home, during_build)
                build(home, during_build)
            shutil.rmtree(pristine, ignore_errors=True)
            shutil.copytree(home, pristine, symlinks=True)
            self.built.add(key)
        point_at(home, monkeypatch)
        return home


@pytest.fixture(scope="session")
def built_homes(tmp_path_factory: pytest.TempPathFactory) -> BuiltHomes:
    return BuiltHomes(tmp_path_factory.mktemp("built-homes"))


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# The files that take minutes, longest first (fresh-clone `.ci/run`, docs/benchmarks.md "CI
# time"). pytest-xdist's --dist loadfile hands whole files to the workers in collection
# order; collected alphabetically, the simulation and the unlabelled weights came last and
# kept one worker busy for minutes while the other had nothing left.
SLOW_FILES_FIRST = (
    "test_pipeline.py",
    "test_outgrown_resolution.py",
    "test_operator_match_rate.py",
    "test_simulate.py",
    "test_manual_match.py",
    "test_lifecycle.py",
    "test_credit_note_attribution.py",
    "test_spec_exceptions.py",
    "test_agency_nights.py",
    "test_ingestion_reports.py",
    "test_full_exports.py",
    "test_lifecycle_checkpoint.py",
    "test_exception_clocks.py",
    "test_held_out.py",
    "test_landing_partitions.py",
    "test_unlabelled_weights.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: position for position, name in enumerate(SLOW_FILES_FIRST)}
    # Stable: the tests of a file, and the other files, keep their order.
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
