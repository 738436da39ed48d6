"""One gate run: the families of a phase, the report written beside earlier ones, Data Docs."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestration import settings
from orchestration.ingest import RAW_SCHEMA

if TYPE_CHECKING:  # pragma: no cover - imported lazily at run time
    pass

from orchestration.quality.config import (
    _RUN_ID,
    DOCS_SITE,
    _checked_reconciliations,
    check_specs,
    default_history_dir,
    load_config,
)
from orchestration.quality.freshness import _freshness_checks
from orchestration.quality.gx import _Validator
from orchestration.quality.match_rate import _match_rate_checks
from orchestration.quality.raw import _raw_checks
from orchestration.quality.results import CheckResult, QualityReport
from orchestration.quality.spikes import _observe, _spike_checks, load_history
from orchestration.quality.sql import _connect, _raw_columns, _relation_exists, _utc_naive

log = logging.getLogger("orchestration.quality")


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
    replaces its file, keeps its place and ignores it as history). ``now`` (default: the
    clock; naive means UTC; RECON_AS_OF in a run) is what freshness is measured against,
    recorded as ``checked_at``; the history is ordered by when runs really happened (``seq``,
    beside the wall-clock ``recorded_at``), never by ``now``. ``overrides`` are
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
    recorded_at = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    history_dir = Path(history_dir)
    # A run that a blocking raw-table check stopped (its new batches failed) neither moves
    # the high-water mark nor joins the spike history: its batches are checked again by the
    # next run and keep blocking until they are restated or the thresholds change. A bad
    # batch cannot become normal by waiting.
    runs = load_history(history_dir, exclude_run_id=run_id)
    history = [run for run in runs if not run["blocked"]]
    previous_mark = history[-1]["high_water_batch_id"] if history else 0
    # This run's place: kept from its earlier phase (or an earlier try of the same id), else
    # after every report there is.
    own = _read_report(history_dir, run_id)
    seq = own.get("seq") if isinstance(own, dict) else None
    if isinstance(seq, bool) or not isinstance(seq, int):
        seq = max((r["seq"] for r in runs if r["seq"] is not None), default=0) + 1

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
        fingerprint = _raw_fingerprint(con, cfg, columns)
        if phase in ("raw", "all") or (phase == "marts" and earlier is None):
            reused = _reusable_raw_checks(history_dir, history, fingerprint)
            checks.extend(reused if reused is not None else _raw_checks(con, validator, cfg, columns))
            observed = _observe(con, cfg, since, columns)
            checks.extend(_spike_checks(validator, cfg, observed, history))
            checks.extend(_freshness_checks(con, validator, cfg, checked_at, columns))
        if phase in ("marts", "all"):
            # Match-rate baselines come from the same reports, but only from runs that passed
            # every gate (``runs`` includes runs blocked elsewhere; _baseline_rates skips them).
            rate_checks, rates_seen = _match_rate_checks(con, validator, cfg, names, runs, after_build, checked_at)
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
        observations={
            "since_batch_id": since,
            "tables": observed,
            "match_rates": rates_seen,
            "raw_fingerprint": fingerprint,
        },
        high_water_batch_id=int(max_batch),
        previous_high_water_batch_id=int(previous_mark),
        recorded_at=recorded_at,
        seq=seq,
        _gx_context=validator.context,
    )
    report.seconds = time.monotonic() - started
    report.history_file = _write_report(history_dir, report)
    return report


def _raw_fingerprint(con, cfg: Mapping[str, Any], columns: Mapping[str, list[str]]) -> str:
    """What the raw-table checks read: every batch (id, file hash, status, load time,
    restatement), the raw columns, the contract and the raw checks' config."""
    from orchestration import contract

    log_sha = con.execute(
        f"select sha256(coalesce(string_agg(concat_ws('|', batch_id, file_sha256, status, ingested_at, "
        f"is_restatement, supersedes_batch_id), ',' order by batch_id), '')) from {RAW_SCHEMA}.ingestion_log"
    ).fetchone()[0]
    contract_columns = {ent.table: ent.column_names for ent in contract.ENTITIES}
    text = json.dumps([log_sha, columns, contract_columns, cfg.get("raw")], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _reusable_raw_checks(history_dir: Path, history: list[dict], fingerprint: str) -> list[CheckResult] | None:
    """The raw-table checks of the last unblocked run, when the raw tables are as it found them.

    Raw is append-only and every batch is recorded with its hash: with no new, restated or
    rejected batch and the same contract and config, the checks (schema, keys, lineage,
    values per batch) would find what they found. A quiet night then pays only for the
    spike and freshness checks, which depend on the clock.
    """
    if not history or history[-1]["observations"].get("raw_fingerprint") != fingerprint:
        return None
    report = _read_report(history_dir, history[-1]["run_id"])
    if report is None:
        return None
    reused = [CheckResult.from_dict(c) for c in report.get("checks") or [] if c["name"].startswith("raw_")]
    for check in reused:
        check.metadata = {**check.metadata, "reused_from_run": history[-1]["run_id"]}
    return reused or None


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
