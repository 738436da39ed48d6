"""Governed rule changes: the active rules are versioned by content hash and need approvals.

The *rules* are what decides matches and routing: the reconciliation specs
(``macros/reconciliations/spec__*.sql``), the match weights, the exception, severity,
grace-window, client-owner and reason-code seeds, the ``vars`` of ``dbt_project.yml``
(tolerances, the reconciliations that run), and what turns matches into money outcomes:
the FX rates, ``convert_amount``, the exception models and their lifecycle macros, and
the adjustment approval threshold. Their content hash names a rule version. A
version may run in production only when ``governance/approvals.yml`` records an approval
for that hash from each required role — data owner, operations lead, governance reviewer —
by three different people who hold those roles in ``config/operators.yml``.

``recon run`` (and a run started from Dagster) refuses an unapproved version and says
what is missing; ``recon governance check`` exits 7 in CI. ``recon shadow`` runs candidate
rules without approval, into a separate database.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import yaml

from orchestration.settings import PROJECT_DIR

RULE_GLOBS = (
    "macros/reconciliations/spec__*.sql",
    "seeds/match_weights.csv",
    "seeds/exception_policy.csv",
    "seeds/severity_policy.csv",
    "seeds/source_grace_windows.csv",
    "seeds/client_owners.csv",
    "seeds/reason_codes.csv",
    # What turns matches into money outcomes and exceptions: FX rates and conversion,
    # the exception models and their lifecycle. The matching engine's macros are code,
    # named by the git commit every publication records.
    "seeds/fx_rates.csv",
    "macros/convert_amount.sql",
    "macros/lifecycle/*.sql",
    "models/intermediate/exceptions/*.sql",
    "models/marts/operations/*.sql",
    "models/marts/reconciliation/fct_reconciliation_exceptions.sql",
)
# Settings outside dbt that change money outcomes: (file, key).
RULE_SETTINGS = (("config/operators.yml", "adjustment_approval_threshold"),)
REQUIRED_ROLES = ("data_owner", "operations_lead", "governance_reviewer")
EXIT_UNAPPROVED = 7
MAX_NOTE_CHARS = 2000  # an approval note is free text in a reviewed file: bounded like operator comments


class GovernanceError(Exception):
    exit_code = EXIT_UNAPPROVED


def approvals_path() -> Path:
    return Path(os.environ.get("RECON_APPROVALS", PROJECT_DIR / "governance" / "approvals.yml"))


def rule_files(root: Path = PROJECT_DIR) -> list[Path]:
    files = sorted({p for pattern in RULE_GLOBS for p in root.glob(pattern)})
    if not any(p.name.startswith("spec__") for p in files):
        raise GovernanceError(f"no reconciliation specs under {root / 'macros/reconciliations'}")
    return files


def rule_manifest(root: Path = PROJECT_DIR) -> dict[str, str]:
    """sha256 of each rule file (by path relative to root) and of the dbt vars."""
    out = {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes().replace(b"\r\n", b"\n")).hexdigest()
        for p in rule_files(root)
    }
    for name, key in RULE_SETTINGS:
        value = (yaml.safe_load((root / name).read_text()) or {}).get(key)
        out[f"{name}#{key}"] = hashlib.sha256(json.dumps(str(value)).encode()).hexdigest()
    project_vars = yaml.safe_load((root / "dbt_project.yml").read_text()).get("vars", {})
    out["dbt_project.yml#vars"] = hashlib.sha256(json.dumps(project_vars, sort_keys=True).encode()).hexdigest()
    return out


def rules_hash(root: Path = PROJECT_DIR) -> str:
    """The content hash of the active rules: one value for every file and var above."""
    payload = json.dumps(rule_manifest(root), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def _load(path: Path) -> dict:
    return (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}


def _holders(role: str) -> set[str]:
    """Who holds a governance role (config/operators.yml; ops_lead is the operations lead)."""
    config = Path(os.environ.get("RECON_OPERATORS", PROJECT_DIR / "config" / "operators.yml"))
    users = (yaml.safe_load(config.read_text()) or {}).get("users") or {}
    wanted = "ops_lead" if role == "operations_lead" else role
    return {name for name, spec in users.items() if wanted in (spec.get("roles") or [])}


@dataclass
class Status:
    rules_hash: str
    approvals: list[dict] = field(default_factory=list)

    @property
    def missing_roles(self) -> list[str]:
        have = {a["role"] for a in self.approvals}
        return [r for r in REQUIRED_ROLES if r not in have]

    @property
    def approved(self) -> bool:
        return not self.missing_roles

    def message(self) -> str:
        if self.approved:
            by = ", ".join(f"{a['role']} {a['by']}" for a in self.approvals)
            return f"rules {self.rules_hash[:12]} approved ({by})"
        return (
            f"rules {self.rules_hash[:12]} are not approved: missing {', '.join(self.missing_roles)}. "
            f"Each of them runs `recon governance approve --role ROLE --as NAME` (recorded in {approvals_path()}), "
            "or try the change first with `recon shadow --rules DIR`."
        )


def status(root: Path = PROJECT_DIR) -> Status:
    digest = rules_hash(root)
    entry = (_load(approvals_path()).get("approvals") or {}).get(digest) or {}
    valid = []
    seen_people = set()
    for approval in entry.get("approvals") or []:
        role, by = approval.get("role"), approval.get("by")
        # An approval counts if its author holds the role now and signed no other role here.
        if role in REQUIRED_ROLES and by in _holders(role) and by not in seen_people:
            valid.append(approval)
            seen_people.add(by)
    return Status(digest, valid)


def require_approved(root: Path = PROJECT_DIR) -> Status:
    current = status(root)
    if not current.approved:
        raise GovernanceError(current.message())
    return current


def approve(role: str, by: str, note: str = "", root: Path = PROJECT_DIR, now: datetime | None = None) -> Status:
    """Record ``by``'s approval as ``role`` for the rules as they are now."""
    if role not in REQUIRED_ROLES:
        raise GovernanceError(f"unknown role {role!r}; roles: {', '.join(REQUIRED_ROLES)}")
    if by not in _holders(role):
        raise GovernanceError(f"{by!r} does not hold the {role} role in config/operators.yml")
    if len(note) > MAX_NOTE_CHARS or any(ord(c) < 32 and c not in "\t\n" or ord(c) == 127 for c in note):
        raise GovernanceError(
            f"--note must be plain text of at most {MAX_NOTE_CHARS} characters (got {len(note)}, "
            "control characters are refused)"
        )
    digest = rules_hash(root)
    path = approvals_path()
    doc = _load(path)
    doc.setdefault("required_roles", list(REQUIRED_ROLES))
    entry = doc.setdefault("approvals", {}).setdefault(digest, {"files": rule_manifest(root), "approvals": []})
    for approval in entry["approvals"]:
        if approval["by"] == by and approval["role"] != role:
            raise GovernanceError(f"{by} already approved these rules as {approval['role']}: another person must")
    entry["approvals"] = [a for a in entry["approvals"] if a["role"] != role]
    entry["approvals"].append(
        {"role": role, "by": by, "at": (now or datetime.now(UTC)).replace(microsecond=0).isoformat(), "note": note}
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "# Approvals of rule versions (recon governance approve). Keyed by the rules' content hash.\n"
    path.write_text(header + yaml.safe_dump(doc, sort_keys=False))
    return status(root)
