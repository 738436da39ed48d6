"""The morning dashboard: KPI cards and charts from the serving copy and the run reports.

Everything here is as of the last publication (and the quality report of each run,
published or blocked); the inbox is where operator actions show at once. Each chart's
numbers are also a table, downloadable as CSV.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import duckdb

from orchestration import publish, quality
from orchestration.desk import charts
from orchestration.desk.service import AGE_BUCKETS, Desk

RUNS_SHOWN = 10


def _rows(con, sql: str, params: list | None = None) -> tuple[list[str], list[tuple]]:
    cur = con.execute(sql, params or [])
    return [d[0] for d in cur.description], cur.fetchall()


def _has(con, table: str) -> bool:
    return bool(
        con.execute(
            "select count(*) from duckdb_tables() where schema_name = 'marts' and table_name = ?", [table]
        ).fetchall()[0][0]
    )


def runs() -> list[dict]:
    """The last runs' quality reports (published or blocked), newest first, with their publication."""
    history = quality.default_history_dir()
    published = {}
    listing = publish.publications_dir() / "history.jsonl"
    if listing.exists():
        for line in listing.read_text().splitlines():
            if line.strip():
                doc = json.loads(line)
                published[doc["run_id"]] = doc["publication"]
    out = []
    files = sorted(Path(history).glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True) if history else []
    for path in files[:RUNS_SHOWN]:
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        summary = doc.get("summary") or {}
        out.append(
            {
                "run_id": doc.get("run_id", path.stem),
                "checked_at": doc.get("checked_at"),
                "passed": doc.get("passed"),
                "checks": summary.get("checks"),
                "failed": summary.get("failed"),
                "blocking": summary.get("blocking"),
                "publication": published.get(doc.get("run_id")),
            }
        )
    return out


def dashboard(desk: Desk) -> dict:
    with desk.reading() as con:
        try:
            return _dashboard(con)
        except (duckdb.BinderException, duckdb.CatalogException) as exc:
            # A serving copy another version of recon published (an upgrade whose first run
            # has not published yet): its tables have other columns. Say so, not a 500.
            board = _dashboard(None)
            board["unreadable"] = str(exc).strip().splitlines()[0]
            return board


def _dashboard(con) -> dict:
    record = publish.current()
    board: dict = {"publication": record, "cards": {}, "charts": {}, "tables": {}, "runs": runs()}
    if con is None:
        return board
    tables = board["tables"]

    def table(name: str, sql: str, params: list | None = None) -> list[tuple]:
        header, rows = _rows(con, sql, params)
        tables[name] = {"header": header, "rows": rows}
        return rows

    if _has(con, "fct_exception_current"):
        ((open_n, breached, at_risk),) = con.execute(
            "select count(*), count(*) filter (where is_breached), coalesce(sum(amount_at_risk_reporting), 0)"
            " from marts.fct_exception_current where not is_closed"
        ).fetchall()
        board["cards"].update(open_exceptions=open_n, sla_breaches=breached, amount_at_risk=at_risk)
        for dim in ("exception_type", "owner_team", "severity"):
            rows = table(
                f"open_by_{dim}",
                f"select {dim}, count(*) as open_exceptions, sum(amount_at_risk_reporting) as amount_at_risk_reporting,"
                f" any_value(reporting_currency) as reporting_currency"
                f" from marts.fct_exception_current where not is_closed group by 1 order by 2 desc, 1",
            )  # dim is one of three fixed names
            board["charts"][f"by_{dim}"] = charts.bars([(r[0], r[1]) for r in rows], f"open exceptions by {dim}")
        buckets = [(label, low * 24, None if high is None else (high + 1) * 24) for label, low, high in AGE_BUCKETS]
        labels = " ".join(
            f"when age_hours >= {low} " + (f"and age_hours < {high} " if high else "") + f"then '{label}'"
            for label, low, high in buckets
        )  # bucket bounds are this module's constants
        rows = con.execute(
            f"select case {labels} end, count(*) from marts.fct_exception_current where not is_closed group by 1"
        ).fetchall()
        counts = dict(rows)
        tables["ageing"] = {
            "header": ["ageing_bucket", "open_exceptions"],
            "rows": [(label, counts.get(label, 0)) for label, _, _ in buckets],
        }
        board["charts"]["ageing"] = charts.columns(
            [(label, counts.get(label, 0)) for label, _, _ in buckets],
            "open exceptions by age from the business date",
            colours=["#16a34a", "#84cc16", "#ca8a04", "#ea580c", "#dc2626"],
        )
        rows = table(
            "amount_at_risk_by_client",
            "select client_name, sum(amount_at_risk_reporting) as amount_at_risk_reporting,"
            " any_value(reporting_currency) as reporting_currency, count(*) as open_exceptions"
            " from marts.fct_exception_current where not is_closed and client_name is not null"
            " group by 1 order by 2 desc nulls last, 1 limit 50",
        )
        board["charts"]["value_by_client"] = charts.bars(
            [(r[0], r[1]) for r in rows],
            "value at risk by client (reporting currency)",
            limit=10,
            colour="#dc2626",
            other=False,
        )
    if _has(con, "fct_exception_current"):
        # The median over the closed exceptions themselves (not a median of group medians).
        rows = table(
            "time_to_resolution",
            "select exception_type,"
            " median(hours_to_resolution) as median_hours,"
            " count(*) as resolved"
            " from marts.fct_exception_current where hours_to_resolution is not null"
            " group by 1 order by 2 desc nulls last",
        )
        board["charts"]["resolution"] = charts.bars(
            [(r[0], r[1] or 0) for r in rows],
            "median hours to resolution",
            colour="#7c3aed",
            fmt=lambda v: f"{v:,.0f} h",
        )
    if _has(con, "rpt_reconciliation_performance"):
        rows = table(
            "match_rates",
            "select reconciliation, side, sum(records) as records, sum(matched) / sum(records) as match_rate,"
            " sum(auto_matched) / sum(records) as auto_match_rate"
            " from marts.rpt_reconciliation_performance group by 1, 2 order by 1, 2",
        )
        total = sum(r[2] for r in rows) or 0
        if total:
            board["cards"]["match_rate"] = sum(r[3] * r[2] for r in rows) / total
            board["cards"]["auto_match_rate"] = sum(r[4] * r[2] for r in rows) / total
    if _has(con, "rpt_kpi_history"):
        rows = table(
            "kpi_history",
            "select published_at, publication, reconciliation, side, kpi, kpi_value, reporting_currency"
            " from marts.rpt_kpi_history order by published_at, reconciliation, side, kpi",
        )
        series: dict[str, list] = defaultdict(list)
        auto: dict[str, list] = defaultdict(list)
        totals: dict[str, list] = defaultdict(list)
        for at, _, rec, side, kpi, value, _ in rows:
            if kpi == "match_rate":
                series[f"{rec} ({side})"].append((at, value))
            elif kpi == "auto_match_rate":
                auto[f"{rec} ({side})"].append((at, value))
            elif rec == "all":
                totals[kpi].append((at, value))
        board["charts"]["match_trend"] = charts.lines(series, "match rate per reconciliation over time")
        board["charts"]["auto_trend"] = charts.lines(auto, "auto-match rate per reconciliation over time")
        board["charts"]["open_trend"] = charts.lines(
            {"open exceptions": totals["open_exceptions"], "SLA breaches": totals["sla_breaches"]},
            "open exceptions and SLA breaches over time",
            fmt=charts.fmt_number,
            y_min=0,
        )
    if _has(con, "rpt_source_freshness"):
        rows = table(
            "source_freshness",
            "select source_system || '.' || entity as source, hours_since_last_file, batches_loaded, rows_loaded,"
            " last_ingested_at from marts.rpt_source_freshness order by 2 desc nulls first",
        )
        board["charts"]["freshness"] = charts.bars(
            [(r[0], r[1] or 0) for r in rows],
            "hours since each source's last file",
            colour="#0891b2",
            fmt=lambda v: f"{v:,.0f} h",
        )
    return board
