"""A trace as text, one section per layer."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from orchestration.terminal import one_line
from orchestration.trace.kinds import (
    KIND,
    MAX_CANDIDATES_SHOWN,
    MAX_ROW_NUMBERS_SHOWN,
    NORMALISED_PAIRS,
    SHOWN_COLUMNS,
    Trace,
)

# ------------------------------------------------------------------- render


def _v(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        value = value.astimezone(UTC) if value.tzinfo else value
        return value.strftime("%Y-%m-%d %H:%M:%SZ")
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _ranges(numbers: list[int]) -> str:
    numbers = sorted(set(numbers))
    spans: list[str] = []
    start = prev = numbers[0]
    for n in [*numbers[1:], None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        spans.append(str(start) if start == prev else f"{start}–{prev}")
        if n is not None:
            start = prev = n
    shown = ", ".join(spans[:MAX_ROW_NUMBERS_SHOWN])
    return shown + (
        f", … ({len(spans) - MAX_ROW_NUMBERS_SHOWN} more spans)" if len(spans) > MAX_ROW_NUMBERS_SHOWN else ""
    )


def _wrap(head: str, parts: list[str], indent: str, width: int = 118) -> list[str]:
    """``head`` then the parts joined by " · ", broken between parts, never inside one."""
    lines, line = [], head
    for part in parts:
        piece = part if line == head else " · " + part
        if line != head and len(line) + len(piece) > width:
            lines.append(line)
            line, piece = indent, part
        line += piece
    return [*lines, line]


def _staged_parts(model: str, row: dict) -> list[str]:
    columns = SHOWN_COLUMNS.get(model, "").split() or [
        c for c in row if c not in ("batch_id", "source_file", "source_row_number", "ingested_at", "updated_at")
    ]
    parts, skip = [], set()
    for column in columns:
        if column in skip or column not in row:
            continue
        twin = NORMALISED_PAIRS.get(column, f"{column}_normalised")
        if twin in columns and twin in row:
            shown = [repr(row[c]) if isinstance(row[c], str) else _v(row[c]) for c in (column, twin)]
            parts.append(f"{column} {shown[0]} → {shown[1]}")
            skip.add(twin)
        else:
            parts.append(f"{column} {_v(row[column])}")
    return parts


def _components(components) -> str:
    if not isinstance(components, dict):
        return ""
    return " · ".join(
        f"{name} L{c.get('level')} {c.get('weight') or 0:+.2f}" for name, c in components.items() if isinstance(c, dict)
    )


def _render_sources(trace: Trace) -> list[str]:
    lines = ["", "1. sources: raw rows by landing file (checksum and restatements from raw.ingestion_log)"]
    for record in trace.records:
        lines.append(f"  {KIND[record.kind].label} {record.key}  [{record.role}]")
        groups: dict[tuple, list[int]] = {}
        for row in record.source_rows:
            group = (row["raw_table"], row["source_file"], row["batch_id"], row["file_sha256"], row["ingested_at"])
            groups.setdefault((*group, row["status"]), []).append(row["row_number"])
        for (table, path, batch, sha, ingested, status), numbers in groups.items():
            label = "row" if len(numbers) == 1 else f"{len(numbers)} rows"
            lines.append(f"    raw.{table}  {path}  {label} {_ranges(numbers)}  {status}")
            lines.append(f"      batch {batch}  sha256 {sha or '?'}  ingested {_v(ingested)}")
        for row in record.quarantined_rows:
            lines.append(
                f"    QUARANTINED raw.{row['raw_table']}  {row['source_file']}  row {row['row_number']}  "
                f"batch {row['batch_id']}: {row['column_name']} {row['original_value']!r} — {row['reason']}"
            )
        if not trace.has_sources:
            lines.append("    not in this copy (raw rows are in the working warehouse)")
        elif not record.source_rows and not record.quarantined_rows:
            lines.append("    no raw rows found")
    return lines


def _render_staging(trace: Trace) -> list[str]:
    lines = ["", "2. staging: staged and normalised values (raw → normalised)"]
    for record in trace.records:
        lines.append(f"  {KIND[record.kind].label} {record.key}")
        for staged in record.staged:
            lines += _wrap(f"    {staged['model']}: ", _staged_parts(staged["model"], staged["row"]), " " * 6)
        if not record.staged and not trace.has_sources:
            lines.append("    not in this copy (staging is in the working warehouse)")
        elif not record.staged:
            lines.append("    not staged: quarantined, superseded, or not loaded (see the raw rows above)")
    return lines


def _render_matching(trace: Trace) -> list[str]:
    lines = ["", "3. matching"]
    if not trace.matching:
        lines.append("  no reconciliation holds these records (cancelled, void, or not a reconciled record)")
    shown: set[tuple] = set()
    for entry in trace.matching:
        lines.append(
            f"  {entry['reconciliation']} ({entry['side']} side): {KIND[entry['record_kind']].label} "
            f"{entry['record_key']} is {entry['record_state']}"
        )
        for pair in entry["pairs"]:
            ident = (pair["match_id"], pair["left_key"], pair["right_key"])
            if ident in shown:
                lines.append(f"    {pair['decision']} with {pair['partner_key']}: match {pair['match_id'][:8]} (above)")
                continue
            shown.add(ident)
            lines.append(
                f"    {pair['decision']} with {pair['partner_key']}  pass {pair['pass_name']}  "
                f"rule {pair['rule_version']}  round {pair['assignment_round']}"
            )
            # A deterministic pass decides on its rule, not on the score: a low p beside it
            # ("matched … p 0.095", a hand-written tryout) read as a doubtful match.
            scored_only = pair["pass_name"] not in (None, "probabilistic", "operator")
            lines.append(
                f"      p {_v(pair['match_probability'])}{' (score only: the pass decided)' if scored_only else ''}  "
                f"weight {pair['match_weight']:.2f}  match {pair['match_id']}  run {pair.get('dagster_run_id') or '—'}"
            )
            lines.append(f"      components: {_components(pair['score_components'])}")
            for inv in pair["invoice_matches"]:
                lines.append(
                    f"      invoice {inv['invoice_id']} issued {_v(inv['issue_date'])}: billed "
                    f"{_v(inv['billed_amount'])} {inv['invoice_currency']} = "
                    f"{_v(inv['billed_amount_order_currency'])} {inv['order_currency']} (order currency), "
                    f"{_v(inv['billed_amount_reporting'])} (reporting)"
                )
        if entry["record_state"] != "matched":
            candidates = entry.get("top_candidates") or []
            lines.append(
                f"    candidates: {entry.get('candidate_count') or 0} scored" + (", best first:" if candidates else "")
            )
            for cand in candidates[:MAX_CANDIDATES_SHOWN]:
                head = f"      {cand.get('candidate_key')}  p {cand.get('match_probability')}  "
                head += f"weight {cand.get('match_weight')}  "
                lines += _wrap(head, _components(cand.get("components")).split(" · "), " " * 8)
    return lines


def _render_exceptions(trace: Trace) -> list[str]:
    lines = ["", "4. exceptions on these records (state as of the last run)"]
    if not trace.exceptions:
        lines.append("  none")
    for exc in trace.exceptions:
        marker = "  ← traced" if exc["is_traced"] else ""
        head = f"  {exc['exception_id'][:8]}  {exc['exception_type']} on {exc['record_id']}: "
        if exc["is_pending"]:
            lines.append(
                head + f"PENDING late data from {exc.get('awaits_source')} until {_v(exc.get('pending_until'))}, "
                f"then owned by {exc.get('owner_team')}{marker}"
            )
            continue
        claimed = f" (claimed by {exc['claimed_by']})" if exc.get("claimed_by") else ""
        lines.append(head + f"{exc['status']}{claimed}, owner {exc['owner_team']}, severity {exc['severity']}{marker}")
        closed_at = exc.get("resolved_at") or exc.get("auto_resolved_at")
        if exc.get("is_breached"):
            sla = "BREACHED" + (f", escalated to {exc['escalated_to']}" if exc.get("escalated_to") else "")
        elif closed_at is not None and exc.get("sla_due_at") is not None and exc["sla_due_at"] < closed_at:
            # Closed, but only after the SLA was due: it breached while open (the history
            # lists the breach and the escalation), so "in time" would be untrue.
            sla = f"closed after its SLA, at {_v(closed_at)}"
        else:
            sla = "in time"
        at_risk = f"{_v(exc.get('amount_at_risk'))} {exc.get('currency') or ''}".rstrip()
        lines.append(f"    id {exc['exception_id']}  at risk {at_risk}")
        lines.append(
            f"    SLA {exc.get('sla_hours')}h due {_v(exc.get('sla_due_at'))} ({sla})  "
            f"first seen {_v(exc.get('first_seen_at'))}  runs seen {exc.get('runs_seen')}"
        )
        for event in exc["history"]:
            extra = " ".join(
                f"{k}={_v(event[k])}"
                for k in ("reason_code", "target", "amount", "comment")
                if event.get(k) is not None
            )
            lines.append(
                f"    {_v(event['event_at'])}  {event['event_type']:<14} by {event['actor']}  {extra}".rstrip()
            )
    return lines


def _render_actions(trace: Trace) -> list[str]:
    lines = ["", "5. operator actions" + (f" (action store {trace.action_store})" if trace.action_store else "")]
    if not trace.actions:
        lines.append("  none")
    for action in trace.actions:
        before, after = (
            state.get("status") if isinstance(state, dict) else state
            for state in (action["state_before"], action["state_after"])
        )
        extra = " ".join(
            f"{k}={action[k]}"
            for k in ("reason_code", "target", "amount", "comment")
            if action.get(k) not in (None, "")
        )
        lines.append(
            f"  #{action['seq']}  {action['acted_at']}  {action['actor']} {action['action']} "
            f"{action['exception_id'][:8]}  {before} → {after}  {extra}".rstrip()
        )
        pending = "" if action["is_in_warehouse"] else "  (not in the warehouse yet: the next run carries it)"
        lines.append(f"      entry {action['entry_hash'][:16]}  prev {action['prev_hash'][:16]}{pending}")
    return lines


def _render_runs(trace: Trace) -> list[str]:
    lines = ["", "6. runs"]
    if not trace.runs:
        lines.append("  no run recorded on these rows")
    for run in trace.runs:
        invocations = ", ".join(run["dbt_invocation_ids"]) or "—"
        lines.append(f"  dagster run {run['dagster_run_id']}  dbt invocation {invocations}")
        lines += _wrap("    built: ", run["seen_in"], " " * 11)
    # HOOK: the publication record (current.json) the caller passes in.
    pub = trace.publication
    if pub is None:
        lines.append("  publication: none given")
        return lines
    code = pub.get("code_version") or {}
    served = (
        "the traced run is the one being served"
        if pub.get("run_id") in {r["dagster_run_id"] for r in trace.runs}
        else "the serving copy comes from another run than the rows traced here"
    )
    lines.append(
        f"  publication {pub.get('publication', '?')}  run {pub.get('run_id', '?')}  "
        f"published {pub.get('published_at', '?')}  code {str(code.get('git_sha', '?'))[:12]}"
        + (" (dirty)" if code.get("dirty") else "")
    )
    lines.append(f"    {served}")
    return lines


def render(trace: Trace) -> str:
    """The chain for a terminal, in lineage order: sources → staging → matching → exceptions → actions → runs."""
    lines = [f"trace {trace.identifier}: {trace.summary}"]
    lines.append(f"  warehouse {trace.warehouse}")
    lines += _render_sources(trace)
    lines += _render_staging(trace)
    lines += _render_matching(trace)
    lines += _render_exceptions(trace)
    lines += _render_actions(trace)
    lines += _render_runs(trace)
    if trace.notes:
        lines += ["", "notes", *(f"  {note}" for note in trace.notes)]
    # Every element is one line: a value holding a line feed (a comment) or an escape (a
    # name from a landing file) is spelled out, never printed as lines of its own.
    return "\n".join(one_line(line) for line in lines)
