"""Freshness: how long since each source last delivered a file."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import duckdb

from orchestration import contract
from orchestration.ingest import RAW_SCHEMA

if TYPE_CHECKING:  # pragma: no cover - imported lazily at run time
    pass

from orchestration.quality.config import INGESTION_LOG_ASSET, _source_settings, _sources
from orchestration.quality.gx import _Validator, _verdict
from orchestration.quality.results import CheckResult
from orchestration.quality.sql import _ident

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
        # A file read again with the bytes it had (`recon ingest --again`, a partition
        # backfill) is no news from the source: its rows' load time is left out, or a source
        # silent for days would look fresh the moment its old files were reprocessed.
        def newest_of(ent: contract.Entity) -> str:
            table = f"{RAW_SCHEMA}.{_ident(ent.table)}"
            if "_batch_id" not in columns[ent.table]:
                return f"select ? as source_table, max(_ingested_at) from {table}"
            return (
                f"select ? as source_table, max(_ingested_at) from {table} "
                "where _batch_id not in (select batch_id from reread)"
            )

        sql = f"""
            with reread as (
                select later.batch_id
                from {RAW_SCHEMA}.ingestion_log as later
                inner join {RAW_SCHEMA}.ingestion_log as earlier
                    on later.supersedes_batch_id = earlier.batch_id
                where later.is_restatement and later.file_sha256 = earlier.file_sha256
            )
            """ + " union all ".join(newest_of(ent) for ent in loaded)
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
            # Never negative: in a replay (RECON_AS_OF in the past) the newest rows may have
            # been loaded after the as-of; they are as fresh as can be, not from the future.
            "age_hours": [
                max((now - newest[s]).total_seconds() / 3600, 0.0) if s in newest else float("nan") for s in sources
            ],
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
        description = _freshness_message(source, s, metadata, passed)
        results.append(
            CheckResult(
                f"freshness_{source}", INGESTION_LOG_ASSET, s["severity"], passed, metadata, description=description
            )
        )
    return results


def _freshness_message(source: str, s: Mapping[str, Any], meta: Mapping[str, Any], passed: bool) -> str:
    """How old the source's newest data is, against what is allowed, and what to change."""
    key = f"freshness.sources.{source}.max_age_hours"
    limit = f"allowed {s['max_age_hours']:g} hours ({key} in config/quality.yml, now {s['max_age_hours']:g})"
    tables = meta["newest_by_table"]
    if meta["age_hours"] is None:
        found = (
            f"{source}: no row from this source in any raw table ({', '.join(tables)}), checked at {meta['now']}; "
            f"{limit}"
        )
    else:
        table = max((t for t, at in tables.items() if at), key=lambda t: tables[t])
        found = (
            f"{source}: newest data loaded at {meta['newest_ingested_at']} (raw.{table}), {meta['age_hours']:g} hours "
            f"before this check's time {meta['now']}; {limit}"
        )
    if passed:
        return f"{found}: fresh."
    blocks = s["severity"] == "error"
    if meta["age_hours"] is None:
        tune = f"If you do not use {source}, nothing to do" + (
            f" once freshness.sources.{source}.severity is warn." if blocks else ": this only warns."
        )
    else:
        tune = f"If {source} delivers less often, raise {key} above {meta['age_hours']:g}" + (
            f"; to report without blocking set freshness.sources.{source}.severity: warn." if blocks else "."
        )
    return (
        f"{found}: {'stale' if meta['age_hours'] is not None else 'missing'}, {'blocks' if blocks else 'warns'}. "
        f"Check that {source} exports into $RECON_HOME/landing/{source}/<entity>/ and that recon ingest loads it "
        f"(recon status lists rejected files). {tune}"
    )
