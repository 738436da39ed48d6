"""Between the store and the warehouse: the exception catalog in, the action log out, forks refused."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from orchestration.actions.bounds import amount_text, check_text
from orchestration.actions.core import (
    AMOUNT_PLACES,
    GENESIS,
    MAX_CODE_CHARS,
    MAX_TEXT_CHARS,
    ActionError,
    ForkError,
    is_pipeline_event,
    wall_clock,
)
from orchestration.actions.store import ActionStore

# ------------------------------------------------------- warehouse bridges


def catalog_from_warehouse(warehouse: Path, store: ActionStore) -> dict[str, int]:
    """Copy the current exceptions (and what an operator needs to see) into the store.

    Runs after each pipeline build, so operators work from the action store alone and
    never need the warehouse, which the next run may be holding for writing.
    """
    from orchestration.ingest import superseded_batches_sql
    from orchestration.warehouse import open_reader, table_exists

    con = open_reader(warehouse)
    try:
        # Whether the build found an operator's resolution outgrown (more at risk than it
        # accepted): refresh_catalog reopens it in the store as the marts do.
        has_reopenings = con.execute(
            "select count(*) from information_schema.columns where table_schema = 'marts'"
            " and table_name = 'fct_exception_current' and column_name = 'outgrown_resolution_seq'"
        ).fetchone()[0]
        reopenings = (
            "left join marts.fct_exception_current as current_state"
            " on exceptions.exception_id = current_state.exception_id"
            if has_reopenings
            else "left join (select null as exception_id, null as reopened_because, null as outgrown_resolution_seq)"
            " as current_state on false"
        )
        # When the business expected the counterpart, as the marts age it (a warehouse built
        # before the column: the business date at midnight, as then).
        business_due = (
            "current_state.business_due_at"
            if has_reopenings
            and con.execute(
                "select count(*) from information_schema.columns where table_schema = 'marts'"
                " and table_name = 'fct_exception_current' and column_name = 'business_due_at'"
            ).fetchone()[0]
            else "null::timestamptz"
        )
        # Rows of current files that were quarantined and name the exception's record or a
        # record it is matched to: the break may come from data that never loaded (a
        # tryout: five of an invoice's six lines quarantined made a false amount variance).
        has_quarantine = table_exists(con, "raw", "quarantine") and table_exists(con, "raw", "ingestion_log")
        quarantined = (
            """
            quarantine_values as (
                select distinct quarantine.source_file, quarantine.row_number, quarantine.batch_id,
                    unnest(json_extract_string(quarantine.record, '$.*')) as value
                from raw.quarantine as quarantine
                where json_type(quarantine.record) = 'OBJECT'
                    and quarantine.batch_id not in ({superseded})
            ),
            exception_keys as (
                select exception_id, split_part(record_id, '#', 1) as record_key
                from marts.fct_reconciliation_exceptions
                union
                select exceptions.exception_id, split_part(unnest(records.matched_keys), '#', 1)
                from marts.fct_reconciliation_exceptions as exceptions
                inner join marts.fct_reconciliation_records as records
                    on records.record_key = exceptions.record_id
            ),
            quarantined as (
                select exception_keys.exception_id,
                    count(distinct (quarantine_values.batch_id, quarantine_values.row_number)) as row_count,
                    list(distinct quarantine_values.source_file order by quarantine_values.source_file) as files
                from exception_keys
                inner join quarantine_values on quarantine_values.value = exception_keys.record_key
                group by 1
            ),"""
            if has_quarantine
            else "quarantined as (select null::VARCHAR as exception_id, 0 as row_count, []::VARCHAR[] as files),"
        ).replace(
            "{superseded}",
            superseded_batches_sql("raw", full_exports=table_exists(con, "raw", "batch_supersessions")),
        )
        # The client a record's names resolve to (its record values' client_id, named as the
        # orders of that client name it): a campaign's exception carries the account or
        # campaign name as sent ("Acme Fitness - Summer Promo Dec 2025"), not the client.
        has_values = table_exists(con, "marts", "fct_reconciliation_record_values")
        named = (
            """
            named_clients as (
                select exceptions.exception_id,
                    min(json_extract_string(record_values.record_values, '$.client_id')) as client_id
                from marts.fct_reconciliation_exceptions as exceptions
                inner join marts.fct_reconciliation_records as records
                    on records.record_key = exceptions.record_id
                    and records.record_model = exceptions.record_entity
                    -- An order's exception carries its own client already.
                    and exceptions.record_entity <> 'stg_crm__orders'
                inner join marts.fct_reconciliation_record_values as record_values
                    on record_values.reconciliation = records.reconciliation
                    and record_values.side = records.side
                    and record_values.record_key = records.record_key
                group by exceptions.exception_id
                having count(distinct json_extract_string(record_values.record_values, '$.client_id')) = 1
            ),
            client_names as (
                select orders.client_id, min(orders.client_name) as client_name
                from marts.fct_reconciled_orders as orders
                group by orders.client_id
            ),"""
            if has_values
            else """
            named_clients as (select null::VARCHAR as exception_id, null::VARCHAR as client_id),
            client_names as (select null::VARCHAR as client_id, null::VARCHAR as client_name),"""
        )
        # The records linked by hand that the source no longer gives, by the order that lost
        # them (int_operator_links_withdrawn): the review of that order names them.
        withdrawn_links = (
            """
            withdrawn_links as (
                select withdrawn.record_entity, withdrawn.record_id,
                    list(struct_pack(
                        reconciliation := withdrawn.reconciliation,
                        left_key := withdrawn.left_key,
                        right_key := withdrawn.right_key,
                        withdrawn_key := withdrawn.withdrawn_key,
                        withdrawn_entity := withdrawn.withdrawn_entity,
                        actor := withdrawn.actor,
                        seq := withdrawn.action_seq
                    ) order by withdrawn.action_seq, withdrawn.reconciliation, withdrawn.withdrawn_key) as links
                from intermediate.int_operator_links_withdrawn as withdrawn
                group by withdrawn.record_entity, withdrawn.record_id
            ),"""
            if table_exists(con, "intermediate", "int_operator_links_withdrawn")
            else """
            withdrawn_links as (
                select null::VARCHAR as record_entity, null::VARCHAR as record_id, null as links where false
            ),"""
        )
        # The items a duplicate_billing exception is about, by the order billed again
        # (int_duplicate_billing_items): the rule that raised it and the items it compared, so
        # the operator credits the copy without a query; a rule comparing no items (billed
        # about twice the booking) names none, and says what it compared.
        repeated_billing = (
            """
            repeated_billing as (
                select repeats.order_id,
                    list(struct_pack(
                        rule := repeats.rule,
                        currency := repeats.currency,
                        days_apart := repeats.days_apart,
                        order_currency := repeats.order_currency,
                        booked_amount := repeats.booked_amount,
                        billed_amount := repeats.billed_amount,
                        invoice_count := repeats.invoice_count,
                        original := case when repeats.original_billing_item_id is not null then struct_pack(
                            invoice_id := repeats.original_invoice_id,
                            invoice_number := repeats.original_invoice_number,
                            billing_item_id := repeats.original_billing_item_id,
                            lines := repeats.original_line_numbers,
                            issue_date := strftime(repeats.original_issue_date, '%Y-%m-%d'),
                            amount := repeats.original_amount
                        ) end,
                        repeat := case when repeats.repeat_billing_item_id is not null then struct_pack(
                            invoice_id := repeats.repeat_invoice_id,
                            invoice_number := repeats.repeat_invoice_number,
                            billing_item_id := repeats.repeat_billing_item_id,
                            lines := repeats.repeat_line_numbers,
                            issue_date := strftime(repeats.repeat_issue_date, '%Y-%m-%d'),
                            amount := repeats.repeat_amount,
                            matched := repeats.repeat_is_matched
                        ) end
                    ) order by repeats.repeat_issue_date, repeats.repeat_invoice_id, repeats.repeat_billing_item_id)
                        as items
                from intermediate.int_duplicate_billing_items as repeats
                group by repeats.order_id
            ),"""
            if table_exists(con, "intermediate", "int_duplicate_billing_items")
            else """
            repeated_billing as (select null::VARCHAR as order_id, null as items where false),"""
        )
        from orchestration.links import DOMAIN_RECONCILIATION

        # The details each exception carries, written as JSON by DuckDB: at 1M orders (306,737
        # exceptions) decoding and re-encoding them in Python took 18 of the catalog's 41 s.
        con.execute(
            """
            create temp table found_exceptions as
            with """
            + quarantined  # one of two fixed texts
            + named  # one of two fixed texts
            + withdrawn_links  # one of two fixed texts
            + repeated_billing  # one of two fixed texts
            + """
            preferred as (
                -- The reconciliation each domain is about: listed first in an exception's details.
                select unnest(?::varchar[]) as domain, unnest(?::varchar[]) as reconciliation
            ),
            records as (
                -- The record of each exception in every reconciliation it takes part in (an
                -- order is the left side of several), with its candidates when unmatched.
                select
                    exceptions.exception_id,
                    list(struct_pack(
                        reconciliation := records.reconciliation,
                        side := records.side,
                        record_state := records.record_state,
                        matched_keys := records.matched_keys,
                        -- Which passes matched it ('operator': a link by hand), so `show`
                        -- says why no candidates are listed.
                        matched_by := records.matched_by,
                        top_candidates := case when records.top_candidates <> ''
                            then json(records.top_candidates) end
                    ) order by coalesce(records.reconciliation <> preferred.reconciliation, true),
                        records.reconciliation) as reconciliations
                from marts.fct_reconciliation_exceptions as exceptions
                inner join marts.fct_reconciliation_records as records
                    on records.record_key = exceptions.record_id
                    and (
                        records.record_model = exceptions.record_entity
                        or (
                            exceptions.record_entity = 'stg_crm__orders'
                            and records.record_model = 'int_orders_resolved'
                        )
                    )
                left join preferred on preferred.domain = exceptions.domain
                group by exceptions.exception_id
            )
            select
                exceptions.*,
                current_state.reopened_because,
                current_state.outgrown_resolution_seq,
                to_json(struct_pack(
                    domain := exceptions.domain,
                    -- When the business expected the counterpart (business date plus grace,
                    -- a cancelled order's last change, a correction by hand it was born of),
                    -- as naive UTC text: the SLA counts from it, as in fct_exception_current.
                    business_due_at := strftime(
                        timezone('UTC', coalesce(
                            """
            + business_due  # one of two fixed texts
            + """,
                            timezone('UTC', coalesce(exceptions.pending_until, exceptions.due_date)::timestamp)
                        )),
                        '%Y-%m-%dT%H:%M:%S'
                    ),
                    reconciliation := records.reconciliations[1].reconciliation,
                    record_state := records.reconciliations[1].record_state,
                    matched_keys := records.reconciliations[1].matched_keys,
                    top_candidates := records.reconciliations[1].top_candidates,
                    reconciliations := coalesce(records.reconciliations, []),
                    legs := case when orders.order_id is not null then struct_pack(
                        order_type := orders.order_type,
                        -- The legs are in the order's currency, which a currency_mismatch
                        -- exception's own currency (the invoice's) is not.
                        currency := orders.currency,
                        booked := orders.booked_amount,
                        billed := orders.billed_amount,
                        credited := orders.credited_amount,
                        delivered := orders.delivered_amount,
                        fulfilled := orders.fulfilled_amount,
                        expects_delivery := orders.expects_delivery,
                        expects_fulfilment := orders.expects_fulfilment,
                        billing_state := orders.billing_state,
                        delivery_state := orders.delivery_state,
                        fulfilment_state := orders.fulfilment_state
                    ) end,
                    named_client := case when named_clients.client_id is not null then struct_pack(
                        client_id := named_clients.client_id,
                        client_name := client_names.client_name
                    ) end,
                    quarantined := case when quarantined.row_count > 0 then struct_pack(
                        rows := quarantined.row_count,
                        files := coalesce(quarantined.files, [])
                    ) end
                )) as details_found,
                -- Only where there are some: every other exception's details (and digest) as before.
                case
                    when withdrawn_links.links is not null and exceptions.exception_type = 'manual_link_changed'
                        then json_merge_patch(
                            details_found, to_json(struct_pack(withdrawn_links := withdrawn_links.links))
                        )
                    when repeated_billing.items is not null and exceptions.exception_type = 'duplicate_billing'
                        then json_merge_patch(
                            details_found, to_json(struct_pack(repeated_billing := repeated_billing.items))
                        )
                    else details_found
                end as details
            from marts.fct_reconciliation_exceptions as exceptions
            left join withdrawn_links
                on exceptions.record_entity = withdrawn_links.record_entity
                and exceptions.record_id = withdrawn_links.record_id
            left join repeated_billing
                on exceptions.record_entity = 'stg_crm__orders'
                and exceptions.record_id = repeated_billing.order_id
            left join records
                on exceptions.exception_id = records.exception_id
            left join quarantined
                on exceptions.exception_id = quarantined.exception_id
            left join named_clients
                on exceptions.exception_id = named_clients.exception_id
            left join client_names
                on named_clients.client_id = client_names.client_id
            left join marts.fct_reconciled_orders as orders
                on exceptions.record_entity = 'stg_crm__orders'
                and exceptions.record_id = orders.order_id
            """
            + reopenings,  # one of two fixed clauses
            [list(DOMAIN_RECONCILIATION), list(DOMAIN_RECONCILIATION.values())],
        )
        con.execute("alter table found_exceptions drop column details_found")
        # What the store writes of each exception, as one digest: a row the store holds as found
        # with the same digest is passed by id only (at 1M orders, turning 306,737 rows into
        # Python took longer than writing the 1 % that changed). A resolution found outgrown
        # needs the amounts for the reopening it appends. With the run's reporting currency: a row
        # whose value at risk is in another is written again, so the store knows which it is in.
        digest = (
            "'md5:' || md5(to_json(struct_pack(exception_type, owner_team, severity, sla_hours, record_entity,"
            " record_id, client_name, currency, amount_at_risk, amount_at_risk_reporting, details,"
            " reporting_currency)))"
        )
        found = con.execute(
            f"select exception_id, {digest}, reopened_because = 'amount_grew' from found_exceptions"  # fixed text
        ).fetchall()
        held = store.found_digests()
        changed = {eid for eid, content, outgrown in found if outgrown or held.get(eid) != content}
        exceptions = [
            {"exception_id": eid, "content_digest": content} for eid, content, _ in found if eid not in changed
        ]
        if changed:
            everything = len(changed) == len(found)
            cur = con.execute(
                f"select *, {digest} as content_digest from found_exceptions"  # fixed text
                + ("" if everything else " where exception_id in (select unnest(?::varchar[]))"),
                [] if everything else [sorted(changed)],
            )
            names = [d[0] for d in cur.description]
            exceptions += [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
            with_withdrawn_links(con, exceptions)
        found_ids = {e["exception_id"] for e in exceptions}
        retiring = [record for record in store.current_records() if record[0] not in found_ids]
        withdrawn = withdrawn_records(con, retiring)
    finally:
        con.close()
    return store.refresh_catalog(exceptions, withdrawn=withdrawn)


def withdrawn_records(con, retiring: list[tuple[str, str | None, str | None]]) -> dict[str, str]:
    """Of the exceptions no longer found, those whose own record was withdrawn from its source,
    with what withdrew it (exception id -> text for the log).

    A record is withdrawn when raw holds it but no current batch does: a full export of its
    entity without it (landing contract delivery: full), or its file restated without it. Its
    staging row is gone, so the break went with it; closing the exception as if later data had
    reconciled it hid why. Records of entities with a one-column key, named as staging names
    them (``stg_<source>__<entity>``, the record id before any ``#``)."""
    from orchestration import contract

    if not retiring:
        return {}
    out: dict[str, str] = {}
    for ent in contract.ENTITIES:
        model = f"stg_{ent.table}"
        wanted: dict[str, list[str]] = {}
        for eid, entity, record_id in retiring:
            if entity == model and record_id:
                wanted.setdefault(record_id.split("#", 1)[0], []).append(eid)
        if not wanted or len(ent.key) != 1:
            continue
        for record_key, text in withdrawals(con, ent.table, ent.key[0], sorted(wanted)).items():
            for eid in wanted[record_key]:
                out[eid] = text + "; the exception closed with it and reopens if the record comes back"
    return out


# Where raw holds the rows a linked record is made of, by what the record is (the entity an
# exception names, or a reconciliation's side model): the raw table, the column holding the
# record's key, and the key as that column spells it (an invoice item INV-1#PO-7 is made of
# invoice INV-1's lines).
LINKED_RECORD_ROWS = {
    "stg_billing__credit_notes": ("billing__credit_notes", "credit_note_id"),
    "int_invoice_billing_items": ("billing__invoice_lines", "invoice_id"),
    "int_ads_campaigns": ("ads__delivery", "campaign_id"),
    "int_fulfilment_projects": ("fulfilment__deliverables", "project_id"),
    # lead_forms_leads: a lead's form submission, or a submission's lead.
    "int_lead_form_submissions": ("ads__lead_forms", "submission_id"),
    "stg_crm__leads": ("crm__leads", "lead_id"),
}


def withdrawals(con, table: str, column: str, keys: list[str]) -> dict[str, str]:
    """Of ``keys`` (values of ``column`` in raw.``table``), those raw holds in no current
    batch, each with what withdrew it: "billing/credit_notes credit_note_id CN-9 was withdrawn
    from its source: billing/credit_notes/cn.csv was restated without it (batch 7)". A key
    raw never held is not withdrawn (it is said of no key)."""
    from orchestration import contract
    from orchestration.ingest import superseded_batches_sql
    from orchestration.warehouse import table_exists

    ent = next((e for e in contract.ENTITIES if e.table == table), None)
    if (
        ent is None
        or not keys
        or not (column.replace("_", "").isalnum() and table.replace("_", "").isalnum())
        or not table_exists(con, "raw", "ingestion_log")
        or not table_exists(con, "raw", table)
    ):
        return {}  # identifiers come from the contract; never from data
    full = table_exists(con, "raw", "batch_supersessions")
    superseded = superseded_batches_sql("raw", full_exports=full)
    by_export = (
        """
                select full_export.superseded_by_batch_id from raw.batch_supersessions as full_export
                where full_export.batch_id = held.batch_id
                order by full_export.superseded_by_batch_id desc limit 1"""
        if full
        else "select null"
    )
    rows = con.execute(
        f"""
        with keys as (
            select unnest(?::VARCHAR[]) as record_key
        ),

        held as (
            select raw_rows."{column}" as record_key, max(raw_rows._batch_id) as batch_id,
                bool_or(raw_rows._batch_id not in ({superseded})) as is_current
            from raw."{table}" as raw_rows
            inner join keys on raw_rows."{column}" = keys.record_key
            group by 1
        ),

        latest as (
            select held.record_key, held.batch_id,
                coalesce(
                    (
                        select restated.batch_id from raw.ingestion_log as restated
                        where restated.supersedes_batch_id = held.batch_id and restated.status = 'loaded'
                        order by restated.batch_id desc limit 1
                    ),
                    ({by_export})
                ) as withdrawn_by
            from held
            where not held.is_current
        )

        select latest.record_key, latest.batch_id, source.source_file, latest.withdrawn_by, later.source_file
        from latest
        left join raw.ingestion_log as source on source.batch_id = latest.batch_id
        left join raw.ingestion_log as later on later.batch_id = latest.withdrawn_by
        """,
        [sorted(set(keys))],
    ).fetchall()
    out = {}
    for record_key, _, came_from, withdrawn_by, withdrawn_file in rows:
        text = f"{ent.source}/{ent.name} {column} {record_key} was withdrawn from its source"
        if withdrawn_file and withdrawn_file != came_from:
            text += f": not in {withdrawn_file} (batch {withdrawn_by}), which superseded {came_from}"
        elif withdrawn_file:
            text += f": {withdrawn_file} was restated without it (batch {withdrawn_by})"
        out[str(record_key)] = text
    return out


def with_withdrawn_links(con, exceptions: list[dict]) -> None:
    """Say, in the details of each review of an order that lost a record linked by hand
    (manual_link_changed; details.withdrawn_links, from int_operator_links_withdrawn), what
    withdrew each record from its source, where raw says (``withdrawn``); else that the
    source no longer gives it under that key (restated under another). In place."""
    wanted: dict[str, set[str]] = {}
    found: list[tuple[dict, dict]] = []
    for e in exceptions:
        if e.get("exception_type") != "manual_link_changed" or not e.get("details"):
            continue
        details = json.loads(e["details"]) if isinstance(e["details"], str) else e["details"]
        if not details.get("withdrawn_links"):
            continue
        found.append((e, details))
        for link in details["withdrawn_links"]:
            rows = LINKED_RECORD_ROWS.get(link.get("withdrawn_entity") or "")
            if rows:
                wanted.setdefault(link["withdrawn_entity"], set()).add(str(link["withdrawn_key"]).split("#", 1)[0])
    said = {entity: withdrawals(con, *LINKED_RECORD_ROWS[entity], sorted(keys)) for entity, keys in wanted.items()}
    for e, details in found:
        for link in details["withdrawn_links"]:
            key = str(link["withdrawn_key"]).split("#", 1)[0]
            link["withdrawn"] = said.get(link.get("withdrawn_entity") or "", {}).get(key) or (
                f"{link['withdrawn_key']} is no longer in its source under that key (restated under another, "
                "or withdrawn by a file raw does not name)"
            )
        e["details"] = json.dumps(details, sort_keys=True, separators=(",", ":"), default=str)


# raw.operator_actions: the store's fields with their warehouse types, then what the copy adds.
ACTION_COLUMN_TYPES = {
    "seq": "bigint", "action_id": "varchar", "exception_id": "varchar", "action": "varchar",
    "actor": "varchar", "acted_at": "timestamptz", "reason_code": "varchar", "comment": "varchar",
    "amount": "decimal(18, 4)", "target": "varchar", "state_before": "json", "state_after": "json",
    "prev_hash": "varchar", "entry_hash": "varchar", "effective_at": "timestamptz", "login": "varchar",
    "amount_text": "varchar", "copy_problem": "varchar",
}  # fmt: skip
WAREHOUSE_MAX_AMOUNT = Decimal("99999999999999.9999")  # DECIMAL(18, 4)


@dataclass
class ActionCopy:
    """What one run carried into raw.operator_actions."""

    copied: int
    flagged: list[str]  # entries copied with a field set to null, and why
    operator_copied: int = 0  # of them, entries a person made (not the catalog's pipeline events)


def warehouse_row(entry: dict) -> tuple[dict, list[str]]:
    """An entry in a form the warehouse insert cannot fail on, with what had to be left out.

    Entries are checked when they are written, but the log keeps what older versions
    wrote; a value the warehouse cannot hold is copied as null, kept as text, and flagged.
    """
    row = {k: entry.get(k) for k in ACTION_COLUMN_TYPES if k not in ("amount_text", "copy_problem")}
    problems: list[str] = []
    text = entry.get("amount")
    row["amount_text"] = text
    if text is not None:
        try:
            amount = Decimal(str(text).strip())
            if not amount.is_finite():
                raise ActionError("not a finite number")
            if abs(amount) > WAREHOUSE_MAX_AMOUNT:
                raise ActionError(f"outside ±{WAREHOUSE_MAX_AMOUNT:,}, what DECIMAL(18, 4) holds")
            if amount != amount.quantize(Decimal(1).scaleb(-AMOUNT_PLACES)):
                raise ActionError(f"more than {AMOUNT_PLACES} decimal places")
            row["amount"] = amount_text(amount)
        except (InvalidOperation, ValueError, ActionError) as exc:
            row["amount"] = None
            reason = str(exc) if isinstance(exc, ActionError) else "not a decimal number"
            problems.append(f"amount {str(text)[:40]!r}: {reason}")
    for key in ("acted_at", "effective_at"):
        if row.get(key) is not None:
            try:
                datetime.fromisoformat(str(row[key]))
            except ValueError:
                problems.append(f"{key} {str(row[key])[:40]!r}: not an ISO timestamp")
                row[key] = None
    for key in ("state_before", "state_after"):
        try:
            json.loads(row[key])
        except (TypeError, ValueError):
            problems.append(f"{key}: not JSON")
            row[key] = None
    row["copy_problem"] = (
        f"seq {entry['seq']}: " + "; ".join(problems) + " — copied as null; the store keeps the entry as written"
        if problems
        else None
    )
    return row, problems


def _warehouse_entry(con, seq: int) -> tuple[int, str] | None:
    row = con.execute("select seq, entry_hash from raw.operator_actions where seq = ?", [seq]).fetchone()
    return (row[0], row[1]) if row else None


def _fork_point(store: ActionStore, con) -> int | None:
    """The first seq where the warehouse's copy and the store differ (or the store ends); None if none."""
    warehouse = con.execute("select seq, entry_hash from raw.operator_actions order by seq").fetchall()
    stored = {e["seq"]: e["entry_hash"] for e in store.all_actions()}
    for seq, digest in warehouse:
        if stored.get(seq) != digest:
            return seq
    return None


def check_continuity(store: ActionStore, con) -> None:
    """Refuse to copy from a store that is not the one the warehouse has been copying.

    The copy takes only ``seq > max(seq)`` of the warehouse. After a restore from an older
    backup, new actions reuse seq numbers: they would never reach the marts. So the
    warehouse's newest entry and the newest anchor must be in the store with the same hash.
    """
    head_seq, _ = store.head()
    references = []
    newest = con.execute("select seq, entry_hash from raw.operator_actions order by seq desc limit 1").fetchone()
    if newest:
        references.append((newest[0], newest[1], "raw.operator_actions (copied by earlier runs)"))
    anchor = con.execute(
        "select seq, entry_hash, step, run_id from raw.audit_anchors order by anchor_id desc limit 1"
    ).fetchone()
    if anchor and anchor[0] > 0:
        references.append((anchor[0], anchor[1], f"raw.audit_anchors (run {anchor[3]}, step {anchor[2]})"))
    accept = (
        "if that file is lost, accept the store as it is with `recon audit accept-fork --as OPS_LEAD --reason TEXT` "
        "(the warehouse's entries from the fork on are kept in raw.operator_actions_forked). "
        "The run stops here so that no action is dropped silently."
    )
    for seq, digest, where in references:
        entry = store.entry(seq)
        if entry is not None and entry["entry_hash"] == digest:
            continue
        fork = _fork_point(store, con)
        behind = entry is None and (fork is None or fork > head_seq)
        if behind:
            raise ForkError(
                f"the action store {store.path} ends at seq {head_seq}, but the warehouse already holds seq {seq} "
                f"(hash {digest[:12]}, in {where}): the store was truncated or restored from an older backup. "
                f"Restore the newer actions.sqlite (the one whose entry seq {seq} has hash {digest[:12]}) and run "
                f"again; {accept}"
            )
        edited = _edited_entry(store, con, fork)
        if edited is not None:
            raise ForkError(
                f"the action store {store.path} was edited: its entry seq {fork} is action {edited[0]}, which the "
                f"warehouse copied with other content ({edited[1]} differ), and the hash chain from there on was "
                "recomputed to hide it. The warehouse's copy (raw.operator_actions) holds the entry as first "
                "recorded. Restore actions.sqlite from a backup and find out who changed it; the run stops here and "
                "publishes nothing until the store agrees with what was copied."
            )
        if fork is None:  # the warehouse's rows agree; only the later anchor does not
            copied = newest[0] if newest else 0
            fork_text = f"{copied + 1}" + (f" or later (up to {seq})" if seq > copied + 1 else "")
        else:
            fork_text = str(fork)
        written = max(0, head_seq - (int(fork_text.split()[0]) - 1))
        raise ForkError(
            f"the action store {store.path} and the warehouse disagree: the log forked at seq {fork_text}. "
            f"{where} holds seq {seq} with hash {digest[:12]}; the store's entry there is "
            f"{'missing' if entry is None else entry['entry_hash'][:12]}. The store was restored or replaced and "
            f"{written} new entr{'y was' if written == 1 else 'ies were'} written after that, reusing seq numbers; "
            f"copying only what is newer than the warehouse would drop them. Restore the newer actions.sqlite if "
            f"you have it and re-enter the actions written since the restore; {accept}"
        )


def copy_to_warehouse(store: ActionStore, con) -> ActionCopy:
    """Append actions the warehouse has not seen to raw.operator_actions.

    Refuses (ForkError) when the store is not a continuation of what the warehouse holds;
    never fails on an entry's content (see ``warehouse_row``).
    """
    from orchestration.ingest import ensure_raw_schema

    ensure_raw_schema(con)
    check_continuity(store, con)
    seen = con.execute("select coalesce(max(seq), 0) from raw.operator_actions").fetchall()[0][0]
    new = store.all_actions(after_seq=seen)
    flagged: list[str] = []
    if new:
        import pyarrow as pa

        rows = []
        for entry in new:
            row, problems = warehouse_row(entry)
            rows.append(row)
            if problems:
                flagged.append(row["copy_problem"])
        columns = list(ACTION_COLUMN_TYPES)
        batch = pa.Table.from_pydict(
            {k: [str(r[k]) if r[k] is not None else None for r in rows] for k in columns},
            schema=pa.schema([(k, pa.string()) for k in columns]),
        )
        con.register("new_operator_actions", batch)
        try:
            # try_cast: a value warehouse_row let through still cannot stop the run.
            con.execute(
                f"insert into raw.operator_actions ({', '.join(columns)}) select "
                + ", ".join(f"try_cast({k} as {t})" for k, t in ACTION_COLUMN_TYPES.items())  # fixed names, types
                + " from new_operator_actions order by cast(seq as bigint)"
            )
        finally:
            con.unregister("new_operator_actions")
    return ActionCopy(len(new), flagged, sum(1 for entry in new if not is_pipeline_event(entry)))


# The fields of an action a person reads (timestamps are stored in other types on the two sides).
READ_FIELDS = ("actor", "action", "exception_id", "reason_code", "comment", "amount", "target")


def _differs(key: str, was, now) -> bool:
    """Whether the warehouse's copy of a field (``was``) and the store's (``now``) differ."""
    if key == "amount" and was is not None and now is not None:
        try:
            return Decimal(str(was)) != Decimal(str(now))
        except ArithmeticError:
            return True
    return str(was if was is not None else "") != str(now if now is not None else "")


def _edited_entry(store: ActionStore, con, seq: int | None) -> tuple[str, str] | None:
    """(action id, what differs) of the first action, from ``seq`` on, that the warehouse
    copied with other content than the store now holds: edited in place, chain recomputed.

    A restore or a replacement writes new actions (new uuid4 ids) after the fork point; an
    id on both sides with another hash is a rewrite of history, whatever else was changed
    around it, which accept-fork must never bless.
    """
    if seq is None:
        return None
    cur = con.execute("select * from raw.operator_actions where seq >= ? order by seq", [seq])
    columns = [d[0] for d in cur.description]
    copied_rows = [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]
    stored = {e["action_id"]: e for e in store.all_actions() if e["seq"] >= seq}
    for copied in copied_rows:
        entry = stored.get(copied.get("action_id"))
        if entry is None or copied.get("entry_hash") == entry["entry_hash"]:
            continue
        fields = [k for k in READ_FIELDS if _differs(k, copied.get(k), entry.get(k))]
        if copied.get("seq") != entry["seq"]:
            fields.append("seq")
        return entry["action_id"], ", ".join(fields) or "its hashes"
    return None


def accept_fork(store: ActionStore, con, actor: str | None, reason: str | None) -> int:
    """Accept the store as it is: set the warehouse's entries from the fork on aside.

    For when the newer store file is lost. An ops lead does it, with a reason; the
    entries go to raw.operator_actions_forked (with who, when and why), nothing is
    deleted without a copy. Returns how many entries were set aside.
    """
    from orchestration.ingest import ensure_raw_schema

    login = store.login()
    op = store.policy.acting(login, check_text(actor, "--as", MAX_CODE_CHARS), "accept a fork")
    if "ops_lead" not in op.roles:
        raise ActionError(f"{op.name} is not an ops lead: accepting a fork of the action log needs an ops lead")
    reason = check_text(reason, "--reason", MAX_TEXT_CHARS)
    if not (reason or "").strip():
        raise ActionError("accept-fork needs --reason: say what happened to the action store")
    ensure_raw_schema(con)
    fork = _fork_point(store, con)
    edited = _edited_entry(store, con, fork)
    if edited is not None:
        raise ActionError(
            f"not a fork: action {edited[0]} (seq {fork}) was edited in the store after the warehouse copied it "
            f"({edited[1]} differ). Accepting would make the rewrite the record; restore actions.sqlite from a backup "
            "instead (raw.operator_actions holds every entry as it was first copied)"
        )
    if fork is None:
        anchor = con.execute("select seq, entry_hash from raw.audit_anchors order by anchor_id desc limit 1").fetchone()
        at = store.entry(anchor[0]) if anchor else None
        if anchor is None or anchor[0] == 0 or (at is not None and at["entry_hash"] == anchor[1]):
            raise ActionError("no fork: the store continues what the warehouse holds; nothing to accept")
        fork = con.execute("select coalesce(max(seq), 0) + 1 from raw.operator_actions").fetchone()[0]
    now = wall_clock().isoformat()
    con.execute("begin transaction")
    try:
        con.execute(
            "insert into raw.operator_actions_forked by name select *, cast(? as timestamptz) as accepted_at, "
            "? as accepted_by, ? as accept_reason from raw.operator_actions where seq >= ?",
            [now, op.name, reason, fork],
        )
        moved = con.execute("delete from raw.operator_actions where seq >= ?", [fork]).fetchone()[0]
        common = store.entry(fork - 1) if fork > 1 else None
        con.execute(
            "insert into raw.audit_anchors (anchor_id, anchored_at, run_id, step, seq, entry_hash, store_path) "
            "select coalesce(max(anchor_id), 0) + 1, cast(? as timestamptz), null, ?, ?, ?, ? from raw.audit_anchors",
            [
                now,
                f"accept_fork by {op.name} (login {login})",
                fork - 1,
                common["entry_hash"] if common else GENESIS,
                str(store.path),
            ],
        )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    # Beside the store, for `recon audit verify` (which reads no warehouse): publications
    # anchored before this on the abandoned branch are not held against the store.
    record = {"fork_seq": fork, "accepted_at": now, "accepted_by": op.name, "reason": reason}
    with open(accepted_forks_path(store.path), "a") as fh:
        fh.write(json.dumps(record) + "\n")
    return moved


def accepted_forks_path(store_path: Path) -> Path:
    return Path(store_path).with_name(Path(store_path).name + ".accepted_forks.jsonl")


def accepted_forks(store_path: Path) -> list[dict]:
    """The forks an ops lead accepted for this store (accept_fork), oldest first."""
    path = accepted_forks_path(store_path)
    out = []
    try:
        for line in path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    except OSError:
        return []
    return out


def superseded_by_fork(anchor: dict, forks: list[dict]) -> dict | None:
    """The accepted fork that abandoned the branch an archived ``anchor`` points into, if any:
    the anchor was taken before the fork was accepted, at or past the fork's seq."""
    for fork in forks:
        try:
            # Both to the second: an anchor of the same second as the acceptance came before it.
            anchored_first = datetime.fromisoformat(str(anchor.get("anchored_at"))) <= datetime.fromisoformat(
                str(fork["accepted_at"])
            )
        except (TypeError, ValueError):
            continue
        if int(anchor.get("seq", 0)) >= int(fork["fork_seq"]) and anchored_first:
            return fork
    return None
