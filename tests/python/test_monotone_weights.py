"""Bayes factors along a spec's ``monotone`` chain never rise (orchestration/rules/weights.py)."""

from __future__ import annotations

import csv
import itertools
import math

import pytest

from orchestration.lab import evaluate
from orchestration.rules import weights
from orchestration.specs import load_spec


def _rows(field: str, levels: list[tuple[str, float, float]]) -> list[dict]:
    return [
        {
            "reconciliation": "r",
            "field": field,
            "level": i,
            "level_name": name,
            "m_probability": f"{m}",
            "u_probability": f"{u}",
        }
        for i, (name, m, u) in enumerate(levels)
    ]


def _weights(rows: list[dict]) -> dict[str, float]:
    return {r["level_name"]: math.log2(float(r["m_probability"]) / float(r["u_probability"])) for r in rows}


SPEC = {
    "name": "r",
    "comparisons": [
        {
            "field": "amount",
            "monotone": ["exact", "close", "partial", "different"],
            "levels": [{"name": n} for n in ("exact", "close", "monthly_share", "partial", "different")],
        }
    ],
}


def test_a_level_never_seen_among_matches_is_pooled_with_the_weaker_one_after_it():
    # The shipped orders_invoices amount counts before the chain: "close" at -7.0, below
    # "partial" at -1.8 (dialect A never bills an order 1 % off).
    rows = _rows(
        "amount",
        [
            ("exact", 0.864702, 0.0158423),
            ("close", 9.72668e-05, 0.0123648),
            ("monthly_share", 0.0157572, 0.000772798),
            ("partial", 0.072172, 0.250773),
            ("different", 0.0472717, 0.720247),
        ],
    )
    before, after = _weights(rows), _weights(weights.monotone_rows(rows, SPEC))
    assert before["close"] < before["partial"]
    assert after["close"] == pytest.approx(after["partial"], abs=1e-4)
    assert after["exact"] >= after["close"] >= after["partial"] >= after["different"]
    # Untouched: the chain's first and last levels, and a level outside the chain.
    for name in ("exact", "monthly_share", "different"):
        assert after[name] == pytest.approx(before[name], abs=1e-4)
    # m still sums to what it did: the pool shares its mass, it does not make any.
    total = sum(float(r["m_probability"]) for r in rows)
    assert sum(float(r["m_probability"]) for r in weights.monotone_rows(rows, SPEC)) == pytest.approx(total, rel=1e-5)


def test_a_violation_across_three_levels_pools_all_three():
    rows = _rows("amount", [("exact", 0.5, 0.1), ("close", 0.01, 0.2), ("partial", 0.02, 0.2), ("different", 0.3, 0.3)])
    after = _weights(
        weights.monotone_rows(
            rows,
            {
                **SPEC,
                "comparisons": [
                    {
                        **SPEC["comparisons"][0],
                        "levels": [{"name": n} for n in ("exact", "close", "partial", "different")],
                    }
                ],
            },
        )
    )
    assert after["close"] == pytest.approx(after["partial"], abs=1e-4)
    assert after["partial"] == pytest.approx(after["different"], abs=1e-4)
    assert after["exact"] > after["close"]


def test_ordered_levels_are_left_alone():
    rows = _rows(
        "amount", [("exact", 0.8, 0.01), ("close", 0.1, 0.05), ("partial", 0.05, 0.2), ("different", 0.05, 0.74)]
    )
    spec = {
        **SPEC,
        "comparisons": [
            {**SPEC["comparisons"][0], "levels": [{"name": n} for n in ("exact", "close", "partial", "different")]}
        ],
    }
    assert weights.monotone_rows(rows, spec) == rows


def test_a_chain_naming_no_level_is_refused():
    bad = {**SPEC, "comparisons": [{**SPEC["comparisons"][0], "monotone": ["exact", "nearly"]}]}
    with pytest.raises(ValueError, match="nearly"):
        weights.monotone_rows(_rows("amount", [("exact", 0.5, 0.5)]), bad)


def test_tune_makes_its_rows_monotone():
    """recon tune's rows (add-one smoothed counts) go through the chain: a level no match hit ends up pooled."""
    from collections import Counter

    spec = load_spec("orders_invoices")
    counts = {c["field"]: {True: Counter(), False: Counter()} for c in spec["comparisons"]}
    amount = [c for c in spec["comparisons"] if c["field"] == "amount"][0]
    names = [level["name"] for level in amount["levels"]]
    counts["amount"][True].update({names.index("exact"): 900, names.index("partial"): 70, names.index("different"): 30})
    counts["amount"][False].update(
        {names.index("exact"): 15, names.index("close"): 12, names.index("partial"): 250, names.index("different"): 720}
    )
    w = _weights([r for r in evaluate.weights_rows("orders_invoices", counts) if r["field"] == "amount"])
    assert w["close"] >= w["partial"]


def test_the_shipped_weights_keep_every_chain():
    with open(weights.WEIGHTS_SEED, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for name in {r["reconciliation"] for r in rows}:
        spec = load_spec(name)
        for comparison in spec["comparisons"]:
            chain = comparison.get("monotone") or []
            w = _weights([r for r in rows if r["reconciliation"] == name and r["field"] == comparison["field"]])
            assert all(w[a] >= w[b] - 1e-4 for a, b in itertools.pairwise(chain)), (name, comparison["field"], w)


def test_train_makes_its_rows_monotone():
    """recon train's rows go through the same chain (orchestration/rules/train.py weights_rows)."""
    from orchestration.rules import train

    spec = load_spec("orders_invoices")
    n_levels = [len(c["levels"]) for c in spec["comparisons"]]
    m = [[1.0 / n] * n for n in n_levels]
    u = [[1.0 / n] * n for n in n_levels]
    f = [c["field"] for c in spec["comparisons"]].index("amount")
    names = [level["name"] for level in spec["comparisons"][f]["levels"]]
    m[f] = [0.05] * n_levels[f]
    m[f][names.index("exact")], m[f][names.index("close")] = 0.7, 0.0001
    m[f][names.index("partial")], m[f][names.index("different")] = 0.1, 0.1499
    model = train.FellegiSunter(fields=[c["field"] for c in spec["comparisons"]], m=m, u=u, prior=0.3)
    w = _weights([r for r in train.weights_rows("orders_invoices", spec, model) if r["field"] == "amount"])
    assert w["close"] == pytest.approx(w["partial"], abs=1e-4)


def test_a_chain_naming_a_level_twice_is_refused():
    bad = {**SPEC, "comparisons": [{**SPEC["comparisons"][0], "monotone": ["exact", "close", "exact"]}]}
    with pytest.raises(ValueError, match="twice"):
        weights.monotone_rows(_rows("amount", [("exact", 0.5, 0.5), ("close", 0.5, 0.5)]), bad)
