"""Volume and amount spikes of this run's batches, against a robust band of earlier runs."""

from __future__ import annotations

import json
import logging
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from orchestration import contract
from orchestration.contract import Entity
from orchestration.ingest import RAW_SCHEMA

if TYPE_CHECKING:  # pragma: no cover - imported lazily at run time
    pass

from orchestration.quality.config import MAD_TO_SIGMA, _table_spike, raw_asset
from orchestration.quality.gx import _Validator, _verdict
from orchestration.quality.results import CheckResult
from orchestration.quality.sql import _ident

log = logging.getLogger("orchestration.quality")


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
