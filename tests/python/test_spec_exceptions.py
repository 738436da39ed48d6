"""A reconciliation added by its spec alone raises exceptions.

A copy of the project gains a small fixture reconciliation — credit notes ↔ the invoices
they credit — written the way docs/matching.md says to add one: a spec macro with an
`exceptions:` section, the three one-line models, its weights and its entry in
vars.reconciliations, and policy rows for its exception types. No exception SQL is
written. A real dbt build over generated data must raise its types for its unmatched
records, beside the built-in ones.

Both tests read one build (built once per pytest worker, `built_homes`): the held-out data
set (dialect B) plus a credit note naming an invoice nobody has, in a project copy that holds
the fixture reconciliation. The campaigns' exceptions the second test reads are the built-in
ones; the fixture reconciliation adds records of another entity beside them.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml
from conftest import BuiltHomes

from orchestration import ingest, settings
from orchestration.lab import dialect_b

SPEC = """{% macro spec__credit_notes_invoices() %}
{% set spec_yaml %}
name: credit_notes_invoices
rule_version: credit_notes_invoices.v1
description: Each credit note credits one invoice it names.
left:
  model: stg_billing__invoices
  key: invoice_id
  columns:
    invoice_key: invoice_id
    currency: currency
    amount: net_amount
    date: issue_date
right:
  model: stg_billing__credit_notes
  key: credit_note_id
  columns:
    invoice_key: invoice_id
    currency: currency
    amount: net_amount
    date: issue_date
deterministic:
  - name: invoice_named
    fields: [invoice_key]
blocking:
  max_candidates_per_record: 5
  keys:
    - {name: currency, field: currency, method: exact}
comparisons:
  - field: currency
    method: exact
    levels: [{name: same}, {name: different}]
thresholds: {prior_match_probability: 0.01, auto_match: 0.99, review: 0.9, ambiguity_margin: 3.0}
assignment: {rounds: 1, top_k: 3, left_accepts_many: true}
exceptions:
  right:
    client_name: client_name_billed
    currency: currency
    value: net_amount
    date: issue_date
    states: {unmatched: orphan_credit_note, ambiguous: ambiguous_credit_note, suggested: credit_note_needs_review}
{% endset %}
{{ return(fromyaml(spec_yaml)) }}
{% endmacro %}
"""
POLICY_ROWS = (
    'orphan_credit_note,billing,finance,manual_review,,credit note date,"A credit note naming no invoice we hold"\n'
    'ambiguous_credit_note,billing,finance,manual_review,,credit note date,"Two invoices fit"\n'
    'credit_note_needs_review,billing,finance,auto_resolve,,credit note date,"Best invoice only suggested"\n'
)
DBT = Path(sys.executable).with_name("dbt")
IGNORED = shutil.ignore_patterns("target", "logs", ".venv", "dbt_packages", "__pycache__", ".git", "*.duckdb*")


def build(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The project copy (home/project) with the fixture reconciliation, its data, one dbt build."""
    project = home / "project"
    shutil.copytree(settings.PROJECT_DIR, project, ignore=IGNORED)
    (project / "macros" / "specs" / "spec__credit_notes_invoices.sql").write_text(SPEC)
    models = project / "models" / "intermediate" / "reconciliation" / "credit_notes_invoices"
    models.mkdir(parents=True)
    for kind in ("pairs", "decisions", "records"):
        (models / f"int_credit_notes_invoices__{kind}.sql").write_text(
            f"{{{{ recon_{kind}('credit_notes_invoices') }}}}\n"
        )
    with open(project / "seeds" / "match_weights.csv", "a") as fh:
        fh.write(
            "credit_notes_invoices,currency,0,same,0.99,0.5\ncredit_notes_invoices,currency,1,different,0.01,0.5\n"
        )
    with open(project / "seeds" / "exception_policy.csv", "a") as fh:
        fh.write(POLICY_ROWS)
    config = yaml.safe_load((project / "dbt_project.yml").read_text())
    config["vars"]["reconciliations"].append("credit_notes_invoices")
    (project / "dbt_project.yml").write_text(yaml.safe_dump(config, sort_keys=False))

    # Data: the held-out generator, plus one credit note naming an invoice nobody has.
    dialect_b.generate(home, seed=2, orders=600, noise=1.0)
    notes = sorted((home / "landing" / "billing" / "credit_notes").glob("*.csv"))[0]
    header = notes.read_text().splitlines()[0].split(",")
    row = {c: "" for c in header} | {
        "credit_note_id": "CN-FIXTURE-1", "invoice_id": "INV-NOBODY", "client_name": "Nobody Ltd",
        "issue_date": "2025-06-01", "currency": "EUR", "net_amount": "125.00", "reason": "goodwill",
    }  # fmt: skip
    with open(notes, "a") as fh:
        fh.write(",".join(row[c] for c in header) + "\n")
    settings.use_home(home)
    ingest.ingest_landing(settings.landing_dir(), settings.warehouse_path())

    settings.apply_environment()
    subprocess.run([str(DBT), "build", "--quiet", "--project-dir", str(project)], cwd=project, check=True)


@pytest.fixture
def built(built_homes: BuiltHomes, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The home after the build (its project copy at home/project), restored for each test."""
    home = built_homes.restore("spec-exceptions", build, monkeypatch)
    settings.apply_environment()
    return home


def test_a_reconciliation_added_by_spec_raises_its_exceptions(built: Path) -> None:
    con = duckdb.connect(str(built / "warehouse.duckdb"), read_only=True)
    try:
        raised = con.execute(
            "select exception_type, record_entity, record_id, owner_team, amount_at_risk_reporting is not null"
            " from marts.fct_reconciliation_exceptions where exception_type like '%credit_note%'"
        ).fetchall()
        matched = con.execute(
            "select count(*) from marts.fct_reconciliation_matches where reconciliation = 'credit_notes_invoices'"
        ).fetchone()[0]
    finally:
        con.close()
    assert ("orphan_credit_note", "stg_billing__credit_notes", "CN-FIXTURE-1", "finance", True) in raised
    assert matched > 0, "the fixture reconciliation matched nothing: the notes naming invoices should match"


def test_a_campaigns_exceptions_name_the_client_it_resolves_to_and_are_routed_by_it(built: Path) -> None:
    # A tryout: an orphan_spend exception's client_name was the ad account's or campaign's name
    # as sent ("ORIE Google Ads account"), not the client the engine resolves the campaign to
    # (`recon exceptions show` printed that one beside it), so a client's owner (seed
    # client_owners, keyed by the normalised name) never got its orphan spend. The resolved
    # client's name as its orders call it, else the name as sent; the value at risk is the spend.
    recon_home, project, dbt = built, built / "project", DBT
    campaign_exceptions = """
        select exceptions.exception_id, exceptions.exception_type, exceptions.client_name,
            campaigns.account_name, campaigns.campaign_name, clients.client_name_crm,
            campaigns.is_template_name, exceptions.amount_at_risk, campaigns.spend_amount
        from intermediate.int_reconciliation_exceptions as exceptions
        inner join intermediate.int_ads_campaigns as campaigns
            on exceptions.record_id = campaigns.campaign_id
        left join intermediate.int_clients as clients
            on campaigns.client_id_resolved = clients.client_id
        where exceptions.record_entity = 'int_ads_campaigns' and exceptions.exception_type <> 'manual_link_changed'
        order by exceptions.exception_id
    """
    con = duckdb.connect(str(recon_home / "warehouse.duckdb"), read_only=True)
    try:
        rows = con.execute(campaign_exceptions).fetchall()
    finally:
        con.close()
    orphans = [r for r in rows if r[1] == "orphan_spend"]
    resolved = [r for r in orphans if r[5] is not None and not r[6]]
    assert resolved and any(r[2] != (r[3] or r[4]) for r in resolved), "no orphan spend resolving to a client"
    for _, kind, client_name, account, campaign, client, template, at_risk, spend in rows:
        expected = client if client is not None and not template else (account or campaign)
        assert client_name == expected, (kind, client_name, account, campaign, client)
        if kind == "orphan_spend":
            assert at_risk == spend

    # The client's owner for media now gets its orphan spend, with the same value at risk.
    exception_id, _, client_name, *_, at_risk, _ = resolved[0]
    con = duckdb.connect(str(recon_home / "warehouse.duckdb"), read_only=True)
    try:
        [(key, owner)] = con.execute(
            "select breaks.client_name_normalised, exceptions.owner_team"
            " from intermediate.int_exception_breaks as breaks"
            " inner join intermediate.int_reconciliation_exceptions as exceptions using (exception_id)"
            " where exception_id = ?",
            [exception_id],
        ).fetchall()
    finally:
        con.close()
    assert owner == "media_ops"  # the type's team: no owner is named for the client yet
    with open(project / "seeds" / "client_owners.csv", "a") as fh:
        fh.write(f'"{key}",media,account_management,erin\n')
    subprocess.run([str(dbt), "seed", "--quiet", "--select", "client_owners", "--project-dir", str(project)],
                   cwd=project, check=True)  # fmt: skip
    subprocess.run(
        [str(dbt), "run", "--quiet", "--select", "int_reconciliation_exceptions", "--project-dir", str(project)],
        cwd=project,
        check=True,
    )
    con = duckdb.connect(str(recon_home / "warehouse.duckdb"), read_only=True)
    try:
        routed = con.execute(
            "select owner_team, account_owner, amount_at_risk from intermediate.int_reconciliation_exceptions"
            " where exception_id = ?",
            [exception_id],
        ).fetchall()
    finally:
        con.close()
    assert routed == [("account_management", "erin", at_risk)], (client_name, routed)
