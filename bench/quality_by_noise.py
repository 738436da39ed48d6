"""How matching quality falls as the generator's noise rises.

Builds a fresh warehouse per noise level (generate → ingest → dbt build) for a seed that
was not used for tuning, evaluates every reconciliation against ground truth and prints
a Markdown table (the one in docs/matching.md). Not a test: it prints numbers.

    .venv/bin/python bench/quality_by_noise.py --seed 7 --orders 5000 --noise 0 0.5 1 2 3
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from orchestration import pipeline
from orchestration.lab import evaluate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--orders", type=int, default=5000)
    parser.add_argument("--noise", type=float, nargs="+", default=[0.0, 0.5, 1.0, 2.0, 3.0])
    parser.add_argument("--keep", action="store_true", help="keep the scratch warehouses")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="recon-quality-"))
    rows = []
    try:
        for noise in args.noise:
            started = time.monotonic()
            home = root / f"noise-{noise}"
            truth = pipeline.build_scratch(home, args.seed, args.orders, noise)
            for rep in evaluate.evaluate(home / "warehouse.duckdb", truth):
                rows.append((noise, rep))
            print(f"noise {noise}: built and evaluated in {time.monotonic() - started:.0f}s", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)

    print(f"\nseed {args.seed}, {args.orders} orders per level: auto-match precision, recall, F1")
    print("| noise | reconciliation | precision | recall | F1 | suggested (precision) | ambiguous records |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for noise, rep in rows:
        print(
            f"| {noise:g} | {rep.name} | {rep.auto.precision:.4f} | {rep.auto.recall:.4f} | {rep.auto.f1:.4f} "
            f"| {rep.suggested.predicted} ({rep.suggested.precision:.3f}) | {rep.ambiguous_records} |"
        )


if __name__ == "__main__":
    main()
