"""Governed rule changes: the active rules are versioned by content hash and need approvals.

The *rules* are what decides matches and routing: the reconciliation specs
(``macros/specs/spec__*.sql``), the match weights, the exception, severity,
grace-window, client-owner, order-type-expectation and reason-code seeds, the ``vars`` of ``dbt_project.yml``
(tolerances, the reconciliations that run), and what turns matches into money outcomes:
the FX rates, ``convert_amount``, the exception models and their lifecycle macros, and
the roster ``config/operators.yml`` (people, roles, logins, public keys, the adjustment
approval threshold). Their content hash names a rule version. A version may run in
production only when ``governance/approvals.yml`` records an approval for that hash from
each required role — data owner, operations lead, governance reviewer — by three different
people who hold those roles in that roster, each **signed** with the approver's Ed25519
key whose public half the roster registers. A hand-written, edited or forged entry does
not verify and does not count; ``recon governance status`` names it by line.

The roster is hashed whole: who may approve, act as others or approve adjustments is a
rule like any other, so changing it needs the three signed approvals. A roster that is
not that file (``RECON_OPERATORS`` pointing elsewhere) is refused (orchestration/identity.py).

``recon run`` (and a run started from Dagster) refuses an unapproved version and says
what is missing; ``recon governance check`` exits 7 in CI. ``recon shadow`` runs candidate
rules without approval, into a separate database.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import stat
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import yaml
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from orchestration import identity
from orchestration.settings import PROJECT_DIR

# libyaml's parser where PyYAML was built with it: approvals.yml keeps every signature ever
# made (425 KB here), and the pure-Python parser spent about 0.3 s on each of the two
# reads a run makes. On well-formed files both give the same values and line numbers
# (libyaml accepts a little more, such as a tab after a value; signatures still decide).
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

RULE_GLOBS = (
    "macros/specs/spec__*.sql",
    "seeds/match_weights.csv",
    "seeds/exception_policy.csv",
    "seeds/order_type_expectations.csv",
    "seeds/order_status_expectations.csv",
    "seeds/severity_policy.csv",
    "seeds/source_grace_windows.csv",
    "seeds/client_owners.csv",
    "seeds/reason_codes.csv",
    # What turns matches into money outcomes and exceptions: FX rates and conversion,
    # the exception models and their lifecycle. The matching engine's macros are code,
    # named by the git commit every publication records.
    "seeds/fx_rates.csv",
    # The seeds' column types: a rate typed decimal(18, 2) rounds JPY's 0.006326 to 0.01.
    "seeds/_seeds.yml",
    "macros/money/*.sql",
    "macros/lifecycle/*.sql",
    "models/intermediate/exceptions/*.sql",
    "macros/engine/recon_exception_breaks.sql",
    "models/marts/operations/*.sql",
    "models/marts/reconciliation/fct_reconciliation_exceptions.sql",
    # Who may do what: people, roles, logins, act_as, public keys, the adjustment approval
    # threshold. Hashed whole so a self-made roster cannot grant approvals or identities.
    "config/operators.yml",
)
# Single settings of a file outside RULE_GLOBS that change outcomes: (file, key). The
# roster used to be hashed by its adjustment_approval_threshold alone; it is now whole.
RULE_SETTINGS: tuple[tuple[str, str], ...] = ()
REQUIRED_ROLES = ("data_owner", "operations_lead", "governance_reviewer")
EXIT_UNAPPROVED = 7
MAX_NOTE_CHARS = 2000  # an approval note is free text in a reviewed file: bounded like operator comments
KEY_PREFIX = "ed25519:"
SIGNATURE_DOMAIN = b"recon-approval-v1\n"  # a signature over an approval is never valid for anything else
DEV_KEYS_DIR = PROJECT_DIR / "governance" / "dev-keys"
NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class GovernanceError(Exception):
    exit_code = EXIT_UNAPPROVED


def approvals_path() -> Path:
    return Path(os.environ.get("RECON_APPROVALS", PROJECT_DIR / "governance" / "approvals.yml"))


def rule_files(root: Path = PROJECT_DIR) -> list[Path]:
    files = sorted({p for pattern in RULE_GLOBS for p in root.glob(pattern)})
    if not any(p.name.startswith("spec__") for p in files):
        raise GovernanceError(f"no reconciliation specs under {root / 'macros/specs'}")
    return files


def rule_manifest(root: Path = PROJECT_DIR) -> dict[str, str]:
    """sha256 of each rule file (by path relative to root) and of the dbt vars."""
    if not identity.governed_roster(root).exists():
        raise GovernanceError(f"no roster at {identity.governed_roster(root)}: it is part of the rules")
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
    """The approvals file (none yet: {}); a file that is not a YAML mapping, or writes a key
    twice, is refused naming the file and the line."""
    from orchestration import strict_yaml

    if not path.exists():
        return {}
    try:
        return strict_yaml.load_mapping(path)
    except strict_yaml.StrictYamlError as exc:
        raise GovernanceError(f"{exc} (the approvals file: fix it, or restore it from git)") from None


# ------------------------------------------------------------------ roster


def roster_users(root: Path = PROJECT_DIR) -> dict[str, dict]:
    """The governed roster's users; an env roster that is not that file is refused."""
    try:
        return identity.load_users(identity.roster_path(root), root)
    except identity.IdentityError as exc:
        raise GovernanceError(str(exc)) from exc


def _holders(users: dict[str, dict], role: str) -> set[str]:
    """Who holds a governance role (ops_lead is the operations lead)."""
    wanted = "ops_lead" if role == "operations_lead" else role
    return {name for name, spec in users.items() if wanted in (spec.get("roles") or [])}


def public_key_text(key: Ed25519PublicKey) -> str:
    """How a public key is written in the roster: ``ed25519:`` + base64 of the 32 raw bytes."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return KEY_PREFIX + base64.b64encode(raw).decode()


def parse_public_key(text: object) -> Ed25519PublicKey | None:
    """The roster's ``public_key`` value as a key; None when missing or malformed."""
    if not isinstance(text, str) or not text.startswith(KEY_PREFIX):
        return None
    try:
        raw = base64.b64decode(text[len(KEY_PREFIX) :], validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        return None


# -------------------------------------------------------------------- keys


def check_name(name: object) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise GovernanceError(f"{str(name)[:80]!r} is not a user name: letters, digits, '.', '_' or '-', at most 64")
    return name


def default_key_path(name: str) -> Path:
    """``RECON_SIGNING_KEY``, else ``~/.config/recon/<name>.key``."""
    override = os.environ.get("RECON_SIGNING_KEY", "").strip()
    return Path(override).expanduser() if override else Path.home() / ".config" / "recon" / f"{check_name(name)}.key"


def _read_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise GovernanceError(
            f"{path} is not an unencrypted PEM private key: make one with `recon governance keygen`"
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise GovernanceError(f"{path} is not an Ed25519 key: make one with `recon governance keygen`")
    return key


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """The signing key at ``path``; refused unless only its owner can read it (mode 0600 or 0400)."""
    path = Path(path)
    if not path.is_file():
        raise GovernanceError(
            f"no signing key at {path}: run `recon governance keygen --as NAME` (or set RECON_SIGNING_KEY)"
        )
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise GovernanceError(
            f"signing key {path} has mode {mode:04o}: others can read it. Run `chmod 600 {path}` "
            "(and replace the key if it may have been copied)"
        )
    return _read_private_key(path)


def keygen(name: str, path: Path | None = None) -> tuple[Path, str]:
    """Write a new private key for ``name`` (mode 0600, never over an existing file); return it and the public key."""
    path = Path(path) if path else default_key_path(check_name(name))
    if path.exists():
        raise GovernanceError(f"{path} exists: keygen never overwrites a key; move it away first")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    os.chmod(path, 0o600)
    return path, public_key_text(key.public_key())


def dev_public_keys(directory: Path = DEV_KEYS_DIR) -> dict[str, str]:
    """Public key -> file of the committed development keys (their private halves are public)."""
    return {public_key_text(_read_private_key(p).public_key()): str(p) for p in sorted(directory.glob("*.key"))}


def signing_payload(rules_hash: str, role: str, approver: str, approved_at: str, note: str) -> bytes:
    """What an approver signs: the rules' hash, the role, who, when and the note, canonically."""
    body = {"rules_hash": rules_hash, "role": role, "approver": approver, "approved_at": approved_at, "note": note}
    return SIGNATURE_DOMAIN + json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _verify(public: Ed25519PublicKey, signature: str, payload: bytes) -> bool:
    try:
        public.verify(base64.b64decode(signature[len(KEY_PREFIX) :], validate=True), payload)
    except (InvalidSignature, ValueError):
        return False
    return True


# ---------------------------------------------------------------- approvals


def _approval_lines(path: Path, digest: str) -> list[int]:
    """Line numbers of the approvals listed for ``digest`` (for messages that say where)."""
    if not path.exists():
        return []
    try:
        node = yaml.compose(path.read_text(), Loader=_YAML_LOADER)
    except yaml.YAMLError:
        return []
    for key in ("approvals", digest, "approvals"):
        if not isinstance(node, yaml.MappingNode):
            return []
        node = next((v for k, v in node.value if getattr(k, "value", None) == key), None)
    return [item.start_mark.line + 1 for item in node.value] if isinstance(node, yaml.SequenceNode) else []


@dataclass
class Status:
    rules_hash: str
    approvals: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # entries that do not count, by line, and why

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
            return f"rules {self.rules_hash[:12]} approved, signatures verified ({by})"
        ignored = (
            f" {len(self.problems)} recorded approval(s) do not count (unsigned, forged or not by a holder; "
            "`recon governance status` lists them)."
            if self.problems
            else ""
        )
        return (
            f"rules {self.rules_hash[:12]} are not approved: missing {', '.join(self.missing_roles)}.{ignored} "
            f"Each approver runs `recon governance approve --role ROLE` with their signing key (recorded in "
            f"{approvals_path()}), or try the change first with `recon shadow --rules DIR`."
        )


def _problem(approval: object, digest: str, users: dict[str, dict]) -> str | None:
    """Why one recorded approval does not count, or None if its signature verifies."""
    if not isinstance(approval, dict):
        return "not an approval (expected role, by, at, note, signature)"
    role, by = approval.get("role"), approval.get("by")
    if role not in REQUIRED_ROLES:
        return f"unknown role {role!r}; roles: {', '.join(REQUIRED_ROLES)}"
    if by not in _holders(users, role):
        return f"{by!r} does not hold the {role} role in config/operators.yml"
    signature = approval.get("signature")
    if not isinstance(signature, str) or not signature.startswith(KEY_PREFIX):
        return (
            f"unsigned (hand-written, or made before approvals were signed): {by} runs "
            f"`recon governance approve --role {role}` with their key"
        )
    public = parse_public_key(users[by].get("public_key"))
    if public is None:
        return f"{by} has no valid public_key in config/operators.yml: run `recon governance keygen --as {by}`"
    at = approval.get("at")  # an unquoted timestamp loads as a datetime: compare the text that was signed
    at = at.isoformat() if isinstance(at, datetime) else str(at)
    payload = signing_payload(digest, role, by, at, str(approval.get("note") or ""))
    if not _verify(public, signature, payload):
        return (
            f"signature does not verify against {by}'s registered key: the entry was edited, forged or signed "
            "for other rules; it does not count"
        )
    return None


def status(root: Path = PROJECT_DIR) -> Status:
    """The active rules' approvals that count: signed by a holder's registered key, one role per person and key."""
    digest = rules_hash(root)
    users = roster_users(root)
    path = approvals_path()
    entry = (_load(path).get("approvals") or {}).get(digest) or {}
    lines = _approval_lines(path, digest)
    valid: list[dict] = []
    problems: list[str] = []
    seen_people: dict[str, str] = {}
    seen_keys: dict[str, str] = {}
    for i, approval in enumerate(entry.get("approvals") or []):
        where = f"{path}:{lines[i]}" if i < len(lines) else f"{path} (approval {i + 1})"
        problem = _problem(approval, digest, users)
        if problem is None:
            by, role = approval["by"], approval["role"]
            key = users[by]["public_key"]
            if by in seen_people:
                problem = f"{by} already approved these rules as {seen_people[by]}: another person must"
            elif key in seen_keys:
                problem = f"{by}'s public key is also {seen_keys[key]}'s in config/operators.yml: one key, one person"
            else:
                valid.append(approval)
                seen_people[by], seen_keys[key] = role, by
                continue
        label = f"{approval.get('role')} approval by {approval.get('by')}" if isinstance(approval, dict) else "entry"
        problems.append(f"{where}: {label}: {problem}")
    return Status(digest, valid, problems)


def require_approved(root: Path = PROJECT_DIR) -> Status:
    current = status(root)
    if not current.approved:
        raise GovernanceError(current.message())
    return current


def production_problems(root: Path = PROJECT_DIR, dev_keys: Path = DEV_KEYS_DIR) -> list[str]:
    """What a production roster must not have: development-only users, or the committed development keys."""
    users = roster_users(root)
    dev = dev_public_keys(dev_keys)
    problems = []
    for name, spec in users.items():
        if spec.get("dev_only"):
            problems.append(
                f"config/operators.yml: user {name} is dev_only (it may act as anyone): "
                "remove it from a production roster"
            )
        key = spec.get("public_key")
        if key in dev:
            problems.append(
                f"config/operators.yml: {name}'s public_key is the development key {dev[key]}, whose private half "
                f"is public: {name} runs `recon governance keygen --as {name}` and the roster takes the new key"
            )
    return problems


def approve(
    role: str,
    by: str | None,
    note: str = "",
    root: Path = PROJECT_DIR,
    now: datetime | None = None,
    key_path: Path | None = None,
    login: str | None = None,
) -> Status:
    """Record the authenticated approver's signed approval as ``role`` for the rules as they are now.

    ``by`` (``--as``) defaults to the operator the OS login maps to; naming someone else
    needs the act_as role. Either way the approval is signed with ``by``'s private key,
    which must match the public key the roster registers for them.
    """
    if role not in REQUIRED_ROLES:
        raise GovernanceError(f"unknown role {role!r}; roles: {', '.join(REQUIRED_ROLES)}")
    users = roster_users(root)
    login = login or identity.current_login()
    try:
        by = identity.acting_name(users, login, by, "approve rules")
    except identity.IdentityError as exc:
        raise GovernanceError(str(exc)) from exc
    if by not in _holders(users, role):
        raise GovernanceError(f"{by!r} does not hold the {role} role in config/operators.yml")
    from orchestration.actions.core import CONTROL_CHARS_BUT_LINES

    # The same characters as an operator's comment: C0/C1 controls, and the bidirectional
    # overrides and isolates that make a note read differently from what was signed.
    if len(note) > MAX_NOTE_CHARS or CONTROL_CHARS_BUT_LINES.search(note):
        raise GovernanceError(
            f"--note must be plain text of at most {MAX_NOTE_CHARS} characters (got {len(note)}, "
            "control and direction-changing characters are refused)"
        )
    registered = users[by].get("public_key")
    if parse_public_key(registered) is None:
        raise GovernanceError(
            f"{by} has no valid public_key in config/operators.yml: {by} runs `recon governance keygen --as {by}` "
            "and the printed key is added to the roster (a roster change, approved like any rule change)"
        )
    key_path = Path(key_path) if key_path else default_key_path(by)
    private = load_private_key(key_path)
    if public_key_text(private.public_key()) != registered:
        raise GovernanceError(
            f"the key in {key_path} is not the one config/operators.yml registers for {by}: "
            f"use {by}'s own key (RECON_SIGNING_KEY or ~/.config/recon/{by}.key)"
        )
    digest = rules_hash(root)
    path = approvals_path()
    doc = _load(path)
    doc.setdefault("required_roles", list(REQUIRED_ROLES))
    entry = doc.setdefault("approvals", {}).setdefault(digest, {"files": rule_manifest(root), "approvals": []})
    for approval in entry["approvals"]:
        if approval.get("by") == by and approval.get("role") != role:
            raise GovernanceError(f"{by} already approved these rules as {approval.get('role')}: another person must")
    at = (now or datetime.now(UTC)).replace(microsecond=0).isoformat()
    signature = KEY_PREFIX + base64.b64encode(private.sign(signing_payload(digest, role, by, at, note))).decode()
    entry["approvals"] = [a for a in entry["approvals"] if a.get("role") != role]
    entry["approvals"].append({"role": role, "by": by, "at": at, "note": note, "signature": signature})
    path.parent.mkdir(parents=True, exist_ok=True)
    header = (
        "# Approvals of rule versions (recon governance approve). Keyed by the rules' content hash.\n"
        "# Each approval is signed with the approver's key (config/operators.yml public_key); an entry\n"
        "# written by hand does not verify and does not count.\n"
    )
    path.write_text(header + yaml.safe_dump(doc, sort_keys=False))
    return status(root)
