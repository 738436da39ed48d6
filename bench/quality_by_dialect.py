"""Matching quality on every generator dialect: the one we tune on and the held-out ones.

Builds a fresh warehouse per (dialect, seed) (generate → ingest → dbt build), evaluates
it against that dialect's ground truth and prints a Markdown table of auto-match
precision, recall and F1 per link, plus the share of billed orders whose allocated
amount is within 1 % of the truth. Dialect A is tuned on (seeds 101, 102); dialects B
and C were written by others without seeing the engine and are never tuned on: their
figures are the ones that say whether a rule generalises. Not a test: it prints numbers.

    .venv/bin/python bench/quality_by_dialect.py --orders 20000 --runs a:42 b:7 c:5

``--train`` also runs ``recon train`` (unlabelled EM) on each warehouse, rebuilds it with
those weights and reports that column too; the project's weights seed is restored after.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from orchestration import pipeline, specs
from orchestration.lab import evaluate
from orchestration.rules import train, weights

LINKS = (
    ("orders_invoices", "order ↔ invoice"),
    ("orders_invoice_lines", "order ↔ invoice line"),
    ("delivery_orders", "campaign → order"),
    ("projects_orders", "project → order"),
    ("deliverables_orders", "deliverable → order"),
    ("lead_forms_leads", "submission → lead"),
)


def measure(home: Path, truth: Path) -> dict:
    reports = {r.name: r for r in evaluate.evaluate(home / "warehouse.duckdb", truth)}
    billed = evaluate.billed_accuracy_for(home / "warehouse.duckdb", truth)
    return {"reports": reports, "billed": billed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=20000)
    parser.add_argument("--runs", nargs="+", default=["a:42", "b:7", "c:5"], help="dialect:seed")
    parser.add_argument("--train", action="store_true", help="also measure with unlabelled EM weights")
    parser.add_argument("--keep", action="store_true", help="keep the scratch warehouses")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="recon-dialects-"))
    results = []
    saved = weights.WEIGHTS_SEED.read_bytes()
    try:
        for run in args.runs:
            dialect, seed = run.split(":")
            started = time.monotonic()
            home = root / f"{dialect}-{seed}"
            truth = pipeline.build_scratch(home, int(seed), args.orders, 1.0, dialect=dialect)
            built = time.monotonic() - started
            measured = {"committed": measure(home, truth)}
            if args.train:
                for result in train.train([home / "warehouse.duckdb"], specs.configured()):
                    weights.write_weights(result.name, result.rows)
                pipeline._dbt("build", "--quiet", target_path=home / "target")
                measured["unlabelled (own warehouse)"] = measure(home, truth)
                weights.WEIGHTS_SEED.write_bytes(saved)
            results.append((dialect, seed, built, measured))
            print(f"dialect {dialect} seed {seed}: built in {built:.0f}s", flush=True)
    finally:
        weights.WEIGHTS_SEED.write_bytes(saved)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)

    print(f"\n{args.orders} orders per data set, noise 1; auto-matches: precision / recall / F1")
    print("| dialect | seed | weights | link | precision | recall | F1 |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for dialect, seed, _, measured in results:
        for weights_name, m in measured.items():
            for name, label in LINKS:
                rep = m["reports"].get(name)
                if rep is None:
                    continue
                s = rep.auto
                print(
                    f"| {dialect} | {seed} | {weights_name} | {label} | {s.precision:.4f} | {s.recall:.4f} "
                    f"| {s.f1:.4f} |"
                )
            if m["billed"]:
                b = m["billed"]
                print(
                    f"| {dialect} | {seed} | {weights_name} | billed amount within 1 % | "
                    f"{b['within_tolerance']}/{b['billed_orders']} | | {b['share']:.4f} |"
                )


if __name__ == "__main__":
    main()
