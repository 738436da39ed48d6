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
