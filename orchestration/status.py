"""Read-only views of the warehouse for people: the run summary and ad-hoc queries.

Opens DuckDB read-only, so it never competes with the pipeline for the write lock
(it waits for nothing and changes nothing).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

DAGSTER_UI = "make dev   (Dagster UI on http://127.0.0.1:3000)"


def _connect(warehouse: Path) -> duckdb.DuckDBPyConnection:
    if not warehouse.exists():
        raise SystemExit(f"no warehouse at {warehouse}: run `recon run` (or `make demo`) first")
    return duckdb.connect(str(warehouse), read_only=True)


def _has(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(
        con.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchone()[0]
    )


def _table(headers: list[str], rows: list[tuple], indent: str = "  ") -> list[str]:
    cells = [[("" if v is None else f"{v:,}" if isinstance(v, int) else str(v)) for v in r] for r in rows]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(headers)]
    out = [indent + "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    for c in cells:
        out.append(
            indent + "  ".join(v.rjust(w) if v[:1].isdigit() else v.ljust(w) for v, w in zip(c, widths, strict=True))
        )
    return out


def summary(con: duckdb.DuckDBPyConnection) -> dict:
    """The numbers `recon status` prints, as data (tests assert on these)."""
    out: dict = {}
    out["sources"] = con.execute(
        "select source, entity, count(*) filter (where status = 'loaded'), "
        "count(*) filter (where status = 'rejected'), "
        "coalesce(sum(rows_read), 0), coalesce(sum(rows_loaded), 0), coalesce(sum(rows_quarantined), 0) "
        "from raw.ingestion_log group by source, entity order by source, entity"
    ).fetchall()
    out["quarantine_reasons"] = con.execute(
        "select source || '/' || entity, column_name, split_part(reason, ';', 1), count(*) from raw.quarantine "
        "group by all order by 4 desc, 1, 2 limit 12"
    ).fetchall()
    out["rejected_files"] = con.execute(
        "select source_file, message from raw.ingestion_log where status = 'rejected' order by batch_id"
    ).fetchall()
    if _has(con, "marts", "fct_reconciled_orders"):
        row = con.execute(
            "select count(*) filter (where not is_cancelled), "
            "count(*) filter (where not is_cancelled and invoice_count > 0), "
            "count(*) filter (where billing_state = 'billed') "
            "from marts.fct_reconciled_orders"
        ).fetchone()
        out["orders_active"], out["orders_matched"], out["orders_billed_in_full"] = row
        out["match_rate"] = (row[1] / row[0]) if row[0] else 0.0
        out["billing_states"] = con.execute(
            "select billing_state, count(*), sum(booked_amount_reporting) from marts.fct_reconciled_orders "
            "group by 1 order by 2 desc"
        ).fetchall()
    if _has(con, "marts", "fct_reconciliation_records"):
        out["reconciliations"] = con.execute(
            "select reconciliation, side, "
            "count(*) filter (where record_state = 'matched'), "
            "count(*) filter (where record_state = 'suggested'), "
            "count(*) filter (where record_state = 'ambiguous'), "
            "count(*) filter (where record_state = 'unmatched'), count(*) "
            "from marts.fct_reconciliation_records group by 1, 2 order by 1, 2"
        ).fetchall()
        out["completeness"] = con.execute(
            "select completeness_state, count(*), sum(booked_amount_reporting) from marts.fct_reconciled_orders "
            "group by 1 order by 2 desc"
        ).fetchall()
    if _has(con, "marts", "fct_exception_current"):
        # Exceptions not closed, as of the last run: routed, timed, and what is at stake.
        out["exceptions"] = con.execute(
            "select exception_type, owner_team, severity, count(*), "
            "count(*) filter (where is_breached), sum(value_at_risk_reporting) "
            "from marts.fct_exception_current where not is_closed "
            "group by 1, 2, 3 order by 4 desc, 1"
        ).fetchall()
        out["exception_states"] = con.execute(
            "select status, count(*) from marts.fct_exception_current group by 1 order by 1"
        ).fetchall()
    if _has(con, "marts", "fct_pending_breaks"):
        out["pending"] = con.execute(
            "select awaits_source, count(*), min(pending_until) from marts.fct_pending_breaks group by 1 order by 1"
        ).fetchall()
    return out


def quality_lines(report: dict | None) -> list[str]:
    """The last run's quality gates: what failed or warned, in the checks' own words.

    Match-rate checks say what to tune (the reconciliation, side, rate, baseline and the
    key in config/quality.yml), so a first run on new data explains its warnings here.
    Checks still setting their baseline are listed even when they pass.
    """
    if report is None:
        return ["", "== Quality gates ==", "  no checked run yet ($RECON_HOME/quality/history is empty)"]
    summary = report.get("summary") or {}
    lines = [
        "",
        f"== Quality gates (run {str(report.get('run_id'))[:8]}, checked {report.get('checked_at')}; "
        "recon quality re-runs them) ==",
        f"  {summary.get('checks', 0)} checks: {summary.get('failed', 0)} failed or warned, "
        f"{summary.get('blocking', 0)} blocking",
    ]
    for check in report.get("checks") or []:
        baseline = (check.get("metadata") or {}).get("status") == "baseline"
        if check.get("passed") and not baseline:
            continue
        label = "ok" if check.get("passed") else "BLOCKS" if check.get("severity") == "error" else "warn"
        lines.append(f"  {label:<6} {check.get('asset')} {check.get('name')}")
        if check.get("description"):
            lines.append(f"         {check['description']}")
    return lines


def render(warehouse: Path) -> str:
    con = _connect(warehouse)
    try:
        data = summary(con)
    finally:
        con.close()
    lines = ["", "== Sources (raw layer) =="]
    lines += _table(["source", "entity", "files", "rejected", "rows read", "loaded", "quarantined"], data["sources"])
    if data["rejected_files"]:
        lines += ["", "== Rejected files (nothing loaded; fix and re-drop) =="]
        lines += [f"  {msg}" for _, msg in data["rejected_files"]]
    lines += ["", "== Quarantined rows by reason (see raw.quarantine for file, row and original value) =="]
    lines += (
        _table(["entity", "column", "reason", "rows"], data["quarantine_reasons"])
        if data["quarantine_reasons"]
        else ["  none"]
    )
    if "match_rate" in data:
        lines += [
            "",
            "== Orders ↔ invoices ==",
            f"  match rate: {data['match_rate']:.1%} of {data['orders_active']:,} active orders have a matched "
            f"invoice; {data['orders_billed_in_full']:,} billed in full",
        ]
        lines += _table(
            ["billing state", "orders", "booked (reporting ccy)"],
            [(s, n, f"{a:,.2f}" if a is not None else "") for s, n, a in data["billing_states"]],
        )
    if "reconciliations" in data:
        lines += ["", "== Reconciliations (records by state; see marts.fct_reconciliation_records) =="]
        lines += _table(
            ["reconciliation", "side", "matched", "suggested", "ambiguous", "unmatched", "records"],
            data["reconciliations"],
        )
        lines += ["", "== Reconciled orders by completeness (every leg: booked, delivered, fulfilled, billed) =="]
        lines += _table(
            ["completeness", "orders", "booked (reporting ccy)"],
            [(s, n, f"{a:,.2f}" if a is not None else "") for s, n, a in data["completeness"]],
        )
    if "exceptions" in data:
        lines += ["", "== Open exceptions, routed (recon exceptions list) =="]
        lines += (
            _table(
                ["type", "owner team", "severity", "count", "past SLA", "at risk (reporting ccy)"],
                [(t, o, s, n, b, f"{a:,.2f}" if a is not None else "") for t, o, s, n, b, a in data["exceptions"]],
            )
            if data["exceptions"]
            else ["  none"]
        )
        lines += ["  by status: " + ", ".join(f"{s} {n:,}" for s, n in data["exception_states"])]
    if data.get("pending"):
        lines += ["", "== Pending late data (not exceptions yet: the source is inside its grace window) =="]
        lines += _table(["awaits source", "breaks", "first grace ends"], data["pending"])
    from orchestration import publish, quality

    lines += quality_lines(quality.latest_report())
    published = publish.current()
    lines += [
        "",
        f"warehouse: {warehouse}",
        "published (read-only, for BI): "
        + (
            f"{publish.serving_path()}  ({published['publication']}, run {published['run_id'][:8]})"
            if published
            else "nothing yet: a run publishes when its blocking checks pass"
        ),
        f"open the Dagster UI: {DAGSTER_UI}",
        'query the results:  .venv/bin/recon query "select * from marts.fct_reconciled_orders limit 10"',
    ]
    return "\n".join(lines)


def query(warehouse: Path, sql: str, limit: int = 50) -> str:
    """Run one read-only statement and format up to ``limit`` rows."""
    con = _connect(warehouse)
    try:
        cur = con.execute(sql)
        headers = [d[0] for d in cur.description] if cur.description else []
        rows = cur.fetchmany(limit)
    finally:
        con.close()
    return "\n".join(_table(headers, rows, indent="")) if headers else "ok"
