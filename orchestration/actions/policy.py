"""Who may act and how: operators and their roles, reason codes, the approval threshold."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from orchestration import identity
from orchestration.actions.core import MAX_ABS_AMOUNT, ActionError, IdentityRefused
from orchestration.settings import PROJECT_DIR

# ------------------------------------------------------------------- policy


def approval_threshold(config: Path, value: object) -> Decimal:
    """The roster's adjustment_approval_threshold: a finite amount from 0 to MAX_ABS_AMOUNT.
    Infinity (1e309 in YAML) would turn maker–checker off, NaN would stop every adjustment."""
    try:
        amount = Decimal(str(value)) if isinstance(value, int | float | str) and not isinstance(value, bool) else None
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite() or not 0 <= amount <= MAX_ABS_AMOUNT:
        raise IdentityRefused(
            f"{config}: adjustment_approval_threshold must be an amount from 0 to {MAX_ABS_AMOUNT:,} in the reporting "
            f"currency (adjustments above it need an approver), not {value!r}"
        )
    return amount


@dataclass(frozen=True)
class Operator:
    name: str
    team: str
    roles: frozenset[str]
    logins: tuple[str, ...] = ()


@dataclass(frozen=True)
class Policy:
    """People, teams and thresholds (config/operators.yml), reason codes and escalation targets (seeds)."""

    operators: dict[str, Operator]
    escalate_to: dict[str, str]  # severity -> team that takes over after an SLA breach
    approval_threshold: Decimal
    reason_codes: dict[str, str]  # code -> action it applies to ('any' for all)
    users: dict[str, dict] = field(default_factory=dict)  # the roster's users as written (identity)
    # The currency approval_threshold is in: dbt_project.yml vars.reporting_currency.
    reporting_currency: str = "USD"

    @classmethod
    def load(cls, config: Path | None = None, reasons: Path | None = None) -> Policy:
        try:
            config = config or identity.roster_path()
            users = identity.load_users(config)
            identity.login_map(users)  # a login given to two users is refused here, not at the first action
        except identity.IdentityError as exc:
            raise IdentityRefused(str(exc)) from exc
        reasons = reasons or PROJECT_DIR / "seeds" / "reason_codes.csv"
        severities = PROJECT_DIR / "seeds" / "severity_policy.csv"
        from orchestration import strict_yaml

        try:
            doc = strict_yaml.load_mapping(config)
        except strict_yaml.StrictYamlError as exc:
            raise IdentityRefused(str(exc)) from None
        threshold = approval_threshold(config, doc.get("adjustment_approval_threshold"))
        operators = {
            name: Operator(name, spec["team"], frozenset(spec.get("roles", [])), identity.logins_of(name, spec))
            for name, spec in users.items()
        }
        with open(reasons, newline="") as fh:
            codes = {row["reason_code"]: row["applies_to"] for row in csv.DictReader(fh)}
        with open(severities, newline="") as fh:
            escalate_to = {row["severity"]: row["escalate_to"] for row in csv.DictReader(fh)}
        from orchestration.publish import reporting_currency

        return cls(operators, escalate_to, threshold, codes, users, reporting_currency())

    def in_reporting_currency(self, amount: Decimal, catalog: dict | None) -> Decimal | None:
        """``amount``, in the currency of the exception ``catalog`` describes, in the reporting currency.

        Unchanged when the exception is in the reporting currency. Otherwise converted at the
        rate the build converted the exception's own value at risk with: amount_at_risk_reporting
        / amount_at_risk (the FX rate of its business date, seed fx_rates). None when that rate
        is unknown (no currency, no amount, an amount of zero): the caller fails safe.
        """
        catalog = catalog or {}
        currency = str(catalog.get("currency") or "").strip().upper()
        if currency and currency == self.reporting_currency.upper():
            return amount
        try:
            native = abs(Decimal(str(catalog.get("amount_at_risk"))))
            reporting = abs(Decimal(str(catalog.get("amount_at_risk_reporting"))))
        except (InvalidOperation, ValueError):
            return None
        if not currency or not native.is_finite() or not reporting.is_finite() or native.is_zero():
            return None
        if reporting.is_zero():  # a rate of zero would wave every adjustment through
            return None
        return amount * reporting / native

    def escalation_team(self, severity: str | None) -> str:
        """Who takes over an exception of this severity (seed severity_policy)."""
        if severity not in self.escalate_to:
            raise ActionError(f"severity {severity!r} has no escalation target: add it to seeds/severity_policy.csv")
        return self.escalate_to[severity]

    def operator(self, name: str | None) -> Operator:
        if not name:
            raise ActionError("no operator given: pass --as NAME or set RECON_USER")
        if name not in self.operators:
            raise ActionError(f"unknown operator {name!r}: add them to config/operators.yml")
        return self.operators[name]

    def acting(self, login: str, requested: str | None, what: str = "act") -> Operator:
        """The operator the authenticated ``login`` acts as (``requested`` only with the act_as role)."""
        users = self.users or {
            op.name: {"roles": sorted(op.roles), **({"logins": list(op.logins)} if op.logins else {})}
            for op in self.operators.values()
        }
        try:
            return self.operator(identity.acting_name(users, login, requested, what))
        except identity.IdentityError as exc:
            raise IdentityRefused(str(exc)) from exc

    def check_reason(self, code: str | None, action: str) -> str:
        if not code:
            raise ActionError(f"{action} needs a reason code (--reason); one of: {', '.join(self.codes_for(action))}")
        applies = self.reason_codes.get(code)
        if applies is None or applies not in (action, "any"):
            codes = self.codes_for(action)
            allowed = f"use one of: {', '.join(codes)}" if codes else f"{action} takes no reason code"
            raise ActionError(f"reason code {code!r} is not valid for {action}; {allowed}")
        return code

    def codes_for(self, action: str) -> list[str]:
        return sorted(c for c, a in self.reason_codes.items() if a in (action, "any"))
