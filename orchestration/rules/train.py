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
* The deterministic pairs are near-certain matches: their level frequencies initialise
  m, so EM starts at "same order" and not at another latent class ("same client",
  "same period"). By default they then leave the estimate: the weights are only ever
  applied to the scored (non-deterministic) pairs, and the true pairs among those look
  different (no usable reference, by construction). ``anchors="all"`` keeps them in the
  m estimate as known matches, like ``recon tune`` counts them among the true pairs;
  ``anchors="unselected"`` does so only for the fields the passes do not select on.
  Both measured worse (docs/matching.md, "Training without labels").
* u is initialised from the level frequencies of the scored pairs and re-estimated by
  EM, each pattern weighted by its posterior non-match probability. Keeping u at those
  frequencies (as Splink keeps u from random pairs) measured worse: a quarter to a half
  of the scored candidates are true matches here, so their frequencies are not u.
* λ is estimated over the scored pairs only: it is the prior the scored pass needs.
* The weights are then counted, as ``recon tune`` counts its labels, on the pairs the
  converged fit classifies (posterior above one half a match, else not), not on its
  expected counts. The expected counts leak: a pattern of true matches that makes up a
  large share of the scored pairs, told apart from the non-matches by one rare level,
  leaves 1 − posterior of its pairs in u at that level, which lowers its posterior, which
  leaves more — a fixed point of maximum likelihood when the non-matches break the
  independence assumption (blocking pairs a client's other orders on the name and other
  clients' orders on the amount, so among non-matches an exact amount comes with another
  name). On dialect A seeds 103 + 104 one non-match with another name and an exact amount
  took u of an exact project amount from 0.016 to 0.080 (labelled 0.045), and the main
  pattern of true project pairs under the auto-match line. λ stays the expected share.
* Add-one smoothing on the counts of the converged fit, as ``recon tune`` does
  on the observed ones, so no level is impossible. Only once, at the end: inside the
  iterations a pseudo-count on u lowers the posterior of every pair with that level,
  which moves more of them into u, and so on — with a few hundred scored pairs, many of
  them matches, the fixed point multiplies it (u of an exact project amount 0.098 instead
  of 0.04). λ keeps its add-one inside, so it never reaches 0 or 1.

The result has the row format of :func:`orchestration.lab.evaluate.weights_rows`, so
:func:`orchestration.rules.weights.write_weights` writes it into ``seeds/match_weights.csv``.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import time
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from orchestration import specs
from orchestration.rules import weights
from orchestration.settings import PROJECT_DIR
from orchestration.warehouse import open_reader

ANCHORS = ("none", "unselected", "all")
# Weight in pairs of the prior on m centred on the deterministic pairs (estimate()).
ANCHOR_PRIOR = 20.0


class TrainError(Exception):
    """A reconciliation or a warehouse that cannot be trained on; the message says why."""


def check_names(names: list[str] | None, project_dir: Path = PROJECT_DIR) -> list[str]:
    """``names`` (default: all configured), refusing any not in vars.reconciliations."""
    known = specs.configured(project_dir)
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
    note: str = ""

    def weight(self, f: int, level: int) -> float:
        return math.log2(self.m[f][level] / self.u[f][level])


def _smoothed(counts: list[float]) -> list[float]:
    total = sum(counts)
    return [(c + 1.0) / (total + len(counts)) for c in counts]


# Floor of the in-iteration (unsmoothed) probabilities: numerical only, so a level whose
# expected count underflows cannot give both classes a likelihood of 0.
_FLOOR = 1e-12


def _normalised(counts: list[float]) -> list[float]:
    """Maximum-likelihood frequencies (the pseudo-count comes once, after EM: estimate())."""
    floored = [max(c, _FLOOR) for c in counts]
    total = sum(floored)
    return [c / total for c in floored]


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


def _largest_move(new: list[list[float]], old: list[list[float]]) -> float:
    return max(abs(a - b) for fa, fb in zip(new, old, strict=True) for a, b in zip(fa, fb, strict=True))


def estimate(
    patterns: list[Pattern],
    n_levels: list[int],
    fields: list[str] | None = None,
    *,
    anchor_fields: Collection[str] | None = None,
    fixed_u: bool = False,
    anchor_prior: float = ANCHOR_PRIOR,
    initial_prior: float = 0.1,
    tolerance: float = 1e-7,
    max_iterations: int = 10_000,
    classify: bool = True,
) -> FellegiSunter:
    """EM for a two-class Fellegi–Sunter mixture over the scored (non-deterministic) patterns.

    The deterministic patterns initialise m (when there are any); for the fields in
    ``anchor_fields`` (default: none) they also stay in the m estimate as known matches.
    ``fixed_u`` keeps u at the level frequencies of the scored pairs instead of
    re-estimating it. ``anchor_prior`` is the weight, in pairs, of a Dirichlet prior on m
    centred on the deterministic pairs' level frequencies (a maximum a posteriori
    estimate): where the scored pairs hold a handful of true matches (189 scored project
    pairs, about 3 of them matches, on dialect A's training seeds) m stays near what the
    certain matches show instead of flattening to the smoothing; where they hold
    hundreds, the data outweigh it. Converged when no parameter moves by more than ``tolerance`` in an
    iteration; a pattern list may repeat a vector (pooled warehouses). ``classify``
    (default) counts the final m and u on the pairs the converged fit classifies, not on
    its expected counts (module docstring).
    """
    fields = fields or [f"field_{i}" for i in range(len(n_levels))]
    pooled: Counter[tuple[bool, tuple[int, ...]]] = Counter()
    for p in patterns:
        pooled[(p.deterministic, p.levels)] += p.count
    scored = [Pattern(v, False, n) for (det, v), n in pooled.items() if not det and n > 0]
    anchors = [Pattern(v, True, n) for (det, v), n in pooled.items() if det and n > 0]
    n_scored = sum(p.count for p in scored)
    anchored = [f in (anchor_fields or ()) for f in fields]
    anchor_counts = _level_counts(anchors, n_levels, [float(p.count) for p in anchors])
    scored_counts = _level_counts(scored, n_levels, [float(p.count) for p in scored])

    anchor_dist = [_smoothed(c) for c in anchor_counts] if anchors else None
    if anchors:
        m = [_smoothed(c) for c in anchor_counts]
    else:
        # No deterministic pass to learn from: assume the best level is the likely one.
        m = [[0.8 if level == 0 else 0.2 / (n - 1) for level in range(n)] if n > 1 else [1.0] for n in n_levels]
    u = [_smoothed(c) for c in scored_counts]
    prior = initial_prior

    def _m_counts(scored: list[Pattern], match_weights: list[float]) -> list[list[float]]:
        """Level counts of the (expected) matches, plus the anchored fields and the prior on m."""
        counts = _level_counts(scored, n_levels, match_weights)
        counts = [
            [e + a for e, a in zip(ef, af, strict=True)] if anchored[f] else ef
            for f, (ef, af) in enumerate(zip(counts, anchor_counts, strict=True))
        ]
        if anchor_dist is not None and anchor_prior > 0:
            counts = [
                [e + anchor_prior * d for e, d in zip(ef, df, strict=True)]
                for ef, df in zip(counts, anchor_dist, strict=True)
            ]
        return counts

    result = FellegiSunter(
        fields=list(fields),
        m=m,
        u=u,
        prior=prior,
        scored_pairs=n_scored,
        deterministic_pairs=sum(p.count for p in anchors),
        patterns=len(scored) + len(anchors),
    )
    if n_scored == 0:
        # Nothing reaches the scored pass: the weights are never used. m from the
        # deterministic pairs, u uniform, the prior unknown (left as the spec has it).
        result.note = "no scored candidate pairs: m from the deterministic pairs, u uniform, keep the spec's prior"
        result.prior, result.converged = float("nan"), True
        return result
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
        # M-step: expected level counts (plus the prior on m); smoothed after convergence.
        expected_m = _m_counts(scored, match_weights)
        expected_u = _level_counts(scored, n_levels, non_match_weights)
        new_m = [_normalised(c) for c in expected_m]
        new_u = u if fixed_u else [_normalised(c) for c in expected_u]
        new_prior = (sum(match_weights) + 1.0) / (n_scored + 2.0)  # add-one, as recon tune
        change = max(abs(new_prior - prior), _largest_move(new_m, m), _largest_move(new_u, u))
        m, u, prior = new_m, new_u, new_prior
        result.history.append(log_likelihood)
        result.iterations = iteration
        if change < tolerance:
            result.converged = True
            break
    if result.iterations and classify:
        # Count the converged fit's classification, as recon tune counts its labels.
        is_match = [prior * pm > (1.0 - prior) * pu for pm, pu in (_likelihoods(p.levels, m, u) for p in scored)]
        expected_m = _m_counts(scored, [float(p.count) if y else 0.0 for p, y in zip(scored, is_match, strict=True)])
        expected_u = _level_counts(
            scored, n_levels, [0.0 if y else float(p.count) for p, y in zip(scored, is_match, strict=True)]
        )
    if result.iterations:
        # Add-one on the counts of the fit, as recon tune on its observed counts.
        m = [_smoothed(c) for c in expected_m]
        u = u if fixed_u else [_smoothed(c) for c in expected_u]
    result.m, result.u, result.prior = m, u, prior
    result.log_likelihood = result.history[-1] if result.history else float("nan")
    return result


def _confirmed_fields(confirm: dict) -> set[str]:
    """Fields a deterministic `confirm` looks at, through any_of / all_of lists."""
    fields: set[str] = set()
    for part in confirm.get("any_of") or confirm.get("all_of") or []:
        fields |= _confirmed_fields(part)
    if "field" in confirm:
        fields.add(confirm["field"])
    if "amount" in confirm:
        fields.add("amount")
    return fields


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
            selected |= _confirmed_fields(pass_["confirm"])
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
    return weights.monotone_rows(rows, spec)


def _open(path: Path) -> duckdb.DuckDBPyConnection:
    """The warehouse read-only, or a TrainError that says why not."""
    try:
        return open_reader(path)
    except duckdb.Error as exc:
        hint = (
            ": another process is writing it (a run of its home?); try again when it ends"
            if "lock" in str(exc).lower()
            else ""
        )
        raise TrainError(f"cannot open {path} read-only{hint}: {exc}") from exc


def train(
    warehouses: Path | list[Path],
    names: list[str] | None = None,
    anchors: str = "none",
    **options,
) -> list[TrainResult]:
    """Estimate m, u and the prior of each reconciliation from the pairs of the warehouses.

    Each warehouse is opened read-only; the patterns of several warehouses (several
    periods, or several generated seeds) are pooled. ``anchors`` is ``none`` (the
    deterministic pairs only initialise m), ``all`` or ``unselected`` (they stay in the m
    estimate of every field, or of the fields their passes do not select on). ``options``
    go to :func:`estimate`.
    """
    if anchors not in ANCHORS:
        raise TrainError(f"anchors must be one of {', '.join(ANCHORS)}, not {anchors!r}")
    names = check_names(names)
    paths = [Path(warehouses)] if isinstance(warehouses, str | Path) else [Path(w) for w in warehouses]
    patterns: dict[str, list[Pattern]] = {name: [] for name in names}
    loaded = {name: specs.load_spec(name) for name in names}
    seconds: dict[str, float] = dict.fromkeys(names, 0.0)
    for path in paths:
        if not path.exists():
            raise TrainError(f"no warehouse at {path} (build one first: recon run)")
        con = _open(path)
        try:
            for name in names:
                started = time.monotonic()
                fields = [c["field"] for c in loaded[name]["comparisons"]]
                patterns[name] += read_patterns(con, name, fields)
                seconds[name] += time.monotonic() - started
        finally:
            con.close()
    results = []
    for name in names:
        started = time.monotonic()
        comparisons = loaded[name]["comparisons"]
        fields = [c["field"] for c in comparisons]
        anchor_fields = {
            "none": set(),
            "all": set(fields),
            "unselected": set(fields) - selected_fields(loaded[name]),
        }[anchors]
        model = estimate(
            patterns[name], [len(c["levels"]) for c in comparisons], fields, anchor_fields=anchor_fields, **options
        )
        rows = weights_rows(name, loaded[name], model)
        results.append(TrainResult(name, model, rows, seconds[name] + time.monotonic() - started))
    return results


# What `recon train --write` asks of trained weights before it replaces the seed's, unless
# --force: on the warehouse they were trained on, the right records whose best candidate
# the current weights auto-match keep at least MIN_KEPT of those auto-matches, and no more
# than MAX_NEW of that many others become auto-matches. Measured on 20,000-order dev seeds
# (docs/matching.md, "Training without labels"): dialect A's own weights keep 100 % and add
# 10 %; on dialects B and C, where EM finds another latent class (same client, same
# period), 7 to 68 % are kept and 73 to 95 % as many others added, most of them wrong.
MIN_KEPT = 0.90
MAX_NEW = 0.25


@dataclass
class Agreement:
    """How trained weights would change the scored pass's auto-matches on one warehouse.

    Per right record, its best candidate (highest match weight) at or above the spec's
    auto-match probability, under the weights the warehouse was built with (the pairs
    model's own probability) and under the trained ones with their prior.
    """

    name: str
    current: int  # right records whose best candidate the current weights auto-match
    kept: int  # of those, the same candidate auto-matched by the trained weights
    added: int  # right records the trained weights auto-match and the current do not (or elsewhere)
    scored_records: int  # right records with at least one scored candidate
    warehouse: str = ""
    # Levels the trained weights rank against their order (inversions()): never a real model.
    inverted: list[str] = field(default_factory=list)
    # right record -> its auto-matched left record, under the current and the trained weights
    current_matches: dict[str, str] = field(default_factory=dict, repr=False)
    trained_matches: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def agrees(self) -> bool:
        if self.inverted:
            return False
        if self.current == 0:
            return self.added <= MAX_NEW * max(self.scored_records, 1)
        return self.kept >= MIN_KEPT * self.current and self.added <= MAX_NEW * self.current

    def render(self) -> str:
        share = f" ({self.kept / self.current:.0%})" if self.current else ""
        if self.agrees:
            verdict = "agrees with the current weights"
        elif self.inverted:
            verdict = "DISAGREES: " + "; ".join(self.inverted)
        else:
            verdict = f"DISAGREES (needs at least {MIN_KEPT:.0%} kept and at most {MAX_NEW:.0%} as many added)"
        where = f" [{self.warehouse}]" if self.warehouse else ""
        return (
            f"{self.name}{where}: of {self.scored_records:,} records the scored pass compares (each with its best "
            f"candidate), the current weights auto-match {self.current:,}; the trained weights keep {self.kept:,}"
            f"{share} of those and auto-match {self.added:,} others: {verdict}"
        )


# Comparison methods whose levels run from the closest agreement (level 0) to the least:
# trained weights that make the least agreement better evidence than the closest have
# found another latent class (for a name: "another client of the same block").
ORDERED_METHODS = ("similarity", "edit_distance")


def level_weights(result: TrainResult) -> dict[tuple[str, int], float]:
    """log2(m/u) per (field, level) of the rows a result would write (after monotone pooling)."""
    return {
        (r["field"], int(r["level"])): math.log2(float(r["m_probability"]) / float(r["u_probability"]))
        for r in result.rows
    }


def inversions(result: TrainResult, spec: dict) -> list[str]:
    """Ordered comparisons whose last level outweighs their first under the trained weights."""
    weight = level_weights(result)
    out = []
    for comparison in spec["comparisons"]:
        levels = comparison["levels"]
        if comparison.get("method") not in ORDERED_METHODS or len(levels) < 2:
            continue
        f, last = comparison["field"], len(levels) - 1
        if (f, 0) in weight and (f, last) in weight and weight[(f, last)] > weight[(f, 0)]:
            out.append(
                f"{f} '{levels[last]['name']}' ({weight[(f, last)]:+.2f} bits) outweighs "
                f"'{levels[0]['name']}' ({weight[(f, 0)]:+.2f})"
            )
    return out


def _probability(log_odds: float) -> float:
    return 1 / (1 + 2 ** min(-log_odds, 1000.0))


def agreement(warehouse: Path, result: TrainResult, spec: dict, prior: float | None = None) -> Agreement:
    """Compare the scored pass's auto-matches under the current and the trained weights (see Agreement).

    The trained weights are taken with the trained prior, or with ``prior`` (the spec's,
    for --write, which changes the weights only).
    """
    fields = [c["field"] for c in spec["comparisons"]]
    auto = float(spec["thresholds"]["auto_match"])
    model = result.model
    by_level = level_weights(result)
    prior = model.prior if prior is None else prior
    prior_log_odds = math.log2(prior / (1 - prior)) if 0 < prior < 1 else None
    levels = ", ".join(f"level_{f}" for f in fields)
    con = _open(warehouse)
    try:
        rows = con.execute(
            # the name and fields come from the configured spec, not from user data
            f"select right_key, left_key, match_weight, match_probability, {levels} "
            f"from intermediate.int_{result.name}__pairs where not coalesce(is_deterministic, false)"
        ).fetchall()
    except duckdb.Error as exc:
        raise TrainError(f"{result.name}: cannot read the candidate pairs of {warehouse}: {exc}") from exc
    finally:
        con.close()

    def better(weight: float, left: str, best: tuple | None) -> bool:
        # The pair model's order: the higher weight, then the lower left key.
        return best is None or weight > best[0] or (weight == best[0] and left < best[1])

    current: dict[str, tuple[float, str, float]] = {}  # right -> (weight, left, probability) of its best
    trained: dict[str, tuple[float, str]] = {}
    for right, left, weight, probability, *lv in rows:
        left, weight = str(left), weight or 0.0
        new_weight = sum(by_level.get((f, lev), 0.0) for f, lev in zip(fields, lv, strict=True) if lev is not None)
        if better(weight, left, current.get(right)):
            current[right] = (weight, left, probability or 0.0)
        if better(new_weight, left, trained.get(right)):
            trained[right] = (new_weight, left)
    now_auto = {r: best[1] for r, best in current.items() if best[2] >= auto}
    if prior_log_odds is None:  # no scored pairs: nothing is auto-matched by the scored pass
        new_auto: dict[str, str] = {}
    else:
        new_auto = {r: left for r, (w, left) in trained.items() if _probability(w + prior_log_odds) >= auto}
    kept = sum(1 for r, left in now_auto.items() if new_auto.get(r) == left)
    added = sum(1 for r, left in new_auto.items() if now_auto.get(r) != left)
    return Agreement(
        result.name, len(now_auto), kept, added, len(current), str(warehouse), inversions(result, spec), now_auto,
        new_auto,
    )  # fmt: skip


def _inside_project(path: Path) -> bool:
    """Whether ``path`` (resolved, through any link) is the project or lies inside it, also
    on a case-insensitive file system: its nearest existing ancestor is compared by inode."""
    target = path.resolve()
    project = PROJECT_DIR.resolve()
    if target == project or project in target.parents:
        return True
    existing = next((p for p in (target, *target.parents) if p.exists()), None)
    while existing is not None:
        try:
            if os.path.samefile(existing, project):
                return True
        except OSError:
            return False
        existing = existing.parent if existing.parent != existing else None
    return False


def rules_dir_problem(rules_dir: Path) -> str | None:
    """Why ``rules_dir`` cannot take trained weights for ``recon shadow --rules`` (None: it can)."""
    if _inside_project(rules_dir):
        return (
            f"{rules_dir} is the project or inside it: --to writes a separate rules directory for "
            "recon shadow --rules (use --write to change the project's own seed)"
        )
    if rules_dir.exists() and not rules_dir.resolve().is_dir():
        return f"{rules_dir} is a file, not a directory"
    return None


PRIOR_LINE = re.compile(r"(\n\s*prior_match_probability:\s*)[0-9.eE+-]+")


def write_rules_dir(rules_dir: Path, results: list[TrainResult]) -> list[Path]:
    """Lay the trained weights (and priors) out like the project under ``rules_dir``.

    ``seeds/match_weights.csv`` is a fresh copy of the project's seed with the trained
    reconciliations' rows replaced (an earlier --to into the same directory does not
    linger), and each trained spec is copied to ``macros/specs/`` with its
    ``prior_match_probability`` set to the estimate, so recon shadow scores with the
    prior the comparison used. Raises OSError (unwritable) as it comes.
    """
    seed = rules_dir / "seeds" / weights.WEIGHTS_SEED.name
    specs_dir = rules_dir / "macros" / "specs"
    for out in (seed, specs_dir / "spec.sql"):  # a link inside DIR must not lead into the project
        if _inside_project(out.parent if out.parent.exists() else rules_dir):
            raise OSError(f"{out.parent} leads into the project (a link?); nothing written")
    seed.parent.mkdir(parents=True, exist_ok=True)
    if seed.is_symlink():
        seed.unlink()
    shutil.copyfile(weights.WEIGHTS_SEED, seed)
    # Specs an earlier --to left here would lay an old prior over this run's weights.
    for stale in specs_dir.glob("spec__*.sql") if specs_dir.is_dir() else []:
        stale.unlink()
    written = [seed]
    for result in results:
        weights.write_weights(result.name, result.rows, seed)
        prior = result.model.prior
        if result.model.note or not 0 < prior < 1:
            continue  # no estimate: the spec keeps its prior
        spec_file = PROJECT_DIR / "macros" / "specs" / f"spec__{result.name}.sql"
        text, count = PRIOR_LINE.subn(rf"\g<1>{prior:.4f}", spec_file.read_text())
        if count != 1:
            raise OSError(
                f"{spec_file} does not hold one thresholds.prior_match_probability line; set it by hand in "
                f"{specs_dir / spec_file.name} to {prior:.4f}"
            )
        out = specs_dir / spec_file.name
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        written.append(out)
    return written


# Fewer scored pairs than this and the estimate says little: render() says so.
FEW_SCORED_PAIRS = 200


def render(result: TrainResult, spec: dict | None = None) -> str:
    model = result.model
    current = f" (the spec has {spec['thresholds']['prior_match_probability']})" if spec else ""
    lines = [
        f"== {result.name}: EM on {model.scored_pairs:,} scored pairs, m initialised from "
        f"{model.deterministic_pairs:,} deterministic pairs ({model.patterns} level patterns); "
        f"{'converged' if model.converged else 'NOT converged'} after {model.iterations} iterations "
        f"({result.seconds:.2f}s) ==",
        weights.bayes_factor_table(result.rows),
        model.note
        or "prior_match_probability (estimated share of true matches among scored candidates): "
        f"{model.prior:.4f}{current}",
    ]
    if not model.note and model.scored_pairs < FEW_SCORED_PAIRS:
        lines.append(
            f"few scored pairs ({model.scored_pairs:,}, under {FEW_SCORED_PAIRS}): these weights are mostly noise; "
            "train on more data (several --warehouse are pooled)"
        )
    return "\n".join(lines)
