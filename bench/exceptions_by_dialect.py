"""Exception quality on every generator dialect: the types raised against the planted discrepancies.

Builds a fresh warehouse per (dialect, seed) (generate → ingest → dbt build) and scores
each exception type against the discrepancy kinds the generator planted that should raise
it (orchestration/lab/evaluate_exceptions.py). Dialect A is the demo's; B and C were written
by others and are never tuned on. Not a test: it prints numbers.

    .venv/bin/python bench/exceptions_by_dialect.py --orders 20000 --runs a:42 b:7 c:5
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from orchestration import pipeline
from orchestration.lab import evaluate_exceptions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=20000)
    parser.add_argument("--runs", nargs="+", default=["a:42", "b:7", "c:5"], help="dialect:seed")
    parser.add_argument("--keep", action="store_true", help="keep the scratch warehouses")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="recon-exceptions-"))
    try:
        for run in args.runs:
            dialect, seed = run.split(":")
            started = time.monotonic()
            home = root / f"{dialect}-{seed}"
            truth = pipeline.build_scratch(home, int(seed), args.orders, 1.0, dialect=dialect)
            scores = evaluate_exceptions.scores_for(home / "warehouse.duckdb", truth)
            built = time.monotonic() - started
            print(f"\n### dialect {dialect}, seed {seed}, {args.orders} orders (built in {built:.0f} s)\n")
            print(evaluate_exceptions.render(scores), flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
