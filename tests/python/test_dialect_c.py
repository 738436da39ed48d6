"""Dialect C, the second held-out data set: shape and self-consistency only (never tune on it)."""

from __future__ import annotations

import csv
import hashlib
from collections import defaultdict
from pathlib import Path

import pytest

from orchestration import contract
from orchestration.lab import dialect_c

ID_COLUMN = {
    "clients": "client_id",
    "orders": "order_id",
    "leads": "lead_id",
    "delivery": "campaign_id",
    "credits": "credit_id",
    "lead_forms": "submission_id",
    "invoices": "invoice_id",
    "invoice_lines": "invoice_id",
    "credit_notes": "credit_note_id",
    "deliverables": "deliverable_id",
}
LINK_SIDES = {
    "orders_invoices": ("orders", "invoices"),
    "orders_invoice_lines": ("orders", "invoice_lines#"),
    "delivery_orders": ("delivery", "orders"),
    "deliverables_orders": ("deliverables", "orders"),
    "deliverables_invoices": ("deliverables", "invoices"),
    "lead_forms_leads": ("lead_forms", "leads"),
}


@pytest.fixture(scope="module")
def noisy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("dialect_c_noisy")
    return out, dialect_c.generate(out, seed=11, orders=600, noise=1.0)


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _landing_files(root: Path, ent: contract.Entity) -> list[Path]:
    files = sorted((root / "landing" / ent.source / ent.name).glob("*.csv"))
    return [f for f in files if "_raw" not in f.name]


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    dialect_c.generate(tmp_path / "a", seed=3, orders=300)
    dialect_c.generate(tmp_path / "b", seed=3, orders=300)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    dialect_c.generate(tmp_path / "c", seed=4, orders=300)
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_required_columns_and_every_entity(noisy: tuple[Path, dict]) -> None:
    root, summary = noisy
    for ent in contract.ENTITIES:
        files = _landing_files(root, ent)
        assert files, f"no file for {ent.source}/{ent.name}"
        for f in files:
            with open(f, encoding="utf-8") as fh:
                header = next(csv.reader(fh))
            assert set(ent.required_columns) <= set(header), f.name
            assert set(header) <= set(ent.column_names), f.name
        assert summary["rows"][ent.table] > 0


def test_every_link_id_exists(noisy: tuple[Path, dict]) -> None:
    root, _ = noisy
    ids: dict[str, set[str]] = defaultdict(set)
    for ent in contract.ENTITIES:
        for f in _landing_files(root, ent):
            for row in csv.DictReader(open(f, encoding="utf-8")):
                ids[ent.name].add(row[ID_COLUMN[ent.name]])
                if ent.name == "invoice_lines":
                    ids["invoice_lines#"].add(f"{row['invoice_id']}#{row['line_number']}")
    links = list(csv.DictReader(open(root / "ground_truth" / "links.csv", encoding="utf-8")))
    assert {r["reconciliation"] for r in links} == set(LINK_SIDES)
    for r in links:
        left, right = LINK_SIDES[r["reconciliation"]]
        assert r["left_id"] in ids[left], r
        assert r["right_id"] in ids[right], r


def test_noise_is_recorded(noisy: tuple[Path, dict]) -> None:
    root, summary = noisy
    kinds = summary["discrepancies"]
    for kind in (
        "void",
        "reissue",
        "duplicate_billing",
        "reexported_copy",
        "orphan_invoice",
        "negative_spend",
        "orphan_campaign",
        "repeat_submission",
        "duplicate_lead",
        "bad_value",
        "tax_inclusive_lines",
    ):
        assert kinds.get(kind, 0) > 0, kind
    types = {k.split("/")[1] for k in summary["links"] if k.startswith("orders_invoices/")}
    assert types == {"one_to_one", "split", "consolidated", "void", "reissue", "duplicate"}
    bad = list(csv.DictReader(open(root / "ground_truth" / "bad_files.csv", encoding="utf-8")))
    assert bad and all((root / b["path"]).exists() for b in bad)


def test_noise_zero_is_clean(tmp_path: Path) -> None:
    summary = dialect_c.generate(tmp_path, seed=5, orders=400, noise=0.0)
    assert summary["discrepancies"] == {}
    rows = list(csv.DictReader(open(tmp_path / "ground_truth" / "records.csv", encoding="utf-8")))
    assert rows == []
    assert list(csv.DictReader(open(tmp_path / "ground_truth" / "bad_files.csv", encoding="utf-8"))) == []
    types = {k.split("/")[1] for k in summary["links"]}
    assert types <= {"one_to_one", "split", "consolidated"}
