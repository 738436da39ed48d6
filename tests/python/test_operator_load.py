"""The operator load harness (bench/operator_load.py) for a short time: nothing lost, duplicated or unexpected.

4 operator processes at 5 attempts/s for 20 s while `recon run` publishes in the
background, then a final run and the harness's own checks (store, warehouse, chain).
No timing assertions: speed is measured in docs/benchmarks.md, not here.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture
def operator_load(monkeypatch: pytest.MonkeyPatch):
    # Spawned workers import the harness by name: they inherit sys.path from this process.
    monkeypatch.syspath_prepend(str(BENCH))
    import operator_load

    return operator_load


@pytest.mark.soak
def test_operators_under_load_lose_and_duplicate_nothing(recon_home: Path, operator_load) -> None:
    report = operator_load.run_load(recon_home, operators=4, rate=5, seconds=20, runs=True, orders=300)
    print(operator_load.render(report), file=sys.stderr)
    summary, verify = report["summary"], report["verify"]
    assert report["failed"] == []
    assert summary["errors"] == 0 and summary["list_errors"] == 0
    assert summary["ok"] > 0 and summary["by_action"].get("claim ok")
    assert set(summary["refused"]) <= set(operator_load.EXPECTED_REFUSALS)
    for key in ("lost_in_store", "lost_in_warehouse", "duplicated", "unreported", "mismatched"):
        assert verify[key] == 0, key
    assert verify["chain_problems"] == [] and verify["seq_gaps"] == [] and verify["seq_duplicates"] == []
    assert verify["warehouse_vs_store"] == []
    assert report["runs"]["started"] >= 1 and report["runs"]["started"] == report["runs"]["succeeded"]
    assert report["runs"]["final_rc"] == 0
