"""Unlabelled weights (`recon train`, EM) against labelled ones (`recon tune`), as F1.

Builds the training seeds of dialect A up to the pair models, estimates weights from
them twice — with their ground truth (`recon tune`) and without it (`recon train`) —
and evaluates each weight set on evaluation data sets (any dialect). The target of issue
9: unlabelled within 0.01 F1 of labelled. The project's weights seed is restored after.
Not a test: it prints numbers.

By default both weight sets are scored with the specs' priors, so only the weights differ.
``--own-priors`` scores each with the prior its method estimated, as ``recon tune`` and
``recon train`` tell the user to set it (``thresholds.prior_match_probability``): what a
user who follows either would run. The specs are restored after.

    .venv/bin/python bench/train_vs_tune.py --orders 5000 --runs a:42 b:7 c:5 [--own-priors]
"""

from __future__ import annotations

import argparse
import re
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
    parser.add_argument("--own-priors", action="store_true", help="score each weight set with its method's prior")
    args = parser.parse_args()

    names = specs.configured()
    original = weights.WEIGHTS_SEED.read_bytes()
    spec_files = {n: specs.SPEC_DIR / f"spec__{n}.sql" for n in names}
    original_specs = {n: path.read_bytes() for n, path in spec_files.items()}
    root = Path(tempfile.mkdtemp(prefix="recon-train-vs-tune-"))
    table = []
    try:
        counts, training = evaluate.training_counts(root / "train", args.train_seeds, args.orders, names)
        labelled = {n: evaluate.weights_rows(n, counts[n]) for n in names}
        trained = train.train(training, names)
        unlabelled = {r.name: r.rows for r in trained}
        priors = {
            "labelled (recon tune)": {n: evaluate.prior_from_counts(counts[n]) for n in names},
            "unlabelled (recon train)": {r.name: r.model.prior for r in trained},
        }

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
            for name, path in spec_files.items():
                path.write_bytes(original_specs[name])
                prior = priors[label].get(name)
                if args.own_priors and prior == prior:  # nan: no scored pairs, keep the spec's
                    _set_prior(path, prior)
            for dialect, seed, home, truth in evaluations:
                cli.settings.use_home(home)
                pipeline._dbt("build", "--quiet", target_path=home / "target")
                reports = {r.name: r for r in evaluate.evaluate(home / "warehouse.duckdb", truth)}
                for name in LINKS:
                    table.append((dialect, seed, name, label, reports[name].auto.f1))
    finally:
        weights.WEIGHTS_SEED.write_bytes(original)
        for name, path in spec_files.items():
            path.write_bytes(original_specs[name])
        shutil.rmtree(root, ignore_errors=True)

    priors_used = "each method's own prior" if args.own_priors else "the specs' priors"
    print(f"\nF1 of auto-matches, {args.orders} orders; weights from dialect A seeds {args.train_seeds}; {priors_used}")
    if args.own_priors:
        for label, by_name in priors.items():
            print(f"priors, {label}: " + ", ".join(f"{n} {p:.3f}" for n, p in by_name.items()))
    print("| dialect | seed | reconciliation | labelled | unlabelled | unlabelled − labelled |")
    print("| --- | --- | --- | --- | --- | --- |")
    by_key: dict[tuple, dict] = {}
    for dialect, seed, name, label, f1 in table:
        by_key.setdefault((dialect, seed, name), {})[label.split()[0]] = f1
    for (dialect, seed, name), f1 in by_key.items():
        lab, unl = f1["labelled"], f1["unlabelled"]
        print(f"| {dialect} | {seed} | {name} | {lab:.4f} | {unl:.4f} | {unl - lab:+.4f} |")


def _set_prior(spec_file, prior: float) -> None:
    text = spec_file.read_text()
    new, count = re.subn(r"(\n\s+prior_match_probability:\s*)[0-9.eE+-]+", rf"\g<1>{prior:.6g}", text)
    if count != 1:
        raise SystemExit(f"{spec_file}: expected one thresholds.prior_match_probability, found {count}")
    spec_file.write_text(new)


if __name__ == "__main__":
    main()
