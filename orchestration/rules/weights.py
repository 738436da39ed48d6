"""The match-weights seed (``seeds/match_weights.csv``): writing one reconciliation's rows
and showing them as Bayes factors. ``recon train`` (from the warehouse, no labels) and
``recon tune`` (from a generated world's ground truth) both write through here.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from orchestration.settings import PROJECT_DIR

WEIGHTS_SEED = PROJECT_DIR / "seeds" / "match_weights.csv"


def write_weights(name: str, rows: list[dict], path: Path = WEIGHTS_SEED) -> None:
    """Replace the rows of one reconciliation in the weights seed, keeping the others."""
    header = ["reconciliation", "field", "level", "level_name", "m_probability", "u_probability"]
    kept: list[dict] = []
    if path.exists():
        with open(path, newline="") as fh:
            kept = [r for r in csv.DictReader(fh) if r["reconciliation"] != name]
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(kept + rows)


def bayes_factor_table(rows: list[dict]) -> str:
    lines = [f"{'field':<10} {'level':<14} {'m':>9} {'u':>9} {'weight':>8}"]
    for r in rows:
        m, u = float(r["m_probability"]), float(r["u_probability"])
        lines.append(f"{r['field']:<10} {r['level_name']:<14} {m:>9.5f} {u:>9.5f} {math.log2(m / u):>8.2f}")
    return "\n".join(lines)
