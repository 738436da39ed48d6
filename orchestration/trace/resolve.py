"""Resolving an identifier and following it through the serving copy: landing file and row,
staging, matching, exceptions, actions, runs."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import duckdb

from orchestration import contract
from orchestration.trace.kinds import (
    HEX,
    JSON_COLUMNS,
    KIND,
    KINDS,
    MIN_PREFIX,
    MODEL_KIND,
    WHAT_TO_TYPE,
    AmbiguousIdentifier,
    Kind,
    Trace,
    TracedRecord,
    TraceError,
)
from orchestration.warehouse import open_reader

# --------------------------------------------------------------- warehouse


class _Reader:
    """A read-only warehouse connection that knows which relations exist."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con
        self.relations = {
            f"{schema}.{name}"
            for schema, name in con.execute("select table_schema, table_name from information_schema.tables").fetchall()
        }
        self.built_by: dict[str, set[str]] = {}  # dagster_run_id -> relations whose rows carried it
        self.invocations: dict[str, set[str]] = {}  # dagster_run_id -> dbt_invocation_id

    def has(self, relation: str) -> bool:
        return relation in self.relations

    def rows(self, sql: str, params: list, relation: str | None = None) -> list[dict]:
        """Rows as dicts, JSON columns parsed; runs named on mart rows are remembered."""
        cur = self.con.execute(sql, params)
        names = [d[0] for d in cur.description]
        out = []
        for values in cur.fetchall():
            row = dict(zip(names, values, strict=True))
            for name in JSON_COLUMNS & row.keys():
                if isinstance(row[name], str):
                    try:
                        row[name] = json.loads(row[name])
                    except ValueError:
                        pass
            if relation and row.get("dagster_run_id"):
                self.built_by.setdefault(row["dagster_run_id"], set()).add(relation)
                if row.get("dbt_invocation_id"):
                    self.invocations.setdefault(row["dagster_run_id"], set()).add(row["dbt_invocation_id"])
            out.append(row)
        return out

    def select(self, relation: str, where: str, params: list, order: str = "") -> list[dict]:
        """``select * from relation where ...``; relation and where are fixed strings of this module."""
        if not self.has(relation):
            return []
        sql = f"select * from {relation} where {where}" + (f" order by {order}" if order else "")
        return self.rows(sql, params, relation if relation.startswith("marts.") else None)


def _connect(warehouse: Path) -> duckdb.DuckDBPyConnection:
    if not Path(warehouse).exists():
        raise TraceError(f"no warehouse at {warehouse}: run `recon run` (or `make demo`) first")
    try:
        con = open_reader(warehouse)
    except duckdb.IOException as exc:
        err = TraceError(f"cannot open {warehouse} read-only ({exc}); if a run holds it, trace again when it finishes")
        err.exit_code = 5
        raise err from exc
    return con


# -------------------------------------------------------------- resolution


@dataclass
class _Subject:
    kind: str  # exception | match | a KIND name
    id: str
    how: str


def _exception_ids(db: _Reader, where: str, value: str) -> list[str]:
    ids: set[str] = set()
    for relation in ("marts.fct_exception_current", "marts.fct_pending_breaks"):
        if db.has(relation):
            ids |= {
                r[0] for r in db.con.execute(f"select exception_id from {relation} where {where}", [value]).fetchall()
            }
    return sorted(ids)


def _match_ids(db: _Reader, where: str, value: str) -> list[str]:
    if not db.has("marts.fct_reconciliation_matches"):
        return []
    sql = f"select distinct match_id from marts.fct_reconciliation_matches where {where} order by 1"
    return [r[0] for r in db.con.execute(sql, [value]).fetchall()]


def _record_exists(db: _Reader, kind: Kind, key: str) -> bool:
    """Staged, in raw (a superseded or older version), or only in quarantine."""
    if db.has(kind.relation):
        sql = f"select 1 from {kind.relation} where {kind.key} = ? limit 1"
        if db.con.execute(sql, [key]).fetchall():
            return True
    if kind.record_model and db.has("marts.fct_reconciliation_records"):
        # A marts-only copy (the published serving file) has no staging or raw schema.
        sql = "select 1 from marts.fct_reconciliation_records where record_model = ? and record_key = ? limit 1"
        if db.con.execute(sql, [kind.record_model, key]).fetchall():
            return True
    for table, column in kind.raw:
        if (
            db.has(f"raw.{table}")
            and db.con.execute(f"select 1 from raw.{table} where {column} = ? limit 1", [key]).fetchall()
        ):
            return True
        if _quarantined(db, table, column, key):
            return True
    return False


def _resolve(db: _Reader, identifier: str) -> _Subject:
    text = identifier.strip()
    if not text:
        raise AmbiguousIdentifier(f"nothing to trace: give {WHAT_TO_TYPE}")
    forced, _, rest = text.partition(":")
    if rest and (forced in KIND or forced in ("exception", "match")):
        only, text = forced, rest.strip()
    else:
        only = None

    if only in (None, "exception") and (found := _exception_ids(db, "exception_id = ?", text.lower())):
        return _Subject("exception", found[0], "exception id")
    if only in (None, "match") and (found := _match_ids(db, "match_id = ?", text.lower())):
        return _Subject("match", found[0], "match id")

    kinds = [KIND[only]] if only in KIND else [] if only else list(KINDS)
    for candidate in dict.fromkeys((text, text.upper())):
        hits = [k for k in kinds if _record_exists(db, k, candidate)]
        if len(hits) == 1:
            return _Subject(hits[0].name, candidate, f"{hits[0].label} id")
        if len(hits) > 1:
            choices = " or ".join(f"{k.name}:{candidate}" for k in hits)
            raise AmbiguousIdentifier(
                f"{candidate!r} is a key of more than one kind ({', '.join(k.label for k in hits)}): type {choices}"
            )

    prefix = text.lower()
    if only in (None, "exception", "match") and HEX.fullmatch(prefix):
        if len(prefix) < MIN_PREFIX:
            raise AmbiguousIdentifier(
                f"{text!r} is too short to find an id by prefix: type at least {MIN_PREFIX} characters "
                "of the exception or match id"
            )
        found_ids: list[tuple[str, str]] = []
        if only != "match":
            found_ids += [("exception", i) for i in _exception_ids(db, "starts_with(exception_id, ?)", prefix)]
        if only != "exception":
            found_ids += [("match", i) for i in _match_ids(db, "starts_with(match_id, ?)", prefix)]
        if len(found_ids) == 1:
            kind, full = found_ids[0]
            return _Subject(kind, full, f"prefix of {kind} id")
        if len(found_ids) > 1:
            shown = ", ".join(f"{kind} {full[: len(prefix) + 4]}…" for kind, full in found_ids[:5])
            more = f" and {len(found_ids) - 5} more" if len(found_ids) > 5 else ""
            raise AmbiguousIdentifier(
                f"id prefix {text!r} matches {len(found_ids)} ids ({shown}{more}): type more characters"
            )
    if only in KIND:
        raise TraceError(f"no {KIND[only].label} {text!r} in the warehouse (staged, raw or quarantined)")
    raise TraceError(f"nothing in the warehouse is called {identifier.strip()!r}; trace {WHAT_TO_TYPE}")


# ------------------------------------------------------------------ sources


def _quarantined(db: _Reader, table: str, column: str, key: str) -> list[dict]:
    if not db.has("raw.quarantine"):
        return []
    source, _, entity = table.partition("__")
    return db.rows(
        """
        select
            quarantine.source || '__' || quarantine.entity as raw_table,
            quarantine.source_file,
            quarantine.row_number,
            quarantine.batch_id,
            ingestion_log.file_sha256,
            quarantine.column_name,
            quarantine.reason,
            quarantine.original_value,
            quarantine.problems,
            quarantine.record,
            quarantine.quarantined_at
        from raw.quarantine as quarantine
        left join raw.ingestion_log as ingestion_log
            on quarantine.batch_id = ingestion_log.batch_id
        where quarantine.source = ?
            and quarantine.entity = ?
            and json_extract_string(quarantine.record, ?) = ?
        order by quarantine.batch_id, quarantine.row_number, quarantine.column_name
        """,
        [source, entity, f"$.{column}", key],
    )


def _raw_rows(db: _Reader, table: str, where: str, params: list) -> list[dict]:
    """Raw rows of ``table`` (``where`` on alias raw_rows), with their batch and whether staging kept them."""
    if not db.has(f"raw.{table}"):
        return []
    staging = f"staging.stg_{table}"
    staged_join = (
        f"left join {staging} as staged on raw_rows._batch_id = staged.batch_id "
        "and raw_rows._row_number = staged.source_row_number"
        if db.has(staging)
        else "left join (select null::bigint as batch_id) as staged on false"
    )
    # A record with a row past its currency's range loaded under an older contract is held
    # out of staging whole (stg_ingestion__amounts_past_range), not an older version.
    held_out = "staging.stg_ingestion__amounts_past_range"
    ent = contract.ENTITY_BY_TABLE.get(table)
    if db.has(held_out) and ent is not None and len(ent.key) == 1:
        held_join = (
            f"left join {held_out} as held on held.record_entity = ? "
            f"and held.record_id = cast(raw_rows.{ent.key[0]} as varchar)"  # a column name from the contract
        )
        held_params = [f"stg_{table}"]
    else:
        held_join, held_params = "left join (select null::varchar as record_id) as held on false", []
    # A batch a full export of its entity superseded (landing contract delivery: full); a
    # copy made before raw.batch_supersessions existed has none.
    by_export = (
        "(select min(full_export.superseded_by_batch_id) from raw.batch_supersessions as full_export "
        "where full_export.batch_id = raw_rows._batch_id)"
        if db.has("raw.batch_supersessions")
        else "null::bigint"
    )
    rows = db.rows(
        f"""
        select
            raw_rows as raw_row,  -- the whole row as a struct: its column names cannot clash with these
            ingestion_log.file_sha256,
            ingestion_log.ingested_at as batch_ingested_at,
            ingestion_log.status as batch_status,
            ingestion_log.is_restatement,
            ingestion_log.supersedes_batch_id,
            (
                select min(restated.batch_id)
                from raw.ingestion_log as restated
                where restated.status = 'loaded'
                    and restated.supersedes_batch_id = raw_rows._batch_id
            ) as superseded_by_batch_id,
            {by_export} as superseded_by_export_batch_id,
            staged.batch_id is not null as is_staged,
            held.record_id is not null as is_held_out
        from raw.{table} as raw_rows
        left join raw.ingestion_log as ingestion_log
            on raw_rows._batch_id = ingestion_log.batch_id
        {staged_join}
        {held_join}
        where {where}
        order by raw_rows._batch_id, raw_rows._row_number
        """,
        held_params + params,
    )
    out = []
    for row in rows:
        raw = row["raw_row"]
        if row["superseded_by_batch_id"] is not None:
            status = f"superseded by restatement (batch {row['superseded_by_batch_id']})"
        elif row["superseded_by_export_batch_id"] is not None:
            status = f"superseded by a newer full export (batch {row['superseded_by_export_batch_id']})"
        elif row["is_staged"]:
            status = "staged"
        elif row["is_held_out"]:
            status = "held out of staging: an amount of the record is past its currency's range (amount_out_of_range)"
        else:
            status = "older version (staging kept a later one)"
        out.append(
            {
                "raw_table": table,
                "source_file": raw["_source_file"],
                "row_number": raw["_row_number"],
                "batch_id": raw["_batch_id"],
                "file_sha256": row["file_sha256"],
                "ingested_at": row["batch_ingested_at"] or raw["_ingested_at"],
                "is_restatement": row["is_restatement"],
                "supersedes_batch_id": row["supersedes_batch_id"],
                "superseded_by_batch_id": row["superseded_by_batch_id"] or row["superseded_by_export_batch_id"],
                "status": status,
                "values": {k: v for k, v in raw.items() if not k.startswith("_")},
            }
        )
    return out


def _trace_record(db: _Reader, kind: Kind, key: str, role: str) -> TracedRecord:
    record = TracedRecord(kind.name, key, role)
    if kind.name == "billing_item":
        items = db.select(kind.relation, "billing_item_id = ?", [key])
        record.staged += [{"model": "int_invoice_billing_items", "row": r} for r in items]
        if items:
            invoice_id = items[0]["invoice_id"]
            in_item = (
                "line_number in (select line_number from intermediate.int_invoice_lines_billable "
                "where billing_item_id = ?)"
            )
            record.source_rows += _raw_rows(db, "billing__invoices", "raw_rows.invoice_id = ?", [invoice_id])
            record.source_rows += _raw_rows(
                db,
                "billing__invoice_lines",
                f"raw_rows.invoice_id = ? and raw_rows.{in_item}",
                [invoice_id, key],
            )
            for table in ("billing__invoices", "billing__invoice_lines"):
                record.quarantined_rows += _quarantined(db, table, "invoice_id", invoice_id)
            record.staged += [
                {"model": "stg_billing__invoices", "row": r}
                for r in db.select("staging.stg_billing__invoices", "invoice_id = ?", [invoice_id])
            ]
            record.staged += [
                {"model": "int_invoice_lines_billable", "row": r}
                for r in db.select(
                    "intermediate.int_invoice_lines_billable",
                    "billing_item_id = ?",
                    [key],
                    order="line_number",
                )
            ]
        return record
    for table, column in kind.raw:
        record.source_rows += _raw_rows(db, table, f"raw_rows.{column} = ?", [key])
        record.quarantined_rows += _quarantined(db, table, column, key)
    model = kind.relation.split(".", 1)[1]
    record.staged += [{"model": model, "row": r} for r in db.select(kind.relation, f"{kind.key} = ?", [key])]
    if kind.name == "invoice":
        record.staged += [
            {"model": "stg_billing__invoice_lines", "row": r}
            for r in db.select("staging.stg_billing__invoice_lines", "invoice_id = ?", [key], order="line_number")
        ]
    return record


# ----------------------------------------------------------------- matching


def _side_models(db: _Reader) -> dict[tuple[str, str], str]:
    if not db.has("marts.fct_reconciliation_records"):
        return {}
    return {
        (r[0], r[1]): r[2]
        for r in db.con.execute(
            "select distinct reconciliation, side, record_model from marts.fct_reconciliation_records"
        ).fetchall()
    }


def _matching(
    db: _Reader, kind: Kind, key: str, sides: dict[tuple[str, str], str], reconciliation: str | None = None
) -> list[dict]:
    """The record's state in each reconciliation, its decided pairs and, unless matched, its candidates."""
    if kind.record_model is None:
        return []
    out = []
    states = db.select(
        "marts.fct_reconciliation_records",
        "record_model = ? and record_key = ?",
        [kind.record_model, key],
        order="reconciliation",
    )
    for state in states:
        if reconciliation and state["reconciliation"] != reconciliation:
            continue
        side = state["side"]
        other = "right" if side == "left" else "left"
        pairs = db.select(
            "marts.fct_reconciliation_matches",
            "reconciliation = ? and " + ("left_key = ?" if side == "left" else "right_key = ?"),
            [state["reconciliation"], key],
            order="decision = 'matched' desc, match_probability desc, match_id",
        )
        invoices: list[dict] = []
        if state["reconciliation"] == "orders_invoices":
            # The billed amounts of a matched order ↔ billing item pair, in invoice, order and reporting currency.
            column = "order_id" if kind.name == "order" else "billing_item_id"
            invoices = db.select(
                "marts.fct_order_invoice_matches", f"{column} = ?", [key], order="issue_date, billing_item_id"
            )
        for pair in pairs:
            pair["partner_key"] = pair["right_key"] if side == "left" else pair["left_key"]
            pair["partner_model"] = sides.get((state["reconciliation"], other))
            pair["invoice_matches"] = [
                inv
                for inv in invoices
                if (inv["match_id"], inv["order_id"], inv["billing_item_id"])
                == (pair["match_id"], pair["left_key"], pair["right_key"])
            ]
        out.append(
            {
                "record_kind": kind.name,
                "record_key": key,
                **{k: state[k] for k in state if k != "record_key"},
                "pairs": pairs,
            }
        )
    return out


# --------------------------------------------------------------- exceptions


def _exceptions(db: _Reader, records: list[TracedRecord], traced_id: str | None) -> list[dict]:
    # Exceptions name a record by its reconciled model or its staging model.
    keys = [
        (model, r.key)
        for r in records
        for model in {KIND[r.kind].record_model, KIND[r.kind].relation.split(".")[-1]} - {None}
    ]
    found: dict[str, dict] = {}
    if traced_id:
        for row in db.select("marts.fct_exception_current", "exception_id = ?", [traced_id]):
            found[row["exception_id"]] = {**row, "is_pending": False}
        for row in db.select("marts.fct_pending_breaks", "exception_id = ?", [traced_id]):
            found.setdefault(row["exception_id"], {**row, "status": "pending", "is_pending": True})
    for model, key in keys:
        for row in db.select(
            "marts.fct_exception_current", "record_entity = ? and record_id = ?", [model, key], order="exception_id"
        ):
            found.setdefault(row["exception_id"], {**row, "is_pending": False})
        for row in db.select(
            "marts.fct_pending_breaks", "record_entity = ? and record_id = ?", [model, key], order="exception_id"
        ):
            found.setdefault(row["exception_id"], {**row, "status": "pending", "is_pending": True})
    out = []
    for eid, row in found.items():
        row["is_traced"] = eid == traced_id
        row["history"] = db.select("marts.fct_exception_history", "exception_id = ?", [eid], order="event_number")
        out.append(row)
    return out


def _actions(store_path: Path | None, exception_ids: list[str], notes: list[str]) -> list[dict]:
    if store_path is None:
        notes.append("no action store given: operator actions are those the last run carried into the history")
        return []
    if not Path(store_path).exists():
        notes.append(f"no action store at {store_path}: operator actions are those the last run carried into history")
        return []
    if not exception_ids:
        return []
    con = sqlite3.connect(f"file:{Path(store_path).resolve()}?mode=ro", uri=True, timeout=30)
    con.row_factory = sqlite3.Row
    try:
        marks = ", ".join("?" for _ in exception_ids)  # placeholders only; the ids are parameters
        rows = con.execute(
            "select seq, exception_id, action, actor, acted_at, reason_code, comment, amount, target, "
            f"state_before, state_after, prev_hash, entry_hash from actions where exception_id in ({marks}) "
            "order by seq",
            exception_ids,
        ).fetchall()
    except sqlite3.OperationalError as exc:
        notes.append(f"action store {store_path} could not be read ({exc})")
        return []
    finally:
        con.close()
    out = []
    for row in rows:
        entry = dict(row)
        for name in ("state_before", "state_after"):
            try:
                entry[name] = json.loads(entry[name])
            except (TypeError, ValueError):
                pass
        out.append(entry)
    return out


# -------------------------------------------------------------------- trace


def _subjects(
    db: _Reader, subject: _Subject, sides: dict[tuple[str, str], str], result: Trace
) -> tuple[list[tuple[Kind, str, str]], str | None, str | None]:
    """The records the subject stands for, as (kind, key, role); sets the trace's summary.

    Also returns the one reconciliation to show (a match belongs to one) and the traced
    exception id, if any. An invoice stands for its billing items, a deliverable for its
    project: those are the records the engine reconciles.
    """
    subjects: list[tuple[Kind, str, str]] = []  # (kind, key, role)
    only_reconciliation = None
    traced_exception = None
    if subject.kind == "exception":
        rows = db.select("marts.fct_exception_current", "exception_id = ?", [subject.id]) or db.select(
            "marts.fct_pending_breaks", "exception_id = ?", [subject.id]
        )
        exc = rows[0]
        traced_exception = subject.id
        kind = MODEL_KIND.get(exc["record_entity"])
        on = f"{kind.label} {exc['record_id']}" if kind else f"{exc['record_entity']} {exc['record_id']}"
        result.summary = f"exception {subject.id}: {exc['exception_type']} on {on}"
        if kind:
            subjects.append((kind, exc["record_id"], "record of the exception"))
        else:
            result.notes.append(f"record entity {exc['record_entity']} is not one trace knows how to follow")
    elif subject.kind == "match":
        pairs = db.select("marts.fct_reconciliation_matches", "match_id = ?", [subject.id], order="left_key, right_key")
        only_reconciliation = pairs[0]["reconciliation"]
        result.summary = (
            f"match {subject.id}: {only_reconciliation} {pairs[0]['decision']} by {pairs[0]['pass_name']} "
            f"({pairs[0]['rule_version']}), {len(pairs)} pair(s)"
        )
        for side, column in (("left", "left_key"), ("right", "right_key")):
            kind = MODEL_KIND.get(sides.get((only_reconciliation, side)))
            for key in dict.fromkeys(p[column] for p in pairs):
                if kind:
                    subjects.append((kind, key, f"{side} side of the match"))
    else:
        kind = KIND[subject.kind]
        result.summary = f"{kind.label} {subject.id}"
        expanded: list[tuple[Kind, str, str]] = []
        if kind.name == "invoice":
            expanded = [
                (KIND["billing_item"], r["billing_item_id"], f"billing item of invoice {subject.id}")
                for r in db.select(
                    "intermediate.int_invoice_billing_items",
                    "invoice_id = ?",
                    [subject.id],
                    order="billing_item_id",
                )
            ]
        elif kind.name == "deliverable":
            expanded = [
                (KIND["project"], r["project_id"], f"project of deliverable {subject.id}")
                for r in db.select("staging.stg_fulfilment__deliverables", "deliverable_id = ?", [subject.id])
            ]
        if expanded:
            result.summary += " → " + ", ".join(f"{k.label} {key}" for k, key, _ in expanded)
            subjects += expanded
        else:
            subjects.append((kind, subject.id, "traced"))
    return subjects, only_reconciliation, traced_exception


def trace(warehouse: Path, store_path: Path | None, identifier: str, publication: dict | None = None) -> Trace:
    """Resolve ``identifier`` and collect its lineage from the warehouse and the action store.

    ``identifier``: an exception id or a unique prefix of ≥ 6 characters, a match id, or
    a record key (order, invoice, billing item, campaign, project, deliverable, CRM lead,
    lead-form submission), optionally as ``kind:key``. Raises :class:`TraceError` when
    it names nothing, or more than one thing.
    """
    con = _connect(Path(warehouse))
    try:
        db = _Reader(con)
        subject = _resolve(db, identifier)
        sides = _side_models(db)
        result = Trace(
            identifier=identifier,
            kind=subject.kind,
            subject_id=subject.id,
            resolved_as=subject.how,
            summary="",
            warehouse=str(warehouse),
            action_store=str(store_path) if store_path else None,
            publication=publication,
        )
        subjects, only_reconciliation, traced_exception = _subjects(db, subject, sides, result)
        for kind, key, _ in subjects:
            result.matching += _matching(db, kind, key, sides, only_reconciliation)
        # The records a subject was paired with (matched, suggested or ambiguous) are followed
        # to their sources too; a match's own members are its records, nothing beyond.
        seen = {(k.name, key) for k, key, _ in subjects}
        partners: list[tuple[Kind, str, str]] = []
        for entry in result.matching if subject.kind != "match" else []:
            for pair in entry["pairs"]:
                partner = MODEL_KIND.get(pair["partner_model"])
                if partner and (partner.name, pair["partner_key"]) not in seen:
                    seen.add((partner.name, pair["partner_key"]))
                    role = f"{pair['decision']} in {pair['reconciliation']} ({pair['pass_name']})"
                    partners.append((partner, pair["partner_key"], role))
        result.records = [_trace_record(db, kind, key, role) for kind, key, role in subjects + partners]
        # The serving copy holds the marts and the ingestion log, not the raw rows or staging.
        result.has_sources = any(r.startswith("staging.") for r in db.relations)
        if not result.has_sources:
            result.notes.append(
                f"{warehouse} holds no raw rows or staging (the published copy holds the marts): "
                f"`recon trace {identifier}` between runs reads the working warehouse for source files and "
                "staged values"
            )
        else:
            for record in result.records:
                if not record.source_rows and not record.quarantined_rows:
                    result.notes.append(f"{KIND[record.kind].label} {record.key}: no raw rows found")
        result.exceptions = _exceptions(db, result.records, traced_exception)
        result.actions = _actions(store_path, [e["exception_id"] for e in result.exceptions], result.notes)
        carried = {h["action_seq"] for e in result.exceptions for h in e["history"] if h.get("action_seq") is not None}
        for action in result.actions:
            action["is_in_warehouse"] = action["seq"] in carried or action["actor"] == "pipeline"
        result.runs = [
            {
                "dagster_run_id": run_id,
                "dbt_invocation_ids": sorted(db.invocations.get(run_id, ())),
                "seen_in": sorted(relations),
            }
            for run_id, relations in sorted(db.built_by.items())
        ]
        return result
    finally:
        con.close()
