"""`recon train`: EM recovers a known Fellegi–Sunter model; the CLI on a real built warehouse."""

from __future__ import annotations

import csv
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from orchestration import cli, pipeline, settings, specs
from orchestration.rules import train, weights
from orchestration.rules.train import Pattern

# A known model: 4 comparison fields; m favours the best levels, u the worst.
M = [[0.85, 0.10, 0.05], [0.70, 0.20, 0.10], [0.60, 0.30, 0.10], [0.90, 0.10]]
U = [[0.05, 0.15, 0.80], [0.10, 0.30, 0.60], [0.20, 0.30, 0.50], [0.50, 0.50]]
PRIOR = 0.3


def draw(rng: random.Random, probabilities: list[list[float]], missing: float = 0.0) -> tuple[int, ...]:
    return tuple(-1 if rng.random() < missing else rng.choices(range(len(p)), weights=p)[0] for p in probabilities)


def synthetic_patterns(scored: int, deterministic: int, seed: int = 7) -> list[Pattern]:
    """Pairs drawn from the model, counted per level vector (as the SQL group by does)."""
    rng = random.Random(seed)
    counts: dict[tuple[bool, tuple[int, ...]], int] = {}
    for _ in range(scored):
        levels = draw(rng, M if rng.random() < PRIOR else U, missing=0.05)
        counts[(False, levels)] = counts.get((False, levels), 0) + 1
    for _ in range(deterministic):
        # Deterministic pairs are true pairs that also agree on the first field.
        levels = (0, *draw(rng, M[1:]))
        counts[(True, levels)] = counts.get((True, levels), 0) + 1
    return [Pattern(levels, det, n) for (det, levels), n in counts.items()]


def test_em_recovers_known_m_u_and_prior() -> None:
    patterns = synthetic_patterns(scored=40_000, deterministic=2_000)
    assert len(patterns) < 300  # EM runs on distinct patterns, not on the 42,000 pairs
    # The EM fit itself (classify=False): counting its classification instead, as the
    # default does, biases m and u where the classes overlap as much as here.
    model = train.estimate(patterns, [len(p) for p in M], classify=False)
    assert model.converged
    assert model.prior == pytest.approx(PRIOR, abs=0.02)
    for f in range(len(M)):
        for level in range(len(M[f])):
            assert model.m[f][level] == pytest.approx(M[f][level], abs=0.03), (f, level)
            assert model.u[f][level] == pytest.approx(U[f][level], abs=0.03), (f, level)
    # The log-likelihood rises (add-one smoothing makes this MAP-EM: it may dip by rounding-size
    # amounts near the optimum, not more).
    history = model.history
    assert history[-1] > history[0]
    assert all(b >= a - 1e-8 * abs(a) for a, b in zip(history, history[1:], strict=False))


def test_em_with_a_handful_of_scored_matches_keeps_m_near_the_certain_ones() -> None:
    # 200 scored pairs of which 3 % are matches (about 6), beside 3,000 deterministic ones:
    # plain EM has too few matches to see and flattens m; the prior centred on the
    # deterministic pairs keeps m and the prior near the truth.
    rng = random.Random(11)
    counts: dict[tuple[bool, tuple[int, ...]], int] = {}
    for _ in range(200):
        levels = draw(rng, M if rng.random() < 0.03 else U)
        counts[(False, levels)] = counts.get((False, levels), 0) + 1
    for _ in range(3_000):
        levels = (0, *draw(rng, M[1:]))
        counts[(True, levels)] = counts.get((True, levels), 0) + 1
    patterns = [Pattern(levels, det, n) for (det, levels), n in counts.items()]
    n_levels = [len(p) for p in M]
    with_prior = train.estimate(patterns, n_levels)
    without = train.estimate(patterns, n_levels, anchor_prior=0)
    error = lambda model: sum(abs(model.m[f][0] - M[f][0]) for f in range(1, len(M)))  # noqa: E731
    assert error(with_prior) < 0.3 and error(with_prior) < error(without) / 2, (with_prior.m, without.m)
    assert with_prior.prior == pytest.approx(0.03, abs=0.03)


# projects_orders on dialect A's training seeds 101 + 102 (5,000 orders): level vectors
# (reference, name, amount, date, currency) of the pairs model, -1 a null.
PROJECT_PAIRS = {
    True: {
        (0, 0, 0, 0, 0): 3141,
        (-1, 0, 0, 0, 0): 794,
        (0, 0, 2, 0, 0): 115,
        (0, 0, -1, -1, 0): 59,
        (0, 1, 0, 0, 0): 40,
        (-1, 0, 2, 0, 0): 25,
    },
    False: {
        (-1, 0, 0, 0, 0): 84,
        (-1, 0, -1, -1, 0): 26,
        (-1, 0, 3, 0, 0): 23,
        (-1, 0, 2, 0, 0): 16,
        (-1, 2, -1, -1, 0): 9,
        (2, 0, 3, 0, 0): 5,
        (2, 0, -1, -1, 0): 4,
        (-1, 0, 2, 1, 0): 3,
        (-1, 2, 3, 0, 0): 3,
        (-1, 1, 0, 0, 0): 2,
        (-1, 0, 3, 1, 0): 2,
        (-1, 1, 3, 0, 0): 1,
        (2, 2, 1, 0, 0): 1,
        (2, 2, 3, 0, 0): 1,
        (-1, 0, 1, 0, 0): 1,
        (-1, 2, 2, 0, 0): 1,
        (2, 0, 3, 1, 0): 1,
        (-1, 0, 0, 1, 0): 1,
        (-1, 1, 3, 1, 0): 1,
        (-1, 1, 2, 0, 0): 1,
        (-1, 1, -1, -1, 0): 1,
        (2, 2, -1, -1, 0): 1,
        (2, 0, 2, 0, 0): 1,
    },
}


def test_em_smooths_once_after_convergence_not_in_every_iteration() -> None:
    # 189 scored pairs, 84 of them one pattern of true matches (no reference, same name,
    # exact amount): a pseudo-count on u inside the iterations lowered their posterior,
    # which moved more of them into u, and so on - u of an exact amount 0.098 where the
    # labelled count (1 exact among 52 non-matches, add-one) gives 0.036, and the matches
    # scored 3.75 bits instead of 5.4 (suggested instead of matched).
    patterns = [Pattern(levels, det, n) for det, by in PROJECT_PAIRS.items() for levels, n in by.items()]
    model = train.estimate(patterns, [3, 3, 4, 3, 2])
    assert model.converged
    assert model.u[2][0] < 0.05, model.u[2]
    assert sum(model.weight(f, 0) for f in (1, 2, 3, 4)) > 5.0
    assert model.prior == pytest.approx(0.57, abs=0.05)  # labelled: 0.572
    assert all(p > 0 for row in model.m + model.u for p in row)


def test_em_smooths_unseen_levels() -> None:
    # Level 2 of the first field never occurs: it stays possible (add-one), not 0.
    patterns = [Pattern((0, 0, 0, 0), True, 50), Pattern((0, 1, 1, 0), False, 30), Pattern((1, 2, 2, 1), False, 300)]
    model = train.estimate(patterns, [len(p) for p in M])
    assert all(p > 0 for row in model.m + model.u for p in row)
    assert 0 < model.prior < 1


def test_cli_refuses_an_unknown_reconciliation(capsys: pytest.CaptureFixture[str], recon_home: Path) -> None:
    assert cli.main(["train", "--reconciliations", "orders_invoices", "no_such_thing"]) == 2
    err = capsys.readouterr().err
    assert "unknown reconciliation 'no_such_thing'" in err
    assert "vars.reconciliations" in err and "orders_invoices" in err


def test_cli_says_when_there_is_no_warehouse(capsys: pytest.CaptureFixture[str], recon_home: Path) -> None:
    assert cli.main(["train"]) == 2
    assert "no warehouse at" in capsys.readouterr().err


@pytest.fixture(scope="module")
def built_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generated agency built up to the pair models with plain dbt."""
    home = tmp_path_factory.mktemp("train")
    mp = pytest.MonkeyPatch()
    for var in ("RECON_HOME", "RECON_DUCKDB_PATH", "DAGSTER_HOME"):
        mp.setenv(var, str(home))  # restored on undo; build_scratch points them at home
    names = specs.configured()
    pipeline.build_scratch(home, seed=5, orders=500, noise=1.0, select=" ".join(f"+int_{n}__pairs" for n in names))
    yield home
    mp.undo()


def test_train_write_on_a_built_warehouse(
    built_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project_seed = (settings.PROJECT_DIR / "seeds" / "match_weights.csv").read_bytes()
    seed = tmp_path / "match_weights.csv"
    shutil.copy(weights.WEIGHTS_SEED, seed)
    monkeypatch.setattr(weights, "WEIGHTS_SEED", seed)  # never the project's seed
    warehouse = built_home / "warehouse.duckdb"
    # 500 orders leave a handful of scored pairs: EM's weights auto-match none of the few
    # records the shipped weights auto-match, so --write refuses them (exit 3) untouched.
    before = seed.read_bytes()
    assert cli.main(["train", "--write", "--warehouse", str(warehouse)]) == 3
    captured = capsys.readouterr()
    assert "DISAGREES" in captured.out and "not written" in captured.err and "recon shadow --rules" in captured.err
    assert seed.read_bytes() == before
    assert cli.main(["train", "--write", "--force", "--warehouse", str(warehouse)]) == 0
    out = capsys.readouterr().out
    with open(seed, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for name in specs.configured():
        spec = specs.load_spec(name)
        expected = {
            (c["field"], str(i), level["name"]) for c in spec["comparisons"] for i, level in enumerate(c["levels"])
        }
        written = [r for r in rows if r["reconciliation"] == name]
        assert {(r["field"], r["level"], r["level_name"]) for r in written} == expected
        assert len(written) == len(expected)
        for r in written:
            assert 0 < float(r["m_probability"]) < 1 and 0 < float(r["u_probability"]) < 1
    assert "spec__orders_invoices.sql to 0." in out
    assert (settings.PROJECT_DIR / "seeds" / "match_weights.csv").read_bytes() == project_seed


def test_train_one_reconciliation_leaves_the_others(built_home: Path, tmp_path: Path, monkeypatch) -> None:
    seed = tmp_path / "match_weights.csv"
    shutil.copy(weights.WEIGHTS_SEED, seed)
    before = [r for r in csv.DictReader(seed.open()) if r["reconciliation"] != "projects_orders"]
    monkeypatch.setattr(weights, "WEIGHTS_SEED", seed)
    warehouse = built_home / "warehouse.duckdb"
    args = ["train", "--write", "--force", "--reconciliations", "projects_orders", "--warehouse", str(warehouse)]
    assert cli.main(args) == 0
    after = [r for r in csv.DictReader(seed.open()) if r["reconciliation"] != "projects_orders"]
    assert after == before


def test_a_missing_weight_fails_the_build_naming_spec_field_and_level(built_home: Path) -> None:
    # A weight row the seed lacks must stop the pairs model, never count as 0.
    con = duckdb.connect(str(built_home / "warehouse.duckdb"))
    try:
        con.execute(
            "delete from reference.match_weights where reconciliation = 'orders_invoices' "
            "and field = 'name' and level = 2"
        )
    finally:
        con.close()
    dbt = Path(sys.executable).with_name("dbt")
    done = subprocess.run(
        # Its own target directory: the project's target/ holds the manifest other runs read.
        [
            str(dbt),
            "run",
            "--select",
            "int_orders_invoices__pairs",
            "--project-dir",
            str(settings.PROJECT_DIR),
            "--target-path",
            str(built_home / "target"),
        ],
        cwd=settings.PROJECT_DIR,
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "RECON_HOME": str(built_home),
            "RECON_DUCKDB_PATH": str(built_home / "warehouse.duckdb"),
            "DBT_PROFILES_DIR": str(settings.PROJECT_DIR / "profiles"),
            "DO_NOT_TRACK": "1",
        },
    )
    assert done.returncode != 0
    assert "no weight for reconciliation orders_invoices, field name, level 2 (medium)" in done.stdout


# projects_orders on dialect A's training seeds 103 + 104: scored pairs (deterministic
# ones in PROJECT_PAIRS_103[True]); one non-match with another name, an exact amount
# and a near date, (-1, 2, 0, 1, 0), decides the expected counts' fixed point.
PROJECT_PAIRS_103 = {
    True: {
        (0, 0, 0, 0, 0): 3264,
        (-1, 0, 0, 0, 0): 796,
        (0, 0, 2, 0, 0): 132,
        (0, 0, -1, -1, 0): 46,
        (-1, 0, 2, 0, 0): 25,
        (0, 0, 1, 0, 0): 7,
        (0, 1, 0, 0, 0): 7,
        (-1, 0, 1, 0, 0): 2,
        (0, 1, 2, 0, 0): 1,
        (2, 0, 3, 0, 0): 1,
    },
    False: {
        (-1, 0, 0, 0, 0): 75,
        (-1, 0, -1, -1, 0): 20,
        (-1, 0, 2, 0, 0): 19,
        (-1, 0, 3, 0, 0): 19,
        (-1, 0, 3, 1, 0): 9,
        (-1, 2, -1, -1, 0): 5,
        (2, 0, 2, 0, 0): 3,
        (2, 0, 3, 0, 0): 3,
        (-1, 2, 3, 0, 0): 3,
        (-1, 1, 0, 0, 0): 2,
        (-1, 0, 1, 0, 0): 2,
        (-1, 0, 2, 0, 1): 1,
        (-1, 2, 0, 1, 0): 1,
        (2, 0, 3, 1, 0): 1,
        (-1, 0, 3, 1, 1): 1,
        (-1, 0, 2, 1, 0): 1,
        (-1, 2, 0, 0, 0): 1,
        (-1, 1, 3, 0, 0): 1,
        (-1, 1, 3, 1, 0): 1,
        (2, 2, 2, 0, 0): 1,
        (-1, 2, 2, 1, 0): 1,
    },
}


def test_em_counts_the_fit_s_classification_not_its_expected_counts() -> None:
    # 75 of the 170 scored pairs are one pattern of true matches (70 known true, none
    # false). Counted on expected counts, 1 - posterior of them stayed in u at an exact
    # amount, which lowered their posterior, and so on: u of an exact amount 0.080 where
    # the labelled count gives 0.045, and at the spec's prior 0.39 they scored 0.921,
    # under the 0.95 auto-match line (labelled: 0.958).
    patterns = [Pattern(levels, det, n) for det, by in PROJECT_PAIRS_103.items() for levels, n in by.items()]
    model = train.estimate(patterns, [3, 3, 4, 3, 2])
    assert model.converged
    assert model.u[2][0] < 0.05, model.u[2]
    main = (-1, 0, 0, 0, 0)
    odds = 0.39 / 0.61 * 2 ** sum(model.weight(f, level) for f, level in enumerate(main) if level >= 0)
    assert odds / (1 + odds) > 0.95
    assert model.prior == pytest.approx(0.53, abs=0.03)  # labelled: 0.530
    assert all(p > 0 for row in model.m + model.u for p in row)
    expected = train.estimate(patterns, [3, 3, 4, 3, 2], classify=False)
    assert expected.u[2][0] > 0.07  # the leak this guards against


def test_agreement_thresholds() -> None:
    def agreement(current: int, kept: int, added: int, scored: int = 1000) -> bool:
        return train.Agreement("r", current, kept, added, scored).agrees

    assert agreement(286, 286, 28)  # dialect A's own weights on a dev seed
    assert not agreement(418, 275, 267)  # dialect B: another latent class
    assert not agreement(100, 89, 0) and agreement(100, 90, 25) and not agreement(100, 90, 26)
    # Nothing auto-matched today: at most a quarter of the scored records may become so.
    assert agreement(0, 0, 250) and not agreement(0, 0, 251)


def _flipped(result: train.TrainResult) -> train.TrainResult:
    """The same result with m and u swapped: weights that call every agreement a disagreement."""
    rows = [{**r, "m_probability": r["u_probability"], "u_probability": r["m_probability"]} for r in result.rows]
    return train.TrainResult(result.name, result.model, rows, result.seconds)


def test_agreement_on_a_built_warehouse(built_home: Path) -> None:
    warehouse = built_home / "warehouse.duckdb"
    result = train.train([warehouse], ["delivery_orders"])[0]
    spec = specs.load_spec("delivery_orders")
    # The pairs model's own probabilities, rescored with the weights it was built with:
    # every auto-match kept, none added.
    current = {(r["field"], r["level"]): r for r in csv.DictReader(weights.WEIGHTS_SEED.open())
               if r["reconciliation"] == "delivery_orders"}  # fmt: skip
    as_built = train.TrainResult("delivery_orders", result.model, [current[(r["field"], str(r["level"]))]
                                 for r in result.rows], 0.0)  # fmt: skip
    as_built.model.prior = spec["thresholds"]["prior_match_probability"]
    same = train.agreement(warehouse, as_built, spec)
    assert same.current > 0 and same.kept == same.current and same.added == 0 and same.agrees
    flipped = train.agreement(warehouse, _flipped(as_built), spec)
    assert flipped.current == same.current and flipped.kept == 0 and not flipped.agrees
    assert "DISAGREES" in flipped.render() and f"the current weights auto-match {same.current:,}" in flipped.render()
    # Swapped m and u rank every ordered comparison backwards: named, whatever the counts.
    assert any(i.startswith("name 'low'") and "outweighs 'very_high'" in i for i in flipped.inverted)
    assert same.inverted == [] and str(warehouse) in same.render()


def test_train_to_a_rules_directory_leaves_the_project_seed(
    built_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project_seed = weights.WEIGHTS_SEED.read_bytes()
    rules = tmp_path / "candidate"
    warehouse = built_home / "warehouse.duckdb"
    assert cli.main(["train", "--to", str(rules), "--warehouse", str(warehouse)]) == 0
    seed = rules / "seeds" / "match_weights.csv"
    written = list(csv.DictReader(seed.open()))
    assert {r["reconciliation"] for r in written} == set(specs.configured())
    # The spec beside it carries the estimated prior, so recon shadow scores as compared.
    spec = (rules / "macros" / "specs" / "spec__orders_invoices.sql").read_text()
    estimated = train.train([warehouse], ["orders_invoices"])[0].model.prior
    assert f"prior_match_probability: {estimated:.4f}" in spec
    # A second --to into the same directory starts again from the project's seed.
    assert cli.main(["train", "--to", str(rules), "--reconciliations", "lead_forms_leads", "--warehouse",
                     str(warehouse)]) == 0  # fmt: skip
    again = {(r["reconciliation"], r["field"], r["level"]): r for r in csv.DictReader(seed.open())}
    shipped = {(r["reconciliation"], r["field"], r["level"]): r for r in csv.DictReader(weights.WEIGHTS_SEED.open())}
    assert all(again[k] == shipped[k] for k in shipped if k[0] != "lead_forms_leads")
    assert weights.WEIGHTS_SEED.read_bytes() == project_seed
    capsys.readouterr()
    # Never the project itself, nor inside it (its own seeds/ would gain a second match_weights).
    monkeypatch.chdir(settings.PROJECT_DIR / "seeds")
    for target in (".", "..", str(settings.PROJECT_DIR)):
        assert cli.main(["train", "--to", target, "--warehouse", str(warehouse)]) == 2
        assert "is the project or inside it" in capsys.readouterr().err
    assert not (settings.PROJECT_DIR / "seeds" / "seeds").exists()
    assert weights.WEIGHTS_SEED.read_bytes() == project_seed
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert cli.main(["train", "--to", str(afile / "sub"), "--warehouse", str(warehouse)]) == 2
    assert "cannot write the weights" in capsys.readouterr().err
    assert cli.main(["train", "--to", str(rules), "--write", "--warehouse", str(warehouse)]) == 2


def test_a_name_or_warehouse_given_twice_counts_once(built_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    warehouse = str(built_home / "warehouse.duckdb")
    assert cli.main(["train", "--reconciliations", "orders_invoices", "--warehouse", warehouse]) == 0
    once = capsys.readouterr().out
    args = ["train", "--reconciliations", "orders_invoices", "orders_invoices", "--warehouse", warehouse,
            "--warehouse", warehouse]  # fmt: skip
    assert cli.main(args) == 0
    twice = capsys.readouterr().out
    assert twice.count("== orders_invoices: EM on") == 1
    header = next(line for line in once.splitlines() if line.startswith("== orders_invoices: EM on"))
    assert header.split("(")[0] in twice


def test_to_a_directory_whose_links_lead_into_the_project_is_refused(built_home: Path, tmp_path: Path, capsys) -> None:
    # The review: only the top directory was resolved; DIR/macros linked to the project's
    # macros let --to rewrite the project's spec.
    project_spec = (settings.PROJECT_DIR / "macros" / "specs" / "spec__orders_invoices.sql").read_bytes()
    rules = tmp_path / "candidate"
    rules.mkdir()
    (rules / "macros").symlink_to(settings.PROJECT_DIR / "macros")
    warehouse = str(built_home / "warehouse.duckdb")
    args = ["train", "--to", str(rules), "--reconciliations", "orders_invoices", "--warehouse", warehouse]
    assert cli.main(args) == 2
    assert "leads into the project" in capsys.readouterr().err
    assert (settings.PROJECT_DIR / "macros" / "specs" / "spec__orders_invoices.sql").read_bytes() == project_spec
