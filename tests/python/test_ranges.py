"""Every value the contract accepts is one every model can compute with.

A small generated world plus, for every entity, rows at the edges of the contract's
ranges: the largest amount, the most negative one where negatives mean something, the
largest whole number and quantity, the first and last accepted dates. A whole run
(Dagster: ingest, gates, dbt build, publication) must load them all and publish; the
same rows one step beyond the edge are quarantined with the range in the reason.
Before contract 2.1.0, an amount of 99,999,999,999,999.9999 passed ingest and then
overflowed DECIMAL(18) in a pairs model, stopping every run.
"""

from __future__ import annotations

import csv
import json
import shutil
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from orchestration import contract, ingest, pipeline, publish
from orchestration.lab import generate

EDGE_DECIMAL = Decimal(contract.MAX_ABS_DECIMAL) - Decimal("0.0001")
EDGE_INTEGER = contract.MAX_ABS_INTEGER - 1


BILLED = {("billing", "invoices"), ("billing", "credit_notes")}


def _value(ent: contract.Entity, col: contract.Column, high: bool, currency: str | None) -> str:
    """The value at the edge of ``col``'s range (``high``: the top, else the bottom), an
    amount's in ``currency`` (contract.AMOUNT_LIMITS) when its row carries one."""
    if col.kind == "decimal":
        if col.name in ("quantity",):
            return "999.9999" if high else ("-999.9999" if col.negative else "0")
        limit = contract.MAX_ABS_DECIMAL
        if currency and "currency" in ent.column_names:
            limit = min(limit, contract.AMOUNT_LIMITS[currency])
        if col.name in ("unit_value", "unit_price"):
            # Rules bound quantity x unit value below the range: stay just inside.
            top = str(Decimal(limit) / 1000 - Decimal("0.0001"))
            return top if high else ("-" + top if col.negative else "0")
        step = Decimal("0.0001")
        if currency and (ent.source, ent.name) in BILLED:
            # A billing document bills whole smallest units of its currency (contract 2.9.0).
            step = Decimal(1).scaleb(-contract.MINOR_UNITS[currency])
        top = str(Decimal(limit) - step)
        return top if high else ("-" + top if col.negative else "0")
    if col.kind == "integer":
        return str(EDGE_INTEGER) if high else ("-" + str(EDGE_INTEGER) if col.negative else "0")
    if col.kind == "date":
        return contract.MAX_DATE if high else contract.MIN_DATE
    if col.kind == "timestamp":
        return contract.MAX_DATE + "T23:59:59Z" if high else contract.MIN_DATE + "T00:00:00Z"
    if col.kind == "currency":
        return currency or col.example
    if col.allowed:
        return col.allowed[0]
    return col.example


# Each edge row: the top or the bottom of every range, in a currency. JPY has the widest
# range (10^12), GBP the tightest (10^10) and the highest rate, so its top converts into JPY
# as the largest amount any model sees.
EDGES = ((True, "JPY"), (False, "JPY"), (True, "GBP"))


def _edge_rows(ent: contract.Entity) -> list[dict[str, str]]:
    out = []
    for n, (high, currency) in enumerate(EDGES, start=1):
        row = {c.name: _value(ent, c, high, currency) for c in ent.columns}
        for key in ent.key:
            col = next(c for c in ent.columns if c.name == key)
            if col.kind == "string":
                row[key] = f"EDGE-{n}-{row[key]}"
        # An invoice's net + tax is its total (contract 2.9.0): net and total at the edge, no tax.
        if "total_amount" in row:
            row["tax_amount"] = "0"
            row["total_amount"] = row["net_amount"]
        # A service period must not end before it starts, whichever edge we are at.
        if "service_start_date" in row:
            row["service_start_date"] = row["service_end_date"]
        out.append(row)
    return out


def _write(path: Path, rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture(scope="module")
def edge_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bool]:
    home = tmp_path_factory.mktemp("edges")
    mp = pytest.MonkeyPatch()
    mp.setenv("RECON_HOME", str(home))
    mp.setenv("RECON_DUCKDB_PATH", str(home / "warehouse.duckdb"))
    mp.setenv("DAGSTER_HOME", str(home / "dagster"))
    generate.generate(home, seed=3, orders=300)
    for ent in contract.ENTITIES:
        _write(home / "landing" / ent.source / ent.name / "edges.csv", _edge_rows(ent))
        beyond = {c.name: v for c, v in zip(ent.columns, _edge_rows(ent)[0].values(), strict=True)}
        beyond[ent.key[0]] = "BEYOND-" + beyond[ent.key[0]]
        number = next((c for c in ent.columns if c.kind == "decimal" and not c.max_abs), None)
        if number is not None:
            beyond[number.name] = str(contract.MAX_ABS_DECIMAL)
            _write(home / "landing" / ent.source / ent.name / "beyond.csv", [beyond])
    _write_many_rows_at_the_edge(home / "landing")
    _write_conversions_at_the_edge(home / "landing")
    _write_quote_of_an_old_order(home / "landing")
    ingest.ingest_landing(home / "landing", home / "warehouse.duckdb")
    _insert_rows_loaded_under_2_6_0(home / "warehouse.duckdb")
    ok = pipeline.run_pipeline()
    yield home, ok
    mp.undo()


MANY = 150  # rows at the edge adding up to one record: 150 x 999,999,999,999.9999 > DECIMAL(18, 4)


def _write_many_rows_at_the_edge(landing: Path) -> None:
    """A campaign with MANY days, an invoice with MANY lines and a project with MANY
    deliverables, every amount at the top of its range: each value is accepted, their total
    (about 1.5 x 10^14) is not one the models can compute with."""
    by_name = {ent.name: ent for ent in contract.ENTITIES}
    day0 = date(2026, 1, 1)
    template = _edge_rows(by_name["delivery"])[0]
    _write(landing / "ads/delivery/many_days.csv", [
        {**template, "campaign_id": "MANY-DAYS", "delivery_date": (day0 + timedelta(days=n)).isoformat()}
        for n in range(MANY)
    ])  # fmt: skip
    # A campaign of one day whose platform credits add up past the range (int_ads_campaigns'
    # credit_amount overflowed, and the run stopped).
    _write(landing / "ads/delivery/many_credits_day.csv", [{**template, "campaign_id": "MANY-CREDITS"}])
    credit = _edge_rows(by_name["credits"])[0]
    _write(landing / "ads/credits/many_credits.csv", [
        {**credit, "credit_id": f"MANY-CREDITS-{n}", "campaign_id": "MANY-CREDITS"} for n in range(MANY)
    ])  # fmt: skip
    header = {**_edge_rows(by_name["invoices"])[0], "invoice_id": "MANY-LINES"}
    _write(landing / "billing/invoices/many_lines_header.csv", [header])
    template = _edge_rows(by_name["invoice_lines"])[0]
    _write(landing / "billing/invoice_lines/many_lines.csv", [
        {**template, "invoice_id": "MANY-LINES", "line_number": str(n + 1), "quantity": "1",
         "unit_price": "999999999.9999"}
        for n in range(MANY)
    ])  # fmt: skip
    template = _edge_rows(by_name["deliverables"])[0]
    _write(landing / "fulfilment/deliverables/many_deliverables.csv", [
        {**template, "deliverable_id": f"MANY-DELIVERABLES-{n}", "project_id": "MANY-DELIVERABLES"}
        for n in range(MANY)
    ])  # fmt: skip


GBP_TOP = str(Decimal(contract.AMOUNT_LIMITS["GBP"]) - Decimal("0.0001"))
JPY_TOP = str(EDGE_DECIMAL)


def _write_conversions_at_the_edge(landing: Path) -> None:
    """Amounts at the top of the tightest range converted into the weakest currency, and an
    order whose MANY matched campaigns, each within range, add up past it.

    Before contract 2.7.0 every currency had the range 10^12: 999,999,999,999 GBP on an order
    quoted by a JPY invoice (the pairs convert the order into the invoice's currency) or spent
    by a GBP campaign on a JPY order was about 2 x 10^14 JPY, and the run stopped."""
    order = {"order_type": "insertion_order", "service_start_date": "2026-03-01", "service_end_date": "2026-03-31",
             "status": "booked", "updated_at": "2026-02-20T09:30:00Z"}  # fmt: skip
    _write(landing / "crm/orders/conversions.csv", [
        {**order, "order_id": "FX-GBP", "client_id": "C-FX1", "client_name": "Edge Fx One",
         "order_ref": "PO-EDGE-FX-1", "amount": GBP_TOP, "currency": "GBP"},
        {**order, "order_id": "FX-JPY", "client_id": "C-FX2", "client_name": "Edge Fx Two",
         "order_ref": "PO-EDGE-FX-2", "amount": "1000000", "currency": "JPY"},
        {**order, "order_id": "MANY-CAMPAIGNS", "client_id": "C-FX3", "client_name": "Edge Fx Three",
         "order_ref": "PO-EDGE-FX-3", "amount": "5000", "currency": "JPY"},
        # One step past GBP's range: quarantined, naming the currency's range.
        {**order, "order_id": "BEYOND-GBP", "client_id": "C-FX1", "client_name": "Edge Fx One",
         "order_ref": "PO-EDGE-FX-4", "amount": str(contract.AMOUNT_LIMITS["GBP"]), "currency": "GBP"},
    ])  # fmt: skip
    _write(landing / "billing/invoices/conversions.csv", [
        {"invoice_id": "FX-JPY-INV", "client_name": "Edge Fx One", "reference": "PO-EDGE-FX-1",
         "issue_date": "2026-04-03", "currency": "JPY", "net_amount": "1000", "tax_amount": "0",
         "total_amount": "1000", "status": "issued"},
    ])  # fmt: skip
    _write(landing / "billing/invoice_lines/conversions.csv", [
        {"invoice_id": "FX-JPY-INV", "line_number": "1", "reference": "PO-EDGE-FX-1", "net_amount": "1000"},
    ])  # fmt: skip
    day = {"platform": "meta", "account_id": "act_fx", "delivery_date": "2026-03-05"}
    _write(landing / "ads/delivery/conversions.csv", [
        {**day, "campaign_id": "FX-GBP-CMP", "campaign_name": "Edge Fx Two | PO-EDGE-FX-2 | Spring",
         "spend": GBP_TOP, "currency": "GBP"},
    ] + [
        {**day, "campaign_id": f"MANY-CAMPAIGNS-{n}", "campaign_name": "Edge Fx Three | PO-EDGE-FX-3 | Summer",
         "spend": JPY_TOP, "currency": "JPY"}
        for n in range(MANY)
    ])  # fmt: skip


OLD_USD = "990000000000"  # within every currency's range under contract 2.6.0 (10^12), past USD's since 2.7.0


def _write_quote_of_an_old_order(landing: Path) -> None:
    """A JPY invoice quoting OLD-USD: the pairs convert the order into yen."""
    _write(landing / "billing/invoices/old_order_quote.csv", [
        {"invoice_id": "OLD-QUOTE", "client_name": "Oldco One", "reference": "PO-OLD-1", "issue_date": "2026-04-03",
         "currency": "JPY", "net_amount": "1000", "tax_amount": "0", "total_amount": "1000", "status": "issued"},
    ])  # fmt: skip
    _write(landing / "billing/invoice_lines/old_order_quote.csv", [
        {"invoice_id": "OLD-QUOTE", "line_number": "1", "reference": "PO-OLD-1", "net_amount": "1000"},
    ])  # fmt: skip


def _insert_rows_loaded_under_2_6_0(warehouse: Path) -> None:
    """An order, an invoice and a credit note of 990,000,000,000 USD, each a batch of one row
    logged as loaded under contract 2.6.0: ingest quarantines such a row today, but raw is
    append-only and never checked again. Before contract 2.8.0 they stayed in staging, and the
    order, converted into yen for OLD-QUOTE (153,179,637,939,037.60 JPY), stopped the build in
    int_orders_invoices__pairs."""
    old = {
        ("crm", "orders"): {"order_id": "OLD-USD", "client_id": "C-OLD1", "client_name": "Oldco One",
                            "order_ref": "PO-OLD-1", "order_type": "insertion_order", "amount": OLD_USD,
                            "currency": "USD", "service_start_date": "2026-03-01", "service_end_date": "2026-03-31",
                            "status": "booked", "updated_at": "2026-02-20 09:30:00"},
        ("billing", "invoices"): {"invoice_id": "OLD-INV", "client_name": "Oldco Two", "reference": "PO-OLD-2",
                                  "issue_date": "2026-04-03", "currency": "USD", "net_amount": OLD_USD,
                                  "tax_amount": "0", "total_amount": OLD_USD, "status": "issued"},
        # Crediting the JPY order FX-JPY: converted into yen too.
        ("billing", "credit_notes"): {"credit_note_id": "OLD-CN", "client_name": "Edge Fx Two",
                                      "reference": "PO-EDGE-FX-2", "issue_date": "2026-04-05", "currency": "USD",
                                      "net_amount": OLD_USD, "reason": "goodwill"},
    }  # fmt: skip
    con = duckdb.connect(str(warehouse))
    try:
        for (source, entity), row in old.items():
            batch = con.execute("select max(batch_id) + 1 from raw.ingestion_log").fetchone()[0]
            path = f"{source}/{entity}/loaded_under_2_6_0.csv"
            con.execute(
                "insert into raw.ingestion_log (batch_id, source, entity, source_file, file_sha256, status,"
                " is_restatement, rows_read, rows_loaded, rows_quarantined, contract_version, ingested_at, delivery)"
                " values (?, ?, ?, ?, ?, 'loaded', false, 1, 1, 0, ?, ?, 'incremental')",
                [batch, source, entity, path, f"{batch:064d}", "2.6.0", datetime(2026, 6, 1, 9)],
            )
            lineage = {"_batch_id": batch, "_source_file": path, "_file_sha256": f"{batch:064d}", "_row_number": 1,
                       "_ingested_at": datetime(2026, 6, 1, 9)}  # fmt: skip
            values = {**row, **lineage}
            con.execute(
                f"insert into raw.{source}__{entity} ({', '.join(values)}) values ({', '.join('?' * len(values))})",
                list(values.values()),  # table and column names from the contract and this test
            )
    finally:
        con.close()


def test_amounts_at_the_edge_convert_into_any_currency_and_an_order_past_the_range_is_held_out(
    edge_home: tuple[Path, bool],
) -> None:
    home, ok = edge_home
    assert ok, "a run with amounts the contract accepts, converted between currencies, must publish"
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        orders = dict(
            con.execute(
                "select order_id, delivered_amount from marts.fct_reconciled_orders"
                " where order_id in ('FX-GBP', 'FX-JPY', 'MANY-CAMPAIGNS')"
            ).fetchall()
        )
        compared = con.execute(
            "select max(left_amount_compared) from intermediate.int_orders_invoices__pairs"
            " where left_key = 'FX-GBP' and right_currency = 'JPY'"
        ).fetchone()[0]
        many = con.execute(
            "select count(*), count(distinct decisions.left_key) from raw.ads__delivery as delivery"
            " left join intermediate.int_delivery_orders__decisions as decisions"
            " on decisions.right_key = delivery.campaign_id and decisions.decision = 'matched'"
            " where delivery.campaign_id like 'MANY-CAMPAIGNS-%'"
        ).fetchone()
        held_out = con.execute(
            "select order_id, legs_out_of_range from intermediate.int_orders_out_of_range"
        ).fetchall()
        beyond = con.execute(
            "select column_name, reason from raw.quarantine where source_file like '%orders/conversions.csv'"
        ).fetchall()
    finally:
        con.close()
    # The GBP order and the GBP campaign on a JPY order are converted, about 208 times larger.
    assert set(orders) == {"FX-GBP", "FX-JPY"}, orders
    assert orders["FX-JPY"] > 10**12, orders
    assert compared is not None and compared > 10**12, compared
    # MANY campaigns, each within JPY's range, all matched to one order whose delivered leg
    # adds up past it: the order is held out (raised: the test below), its campaigns loaded.
    assert many == (MANY, 1), many
    assert held_out == [("MANY-CAMPAIGNS", "delivered")], held_out
    assert [column for column, _ in beyond] == ["amount"], beyond
    assert beyond[0][1].startswith("out of range: amount in USD, EUR, GBP, CAD, AUD, CHF must be below 10,000,000,000")


def test_a_run_with_every_value_at_the_edge_of_its_range_publishes(edge_home: tuple[Path, bool]) -> None:
    home, ok = edge_home
    assert ok, "a run with values the contract accepts failed: see the log above"
    assert publish.current() is not None
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        for ent in contract.ENTITIES:
            loaded = con.execute(
                f'select count(*) from raw."{ent.table}" where _source_file like ?',  # table name from the contract
                [f"%/{ent.name}/edges.csv"],
            ).fetchone()[0]
            assert loaded == len(EDGES), f"{ent.table}: {loaded} of {len(EDGES)} edge rows loaded"
        quarantined = con.execute(
            "select source_file, column_name, reason from raw.quarantine where source_file like '%beyond.csv'"
        ).fetchall()
    finally:
        con.close()
    assert quarantined, "values beyond the range must be quarantined"
    assert all("out of range" in reason and "1,000,000,000,000" in reason for *_, reason in quarantined)


def test_records_whose_rows_add_up_past_the_range_are_held_out_and_raised(edge_home: tuple[Path, bool]) -> None:
    """Before: 150 days of spend at the top of the range, each accepted, overflowed
    DECIMAL(18, 4) in int_ads_campaigns, so the build failed, nothing was published, and every
    later run failed the same way until the file was removed. Now the campaign, the invoice and
    the project are held out of matching and raised, and their rows stay loaded."""
    home, ok = edge_home
    assert ok, "a run with totals beyond the range must still publish"
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        loaded = {
            name: con.execute(f"select count(*) from raw.{table} where {column} = ?", [key]).fetchone()[0]
            for name, table, column, key in (
                ("delivery", "ads__delivery", "campaign_id", "MANY-DAYS"),
                ("lines", "billing__invoice_lines", "invoice_id", "MANY-LINES"),
                ("deliverables", "fulfilment__deliverables", "project_id", "MANY-DELIVERABLES"),
            )
        }
        raised = con.execute(
            "select record_entity, record_id, amount_at_risk from marts.fct_reconciliation_exceptions"
            " where exception_type = 'amount_out_of_range' order by record_id"
        ).fetchall()
        held_out = con.execute(
            "select count(*) from intermediate.int_ads_campaigns where campaign_id in ('MANY-DAYS', 'MANY-CREDITS')"
            " union all "
            "select count(*) from intermediate.int_invoice_billing_items where invoice_id = 'MANY-LINES' union all "
            "select count(*) from intermediate.int_fulfilment_projects where project_id = 'MANY-DELIVERABLES'"
        ).fetchall()
    finally:
        con.close()
    assert loaded == {"delivery": MANY, "lines": MANY, "deliverables": MANY}, loaded
    assert raised == [
        # Invoice lines carry no currency: at the general range's top (10^12) under the GBP
        # edge header, the invoice is past GBP's range (10^10).
        ("stg_billing__invoices", "EDGE-3-INV-0004567", None),
        ("stg_crm__orders", "MANY-CAMPAIGNS", None),
        ("int_ads_campaigns", "MANY-CREDITS", None),
        ("int_ads_campaigns", "MANY-DAYS", None),
        ("int_fulfilment_projects", "MANY-DELIVERABLES", None),
        ("stg_billing__invoices", "MANY-LINES", None),
        # Loaded under contract 2.6.0, past USD's range since 2.7.0: held out of staging.
        ("stg_billing__credit_notes", "OLD-CN", None),
        ("stg_billing__invoices", "OLD-INV", None),
        ("stg_crm__orders", "OLD-USD", None),
        # The edge deliverables share one project (project_id is no key): JPY's tops added up
        # under the project's currency, GBP (the first of its currencies).
        ("int_fulfilment_projects", "PRJ-0456", None),
    ], raised
    assert held_out == [(0,), (0,), (0,)], held_out


def test_rows_loaded_under_an_older_contract_past_the_range_are_held_out_of_staging(
    edge_home: tuple[Path, bool],
) -> None:
    """The three 2.6.0 rows (raised: the test above) stay in raw and counted as loaded, are
    in no staging model, and the JPY invoice that quoted the order is matched to nothing."""
    home, ok = edge_home
    assert ok, "a run with rows loaded under an older contract past today's range must publish"
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        counted = con.execute(
            "select log.source_file, log.rows_loaded, count(orders._batch_id) + count(invoices._batch_id)"
            " + count(notes._batch_id) from raw.ingestion_log as log"
            " left join raw.crm__orders as orders on orders._batch_id = log.batch_id"
            " left join raw.billing__invoices as invoices on invoices._batch_id = log.batch_id"
            " left join raw.billing__credit_notes as notes on notes._batch_id = log.batch_id"
            " where log.contract_version = '2.6.0' group by all order by 1"
        ).fetchall()
        staged = con.execute(
            "select count(*) from staging.stg_crm__orders where order_id = 'OLD-USD' union all "
            "select count(*) from staging.stg_billing__invoices where invoice_id = 'OLD-INV' union all "
            "select count(*) from staging.stg_billing__credit_notes where credit_note_id = 'OLD-CN'"
        ).fetchall()
        held = con.execute(
            "select record_entity, record_id, source_file from staging.stg_ingestion__amounts_past_range order by 2"
        ).fetchall()
    finally:
        con.close()
    assert counted == [
        ("billing/credit_notes/loaded_under_2_6_0.csv", 1, 1),
        ("billing/invoices/loaded_under_2_6_0.csv", 1, 1),
        ("crm/orders/loaded_under_2_6_0.csv", 1, 1),
    ], counted
    assert staged == [(0,), (0,), (0,)], staged
    # recon trace names why the order is not staged (it said "older version" before).
    from orchestration.trace import trace

    (row,) = trace(home / "warehouse.duckdb", None, "order:OLD-USD").records[0].source_rows
    assert row["status"].startswith("held out of staging: an amount of the record is past"), row
    assert held == [
        ("stg_billing__credit_notes", "OLD-CN", "billing/credit_notes/loaded_under_2_6_0.csv"),
        ("stg_billing__invoices", "OLD-INV", "billing/invoices/loaded_under_2_6_0.csv"),
        ("stg_crm__orders", "OLD-USD", "crm/orders/loaded_under_2_6_0.csv"),
    ], held


def test_a_dbt_build_by_hand_restages_what_other_rules_staged_and_a_run_after_it_rebuilds_nothing(
    edge_home: tuple[Path, bool], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`dbt run` by hand (no RECON_PROJECT_SHA) after the rules changed: staging restages what
    the older rules staged, and only that, and the next `recon run` does not rebuild staging.

    Before, a build by hand matched watermarks on RECON_PROJECT_SHA's empty value: the first
    restaged every key (no watermark of its own), a second one after a change of the contract
    restaged nothing and left records staged under the older rules, silently; and the run
    after either rebuilt every incremental model whole (another digest).
    """
    from orchestration.defs.dbt import parse_state_path, project_vars, staged_by_another_version, staging_digests

    home, ok = edge_home
    assert ok
    warehouse_path = home / "warehouse.duckdb"
    manifest = json.loads(pipeline.manifest_path().read_text())
    digests = staging_digests(manifest, project_vars())
    # Another range in the contract, or another var a staging macro reads: other digests.
    ranges = next(m for m in manifest["macros"].values() if m["name"] == "recon_amount_limit")
    ranges["macro_sql"] = ranges["macro_sql"].replace("10000000000 ", "20000000000 ")
    assert all(digests[m] != d for m, d in staging_digests(manifest, project_vars()).items())
    suffixes = staging_digests(manifest, {**project_vars(), "legal_suffixes": ["gmbh"]})["stg_crm__clients"]
    assert suffixes != staging_digests(manifest, project_vars())["stg_crm__clients"]
    con = duckdb.connect(str(warehouse_path))
    try:
        # dbt's digest (the run's records) is the one orchestration computes from the manifest.
        recorded = dict(
            con.execute(
                "select model, staging_digest from raw.staged_batches "
                "qualify row_number() over (partition by model order by staged_at desc) = 1"
            ).fetchall()
        )
        assert len(recorded) == 9 and recorded == {model: digests[model] for model in recorded}, (recorded, digests)
        assert staged_by_another_version(con) == []
        # Clients staged by older rules; one lead changed since its staging, under these rules.
        con.execute("update raw.staged_batches set staging_digest = 'older rules' where model = 'stg_crm__clients'")
        con.execute("update staging.stg_crm__clients set legal_name = 'STAGED BY OLDER RULES'")
        lead_id, email = con.execute(
            "select lead_id, email from staging.stg_crm__leads order by lead_id limit 1"
        ).fetchone()
        con.execute("update staging.stg_crm__leads set email = 'not restaged' where lead_id = ?", [lead_id])
        clients = con.execute("select count(*) from staging.stg_crm__clients").fetchone()[0]
    finally:
        con.close()

    monkeypatch.delenv("RECON_PROJECT_SHA", raising=False)
    target = tmp_path / "target"
    target.mkdir()
    shutil.copyfile(parse_state_path(), target / pipeline.PARTIAL_PARSE)  # the run's parse, no full one
    pipeline._dbt("run", "--quiet", "--select", "stg_crm__clients", "stg_crm__leads", target_path=target)

    con = duckdb.connect(str(warehouse_path))
    try:
        assert con.execute(
            "select count(*), count(*) filter (where legal_name = 'STAGED BY OLDER RULES') "
            "from staging.stg_crm__clients"
        ).fetchone() == (clients, 0)
        assert con.execute("select email from staging.stg_crm__leads where lead_id = ?", [lead_id]).fetchone() == (
            "not restaged",
        )
        con.execute("update staging.stg_crm__leads set email = ? where lead_id = ?", [email, lead_id])
        by_hand = con.execute(
            "select model, project_sha256, staging_digest from raw.staged_batches "
            "qualify row_number() over (partition by model order by staged_at desc) = 1 and project_sha256 = '' "
            "order by model"
        ).fetchall()
        assert by_hand == [
            ("stg_crm__clients", "", digests["stg_crm__clients"]),
            ("stg_crm__leads", "", digests["stg_crm__leads"]),
        ], by_hand
        # The next `recon run` finds staging built by this version: no rebuild of it whole.
        assert staged_by_another_version(con) == []
    finally:
        con.close()
