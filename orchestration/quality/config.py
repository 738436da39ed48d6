"""config/quality.yml: loading, validation, and the check specs every run reports."""

from __future__ import annotations

import copy
import math
import os
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from orchestration import contract, settings, strict_yaml
from orchestration.contract import Entity
from orchestration.ingest import META_COLUMNS

if TYPE_CHECKING:  # pragma: no cover - imported lazily at run time
    pass

from orchestration.quality.results import CheckSpec
from orchestration.quality.sql import _utc_naive

CONFIG_PATH = settings.PROJECT_DIR / "config" / "quality.yml"
MAX_NUMBER = 1_000_000_000  # any number in the config: far above a sensible one, and finite
BASELINE_EARLIEST = datetime(2000, 1, 1)
BASELINE_MAX_DAYS_AHEAD = 7
DBT_PROJECT_PATH = settings.PROJECT_DIR / "dbt_project.yml"
RECORDS_RELATION = "marts.fct_reconciliation_records"
RECORD_STATES = ("matched", "suggested", "ambiguous", "unmatched")
SEVERITIES = ("error", "warn")
LINEAGE_COLUMNS = tuple(name for name, _ in META_COLUMNS)
# Asset keys as Dagster spells them (defs.ingestion.raw_asset_key and the dbt translator).
INGESTION_LOG_ASSET = "raw_ingestion/ingestion_log"
RECORDS_ASSET = "marts/fct_reconciliation_records"
MAD_TO_SIGMA = 1.4826  # MAD × this estimates the standard deviation of normal data
DOCS_SITE = "recon_quality"
# What a match-rate warning suggests for re-estimating the weights from the user's data
# without labels (`recon train`, orchestration/rules/train.py): one place to rename it.
RETRAIN_HINT = "run `recon train` to re-estimate the match weights from your data"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def default_history_dir() -> Path:
    """Where reports accumulate unless told otherwise: ``$RECON_HOME/quality/history``."""
    return settings.recon_home() / "quality" / "history"


def raw_asset(ent: Entity) -> str:
    """Dagster asset key of a raw table, as ``orchestration.defs.ingestion.raw_asset_key`` builds it."""
    return f"raw_{ent.source}/{ent.table}"


# ---------------------------------------------------------------------------- config


_CONFIG_KEYS: dict[str, set[str]] = {
    "raw": {"severity", "allow_negative", "version_columns"},
    "match_rate": {
        "severity",
        "side",
        "min_rate",
        "baseline_runs",
        "window_runs",
        "max_drop",
        "min_records_drop",
        "reconciliations",
    },
    # Every key but amount_columns and tables can be overridden per table (_TABLE_OVERRIDES).
    "spikes": {
        "severity",
        "window_runs",
        "min_history_runs",
        "k",
        "min_relative_band",
        "min_absolute_rows",
        "max_withdrawn_share",
        "amount_columns",
        "tables",
    },
    "freshness": {"severity", "max_age_hours", "sources"},
}
_OPTIONAL_KEYS = {
    "allow_negative",
    "version_columns",
    "reconciliations",
    "amount_columns",
    "tables",
    "sources",
}
# A restated file keeping less than this share of its rows withdraws the rest: it blocks
# whatever min_absolute_rows allows (a 13-row invoice file re-sent with 3 rows published).
DEFAULT_MAX_WITHDRAWN_SHARE = 0.5
# A match-rate drop below the baseline blocks only when it is at least this many records.
DEFAULT_MIN_RECORDS_DROP = 5
_OPTIONAL_NUMBERS = {"max_withdrawn_share": DEFAULT_MAX_WITHDRAWN_SHARE, "min_records_drop": DEFAULT_MIN_RECORDS_DROP}
_RECON_OVERRIDES = {"severity", "side", "min_rate", "baseline_runs", "window_runs", "max_drop", "min_records_drop"}
_RECON_ONLY = {"baseline_since"}  # per reconciliation only: when its baseline starts again
_TABLE_OVERRIDES = _CONFIG_KEYS["spikes"] - {"amount_columns", "tables"}
_SOURCE_OVERRIDES = {"severity", "max_age_hours"}


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


class QualityConfigError(ValueError):
    """A mistake in the quality config: the message names the file, the key and the fix."""


def config_path() -> Path:
    """The quality config in force: ``RECON_QUALITY_CONFIG`` when set, else config/quality.yml.

    Read wherever the config is: the asset checks' blocking flags when the definitions load,
    the checks of a run, and `recon quality`, so all three follow the same file."""
    override = os.environ.get("RECON_QUALITY_CONFIG")
    return Path(override) if override else CONFIG_PATH


def _config_error(path: Path | None, message: str) -> QualityConfigError:
    return QualityConfigError(f"{path or 'quality config'}: {message}")


def _numeric_columns(ent: Entity) -> tuple[str, ...]:
    return tuple(c.name for c in ent.columns if c.kind in ("decimal", "integer"))


def load_config(path: Path | None = None, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Read ``config/quality.yml`` (or ``path``), apply ``overrides``, and fail loudly on mistakes.

    The file is the one source of the numbers: a missing key is an error that names it,
    and so is a key, table, column or source this module does not know.
    """
    path = Path(path) if path else config_path()
    try:
        cfg = strict_yaml.load_mapping(path)
    except strict_yaml.StrictYamlError as exc:
        raise QualityConfigError(f"{exc} (the quality config: see config/quality.yml)") from None
    cfg = _merge(cfg, copy.deepcopy(dict(overrides or {})))
    for section, keys in _CONFIG_KEYS.items():
        got = cfg.get(section)
        if got is not None and not isinstance(got, Mapping):
            raise _config_error(path, f"section {section!r} must be a mapping of keys to values, not {got!r}")
        if not isinstance(got, Mapping):
            raise _config_error(path, f"section {section!r} is missing")
        unknown = set(got) - keys
        if unknown:
            raise _config_error(path, f"unknown key(s) {sorted(unknown)} in {section}; known: {sorted(keys)}")
        missing = keys - _OPTIONAL_KEYS - set(_OPTIONAL_NUMBERS) - set(got)
        if missing:
            raise _config_error(path, f"add {sorted(missing)} to section {section}")
        for key in keys & set(_OPTIONAL_NUMBERS):
            got.setdefault(key, _OPTIONAL_NUMBERS[key])
        for key in keys & _OPTIONAL_KEYS:
            got.setdefault(key, {})
            if got[key] is None:
                got[key] = {}
            if not isinstance(got[key], Mapping):
                raise _config_error(
                    path, f"{section}.{key} must be a mapping (name: value, one per line), not {got[key]!r}"
                )
    unknown = set(cfg) - set(_CONFIG_KEYS)
    if unknown:
        raise _config_error(path, f"unknown section(s) {sorted(unknown)}; known: {sorted(_CONFIG_KEYS)}")

    def severity(value: Any, where: str) -> None:
        if value not in SEVERITIES:
            raise _config_error(path, f"{where}: severity must be one of {SEVERITIES}, not {value!r}")

    def number(value: Any, where: str, low: float, high: float | None = None, whole: bool = False) -> None:
        kind = int if whole else (int, float)
        high = MAX_NUMBER if high is None else high
        # Finite: NaN passes every comparison (a gate that always fails, or never), and
        # infinity silently turns a check off.
        if (
            isinstance(value, bool)
            or not isinstance(value, kind)
            or not math.isfinite(value)
            or value < low
            or value > high
        ):
            raise _config_error(
                path, f"{where} must be a {'whole ' if whole else ''}number between {low} and {high}, not {value!r}"
            )

    for section in _CONFIG_KEYS:
        severity(cfg[section]["severity"], section)
    spike_numbers = {
        "window_runs": (1, True),
        "min_history_runs": (1, True),
        "k": (0, False),
        "min_relative_band": (0, False),
        "min_absolute_rows": (0, False),
    }
    for where, values in [("spikes", cfg["spikes"])] + [
        (f"spikes.tables.{t}", o) for t, o in cfg["spikes"]["tables"].items() if isinstance(o, Mapping)
    ]:
        if "max_withdrawn_share" in values:
            number(values["max_withdrawn_share"], f"{where}.max_withdrawn_share", 0, high=1)
    for where, values in [("spikes", cfg["spikes"])] + [
        (f"spikes.tables.{t}", o) for t, o in cfg["spikes"]["tables"].items() if isinstance(o, Mapping)
    ]:
        for key, (low, whole) in spike_numbers.items():
            if key in values:
                number(values[key], f"{where}.{key}", low, whole=whole)
    # The history a spike check reads is its last window_runs runs: a min_history_runs above
    # that is never reached, and the check said "insufficient history" for good (never blocked).
    for table in [None, *cfg["spikes"]["tables"]]:
        over = cfg["spikes"]["tables"].get(table) if table else {}
        over = over if isinstance(over, Mapping) else {}
        window = over.get("window_runs", cfg["spikes"]["window_runs"])
        needed = over.get("min_history_runs", cfg["spikes"]["min_history_runs"])
        if isinstance(window, int) and isinstance(needed, int) and needed > window:
            where = f"spikes.tables.{table}" if table else "spikes"
            raise _config_error(
                path,
                f"{where}: min_history_runs ({needed}) is more than window_runs ({window}), the runs the check "
                "reads: it would never have the history to check. Raise window_runs or lower min_history_runs",
            )
    for where, values in [("match_rate", cfg["match_rate"])] + [
        (f"match_rate.reconciliations.{n}", o)
        for n, o in cfg["match_rate"]["reconciliations"].items()
        if isinstance(o, Mapping)
    ]:
        if "min_rate" in values:
            number(values["min_rate"], f"{where}.min_rate", 0, 1)
        if "max_drop" in values:
            number(values["max_drop"], f"{where}.max_drop", 0, 1)
        if "min_records_drop" in values:
            number(values["min_records_drop"], f"{where}.min_records_drop", 0, whole=True)
        for key in ("baseline_runs", "window_runs"):
            if key in values:
                number(values[key], f"{where}.{key}", 1, whole=True)
    for where, values in [("freshness", cfg["freshness"])] + [
        (f"freshness.sources.{n}", o) for n, o in cfg["freshness"]["sources"].items() if isinstance(o, Mapping)
    ]:
        if "max_age_hours" in values:
            number(values["max_age_hours"], f"{where}.max_age_hours", 0)
    for section, key in (("raw", "allow_negative"), ("raw", "version_columns"), ("spikes", "amount_columns")):
        for table, columns in cfg[section][key].items():
            if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
                raise _config_error(path, f"{section}.{key}.{table} must be a list of column names, not {columns!r}")
    for section, key in (("spikes", "tables"), ("freshness", "sources"), ("match_rate", "reconciliations")):
        for name, over in cfg[section][key].items():
            if not isinstance(over, Mapping):
                raise _config_error(path, f"{section}.{key}.{name} must be a mapping of settings, not {over!r}")
    for table, columns in cfg["raw"]["allow_negative"].items():
        ent = _entity_of(path, table, "raw.allow_negative")
        for col in columns:
            if col not in _numeric_columns(ent):
                raise _config_error(path, f"raw.allow_negative: {table} has no numeric column {col!r}")
    for table, columns in cfg["raw"]["version_columns"].items():
        ent = _entity_of(path, table, "raw.version_columns")
        if any(c not in ent.column_names or c in ent.key for c in columns):
            raise _config_error(path, f"raw.version_columns.{table}: list non-key contract columns of {table}")
    for table, columns in cfg["spikes"]["amount_columns"].items():
        ent = _entity_of(path, table, "spikes.amount_columns")
        if not columns or any(c not in _numeric_columns(ent) for c in columns):
            raise _config_error(
                path,
                f"spikes.amount_columns.{table}: list numeric columns of the contract, one of {_numeric_columns(ent)}",
            )
    for table, over in cfg["spikes"]["tables"].items():
        _entity_of(path, table, "spikes.tables")
        _check_overrides(path, f"spikes.tables.{table}", over, _TABLE_OVERRIDES)
        if "severity" in over:
            severity(over["severity"], f"spikes.tables.{table}")
    for source, over in cfg["freshness"]["sources"].items():
        if source not in contract.SOURCES:
            raise _config_error(path, f"freshness.sources: unknown source {source!r}; known: {list(contract.SOURCES)}")
        _check_overrides(path, f"freshness.sources.{source}", over, _SOURCE_OVERRIDES)
        if "severity" in over:
            severity(over["severity"], f"freshness.sources.{source}")
    for name, over in cfg["match_rate"]["reconciliations"].items():
        _check_overrides(path, f"match_rate.reconciliations.{name}", over, _RECON_OVERRIDES | _RECON_ONLY)
        if "severity" in over:
            severity(over["severity"], f"match_rate.reconciliations.{name}")
        if "baseline_since" in over:
            over["baseline_since"] = _moment(path, f"match_rate.reconciliations.{name}.baseline_since", over)
    for where, side in [("match_rate", cfg["match_rate"]["side"])] + [
        (f"match_rate.reconciliations.{n}", o["side"])
        for n, o in cfg["match_rate"]["reconciliations"].items()
        if "side" in o
    ]:
        if side not in ("left", "right"):
            raise _config_error(path, f"{where}: side must be left or right, not {side!r}")
    cfg["_path"] = str(path)
    return cfg


def _entity_of(path: Path, table: str, where: str) -> Entity:
    if table not in contract.ENTITY_BY_TABLE:
        raise _config_error(path, f"{where}: unknown raw table {table!r}; known: {list(contract.ENTITY_BY_TABLE)}")
    return contract.ENTITY_BY_TABLE[table]


def _moment(path: Path, where: str, over: Mapping[str, Any]) -> datetime:
    """A date (UTC midnight), a datetime or an ISO string, as naive UTC like ``checked_at``."""
    value = over["baseline_since"]
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            value = None
    elif isinstance(value, date) and not isinstance(value, datetime):
        value = datetime.combine(value, dt_time())
    if not isinstance(value, datetime):
        raise _config_error(path, f"{where} must be a date or time such as 2026-03-10, not {over['baseline_since']!r}")
    value = _utc_naive(value)
    # A baseline that starts far ahead keeps the gate warning-only until then (2999: off for
    # good). "From the next run" is a few hours or days ahead; a week is the most allowed.
    latest = _utc_naive(datetime.now(UTC)) + timedelta(days=BASELINE_MAX_DAYS_AHEAD)
    if not BASELINE_EARLIEST <= value <= latest:
        raise _config_error(
            path,
            f"{where} must be a time from {BASELINE_EARLIEST:%Y-%m-%d} to a week from now ({latest:%Y-%m-%d}), not "
            f"{over['baseline_since']!r}: a later one keeps the gate warning-only until then",
        )
    return value


def _check_overrides(path: Path, where: str, over: Any, allowed: set[str]) -> None:
    if not isinstance(over, Mapping) or set(over) - allowed:
        raise _config_error(path, f"{where}: expected a mapping with keys among {sorted(allowed)}, got {over!r}")


def reconciliations(dbt_project: Path | None = None) -> list[str]:
    """Reconciliation names from dbt ``vars.reconciliations``: the list the marts union."""
    data = yaml.safe_load(Path(dbt_project or DBT_PROJECT_PATH).read_text()) or {}
    names = list((data.get("vars") or {}).get("reconciliations") or [])
    for name in names:
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError(f"dbt_project.yml vars.reconciliations: {name!r} is not a plain lower-case name")
    return names


# ----------------------------------------------------------------------------- specs


def _table_spike(cfg: Mapping[str, Any], table: str) -> dict[str, Any]:
    spikes = cfg["spikes"]
    base = {k: spikes[k] for k in _TABLE_OVERRIDES}
    return {**base, **spikes["tables"].get(table, {})}


def _recon_settings(cfg: Mapping[str, Any], name: str) -> dict[str, Any]:
    rate = cfg["match_rate"]
    base = {k: rate[k] for k in _RECON_OVERRIDES} | {"baseline_since": None}
    return {**base, **rate["reconciliations"].get(name, {})}


def _source_settings(cfg: Mapping[str, Any], source: str) -> dict[str, Any]:
    fresh = cfg["freshness"]
    return {**{k: fresh[k] for k in _SOURCE_OVERRIDES}, **fresh["sources"].get(source, {})}


def _raw_checks_of(ent: Entity) -> list[tuple[str, str]]:
    """The raw checks that apply to an entity, with what each asserts."""
    checks = [
        ("raw_columns", "Every contract and lineage column is present in the raw table."),
        ("raw_keys_not_null", f"Key column(s) {', '.join(ent.key)} are never null in current batches."),
        (
            "raw_keys_unique",
            f"No key ({', '.join(ent.key)}) has two different rows within one current batch "
            "(identical re-sent copies are counted, not failed).",
        ),
        ("raw_lineage_not_null", "Every row carries its batch, file, row number, file hash and load time."),
    ]
    if any(c.kind == "currency" for c in ent.columns):
        checks.append(("raw_currency_valid", "Currency codes are in the contract's list."))
    if any(c.allowed for c in ent.columns):
        checks.append(("raw_allowed_values", "Enumerated columns hold only the contract's values."))
    if _numeric_columns(ent):
        checks.append(("raw_non_negative", "Amounts and counts are not negative (unless exempted in config)."))
    return checks


def check_specs(config: Mapping[str, Any] | None = None, dbt_project: Path | None = None) -> list[CheckSpec]:
    """Every check ``run_quality_checks`` reports, without touching the warehouse or GX.

    Dagster needs asset check specs when the definitions load; this gives them from the
    contract, the config and dbt ``vars.reconciliations`` alone.
    """
    cfg = config if config is not None else load_config()
    specs: list[CheckSpec] = []
    raw_severity = cfg["raw"]["severity"]
    for ent in contract.ENTITIES:
        for name, description in _raw_checks_of(ent):
            specs.append(CheckSpec(name, raw_asset(ent), raw_severity, description))
        spike = _table_spike(cfg, ent.table)
        specs.append(
            CheckSpec(
                "volume_spike",
                raw_asset(ent),
                spike["severity"],
                "Rows loaded by this run are within the robust band of recent runs.",
            )
        )
        if ent.table in cfg["spikes"]["amount_columns"]:
            specs.append(
                CheckSpec(
                    "amount_spike",
                    raw_asset(ent),
                    spike["severity"],
                    "Amount totals per currency loaded by this run are within the robust band of recent runs.",
                )
            )
    for name in _checked_reconciliations(cfg, dbt_project):
        rs = _recon_settings(cfg, name)
        specs.append(
            CheckSpec(
                f"match_rate_{name}",
                RECORDS_ASSET,
                rs["severity"],
                f"The share of {name} {rs['side']} records matched is at most {rs['max_drop']:g} below its "
                f"baseline (median of the last {rs['window_runs']} passing runs; the first {rs['baseline_runs']} "
                f"runs set it and only warn). Below {rs['min_rate']:.0%} warns.",
            )
        )
    for source in _sources():
        ss = _source_settings(cfg, source)
        specs.append(
            CheckSpec(
                f"freshness_{source}",
                INGESTION_LOG_ASSET,
                ss["severity"],
                f"The newest {source} row was loaded at most {ss['max_age_hours']} hours ago.",
            )
        )
    return specs


def definition_specs() -> tuple[list[CheckSpec], str | None]:
    """The check specs the Dagster definitions declare, and the config's mistake when it has one.

    Definitions load whatever the config says: a typo in quality.yml raised here stopped the
    code location, so the schedule, the landing sensor and the failure alerts stopped with it,
    and nothing said so. With a mistake, every check is declared blocking (names from the
    contract and dbt_project.yml, no numbers); the run itself is refused at its first step
    (orchestration.pipeline.check_run_settings), naming the file and key, and alerted."""
    try:
        return check_specs(), None
    except ValueError as exc:  # QualityConfigError, or a match_rate name dbt does not know
        error = str(exc)
    try:
        names = reconciliations()
    except (OSError, ValueError, yaml.YAMLError):
        names = []
    note = f"Not evaluated while the quality config has a mistake: {error}"[:500]
    specs = [
        CheckSpec(name, raw_asset(ent), "error", note)
        for ent in contract.ENTITIES
        for name in [*(n for n, _ in _raw_checks_of(ent)), "volume_spike"]
    ]
    specs += [CheckSpec(f"match_rate_{name}", RECORDS_ASSET, "error", note) for name in names]
    specs += [CheckSpec(f"freshness_{source}", INGESTION_LOG_ASSET, "error", note) for source in _sources()]
    return specs, error


def _checked_reconciliations(cfg: Mapping[str, Any], dbt_project: Path | None) -> list[str]:
    names = reconciliations(dbt_project)
    for name in cfg["match_rate"]["reconciliations"]:
        if name not in names:
            raise ValueError(
                f"{cfg.get('_path', 'quality config')}: match_rate.reconciliations.{name} is not a reconciliation "
                f"of dbt_project.yml vars.reconciliations {names}"
            )
    return names


def _sources() -> list[str]:
    return [s for s in contract.SOURCES if any(e.source == s for e in contract.ENTITIES)]
