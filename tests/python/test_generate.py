"""Tests for the demo data generator (orchestration/lab/generate/).

The generator's output is only useful if it is (a) what the landing contract promises,
(b) exactly as noisy as docs/generator.md says and (c) reproducible: these tests pin those
three properties, plus the promise that memory and output do not depend on chunking.
"""

from __future__ import annotations

import csv
import json
import math
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchestration import contract, settings
from orchestration.lab.generate import (
    LEGACY_FILE,
    NOISE_RATES,
    effective_rates,
    generate,
    load_fx_rates,
    table_formats,
)

# Dialect A writes every entity of contract 1.0.0 (the client master came with 2.0.0).
TABLES = [e.table for e in contract.ENTITIES if e.columns[0].since == "1.0.0"]
FILE_NAME = re.compile(r"(?P<entity>[a-z_]+)_(?P<chunk>\d{5})(?P<late>_late)?\.(?P<ext>csv|jsonl|parquet)")
DECIMAL = re.compile(r"-?\d+(\.\d{1,4})?")
INTEGER = re.compile(r"-?\d+")
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)")
DEMO_ORDERS = 5000


# --- reading what was written --------------------------------------------------------------


def read_rows(path: Path) -> list[dict[str, str | None]]:
    """Rows of one landing file as text; CSV empties read as None like JSON/Parquet nulls."""
    if path.suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as fh:
            return [{k: (v if v != "" else None) for k, v in row.items()} for row in csv.DictReader(fh)]
    if path.suffix == ".jsonl":
        with open(path, encoding="utf-8") as fh:
            return [json.loads(line) for line in fh]
    return pq.read_table(path).to_pylist()


def header(path: Path) -> list[str]:
    if path.suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as fh:
            return next(csv.reader(fh))
    if path.suffix == ".jsonl":
        with open(path, encoding="utf-8") as fh:
            first = fh.readline()
        return list(json.loads(first)) if first else []
    return pq.read_schema(path).names


def entity_files(out: Path, table: str, late: bool | None = None) -> list[Path]:
    source, name = table.split("__")
    files = sorted(p for p in (out / "landing" / source / name).iterdir() if FILE_NAME.fullmatch(p.name))
    if late is None:
        return files
    return [p for p in files if p.stem.endswith("_late") == late]


def load(out: Path, table: str, late: bool | None = None) -> list[dict]:
    return [row for path in entity_files(out, table, late) for row in read_rows(path)]


def truth(out: Path, name: str) -> list[dict[str, str]]:
    with open(out / "ground_truth" / name, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def cents(text: str) -> int:
    units, _, frac = text.partition(".")
    return int(units) * 100 + int((frac + "00")[:2])


def valid(kind: str, value: str, allowed: tuple[str, ...]) -> bool:
    """Does a text value parse as the contract kind says ingestion will parse it?"""
    try:
        if kind == "decimal":
            return bool(DECIMAL.fullmatch(value))
        if kind == "integer":
            return bool(INTEGER.fullmatch(value))
        if kind == "date":
            return date.fromisoformat(value).isoformat() == value
        if kind == "timestamp":
            return bool(TIMESTAMP.fullmatch(value)) and datetime.fromisoformat(value) is not None
        if kind == "currency":
            return value in contract.CURRENCIES
    except ValueError:
        return False
    return not allowed or value.lower() in allowed


def invalid_columns(table: str, row: dict) -> list[str]:
    entity = contract.ENTITY_BY_TABLE[table]
    wrong = []
    for col in entity.columns:
        value = row.get(col.name)
        if value is None:
            if col.required:
                wrong.append(col.name)
        elif not valid(col.kind, value, col.allowed):
            wrong.append(col.name)
    return wrong


# --- shared demo run -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    result = generate(out, seed=7, orders=DEMO_ORDERS, chunk_size=2000)
    return out, result


@pytest.fixture(scope="module")
def demo_rows(demo):
    out, _ = demo
    return {table: load(out, table) for table in TABLES}


def test_layout_follows_chunks_and_formats(demo):
    out, result = demo
    formats = table_formats("mixed")
    chunks = set()
    for table in TABLES:
        source, name = table.split("__")
        for path in entity_files(out, table):
            match = FILE_NAME.fullmatch(path.name)
            assert match["entity"] == name and match["ext"] == formats[table]
            assert path.parent == out / "landing" / source / name
            chunks.add(int(match["chunk"]))
        assert (out / "landing" / source / name / f"{name}_00002.{formats[table]}").exists()
    assert chunks == {0, 1, 2}  # 5000 orders in chunks of 2000
    written = set(result.files)
    assert written == {p for t in TABLES for p in entity_files(out, t)} | {out / LEGACY_FILE}
    assert result.ground_truth_dir == out / "ground_truth"
    assert result.rows == {t: len(load(out, t)) for t in TABLES}


def test_columns_and_types_follow_the_contract(demo):
    out, _ = demo
    for table in TABLES:
        expected = [c.name for c in contract.ENTITY_BY_TABLE[table].columns if c.since == "1.0.0"]
        for path in entity_files(out, table):
            if path.suffix == ".parquet":
                schema = pq.read_schema(path)
                assert all(f.type == pa.string() for f in schema), path
            if path.stat().st_size:
                assert header(path) == expected, path
        for path in entity_files(out, table):
            if path.suffix == ".jsonl":
                for row in read_rows(path):
                    assert list(row) == expected
                    assert all(v is None or isinstance(v, str) for v in row.values())


def test_every_value_parses_except_the_listed_bad_rows(demo, demo_rows):
    out, result = demo
    bad = [r for r in truth(out, "records.csv") if r["discrepancy"] == "bad_value"]
    assert len(bad) == result.bad_rows > 0
    bad_by_table = defaultdict(dict)
    for r in bad:
        column = re.match(r"column=(\w+);", r["detail"]).group(1)
        bad_by_table[r["entity"]][r["record_id"]] = column
    assert set(bad_by_table) <= {"crm__orders", "billing__invoices", "ads__credits"}
    for table, rows in demo_rows.items():
        key = contract.ENTITY_BY_TABLE[table].key[0]
        broken = [(row, invalid_columns(table, row)) for row in rows]
        broken = [(row, cols) for row, cols in broken if cols]
        assert len(broken) == len(bad_by_table.get(table, {})), table
        for row, cols in broken:
            assert len(cols) == 1, (table, row)  # exactly one defect per bad row
            if row[key] is not None:
                assert bad_by_table[table][row[key]] == cols[0]
            else:
                assert cols[0] == key


def test_links_reference_existing_records(demo, demo_rows):
    out, _ = demo
    bad_ids = {r["record_id"] for r in truth(out, "records.csv") if r["discrepancy"] == "bad_value"}

    def ids(table, column):
        return {row[column] for row in demo_rows[table] if row[column]} | bad_ids

    orders, invoices = ids("crm__orders", "order_id"), ids("billing__invoices", "invoice_id")
    credit_notes = ids("billing__credit_notes", "credit_note_id")
    known = {
        "orders_invoices": (orders, invoices | credit_notes),
        "delivery_orders": (ids("ads__delivery", "campaign_id"), orders),
        "deliverables_invoices": (ids("fulfilment__deliverables", "deliverable_id"), invoices),
        "lead_forms_leads": (ids("ads__lead_forms", "submission_id"), ids("crm__leads", "lead_id")),
    }
    links = truth(out, "links.csv")
    assert {link["reconciliation"] for link in links} == set(known)
    for link in links:
        left, right = known[link["reconciliation"]]
        assert link["left_id"] in left and link["right_id"] in right, link
    keys = {}
    for table, rows in demo_rows.items():
        columns = contract.ENTITY_BY_TABLE[table].key
        keys[table] = {"|".join(row[c] or "" for c in columns) for row in rows} | bad_ids
    keys["campaigns"] = ids("ads__delivery", "campaign_id")
    for record in truth(out, "records.csv"):
        table = record["entity"]
        if table == "ads__delivery" and record["discrepancy"] == "ref_missing":
            table = "campaigns"
        assert record["record_id"] in keys[table], record


def test_noise_rates_match_the_documented_defaults(demo, demo_rows):
    out, _ = demo
    rates = effective_rates(1.0)
    records = truth(out, "records.csv")
    links = truth(out, "links.csv")
    count = Counter((r["entity"], r["discrepancy"]) for r in records)
    by_disc = Counter(r["discrepancy"] for r in records)
    orders = {r["order_id"]: r for r in demo_rows["crm__orders"] if r["order_id"]}
    live = [o for o in orders.values() if o["status"] != "cancelled"]
    billing_links = [link for link in links if link["reconciliation"] == "orders_invoices"]
    members = sum(1 for link in billing_links if link["link_type"] == "consolidated")
    free = len(live) - members
    invoices = {r["invoice_id"] for r in demo_rows["billing__invoices"] if r["invoice_id"]}
    plain_invoices = len(invoices) - count["billing__invoices", "consolidated"] - by_disc["orphan_invoice"]
    delivered = {link["right_id"] for link in links if link["reconciliation"] == "delivery_orders"}
    campaigns = {link["left_id"] for link in links if link["reconciliation"] == "delivery_orders"}
    linked_deliverables = {link["left_id"] for link in links if link["reconciliation"] == "deliverables_invoices"}
    deliverables = demo_rows["fulfilment__deliverables"]
    projects = {d["project_id"] for d in deliverables if d["deliverable_id"] in linked_deliverables}
    live_deliverables = {d["deliverable_id"] for d in deliverables if d["status"] != "cancelled"}
    submissions = {r["submission_id"] for r in demo_rows["ads__lead_forms"]}
    base_submissions = len(submissions) - count["ads__lead_forms", "duplicate_lead"]
    form_leads = {r["lead_id"] for r in demo_rows["crm__leads"] if r["campaign_id"]}
    distinct_rows = {t: len(rows) - count[t, "duplicate_row"] for t, rows in demo_rows.items()}
    single = free - sum(by_disc[d] for d in ("unbilled", "split", "partial_billing", "duplicate_billing", "void"))
    offsets = sum(1 for o in orders.values() if not o["updated_at"].endswith("Z"))

    checks = [  # (observed, denominator, rate)
        (by_disc["unbilled"], free, rates["unbilled"]),
        (by_disc["split"], free, rates["split"]),
        (by_disc["partial_billing"], free, rates["partial_billing"]),
        (by_disc["duplicate_billing"], free, rates["duplicate_billing"]),
        (by_disc["void"], free, rates["void_reissue"]),
        (by_disc["fx"], free, rates["fx"]),
        (members, DEMO_ORDERS, rates["consolidated"]),
        (by_disc["orphan_invoice"], DEMO_ORDERS, rates["orphan_invoice"]),
        (by_disc["credit_note"], single, rates["credit_note"]),
        (count["crm__orders", "ref_missing"], DEMO_ORDERS, rates["crm_ref_missing"]),
        (count["billing__invoices", "ref_missing"], plain_invoices, rates["ref_missing"]),
        (count["billing__invoices", "ref_typo"], plain_invoices, rates["ref_typo"]),
        (count["billing__invoices", "ref_format"], plain_invoices, rates["ref_format"]),
        (by_disc["name_variant"], len(invoices), rates["name_variant"]),
        (by_disc["over_delivery"], len(delivered), rates["over_delivery"]),
        (by_disc["under_delivery"], len(delivered), rates["under_delivery"]),
        (by_disc["billed_not_delivered"], len(live) - by_disc["unbilled"], rates["billed_not_delivered"]),
        (by_disc["platform_credit"], len(delivered), rates["platform_credit"]),
        (count["ads__delivery", "ref_missing"], len(campaigns), rates["campaign_name_no_ref"]),
        (by_disc["quantity_short"], len(projects), rates["quantity_short"]),
        (count["fulfilment__deliverables", "ref_missing"], len(live_deliverables), rates["deliverable_no_ref"]),
        (by_disc["missing_in_crm"], base_submissions, rates["missing_in_crm"]),
        (count["ads__lead_forms", "duplicate_lead"], base_submissions, rates["duplicate_submission"]),
        (count["crm__leads", "duplicate_lead"], base_submissions, rates["duplicate_crm_lead"]),
        (by_disc["attribution_mismatch"], len(form_leads), rates["attribution_mismatch"]),
        (by_disc["contact_variant"], len(form_leads), rates["contact_variant"]),
        (by_disc["late_file"], sum(distinct_rows.values()), rates["late_file"]),
        (by_disc["duplicate_row"], sum(distinct_rows.values()), rates["duplicate_row"]),
        (
            by_disc["bad_value"],
            sum(distinct_rows[t] for t in ("crm__orders", "billing__invoices", "ads__credits")),
            rates["bad_value"],
        ),
        (offsets, len(orders), rates["tz_offset"]),
    ]
    for n, (observed, denominator, rate) in enumerate(checks):
        expected = denominator * rate
        slack = 4 * math.sqrt(expected * (1 - rate)) + 0.05 * expected + 2
        assert abs(observed - expected) <= slack, (n, observed, expected, denominator, rate)


def test_money_adds_up(demo, demo_rows):
    out, _ = demo
    records = truth(out, "records.csv")
    links = truth(out, "links.csv")
    flagged = defaultdict(set)
    for r in records:
        flagged[r["discrepancy"]].add(r["record_id"])
    bad = flagged["bad_value"]
    orders = {r["order_id"]: r for r in demo_rows["crm__orders"] if r["order_id"] and r["order_id"] not in bad}
    invoices = {
        r["invoice_id"]: r for r in demo_rows["billing__invoices"] if r["invoice_id"] and r["invoice_id"] not in bad
    }
    lines = defaultdict(dict)
    for line in demo_rows["billing__invoice_lines"]:
        lines[line["invoice_id"]][line["line_number"]] = cents(line["net_amount"])
    for inv in invoices.values():
        assert cents(inv["total_amount"]) == cents(inv["net_amount"]) + cents(inv["tax_amount"])
        assert sum(lines[inv["invoice_id"]].values()) == cents(inv["net_amount"])

    billed = defaultdict(list)
    for link in links:
        if link["reconciliation"] == "orders_invoices" and link["link_type"] != "credit_note":
            billed[link["left_id"]].append((link["link_type"], invoices.get(link["right_id"])))
    fx = load_fx_rates()
    for order_id, pairs in billed.items():
        if order_id not in orders or any(inv is None for _, inv in pairs):
            continue  # a corrupted order or invoice row: ingestion quarantines it
        booked = cents(orders[order_id]["amount"])
        types = {t for t, _ in pairs}
        nets = [cents(inv["net_amount"]) for _, inv in pairs]
        if types == {"split"}:
            assert sum(nets) == booked
        elif types == {"one_to_one"} and order_id in flagged["partial_billing"]:
            assert 0.49 * booked <= nets[0] <= 0.96 * booked
        elif types == {"one_to_one"} and pairs[0][1]["invoice_id"] in flagged["fx"]:
            inv = pairs[0][1]
            month = inv["issue_date"][:8] + "01"
            rate = Decimal(fx[(orders[order_id]["currency"], month)]) / Decimal(fx[(inv["currency"], month)])
            expected = (Decimal(orders[order_id]["amount"]) * rate).quantize(Decimal("0.01"), ROUND_HALF_UP)
            assert Decimal(inv["net_amount"]) == expected
            assert inv["currency"] != orders[order_id]["currency"]
        elif types in ({"one_to_one"}, {"reissue", "void"}, {"one_to_one", "duplicate"}):
            assert {n for n, (t, _) in zip(nets, pairs, strict=True) if t != "void"} == {booked}
    consolidated = defaultdict(list)
    for link in links:
        if link["link_type"] == "consolidated" and link["reconciliation"] == "orders_invoices":
            consolidated[link["right_id"]].append(link["left_id"])
    assert consolidated
    for invoice_id, order_ids in consolidated.items():
        if invoice_id in invoices and all(o in orders for o in order_ids):
            assert len(order_ids) >= 2
            assert cents(invoices[invoice_id]["net_amount"]) == sum(cents(orders[o]["amount"]) for o in order_ids)
            assert len({orders[o]["client_id"] for o in order_ids}) == 1

    spend = defaultdict(int)
    seen = set()
    for row in demo_rows["ads__delivery"]:
        key = (row["platform"], row["campaign_id"], row["delivery_date"])
        if key not in seen:
            seen.add(key)
            spend["SO-" + row["campaign_id"].split("-")[1]] += cents(row["spend"])
    for order_id, total in spend.items():
        if order_id in orders and order_id not in flagged["over_delivery"] | flagged["under_delivery"]:
            booked = cents(orders[order_id]["amount"])
            assert abs(total - booked) <= 0.0101 * booked


def test_deliverables_are_worth_the_order(demo, demo_rows):
    out, _ = demo
    records = truth(out, "records.csv")
    short = {r["record_id"] for r in records if r["discrepancy"] == "quantity_short"}
    once = {d["deliverable_id"]: d for d in demo_rows["fulfilment__deliverables"]}  # re-sent rows count once
    has_short = {once[d]["project_id"] for d in short}
    value = defaultdict(int)
    refs = {}
    for d in once.values():
        value[d["project_id"]] += int(Decimal(d["quantity"]) * cents(d["unit_value"]))
        if d["order_ref"]:
            refs[d["project_id"]] = d["order_ref"]
    corrupted = {r["record_id"] for r in records if r["discrepancy"] == "bad_value"}  # e.g. '2050,00'
    orders = {
        o["order_ref"]: o
        for o in demo_rows["crm__orders"]
        if o["order_ref"] and o["order_id"] and o["order_id"] not in corrupted
    }
    checked = 0
    for project, total in value.items():
        if project in refs and refs[project] in orders and project not in has_short:
            assert total == cents(orders[refs[project]]["amount"])
            checked += 1
    assert checked > 100


def test_manifest_and_bad_file(demo):
    out, result = demo
    manifest = json.loads((out / "ground_truth" / "manifest.json").read_text())
    assert manifest["seed"] == 7 and manifest["orders"] == DEMO_ORDERS and manifest["noise"] == 1.0
    assert manifest["rows"] == result.rows
    assert manifest["default_rates"] == NOISE_RATES
    assert manifest["discrepancies"] == dict(Counter(r["discrepancy"] for r in truth(out, "records.csv")))
    assert manifest["links"] == dict(Counter(r["reconciliation"] for r in truth(out, "links.csv")))
    legacy = out / LEGACY_FILE
    assert "currency" not in header(legacy) and len(read_rows(legacy)) >= 3
    assert truth(out, "bad_files.csv") == [
        {"path": LEGACY_FILE.as_posix(), "problem": "missing required column currency"}
    ]


def test_same_seed_same_bytes_other_seed_other_data(tmp_path):
    a, b, c = (generate(tmp_path / name, seed=seed, orders=2000) for name, seed in (("a", 3), ("b", 3), ("c", 4)))

    def snapshot(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    assert snapshot(tmp_path / "a") == snapshot(tmp_path / "b")
    assert a.rows == b.rows
    orders = "landing/crm/orders/orders_00000.csv"
    assert snapshot(tmp_path / "c")[orders] != snapshot(tmp_path / "a")[orders]
    assert c.rows != a.rows


def test_chunk_size_changes_files_not_rows(tmp_path):
    """Chunks hold no shared state: small chunks give the very same rows, just in more files."""
    big = generate(tmp_path / "big", seed=5, orders=3000, chunk_size=3000)
    small = generate(tmp_path / "small", seed=5, orders=3000, chunk_size=700)
    assert big.rows == small.rows
    for table in TABLES:
        assert len(entity_files(tmp_path / "small", table, late=False)) == 5
        for late in (False, True):
            assert load(tmp_path / "big", table, late) == load(tmp_path / "small", table, late), (table, late)
    for name in ("records.csv", "links.csv"):
        assert (tmp_path / "big" / "ground_truth" / name).read_bytes() == (
            tmp_path / "small" / "ground_truth" / name
        ).read_bytes()


def test_peak_memory_does_not_grow_with_orders(tmp_path):
    """Peak RSS for 6x the orders stays flat: only one chunk is ever held in memory."""
    script = (
        "import resource, sys; from orchestration.lab.generate import generate; "
        "generate(sys.argv[1], orders=int(sys.argv[2]), chunk_size=10_000); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )

    def peak(orders: int) -> int:
        run = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / str(orders)), str(orders)],
            check=True, capture_output=True, text=True, cwd=settings.PROJECT_DIR,
        )  # fmt: skip
        return int(run.stdout.split()[-1])

    small, large = peak(10_000), peak(60_000)
    assert large < small * 1.25, (small, large)


def test_noise_zero_is_clean_and_fully_matched(tmp_path):
    out = tmp_path / "clean"
    result = generate(out, seed=11, orders=2000, noise=0)
    assert truth(out, "records.csv") == [] and result.bad_rows == 0 and result.discrepancies == {}
    assert not (out / LEGACY_FILE).exists() and truth(out, "bad_files.csv") == []
    for table in TABLES:
        assert entity_files(out, table, late=True) == []
    links = truth(out, "links.csv")
    assert {link["link_type"] for link in links} == {"one_to_one", "multi_campaign"}  # 2 campaigns: not noise
    orders = {o["order_id"]: o for o in load(out, "crm__orders")}
    invoices = {i["invoice_id"]: i for i in load(out, "billing__invoices")}
    assert load(out, "billing__credit_notes") == [] and load(out, "ads__credits") == []
    billed = [link for link in links if link["reconciliation"] == "orders_invoices"]
    assert len(billed) == len(invoices) == sum(1 for o in orders.values() if o["status"] != "cancelled")
    for link in billed:
        order, invoice = orders[link["left_id"]], invoices[link["right_id"]]
        assert (invoice["net_amount"], invoice["currency"]) == (order["amount"], order["currency"])
        assert invoice["client_name"] == order["client_name"] and invoice["reference"] == order["order_ref"]
    for row in load(out, "crm__orders") + load(out, "crm__leads") + load(out, "ads__lead_forms"):
        stamp = row.get("updated_at") or row.get("created_at") or row.get("submitted_at")
        assert stamp.endswith("Z")
    submissions = load(out, "ads__lead_forms")
    form_leads = [lead for lead in load(out, "crm__leads") if lead["campaign_id"]]
    assert len(submissions) == len(form_leads) > 0


def test_file_format_changes_encoding_not_content(tmp_path):
    runs = {
        fmt: generate(tmp_path / fmt, seed=9, orders=1500, file_format=fmt, bad_rows=False)
        for fmt in ("mixed", "csv", "parquet", "jsonl")
    }
    for fmt in ("csv", "parquet", "jsonl"):
        assert {p.suffix for p in runs[fmt].files if p.name != LEGACY_FILE.name} == {f".{fmt}"}
    for table in TABLES:
        reference = load(tmp_path / "mixed", table)
        for fmt in ("csv", "parquet", "jsonl"):
            assert load(tmp_path / fmt, table) == reference, (fmt, table)


def test_rerun_removes_stale_chunks(tmp_path):
    generate(tmp_path, orders=3000, chunk_size=1000)
    generate(tmp_path, orders=900, chunk_size=1000)
    for table in TABLES:
        assert {FILE_NAME.fullmatch(p.name)["chunk"] for p in entity_files(tmp_path, table)} == {"00000"}


def test_default_demo_is_fast(tmp_path):
    started = time.perf_counter()
    generate(tmp_path)
    assert time.perf_counter() - started < 3


def test_rejects_bad_arguments(tmp_path):
    for kwargs in ({"orders": 0}, {"chunk_size": 0}, {"noise": -1}, {"file_format": "xlsx"}, {"seed": -1}):
        with pytest.raises(ValueError):
            generate(tmp_path, **kwargs)


def test_fx_seed_covers_every_currency_and_month():
    rates = load_fx_rates(settings.PROJECT_DIR / "seeds" / "fx_rates.csv")
    months = [f"{y}-{m:02d}-01" for y in range(2024, 2028) for m in range(1, 13)]
    assert set(rates) == {(c, m) for c in contract.CURRENCIES for m in months}
    assert all(rates[("USD", m)] == "1.000000" for m in months)
    assert all(re.fullmatch(r"\d+\.\d{6}", v) and Decimal(v) > 0 for v in rates.values())


def test_named_draws_are_independent_streams():
    from orchestration.lab.generate.block import Draws

    before = Draws(seed=3, block=1, purpose="orders", n=50)
    status = before("status")
    after = Draws(seed=3, block=1, purpose="orders", n=50)
    after("a_new_column")  # a draw added before it does not shift it
    assert (after("status") == status).all()
    assert not (Draws(seed=3, block=2, purpose="orders", n=50)("status") == status).all()
    assert not (Draws(seed=3, block=1, purpose="billing", n=50)("status") == status).all()
    with pytest.raises(ValueError, match="orders.status taken twice"):
        before("status")
