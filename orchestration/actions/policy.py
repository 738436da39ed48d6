"""Who may act and how: operators and their roles, reason codes, the approval threshold."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from orchestration import identity
from orchestration.actions.core import MAX_ABS_AMOUNT, PIPELINE_REASONS, ActionError, IdentityRefused
from orchestration.settings import PROJECT_DIR

# Exception types whose value at risk is no amount in one currency: a currency_mismatch sums
# an order's invoices in whatever currencies they were issued (int_exception_breaks), so
# amount_at_risk_reporting / amount_at_risk is a blend of rates, not the FX rate of its currency.
MIXED_CURRENCY_TYPES = frozenset({"currency_mismatch"})

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
    # Seed fx_rates: currency -> ((month, rate_to_usd), ...) in month order.
    fx_rates: dict[str, tuple[tuple[date, Decimal], ...]] = field(default_factory=dict)
    # Severities whose breaches escalate only with something at risk (seed severity_policy).
    quiet_when_nothing_at_risk: frozenset[str] = frozenset()

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
            severity_rows = list(csv.DictReader(fh))
        escalate_to = {row["severity"]: row["escalate_to"] for row in severity_rows}
        quiet = frozenset(
            row["severity"]
            for row in severity_rows
            if (row.get("escalates_with_nothing_at_risk") or "true").strip().lower() == "false"
        )
        from orchestration.publish import reporting_currency

        return cls(
            operators,
            escalate_to,
            threshold,
            codes,
            users,
            reporting_currency(),
            load_fx_rates(fx_seed_path()),
            quiet,
        )

    def in_reporting_currency(self, amount: Decimal, catalog: dict | None, on: date | None = None) -> Decimal | None:
        """``amount``, in the currency of the exception ``catalog`` describes, in the reporting currency.

        Unchanged when the exception is in the reporting currency. Otherwise converted at the
        rate the build converted the exception's own value at risk with: amount_at_risk_reporting
        / amount_at_risk (the FX rate of its business date, seed fx_rates). For a type whose
        value at risk mixes currencies (MIXED_CURRENCY_TYPES) that ratio is no rate: the seed's
        rate of the exception's currency in the month of ``on`` (the business clock) is used
        (a currency_mismatch is in its one foreign currency, or the order's where several
        bill the order: int_exception_breaks), and for a catalog row whose amount_at_risk_reporting
        is not in today's reporting currency (its ``reporting_currency``).
        None when the rate is unknown (no currency, no amount, an amount of zero, a currency
        the seed lacks): the caller fails safe.
        """
        catalog = catalog or {}
        currency = str(catalog.get("currency") or "").strip().upper()
        if currency and currency == self.reporting_currency.upper():
            return amount
        # The ratio is a rate into the reporting currency of the run that wrote the row: one that
        # reported in another (or did not say, a row written before the store kept it) is no rate
        # into today's; the seed's rate is, as for a mix of currencies.
        other_currency = "reporting_currency" in catalog and str(catalog.get("reporting_currency") or "").upper() != (
            self.reporting_currency.upper()
        )
        if catalog.get("exception_type") in MIXED_CURRENCY_TYPES or other_currency:
            rate = self.fx_rate(currency, on or date.today()) if currency else None
            return None if rate is None else amount * rate
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

    def fx_rate(self, currency: str, on: date) -> Decimal | None:
        """Reporting-currency units per unit of ``currency`` in the month of ``on`` (seed fx_rates).

        A month the seed does not list takes the nearest listed one, the latest earlier else
        the earliest later, as int_fx_rates_monthly does. None for a currency the seed lacks.
        """
        rates = [self._usd_rate(c, on) for c in (currency.upper(), self.reporting_currency.upper())]
        if rates[0] is None or rates[1] is None or not rates[0] > 0 or not rates[1] > 0:
            return None  # a rate of zero would wave every adjustment through
        return rates[0] / rates[1]

    def _usd_rate(self, currency: str, on: date) -> Decimal | None:
        listed = self.fx_rates.get(currency)
        if not listed:
            return None
        month = on.replace(day=1)
        earlier = [rate for rate_month, rate in listed if rate_month <= month]
        return earlier[-1] if earlier else listed[0][1]

    def escalates(self, severity: str | None, amount_at_risk_reporting: object) -> bool:
        """Whether a breach of this severity escalates by itself: with something at risk, or a
        severity that escalates with nothing (seed severity_policy.escalates_with_nothing_at_risk),
        as int_reconciliation_exceptions.escalate_to decides it."""
        if severity not in self.quiet_when_nothing_at_risk:
            return True
        try:
            return Decimal(str(amount_at_risk_reporting or 0)) != 0
        except (ArithmeticError, InvalidOperation):
            return True

    def escalation_team(self, severity: str | None) -> str:
        """Who takes over an exception of this severity (seed severity_policy)."""
        if severity not in self.escalate_to:
            raise ActionError(f"severity {severity!r} has no escalation target: add it to seeds/severity_policy.csv")
        return self.escalate_to[severity]

    def operator(self, name: str | None) -> Operator:
        if not name:
            raise ActionError("no operator given: pass --as NAME or set RECON_USER")
        if name not in self.operators:
            raise ActionError(identity.unknown_operator(name, self.operators))
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
            # A typo of a code this action takes (a code of another action is no typo).
            match = identity.close_match(code, codes) if applies is None else None
            if match is not None:
                allowed = f"did you mean {match!r}? Use one of: {', '.join(codes)}"
            raise ActionError(f"reason code {code!r} is not valid for {action}; {allowed}")
        return code

    def codes_for(self, action: str) -> list[str]:
        """The reason codes a person may give for ``action`` (the pipeline's own left out)."""
        return sorted(c for c, a in self.reason_codes.items() if a in (action, "any") and c not in PIPELINE_REASONS)


def fx_seed_path() -> Path:
    return PROJECT_DIR / "seeds" / "fx_rates.csv"


def load_fx_rates(path: Path) -> dict[str, tuple[tuple[date, Decimal], ...]]:
    """Seed fx_rates by currency, in month order; a row that does not parse is left out (no rate, not a guess)."""
    out: dict[str, list[tuple[date, Decimal]]] = {}
    if not path.exists():
        return {}
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            try:
                month = date.fromisoformat(str(row["rate_month"]).strip()).replace(day=1)
                rate = Decimal(str(row["rate_to_usd"]).strip())
            except (KeyError, ValueError, InvalidOperation):
                continue
            if rate.is_finite():
                out.setdefault(str(row["currency"]).strip().upper(), []).append((month, rate))
    return {currency: tuple(sorted(rows)) for currency, rows in out.items()}
