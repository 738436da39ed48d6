"""An operator's unmatch on a small book publishes; a drop in the engine's own matching blocks.

Real parts only: a hand-written landing folder of eight orders and eight invoices, the
Dagster job (ingest, dbt build, quality gates, publication), the SQLite action store written
through the CLI, the published serving copy read back. The match-rate gate judges the
engine's decisions: a record an operator matched or unmatched by hand is left out of the
rate and of the baselines later runs take from it, and the message counts those records.
"""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pytest
import yaml
from conftest import BuiltHomes
from test_lifecycle import query
from test_manual_match import checked

from orchestration import cli, pipeline, quality

ORDERS = ["order_id", "client_id", "client_name", "order_ref", "order_type", "amount", "currency",
          "service_start_date", "service_end_date", "account_manager", "status", "updated_at"]  # fmt: skip
INVOICES = ["invoice_id", "invoice_number", "client_name", "reference", "issue_date", "due_date", "currency",
            "net_amount", "tax_amount", "total_amount", "status", "updated_at"]  # fmt: skip
LINES = ["invoice_id", "line_number", "description", "reference", "quantity", "unit_price", "net_amount"]
CLIENTS = ["Acme Widgets", "Beta Bakery", "Gamma Garden", "Delta Dental", "Eta Electric", "Theta Tiles",
           "Iota Interiors", "Kappa Kitchens"]  # fmt: skip


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


def invoices(landing: Path, name: str, rows: list[tuple[str, str, str, str]]) -> None:
    """Invoices (id, client, reference, amount) of one line each, in files called ``name``."""
    header = [[i, "N" + i, client, ref, "2026-08-05", "2026-09-05", "USD", amount, "0.00", amount, "issued",
               "2026-08-05T09:00:00Z"] for i, client, ref, amount in rows]  # fmt: skip
    write_csv(landing / "billing" / "invoices" / f"{name}.csv", INVOICES, header)
    lines = [[i, "1", "Media buying Aug 2026", ref, "1", amount, amount] for i, _, ref, amount in rows]
    write_csv(landing / "billing" / "invoice_lines" / f"{name}.csv", LINES, lines)


def small_book(landing: Path) -> None:
    """Eight orders, each billed by one invoice quoting its PO; SO-8 billed 1000 short."""
    orders = [
        [f"SO-{n}", f"C-{n}", f"{client} Ltd", f"PO-100{n}", "insertion_order", "9000.00", "USD", "2026-08-01",
         "2026-08-31", "am", "booked", "2026-07-20T10:00:00Z"]
        for n, client in enumerate(CLIENTS, start=1)
    ]  # fmt: skip
    write_csv(landing / "crm" / "orders" / "orders.csv", ORDERS, orders)
    rows = [(f"INV-{n}", f"{client} Ltd", f"PO-100{n}", "9000.00") for n, client in enumerate(CLIENTS, start=1)]
    rows[-1] = ("INV-8", "Kappa Kitchens Ltd", "PO-1008", "8000.00")
    invoices(landing, "invoices", rows)


def published(home: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(home / "publications" / "serving.duckdb"), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def rate_check(home: Path) -> dict:
    report = quality.latest_report(home / "quality" / "history")
    [check] = [c for c in report["checks"] if c["name"] == "match_rate_orders_invoices"]
    return check


def one_baseline_run(home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """config/quality.yml with a baseline of one run (three would take two more full runs),
    and a drop of one record enough to block (this book has nine)."""
    cfg = yaml.safe_load(Path("config/quality.yml").read_text())
    cfg["match_rate"]["baseline_runs"] = 1
    cfg["match_rate"]["min_records_drop"] = 1
    path = home / "quality.yml"
    path.write_text(yaml.safe_dump(cfg))
    monkeypatch.setenv("RECON_QUALITY_CONFIG", str(path))
    return path


def book_with_a_bad_line(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first run of the first and the last test: the small book at a baseline of one run
    (the first test's), a second line of INV-8 written "1,000.00" (the last test's, which is
    quarantined: not a record of the match rate)."""
    one_baseline_run(home, monkeypatch)
    landing = home / "landing"
    small_book(landing)
    lines = landing / "billing" / "invoice_lines" / "invoices.csv"
    with open(lines, "a", newline="") as fh:
        csv.writer(fh).writerow(["INV-8", "2", "Media buying Aug 2026", "PO-1008", "1", "1,000.00", "1,000.00"])
    assert pipeline.run_pipeline()


@pytest.fixture
def after_first_run(built_homes: BuiltHomes, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The home after book_with_a_bad_line (built once for the tests of this file), its
    quality config in force."""
    home = built_homes.restore("small-book-bad-line", book_with_a_bad_line, monkeypatch)
    monkeypatch.setenv("RECON_QUALITY_CONFIG", str(home / "quality.yml"))
    return home


def test_an_unmatch_on_a_small_book_publishes_and_a_drop_in_the_engines_matching_blocks(
    after_first_run: Path, capsys: pytest.CaptureFixture
) -> None:
    recon_home = after_first_run
    [(item,)] = query(
        recon_home,
        "select record_key from marts.fct_reconciliation_records where reconciliation = 'orders_invoices'"
        " and side = 'right' and matched_keys = ['SO-8']",
    )
    states = query(
        recon_home,
        "select record_state, count(*) from marts.fct_reconciliation_records"
        " where reconciliation = 'orders_invoices' and side = 'right' group by 1",
    )
    assert states == [("matched", 8)]
    first = rate_check(recon_home)
    assert first["metadata"]["status"] == "baseline" and first["metadata"]["match_rate"] == 1.0

    # The operator breaks SO-8's link to its invoice from the order's billing exception.
    [(exception_id,)] = query(
        recon_home,
        "select exception_id from marts.fct_reconciliation_exceptions where record_id = 'SO-8'"
        " and exception_type = 'amount_variance'",
    )
    assert cli.main(["exceptions", "claim", exception_id[:12], "--as", "alice"]) == 0
    assert cli.main(["exceptions", "unmatch", exception_id[:12], "--as", "alice", "--reason", "wrong_match",
                     "--with", item]) == 0  # fmt: skip

    # 7 of 8 invoices matched is 0.125 below the baseline 1.0, but the operator did it: it publishes.
    assert pipeline.run_pipeline()
    assert published(
        recon_home,
        "select record_state, has_operator_link from marts.fct_reconciliation_records"
        " where reconciliation = 'orders_invoices' and side = 'right' and record_key = ?",
        [item],
    ) == [("unmatched", True)]
    after_unmatch = rate_check(recon_home)
    meta = after_unmatch["metadata"]
    assert after_unmatch["passed"] and meta["status"] == "checked"
    assert (meta["match_rate"], meta["all_records_match_rate"], meta["operator_records"]) == (1.0, 0.875, 1)
    assert meta["records"] == 8 and meta["engine_records"] == 7 and meta["baseline"] == 1.0
    assert after_unmatch["description"].startswith(
        "engine's match rate 1.00 of right records for orders_invoices (1 record an operator matched or unmatched"
        " by hand left out; 0.875 counting them); baseline 1.00"
    )

    # Two invoices nobody booked: the engine's own rate drops to 7 of 9 (0.778). That blocks.
    invoices(recon_home / "landing", "late", [("INV-20", "Omega Oil Plc", "", "3000.00"),
                                              ("INV-21", "Sigma Stone Plc", "", "4100.00")])  # fmt: skip
    assert not pipeline.run_pipeline()
    blocked = rate_check(recon_home)
    meta = blocked["metadata"]
    assert not blocked["passed"] and blocked["severity"] == "error"
    assert (meta["match_rate"], meta["operator_records"], meta["baseline"]) == (0.777778, 1, 1.0)
    assert blocked["description"].startswith(
        "engine's match rate 0.778 of right records for orders_invoices (1 record an operator matched or unmatched"
        " by hand left out; 0.70 counting them) is 0.222 below its baseline 1.00"
    )
    assert "operators' matches and unmatches are not counted: 1 record here" in blocked["description"]
    # The serving copy is still the one with the unmatch.
    assert not published(recon_home, "select 1 from marts.fct_reconciliation_records where record_key like 'INV-20%'")


def test_a_lapsed_match_no_longer_counts_as_the_operators(recon_home: Path, capsys: pytest.CaptureFixture) -> None:
    """A review: a match whose record was restated lapses (the rules decide again, and
    manual_link_changed asks for review), yet has_operator_link stayed true, so the match-rate
    gate kept leaving its records out. The flag follows the link: true while it decides the
    records, false once it lapsed, true again when the operator matches again."""
    landing = recon_home / "landing"
    small_book(landing)
    invoices(landing, "late", [("INV-9", "Omega Oil Plc", "", "1000.00")])  # quotes no PO
    assert pipeline.run_pipeline()
    [(item,)] = query(
        recon_home,
        "select record_key from marts.fct_reconciliation_records where reconciliation = 'orders_invoices'"
        " and side = 'right' and record_key like 'INV-9%'",
    )

    def flags() -> list[tuple]:
        return published(
            recon_home,
            "select side, record_key, has_operator_link from marts.fct_reconciliation_records"
            " where reconciliation = 'orders_invoices' and record_key in ('SO-8', ?) order by side",
            [item],
        )

    def operator_records() -> int:
        return rate_check(recon_home)["metadata"]["operator_records"]

    assert flags() == [("left", "SO-8", False), ("right", item, False)]
    # SO-8 is billed 1000 short; the operator says INV-9, which bills nothing, bills the rest.
    [(exception_id,)] = query(
        recon_home,
        "select exception_id from marts.fct_reconciliation_exceptions where record_id = ? and domain = 'billing'",
        [item],
    )
    assert cli.main(["exceptions", "claim", exception_id[:12], "--as", "alice"]) == 0, capsys.readouterr().err
    assert cli.main(["exceptions", "match", exception_id[:12], "--as", "alice", "--reason", "confirmed_by_document",
                     "--with", "SO-8"]) == 0  # fmt: skip
    checked(exception_id)  # a link waiting for a checker applies once approved (maker–checker)
    assert pipeline.run_pipeline()
    assert flags() == [("left", "SO-8", True), ("right", item, True)]
    assert operator_records() == 1

    # INV-9 is restated: the link lapses and is raised for review; the records are the engine's again.
    invoices(landing, "late", [("INV-9", "Omega Oil Plc", "", "1010.00")])
    assert pipeline.run_pipeline()
    assert not published(recon_home, "select 1 from marts.fct_reconciliation_matches where pass_name = 'operator'")
    [(changed,)] = published(
        recon_home,
        "select exception_id from marts.fct_reconciliation_exceptions where exception_type = 'manual_link_changed'"
        " and record_id = ?",
        [item],
    )
    assert flags() == [("left", "SO-8", False), ("right", item, False)]
    assert operator_records() == 0

    # Matched again as it is now: the operator decides the records again.
    assert cli.main(["exceptions", "claim", changed[:12], "--as", "paul"]) == 0, capsys.readouterr().err
    assert cli.main(["exceptions", "match", changed[:12], "--as", "paul", "--reason", "confirmed_by_document",
                     "--with", "SO-8"]) == 0  # fmt: skip
    checked(changed)
    assert pipeline.run_pipeline()
    assert flags() == [("left", "SO-8", True), ("right", item, True)]


def test_show_says_when_rows_naming_the_record_were_quarantined(
    after_first_run: Path, capsys: pytest.CaptureFixture
) -> None:
    """A tryout: an invoice line written "1,000.00" was quarantined, and the order it bills
    showed an amount variance of exactly that line with nothing to say the data was partial."""
    recon_home = after_first_run
    [(exception_id,)] = query(
        recon_home,
        "select exception_id from marts.fct_reconciliation_exceptions where record_id = 'SO-8'"
        " and exception_type = 'amount_variance'",
    )
    capsys.readouterr()
    assert cli.main(["exceptions", "show", exception_id[:12]]) == 0
    out = capsys.readouterr().out
    assert (
        "quarantined rows           1 row(s) naming this record or its match were not loaded "
        "(billing/invoice_lines/invoices.csv): the break may come from them" in out
    ), out
    # An exception whose records lost nothing says nothing of it.
    [(other,)] = query(
        recon_home,
        "select exception_id from marts.fct_reconciliation_exceptions where record_id <> 'SO-8' limit 1",
    ) or [(None,)]
    if other is not None:
        assert cli.main(["exceptions", "show", other[:12]]) == 0
        assert "quarantined rows" not in capsys.readouterr().out
