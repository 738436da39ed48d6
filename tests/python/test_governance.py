"""Rule versions by content hash, approvals by three roles, and the run gate."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from orchestration import cli, pipeline
from orchestration.rules import governance
from orchestration.settings import PROJECT_DIR


@pytest.fixture
def rules_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the project's rule files, with its own (empty) approvals file."""
    root = tmp_path / "project"
    shutil.copytree(PROJECT_DIR / "macros" / "specs", root / "macros" / "specs")
    shutil.copytree(PROJECT_DIR / "seeds", root / "seeds")
    shutil.copy(PROJECT_DIR / "dbt_project.yml", root / "dbt_project.yml")
    for pattern in governance.RULE_GLOBS:
        for path in PROJECT_DIR.glob(pattern):
            (root / path.relative_to(PROJECT_DIR)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, root / path.relative_to(PROJECT_DIR))
    (root / "config").mkdir(exist_ok=True)
    shutil.copy(PROJECT_DIR / "config" / "operators.yml", root / "config" / "operators.yml")
    monkeypatch.setenv("RECON_APPROVALS", str(tmp_path / "approvals.yml"))
    return root


@pytest.fixture
def signing_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The development approvers' keys where `approve` looks for them: ~/.config/recon/NAME.key, mode 0600."""
    home = tmp_path / "home"
    keys = home / ".config" / "recon"
    keys.mkdir(parents=True)
    for key in governance.DEV_KEYS_DIR.glob("*.key"):
        shutil.copy(key, keys / key.name)
        (keys / key.name).chmod(0o600)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("RECON_SIGNING_KEY", raising=False)
    monkeypatch.delenv("RECON_OPERATORS", raising=False)
    return keys


def test_the_repository_rules_are_approved() -> None:
    current = governance.status()
    assert current.approved, current.message()
    assert cli.main(["governance", "check"]) == 0


def test_any_rule_change_is_a_new_version(rules_root: Path) -> None:
    before = governance.rules_hash(rules_root)
    assert before == governance.rules_hash(PROJECT_DIR)
    spec = rules_root / "macros" / "specs" / "spec__orders_invoices.sql"
    spec.write_text(spec.read_text().replace("auto_match: 0.95", "auto_match: 0.90"))
    changed = governance.rules_hash(rules_root)
    assert changed != before
    policy = rules_root / "seeds" / "severity_policy.csv"
    policy.write_text(policy.read_text().replace("block_payout,24,", "block_payout,48,"))
    assert governance.rules_hash(rules_root) not in (before, changed)


@pytest.mark.parametrize(
    ("relative", "old", "new"),
    [
        ("seeds/fx_rates.csv", "EUR,2024-01-01,", "EUR,2024-01-01,9"),
        ("macros/money/convert_amount.sql", "/ cast", "* 1 / cast"),
        ("macros/money/fx_rate_join.sql", "date_trunc('month'", "date_trunc('year'"),
        ("models/intermediate/exceptions/int_exception_breaks.sql", "2 * reconciled_orders", "3 * reconciled_orders"),
        ("config/operators.yml", "adjustment_approval_threshold: 500.00", "adjustment_approval_threshold: 50000.00"),
        # Who may act for others or approve is governed too: the whole roster is hashed.
        ("config/operators.yml", "alice: {team: finance, roles: [operator]}",
         "alice: {team: finance, roles: [operator, act_as]}"),
        ("config/operators.yml", "dana: {team: data, roles: [data_owner],",
         "dana: {team: data, roles: [data_owner, act_as],"),
    ],
)  # fmt: skip
def test_what_changes_money_outcomes_is_governed(rules_root: Path, relative: str, old: str, new: str) -> None:
    """FX rates, conversion, the exception models and the adjustment threshold are rules too."""
    before = governance.rules_hash(rules_root)
    path = rules_root / relative
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new, 1))
    assert governance.rules_hash(rules_root) != before


def test_three_roles_by_three_people_approve_a_version(rules_root: Path, signing_keys: Path) -> None:
    status = governance.status(rules_root)
    assert status.missing_roles == ["data_owner", "operations_lead", "governance_reviewer"]
    with pytest.raises(governance.GovernanceError, match="not approved: missing data_owner"):
        governance.require_approved(rules_root)
    with pytest.raises(governance.GovernanceError, match="does not hold the data_owner role"):
        governance.approve("data_owner", "alice", root=rules_root)
    governance.approve("data_owner", "dana", root=rules_root)
    governance.approve("operations_lead", "olga", root=rules_root)
    with pytest.raises(governance.GovernanceError, match="missing governance_reviewer"):
        governance.require_approved(rules_root)
    governance.approve("governance_reviewer", "gina", "reviewed the drift report", root=rules_root)
    assert governance.require_approved(rules_root).approved
    # Approved for that content only: the next change needs its own approvals.
    weights = rules_root / "seeds" / "match_weights.csv"
    weights.write_text(weights.read_text() + "\n")
    assert governance.status(rules_root).missing_roles == list(governance.REQUIRED_ROLES)


def test_a_run_with_unapproved_rules_is_refused(recon_home: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("RECON_APPROVALS", str(tmp_path / "nobody-approved.yml"))
    assert pipeline.run_pipeline() is False
    err = capsys.readouterr().err
    assert "recon run refused" in err and "missing data_owner, operations_lead, governance_reviewer" in err
    assert not (recon_home / "warehouse.duckdb").exists()
    assert cli.main(["governance", "check"]) == governance.EXIT_UNAPPROVED


@pytest.mark.parametrize(
    "note",
    [
        "x" * 2001,
        "looks fine\x1b[2Kapproved by everyone",
        "approved \u202edesrever",  # a tryout: a right-to-left override showed another note than was signed
        "ok\u2066hidden\u2069",
        "line\rover",
        "c1\x9bcontrol",
    ],
)
def test_an_approval_note_is_bounded_plain_text(rules_root: Path, signing_keys: Path, note: str) -> None:
    with pytest.raises(governance.GovernanceError, match="--note must be plain text of at most 2000 characters"):
        governance.approve("data_owner", "dana", note, root=rules_root)
    assert governance.status(rules_root).approvals == []
