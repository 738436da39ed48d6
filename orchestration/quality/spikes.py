"""Volume and amount spikes of this run's batches, against a robust band of earlier runs."""

from __future__ import annotations

import json
import logging
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from orchestration import contract
from orchestration.contract import Entity
from orchestration.ingest import RAW_SCHEMA, superseded_batches_sql

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
    """Earlier reports' check time, high-water mark, observations and verdicts, in the
    order the runs happened (``seq``), oldest first.

    Never by ``checked_at``: that is the business clock, which RECON_AS_OF pins (a replay,
    a backfill, a test) and which may go back, so ordering by it put an older run last
    (its high-water mark, its baselines, its report in `recon status`). Reports written
    before ``seq`` existed come first, by ``checked_at``. Only those fields are kept in
    memory, and unreadable files are skipped with a warning (a half-written file must not
    stop the gate).
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
                    "seq": _seq(data.get("seq")),
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
    runs.sort(key=lambda r: (r["seq"] is not None, r["seq"] or 0, r["checked_at"], r["run_id"]))
    return runs


def _seq(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"seq {value!r} is not a whole number")
    return value


def _observe(
    con: duckdb.DuckDBPyConnection, cfg: Mapping[str, Any], since_batch: int, columns: Mapping[str, list[str]]
) -> dict[str, Any]:
    """This run's new batches per raw table: files, rows loaded, amount totals per currency.

    A file loaded before this run and loaded again now (a restatement, ``recon ingest
    --again``, a partition backfill) is the same delivery again, not a new one: its rows
    and totals go under ``restated`` beside those of the version it replaces (the file's
    last loaded batch up to ``since_batch``), and never into ``rows_loaded`` / ``amounts``,
    the new deliveries that the next runs read back as history. A file loaded several times
    within the run counts once, as its latest version.
    """
    batches = con.execute(
        f"""
        with run_batches as (
            select batch_id, source_file, source || '__' || entity as source_table, rows_loaded
            from {RAW_SCHEMA}.ingestion_log
            where status = 'loaded' and batch_id > $since
        ),

        latest as (
            select run_batches.*
            from run_batches
            where not exists (
                select 1 from run_batches as later
                where later.source_file = run_batches.source_file and later.batch_id > run_batches.batch_id
            )
        ),

        replaced as (
            -- The version a file replaces: its last loaded batch, or, for a file rejected
            -- before and read again after a fix (`recon ingest --again`, a partition backfill),
            -- its rejected batch, which held no rows. Either way not a new delivery: a
            -- catch-up of five rejected files is not five times a night.
            select source_file, max(batch_id) as batch_id
            from {RAW_SCHEMA}.ingestion_log
            where status in ('loaded', 'rejected') and batch_id <= $since
            group by source_file
        )

        select latest.source_table, latest.batch_id, coalesce(latest.rows_loaded, 0)::BIGINT,
            replaced.batch_id, coalesce(earlier.rows_loaded, 0)::BIGINT, latest.source_file
        from latest
        left join replaced on replaced.source_file = latest.source_file
        left join {RAW_SCHEMA}.ingestion_log as earlier on earlier.batch_id = replaced.batch_id
        order by latest.batch_id
        """,
        {"since": since_batch},
    ).fetchall()
    counts = {
        table: (files, restated)
        for table, files, restated in con.execute(
            f"""
            select source || '__' || entity as source_table, count(*)::BIGINT,
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
    full = _full_exports(con, since_batch)
    tables: dict[str, Any] = {}
    for ent in contract.ENTITIES:
        files, restated_count = counts.get(ent.table, (0, 0))
        mine = [b for b in batches if b[0] == ent.table]
        delivered = [b for b in mine if b[3] is None]
        restating = [b for b in mine if b[3] is not None]
        replaced_ids: list[int] = [int(b[3]) for b in restating]
        if ent.table in full:
            # Full exports (contract delivery "full"): the export current now against the
            # batches that were current before this run and it superseded, the way a
            # restatement is checked against its earlier version; an export superseded
            # within the run, or on arrival (older than the newest), is neither.
            now, before = full[ent.table]
            mine = [(ent.table, b, rows, None, 0, f) for b, rows, f in now]
            if before:
                delivered, restating = [], mine
                replaced_ids = [b for b, _ in before]
                restated_count = len(now)
            else:
                delivered, restating = mine, []  # the entity's first export: a delivery
        obs: dict[str, Any] = {
            "new_batches": int(files),
            "files_rejected": int(rejected.get(ent.table, 0)),
            "restatements": int(restated_count),
            "rows_loaded": sum(int(b[2]) for b in delivered) if delivered else None,
            "files": _listed([str(b[5]) for b in delivered]),
            "file_count": len(delivered),
            "amounts": None,
            "restated": None,
        }
        if restating:
            obs["restated"] = {
                "files": _listed([str(b[5]) for b in restating]),
                "file_count": len(restating),
                "batch_ids": _listed([int(b[1]) for b in restating]),
                "replaced_batch_ids": _listed(replaced_ids),
                "rows_loaded": sum(int(b[2]) for b in restating),
                "rows_replaced": (
                    sum(rows for _, rows in full[ent.table][1])
                    if ent.table in full
                    else sum(int(b[4]) for b in restating)
                ),
                "amounts": None,
                "amounts_replaced": None,
            }
        amount_cols = cfg["spikes"]["amount_columns"].get(ent.table)
        present = set(columns[ent.table])
        if ent.table in full:
            obs["full_export"] = True
        if mine and amount_cols and set(amount_cols) <= present and "_batch_id" in present:
            currency = next((c.name for c in ent.columns if c.kind == "currency" and c.name in present), None)
            # Exact DECIMAL sums, then DOUBLE; factors widened first so a product of two
            # DECIMAL(18, 4) values cannot overflow.
            amount = " * ".join(f"cast({_ident(c)} as DECIMAL(38, 4))" for c in amount_cols)
            group = _ident(currency) if currency else "'*'"
            wanted = {int(b[1]) for b in mine} | set(replaced_ids)
            totals: dict[int, dict[str, float]] = {}
            for batch_id, ccy, total in con.execute(
                f"""
                select _batch_id, coalesce({group}, '?') as ccy, cast(sum({amount}) as DOUBLE)
                from {RAW_SCHEMA}.{_ident(ent.table)}
                where _batch_id between $first and $last and list_contains($batches, _batch_id)
                group by _batch_id, ccy
                order by _batch_id, ccy
                """,
                # The range lets DuckDB skip row groups of older batches by their min/max.
                {"batches": sorted(wanted), "first": min(wanted), "last": max(wanted)},
            ).fetchall():
                totals.setdefault(int(batch_id), {})[str(ccy)] = float(total or 0.0)

            if delivered:
                obs["amounts"] = _summed(totals, [int(b[1]) for b in delivered])
            if restating:
                obs["restated"]["amounts"] = _summed(totals, [int(b[1]) for b in restating])
                obs["restated"]["amounts_replaced"] = _summed(totals, replaced_ids)
        tables[ent.table] = obs
    return tables


def _full_exports(
    con: duckdb.DuckDBPyConnection, since_batch: int
) -> dict[str, tuple[list[tuple[int, int, str]], list[tuple[int, int]]]]:
    """Per table that received a full export this run: the batches of this run current now
    (batch, rows, file), and the batches current before the run that are superseded now
    (batch, rows)."""
    log = f"{RAW_SCHEMA}.ingestion_log"
    exists = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = 'batch_supersessions'",
        [RAW_SCHEMA],
    ).fetchone()[0]
    if not exists:
        return {}
    out: dict[str, tuple[list[tuple[int, int, str]], list[tuple[int, int]]]] = {}
    for table, batch_id, rows, source_file, is_now, was_then in con.execute(
        f"""
        with superseded_now as (
            {superseded_batches_sql()}
        ),

        superseded_then as (
            select supersedes_batch_id as batch_id from {log}
            where status = 'loaded' and supersedes_batch_id is not null and batch_id <= $since
            union all
            select batch_id from {RAW_SCHEMA}.batch_supersessions where decided_by_batch_id <= $since
        ),

        full_tables as (
            select distinct source || '__' || entity as source_table from {log}
            where status = 'loaded' and delivery = 'full' and batch_id > $since
        )

        select log.source || '__' || log.entity as source_table, log.batch_id,
            coalesce(log.rows_loaded, 0)::BIGINT, log.source_file,
            log.batch_id > $since and log.batch_id not in (select batch_id from superseded_now),
            log.batch_id <= $since
                and log.batch_id not in (select batch_id from superseded_then)
                and log.batch_id in (select batch_id from superseded_now)
        from {log} as log
        where log.status = 'loaded'
            and log.source || '__' || log.entity in (select source_table from full_tables)
        order by log.batch_id
        """,
        {"since": since_batch},
    ).fetchall():
        now, before = out.setdefault(table, ([], []))
        if is_now:
            now.append((int(batch_id), int(rows), str(source_file)))
        elif was_then:
            before.append((int(batch_id), int(rows)))
    return out


def _summed(totals: Mapping[int, Mapping[str, float]], batch_ids: Sequence[int]) -> dict[str, float]:
    """Totals per currency over some batches (``totals``: per batch, per currency)."""
    out: dict[str, float] = {}
    for batch_id in batch_ids:
        for ccy, total in totals.get(batch_id, {}).items():
            out[ccy] = out.get(ccy, 0.0) + total
    return dict(sorted(out.items()))


def _comparable(past: Mapping[str, Any]) -> bool:
    """Whether an earlier run's observation is a delivery history point.

    Reports written before restatements were kept apart (no ``restated`` key) counted a
    restated file's rows as new: a run with any restatement is left out rather than let a
    re-sent file stand for a delivery."""
    return "restated" in past or not past.get("restatements")


def _restatement_band(
    replaced: float,
    history: Band | None,
    relative: float,
    absolute: float = 0.0,
    max_withdrawn_share: float | None = None,
) -> Band:
    """Where a restated file's value may lie: around the version it replaces, as wide as
    the table's delivery band when it has one, and never narrower than the floors. With
    ``max_withdrawn_share`` (rows), the band never reaches below that share of the file
    withdrawn, whatever the floors allow: a small file re-sent with most rows missing."""
    half = max(relative * abs(replaced), absolute, (history.upper - history.median) if history else 0.0)
    lower = replaced - half
    if max_withdrawn_share is not None:  # rows: whole numbers
        lower = max(lower, math.ceil(replaced - max_withdrawn_share * abs(replaced)))
    return Band(float(replaced), 0.0, float(lower), float(replaced + half))


def _spike_checks(
    validator: _Validator, cfg: Mapping[str, Any], observed: Mapping[str, Any], history: Sequence[Mapping[str, Any]]
) -> list[CheckResult]:
    import pandas as pd

    rows: list[dict[str, Any]] = []  # one per value compared with its band
    pending: list[tuple[str, Entity, dict[str, Any], dict[str, Any]]] = []
    no_data = "no new data: nothing loaded for this table, not counted as zero"
    only_restated = (
        "no new delivery: only restated files, checked against the versions they replace and not added to the history"
    )

    def compare(check: str, table: str, currency: str | None, value: float, band: Band, kind: str) -> dict[str, Any]:
        rows.append(
            {"check": check, "table": table, "currency": currency, "kind": kind, "value": float(value)}
            | {"median": band.median, "lower": band.lower, "upper": band.upper}
        )
        return {"median": round(band.median, 4), "mad": round(band.mad, 4), "lower": band.lower, "upper": band.upper}

    for ent in contract.ENTITIES:
        s = _table_spike(cfg, ent.table)
        obs = observed[ent.table]
        restated = obs.get("restated")
        past = [run["observations"].get("tables", {}).get(ent.table) or {} for run in history]
        past = [p for p in past if _comparable(p)]
        common = {
            "new_batches": obs["new_batches"],
            "restatements": obs["restatements"],
            "files_rejected": obs["files_rejected"],
            "min_history_runs": s["min_history_runs"],
            "window_runs": s["window_runs"],
        }
        if obs.get("full_export"):
            common["full_export"] = True

        # Volume: rows of this run's new deliveries, against runs that delivered to the table.
        values = [p["rows_loaded"] for p in past if p.get("rows_loaded") is not None][-s["window_runs"] :]
        enough = len(values) >= s["min_history_runs"]
        hist_band = robust_band(values, s["k"], s["min_relative_band"], s["min_absolute_rows"]) if enough else None
        meta = {
            **common,
            "rows_loaded": obs["rows_loaded"],
            "files": obs.get("files") or [],
            "file_count": obs.get("file_count", 0),
            "history_runs": len(values),
        }
        if obs["rows_loaded"] is None:
            meta["status"] = only_restated if restated else no_data
        elif hist_band is None:
            meta["status"] = "insufficient history"
        else:
            meta.update(
                status="checked", **compare("volume_spike", ent.table, None, obs["rows_loaded"], hist_band, "delivery")
            )
            if hist_band.median:
                meta["ratio_to_median"] = round(obs["rows_loaded"] / hist_band.median, 4)
        if restated:
            # A restated file against the version it replaces: a correction changes a few
            # rows, a file re-sent with most of its rows missing withdraws them.
            band = _restatement_band(
                restated["rows_replaced"],
                hist_band,
                s["min_relative_band"],
                s["min_absolute_rows"],
                s["max_withdrawn_share"],
            )
            entry = {
                k: restated[k]
                for k in ("files", "file_count", "batch_ids", "replaced_batch_ids", "rows_loaded", "rows_replaced")
            }
            entry.update(
                status="checked",
                **compare("volume_spike", ent.table, None, restated["rows_loaded"], band, "restatement"),
            )
            meta["restated"] = entry
        pending.append(("volume_spike", ent, s, meta))

        # Amounts: totals per currency, against the runs that delivered that currency.
        if ent.table not in cfg["spikes"]["amount_columns"]:
            continue
        meta = {
            **common,
            "columns": list(cfg["spikes"]["amount_columns"][ent.table]),
            "files": obs.get("files") or [],
            "file_count": obs.get("file_count", 0),
            "currencies": {},
        }
        if restated:
            meta["restated_files"] = restated["files"]
            meta["restated_file_count"] = restated.get("file_count", len(restated["files"]))
        delivered = obs["amounts"] or {}
        restated_amounts = (restated or {}).get("amounts")
        if obs["amounts"] is None and restated_amounts is None:
            meta["status"] = no_data
        else:
            for currency in sorted(
                set(delivered) | set(restated_amounts or {}) | set((restated or {}).get("amounts_replaced") or {})
            ):
                hist = [p["amounts"][currency] for p in past if (p.get("amounts") or {}).get(currency) is not None]
                hist = hist[-s["window_runs"] :]
                band = robust_band(hist, s["k"], s["min_relative_band"]) if len(hist) >= s["min_history_runs"] else None
                entry: dict[str, Any] = {"history_runs": len(hist)}
                if currency in delivered:
                    entry["total"] = round(delivered[currency], 4)
                    if band is None:
                        entry["status"] = "insufficient history"
                    else:
                        entry.update(
                            status="checked",
                            **compare("amount_spike", ent.table, currency, delivered[currency], band, "delivery"),
                        )
                else:
                    entry["status"] = "no new delivery"
                if restated_amounts is not None:
                    new_total = restated_amounts.get(currency, 0.0)
                    old_total = (restated.get("amounts_replaced") or {}).get(currency, 0.0)
                    r_band = _restatement_band(old_total, band, s["min_relative_band"])
                    entry["restated"] = {
                        "total": round(new_total, 4),
                        "replaced_total": round(old_total, 4),
                        "status": "checked",
                        **compare("amount_spike", ent.table, currency, new_total, r_band, "restatement"),
                    }
                meta["currencies"][currency] = entry
            checked = any(e["status"] == "checked" or "restated" in e for e in meta["currencies"].values())
            meta["status"] = "checked" if checked else "insufficient history"
        pending.append(("amount_spike", ent, s, meta))

    frame = pd.DataFrame(rows, columns=["check", "table", "currency", "kind", "value", "median", "lower", "upper"])
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
        severity = s["severity"]
        if len(mine):
            passed, meta["expectations"], failing = _verdict(gx_results, mine)
            outside = frame.loc[sorted(failing)]
            if name == "amount_spike":
                meta["currencies_outside_band"] = sorted(
                    c if k == "delivery" else f"{c} (restated)"
                    for c, k in zip(outside["currency"], outside["kind"], strict=True)
                )
            withdrawn = name == "volume_spike" and any(
                v < lo
                for v, lo, k in zip(outside["value"], outside["lower"], outside["kind"], strict=True)
                if k == "restatement"
            )
            if not passed and set(outside["kind"]) == {"restatement"} and not withdrawn:
                # A restated file that grew, or whose totals moved, is a source correcting
                # itself: one row's currency in a small file, a re-export that grows each
                # night. It is said, not blocked: a block would hold every later run, as the
                # history's high-water mark stays put. One that withdraws rows beyond the band
                # blocks (a truncated export would empty the marts); re-sending the file whole
                # makes a newer version that replaces it and passes.
                severity = "warn"
                meta["only_restatements_outside"] = True
        message = _volume_message if name == "volume_spike" else _amount_message
        description = message(ent.table, {**s, "severity": severity}, meta, passed)
        results.append(CheckResult(name, raw_asset(ent), severity, passed, meta, description=description))
    return results


# --------------------------------------------------------------------------- messages


# At most this many file names and batch ids per list in a report: a first load of 20,000
# files wrote each name three times into every report, and every run parses the history.
MAX_LISTED = 20


def _listed(values: list) -> list:
    return values[:MAX_LISTED]


def _files(names: Sequence[str], shown: int = 3, total: int | None = None) -> str:
    total = len(names) if total is None else total
    listed = ", ".join(names[:shown])
    return listed + (f" and {total - shown:,} more" if total > shown else "")


def _n(value: float) -> str:
    """Rows as 1,234; amounts as 1,234.50."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def _band_words(band: Mapping[str, Any]) -> str:
    return f"allowed {_n(max(band['lower'], 0.0))} to {_n(band['upper'])}"


def _history_words(meta: Mapping[str, Any], runs: int) -> str:
    return f"the last {runs} run{'s' if runs != 1 else ''} that delivered to it (window_runs {meta['window_runs']})"


def _tune(table: str, s: Mapping[str, Any], volume: bool) -> str:
    where = f"spikes.tables.{table}"
    floors = f"min_relative_band (now {s['min_relative_band']:g})" + (
        f", min_absolute_rows (now {s['min_absolute_rows']:g})" if volume else ""
    )
    return (
        f"If this is the new normal, widen the band in config/quality.yml: {where}.k (now {s['k']:g}) or {floors}; "
        f"for a bursty table set {where}.severity: warn. A blocked batch is checked again every run until it is "
        "restated or the config changes."
    )


def _verb(s: Mapping[str, Any]) -> str:
    return "blocks" if s["severity"] == "error" else "warns"


def _volume_message(table: str, s: Mapping[str, Any], meta: Mapping[str, Any], passed: bool) -> str:
    """What the volume check saw: rows of the new files and of any restated file, each
    against its band, and on failure what to check and which key to tune."""
    parts = []
    rows = meta.get("rows_loaded")
    if rows is not None:
        files = meta.get("files") or []
        count = meta.get("file_count", len(files))
        head = f"{table}: {_n(rows)} rows in this run's {count:,} new file(s) ({_files(files, total=count)})"
        if meta["status"] == "checked":
            ratio = f", {meta['ratio_to_median']:g}× " if meta.get("ratio_to_median") is not None else ", against "
            parts.append(
                f"{head}{ratio}the median {_n(meta['median'])} of {_history_words(meta, meta['history_runs'])}; "
                f"{_band_words(meta)} (median ± max(k {s['k']:g} × 1.4826 × MAD {_n(meta['mad'])}, "
                f"min_relative_band {s['min_relative_band']:g} × median, min_absolute_rows {s['min_absolute_rows']:g}))"
            )
        else:
            parts.append(
                f"{head}; not checked yet: {meta['history_runs']} earlier run(s) delivered to it, "
                f"min_history_runs is {s['min_history_runs']}"
            )
    restated = meta.get("restated")
    full = bool(meta.get("full_export"))
    if restated:
        parts.append(
            f"{'' if parts else table + ': '}{'full export' if full else 'restated file'}(s) "
            f"{_files(restated['files'], total=restated.get('file_count'))} hold "
            f"{_n(restated['rows_loaded'])} rows where the "
            f"{'export(s) they supersede' if full else 'version(s) they replace'} held "
            f"{_n(restated['rows_replaced'])}; {_band_words(restated)}"
        )
    if not parts:
        return f"{table}: {meta['status']}."
    found = "; ".join(parts)
    if passed:
        return f"{found}: within the band."
    if meta.get("only_restatements_outside"):
        return (
            f"{found}: outside, warns (a {'full export' if full else 'restated file'} that grew is not blocked). "
            f"{_restatement_hint(restated, full=full)}"
        )
    hints = []
    if restated and not (restated["lower"] <= restated["rows_loaded"] <= restated["upper"]):
        hints.append(_restatement_hint(restated, table, full=full))
    delivered = meta.get("status") == "checked" and rows is not None
    if (delivered and not (meta["lower"] <= rows <= meta["upper"])) or not hints:
        # The band and its keys are the delivery's: a withdrawal is fixed by the file, not by them.
        hints.append(
            f"Check the new file(s) with the source (recon status, raw.ingestion_log). {_tune(table, s, True)}"
        )
    return f"{found}: outside, {_verb(s)}. {' '.join(hints)}"


def _restatement_hint(restated: Mapping[str, Any] | None, table: str = "", full: bool = False) -> str:
    """What a restated file (or full export) that moved far from its earlier version may
    mean, by direction."""
    if full and restated and restated.get("rows_loaded", 0) < restated.get("rows_replaced", 0):
        files = _files(restated.get("files") or [], total=restated.get("file_count"))
        missing = _n(restated["rows_replaced"] - restated["rows_loaded"])
        return (
            f"{table or 'The table'} is delivered as full exports (landing contract delivery: full): the newest "
            f"export supersedes every earlier one, so the {missing} rows missing from {files} would be withdrawn. "
            "If the export was cut short, have the source export again and drop the complete file, at the same "
            "path (a restatement) or under a newer dated name; it supersedes this one and the next run passes. "
            "Until then every run blocks here. Do not widen the band for it. Only if the source really deleted "
            f"those records: set spikes.tables.{table or '<table>'}.severity: warn in config/quality.yml for "
            "one run, then back."
        )
    if restated and restated.get("rows_loaded", 0) < restated.get("rows_replaced", 0):
        files = _files(restated.get("files") or [], total=restated.get("file_count"))
        missing = _n(restated["rows_replaced"] - restated["rows_loaded"])
        return (
            f"A restatement replaces the earlier version's rows in staging, so the {missing} rows missing from it "
            f"would be withdrawn: have the source re-send {files} whole. The whole file is a newer version that "
            "replaces this one, and the next run passes; until then every run blocks here, as the batch is checked "
            "again each run. Do not widen the band for it: that would let a truncated export empty the marts. "
            "Only if the source really withdrew those rows: set "
            f"spikes.tables.{table or '<table>'}.severity: warn in config/quality.yml for one run, then back."
        )
    if restated and not restated.get("rows_replaced"):
        return "Read again after it was rejected (or its version held no rows): its rows are new to the warehouse."
    if restated:
        return (
            "The file grew: a source that re-exports its whole history each time does this; "
            "if it should not have, check the file with the source."
        )
    return "Check the restated file(s) with the source."


def _amount_message(table: str, s: Mapping[str, Any], meta: Mapping[str, Any], passed: bool) -> str:
    """What the amount check saw per currency: the totals outside their band first."""
    columns = " × ".join(meta["columns"])
    currencies = meta.get("currencies") or {}
    if not currencies:
        return f"{table} ({columns}): {meta['status']}."
    outside = set(meta.get("currencies_outside_band") or [])
    parts = []
    for ccy, entry in currencies.items():
        if ccy in outside:
            parts.append(
                f"{ccy} {_n(entry['total'])} in this run's new file(s) "
                f"({_files(meta.get('files') or [], total=meta.get('file_count'))}), "
                f"against the median {_n(entry['median'])} of "
                f"{_history_words(meta, entry['history_runs'])}; {_band_words(entry)}"
            )
        if f"{ccy} (restated)" in outside:
            r = entry["restated"]
            full = bool(meta.get("full_export"))
            parts.append(
                f"{ccy} {_n(r['total'])} in {'full export' if full else 'restated file'}(s) "
                f"{_files(meta.get('restated_files') or [], total=meta.get('restated_file_count'))} where the "
                f"{'export(s) they supersede' if full else 'version(s) they replace'} held "
                f"{_n(r['replaced_total'])}; {_band_words(r)}"
            )
    if passed:
        checked = [c for c, e in currencies.items() if e["status"] == "checked" or "restated" in e]
        if not checked:
            totals = ", ".join(f"{c} {_n(e['total'])}" for c, e in currencies.items() if "total" in e)
            return (
                f"{table} ({columns}): {totals} in this run's new file(s); not checked yet: fewer than "
                f"min_history_runs {s['min_history_runs']} earlier runs delivered each currency."
            )
        return f"{table} ({columns}): totals of {', '.join(checked)} within their bands."
    found = f"{table} ({columns}): " + "; ".join(parts)
    if meta.get("only_restatements_outside") and meta.get("full_export"):
        return (
            f"{found}: outside, warns (a full export's totals are not blocked; its rows are): deals added or "
            "withdrawn since the last export move its total; check the export with the source if they should not have."
        )
    if meta.get("only_restatements_outside"):
        return (
            f"{found}: outside, warns (a restated file's totals are not blocked): a correction in a small file "
            "moves its total far; check the restated file(s) with the source if it should not have."
        )
    return f"{found}: outside, {_verb(s)}. Check the file(s) with the source. {_tune(table, s, volume=False)}"
