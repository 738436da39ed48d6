"""Quality gates after each dbt build: Great Expectations checks on what the warehouse holds.

Why these exist next to the dbt tests: dbt tests prove the models agree with themselves
(every record in one state, amounts conserved). They cannot tell that a source sent a tenth
of its usual rows, that a column disappeared from a raw table after a contract change, that
the matching engine suddenly leaves a third of the invoices without an order, or that the
ad platforms stopped sending files three days ago. These gates do, and each one is a
Dagster asset check on the asset it is about (``check_specs`` lists them statically).

What runs (``run_quality_checks``), per family:

* **raw** (per raw table, from ``orchestration.contract``): ``raw_columns`` (contract and
  lineage columns present), ``raw_keys_not_null``, ``raw_keys_unique`` (within each
  *current* batch: the latest load of a file, as ``current_raw_rows`` in dbt sees it; the
  same key in two files is a new version, not a duplicate, and an identical copy re-sent
  in one file is counted but allowed, since staging keeps one), ``raw_lineage_not_null``,
  ``raw_currency_valid`` (``contract.CURRENCIES``), ``raw_allowed_values`` (enumerations)
  and ``raw_non_negative`` (every decimal and integer column unless exempted in config).
* **match rate** (``marts/fct_reconciliation_records``): ``match_rate_<reconciliation>``,
  the share of records in state ``matched`` on one side (``right`` by default: billing
  items, campaigns, projects and form submissions must each find their order or lead;
  orders may wait for billing inside their grace windows). Suggested and ambiguous records
  count as not matched: they wait for a person. **Baseline first**: a real warehouse's
  rates are not our generator's, so an absolute threshold would block its first run. The
  first ``baseline_runs`` runs that measure a rate for a reconciliation and side only warn
  (below ``min_rate``); after them the check fails, with its configured severity, when the
  rate is more than ``max_drop`` (absolute) below the baseline, the median rate of the last
  ``window_runs`` runs that passed their gates. ``min_rate`` stays as a warning. A run that
  a gate blocked never joins the baseline, so a drop keeps blocking until it is fixed or
  accepted (``baseline_since`` sets the baseline again). See ``_match_rate_checks``.
* **spikes** (per raw table): ``volume_spike`` on the rows this run loaded, from
  ``raw.ingestion_log``, and ``amount_spike`` on this run's amount totals per currency,
  against median ± max(k × 1.4826 × MAD, min_relative_band × median) of the last runs that
  loaded the table. "This run" is every batch above the high-water mark the previous
  report recorded, so batches loaded by a bare ``recon ingest`` count towards the next
  checked run. A run that loaded no file for a table is not a spike of zero: it is not
  checked and leaves no value in that table's history. A file that arrived and loaded zero
  rows does count, as zero. With fewer than ``min_history_runs`` values the check passes
  and says "insufficient history".
* **freshness** (``raw_ingestion/ingestion_log``, one check per source): the newest
  ``_ingested_at`` of the source's raw tables must be within ``max_age_hours`` of ``now``.

Memory: nothing here reads a raw table into Python. DuckDB computes aggregates (one row
per batch, i.e. per landing file; one row per reconciliation and side; one number per
table, currency or source), and Great Expectations validates those small pandas frames.
Python memory grows with the number of landing files and reconciliations, not with rows;
DuckDB's own memory is capped by ``RECON_DUCKDB_MEMORY_LIMIT`` and spills to
``RECON_DUCKDB_TEMP_DIRECTORY`` like the dbt profile's. The warehouse is opened read-only.

Results, with the observations the next run's spike and match-rate checks need, are
written to ``<history_dir>/<run_id>.json``; both read the earlier files back (one store).

Great Expectations runs in an ephemeral context (no files, no project), analytics off, and
is imported on first use so that loading the Dagster definitions stays fast.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import re
import statistics
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from datetime import time as dt_time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import yaml

from orchestration import contract, settings
from orchestration.contract import Entity
from orchestration.ingest import META_COLUMNS, RAW_SCHEMA
from orchestration.warehouse import open_reader

if TYPE_CHECKING:  # pragma: no cover - imported lazily at run time
    import pandas as pd

log = logging.getLogger(__name__)

REPORT_FORMAT = 1
CONFIG_PATH = settings.PROJECT_DIR / "config" / "quality.yml"
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
# without labels (`recon train`, orchestration/train.py on main): one place to rename it.
RETRAIN_HINT = "run `recon train` to re-estimate the match weights from your data"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def default_history_dir() -> Path:
    """Where reports accumulate unless told otherwise: ``$RECON_HOME/quality/history``."""
    return settings.recon_home() / "quality" / "history"


def raw_asset(ent: Entity) -> str:
    """Dagster asset key of a raw table, as ``orchestration.defs.ingestion.raw_asset_key`` builds it."""
    return f"raw_{ent.source}/{ent.table}"


# ---------------------------------------------------------------------------- results


@dataclass(frozen=True)
class CheckSpec:
    """A check that every run reports, known before any data is read (for Dagster specs)."""

    name: str
    asset: str
    severity: str
    description: str


@dataclass
class CheckResult:
    name: str
    asset: str
    severity: str  # error (blocking) | warn
    passed: bool
    metadata: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    @property
    def blocking(self) -> bool:
        return self.severity == "error" and not self.passed

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "asset": self.asset,
            "severity": self.severity,
            "passed": self.passed,
            "description": self.description,
            "metadata": _plain(self.metadata),
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> CheckResult:
        return cls(
            name=doc["name"],
            asset=doc["asset"],
            severity=doc["severity"],
            passed=bool(doc["passed"]),
            metadata=dict(doc.get("metadata") or {}),
            description=doc.get("description") or "",
        )


@dataclass
class QualityReport:
    run_id: str
    checked_at: datetime  # naive UTC, like every timestamp in the warehouse
    warehouse: str
    checks: list[CheckResult]
    # Per raw table: new batches, rows loaded and amount totals of this run (None when the
    # run loaded no file for the table). The next run's spike checks read these back.
    observations: dict[str, Any]
    high_water_batch_id: int
    previous_high_water_batch_id: int
    seconds: float = 0.0
    history_file: Path | None = None
    _gx_context: Any = field(default=None, repr=False, compare=False)

    def blocking_failures(self) -> list[CheckResult]:
        """Failed checks of severity ``error``: the ones that must stop the run."""
        return [c for c in self.checks if c.blocking]

    def failures(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.passed]

    def get(self, name: str, asset: str) -> CheckResult:
        for check in self.checks:
            if check.name == name and check.asset == asset:
                return check
        raise KeyError(f"no check {name!r} on {asset!r} in this report")

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": REPORT_FORMAT,
            "run_id": self.run_id,
            "checked_at": self.checked_at.isoformat() + "Z",
            "warehouse": self.warehouse,
            "seconds": round(self.seconds, 3),
            "passed": not self.blocking_failures(),
            "summary": {
                "checks": len(self.checks),
                "failed": len(self.failures()),
                "blocking": len(self.blocking_failures()),
            },
            "high_water_batch_id": self.high_water_batch_id,
            "previous_high_water_batch_id": self.previous_high_water_batch_id,
            "observations": _plain(self.observations),
            "checks": [c.to_dict() for c in self.checks],
        }


def _plain(value: Any) -> Any:
    """JSON-ready copy: numpy and Decimal numbers as Python numbers, NaN as None."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "item") and not isinstance(value, float):  # numpy scalar
        return _plain(value.item())
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return None if math.isnan(number) or math.isinf(number) else number


# ---------------------------------------------------------------------------- config


_CONFIG_KEYS: dict[str, set[str]] = {
    "raw": {"severity", "allow_negative", "version_columns"},
    "match_rate": {"severity", "side", "min_rate", "baseline_runs", "window_runs", "max_drop", "reconciliations"},
    "spikes": {
        "severity",
        "window_runs",
        "min_history_runs",
        "k",
        "min_relative_band",
        "min_absolute_rows",
        "amount_columns",
        "tables",
    },
    "freshness": {"severity", "max_age_hours", "sources"},
}
_OPTIONAL_KEYS = {"allow_negative", "version_columns", "reconciliations", "amount_columns", "tables", "sources"}
_RECON_OVERRIDES = {"severity", "side", "min_rate", "baseline_runs", "window_runs", "max_drop"}
_RECON_ONLY = {"baseline_since"}  # per reconciliation only: when its baseline starts again
_TABLE_OVERRIDES = {"severity", "window_runs", "min_history_runs", "k", "min_relative_band", "min_absolute_rows"}
_SOURCE_OVERRIDES = {"severity", "max_age_hours"}


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _config_error(path: Path | None, message: str) -> ValueError:
    return ValueError(f"{path or 'quality config'}: {message}")


def _numeric_columns(ent: Entity) -> tuple[str, ...]:
    return tuple(c.name for c in ent.columns if c.kind in ("decimal", "integer"))


def load_config(path: Path | None = None, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Read ``config/quality.yml`` (or ``path``), apply ``overrides``, and fail loudly on mistakes.

    The file is the one source of the numbers: a missing key is an error that names it,
    and so is a key, table, column or source this module does not know.
    """
    path = Path(path) if path else CONFIG_PATH
    cfg = yaml.safe_load(path.read_text()) or {}
    cfg = _merge(cfg, copy.deepcopy(dict(overrides or {})))
    for section, keys in _CONFIG_KEYS.items():
        got = cfg.get(section)
        if not isinstance(got, Mapping):
            raise _config_error(path, f"section {section!r} is missing")
        unknown = set(got) - keys
        if unknown:
            raise _config_error(path, f"unknown key(s) {sorted(unknown)} in {section}; known: {sorted(keys)}")
        missing = keys - _OPTIONAL_KEYS - set(got)
        if missing:
            raise _config_error(path, f"add {sorted(missing)} to section {section}")
        for key in keys & _OPTIONAL_KEYS:
            got.setdefault(key, {})
            if got[key] is None:
                got[key] = {}
    unknown = set(cfg) - set(_CONFIG_KEYS)
    if unknown:
        raise _config_error(path, f"unknown section(s) {sorted(unknown)}; known: {sorted(_CONFIG_KEYS)}")

    def severity(value: Any, where: str) -> None:
        if value not in SEVERITIES:
            raise _config_error(path, f"{where}: severity must be one of {SEVERITIES}, not {value!r}")

    def number(value: Any, where: str, low: float, high: float | None = None, whole: bool = False) -> None:
        kind = int if whole else (int, float)
        if isinstance(value, bool) or not isinstance(value, kind) or value < low or (high is not None and value > high):
            span = f">= {low}" if high is None else f"between {low} and {high}"
            raise _config_error(path, f"{where} must be a {'whole ' if whole else ''}number {span}, not {value!r}")

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
        for key, (low, whole) in spike_numbers.items():
            if key in values:
                number(values[key], f"{where}.{key}", low, whole=whole)
    for where, values in [("match_rate", cfg["match_rate"])] + [
        (f"match_rate.reconciliations.{n}", o)
        for n, o in cfg["match_rate"]["reconciliations"].items()
        if isinstance(o, Mapping)
    ]:
        if "min_rate" in values:
            number(values["min_rate"], f"{where}.min_rate", 0, 1)
        if "max_drop" in values:
            number(values["max_drop"], f"{where}.max_drop", 0, 1)
        for key in ("baseline_runs", "window_runs"):
            if key in values:
                number(values[key], f"{where}.{key}", 1, whole=True)
    for where, values in [("freshness", cfg["freshness"])] + [
        (f"freshness.sources.{n}", o) for n, o in cfg["freshness"]["sources"].items() if isinstance(o, Mapping)
    ]:
        if "max_age_hours" in values:
            number(values["max_age_hours"], f"{where}.max_age_hours", 0)
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
    return _utc_naive(value)


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


# ------------------------------------------------------------------ Great Expectations


def _import_gx():
    """Great Expectations, imported on first use (it takes seconds) with analytics off."""
    os.environ["GX_ANALYTICS_ENABLED"] = "False"
    import great_expectations as gx

    return gx


class _Validator:
    """One ephemeral GX context per quality run; every validation is on a small pandas frame.

    GX's cost is per expectation, so each family validates one long frame (a row per table
    and batch, per table and currency, per reconciliation, per source) with one or two
    expectations, and a check's verdict is whether GX found any of *its* rows unexpected.
    """

    def __init__(self) -> None:
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self.gx = _import_gx()
        self.context = self.gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        self.datasource = self.context.data_sources.add_pandas("recon_quality")
        self.expect = self.gx.expectations

    def validate(self, name: str, frame: pd.DataFrame, expectations: Sequence[tuple[str, Any]]) -> list[Any]:
        """Validate ``frame``; each result keeps the key its expectation was given (``_key``)."""
        if not expectations:
            return []
        gx = self.gx
        batch = self.datasource.add_dataframe_asset(name).add_batch_definition_whole_dataframe("whole")
        suite = gx.ExpectationSuite(name=name)
        for key, expectation in expectations:
            expectation.meta = {**(expectation.meta or {}), "check": key}
            suite.add_expectation(expectation)
        suite = self.context.suites.add(suite)
        definition = self.context.validation_definitions.add(
            gx.ValidationDefinition(name=name, data=batch, suite=suite)
        )
        # COMPLETE: the unexpected row labels, bounded by the frame (a row per batch at most).
        result = definition.run(batch_parameters={"dataframe": frame}, result_format={"result_format": "COMPLETE"})
        return list(result.results)


def _key(result: Any) -> str:
    return result.expectation_config.meta["check"]


def _gx_error(result: Any) -> str | None:
    """The message of an expectation that could not run (a missing column, a type error)."""
    info = result.exception_info or {}
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    for value in info.values():
        if isinstance(value, Mapping) and value.get("raised_exception", True) and value.get("exception_message"):
            return str(value["exception_message"])
    return None


def _verdict(results: Sequence[Any], rows: Iterable[int] | None = None) -> tuple[bool, list[dict[str, Any]], set[int]]:
    """Pass or fail of one check from GX results, a summary for its metadata, its failing rows.

    With ``rows`` (the check's rows in a family's long frame) the check fails when GX found
    one of those rows unexpected; without, when any result failed. An expectation that
    could not run, or failed without saying which rows, fails the check.
    """
    wanted = None if rows is None else {int(r) for r in rows}
    passed = bool(results)
    summary: list[dict[str, Any]] = []
    failing: set[int] = set()
    for item in results:
        config = item.expectation_config
        entry: dict[str, Any] = {"expectation": config.type}
        entry.update({k: config.kwargs[k] for k in ("column", "column_A", "column_B") if k in config.kwargs})
        res = item.result or {}
        error = _gx_error(item)
        if error:
            ok = False
            entry["error"] = error[:300]
        elif wanted is None:
            ok = bool(item.success)
            entry.update({k: res[k] for k in ("observed_value", "unexpected_count") if k in res})
            if "details" in res:
                entry["details"] = res["details"]
        else:
            unexpected = res.get("unexpected_index_list")
            if item.success:
                bad = set()
            elif unexpected is None:
                bad = set(wanted)
            else:
                bad = {int(i) for i in unexpected} & wanted
            failing |= bad
            ok = not bad
            entry.update(rows=len(wanted), unexpected_rows=len(bad))
        entry["success"] = ok
        passed = passed and ok
        summary.append(entry)
    return passed, _plain(summary), failing


# --------------------------------------------------------------------------- helpers


def _ident(name: str) -> str:
    """Quote an identifier that comes from the contract or config (never from data)."""
    if not name.replace("_", "").isalnum():
        raise ValueError(f"refusing to use {name!r} as an SQL identifier")
    return f'"{name}"'


def _relation(relation: str) -> str:
    parts = relation.split(".")
    if len(parts) != 2:
        raise ValueError(f"expected schema.table, got {relation!r}")
    return ".".join(_ident(p) for p in parts)


def _utc_naive(moment: datetime | None) -> datetime:
    if moment is None:
        return datetime.now(UTC).replace(tzinfo=None)
    if moment.tzinfo is not None:
        return moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _connect(warehouse: Path) -> duckdb.DuckDBPyConnection:
    if not warehouse.exists():
        raise FileNotFoundError(f"no warehouse at {warehouse}: run `recon ingest` or `recon run` first")
    return open_reader(warehouse)


def _columns_of(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[str]:
    rows = con.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
        "order by ordinal_position",
        [schema, table],
    ).fetchall()
    return [r[0] for r in rows]


def _raw_columns(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """Columns of every contract table in the raw schema, in order (empty: no such table)."""
    found: dict[str, list[str]] = {ent.table: [] for ent in contract.ENTITIES}
    for table, column in con.execute(
        "select table_name, column_name from information_schema.columns where table_schema = ? "
        "order by table_name, ordinal_position",
        [RAW_SCHEMA],
    ).fetchall():
        if table in found:
            found[table].append(column)
    return found


def _relation_exists(con: duckdb.DuckDBPyConnection, relation: str) -> bool:
    schema, table = relation.split(".")
    return bool(_columns_of(con, schema, table))


# ------------------------------------------------------------------------- raw checks

_CURRENT_BATCHES = f"""
    current_batches as (
        select batch_id
        from {RAW_SCHEMA}.ingestion_log
        where status = 'loaded'
            and batch_id not in (
                select supersedes_batch_id
                from {RAW_SCHEMA}.ingestion_log
                where status = 'loaded' and supersedes_batch_id is not null
            )
    )"""


@dataclass
class _RawPlan:
    """Frame columns behind each raw check; missing contract columns it cannot check."""

    columns: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    missing: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))


def _batch_frame(
    con: duckdb.DuckDBPyConnection,
    ent: Entity,
    present: set[str],
    allow_negative: Sequence[str],
    version_columns: Sequence[str],
) -> tuple[pd.DataFrame, _RawPlan]:
    """One row per batch of the table: row count and, per check, a count of offending rows.

    Key and value counts cover current batches only (superseded loads never reach
    staging); lineage counts cover every row, since a row without a batch is in none.
    """
    plan = _RawPlan()
    table = f"{RAW_SCHEMA}.{_ident(ent.table)}"
    params: dict[str, Any] = {}
    select = [
        "batch_rows._batch_id as batch_id",
        ("any_value(batch_rows._source_file)" if "_source_file" in present else "null::VARCHAR") + " as source_file",
        "count(*)::BIGINT as row_count",
        "bool_or(batch_rows._is_current) as is_current",
    ]

    def count(alias: str, condition: str, check: str, current_only: bool = True) -> None:
        scope = "batch_rows._is_current and " if current_only else ""
        select.append(f"count(*) filter (where {scope}({condition}))::BIGINT as {_ident(alias)}")
        plan.columns[check].append(alias)

    for col in ent.key:
        if col in present:
            count(f"null__{col}", f"batch_rows.{_ident(col)} is null", "raw_keys_not_null")
        else:
            plan.missing["raw_keys_not_null"].append(col)
            plan.missing["raw_keys_unique"].append(col)
    for col in LINEAGE_COLUMNS:
        if col in present:
            count(f"null__{col}", f"batch_rows.{_ident(col)} is null", "raw_lineage_not_null", current_only=False)
        else:
            plan.missing["raw_lineage_not_null"].append(col)
    for col in ent.columns:
        q = f"batch_rows.{_ident(col.name)}"
        if col.kind == "currency":
            if col.name in present:
                params["currencies"] = list(contract.CURRENCIES)
                count(
                    f"bad_currency__{col.name}",
                    f"{q} is not null and not list_contains($currencies, {q})",
                    "raw_currency_valid",
                )
            else:
                plan.missing["raw_currency_valid"].append(col.name)
        if col.allowed:
            if col.name in present:
                params[f"allowed_{col.name}"] = list(col.allowed)
                count(
                    f"disallowed__{col.name}",
                    f"{q} is not null and not list_contains($allowed_{col.name}, lower({q}))",
                    "raw_allowed_values",
                )
            else:
                plan.missing["raw_allowed_values"].append(col.name)
        # The contract says per column what a negative value means; only columns where it
        # means nothing (and those exempted in config) must be non-negative.
        if col.kind in ("decimal", "integer") and not col.negative and col.name not in allow_negative:
            if col.name in present:
                count(f"negative__{col.name}", f"{q} < 0", "raw_non_negative")
            else:
                plan.missing["raw_non_negative"].append(col.name)

    needed = sorted({c for c in present if c in ent.column_names or c in LINEAGE_COLUMNS})
    unique_on = [*ent.key, *version_columns]
    if all(c in present for c in unique_on):
        # Rows sharing key (and version) within one batch: identical copies are a re-send
        # that staging dedupes; differing copies leave staging to pick one by row order.
        group_cols = ", ".join(_ident(c) for c in unique_on)
        key_not_null = " and ".join(f"{_ident(k)} is not null" for k in ent.key)
        content = [_ident(c) for c in ent.column_names if c in present]
        join_on = " and ".join(f"source_rows.{_ident(c)} is not distinct from keyed.{_ident(c)}" for c in unique_on)
        # Two passes: find keys that repeat within a batch, then compare the content of
        # only those rows (rare), instead of hashing every row of the table.
        duplicates = f""",
    repeated_keys as (
        select _batch_id, {group_cols}, count(*) as copies
        from {table}
        where _batch_id in (select batch_id from current_batches) and {key_not_null}
        group by _batch_id, {group_cols}
        having count(*) > 1
    ),
    key_versions as (
        select
            keyed._batch_id,
            any_value(keyed.copies) as copies,
            count(distinct row({", ".join(f"source_rows.{c}" for c in content)})) as versions
        from repeated_keys as keyed
        inner join {table} as source_rows
            on source_rows._batch_id = keyed._batch_id and {join_on}
        group by keyed._batch_id, {", ".join(f"keyed.{_ident(c)}" for c in unique_on)}
    ),
    duplicate_keys as (
        select
            _batch_id,
            count(*)::BIGINT as duplicated_keys,
            sum(copies - versions)::BIGINT as exact_copy_rows,
            count(*) filter (where versions > 1)::BIGINT as conflicting_keys
        from key_versions
        group by _batch_id
    )"""
        dup_join = "left join duplicate_keys on duplicate_keys._batch_id = per_batch.batch_id"
        dup_select = ", ".join(
            f"coalesce(duplicate_keys.{c}, 0)::BIGINT as {c}"
            for c in ("duplicated_keys", "exact_copy_rows", "conflicting_keys")
        )
        plan.columns["raw_keys_unique"].append("conflicting_keys")
    else:
        plan.missing["raw_keys_unique"].extend(c for c in version_columns if c not in present)
        duplicates, dup_join = "", ""
        dup_select = "0::BIGINT as duplicated_keys, 0::BIGINT as exact_copy_rows, 0::BIGINT as conflicting_keys"
    sql = f"""
    with {_CURRENT_BATCHES}{duplicates},
    batch_rows as (
        select {", ".join(f"source_rows.{_ident(c)}" for c in needed)},
            current_batches.batch_id is not null as _is_current
        from {table} as source_rows
        left join current_batches on current_batches.batch_id = source_rows._batch_id
    ),
    per_batch as (
        select {", ".join(select)}
        from batch_rows
        group by batch_rows._batch_id
    )
    select per_batch.*, {dup_select}
    from per_batch
    {dup_join}
    order by per_batch.batch_id nulls first
    """
    frame = con.execute(sql, params).df()
    return frame, plan


def _raw_checks(
    con: duckdb.DuckDBPyConnection, validator: _Validator, cfg: Mapping[str, Any], present: Mapping[str, list[str]]
) -> list[CheckResult]:
    import pandas as pd

    severity = cfg["raw"]["severity"]
    expected = {ent.table: [*ent.column_names, *LINEAGE_COLUMNS] for ent in contract.ENTITIES}

    # Schema: a column per table listing the columns it has; each must contain the contract's.
    width = max([len(cols) for cols in present.values()] + [1])
    schema_frame = pd.DataFrame(
        {table: pd.Series(cols + [None] * (width - len(cols)), dtype="object") for table, cols in present.items()}
    )
    schema_results = validator.validate(
        "raw_columns",
        schema_frame,
        [
            (table, validator.expect.ExpectColumnDistinctValuesToContainSet(column=table, value_set=columns))
            for table, columns in expected.items()
        ],
    )

    # Batches: per table one row per batch with offending counts, stacked into one long
    # frame (table, check, batch, offending) that one expectation validates.
    frames: dict[str, tuple[pd.DataFrame, _RawPlan]] = {}
    parts = []
    for ent in contract.ENTITIES:
        if "_batch_id" not in present[ent.table]:
            continue
        frame, plan = _batch_frame(
            con,
            ent,
            set(present[ent.table]),
            cfg["raw"]["allow_negative"].get(ent.table, []),
            cfg["raw"]["version_columns"].get(ent.table, []),
        )
        frames[ent.table] = (frame, plan)
        for check, columns in plan.columns.items():
            parts.append(
                pd.DataFrame(
                    {
                        "table": ent.table,
                        "check": check,
                        "batch_id": frame["batch_id"],
                        "source_file": frame["source_file"],
                        "offending": frame[columns].sum(axis=1).astype("int64"),
                    }
                )
            )
    long = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["table", "check", "offending"])
    batch_results = validator.validate(
        "raw_batches",
        long,
        [("raw_batches", validator.expect.ExpectColumnValuesToBeBetween(column="offending", min_value=0, max_value=0))]
        if parts
        else [],
    )

    results: list[CheckResult] = []
    for ent in contract.ENTITIES:
        asset, cols = raw_asset(ent), present[ent.table]
        passed, gx, _ = _verdict([r for r in schema_results if _key(r) == ent.table])
        results.append(
            CheckResult(
                "raw_columns",
                asset,
                severity,
                passed,
                {
                    "table_exists": bool(cols),
                    "expected_columns": len(expected[ent.table]),
                    "present_columns": len(cols),
                    "missing_columns": [c for c in expected[ent.table] if c not in cols],
                    "columns_not_in_contract": [c for c in cols if c not in expected[ent.table]],
                    "expectations": gx,
                },
            )
        )
        for name, _ in _raw_checks_of(ent)[1:]:
            if ent.table not in frames:
                reason = f"{RAW_SCHEMA}.{ent.table} does not exist" if not cols else "column _batch_id is missing"
                results.append(CheckResult(name, asset, severity, False, {"error": reason}))
                continue
            frame, plan = frames[ent.table]
            columns = plan.columns.get(name, [])
            scope = frame if name == "raw_lineage_not_null" else frame[frame["is_current"].fillna(False).astype(bool)]
            metadata: dict[str, Any] = {
                "rows_checked": int(scope["row_count"].sum()),
                "batches_checked": len(scope),
                "by_column": {column: int(frame[column].sum()) for column in columns},
            }
            if columns:
                mine = long.index[(long["table"] == ent.table) & (long["check"] == name)]
                passed, gx, failing = _verdict(batch_results, mine)
                bad = long.loc[sorted(failing)]
                metadata.update(
                    offending=int(long.loc[mine, "offending"].sum()),
                    failing_batches=len(bad),
                    failing_files=[str(f) for f in bad["source_file"].head(5)],
                    expectations=gx,
                )
            else:
                passed = True
            if name == "raw_keys_unique":
                metadata.update(
                    {c: int(frame[c].sum()) for c in ("duplicated_keys", "exact_copy_rows", "conflicting_keys")}
                )
            if plan.missing.get(name):
                metadata["missing_columns"] = plan.missing[name]
                passed = False
            results.append(CheckResult(name, asset, severity, passed, metadata))
    return results


# ------------------------------------------------------------------------- match rate


def match_rate_frame(con: duckdb.DuckDBPyConnection, relation: str = RECORDS_RELATION) -> pd.DataFrame:
    """Records per reconciliation and side, by state, and ``match_rate`` = matched / records.

    ``relation`` is ``schema.table`` of any table shaped like
    ``marts.fct_reconciliation_records`` (reconciliation, side, record_state): one row per
    reconciliation and side comes back, so the frame is small whatever the mart's size.
    """
    states = ", ".join(
        f"count(*) filter (where record_state = ${state})::BIGINT as {_ident(state)}" for state in RECORD_STATES
    )
    sql = f"""
        select reconciliation, side, count(*)::BIGINT as records, {states},
            count(*) filter (where record_state = $matched)::DOUBLE / count(*) as match_rate
        from {_relation(relation)}
        group by reconciliation, side
        order by reconciliation, side
    """
    return con.execute(sql, {state: state for state in RECORD_STATES}).df()


def _match_rate_checks(
    con: duckdb.DuckDBPyConnection,
    validator: _Validator,
    cfg: Mapping[str, Any],
    names: Sequence[str],
    history: Sequence[Mapping[str, Any]],
    after_build: bool = True,
) -> tuple[list[CheckResult], dict[str, Any]]:
    """One check per reconciliation, and this run's rates for the next runs' baselines.

    The rule, per reconciliation and checked side:

    * **Baseline period.** While fewer than ``baseline_runs`` earlier runs measured a rate,
      this run helps set the baseline: below ``min_rate`` it warns, it never blocks. A new
      warehouse's first run publishes whatever its data matches.
    * **After it**, the baseline is the median rate of the last ``window_runs`` runs that
      passed their gates. More than ``max_drop`` below it fails with the configured
      severity; below ``min_rate`` (but within ``max_drop``) warns.

    ``max_drop`` is absolute (rate points), not relative: rates live in [0, 1], and a
    relative drop would make a low-rate warehouse's gate hair-trigger (5 % of 0.4 is 0.02)
    just where onboarding needs slack. The median of a trailing window of *passing* runs
    lets a warehouse that improves (better data, re-trained weights) move its baseline up
    within about half the window, ignores a single odd run, and follows a slow decline only
    when it is slower than about ``max_drop`` per half window. A blocked run never joins,
    so a sudden drop keeps blocking until it is fixed, accepted (``baseline_since`` starts
    the baseline again) or the numbers change. Runs whose rate only warned do join: a
    warning is accepted data. Changing ``side`` starts a new baseline (rates are kept per
    side).
    """
    wanted = {name: _recon_settings(cfg, name) for name in names}
    observed: dict[str, Any] = {}
    if not wanted:
        return [], observed
    if not _relation_exists(con, RECORDS_RELATION):
        error = f"{RECORDS_RELATION} does not exist: the dbt build has not produced it"
        for name, s in wanted.items():
            observed[name] = {"side": s["side"], "records": 0, "baseline_candidate": False}
        return [
            CheckResult(f"match_rate_{name}", RECORDS_ASSET, s["severity"], False, {"error": error}, error)
            for name, s in wanted.items()
        ], observed
    rates = match_rate_frame(con)
    # The checked side of each reconciliation, its rate rounded like its thresholds (0.9 - 0.05
    # is 0.8500000000000001 in floating point; a rate of exactly 0.85 must pass), and beside
    # it the absolute minimum and, after the baseline period, the relative floor.
    key = rates["reconciliation"] + ":" + rates["side"]
    checked = rates[key.isin([f"{n}:{s['side']}" for n, s in wanted.items()])].reset_index(drop=True)
    checked["rate"] = checked["match_rate"].astype(float).round(6)
    checked["min_rate"] = checked["reconciliation"].map({n: float(s["min_rate"]) for n, s in wanted.items()})
    baselines: dict[str, dict[str, Any]] = {}
    for name, s in wanted.items():
        prior = _baseline_rates(history, name, s["side"], s["baseline_since"])
        window = prior[-s["window_runs"] :]
        entry: dict[str, Any] = {"prior": prior, "window": window, "in_baseline": len(prior) < s["baseline_runs"]}
        entry["baseline"] = round(float(statistics.median(window)), 6) if window else None
        entry["fail_below"] = (
            None if entry["in_baseline"] else round(max(entry["baseline"] - float(s["max_drop"]), 0.0), 6)
        )
        baselines[name] = entry
    checked["fail_below"] = checked["reconciliation"].map(
        {n: (float("nan") if b["fail_below"] is None else b["fail_below"]) for n, b in baselines.items()}
    )
    expect = validator.expect
    expectations = []
    if len(checked):
        expectations.append(
            (
                "min_rate",
                expect.ExpectColumnPairValuesAToBeGreaterThanB(column_A="rate", column_B="min_rate", or_equal=True),
            )
        )
    if checked["fail_below"].notna().any():
        expectations.append(
            (
                "baseline",
                expect.ExpectColumnPairValuesAToBeGreaterThanB(
                    column_A="rate", column_B="fail_below", or_equal=True, ignore_row_if="either_value_is_missing"
                ),
            )
        )
    results_gx = validator.validate("match_rate", checked, expectations)
    results = []
    for name, s in wanted.items():
        mine = checked.index[checked["reconciliation"] == name]
        b = baselines[name]
        metadata: dict[str, Any] = {
            "reconciliation": name,
            "side": s["side"],
            "min_rate": s["min_rate"],
            "max_drop": s["max_drop"],
            "baseline_runs": s["baseline_runs"],
            "window_runs": s["window_runs"],
            "baseline": b["baseline"],
            "baseline_from_runs": len(b["window"]),
        }
        if s["baseline_since"] is not None:
            metadata["baseline_since"] = s["baseline_since"].isoformat()
        other = rates[(rates["reconciliation"] == name) & (rates["side"] != s["side"])]
        if len(other):
            metadata["other_side_match_rate"] = round(float(other["match_rate"].iloc[0]), 6)
        severity = s["severity"]
        if not len(mine):
            observed[name] = {"side": s["side"], "records": 0, "baseline_candidate": False}
            metadata.update(status="no records", records=0)
            passed = True
            description = (
                f"no {s['side']} records for {name}: nothing to check; this run does not count towards its baseline."
            )
        else:
            row = checked.loc[mine[0]]
            rate = float(row["rate"])
            observed[name] = {
                "side": s["side"],
                "match_rate": rate,
                "records": int(row["records"]),
                # Joins the baseline when the run passes its gates, and only if the rate was
                # measured on this run's own build (not the previous build, before dbt ran).
                "baseline_candidate": after_build,
            }
            min_ok, gx, _ = _verdict([r for r in results_gx if _key(r) == "min_rate"], mine)
            drop_ok = True
            if not b["in_baseline"]:
                drop_ok, gx_drop, _ = _verdict([r for r in results_gx if _key(r) == "baseline"], mine)
                gx = gx + gx_drop
            passed = min_ok and drop_ok
            if drop_ok and not min_ok:
                severity = "warn"  # the absolute threshold only warns, in and after the baseline period
            description, hint = _match_rate_message(name, s, rate, b, min_ok, drop_ok)
            metadata.update(
                status="baseline" if b["in_baseline"] else "checked",
                match_rate=rate,
                records=int(row["records"]),
                **{state: int(row[state]) for state in RECORD_STATES},
                below_min_rate=not min_ok,
                expectations=gx,
            )
            if b["in_baseline"]:
                metadata["baseline_run"] = len(b["prior"]) + 1
            else:
                metadata.update(
                    fail_below=b["fail_below"],
                    drop=round(b["baseline"] - rate, 6),
                    initial_baseline=round(float(statistics.median(b["prior"][: s["baseline_runs"]])), 6),
                )
            if hint:
                metadata["hint"] = hint
        results.append(
            CheckResult(f"match_rate_{name}", RECORDS_ASSET, severity, passed, metadata, description=description)
        )
    return results, observed


def _baseline_rates(history: Sequence[Mapping[str, Any]], name: str, side: str, since: datetime | None) -> list[float]:
    """Rates of earlier runs that set the baseline of ``name`` on ``side``, oldest first.

    A run counts when no gate blocked it and its rate was measured on its own build, with
    records on that side, and (with ``baseline_since``) when it ran at or after that time.
    """
    found = []
    for run in history:
        seen = (run["observations"].get("match_rates") or {}).get(name) or {}
        if not run["passed"] or not seen.get("baseline_candidate") or seen.get("side") != side:
            continue
        if since is not None and run["checked_at"] < since:
            continue
        found.append(float(seen["match_rate"]))
    return found


def _fmt_rate(value: float) -> str:
    """0.41, 0.90, 0.905: two decimals unless a third one matters."""
    text = f"{value:.3f}"
    return text[:-1] if text.endswith("0") else text


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _match_rate_message(
    name: str, s: Mapping[str, Any], rate: float, b: Mapping[str, Any], min_ok: bool, drop_ok: bool
) -> tuple[str, str]:
    """What the check found, in words, and what to change if it is not a problem (or is)."""
    where = f"match_rate.reconciliations.{name}"
    head = f"match rate {_fmt_rate(rate)} of {s['side']} records for {name}"
    window = f"median of the last {len(b['window'])} passing run{'s' if len(b['window']) != 1 else ''}"
    min_hint = (
        f"if this rate is expected for your data, set {where}.min_rate in config/quality.yml "
        f"(now {_fmt_rate(s['min_rate'])}) to {_fmt_rate(math.floor(rate * 100) / 100)} or lower, or {RETRAIN_HINT}."
    )
    below_min = f"below min_rate {_fmt_rate(s['min_rate'])}"
    if b["in_baseline"]:
        run = f"baseline run {len(b['prior']) + 1} of {s['baseline_runs']}"
        if not min_ok:
            return (
                f"{run}: {head}; {below_min} — warning only while the baseline is being set. {_sentence(min_hint)}",
                min_hint,
            )
        return (
            f"{run}: {head}; min_rate {_fmt_rate(s['min_rate'])} met. After {s['baseline_runs']} runs, a drop of "
            f"more than {s['max_drop']:g} below the baseline fails.",
            "",
        )
    verb = "blocks" if s["severity"] == "error" else "warns"
    base = f"baseline {_fmt_rate(b['baseline'])} ({window})"
    if not drop_ok:
        hint = (
            f"find what changed (a source's export format, a rule or weight change), or {RETRAIN_HINT}. "
            f"If the lower rate is expected from now on, set "
            f"{where}.baseline_since in config/quality.yml to today's date: the next {s['baseline_runs']} runs "
            f"set a new baseline and only warn. To allow wider swings, raise {where}.max_drop (now {s['max_drop']:g})."
        )
        return (
            f"{head} is {_fmt_rate(b['baseline'] - rate)} below its {base}; {verb} below "
            f"{_fmt_rate(b['fail_below'])} (max_drop {s['max_drop']:g}). {_sentence(hint)}",
            hint,
        )
    within = f"{head}; {base}; {verb} below {_fmt_rate(b['fail_below'])} (max_drop {s['max_drop']:g})"
    if not min_ok:
        return f"{within}; {below_min} — warning only. {_sentence(min_hint)}", min_hint
    return f"{within}; min_rate {_fmt_rate(s['min_rate'])} met.", ""


# ----------------------------------------------------------------------------- spikes


@dataclass(frozen=True)
class Band:
    median: float
    mad: float
    lower: float
    upper: float


def robust_band(values: Sequence[float], k: float, min_relative_band: float, min_absolute: float = 0.0) -> Band:
    """median ± max(k × 1.4826 × MAD, min_relative_band × |median|, min_absolute).

    Median and MAD ignore a past outlier that a mean and standard deviation would chase;
    the floors keep a perfectly steady history (MAD 0) from flagging every small change.
    """
    if not values:
        raise ValueError("a band needs at least one value")
    median = statistics.median(values)
    mad = statistics.median(abs(v - median) for v in values)
    half = max(k * MAD_TO_SIGMA * mad, min_relative_band * abs(median), min_absolute)
    return Band(float(median), float(mad), float(median - half), float(median + half))


def load_history(history_dir: Path, exclude_run_id: str | None = None) -> list[dict[str, Any]]:
    """Earlier reports' check time, high-water mark, observations and verdicts, oldest first.

    Only those fields are kept in memory, and unreadable files are skipped with a
    warning (a half-written file must not stop the gate).
    """
    history_dir = Path(history_dir)
    if not history_dir.is_dir():
        return []
    runs = []
    for path in history_dir.glob("*.json"):
        if path.stem == exclude_run_id:
            continue
        try:
            data = json.loads(path.read_text())
            runs.append(
                {
                    "run_id": data["run_id"],
                    "checked_at": datetime.fromisoformat(data["checked_at"].removesuffix("Z")),
                    "high_water_batch_id": int(data.get("high_water_batch_id") or 0),
                    "observations": data.get("observations") or {},
                    # No blocking check failed: only such runs may set a match-rate baseline.
                    "passed": bool(data.get("passed")),
                    # Blocked by its new batches: a failed blocking check on a raw table.
                    "blocked": any(
                        not c.get("passed") and c.get("severity") == "error" and str(c.get("asset")).startswith("raw_")
                        for c in data.get("checks") or []
                    ),
                }
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("skipping unreadable quality history file %s: %s", path, exc)
    runs.sort(key=lambda r: (r["checked_at"], r["run_id"]))
    return runs


def _observe(
    con: duckdb.DuckDBPyConnection, cfg: Mapping[str, Any], since_batch: int, columns: Mapping[str, list[str]]
) -> dict[str, Any]:
    """This run's new batches per raw table: files, rows loaded, amount totals per currency."""
    loaded = {
        table: (files, rows, restated)
        for table, files, rows, restated in con.execute(
            f"""
            select source || '__' || entity as source_table, count(*)::BIGINT, sum(rows_loaded)::BIGINT,
                count(*) filter (where is_restatement)::BIGINT
            from {RAW_SCHEMA}.ingestion_log
            where status = 'loaded' and batch_id > $since
            group by source_table
            """,
            {"since": since_batch},
        ).fetchall()
    }
    rejected = dict(
        con.execute(
            f"""
            select source || '__' || entity as source_table, count(*)::BIGINT
            from {RAW_SCHEMA}.ingestion_log
            where status = 'rejected' and batch_id > $since
            group by source_table
            """,
            {"since": since_batch},
        ).fetchall()
    )
    tables: dict[str, Any] = {}
    for ent in contract.ENTITIES:
        files, rows, restated = loaded.get(ent.table, (0, 0, 0))
        obs: dict[str, Any] = {
            "new_batches": int(files),
            "files_rejected": int(rejected.get(ent.table, 0)),
            "restatements": int(restated),
            "rows_loaded": int(rows or 0) if files else None,
            "amounts": None,
        }
        amount_cols = cfg["spikes"]["amount_columns"].get(ent.table)
        present = set(columns[ent.table])
        if files and amount_cols and set(amount_cols) <= present and "_batch_id" in present:
            currency = next((c.name for c in ent.columns if c.kind == "currency" and c.name in present), None)
            # Exact DECIMAL sum, then DOUBLE; factors widened first so a product of two
            # DECIMAL(18, 4) values cannot overflow.
            amount = " * ".join(f"cast({_ident(c)} as DECIMAL(38, 4))" for c in amount_cols)
            group = _ident(currency) if currency else "'*'"
            obs["amounts"] = {
                str(ccy): float(total or 0.0)
                for ccy, total in con.execute(
                    f"""
                    select coalesce({group}, '?') as ccy, cast(sum({amount}) as DOUBLE)
                    from {RAW_SCHEMA}.{_ident(ent.table)}
                    where _batch_id > $since
                    group by ccy
                    order by ccy
                    """,
                    {"since": since_batch},
                ).fetchall()
            }
        tables[ent.table] = obs
    return tables


def _spike_checks(
    validator: _Validator, cfg: Mapping[str, Any], observed: Mapping[str, Any], history: Sequence[Mapping[str, Any]]
) -> list[CheckResult]:
    import pandas as pd

    rows: list[dict[str, Any]] = []  # one per value compared with its band
    pending: list[tuple[str, Entity, dict[str, Any], dict[str, Any]]] = []
    no_data = "no new data: nothing loaded for this table, not counted as zero"

    def compare(check: str, table: str, currency: str | None, value: float, band: Band) -> dict[str, Any]:
        rows.append(
            {"check": check, "table": table, "currency": currency, "value": float(value)}
            | {"median": band.median, "lower": band.lower, "upper": band.upper}
        )
        return {"median": round(band.median, 4), "mad": round(band.mad, 4), "lower": band.lower, "upper": band.upper}

    for ent in contract.ENTITIES:
        s = _table_spike(cfg, ent.table)
        obs = observed[ent.table]
        past = [run["observations"].get("tables", {}).get(ent.table) or {} for run in history]
        common = {
            "new_batches": obs["new_batches"],
            "restatements": obs["restatements"],
            "files_rejected": obs["files_rejected"],
            "min_history_runs": s["min_history_runs"],
            "window_runs": s["window_runs"],
        }

        # Volume: rows loaded by this run's files, against runs that loaded the table.
        values = [p["rows_loaded"] for p in past if p.get("rows_loaded") is not None][-s["window_runs"] :]
        meta = {**common, "rows_loaded": obs["rows_loaded"], "history_runs": len(values)}
        if obs["rows_loaded"] is None:
            meta["status"] = no_data
        elif len(values) < s["min_history_runs"]:
            meta["status"] = "insufficient history"
        else:
            band = robust_band(values, s["k"], s["min_relative_band"], s["min_absolute_rows"])
            meta.update(status="checked", **compare("volume_spike", ent.table, None, obs["rows_loaded"], band))
            if band.median:
                meta["ratio_to_median"] = round(obs["rows_loaded"] / band.median, 4)
        pending.append(("volume_spike", ent, s, meta))

        # Amounts: totals per currency, against the runs that loaded that currency.
        if ent.table not in cfg["spikes"]["amount_columns"]:
            continue
        meta = {**common, "columns": list(cfg["spikes"]["amount_columns"][ent.table]), "currencies": {}}
        if obs["amounts"] is None:
            meta["status"] = no_data
        else:
            for currency, total in obs["amounts"].items():
                hist = [p["amounts"][currency] for p in past if (p.get("amounts") or {}).get(currency) is not None]
                hist = hist[-s["window_runs"] :]
                entry: dict[str, Any] = {"total": round(total, 4), "history_runs": len(hist)}
                if len(hist) < s["min_history_runs"]:
                    entry["status"] = "insufficient history"
                else:
                    band = robust_band(hist, s["k"], s["min_relative_band"])
                    entry.update(status="checked", **compare("amount_spike", ent.table, currency, total, band))
                meta["currencies"][currency] = entry
            checked = any(e["status"] == "checked" for e in meta["currencies"].values())
            meta["status"] = "checked" if checked else "insufficient history"
        pending.append(("amount_spike", ent, s, meta))

    frame = pd.DataFrame(rows, columns=["check", "table", "currency", "value", "median", "lower", "upper"])
    expect = validator.expect
    gx_results = validator.validate(
        "spikes",
        frame,
        [
            ("band", expect.ExpectColumnPairValuesAToBeGreaterThanB(column_A="value", column_B="lower", or_equal=True)),
            ("band", expect.ExpectColumnPairValuesAToBeGreaterThanB(column_A="upper", column_B="value", or_equal=True)),
        ]
        if rows
        else [],
    )
    results = []
    for name, ent, s, meta in pending:
        mine = frame.index[(frame["check"] == name) & (frame["table"] == ent.table)]
        passed = True
        if len(mine):
            passed, meta["expectations"], failing = _verdict(gx_results, mine)
            if name == "amount_spike":
                meta["currencies_outside_band"] = sorted(frame.loc[sorted(failing), "currency"])
        results.append(CheckResult(name, raw_asset(ent), s["severity"], passed, meta))
    return results


# -------------------------------------------------------------------------- freshness


def _freshness_checks(
    con: duckdb.DuckDBPyConnection,
    validator: _Validator,
    cfg: Mapping[str, Any],
    now: datetime,
    columns: Mapping[str, list[str]],
) -> list[CheckResult]:
    import pandas as pd

    newest_by_table: dict[str, dict[str, str | None]] = defaultdict(dict)
    newest: dict[str, datetime] = {}
    loaded = [ent for ent in contract.ENTITIES if "_ingested_at" in columns[ent.table]]
    # One query for the newest load time of every raw table.
    maxima: dict[str, datetime | None] = {}
    if loaded:
        sql = " union all ".join(
            f"select ? as source_table, max(_ingested_at) from {RAW_SCHEMA}.{_ident(ent.table)}" for ent in loaded
        )
        maxima = dict(con.execute(sql, [ent.table for ent in loaded]).fetchall())
    for ent in contract.ENTITIES:
        value = maxima.get(ent.table)
        newest_by_table[ent.source][ent.table] = value.isoformat() if value else None
        if value is not None and (ent.source not in newest or value > newest[ent.source]):
            newest[ent.source] = value
    sources = _sources()
    frame = pd.DataFrame(
        {
            "source": sources,
            "age_hours": [(now - newest[s]).total_seconds() / 3600 if s in newest else float("nan") for s in sources],
            "max_age_hours": [float(_source_settings(cfg, s)["max_age_hours"]) for s in sources],
        }
    )
    expect = validator.expect
    gx_results = validator.validate(
        "freshness",
        frame,
        [
            ("age", expect.ExpectColumnValuesToNotBeNull(column="age_hours")),
            (
                "age",
                expect.ExpectColumnPairValuesAToBeGreaterThanB(
                    column_A="max_age_hours", column_B="age_hours", or_equal=True
                ),
            ),
        ],
    )
    results = []
    for i, source in enumerate(sources):
        s = _source_settings(cfg, source)
        passed, gx, _ = _verdict(gx_results, [i])
        age = frame.loc[i, "age_hours"]
        metadata = {
            "newest_ingested_at": newest[source].isoformat() if source in newest else None,
            "now": now.isoformat(),
            "age_hours": None if math.isnan(age) else round(float(age), 3),
            "max_age_hours": s["max_age_hours"],
            "newest_by_table": newest_by_table[source],
            "expectations": gx,
        }
        if source not in newest:
            metadata["status"] = "no rows from this source"
        results.append(CheckResult(f"freshness_{source}", INGESTION_LOG_ASSET, s["severity"], passed, metadata))
    return results


# ------------------------------------------------------------------------------ entry


def run_quality_checks(
    warehouse: Path,
    history_dir: Path,
    run_id: str,
    now: datetime | None = None,
    *,
    config_path: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    dbt_project: Path | None = None,
    after_build: bool = True,
    phase: str = "all",
) -> QualityReport:
    """Run the quality gates against the warehouse (read-only) and record the report.

    ``phase`` picks the families: ``raw`` (raw tables, volume and value spikes, freshness:
    the gate before dbt), ``marts`` (match rates: the gate after dbt) or ``all``. Each
    family runs once per run: the ``marts`` phase keeps the ``raw`` phase's results for
    this ``run_id`` from its report and adds its own, so the report holds both.

    ``run_id`` names the history file (``<history_dir>/<run_id>.json``; re-running one id
    replaces its file and ignores it as history). ``now`` (default: the clock; naive means
    UTC) is what freshness is measured against and orders the history. ``overrides`` are
    merged over the config file, for tests and one-off runs. ``after_build=False`` says the
    marts are the previous run's (the raw gates run before dbt): this report's match rates
    then never join a baseline, even if the build that follows fails and leaves it.
    """
    started = time.monotonic()
    if phase not in ("raw", "marts", "all"):
        raise ValueError(f"phase {phase!r}: use raw, marts or all")
    if not _RUN_ID.match(run_id):
        raise ValueError(f"run_id {run_id!r} must be letters, digits, '.', '_' or '-' (it names a file)")
    cfg = load_config(config_path, overrides)
    specs = check_specs(cfg, dbt_project)
    names = _checked_reconciliations(cfg, dbt_project)
    checked_at = _utc_naive(now)
    history_dir = Path(history_dir)
    # A run that a blocking raw-table check stopped (its new batches failed) neither moves
    # the high-water mark nor joins the spike history: its batches are checked again by the
    # next run and keep blocking until they are restated or the thresholds change. A bad
    # batch cannot become normal by waiting.
    runs = load_history(history_dir, exclude_run_id=run_id)
    history = [run for run in runs if not run["blocked"]]
    previous_mark = history[-1]["high_water_batch_id"] if history else 0

    con = _connect(Path(warehouse))
    try:
        if not _relation_exists(con, f"{RAW_SCHEMA}.ingestion_log"):
            raise ValueError(f"{warehouse} has no {RAW_SCHEMA}.ingestion_log: run `recon ingest` first")
        max_batch = con.execute(f"select coalesce(max(batch_id), 0) from {RAW_SCHEMA}.ingestion_log").fetchone()[0]
        since = previous_mark
        if previous_mark > max_batch:
            # The warehouse was rebuilt under the same history: every batch in it is new.
            log.warning(
                "history high-water mark %s is above the log's %s: treating all batches as new", since, max_batch
            )
            since = 0
        validator = _Validator()
        checks: list[CheckResult] = []
        observed: dict[str, Any] = {}
        rates_seen: dict[str, Any] = {}
        earlier = _read_report(history_dir, run_id) if phase == "marts" else None
        if earlier is not None:
            # The raw phase of this run: its results stand (raw tables do not change in between).
            checks.extend(
                CheckResult.from_dict(c) for c in earlier.get("checks") or [] if not c["name"].startswith("match_rate_")
            )
            observed = (earlier.get("observations") or {}).get("tables") or {}
            since = (earlier.get("observations") or {}).get("since_batch_id", since)
        columns = _raw_columns(con)
        if phase in ("raw", "all") or (phase == "marts" and earlier is None):
            checks.extend(_raw_checks(con, validator, cfg, columns))
            observed = _observe(con, cfg, since, columns)
            checks.extend(_spike_checks(validator, cfg, observed, history))
            checks.extend(_freshness_checks(con, validator, cfg, checked_at, columns))
        if phase in ("marts", "all"):
            # Match-rate baselines come from the same reports, but only from runs that passed
            # every gate (``runs`` includes runs blocked elsewhere; _baseline_rates skips them).
            rate_checks, rates_seen = _match_rate_checks(con, validator, cfg, names, runs, after_build)
            checks.extend(rate_checks)
    finally:
        con.close()

    order = {(s.name, s.asset): i for i, s in enumerate(specs)}
    checks.sort(key=lambda c: order[(c.name, c.asset)])
    for check in checks:
        # What a check found (match rates say it in words) or else what it asserts.
        check.description = check.description or specs[order[(check.name, check.asset)]].description
    report = QualityReport(
        run_id=run_id,
        checked_at=checked_at,
        warehouse=str(Path(warehouse).resolve()),
        checks=checks,
        observations={"since_batch_id": since, "tables": observed, "match_rates": rates_seen},
        high_water_batch_id=int(max_batch),
        previous_high_water_batch_id=int(previous_mark),
        _gx_context=validator.context,
    )
    report.seconds = time.monotonic() - started
    report.history_file = _write_report(history_dir, report)
    return report


def _read_report(history_dir: Path, run_id: str) -> dict[str, Any] | None:
    """This run's report written by an earlier phase, or None (none yet, or unreadable)."""
    path = Path(history_dir) / f"{run_id}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _write_report(history_dir: Path, report: QualityReport) -> Path:
    """Write atomically: a reader never sees half a file."""
    history_dir.mkdir(parents=True, exist_ok=True)
    path = history_dir / f"{report.run_id}.json"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return path


def build_data_docs(report: QualityReport, out_dir: Path | None = None) -> Path:
    """Render the run's GX validation results as Data Docs HTML; return ``index.html``.

    Default ``$RECON_HOME/quality/data_docs``. Works only on a report from
    ``run_quality_checks`` in this process (the results live in its ephemeral context).

    Styling comes from CDNs: building is offline, but the generated HTML (GX 1.24.1
    templates) links Bootstrap 4 CSS/JS, bootstrap-table, Font Awesome, jQuery, popper and
    Vega from maxcdn/stackpath.bootstrapcdn.com, unpkg.com, cdnjs.cloudflare.com,
    cdn.jsdelivr.net and code.jquery.com, and the GX logo from an S3 bucket. A browser
    opening the pages fetches those; offline only GX's inline styles apply, so the pages
    are plain and their tables lose sorting and filtering. GX also copies its fonts and
    images into ``static/``.
    """
    context = report._gx_context
    if context is None:
        raise ValueError("this report has no GX results in memory (it was not produced by run_quality_checks here)")
    out = Path(out_dir) if out_dir else settings.recon_home() / "quality" / "data_docs"
    out.mkdir(parents=True, exist_ok=True)
    site = {
        "class_name": "SiteBuilder",
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(out)},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    }
    if DOCS_SITE in (context.list_data_docs_sites() or {}):
        context.update_data_docs_site(DOCS_SITE, site)
    else:
        context.add_data_docs_site(DOCS_SITE, site)
    context.build_data_docs(site_names=[DOCS_SITE])
    return out / "index.html"


def latest_report(history_dir: Path | None = None) -> dict[str, Any] | None:
    """The newest quality report in ``history_dir`` (default: the runs' history), or None.

    ``recon status`` shows its warnings and failures, with what to tune, from this file:
    the summary reads the run's record, never the working warehouse.
    """
    history_dir = Path(history_dir) if history_dir else default_history_dir()
    for run in reversed(load_history(history_dir)):
        try:
            return json.loads((history_dir / f"{run['run_id']}.json").read_text())
        except (OSError, ValueError) as exc:
            log.warning("skipping unreadable quality report %s: %s", run["run_id"], exc)
    return None
