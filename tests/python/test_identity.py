"""Issue 10, "Identity is self-asserted": the CLI is the OS login, --as only with act_as,
approvals signed and verified, no self-made roster.

The login is replaced through ``identity.os_login`` (our own seam); stores are real SQLite
files, approvals real YAML files signed with real Ed25519 keys.
"""

from __future__ import annotations

import base64
import os
import shutil
import sqlite3
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from orchestration import actions, cli, identity
from orchestration.actions import ActionStore, IdentityRefused, Policy
from orchestration.rules import governance
from orchestration.settings import PROJECT_DIR

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
FIN = "a" * 32


def login_as(monkeypatch: pytest.MonkeyPatch, login: str) -> None:
    monkeypatch.setattr(identity, "os_login", lambda: login)


def make_store(path: Path, **kw) -> ActionStore:
    store = ActionStore(path, clock=lambda: T0, **kw)
    store.refresh_catalog(
        [{"exception_id": FIN, "exception_type": "unbilled_order", "owner_team": "finance",
          "severity": "manual_review", "sla_hours": 72, "amount_at_risk": "1200.00"}]
    )  # fmt: skip
    return store


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ActionStore:
    monkeypatch.delenv("RECON_OPERATORS", raising=False)
    return make_store(tmp_path / "actions.sqlite")


@pytest.fixture
def home_store(recon_home: Path, monkeypatch: pytest.MonkeyPatch) -> ActionStore:
    """A store where the CLI looks for it."""
    for name in ("RECON_ACTIONS_PATH", "RECON_AS_OF", "RECON_USER", "RECON_OPERATORS"):
        monkeypatch.delenv(name, raising=False)
    return make_store(recon_home / "actions.sqlite")


# ------------------------------------------------------------------ actions


def test_the_login_is_the_operator_and_both_are_recorded(store: ActionStore, monkeypatch) -> None:
    login_as(monkeypatch, "alice")
    entry = store.act("claim", FIN, None)
    assert (entry["actor"], entry["login"]) == ("alice", "alice")
    assert store.act("comment", FIN, "alice", comment="same person, named")["login"] == "alice"
    assert store.verify() == []


def test_a_plain_operator_may_not_act_as_someone_else(store: ActionStore, monkeypatch) -> None:
    login_as(monkeypatch, "alice")
    with pytest.raises(IdentityRefused, match=r"alice \(operator alice\) may not claim as bob: only a user with the "
                       r"act_as role may act for someone else. Drop --as"):  # fmt: skip
        store.act("claim", FIN, "bob")
    login_as(monkeypatch, "olga")  # an ops lead works any team's exceptions, but only as herself
    with pytest.raises(IdentityRefused, match="olga .operator olga. may not approve as bob"):
        store.act("approve", FIN, "bob", adjustment="ADJ-1")
    assert store.history(FIN) == []


def test_an_unknown_login_is_refused(store: ActionStore, monkeypatch) -> None:
    login_as(monkeypatch, "mallory")
    for actor in (None, "alice", "mallory"):
        with pytest.raises(IdentityRefused, match="OS login 'mallory' is not an operator in config/operators.yml"):
            store.act("claim", FIN, actor)
    assert store.history(FIN) == []


def test_act_as_records_the_login_and_the_operator(store: ActionStore, monkeypatch) -> None:
    login_as(monkeypatch, "root")  # the shipped roster's development user, dev_runner, holds act_as
    entry = store.act("claim", FIN, "alice")
    assert (entry["actor"], entry["login"]) == ("alice", "root")
    assert store.state(FIN).claimed_by == "alice"
    # The pipeline's own events record the login that ran it.
    assert store.refresh_catalog([])["auto_resolved"] == 1
    assert [(a["actor"], a["login"]) for a in store.history(FIN)] == [("alice", "root"), ("pipeline", "root")]


def test_the_login_is_in_the_hash_chain_and_older_entries_still_verify(tmp_path: Path, monkeypatch) -> None:
    """An entry written before `login` existed keeps its hash; a changed login is found."""
    path = tmp_path / "old.sqlite"
    con = sqlite3.connect(path)  # a store as the version before identities made it: no login column
    con.executescript(actions.SCHEMA.replace(",\n    login text", ""))
    state = '{"claimed_by": null, "escalated_to": null, "owner_team": "finance", "pending_adjustments": [], ' \
            '"status": "open"}'  # fmt: skip
    row = {k: None for k in actions.HASHED_FIELDS}
    row.update(seq=1, action_id="old1", exception_id=FIN, action="comment", actor="alice",
               acted_at=T0.isoformat(), comment="from before", state_before=state, state_after=state)  # fmt: skip
    row["prev_hash"], row["entry_hash"] = actions.GENESIS, actions.entry_hash(actions.GENESIS, row)
    columns = (*actions.HASHED_FIELDS, "prev_hash", "entry_hash")
    con.execute(f"insert into actions ({', '.join(columns)}) values ({', '.join('?' * len(columns))})",
                [row[c] for c in columns])  # fmt: skip
    con.commit()
    con.close()
    login_as(monkeypatch, "alice")
    store = make_store(path)  # migrates: adds the login column
    store.act("comment", FIN, None, comment="after")
    entries = store.all_actions()
    assert [e["login"] for e in entries] == [None, "alice"]
    assert store.verify() == []
    with sqlite3.connect(path) as con:
        con.execute("drop trigger actions_no_update")
        con.execute("update actions set login = 'bob' where seq = 2")
    assert store.verify() == ["entry seq 2: content does not match its hash (edited)"]


def test_logins_field_maps_os_logins_to_users(tmp_path: Path, monkeypatch) -> None:
    roster = tmp_path / "operators.yml"
    doc = yaml.safe_load((PROJECT_DIR / "config" / "operators.yml").read_text())
    doc["users"]["alice"]["logins"] = ["asmith", "alice.smith"]
    roster.write_text(yaml.safe_dump(doc))
    store = make_store(tmp_path / "a.sqlite", policy=Policy.load(roster))
    login_as(monkeypatch, "alice.smith")
    assert store.act("claim", FIN, None)["actor"] == "alice"
    login_as(monkeypatch, "alice")  # with logins: given, the name alone is not a login
    with pytest.raises(IdentityRefused, match="OS login 'alice' is not an operator"):
        store.act("comment", FIN, None, comment="x")
    doc["users"]["bob"]["logins"] = ["asmith"]
    roster.write_text(yaml.safe_dump(doc))
    with pytest.raises(IdentityRefused, match="maps the login 'asmith' to both alice and bob"):
        Policy.load(roster)


@pytest.mark.parametrize(
    ("threshold", "match"),
    [
        (".inf", "not inf"),  # YAML's infinity: maker-checker off for every adjustment
        ("1e309", "not .1e309."),  # a string to YAML 1.1, and far above any amount
        (".nan", "not nan"),
        ("-500", "not -500"),
        ("abc", "not 'abc'"),
    ],
)
def test_an_approval_threshold_that_is_no_amount_is_refused(tmp_path: Path, threshold: str, match: str) -> None:
    text = (PROJECT_DIR / "config" / "operators.yml").read_text()
    roster = tmp_path / "operators.yml"
    roster.write_text(
        "\n".join(
            f"adjustment_approval_threshold: {threshold}" if line.startswith("adjustment_approval_threshold:") else line
            for line in text.splitlines()
        )
    )
    with pytest.raises(IdentityRefused, match=f"adjustment_approval_threshold must be an amount .* {match}"):
        Policy.load(roster)


ALICE = "alice: {team: finance, roles: [operator]}"


@pytest.mark.parametrize(
    ("alice", "match"),
    [
        # Was a KeyError from Policy.load: every command of every operator, and every run
        # (each builds an ActionStore), stopped with a traceback.
        ("alice: {roles: [operator]}", "user alice: needs a team"),
        # Was frozenset('operator'): the letters o, p, e, r, a, t as roles, and "alice has no
        # operator role" at her first claim.
        ("alice: {team: finance, roles: operator}", "user alice: roles must be a list in brackets"),
        ("alice: {team: finance, roles: [operater]}", "user alice: unknown role 'operater' .did you mean 'operator'"),
        ("alice: {team: finance, role: [operator]}", "user alice: unknown key 'role' .did you mean 'roles'"),
        ("alice: {team: finance, roles: [operator], logins: [[root]]}", "user alice: logins must be a list"),
        ("alice: {team: finance, roles: [operator], dev_only: 'no'}", "user alice: dev_only is true or false"),
        # Loaded: alice had an empty queue and could claim nothing, and nothing said why.
        ("alice: {team: finanse, roles: [operator]}", "user alice: unknown team 'finanse' .did you mean 'finance'.."),
    ],
)
def test_a_roster_user_the_code_cannot_read_is_refused_naming_the_user(
    tmp_path: Path, monkeypatch, alice: str, match: str
) -> None:
    text = (PROJECT_DIR / "config" / "operators.yml").read_text()
    assert ALICE in text
    roster = tmp_path / "operators.yml"
    roster.write_text(text.replace(ALICE, alice, 1))
    with pytest.raises(IdentityRefused, match=f"operators.yml: {match}"):
        Policy.load(roster)
    # The governance check reads the same roster, so the mistake shows before it is approved.
    with pytest.raises(identity.IdentityError, match=match):
        identity.load_users(roster)
    # A numeric OS login (logins: [1000]) still reads as the login "1000".
    roster.write_text(text.replace(ALICE, "alice: {team: finance, roles: [operator], logins: [1000]}", 1))
    assert Policy.load(roster).operators["alice"].logins == ("1000",)


def test_the_rosters_teams_list_every_team_and_the_seeds_route_only_to_them(tmp_path: Path) -> None:
    import shutil

    text = (PROJECT_DIR / "config" / "operators.yml").read_text()
    roster = tmp_path / "operators.yml"
    # teams: was read by nothing; gina's governance (and dana's data) were not in it.
    roster.write_text(text.replace(", data, governance]", ", data]", 1))
    with pytest.raises(identity.IdentityError, match="user gina: unknown team 'governance'; teams: in that file lists"):
        identity.load_users(roster)
    roster.write_text(text.replace("\nteams: [", "\nteam: [", 1))
    with pytest.raises(identity.IdentityError, match="teams must list every team"):
        identity.load_users(roster)
    # A team misspelt in a routing seed: its exceptions would go to a queue nobody is in.
    root = tmp_path / "project"
    shutil.copytree(PROJECT_DIR / "seeds", root / "seeds")
    policy = root / "seeds" / "exception_policy.csv"
    policy.write_text(policy.read_text().replace(",billing,finance,", ",billing,finanse,", 1))
    with pytest.raises(
        identity.IdentityError, match="seeds/exception_policy.csv: owner_team 'finanse' is not in teams: .*'finance'"
    ):
        identity.load_users(identity.governed_roster(), root)
    assert "gina" in identity.load_users(identity.governed_roster())


def test_a_roster_or_approvals_file_that_writes_a_key_twice_is_refused(tmp_path: Path, monkeypatch) -> None:
    text = (PROJECT_DIR / "config" / "operators.yml").read_text()
    roster = tmp_path / "operators.yml"
    # A second alice further down would grant what a reviewer reading the first never saw.
    roster.write_text(text.replace("users:\n", "users:\n  alice: {team: finance, roles: [act_as]}\n", 1))
    with pytest.raises(IdentityRefused, match="key 'alice' is written twice"):
        Policy.load(roster)
    approvals = tmp_path / "approvals.yml"
    approvals.write_text("approvals: {}\napprovals: {}\n")
    monkeypatch.setenv("RECON_APPROVALS", str(approvals))
    with pytest.raises(governance.GovernanceError, match="key 'approvals' is written twice"):
        governance.require_approved()
    approvals.write_text("- not\n- a mapping\n")
    with pytest.raises(governance.GovernanceError, match="top level must be a mapping"):
        governance.require_approved()


def test_a_self_made_roster_is_refused(tmp_path: Path, monkeypatch) -> None:
    doc = yaml.safe_load((PROJECT_DIR / "config" / "operators.yml").read_text())
    doc["users"]["mallory"] = {"team": "finance", "roles": ["act_as", "approver", "data_owner"]}
    roster = tmp_path / "mine.yml"
    roster.write_text(yaml.safe_dump(doc))
    monkeypatch.setenv("RECON_OPERATORS", str(roster))
    with pytest.raises(IdentityRefused, match=r"RECON_OPERATORS=.*mine.yml is not the governed roster"):
        Policy.load()
    with pytest.raises(governance.GovernanceError, match="is not the governed roster"):
        governance.status()
    copy = tmp_path / "deployed.yml"  # a byte-identical copy grants nothing new: accepted
    shutil.copy(PROJECT_DIR / "config" / "operators.yml", copy)
    monkeypatch.setenv("RECON_OPERATORS", str(copy))
    assert "mallory" not in Policy.load().operators


def test_cli_refuses_as_and_recon_user_for_a_plain_operator(home_store, monkeypatch, capsys) -> None:
    login_as(monkeypatch, "alice")
    assert cli.main(["exceptions", "claim", FIN[:8], "--as", "bob"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("recon: refused: alice (operator alice) may not claim as bob")
    assert err.count("\n") == 1 and "Traceback" not in err
    monkeypatch.setenv("RECON_USER", "bob")  # a default for --as, not an identity
    assert cli.main(["exceptions", "claim", FIN[:8]]) == 3
    assert "may not claim as bob" in capsys.readouterr().err
    monkeypatch.setenv("RECON_USER", "alice")
    assert cli.main(["exceptions", "claim", FIN[:8]]) == 0
    assert "recorded as #1 by alice: status claimed" in capsys.readouterr().out
    login_as(monkeypatch, "nobody")
    assert cli.main(["exceptions", "comment", FIN[:8], "--text", "hi"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("recon: refused: OS login 'nobody' is not an operator") and "Traceback" not in err


def test_cli_act_as_names_the_login(home_store, monkeypatch, capsys) -> None:
    login_as(monkeypatch, "root")
    assert cli.main(["exceptions", "claim", FIN[:8], "--as", "alice"]) == 0
    assert "recorded as #1 by alice (login root)" in capsys.readouterr().out
    assert cli.main(["exceptions", "show", FIN[:8]]) == 0
    assert "alice    claim" in capsys.readouterr().out


def test_accept_fork_needs_the_login_to_be_an_ops_lead(home_store, monkeypatch) -> None:
    login_as(monkeypatch, "paul")  # operations, not an ops lead, cannot borrow olga's role
    with pytest.raises(IdentityRefused, match="paul .operator paul. may not accept a fork as olga"):
        actions.accept_fork(home_store, None, "olga", "restored")


def test_the_os_login_seam_reads_the_real_uid() -> None:
    import pwd

    assert identity.os_login() == pwd.getpwuid(os.getuid()).pw_name


# --------------------------------------------------------------- approvals


@pytest.fixture
def rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the project's rules and roster, an empty approvals file, the dev keys in ~/.config/recon."""
    root = tmp_path / "project"
    for pattern in (*governance.RULE_GLOBS, "dbt_project.yml"):
        for path in PROJECT_DIR.glob(pattern):
            (root / path.relative_to(PROJECT_DIR)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, root / path.relative_to(PROJECT_DIR))
    keys = tmp_path / "home" / ".config" / "recon"
    keys.mkdir(parents=True)
    for key in governance.DEV_KEYS_DIR.glob("*.key"):
        shutil.copy(key, keys / key.name)
        (keys / key.name).chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RECON_APPROVALS", str(tmp_path / "approvals.yml"))
    for name in ("RECON_SIGNING_KEY", "RECON_OPERATORS", "RECON_USER"):
        monkeypatch.delenv(name, raising=False)
    return root


def approve_all(root: Path) -> None:
    for role, who in (("data_owner", "dana"), ("operations_lead", "olga"), ("governance_reviewer", "gina")):
        governance.approve(role, who, "reviewed", root=root, login=who)


def test_each_approver_signs_as_themselves(rules: Path, monkeypatch) -> None:
    approve_all(rules)
    current = governance.status(rules)
    assert current.approved and current.problems == []
    entry = yaml.safe_load(Path(os.environ["RECON_APPROVALS"]).read_text())["approvals"][current.rules_hash]
    assert all(a["signature"].startswith("ed25519:") for a in entry["approvals"])


def test_one_person_cannot_run_all_three_approvals(rules: Path, monkeypatch) -> None:
    login_as(monkeypatch, "dana")
    governance.approve("data_owner", None, root=rules)
    with pytest.raises(governance.GovernanceError, match=r"dana \(operator dana\) may not approve rules as olga"):
        governance.approve("operations_lead", "olga", root=rules)
    # Even with act_as (the development runner) one key signs for one person only.
    login_as(monkeypatch, "root")
    monkeypatch.setenv("RECON_SIGNING_KEY", str(Path(os.environ["HOME"]) / ".config" / "recon" / "dana.key"))
    with pytest.raises(governance.GovernanceError, match="is not the one config/operators.yml registers for olga"):
        governance.approve("operations_lead", "olga", root=rules)
    assert governance.status(rules).missing_roles == ["operations_lead", "governance_reviewer"]


def test_one_key_registered_for_three_people_counts_once(rules: Path) -> None:
    roster = rules / "config" / "operators.yml"
    text = roster.read_text()
    dana_key = yaml.safe_load(text)["users"]["dana"]["public_key"]
    for name in ("olga", "gina"):
        text = text.replace(yaml.safe_load(text)["users"][name]["public_key"], dana_key)
    roster.write_text(text)
    dana = Path(os.environ["HOME"]) / ".config" / "recon" / "dana.key"
    for role, who in (("data_owner", "dana"), ("operations_lead", "olga"), ("governance_reviewer", "gina")):
        governance.approve(role, who, root=rules, login=who, key_path=dana)
    current = governance.status(rules)
    assert [a["by"] for a in current.approvals] == ["dana"]
    assert len(current.problems) == 2 and all("one key, one person" in p for p in current.problems)


def test_hand_written_and_forged_approvals_do_not_count_and_are_named_by_line(rules: Path) -> None:
    approve_all(rules)
    path = Path(os.environ["RECON_APPROVALS"])
    doc = yaml.safe_load(path.read_text())
    digest = governance.rules_hash(rules)
    approvals = doc["approvals"][digest]["approvals"]
    approvals[0]["note"] = "edited after signing"  # dana's
    del approvals[1]["signature"]  # olga's, as if written by hand
    mallory = Path(os.environ["HOME"]) / "mallory.key"  # gina's, signed by someone else's key
    _, _ = governance.keygen("mallory", mallory)
    forged = governance.load_private_key(mallory).sign(
        governance.signing_payload(digest, "governance_reviewer", "gina", approvals[2]["at"], approvals[2]["note"])
    )
    approvals[2]["signature"] = "ed25519:" + base64.b64encode(forged).decode()
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    current = governance.status(rules)
    assert current.approvals == [] and not current.approved
    lines = path.read_text().splitlines()
    assert len(current.problems) == 3
    for problem, who in zip(current.problems, ("dana", "olga", "gina"), strict=True):
        where = int(problem.split(":")[1])  # path:line: ...
        assert lines[where - 1].lstrip("- ").startswith("role:") and f"by {who}" in problem
    assert "does not verify against dana's registered key" in current.problems[0]
    assert "unsigned (hand-written" in current.problems[1]
    assert "does not verify against gina's registered key" in current.problems[2]
    assert "3 recorded approval(s) do not count" in current.message()


def test_a_signature_is_for_one_rule_version(rules: Path) -> None:
    approve_all(rules)
    path = Path(os.environ["RECON_APPROVALS"])
    doc = yaml.safe_load(path.read_text())
    before = governance.rules_hash(rules)
    weights = rules / "seeds" / "match_weights.csv"
    weights.write_text(weights.read_text() + "\n")
    after = governance.rules_hash(rules)
    doc["approvals"][after] = doc["approvals"][before]  # copy the signed entries onto the new rules
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    current = governance.status(rules)
    assert not current.approved and len(current.problems) == 3
    assert all("signed for other rules" in p for p in current.problems)


def test_a_readable_key_is_refused_and_keygen_writes_0600(rules: Path, tmp_path: Path, capsys) -> None:
    key = Path(os.environ["HOME"]) / ".config" / "recon" / "dana.key"
    key.chmod(0o644)
    with pytest.raises(governance.GovernanceError, match=r"mode 0644: others can read it. Run `chmod 600"):
        governance.approve("data_owner", "dana", root=rules, login="dana")
    out = tmp_path / "keys" / "new.key"
    assert cli.main(["governance", "keygen", "--as", "newbie", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    public = governance.public_key_text(governance.load_private_key(out).public_key())
    assert f"public_key: {public}" in printed
    assert cli.main(["governance", "keygen", "--as", "newbie", "--out", str(out)]) == 3  # never overwrites
    assert "exists: keygen never overwrites" in capsys.readouterr().err
    assert cli.main(["governance", "keygen", "--as", "../../etc/x"]) == 3
    assert "is not a user name" in capsys.readouterr().err


def test_cli_approve_refuses_in_one_line(rules: Path, monkeypatch, capsys) -> None:
    # The repository's rules and roster; the approval goes to the fixture's approvals file.
    login_as(monkeypatch, "gina")
    assert cli.main(["governance", "approve", "--role", "governance_reviewer", "--as", "dana"]) == 3
    err = capsys.readouterr().err
    assert (
        err == "recon: refused: gina (operator gina) may not approve rules as dana: only a user with the act_as "
        "role may act for someone else. Drop --as (and unset RECON_USER) to act as gina, or ask dana to do it\n"
    )
    assert cli.main(["governance", "approve", "--role", "governance_reviewer", "--note", "read it"]) == 0
    assert "missing data_owner, operations_lead" in capsys.readouterr().out


def test_production_check_refuses_the_development_roster(rules: Path, tmp_path: Path, capsys) -> None:
    problems = governance.production_problems(rules)
    assert any("user dev_runner is dev_only" in p for p in problems)
    flagged = {name for name in ("dana", "olga", "gina") for p in problems if f"{name}'s public_key is the dev" in p}
    assert flagged == {"dana", "olga", "gina"}
    doc = yaml.safe_load((rules / "config" / "operators.yml").read_text())
    del doc["users"]["dev_runner"]
    for name in ("dana", "olga", "gina"):
        _, doc["users"][name]["public_key"] = governance.keygen(name, tmp_path / f"prod-{name}.key")
    (rules / "config" / "operators.yml").write_text(yaml.safe_dump(doc))
    assert governance.production_problems(rules) == []
    # The repository's own roster is a development roster: CI's plain check passes, --production refuses.
    assert cli.main(["governance", "check", "--production"]) == governance.EXIT_UNAPPROVED
    assert "not for production: config/operators.yml: user dev_runner is dev_only" in capsys.readouterr().err


def test_a_reformatted_file_still_verifies(rules: Path) -> None:
    """Unquoting the timestamps (a YAML reformat) changes no signed text: the approvals still count."""
    approve_all(rules)
    path = Path(os.environ["RECON_APPROVALS"])
    text = path.read_text()
    assert "at: '" in text
    path.write_text(text.replace("at: '", "at: ").replace("+00:00'", "+00:00"))
    assert governance.status(rules).approved
