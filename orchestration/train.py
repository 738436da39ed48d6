"""Estimate match weights without labels: expectation–maximisation on the candidate pairs.

``recon tune`` needs the generator's ground truth; a real warehouse has none. Here m and
u of every comparison level, and the prior λ (the share of true matches among the scored
candidates), are estimated from the pairs of ``intermediate.int_<name>__pairs`` alone,
in the Fellegi–Sunter model: given the match status, the comparison levels of a pair are
independent, so

    P(γ) = λ · Π_f m_f(γ_f) + (1 − λ) · Π_f u_f(γ_f),

where a level of −1 (a null on either side) carries no evidence and contributes 1.

* EM runs on the distinct level patterns (``group by`` of the level columns, with a
  count), not on the rows: a million pairs are a few hundred patterns.
* The deterministic pairs are near-certain matches. Their level frequencies initialise
  m (so EM starts at "same order", not at another latent class such as "same client"),
  and they stay in the m estimate as anchors with weight 1 — like ``recon tune``, which
  counts them among the true pairs.
* u is initialised from the level frequencies of the scored (non-deterministic) pairs,
  which are almost all non-matches, and then re-estimated by EM with each pattern
  weighted by its posterior non-match probability.
* λ is estimated over the scored pairs only: it is the prior the scored pass needs.
* Add-one smoothing on the expected counts, as ``recon tune`` does on the observed
  ones, so no level is impossible.

The result has the row format of :func:`orchestration.evaluate.weights_rows`, so
:func:`orchestration.evaluate.write_weights` writes it into ``seeds/match_weights.csv``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import yaml

from orchestration import evaluate
from orchestration.settings import PROJECT_DIR


class TrainError(Exception):
    """A reconciliation or a warehouse that cannot be trained on; the message says why."""


def configured_reconciliations(project_dir: Path = PROJECT_DIR) -> list[str]:
    """The reconciliations the engine runs: ``vars.reconciliations`` of dbt_project.yml."""
    doc = yaml.safe_load((project_dir / "dbt_project.yml").read_text())
    return list((doc.get("vars") or {}).get("reconciliations") or [])


def check_names(names: list[str] | None, project_dir: Path = PROJECT_DIR) -> list[str]:
    """``names`` (default: all configured), refusing any not in vars.reconciliations."""
    known = configured_reconciliations(project_dir)
    unknown = [n for n in names or [] if n not in known]
    if unknown:
        raise TrainError(
            f"unknown reconciliation {', '.join(repr(n) for n in unknown)}: dbt_project.yml "
            f"vars.reconciliations lists {', '.join(known) or 'none'}"
        )
    return list(names) if names else known


@dataclass(frozen=True)
class Pattern:
    """One distinct vector of comparison levels and how many pairs have it."""

    levels: tuple[int, ...]
    deterministic: bool
    count: int


@dataclass
class FellegiSunter:
    """Estimated parameters: m[f][l], u[f][l] and the prior λ of the scored pairs."""

    fields: list[str]
    m: list[list[float]]
    u: list[list[float]]
    prior: float
    iterations: int = 0
    converged: bool = False
    log_likelihood: float = float("nan")
    scored_pairs: int = 0
    deterministic_pairs: int = 0
    patterns: int = 0
    history: list[float] = field(default_factory=list)

    def weight(self, f: int, level: int) -> float:
        return math.log2(self.m[f][level] / self.u[f][level])


def _smoothed(counts: list[float]) -> list[float]:
    total = sum(counts)
    return [(c + 1.0) / (total + len(counts)) for c in counts]


def _level_counts(patterns: list[Pattern], n_levels: list[int], weights: list[float]) -> list[list[float]]:
    """Per field, the weighted count of each level (levels −1 are left out)."""
    counts = [[0.0] * n for n in n_levels]
    for pattern, w in zip(patterns, weights, strict=True):
        if w == 0.0:
            continue
        for f, level in enumerate(pattern.levels):
            if level >= 0:
                counts[f][level] += w
    return counts


def _likelihoods(levels: tuple[int, ...], m: list[list[float]], u: list[list[float]]) -> tuple[float, float]:
    pm = pu = 1.0
    for f, level in enumerate(levels):
        if level >= 0:
            pm *= m[f][level]
            pu *= u[f][level]
    return pm, pu


def estimate(
    patterns: list[Pattern],
    n_levels: list[int],
    fields: list[str] | None = None,
    *,
    anchor_fields: Collection[str] | None = None,
    fixed_u: bool = False,
    initial_prior: float = 0.1,
    tolerance: float = 1e-7,
    max_iterations: int = 1000,
) -> FellegiSunter:
    """EM for a two-class Fellegi–Sunter mixture over the scored (non-deterministic) patterns.

    The deterministic pairs always initialise m (when there are any); for the fields in
    ``anchor_fields`` (default: every field) they also stay in the m estimate as known
    matches; ``fixed_u`` keeps u at the
    level frequencies of the scored pairs instead of re-estimating it. Converged when no
    parameter moves by more than ``tolerance`` in an iteration.
    """
    fields = fields or [f"field_{i}" for i in range(len(n_levels))]
    scored = [p for p in patterns if not p.deterministic and p.count > 0]
    anchors = [p for p in patterns if p.deterministic and p.count > 0]
    n_scored = sum(p.count for p in scored)
    if n_scored == 0:
        raise TrainError("no scored (non-deterministic) candidate pairs to estimate from")
    anchored = [anchor_fields is None or f in anchor_fields for f in fields]
    anchor_counts = _level_counts(anchors, n_levels, [float(p.count) for p in anchors])
    scored_counts = _level_counts(scored, n_levels, [float(p.count) for p in scored])

    if anchors:
        m = [_smoothed(c) for c in anchor_counts]
    else:
        # No deterministic pass to learn from: assume the best level is the likely one.
        m = [[0.8 if level == 0 else 0.2 / (n - 1) for level in range(n)] if n > 1 else [1.0] for n in n_levels]
    u = [_smoothed(c) for c in scored_counts]
    prior = initial_prior
    result = FellegiSunter(
        fields=list(fields),
        m=m,
        u=u,
        prior=prior,
        scored_pairs=n_scored,
        deterministic_pairs=sum(p.count for p in anchors),
        patterns=len(scored) + len(anchors),
    )
    for iteration in range(1, max_iterations + 1):
        # E-step: posterior match probability of each scored pattern.
        match_weights, non_match_weights = [], []
        log_likelihood = 0.0
        for p in scored:
            pm, pu = _likelihoods(p.levels, m, u)
            a, b = prior * pm, (1.0 - prior) * pu
            posterior = a / (a + b)
            match_weights.append(p.count * posterior)
            non_match_weights.append(p.count * (1.0 - posterior))
            log_likelihood += p.count * math.log(a + b)
        # M-step: expected level counts, add-one smoothed.
        expected_m = _level_counts(scored, n_levels, match_weights)
        expected_m = [
            [e + a for e, a in zip(ef, af, strict=True)] if anchored[f] else ef
            for f, (ef, af) in enumerate(zip(expected_m, anchor_counts, strict=True))
        ]
        new_m = [_smoothed(c) for c in expected_m]
        new_u = u if fixed_u else [_smoothed(c) for c in _level_counts(scored, n_levels, non_match_weights)]
        new_prior = (sum(match_weights) + 1.0) / (n_scored + 2.0)  # add-one, as recon tune
        change = max(
            abs(new_prior - prior),
            max(abs(a - b) for new, old in ((new_m, m), (new_u, u)) for fa, fb in zip(new, old) for a, b in zip(fa, fb)),
        )
        m, u, prior = new_m, new_u, new_prior
        result.history.append(log_likelihood)
        result.iterations = iteration
        if change < tolerance:
            result.converged = True
            break
    result.m, result.u, result.prior = m, u, prior
    result.log_likelihood = result.history[-1] if result.history else float("nan")
    return result


def selected_fields(spec: dict) -> set[str]:
    """Comparison fields the deterministic passes select on (keys, confirmations, date windows).

    Among the deterministic pairs these fields agree by construction, so their level
    frequencies there say nothing about the true pairs the scored pass sees.
    """
    comparison_fields = {c["field"] for c in spec["comparisons"]}
    selected = set()
    for pass_ in spec.get("deterministic") or []:
        selected |= set(pass_.get("fields") or [])
        if pass_.get("confirm"):
            selected.add(pass_["confirm"]["field"])
        if pass_.get("window_days"):
            selected.add("date")
    # A raw key (reference_raw) selects its normalised comparison field (reference) too.
    selected |= {f for f in comparison_fields for s in list(selected) if s.startswith(f + "_")}
    return selected & comparison_fields


def read_patterns(con: duckdb.DuckDBPyConnection, name: str, fields: list[str]) -> list[Pattern]:
    """Distinct (is_deterministic, level vector) of the pairs model, with their counts."""
    levels = ", ".join(f"coalesce(level_{f}, -1)" for f in fields)
    try:
        rows = con.execute(
            # name is a configured reconciliation, fields come from its spec: not user data
            f"select coalesce(is_deterministic, false), {levels}, count(*) "
            f"from intermediate.int_{name}__pairs group by all"
        ).fetchall()
    except duckdb.CatalogException as exc:
        raise TrainError(
            f"{name}: intermediate.int_{name}__pairs is not in the warehouse (build it first: recon run): {exc}"
        ) from exc
    return [Pattern(levels=tuple(int(v) for v in row[1:-1]), deterministic=bool(row[0]), count=row[-1]) for row in rows]


@dataclass
class TrainResult:
    name: str
    model: FellegiSunter
    rows: list[dict]
    seconds: float


def weights_rows(name: str, spec: dict, model: FellegiSunter) -> list[dict]:
    """The rows of ``seeds/match_weights.csv`` for one reconciliation (as evaluate.weights_rows)."""
    rows = []
    for f, comparison in enumerate(spec["comparisons"]):
        for i, level in enumerate(comparison["levels"]):
            rows.append(
                {
                    "reconciliation": name,
                    "field": comparison["field"],
                    "level": i,
                    "level_name": level["name"],
                    "m_probability": f"{model.m[f][i]:.6g}",
                    "u_probability": f"{model.u[f][i]:.6g}",
                }
            )
    return rows


def train(
    warehouses: Path | list[Path],
    names: list[str] | None = None,
    anchoring: str = "none",
    **options,
) -> list[TrainResult]:
    """Estimate m, u and the prior of each reconciliation from the pairs of the warehouses.

    Each warehouse is opened read-only; the patterns of several warehouses (several
    periods, or several generated seeds) are pooled. ``options`` go to :func:`estimate`.
    """
    names = check_names(names)
    paths = [Path(warehouses)] if isinstance(warehouses, str | Path) else [Path(w) for w in warehouses]
    patterns: dict[str, list[Pattern]] = {name: [] for name in names}
    specs = {name: evaluate.load_spec(name) for name in names}
    seconds: dict[str, float] = dict.fromkeys(names, 0.0)
    for path in paths:
        if not path.exists():
            raise TrainError(f"no warehouse at {path} (build one first: recon run)")
        try:
            con = duckdb.connect(str(path), read_only=True)
        except duckdb.Error as exc:
            raise TrainError(f"cannot open {path} read-only: {exc}") from exc
        try:
            for name in names:
                started = time.monotonic()
                fields = [c["field"] for c in specs[name]["comparisons"]]
                patterns[name] += read_patterns(con, name, fields)
                seconds[name] += time.monotonic() - started
        finally:
            con.close()
    results = []
    for name in names:
        started = time.monotonic()
        comparisons = specs[name]["comparisons"]
        fields = [c["field"] for c in comparisons]
        if anchoring == "all":
            anchor_fields = set(fields)
        elif anchoring == "none":
            anchor_fields = set()
        else:
            anchor_fields = set(fields) - selected_fields(specs[name])
        model = estimate(
            patterns[name], [len(c["levels"]) for c in comparisons], fields, anchor_fields=anchor_fields, **options
        )
        rows = weights_rows(name, specs[name], model)
        results.append(TrainResult(name, model, rows, seconds[name] + time.monotonic() - started))
    return results


def render(result: TrainResult) -> str:
    model = result.model
    lines = [
        f"== {result.name}: EM on {model.scored_pairs:,} scored pairs ({model.patterns} patterns), "
        f"{model.deterministic_pairs:,} deterministic pairs as anchors; "
        f"{'converged' if model.converged else 'NOT converged'} after {model.iterations} iterations "
        f"({result.seconds:.2f}s) ==",
        evaluate.bayes_factor_table(result.rows),
        f"prior_match_probability (estimated share of true matches among scored candidates): {model.prior:.4f}",
    ]
    return "\n".join(lines)
