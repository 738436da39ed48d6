"""bench/bench_against.py on a tiny home: datacompy and Splink each pair records and score within 0..1.

The home holds 500 generated orders, ingested, and only the models the orders <-> invoices
reconciliation needs (no dbt tests), so the whole test takes about half a minute. No
timing assertions: the figures are measured in docs/benchmarks.md, not here. Skipped
unless the ``bench`` extra is installed (``make bench`` installs it).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture
def against(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.syspath_prepend(str(BENCH))
    import bench_against

    missing = bench_against.bench_extra_missing()
    if missing:
        pytest.skip(missing)
    return bench_against


def _tiny_home(home: Path, bench_matching, orders: int = 500) -> None:
    """What bench_matching.py --keep leaves, for the orders <-> invoices models only."""
    from orchestration import ingest, settings
    from orchestration.lab.generate import generate

    settings.use_home(home)
    generate(home, seed=42, orders=orders, noise=1.0)
    ingest.ingest_landing(settings.landing_dir(), settings.warehouse_path())
    select = ["--select", "+int_orders_invoices__decisions", "--exclude-resource-type", "test", "unit_test"]
    build = subprocess.run(
        bench_matching.dbt_command(home, "build", "--quiet", *select),
        cwd=bench_matching.PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    (home / bench_matching.MARKER).write_text(json.dumps({"orders": orders, "seed": 42, "noise": 1.0}))


def test_datacompy_and_splink_pair_the_tiny_home(recon_home: Path, against) -> None:
    _tiny_home(recon_home, against.bm)
    args = argparse.Namespace(repeats=1, splink_u_pairs=1e5, splink_em_pairs=None, seed=42)
    report = against.run(recon_home, args)
    print(against.render(report), file=sys.stderr)

    datacompy = report["keyed"]["datacompy"]
    assert datacompy["orders_with_reference"] > 0 and datacompy["items_with_reference"] > 0
    assert 0 < datacompy["rows_joined"] <= min(datacompy["orders_with_reference"], datacompy["items_with_reference"])
    floor = report["keyed"]["floor"]
    assert floor["engine_pairs"] > 0 and floor["hand_pairs"] > 0
    # The floor is the same six passes written by hand: a ratio against it means something
    # only while both make exactly the same pairs and priorities.
    assert (floor["engine_not_in_hand"], floor["hand_not_in_engine"]) == (0, 0), floor

    scored = report["scored"]
    assert scored["inputs"]["open_left"] > 0 and scored["inputs"]["open_right"] > 0
    assert scored["splink"]["pairs_scored"] > 0 and scored["ours_alone"]["blocked_pairs"] > 0
    quality = scored["quality"]
    assert quality["relevant_links"] > 0
    for name, score in quality.items():
        if isinstance(score, dict) and "f1" in score:
            for metric in ("precision", "recall", "f1"):
                assert 0.0 <= score[metric] <= 1.0, (name, metric, score)
            assert score["correct"] <= min(score["predicted"], score["relevant"]), (name, score)
    assert quality["splink_best_per_item_at_review"]["predicted"] > 0
    assert quality["ours_matched_or_suggested"]["predicted"] > 0
    assert len(report["ratios"]) == 6
