"""Tests for the held-out dialect B generator (orchestration/lab/dialect_b.py).

They pin the promises the evaluation relies on: byte-identical output per seed, landing files
that carry every required contract column, ground-truth links that point at rows that exist,
and the shapes the dialect is meant to contain (statement invoices, VAT-inclusive lines).
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from orchestration import contract
from orchestration.lab import dialect_b

ORDERS = 3000
REQUIRED_V2 = {"crm__clients": ("client_id", "legal_name")}


def read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def table_files(out: Path, table: str) -> list[Path]:
    source, entity = table.split("__")
    # the deliberately broken Excel re-save is not a landing file of the contract
    return sorted(p for p in (out / "landing" / source / entity).glob("*.csv") if "resave" not in p.name)


def table_rows(out: Path, table: str) -> list[dict[str, str]]:
    return [row for path in table_files(out, table) for row in read(path)]


def digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dialect_b")
    dialect_b.generate(root, seed=7, orders=ORDERS)
    return root


def test_same_seed_gives_identical_bytes(out: Path, tmp_path: Path) -> None:
    dialect_b.generate(tmp_path / "again", seed=7, orders=ORDERS)
    assert digest(out) == digest(tmp_path / "again")
    dialect_b.generate(tmp_path / "other", seed=8, orders=ORDERS)
    assert digest(out) != digest(tmp_path / "other")


def test_rerun_into_same_directory_replaces_previous_output(tmp_path: Path) -> None:
    dialect_b.generate(tmp_path, seed=1, orders=600)
    dialect_b.generate(tmp_path, seed=2, orders=300)
    fresh = tmp_path.parent / "fresh"
    dialect_b.generate(fresh, seed=2, orders=300)
    assert digest(tmp_path) == digest(fresh)


def test_headers_carry_required_contract_columns(out: Path) -> None:
    for table in dialect_b.TABLES:
        files = table_files(out, table)
        assert files, table
        entity = contract.ENTITY_BY_TABLE.get(table)
        required = set(entity.required_columns if entity else REQUIRED_V2[table])
        for path in files:
            with open(path, newline="", encoding="utf-8") as fh:
                header = next(csv.reader(fh))
            assert required <= set(header), (path, required - set(header))
            assert header == dialect_b.columns(table)
            if entity:
                assert header[: len(entity.column_names)] == list(entity.column_names)


def test_keys_are_unique(out: Path) -> None:
    keys = {
        "crm__clients": ("client_id",),
        "crm__orders": ("order_id",),
        "crm__leads": ("lead_id",),
        "ads__delivery": ("platform", "campaign_id", "delivery_date"),
        "ads__credits": ("credit_id",),
        "ads__lead_forms": ("submission_id",),
        "billing__invoices": ("invoice_id",),
        "billing__invoice_lines": ("invoice_id", "line_number"),
        "billing__credit_notes": ("credit_note_id",),
        "fulfilment__deliverables": ("deliverable_id",),
    }
    for table, key in keys.items():
        values = Counter(tuple(r[k] for k in key) for r in table_rows(out, table))
        assert values and max(values.values()) == 1, table


def test_every_link_points_at_landing_rows(out: Path) -> None:
    ids = {
        "order": {r["order_id"] for r in table_rows(out, "crm__orders")},
        "invoice": {r["invoice_id"] for r in table_rows(out, "billing__invoices")},
        "credit": {r["credit_note_id"] for r in table_rows(out, "billing__credit_notes")},
        "line": {f"{r['invoice_id']}#{r['line_number']}" for r in table_rows(out, "billing__invoice_lines")},
        "campaign": {r["campaign_id"] for r in table_rows(out, "ads__delivery")},
        "deliverable": {r["deliverable_id"] for r in table_rows(out, "fulfilment__deliverables")},
        "submission": {r["submission_id"] for r in table_rows(out, "ads__lead_forms")},
        "lead": {r["lead_id"] for r in table_rows(out, "crm__leads")},
    }
    sides = {
        "orders_invoices": ("order", "invoice"),
        "orders_invoice_lines": ("order", "line"),
        "delivery_orders": ("campaign", "order"),
        "deliverables_invoices": ("deliverable", "invoice"),
        "deliverables_orders": ("deliverable", "order"),
        "lead_forms_leads": ("submission", "lead"),
    }
    links = read(out / "ground_truth" / "links.csv")
    seen = Counter(link["reconciliation"] for link in links)
    assert set(seen) == set(sides)
    for link in links:
        left, right = sides[link["reconciliation"]]
        if link["link_type"] == "credit_note":
            right = "credit"
        assert link["left_id"] in ids[left], link
        assert link["right_id"] in ids[right], link
    assert len({tuple(x.values()) for x in links}) == len(links), "duplicate link rows"


def test_void_and_duplicate_export_invoices_have_no_line_links(out: Path) -> None:
    records = read(out / "ground_truth" / "records.csv")
    copies = {r["record_id"] for r in records if r["discrepancy"] == "duplicate_export"}
    void = {r["invoice_id"] for r in table_rows(out, "billing__invoices") if r["status"] == "void"}
    assert copies and void
    for link in read(out / "ground_truth" / "links.csv"):
        if link["reconciliation"] == "orders_invoice_lines":
            assert link["right_id"].split("#")[0] not in copies | void


def test_consolidated_invoices_bill_ten_or_more_orders(out: Path) -> None:
    per_invoice: dict[str, set[str]] = defaultdict(set)
    for link in read(out / "ground_truth" / "links.csv"):
        if link["reconciliation"] == "orders_invoices" and link["link_type"] == "consolidated":
            per_invoice[link["right_id"]].add(link["left_id"])
    sizes = sorted(len(v) for v in per_invoice.values())
    assert sizes and sizes[0] >= 10 and sizes[-1] <= 69  # 10-60, a short tail may be folded in
    lines = Counter(r["invoice_id"] for r in table_rows(out, "billing__invoice_lines"))
    for invoice, orders in per_invoice.items():
        assert lines[invoice] >= len(orders)


def test_vat_inclusive_lines_sum_to_total(out: Path) -> None:
    records = read(out / "ground_truth" / "records.csv")
    vat = {r["record_id"] for r in records if r["discrepancy"] == "vat_inclusive"}
    bad = {r["record_id"].split("|")[0] for r in records if r["discrepancy"] == "bad_value"}
    headers = {r["invoice_id"]: r for r in table_rows(out, "billing__invoices")}
    sums: dict[str, Decimal] = defaultdict(Decimal)
    for line in table_rows(out, "billing__invoice_lines"):
        if line["invoice_id"] not in bad:
            sums[line["invoice_id"]] += Decimal(line["net_amount"])
    checked = 0
    for invoice in vat - bad:
        head = headers[invoice]
        assert sums[invoice] == Decimal(head["total_amount"]) != Decimal(head["net_amount"]), invoice
        checked += 1
    assert checked >= 10
    # and the ordinary invoices' lines sum to the net amount
    for invoice, head in headers.items():
        if invoice not in vat and invoice not in bad:
            assert sums[invoice] == Decimal(head["net_amount"]), invoice


def test_formats_dates_and_money(out: Path) -> None:
    records = read(out / "ground_truth" / "records.csv")
    bad_keys = {r["record_id"] for r in records if r["discrepancy"] == "bad_value"}
    money = re.compile(r"-?\d+\.\d\d")
    iso = re.compile(r"(2025|2026)-\d\d-\d\d")
    stamp = re.compile(r"(2025|2026)-\d\d-\d\dT\d\d:\d\d:\d\dZ")
    for row in table_rows(out, "crm__orders"):
        if row["order_id"] in bad_keys:
            continue
        assert money.fullmatch(row["amount"]) and iso.fullmatch(row["service_start_date"]), row
        assert stamp.fullmatch(row["updated_at"]), row
        assert row["order_date"] == "" or iso.fullmatch(row["order_date"]), row
        assert row["currency"] in contract.CURRENCIES
    negative = 0
    for row in table_rows(out, "ads__delivery"):
        key = f"{row['platform']}|{row['campaign_id']}|{row['delivery_date']}"
        if key not in bad_keys:
            assert money.fullmatch(row["spend"]), row
            negative += row["spend"].startswith("-")
    assert negative > 0
    for row in table_rows(out, "billing__invoices"):
        if row["invoice_id"] not in bad_keys:
            assert iso.fullmatch(row["issue_date"]), row
            assert Decimal(row["net_amount"]) + Decimal(row["tax_amount"]) == Decimal(row["total_amount"])


def test_ground_truth_files(out: Path) -> None:
    truth = out / "ground_truth"
    assert (truth / "links.csv").read_text().splitlines()[0] == "reconciliation,left_id,right_id,link_type"
    assert (truth / "records.csv").read_text().splitlines()[0] == "entity,record_id,discrepancy,detail"
    assert (truth / "bad_files.csv").read_text().splitlines()[0] == "path,problem"
    manifest = json.loads((truth / "manifest.json").read_text())
    assert manifest["dialect"] == "b" and manifest["seed"] == 7 and manifest["orders"] == ORDERS
    kinds = {r["discrepancy"] for r in read(truth / "records.csv")}
    for expected in (
        "unbilled",
        "partial_billing",
        "duplicate_billing",
        "over_delivery",
        "under_delivery",
        "billed_not_delivered",
        "quantity_short",
        "orphan_invoice",
        "duplicate_export",
        "vat_inclusive",
        "ocr_reference",
        "void_reissue",
        "billed_cancelled_order",
        "delivery_before_order",
        "duplicate_lead",
        "missing_in_crm",
        "orphan_spend",
        "repeat_submission",
        "bad_value",
    ):
        assert expected in kinds, expected
    for path, _ in (tuple(r.values()) for r in read(truth / "bad_files.csv")):
        assert (out / path).exists()


def test_noise_zero_is_clean(tmp_path: Path) -> None:
    summary = dialect_b.generate(tmp_path, seed=5, orders=800, noise=0)
    assert summary["counts"]["discrepancies"] == {}
    assert read(tmp_path / "ground_truth" / "bad_files.csv") == []


def test_twenty_thousand_orders(tmp_path: Path) -> None:
    started = time.perf_counter()
    summary = dialect_b.generate(tmp_path, seed=7, orders=20_000)
    elapsed = time.perf_counter() - started
    print(f"dialect b: 20k orders, {sum(summary['rows'].values()):,} rows in {elapsed:.1f}s")
    assert summary["rows"]["crm__orders"] == 20_000


def test_client_and_lead_pools_run_out_into_qualified_names_not_a_hang() -> None:
    """About 6,000 trading names and their codes, and the e-mail addresses the name lists
    make, are all a seed has: past about 90,000 orders every draw collided and `recon
    generate --dialect b --orders 100000` never returned. Now a region qualifier and a
    number tell new clients apart, and a number new addresses; below that, nothing changes
    (test_same_seed_gives_identical_bytes, and B 27 at 20,000 orders byte-identical).
    Run in a subprocess with a time limit: the defect was a hang."""
    probe = (
        "import json; from orchestration.lab import dialect_b as b\n"
        "out = {}\n"
        "for n in (20_000, 1_000_000):\n"
        "    w = b.Dialect(5, n, 1.0); w.build_clients(); c = w.clients\n"
        "    tagged = [x for x in c if x.legal.endswith(')')\n"
        "              and x.legal.rsplit('(', 1)[1].split()[0].rstrip(')') in b.QUALIFIERS]\n"
        "    out[n] = [len(c), len({x.legal for x in c}), len({x.trading for x in c}),\n"
        "              len({x.code for x in c}), len(tagged)]\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[2]
    )
    assert done.returncode == 0, done.stderr
    counts = json.loads(done.stdout)
    assert counts["1000000"][:4] == [66_666] * 4  # every client, name and code distinct
    assert counts["1000000"][4] > 50_000  # most past the pool are qualified
    assert counts["20000"][:4] == [1_333] * 4 and counts["20000"][4] == 0  # none below it
