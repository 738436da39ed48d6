"""Reconciliation specs as the engine reads them: which run, what each says, its rule version.

A spec is YAML inside ``macros/specs/spec__<name>.sql`` (dbt renders the same
text); ``vars.reconciliations`` of dbt_project.yml lists the ones the engine runs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from orchestration.settings import PROJECT_DIR

SPEC_DIR = PROJECT_DIR / "macros" / "specs"


def load_spec(name: str) -> dict:
    """The YAML of ``macros/specs/spec__<name>.sql`` (the same text dbt reads)."""
    text = (SPEC_DIR / f"spec__{name}.sql").read_text()
    match = re.search(r"{%\s*set spec_yaml\s*%}(.*?){%\s*endset\s*%}", text, re.S)
    if not match:
        raise ValueError(f"no spec_yaml block in spec__{name}.sql")
    # dbt renders Jinja expressions before parsing; here an unquoted one (a dialect macro's
    # SQL, `{{ recon_starts_with(...) }}`) is read as the string of its source text.
    body = re.sub(r'(?<!")\{\{.*?\}\}(?!")', lambda m: json.dumps(m.group(0)), match.group(1), flags=re.S)
    return yaml.safe_load(body)


def configured(project_dir: Path = PROJECT_DIR) -> list[str]:
    """The reconciliations the engine runs: ``vars.reconciliations`` of dbt_project.yml."""
    doc = yaml.safe_load((project_dir / "dbt_project.yml").read_text())
    return list((doc.get("vars") or {}).get("reconciliations") or [])


def rule_versions() -> dict[str, str]:
    """Each configured reconciliation's ``rule_version``: what a publication records."""
    return {name: load_spec(name)["rule_version"] for name in configured()}
