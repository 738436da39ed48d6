"""Unlabelled weights (`recon train`, EM) against labelled ones (`recon tune`), as F1.

Builds the training seeds of dialect A up to the pair models, estimates weights from
them twice — with their ground truth (`recon tune`) and without it (`recon train`) —
and evaluates each weight set on evaluation data sets (any dialect). The target of issue
9: unlabelled within 0.01 F1 of labelled. The project's weights seed is restored after.
Not a test: it prints numbers.

    .venv/bin/python bench/train_vs_tune.py --orders 5000 --runs a:42 b:7 c:5
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from orchestration import cli, pipeline, specs
from orchestration.lab import evaluate
from orchestration.rules import train, weights

LINKS = ("orders_invoices", "delivery_orders", "projects_orders", "lead_forms_leads")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=5000)
    parser.add_argument("--train-seeds", type=int, nargs="+", default=[101, 102])
    parser.add_argument("--runs", nargs="+", default=["a:42", "b:7", "c:5"], help="dialect:seed to evaluate on")
    args = parser.parse_args()

    names = specs.configured()
    original = weights.WEIGHTS_SEED.read_bytes()
    root = Path(tempfile.mkdtemp(prefix="recon-train-vs-tune-"))
    table = []
    try:
        select = " ".join(f"+int_{n}__pairs" for n in names)
        training = []
        counts: dict[str, list] = {n: [] for n in names}
        for seed in args.train_seeds:
            home = root / f"train-{seed}"
            truth = pipeline.build_scratch(home, seed, args.orders, 1.0, select=select)
            training.append(home / "warehouse.duckdb")
            con = cli.duckdb_readonly(home / "warehouse.duckdb")
            try:
                for name in names:
                    counts[name].append(evaluate.level_counts(con, name, truth))
            finally:
                con.close()
        labelled = {n: evaluate.weights_rows(n, evaluate.merge_counts(counts[n])) for n in names}
        unlabelled = {r.name: r.rows for r in train.train(training, names)}

        evaluations = []
        for run in args.runs:
            dialect, seed = run.split(":")
            home = root / f"eval-{dialect}-{seed}"
            truth = pipeline.build_scratch(home, int(seed), args.orders, 1.0, dialect=dialect)
            evaluations.append((dialect, seed, home, truth))

        for label, learned in (("labelled (recon tune)", labelled), ("unlabelled (recon train)", unlabelled)):
            weights.WEIGHTS_SEED.write_bytes(original)
            for name, rows in learned.items():
                weights.write_weights(name, rows)
            for dialect, seed, home, truth in evaluations:
                cli.settings.use_home(home)
                pipeline._dbt("build", "--quiet")
                reports = {r.name: r for r in evaluate.evaluate(home / "warehouse.duckdb", truth)}
                for name in LINKS:
                    table.append((dialect, seed, name, label, reports[name].auto.f1))
    finally:
        weights.WEIGHTS_SEED.write_bytes(original)
        shutil.rmtree(root, ignore_errors=True)

    print(f"\nF1 of auto-matches, {args.orders} orders; weights from dialect A seeds {args.train_seeds}")
    print("| dialect | seed | reconciliation | labelled | unlabelled | unlabelled − labelled |")
    print("| --- | --- | --- | --- | --- | --- |")
    by_key: dict[tuple, dict] = {}
    for dialect, seed, name, label, f1 in table:
        by_key.setdefault((dialect, seed, name), {})[label.split()[0]] = f1
    for (dialect, seed, name), f1 in by_key.items():
        lab, unl = f1["labelled"], f1["unlabelled"]
        print(f"| {dialect} | {seed} | {name} | {lab:.4f} | {unl:.4f} | {unl - lab:+.4f} |")


if __name__ == "__main__":
    main()
