"""A reconciliation added by its spec alone raises exceptions.

A copy of the project gains a small fixture reconciliation — credit notes ↔ the invoices
they credit — written the way docs/matching.md says to add one: a spec macro with an
`exceptions:` section, the three one-line models, its weights and its entry in
vars.reconciliations, and policy rows for its exception types. No exception SQL is
written. A real dbt build over generated data must raise its types for its unmatched
records, beside the built-in ones.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml

from orchestration import ingest, settings
from orchestration.lab import generate

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
IGNORED = shutil.ignore_patterns("target", "logs", ".venv", "dbt_packages", "__pycache__", ".git", "*.duckdb*")


def test_a_reconciliation_added_by_spec_raises_its_exceptions(
    recon_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
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

    # Data: the demo generator, plus one credit note naming an invoice nobody has.
    generate.generate(recon_home, seed=3, orders=200, file_format="csv", bad_rows=False, bad_files=False)
    notes = sorted((recon_home / "landing" / "billing" / "credit_notes").glob("*.csv"))[0]
    header = notes.read_text().splitlines()[0].split(",")
    row = {c: "" for c in header} | {
        "credit_note_id": "CN-FIXTURE-1", "invoice_id": "INV-NOBODY", "client_name": "Nobody Ltd",
        "issue_date": "2025-06-01", "currency": "EUR", "net_amount": "125.00", "reason": "goodwill",
    }  # fmt: skip
    with open(notes, "a") as fh:
        fh.write(",".join(row[c] for c in header) + "\n")
    settings.use_home(recon_home)
    ingest.ingest_landing(settings.landing_dir(), settings.warehouse_path())

    dbt = Path(sys.executable).with_name("dbt")
    settings.apply_environment()
    subprocess.run([str(dbt), "build", "--quiet", "--project-dir", str(project)], cwd=project, check=True)

    con = duckdb.connect(str(recon_home / "warehouse.duckdb"), read_only=True)
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
