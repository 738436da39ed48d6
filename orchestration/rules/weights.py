"""The match-weights seed (``seeds/match_weights.csv``): writing one reconciliation's rows
and showing them as Bayes factors. ``recon train`` (from the warehouse, no labels) and
``recon tune`` (from a generated world's ground truth) both write through here, and both
make their rows with :func:`monotone_rows`.

A comparison whose spec lists ``monotone: [level, ...]`` (strongest evidence first: an
amount equal, within 2 %, a part of it, different) gets Bayes factors that never rise along
that list (:func:`monotone_rows`). Counts from one generator can say otherwise: dialect A
never bills an order 1 % off, so add-one smoothing gave "close" m = 0.0001 and a weight of
−7.0, below "partial" (−1.8): an item 1 % off counted as worse evidence than one at half
the amount. Adjacent levels that break the order are pooled (pool-adjacent-violators on
m / u), each keeping its u and sharing the pool's ratio, so m still sums to 1.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

from orchestration.settings import PROJECT_DIR

WEIGHTS_SEED = PROJECT_DIR / "seeds" / "match_weights.csv"


def monotone_rows(rows: list[dict], spec: dict) -> list[dict]:
    """``rows`` with each ``monotone`` chain of the spec's comparisons made non-increasing in m / u."""
    out = [dict(r) for r in rows]
    for comparison in spec.get("comparisons", []):
        chain = comparison.get("monotone")
        if not chain:
            continue
        field = comparison["field"]
        names = [level["name"] for level in comparison["levels"]]
        unknown = [name for name in chain if name not in names]
        if unknown:
            raise ValueError(
                f"spec {spec.get('name')}: comparison {field}: monotone names {unknown}, not levels of it ({names})"
            )
        if len(set(chain)) != len(chain):
            raise ValueError(f"spec {spec.get('name')}: comparison {field}: monotone names a level twice ({chain})")
        by_name = {r["level_name"]: r for r in out if r["field"] == field}
        # Blocks of adjacent levels, each [m sum, u sum, level names]; merge while a weaker
        # block's ratio exceeds the stronger one's before it.
        blocks: list[list] = []
        for name in chain:
            row = by_name[name]
            blocks.append([float(row["m_probability"]), float(row["u_probability"]), [name]])
            while len(blocks) >= 2 and blocks[-2][0] * blocks[-1][1] < blocks[-1][0] * blocks[-2][1]:
                m, u, names_ = blocks.pop()
                blocks[-1][0] += m
                blocks[-1][1] += u
                blocks[-1][2] += names_
        for m, u, block_names in blocks:
            # A pool without non-matches (u = 0: neither writer makes one, both smooth) has
            # no ratio to share; it is left as counted.
            if len(block_names) == 1 or u <= 0:
                continue
            for name in block_names:
                row = by_name[name]
                row["m_probability"] = f"{m * float(row['u_probability']) / u:.6g}"
    return out


def write_weights(name: str, rows: list[dict], path: Path = WEIGHTS_SEED) -> None:
    """Replace the rows of one reconciliation in the weights seed, keeping the others."""
    header = ["reconciliation", "field", "level", "level_name", "m_probability", "u_probability"]
    kept: list[dict] = []
    if path.exists():
        with open(path, newline="") as fh:
            kept = [r for r in csv.DictReader(fh) if r["reconciliation"] != name]
    # Written beside it and renamed over it: an interrupted write never leaves a half seed.
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(kept + rows)
    os.replace(tmp, path)


def bayes_factor_table(rows: list[dict]) -> str:
    lines = [f"{'field':<10} {'level':<14} {'m':>9} {'u':>9} {'weight':>8}"]
    for r in rows:
        m, u = float(r["m_probability"]), float(r["u_probability"])
        lines.append(f"{r['field']:<10} {r['level_name']:<14} {m:>9.5f} {u:>9.5f} {math.log2(m / u):>8.2f}")
    return "\n".join(lines)
