"""`recon trace`: lineage of an order, a match and an exception on a warehouse the real pipeline built.

One generated agency, one real Dagster run (ingest + dbt build) per module; every trace
opens the DuckDB file read-only and the action store SQLite file read-only.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from orchestration import pipeline
from orchestration.actions import ActionStore
from orchestration.lab import generate
from orchestration.trace import TraceError, render, trace
from orchestration.trace.render import _staged_parts


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("trace")
    mp = pytest.MonkeyPatch()
    mp.setenv("RECON_HOME", str(home))
    mp.setenv("RECON_DUCKDB_PATH", str(home / "warehouse.duckdb"))
    mp.setenv("DAGSTER_HOME", str(home / "dagster"))
    mp.delenv("RECON_ACTIONS_PATH", raising=False)
    mp.delenv("RECON_AS_OF", raising=False)
    generate.generate(home, seed=11, orders=300)
    assert pipeline.run_pipeline(), "the Dagster run failed: see the log above"
    yield home
    mp.undo()


@pytest.fixture(scope="module")
def warehouse(home: Path) -> Path:
    return home / "warehouse.duckdb"


def query(path: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def test_order_with_a_matched_invoice_shows_file_row_pass_and_rule(warehouse: Path, home: Path) -> None:
    order_id, match_id, pass_name, rule_version, invoice_id = query(
        warehouse,
        "select order_id, match_id, match_pass, rule_version, invoice_id from marts.fct_order_invoice_matches "
        "where match_pass = 'reference_exact' order by order_id limit 1",
    )[0]
    source_file, row_number, sha = query(
        warehouse,
        "select orders.source_file, orders.source_row_number, log.file_sha256 from staging.stg_crm__orders as orders "
        "inner join raw.ingestion_log as log on orders.batch_id = log.batch_id where orders.order_id = ?",
        [order_id],
    )[0]
    run_id = query(warehouse, "select distinct dagster_run_id from marts.fct_reconciliation_matches")[0][0]

    result = trace(warehouse, home / "actions.sqlite", order_id)

    assert (result.kind, result.subject_id) == ("order", order_id)
    order = result.records[0]
    assert (order.kind, order.key, order.role) == ("order", order_id, "traced")
    staged_rows = [r for r in order.source_rows if r["status"] == "staged"]
    assert [(r["source_file"], r["row_number"], r["file_sha256"]) for r in staged_rows] == [
        (source_file, row_number, sha)
    ]
    assert order.staged[0]["row"]["order_ref_normalised"]  # the value the reference passes compared
    # The matched billing item is followed back to its own invoice file.
    assert any(r.kind == "billing_item" and r.key.startswith(invoice_id + "#") for r in result.records)
    pairs = [p for m in result.matching if m["reconciliation"] == "orders_invoices" for p in m["pairs"]]
    assert {(p["match_id"], p["pass_name"], p["rule_version"]) for p in pairs} >= {(match_id, pass_name, rule_version)}
    assert run_id in {r["dagster_run_id"] for r in result.runs}

    text = render(result)
    assert f"{source_file}  row {row_number}  staged" in text
    assert f"pass {pass_name}  rule {rule_version}" in text
    # A deterministic pass decided it: its score is shown as no more than a score.
    assert "(score only: the pass decided)" in text
    assert match_id in text and run_id in text
    doc = json.loads(json.dumps(result.to_dict()))  # --json: plain JSON types only
    assert doc["records"][0]["source_rows"][0]["row_number"] == row_number


def test_order_shows_its_po_number() -> None:
    # An invoice may quote the client's PO number instead of the order reference (a PO typed
    # "PO 2026/123" for "PO-2026-000123" resolves to no order): the operator comparing the
    # invoice's reference with the order's needs the order's PO number beside its order_ref.
    # Unit level: the generated fixture's orders carry no PO number.
    row = {
        "client_name": "Greystone Legal LLP",
        "client_name_normalised": "greystone legal llp",
        "order_ref": "CL-2417",
        "order_ref_normalised": "CL:2417",
        "po_number": "PO-2026-000123",
        "order_type": "insertion_order",
    }

    parts = _staged_parts("stg_crm__orders", row)

    assert "po_number PO-2026-000123" in parts
    assert "order_ref 'CL-2417' → 'CL:2417'" in parts


def test_exception_shows_the_operators_claim(warehouse: Path, home: Path) -> None:
    store = ActionStore()
    (first, *_) = store.list_exceptions(team="finance", status="open")
    eid = first["exception_id"]
    store.act("claim", eid, "alice")

    result = trace(warehouse, store.path, eid[:8])

    assert (result.kind, result.subject_id) == ("exception", eid)
    assert result.records[0].key == first["record_id"]
    traced = [e for e in result.exceptions if e["is_traced"]]
    assert [(e["exception_id"], e["owner_team"]) for e in traced] == [(eid, "finance")]
    assert any(h["event_type"] == "detected" for h in traced[0]["history"])
    claims = [a for a in result.actions if a["exception_id"] == eid]
    assert [(a["action"], a["actor"], a["state_after"]["status"]) for a in claims] == [("claim", "alice", "claimed")]
    assert not claims[0]["is_in_warehouse"]  # the next run carries it into raw.operator_actions

    text = render(result)
    assert f"alice claim {eid[:8]}  open → claimed" in text
    assert "not in the warehouse yet" in text


def test_match_id_traces_both_sides(warehouse: Path) -> None:
    match_id, left_key, right_key = query(
        warehouse,
        "select match_id, left_key, right_key from marts.fct_reconciliation_matches "
        "where reconciliation = 'delivery_orders' and decision = 'matched' order by match_id limit 1",
    )[0]

    result = trace(warehouse, None, match_id)

    assert result.kind == "match"
    assert [(r.kind, r.key) for r in result.records] == [("order", left_key), ("campaign", right_key)]
    assert {m["reconciliation"] for m in result.matching} == {"delivery_orders"}
    campaign = result.records[1]
    assert campaign.source_rows and {r["raw_table"] for r in campaign.source_rows} == {"ads__delivery"}
    assert "no action store given" in result.notes[0]


def test_a_quarantined_invoice_is_traced_to_the_rejected_row(warehouse: Path) -> None:
    invoice_id, source_file, row_number, reason = query(
        warehouse,
        "select record->>'$.invoice_id', source_file, row_number, reason from raw.quarantine "
        "where source = 'billing' and entity = 'invoices' order by row_number limit 1",
    )[0]

    result = trace(warehouse, None, invoice_id)

    quarantined = [q for r in result.records for q in r.quarantined_rows]
    assert [(q["source_file"], q["row_number"]) for q in quarantined] == [(source_file, row_number)]
    assert not result.matching  # never staged, so never reconciled
    assert reason in render(result)


def test_lines_whose_header_was_quarantined_are_raised_on_their_invoice(warehouse: Path) -> None:
    """An invoice header quarantined at load while its lines loaded: the lines bill nothing,
    so the invoice is raised (invoice_lines_without_header) at what its lines carry, and its
    trace shows the lines staged and the header's rejected row."""
    headless = query(
        warehouse,
        "select lines.invoice_id, sum(lines.net_amount) from staging.stg_billing__invoice_lines as lines"
        " where lines.invoice_id not in (select invoice_id from staging.stg_billing__invoices)"
        " group by lines.invoice_id order by lines.invoice_id",
    )
    quarantined_headers = {
        r[0]
        for r in query(
            warehouse,
            "select record->>'$.invoice_id' from raw.quarantine where source = 'billing' and entity = 'invoices'",
        )
    }
    assert headless and {i for i, _ in headless} <= quarantined_headers, (headless, quarantined_headers)
    raised = query(
        warehouse,
        "select record_id, amount_at_risk, currency, exception_id from marts.fct_reconciliation_exceptions"
        " where exception_type = 'invoice_lines_without_header' order by record_id",
    )
    assert [(i, amount, currency) for i, amount, currency, _ in raised] == [(i, a, None) for i, a in headless]
    # Nothing else bills them: no billing item of those invoices.
    assert not query(
        warehouse,
        "select 1 from intermediate.int_invoice_lines_billable where invoice_id in (select unnest(?))",
        [[i for i, _ in headless]],
    )

    result = trace(warehouse, None, raised[0][3])
    assert result.kind == "exception"
    [record] = result.records
    assert record.key == raised[0][0]
    assert record.quarantined_rows, "the header's rejected row"
    assert [s["model"] for s in record.staged] == ["stg_billing__invoice_lines"] * len(record.staged)
    assert record.staged


def test_publication_hook_names_the_served_run(warehouse: Path) -> None:
    order_id, run_id = query(
        warehouse, "select order_id, dagster_run_id from marts.fct_order_invoice_matches order by order_id limit 1"
    )[0]
    publication = {"publication": "p1", "run_id": run_id, "code_version": {"git_sha": "abc", "dirty": False}}
    assert "the traced run is the one being served" in render(trace(warehouse, None, order_id, publication))
    assert "publication: none given" in render(trace(warehouse, None, order_id))


def test_unknown_identifier_says_what_to_type(warehouse: Path) -> None:
    with pytest.raises(TraceError) as info:
        trace(warehouse, None, "SO-99999999")
    message = str(info.value)
    assert "SO-99999999" in message and "exception id" in message and "order id" in message
    assert info.value.exit_code == 4
    with pytest.raises(TraceError, match="at least 6 characters"):
        trace(warehouse, None, "ab12")
    with pytest.raises(TraceError, match="no warehouse"):
        trace(warehouse.with_name("missing.duckdb"), None, "SO-00000001")


def test_a_prefix_shared_by_two_exceptions_is_refused(warehouse: Path, tmp_path: Path) -> None:
    # md5 ids rarely share 8 characters, so a copy of the warehouse gets a twin of a real
    # exception: same first 8 characters, different after.
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(warehouse, copy)
    con = duckdb.connect(str(copy))
    try:
        eid = con.execute("select min(exception_id) from marts.fct_exception_current").fetchone()[0]
        twin = eid[:8] + ("0" if eid[8] != "0" else "1") + eid[9:]
        con.execute(
            "insert into marts.fct_exception_current "
            "select * replace (? as exception_id) from marts.fct_exception_current where exception_id = ?",
            [twin, eid],
        )
    finally:
        con.close()

    with pytest.raises(TraceError, match="matches 2 ids .*type more characters") as info:
        trace(copy, None, eid[:8])
    assert info.value.exit_code == 2
    assert trace(copy, None, eid[:9]).subject_id == eid  # one more character settles it


def test_a_credit_note_or_an_ad_credit_is_traced_to_its_file_and_row(warehouse: Path, home: Path) -> None:
    # A tryout: `recon trace CN-1` said "nothing in the warehouse is called 'CN-1'" for a
    # credit note loaded and staged (an operator resolving with credit_issued looks it up),
    # and so for an ad platform's credit: neither was a kind trace knew.
    for relation, key, kind in (
        ("staging.stg_billing__credit_notes", "credit_note_id", "credit_note"),
        ("staging.stg_ads__credits", "credit_id", "ad_credit"),
    ):
        record_id, source_file, row_number = query(
            warehouse, f"select {key}, source_file, source_row_number from {relation} order by 1 limit 1"
        )[0]
        result = trace(warehouse, home / "actions.sqlite", record_id)
        assert (result.kind, result.subject_id) == (kind, record_id)
        rows = [r for r in result.records[0].source_rows if r["status"] == "staged"]
        assert [(r["source_file"], r["row_number"]) for r in rows] == [(source_file, row_number)]
        assert source_file in render(result)
