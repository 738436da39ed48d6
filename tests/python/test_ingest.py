"""Ingestion into a real DuckDB file: idempotency, restatement, rejection, quarantine."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import write

from orchestration import contract, ingest

# Files written for contract 1.0.0 (without the optional columns added since) must load.
ORDER_COLUMNS = [c.name for c in contract.entity("crm", "orders").columns if c.since == "1.0.0"]
ORDER_HEADER = ",".join(ORDER_COLUMNS)


def order_row(order_id: str, amount: str = "1200.50", currency: str = "EUR", **over: str) -> str:
    values = {
        "order_id": order_id,
        "client_id": "C-1",
        "client_name": "Acme Ltd",
        "order_ref": f"PO-2026-{order_id}",
        "order_type": "insertion_order",
        "amount": amount,
        "currency": currency,
        "service_start_date": "2026-01-01",
        "service_end_date": "2026-01-31",
        "account_manager": "jd",
        "status": "booked",
        "updated_at": "2026-01-01T10:00:00Z",
    }
    values.update(over)
    return ",".join(values[c] for c in ORDER_COLUMNS)


def orders_csv(*rows: str) -> str:
    return "\n".join([ORDER_HEADER, *rows]) + "\n"


def status_summary(home: Path) -> dict:
    """What `recon status --working` reports of the home's warehouse, as data."""
    from orchestration import status

    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        return status.summary(con)
    finally:
        con.close()


def run(home: Path) -> ingest.IngestReport:
    return ingest.ingest_landing(home / "landing", home / "warehouse.duckdb")


def scalar(home: Path, sql: str, params: list | None = None):
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql, params or []).fetchone()[0]
    finally:
        con.close()


def rows(home: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def test_loads_rows_with_lineage_and_is_idempotent(recon_home: Path) -> None:
    write(recon_home / "landing/crm/orders/o1.csv", orders_csv(order_row("1"), order_row("2")))

    first = run(recon_home)
    assert [f.status for f in first.files] == ["loaded"]
    assert first.rows_loaded == 2
    lineage = rows(recon_home, "select _batch_id, _source_file, _row_number from raw.crm__orders order by 3")
    assert lineage == [(1, "crm/orders/o1.csv", 1), (1, "crm/orders/o1.csv", 2)]
    sha = scalar(recon_home, "select distinct _file_sha256 from raw.crm__orders")
    assert sha == ingest.sha256_of(recon_home / "landing/crm/orders/o1.csv")

    second = run(recon_home)
    assert [f.status for f in second.files] == ["skipped"]
    assert scalar(recon_home, "select count(*) from raw.crm__orders") == 2
    assert scalar(recon_home, "select count(*) from raw.ingestion_log") == 1


def test_same_content_under_another_name_is_a_logged_duplicate(recon_home: Path) -> None:
    text = orders_csv(order_row("1"))
    write(recon_home / "landing/crm/orders/a.csv", text)
    write(recon_home / "landing/crm/orders/copy_of_a.csv", text)
    report = run(recon_home)
    assert sorted(f.status for f in report.files) == ["duplicate", "loaded"]
    assert scalar(recon_home, "select count(*) from raw.crm__orders") == 1
    (message,) = [f.message for f in report.files if f.status == "duplicate"]
    assert "crm/orders/copy_of_a.csv" in message and "crm/orders/a.csv (batch 1)" in message
    # Logged once, so it is visible, and not logged again on the next run.
    assert {f.status for f in run(recon_home).files} == {"skipped"}
    assert rows(recon_home, "select status, duplicate_of_batch_id from raw.ingestion_log order by batch_id") == [
        ("loaded", None),
        ("duplicate", 1),
    ]


def test_of_two_copies_in_one_ingest_the_one_exported_first_is_the_original(recon_home: Path) -> None:
    # Read by path, the copy a browser saves as "orders (1).csv" (a space sorts before the
    # dot) and a re-export in a dated folder ("2026-12-02/" sorts before "orders_") loaded, and
    # the original was logged as their duplicate. The same bytes, and the same invoice numbers
    # under new ids (stg_billing__invoices: the later batch is the duplicate_export), are the
    # copy's in the file exported later: by the date in its path, else its modification time.
    import os

    landing = recon_home / "landing"
    text = orders_csv(order_row("1"))
    original = write(landing / "crm/orders/orders.csv", text)
    copy = write(landing / "crm/orders/orders (1).csv", text)
    os.utime(original, ns=(1_700_000_000 * 10**9,) * 2)
    os.utime(copy, ns=(1_700_000_060 * 10**9,) * 2)  # written a minute later
    write(landing / "crm/orders/2026-12-02/orders.csv", orders_csv(order_row("2")))
    write(landing / "crm/orders/orders_2026-12-01.csv", orders_csv(order_row("2")))
    outcomes = run(recon_home).files
    assert [(f.source_file, f.status, f.batch_id) for f in outcomes] == [
        ("crm/orders/orders.csv", "loaded", 1),
        ("crm/orders/orders (1).csv", "duplicate", 2),
        ("crm/orders/orders_2026-12-01.csv", "loaded", 3),
        ("crm/orders/2026-12-02/orders.csv", "duplicate", 4),
    ], outcomes
    assert "same content as crm/orders/orders_2026-12-01.csv (batch 3)" in outcomes[3].message
    # The same files on another night, in another landing folder: the same order.
    paths = ingest.discover(landing)
    assert ingest.arrival_order(landing, list(reversed(paths))) == ingest.arrival_order(landing, paths)


def test_a_loaded_file_renamed_to_archive_it_is_skipped_quietly(recon_home: Path) -> None:
    # A tryout: an agency archives each file it sent once it is loaded (moved under
    # archive/, renamed .done, moved to a top-level archive/). The same bytes are loaded
    # already: each is skipped with a note, never a duplicate delivery to delete, never a
    # rejected file, and never counted twice.
    landing = recon_home / "landing"
    for n in ("x", "y", "z"):
        write(landing / f"crm/orders/{n}.csv", orders_csv(order_row(n)))
    run(recon_home)
    (landing / "crm/orders/archive").mkdir()
    (landing / "crm/orders/x.csv").rename(landing / "crm/orders/archive/x.csv")
    (landing / "crm/orders/y.csv").rename(landing / "crm/orders/y.csv.done")
    (landing / "archive").mkdir()
    (landing / "crm/orders/z.csv").rename(landing / "archive/z.csv")
    outcomes = {f.source_file: f for f in run(recon_home).files}
    assert {path: f.status for path, f in outcomes.items()} == {
        "crm/orders/archive/x.csv": "archived",
        "crm/orders/y.csv.done": "archived",
        "archive/z.csv": "archived",
    }
    assert "already loaded from crm/orders/z.csv (batch 3)" in outcomes["archive/z.csv"].message
    assert {f.status for f in run(recon_home).files} == {"skipped"}
    assert scalar(recon_home, "select count(*) from raw.crm__orders") == 3
    assert rows(
        recon_home, "select source, entity, duplicate_of_batch_id from raw.ingestion_log where status = 'archived'"
    ) == [("crm", "orders", 3), ("crm", "orders", 1), ("crm", "orders", 2)]
    summary = status_summary(recon_home)
    assert summary["rejected_files"] == [] and summary["duplicate_files"] == []
    # One row per entity, nothing read twice: 3 files, 3 rows, nothing rejected.
    assert summary["sources"] == [("crm", "orders", 3, 0, 3, 3, 0, 0)]
    # A copy while the original is still in landing, under a data file's name, is still a duplicate.
    write(landing / "crm/orders/w.csv", orders_csv(order_row("w")))
    run(recon_home)
    write(landing / "crm/orders/copy_of_w.csv", orders_csv(order_row("w")))
    assert {f.source_file: f.status for f in run(recon_home).files}["crm/orders/copy_of_w.csv"] == "duplicate"


def test_a_duplicate_stays_one_when_its_twin_is_restated(recon_home: Path) -> None:
    # A tryout: a.csv corrected, its copy b.csv then loaded with the old amount, after the
    # correction, and won in staging. The copy is now loaded only when asked for.
    text = orders_csv(order_row("1", "1000.00"))
    original = write(recon_home / "landing/crm/orders/a.csv", text)
    write(recon_home / "landing/crm/orders/b.csv", text)
    run(recon_home)
    original.write_text(orders_csv(order_row("1", "1111.00")))
    outcomes = {f.source_file: f for f in run(recon_home).files}
    assert outcomes["crm/orders/a.csv"].status == "loaded" and outcomes["crm/orders/b.csv"].status == "skipped"
    assert "restated since, so this copy is not loaded" in outcomes["crm/orders/b.csv"].message
    assert "recon ingest --again crm/orders/b.csv" in outcomes["crm/orders/b.csv"].message
    report = ingest.ingest_landing(recon_home / "landing", recon_home / "warehouse.duckdb", again=["crm/orders/b.csv"])
    assert {f.source_file: f.status for f in report.files}["crm/orders/b.csv"] == "loaded"


def test_restatement_back_to_an_earlier_version_is_loaded(recon_home: Path) -> None:
    """Idempotency is per (path, content): v1 → v2 → v1 makes v1's rows current again."""
    path = write(recon_home / "landing/crm/orders/o.csv", orders_csv(order_row("1", "100.00")))
    run(recon_home)
    path.write_text(orders_csv(order_row("1", "150.00")))
    run(recon_home)
    path.write_text(orders_csv(order_row("1", "100.00")))
    (outcome,) = run(recon_home).files
    assert outcome.status == "loaded" and outcome.is_restatement and outcome.supersedes_batch_id == 2
    assert rows(recon_home, "select batch_id, supersedes_batch_id from raw.ingestion_log order by 1") == [
        (1, None),
        (2, 1),
        (3, 2),
    ]


def test_two_files_restated_to_the_same_bytes_are_both_restatements(recon_home: Path) -> None:
    a = write(recon_home / "landing/crm/orders/a.csv", orders_csv(order_row("1")))
    b = write(recon_home / "landing/crm/orders/b.csv", orders_csv(order_row("2")))
    run(recon_home)
    a.write_text(orders_csv())  # header only: every order of a.csv withdrawn
    b.write_text(orders_csv())
    outcomes = run(recon_home).files
    assert [(f.status, f.is_restatement, f.supersedes_batch_id) for f in outcomes] == [
        ("loaded", True, 1),
        ("loaded", True, 2),
    ]


def test_a_rejected_file_loads_after_following_the_advice(recon_home: Path) -> None:
    text = orders_csv(order_row("1"))
    stray = write(recon_home / "landing/crm/o.csv", text)
    txt = write(recon_home / "landing/crm/orders/p.txt", orders_csv(order_row("2")))
    first = {f.source_file: f for f in run(recon_home).files}
    assert "move it to e.g. crm/orders/o.csv" in first["crm/o.csv"].message
    assert "unsupported file type" in first["crm/orders/p.txt"].message
    stray.rename(recon_home / "landing/crm/orders/o.csv")
    txt.rename(recon_home / "landing/crm/orders/p.csv")
    second = {f.source_file: f.status for f in run(recon_home).files}
    assert second == {"crm/orders/o.csv": "loaded", "crm/orders/p.csv": "loaded"}
    assert scalar(recon_home, "select count(*) from raw.crm__orders") == 2


def test_hidden_files_and_links_are_logged_not_followed(recon_home: Path, tmp_path: Path) -> None:
    landing = recon_home / "landing"
    write(landing / "crm/orders/good.csv", orders_csv(order_row("1")))
    write(landing / "crm/orders/.~lock.good.csv#", "lock")
    secret = write(tmp_path / "outside" / "secret.csv", orders_csv(order_row("9")))
    (landing / "crm/orders/outside.csv").symlink_to(secret)
    (landing / "crm/orders/gone.csv").symlink_to(tmp_path / "nowhere.csv")
    (landing / "crm/orders/inside.csv").symlink_to(landing / "crm/orders/good.csv")
    (landing / "crm/linked").symlink_to(tmp_path / "outside", target_is_directory=True)
    by_file = {f.source_file: f for f in run(recon_home).files}
    assert by_file["crm/orders/.~lock.good.csv#"].status == "ignored"
    assert by_file["crm/orders/outside.csv"].status == "rejected"
    assert "outside the landing folder" in by_file["crm/orders/outside.csv"].message
    assert "dangling symlink" in by_file["crm/orders/gone.csv"].message
    assert by_file["crm/linked"].status == "rejected"
    # A link inside landing is read; its rows equal good.csv's, so it is a duplicate.
    assert by_file["crm/orders/inside.csv"].status == "duplicate"
    assert scalar(recon_home, "select count(*) from raw.crm__orders where order_id = '9'") == 0
    logged = scalar(recon_home, "select count(*) from raw.ingestion_log")
    assert logged == 6
    assert {f.status for f in run(recon_home).files} == {"skipped"}
    assert scalar(recon_home, "select count(*) from raw.ingestion_log") == logged


def test_values_outside_the_contract_range_are_quarantined(recon_home: Path) -> None:
    write(
        recon_home / "landing/crm/orders/o.csv",
        orders_csv(
            order_row("1", amount="999999999999.9999", currency="JPY"),
            order_row("2", amount="99999999999999.9999", currency="JPY"),
            order_row("3", amount="-5.00"),
            order_row("4", service_start_date="2026-02-01", service_end_date="2026-01-31"),
            order_row("5", service_end_date="9999-12-31"),
            order_row("6", updated_at="9999-01-01T00:00:00Z"),
            order_row("7", service_start_date="1899-12-31"),
            # A currency worth more than a yen has a tighter range (contract.AMOUNT_LIMITS):
            # 999,999,999,999 GBP converted into JPY overflowed DECIMAL(18, 4) in the models.
            order_row("8", amount="9999999999.9999", currency="GBP"),
            order_row("9", amount="10000000000", currency="GBP"),
            order_row("10", amount="-10000000000.00", currency=" usd "),
            order_row("11", amount="99999999999.9999", currency="SEK"),
            order_row("12", amount="100000000000", currency="sek"),
        ),
    )
    (outcome,) = run(recon_home).files
    assert (outcome.rows_read, outcome.rows_loaded, outcome.rows_quarantined) == (12, 3, 9)
    found = rows(recon_home, "select row_number, column_name, original_value, reason from raw.quarantine order by 1")
    assert [(r, c, v) for r, c, v, _ in found] == [
        (2, "amount", "99999999999999.9999"),
        (3, "amount", "-5.00"),
        (4, "service_end_date", "2026-01-31"),
        (5, "service_end_date", "9999-12-31"),
        (6, "updated_at", "9999-01-01T00:00:00Z"),
        (7, "service_start_date", "1899-12-31"),
        (9, "amount", "10000000000"),
        (10, "amount", "-10000000000.00"),
        (12, "amount", "100000000000"),
    ]
    reasons = [reason for *_, reason in found]
    assert "out of range" in reasons[0] and "1,000,000,000,000" in reasons[0]
    assert "negative value not expected" in reasons[1]
    assert "before service_start_date" in reasons[2]
    assert all("2000-01-01 to 2099-12-31" in r for r in reasons[3:6])
    assert reasons[6].startswith("out of range: amount in USD, EUR, GBP, CAD, AUD, CHF must be below 10,000,000,000")
    assert "converted into any other currency" in reasons[6] and "below 1,000,000,000,000 in JPY" in reasons[6]
    # A negative order amount is quarantined as out of range first: its size is the problem.
    assert reasons[7].startswith("out of range: amount in USD, EUR")
    assert reasons[8].startswith("out of range: amount in SEK must be below 100,000,000,000")


def test_only_an_empty_field_is_missing(recon_home: Path) -> None:
    write(
        recon_home / "landing/crm/orders/o.csv",
        orders_csv(
            order_row("1", client_name="NA", order_ref="N/A", account_manager="null"),
            order_row("2", amount="NA"),
            order_row("3", client_name="#N/A", account_manager=""),
        ),
    )
    (outcome,) = run(recon_home).files
    assert (outcome.rows_loaded, outcome.rows_quarantined) == (2, 1)
    loaded = "select order_id, client_name, order_ref, account_manager from raw.crm__orders order by 1"
    assert rows(recon_home, loaded) == [
        ("1", "NA", "N/A", "null"),
        ("3", "#N/A", "PO-2026-3", None),
    ]
    assert rows(recon_home, "select column_name, original_value from raw.quarantine") == [("amount", "NA")]


def test_changed_file_is_a_restatement(recon_home: Path) -> None:
    path = write(recon_home / "landing/crm/orders/o.csv", orders_csv(order_row("1", "100.00")))
    run(recon_home)
    path.write_text(orders_csv(order_row("1", "150.00"), order_row("2")))
    report = run(recon_home)
    (outcome,) = report.files
    assert outcome.status == "loaded"
    assert outcome.is_restatement and outcome.supersedes_batch_id == 1
    # Raw stays append-only: both versions are kept, each tagged with its batch.
    assert rows(recon_home, "select _batch_id, amount from raw.crm__orders where order_id = '1' order by 1") == [
        (1, Decimal("100.0000")),
        (2, Decimal("150.0000")),
    ]
    log = rows(recon_home, "select batch_id, is_restatement, supersedes_batch_id from raw.ingestion_log order by 1")
    assert log == [(1, False, None), (2, True, 1)]


def test_status_counts_a_restated_file_once_and_shows_what_it_superseded(
    recon_home: Path, capsys: pytest.CaptureFixture
) -> None:
    from orchestration import status, terminal

    first = orders_csv(order_row("1", "100.00"), order_row("2"), order_row("3", amount="NA"))
    path = write(recon_home / "landing/crm/orders/o.csv", first)
    write(recon_home / "landing/crm/orders/p.csv", orders_csv(order_row("9")))
    run(recon_home)
    path.write_text(orders_csv(order_row("1", "150.00"), order_row("2")))  # restated: 2 rows, none bad
    restated = run(recon_home).by_status("loaded")
    assert [(f.source_file, f.is_restatement) for f in restated] == [("crm/orders/o.csv", True)]

    data = status_summary(recon_home)
    # Current files only: o.csv's new version and p.csv; the first o.csv is not added in.
    assert data["sources"] == [("crm", "orders", 2, 0, 3, 3, 0, 0)]
    assert data["superseded"] == [("crm", "orders", 1, 3, 2, 1)]
    assert data["quarantine_reasons"] == []  # the bad row was in the superseded version
    capsys.readouterr()
    terminal.show(status.source_blocks(data))
    shown = capsys.readouterr().out
    assert "Superseded by restatements" in shown and "not counted above" in shown


def test_bad_values_are_quarantined_with_file_row_column_and_reason(recon_home: Path) -> None:
    write(
        recon_home / "landing/crm/orders/o.csv",
        orders_csv(
            order_row("1"),
            order_row("2", amount='"12,500.00"'),
            order_row("3", currency="XYZ"),
            order_row("", amount="5"),
            order_row("5", service_start_date="31/03/2026"),
            order_row("6", status="archived"),
            order_row("7", updated_at="yesterday"),
        ),
    )
    (outcome,) = run(recon_home).files
    assert (outcome.rows_read, outcome.rows_loaded, outcome.rows_quarantined) == (7, 1, 6)
    found = rows(
        recon_home,
        "select source_file, row_number, column_name, original_value, reason from raw.quarantine order by row_number",
    )
    assert [(f, r, c, v) for f, r, c, v, _ in found] == [
        ("crm/orders/o.csv", 2, "amount", "12,500.00"),
        ("crm/orders/o.csv", 3, "currency", "XYZ"),
        ("crm/orders/o.csv", 4, "order_id", None),
        ("crm/orders/o.csv", 5, "service_start_date", "31/03/2026"),
        ("crm/orders/o.csv", 6, "status", "archived"),
        ("crm/orders/o.csv", 7, "updated_at", "yesterday"),
    ]
    reasons = [r for *_, r in found]
    assert "thousands separators" in reasons[0] and "currency" in reasons[1] and "fill in order_id" in reasons[2]
    # The whole original row is kept, so nothing is lost.
    record = json.loads(scalar(recon_home, "select record from raw.quarantine where row_number = 2"))
    assert record["order_id"] == "2" and record["amount"] == "12,500.00"


@pytest.mark.parametrize(
    ("relative", "text", "expected"),
    [
        ("billing/invoices/legacy.csv", "invoice_id,client_name,issue_date\nI-1,Acme,2026-01-01\n", "missing required"),
        ("crm/orders/broken.csv", ORDER_HEADER + '\n1,"2,3\n4,5\n', "unterminated quote"),
        ("crm/orders/empty.csv", "", "empty"),
        ("crm/orders/notes.txt", "hello", "unsupported file type"),
        ("crm/contacts/c.csv", "a\n1\n", "unknown landing entity"),
        ("stray.csv", "a\n1\n", "not under <source>/<entity>/"),
        ("crm/orders/o.parquet", "not parquet at all", "Parquet"),
        ("crm/orders/dup.csv", "order_id,ORDER_ID\n1,1\n", "appears twice"),
    ],
)
def test_unusable_files_are_rejected_whole_and_logged(
    recon_home: Path, relative: str, text: str, expected: str
) -> None:
    write(recon_home / "landing" / relative, text)
    write(recon_home / "landing/crm/orders/good.csv", orders_csv(order_row("1")))
    report = run(recon_home)
    by_file = {f.source_file: f for f in report.files}
    rejected = by_file[relative]
    assert rejected.status == "rejected"
    assert expected in rejected.message and relative in rejected.message
    assert by_file["crm/orders/good.csv"].status == "loaded"  # the run goes on
    assert scalar(recon_home, "select count(*) from raw.crm__orders") == 1
    logged = rows(
        recon_home, "select status, rows_loaded, message from raw.ingestion_log where source_file = ?", [relative]
    )
    assert logged[0][0] == "rejected" and logged[0][1] == 0 and expected in logged[0][2]
    # A rejected file is not retried until its content changes.
    assert {f.status for f in run(recon_home).files} == {"skipped"}


def test_jsonl_keeps_decimals_exact_and_quarantines_broken_lines(recon_home: Path) -> None:
    lines = [
        json.dumps(
            {
                "invoice_id": "I-1",
                "client_name": "Acme",
                "issue_date": "2026-01-05",
                "currency": "gbp",
                "net_amount": 0.1,
                "tax_amount": 0.02,
                "total_amount": 0.12,
                "status": "Issued",
            }
        ),
        "{not json",
        "",
        json.dumps(["a", "list"]),
        json.dumps(
            {
                "invoice_id": "I-2",
                "client_name": "Acme",
                "issue_date": "2026-01-05",
                "currency": "GBP",
                # An invoice bills whole cents (contract 2.9.0); a rate keeps its 4 decimals.
                "net_amount": "12.34",
                "tax_amount": "0",
                "total_amount": "12.34",
                "tax_rate": "0.1234",
                "status": "void",
            }
        ),
    ]
    write(recon_home / "landing/billing/invoices/i.jsonl", "\n".join(lines) + "\n")
    (outcome,) = run(recon_home).files
    assert (outcome.rows_read, outcome.rows_loaded, outcome.rows_quarantined) == (4, 2, 2)
    loaded = rows(
        recon_home, "select invoice_id, currency, net_amount, tax_rate, status from raw.billing__invoices order by 1"
    )
    assert loaded == [
        ("I-1", "GBP", Decimal("0.1000"), None, "issued"),
        ("I-2", "GBP", Decimal("12.3400"), Decimal("0.1234"), "void"),
    ]
    bad = rows(recon_home, "select row_number, column_name from raw.quarantine order by 1")
    assert bad == [(2, "_record"), (4, "_record")]


def test_jsonl_without_a_required_key_anywhere_is_rejected(recon_home: Path) -> None:
    write(recon_home / "landing/crm/leads/l.jsonl", json.dumps({"lead_id": "L1"}) + "\n")
    (outcome,) = run(recon_home).files
    assert outcome.status == "rejected" and "created_at" in outcome.message
    assert scalar(recon_home, "select count(*) from raw.crm__leads") == 0
    assert scalar(recon_home, "select count(*) from raw.quarantine") == 0


def test_parquet_with_typed_columns_and_timestamps_to_utc(recon_home: Path) -> None:
    ent = contract.entity("crm", "leads")
    table = pa.table(
        {
            "lead_id": ["L1", "L2", "L3"],
            "email": ["a@x.com", None, "c@x.com"],
            "created_at": ["2026-03-01T12:00:00+02:00", "2026-03-01 08:30:00", "2026-03-01T09:00:00Z"],
        }
    )
    path = recon_home / "landing/crm/leads/l.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(table, path)
    (outcome,) = run(recon_home).files
    assert outcome.rows_loaded == 3, outcome.message
    got = rows(recon_home, "select lead_id, created_at from raw.crm__leads order by 1")
    assert got == [
        ("L1", datetime(2026, 3, 1, 10, 0)),
        ("L2", datetime(2026, 3, 1, 8, 30)),
        ("L3", datetime(2026, 3, 1, 9, 0)),
    ]
    assert set(ent.required_columns) <= set(table.column_names)


def test_every_file_balances_read_loaded_quarantined(recon_home: Path) -> None:
    write(recon_home / "landing/crm/orders/a.csv", orders_csv(order_row("1"), order_row("2", currency="??")))
    write(recon_home / "landing/crm/orders/b.csv", orders_csv(order_row("3")))
    run(recon_home)
    unbalanced = rows(
        recon_home,
        """
        select log.batch_id
        from raw.ingestion_log as log
        left join (select _batch_id, count(*) as n from raw.crm__orders group by 1) as loaded
            on loaded._batch_id = log.batch_id
        left join (select batch_id, count(*) as n from raw.quarantine group by 1) as bad
            on bad.batch_id = log.batch_id
        where log.rows_read != coalesce(loaded.n, 0) + coalesce(bad.n, 0)
            or log.rows_loaded != coalesce(loaded.n, 0)
        """,
    )
    assert unbalanced == []
    assert scalar(recon_home, "select sum(rows_read) from raw.ingestion_log") == 3


def test_a_file_read_again_after_a_contract_change_restates_its_batch(
    recon_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(recon_home / "landing/crm/orders/o.csv", orders_csv(order_row("1"), order_row("2", currency="NOK")))
    (first,) = run(recon_home).files
    assert (first.status, first.rows_loaded, first.rows_quarantined) == ("loaded", 1, 1)
    # The same bytes are skipped, whatever the contract says now ...
    monkeypatch.setattr(contract, "CURRENCIES", (*contract.CURRENCIES, "NOK"))
    monkeypatch.setattr(ingest, "_SQL_CACHE", {})  # a contract change is a new process in practice
    assert [f.status for f in run(recon_home).files] == ["skipped"]
    # ... unless named: a new batch of the path, restating the first, with the row loaded.
    report = ingest.ingest_landing(recon_home / "landing", recon_home / "warehouse.duckdb", again=["crm/orders/o.csv"])
    (again,) = report.files
    assert (again.status, again.rows_loaded, again.rows_quarantined) == ("loaded", 2, 0)
    assert again.is_restatement and again.supersedes_batch_id == first.batch_id
    assert "read again on request" in again.message
    log = rows(recon_home, "select batch_id, file_sha256, is_restatement, supersedes_batch_id from raw.ingestion_log")
    assert [(b, s, r, p) for b, s, r, p in sorted(log)] == [(1, first.sha256, False, None), (2, first.sha256, True, 1)]
    # An absolute path inside landing names the same file; anything else is refused by name.
    assert ingest.landing_paths(recon_home / "landing", [str(path), "crm/orders/o.csv"]) == ["crm/orders/o.csv"]
    for name, says in (
        ("crm/orders/missing.csv", "no such file"),
        (str(recon_home / "elsewhere.csv"), "not inside the landing folder"),
        ("../warehouse.duckdb", "no such file"),
        ("crm/orders", "no such file"),
    ):
        with pytest.raises(ingest.NotInLanding, match=says):
            ingest.ingest_landing(recon_home / "landing", recon_home / "warehouse.duckdb", again=[name])
    assert scalar(recon_home, "select count(*) from raw.ingestion_log") == 2


def test_cli_ingest_again_names_what_it_cannot_find(recon_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from orchestration import cli

    write(recon_home / "landing/crm/orders/o.csv", orders_csv(order_row("1")))
    assert cli.main(["ingest"]) == 0
    assert cli.main(["ingest", "--again", "crm/orders/nope.csv"]) == 4
    err = capsys.readouterr().err
    assert "crm/orders/nope.csv: no such file" in err and "nothing loaded" in err
    assert scalar(recon_home, "select count(*) from raw.ingestion_log") == 1
    assert cli.main(["ingest", "--again", "crm/orders/o.csv"]) == 0
    assert "read again on request" in capsys.readouterr().out
    assert scalar(recon_home, "select max(supersedes_batch_id) from raw.ingestion_log") == 1


def test_a_batch_logged_outside_a_run_makes_the_next_run_build(
    recon_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A review found `recon ingest --again` followed by a quiet run that never built it.
    from orchestration import build_inputs, publish, settings

    write(recon_home / "landing/crm/orders/o.csv", orders_csv(order_row("1")))
    run(recon_home)
    warehouse = settings.warehouse_path()
    assert ingest.ingest_head(warehouse) == 1
    published = {
        "publication": "p1",
        "landing_sha256": build_inputs.landing_digest(),
        "build_inputs": {"project_sha256": build_inputs.project_digest(), "last_batch_id": 1, "last_action_seq": 0},
    }
    monkeypatch.setattr(publish, "current", lambda: published)
    assert build_inputs.nothing_new() == published  # nothing since the build: a quiet run
    ingest.ingest_landing(recon_home / "landing", warehouse, again=["crm/orders/o.csv"])
    assert ingest.ingest_head(warehouse) == 2
    assert build_inputs.nothing_new() is None  # the re-read batch is built by the next run


def test_a_dangling_link_a_pipe_and_an_unreadable_file_are_rejected_not_fatal(
    recon_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A tryout: a dangling link stopped every later run (the landing digest followed it), a
    # named pipe blocked ingestion for good (it was hashed before being looked at), and a
    # file without read permission crashed ingestion and every file after it.
    import os
    import threading

    from orchestration import build_inputs
    from orchestration.defs import automation

    folder = recon_home / "landing/crm/orders"
    write(folder / "a_ok.csv", orders_csv(order_row("1")))
    write(folder / "c_unreadable.csv", orders_csv(order_row("2")))
    write(folder / "d_ok.csv", orders_csv(order_row("3")))
    (folder / "b_dangling.csv").symlink_to("nope.csv")
    os.mkfifo(folder / "e_pipe.csv")
    real = ingest.sha256_of

    def unreadable(path):
        if path.name == "c_unreadable.csv":
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(ingest, "sha256_of", unreadable)
    assert build_inputs.landing_digest() and automation.landing_fingerprint()  # no crash on the link
    done: list = []
    worker = threading.Thread(target=lambda: done.append(run(recon_home)), daemon=True)
    worker.start()
    worker.join(60)
    if worker.is_alive():  # unblock the pipe before failing, so the process can end
        with open(folder / "e_pipe.csv", "w"):
            pass
        pytest.fail("ingestion blocked on a named pipe")
    outcomes = {f.source_file.rsplit("/", 1)[1]: (f.status, f.message) for f in done[0].files}
    assert outcomes["a_ok.csv"][0] == outcomes["d_ok.csv"][0] == "loaded"
    assert outcomes["b_dangling.csv"][0] == "rejected" and "dangling symlink" in outcomes["b_dangling.csv"][1]
    assert outcomes["e_pipe.csv"][0] == "rejected" and "not a regular file" in outcomes["e_pipe.csv"][1]
    assert outcomes["c_unreadable.csv"][0] == "rejected" and "cannot be read" in outcomes["c_unreadable.csv"][1]
    # Logged once each: the next ingest skips them as already seen.
    assert {f.status for f in run(recon_home).files} == {"skipped"}


def test_whole_numbers_are_plain_digits(recon_home: Path) -> None:
    # A tryout: DuckDB's cast read 1.5 as 2 and 0x10 as 16, and staging then dropped rows
    # whose rounded line numbers collided.
    header = "invoice_id,line_number,description,reference,quantity,unit_price,net_amount"
    values = ["1.5", "2.5", "1e3", "0x10", "1_000", " 7 ", "3.0", "-0", "12"]
    lines = [f"INV-1,{v},x,,1,10.00,10.00" for v in values]
    write(recon_home / "landing/billing/invoice_lines/l.csv", "\n".join([header, *lines]) + "\n")
    (outcome,) = run(recon_home).files
    assert (outcome.rows_read, outcome.rows_loaded, outcome.rows_quarantined) == (9, 4, 5)
    loaded = [r[0] for r in rows(recon_home, "select line_number from raw.billing__invoice_lines order by 1")]
    assert loaded == [0, 3, 7, 12]
    reasons = rows(recon_home, "select original_value, reason from raw.quarantine order by row_number")
    assert [v for v, _ in reasons] == ["1.5", "2.5", "1e3", "0x10", "1_000"]
    assert all("not a whole number" in r for _, r in reasons)


def test_empty_and_repeated_columns_outside_the_contract_are_ignored(recon_home: Path) -> None:
    # A tryout: a spreadsheet's trailing empty columns, or a repeated extra column (Jira's
    # Labels, Labels), rejected the whole file; the contract ignores columns it does not use.
    header = ORDER_HEADER + ",notes,notes,,"
    write(recon_home / "landing/crm/orders/o.csv", f"{header}\n{order_row('1')},a,b,,\n")
    (outcome,) = run(recon_home).files
    assert (outcome.status, outcome.rows_loaded) == ("loaded", 1), outcome.message
    assert "ignored column(s) not in the contract: notes, (unnamed or repeated, column" in outcome.message


def test_a_file_still_being_written_is_said_by_default(
    recon_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from itertools import count

    from orchestration import cli

    write(recon_home / "landing/crm/orders/growing.csv", orders_csv(order_row("1")))
    ticks = count()
    monkeypatch.setattr(ingest, "_fingerprint", lambda path: (next(ticks), 0))  # it changes between two looks
    assert cli.main(["ingest"]) == 0
    out = capsys.readouterr().out
    assert "growing.csv" in out and "still being written" in out
    assert "0 already ingested, 1 still being written (read on the next run)" in out


def test_jsonl_with_a_byte_order_mark_and_a_repeated_key(recon_home: Path) -> None:
    # A tryout: the first object after a BOM was quarantined as invalid JSON, and an object
    # naming a key twice lost its first value without a word.
    first = {"invoice_id": "I-1", "client_name": "Acme", "issue_date": "2026-01-05", "currency": "GBP",
             "net_amount": "10.00", "tax_amount": "2.00", "total_amount": "12.00", "status": "issued"}  # fmt: skip
    repeated = json.dumps(first).replace('"invoice_id": "I-1"', '"invoice_id": "I-2", "invoice_id": "I-3"')
    path = recon_home / "landing/billing/invoices/i.jsonl"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\xef\xbb\xbf" + (json.dumps(first) + "\n" + repeated + "\n").encode())
    (outcome,) = run(recon_home).files
    assert (outcome.status, outcome.rows_loaded, outcome.rows_quarantined) == ("loaded", 1, 1), outcome.message
    [(reason,)] = rows(recon_home, "select reason from raw.quarantine")
    assert "key 'invoice_id' appears twice" in reason


def test_a_csv_whose_lines_end_in_a_bare_carriage_return_loads(recon_home: Path) -> None:
    # A tryout: "CSV (Macintosh)" was rejected with a misleading reason about the header.
    text = orders_csv(order_row("1"), order_row("2")).replace("\n", "\r")
    path = recon_home / "landing/crm/orders/mac.csv"
    path.parent.mkdir(parents=True)
    path.write_bytes(text.encode())
    (outcome,) = run(recon_home).files
    assert (outcome.status, outcome.rows_loaded, outcome.rows_quarantined) == ("loaded", 2, 0), outcome.message


def test_a_utc_offset_beyond_the_earths_is_quarantined(recon_home: Path) -> None:
    # A tryout: DuckDB read 2026-03-31T14:05:00+25:00 as a time a day earlier.
    write(
        recon_home / "landing/crm/orders/o.csv",
        orders_csv(
            order_row("1", updated_at="2026-03-31T14:05:00+25:00"),
            order_row("2", updated_at="2026-03-31T14:05:00+14:00"),
            order_row("3", updated_at="2026-03-31T14:05:00-13:30"),
        ),
    )
    (outcome,) = run(recon_home).files
    assert (outcome.rows_loaded, outcome.rows_quarantined) == (1, 2)
    reasons = [r for (r,) in rows(recon_home, "select reason from raw.quarantine")]
    assert all("UTC offset out of range" in r for r in reasons)


def test_one_version_of_an_order_with_other_values_in_a_later_file_is_quarantined(recon_home: Path) -> None:
    # A tryout: order 1 at updated_at 10:00 came in a.csv for 1000.00 and again in b.csv, at
    # the same updated_at, for 1111.00. Staging kept b.csv's amount and nothing said so. Now
    # the later row is quarantined naming a.csv and what to do; a new version, an identical
    # copy and a restatement of a.csv itself still load.
    a = write(recon_home / "landing/crm/orders/a.csv", orders_csv(order_row("1", "1000.00"), order_row("2")))
    run(recon_home)
    write(
        recon_home / "landing/crm/orders/b.csv",
        orders_csv(
            order_row("1", "1111.00"),  # same version, other amount
            order_row("2"),  # identical copy: loads, staging keeps one
            order_row("3"),
        ),
    )
    write(
        recon_home / "landing/crm/orders/c.csv",
        orders_csv(order_row("1", "1200.00", updated_at="2026-01-02T10:00:00Z")),  # a new version
    )
    outcomes = {f.source_file: f for f in run(recon_home).files}
    b = outcomes["crm/orders/b.csv"]
    assert (b.status, b.rows_read, b.rows_loaded, b.rows_quarantined) == ("loaded", 3, 2, 1), b.message
    assert (outcomes["crm/orders/c.csv"].rows_loaded, outcomes["crm/orders/c.csv"].rows_quarantined) == (1, 0)
    ((row, column, value, reason, record),) = rows(
        recon_home, "select row_number, column_name, original_value, reason, record from raw.quarantine"
    )
    # The file's text, as every quarantined row keeps it (a helper's tryout: '1111.0000' and
    # '2026-01-01 10:00:00', the values as loaded, were stored).
    assert (row, column, value) == (1, "amount", "1111.00")
    as_written = dict(zip(ORDER_COLUMNS, order_row("1", "1111.00").split(","), strict=True))
    assert json.loads(record) == {c.name: as_written.get(c.name) for c in contract.entity("crm", "orders").columns}
    assert reason.startswith(ingest.CROSS_FILE_CONFLICT), reason
    assert "(order_id, updated_at) = (1, 2026-01-01 10:00:00)" in reason, reason
    assert "crm/orders/a.csv (batch 1, row 1)" in reason and "differs in amount." in reason, reason
    assert "later updated_at" in reason and "drop it at crm/orders/a.csv (a restatement)" in reason, reason
    assert rows(recon_home, "select amount from raw.crm__orders where order_id = '1' order by _batch_id") == [
        (Decimal("1000.0000"),),
        (Decimal("1200.0000"),),
    ]
    # A restatement of a.csv replaces its own batch: not a conflict with it.
    a.write_text(orders_csv(order_row("1", "1050.00"), order_row("2")))
    (restated,) = run(recon_home).by_status("loaded")
    assert (restated.is_restatement, restated.rows_loaded, restated.rows_quarantined) == (True, 2, 0)


INVOICE_COLUMNS = [c.name for c in contract.entity("billing", "invoices").columns]


def invoices_csv(*rows: dict[str, str]) -> str:
    """Invoice rows over every contract column; each row gives what differs from INV-1's."""
    base = {c: "" for c in INVOICE_COLUMNS} | {
        "invoice_id": "INV-1",
        "client_name": "Acme",
        "issue_date": "2026-01-31",
        "due_date": "2026-03-02",
        "currency": "EUR",
        "net_amount": "100.00",
        "tax_amount": "20.00",
        "total_amount": "120.00",
        "status": "issued",
        "updated_at": "2026-01-31T10:00:00Z",
    }
    return (
        "\n".join([",".join(INVOICE_COLUMNS), *(",".join((base | r)[c] for c in INVOICE_COLUMNS) for r in rows)]) + "\n"
    )


def test_an_invoice_resent_without_a_version_and_other_values_is_quarantined(recon_home: Path) -> None:
    # A tester's file: INV-00000002 loaded at 5671.81 with an updated_at, then re-sent corrected
    # to 6671.81 with updated_at empty. It loaded, and staging (updated_at desc nulls last) kept
    # 5671.81 in silence. Now it is quarantined naming the versioned row and asking for a later
    # updated_at; a copy without version equal to a loaded version (even an older one) loads.
    v1, v2 = "2026-01-31T10:00:00Z", "2026-02-05T10:00:00Z"
    write(
        recon_home / "landing/billing/invoices/a.csv",
        invoices_csv({}, {"updated_at": v2, "status": "paid"}, {"invoice_id": "INV-2"}),
    )
    run(recon_home)
    write(
        recon_home / "landing/billing/invoices/resend_no_version.csv",
        invoices_csv(
            {"net_amount": "1100.00", "total_amount": "1120.00", "updated_at": ""},  # a correction: quarantined
            {"invoice_id": "INV-2", "updated_at": ""},  # a copy of a loaded version: nothing lost
            {"invoice_id": "INV-3", "updated_at": ""},  # no version anywhere: loads
            {"invoice_id": "INV-4", "updated_at": v1, "status": "paid"},  # same file, with a version
            {"invoice_id": "INV-4", "updated_at": "", "status": "void"},  # differs from it: quarantined
        ),
    )
    (outcome,) = run(recon_home).by_status("loaded")
    assert (outcome.rows_read, outcome.rows_loaded, outcome.rows_quarantined) == (5, 3, 2), outcome.message
    quarantined = rows(recon_home, "select row_number, column_name, original_value, reason from raw.quarantine")
    assert [q[:3] for q in quarantined] == [(1, "net_amount", "1100.00"), (5, "status", "void")]
    reason = quarantined[0][3]
    assert reason.startswith(ingest.UNVERSIONED_CONFLICT), reason
    said = "(invoice_id) = (INV-1) has updated_at 2026-02-05 10:00:00 on billing/invoices/a.csv (batch 1, row 2)"
    assert said in reason, reason
    assert (
        "differs in net_amount, total_amount, status" in reason
        and "with its updated_at set later than that one" in reason
    )
    assert "billing/invoices/resend_no_version.csv (batch 2, row 4)" in quarantined[1][3], quarantined[1][3]
    # INV-1 re-sent as its older version was (a stale copy): loads, staging keeps the latest.
    write(recon_home / "landing/billing/invoices/stale.csv", invoices_csv({"updated_at": ""}))
    (stale,) = run(recon_home).by_status("loaded")
    assert (stale.rows_loaded, stale.rows_quarantined) == (1, 0), stale.message


def test_a_timestamp_cut_off_after_its_hour_or_minutes_is_quarantined(recon_home: Path) -> None:
    # A tester's file: 2026-01-08T04: loaded as 04:00:00 and 2026-01-08T04:45: as 04:45:00, and
    # updated_at decides which version of an order wins. Whole times of day still load.
    write(
        recon_home / "landing/crm/orders/trunc_ts.csv",
        orders_csv(
            order_row("1", updated_at="2026-01-08T04:"),
            order_row("2", updated_at="2026-01-08T04:45:"),
            order_row("3", updated_at="2026-01-08T04:45:00:"),
            order_row("4", updated_at="2026-01-08 04:45"),
            order_row("5", updated_at="2026-01-08T04:45:00.123+01:00"),
            order_row("6", updated_at="2026-01-08 04:45:00 +0100"),
            order_row("7", updated_at="2026-01-08 04:45:00 Europe/London"),
            order_row("8", updated_at="2026-01-08"),
        ),
    )
    (outcome,) = run(recon_home).files
    assert (outcome.rows_loaded, outcome.rows_quarantined) == (5, 3), outcome.message
    quarantined = rows(recon_home, "select row_number, column_name, original_value, reason from raw.quarantine")
    assert [q[:3] for q in quarantined] == [
        (1, "updated_at", "2026-01-08T04:"),
        (2, "updated_at", "2026-01-08T04:45:"),
        (3, "updated_at", "2026-01-08T04:45:00:"),
    ]
    assert all("time of day is cut off" in q[3] and "2026-01-08T04:45:00Z" in q[3] for q in quarantined[:2])
    assert quarantined[2][3].startswith("not a timestamp; expected ISO 8601"), quarantined[2][3]  # DuckDB refuses it


def test_an_invoice_whose_amounts_disagree_or_split_a_yen_is_quarantined(recon_home: Path) -> None:
    # A tester's file: net 100.00 + tax 20.00 against total 999.00, and JPY 1000.50 (a yen has
    # no fraction) loaded. A cent of rounding between net + tax and total still loads, as does
    # 1000 JPY; a credit note in JPY with a fraction is quarantined too.
    write(
        recon_home / "landing/billing/invoices/amounts.csv",
        invoices_csv(
            {"invoice_id": "X-15", "total_amount": "999.00"},
            {"invoice_id": "X-16", "net_amount": "100.01", "total_amount": "120.00"},  # a cent: rounding
            {"invoice_id": "X-17", "net_amount": "100.02", "total_amount": "120.00"},  # two cents: wrong
            {
                "invoice_id": "X-07",
                "currency": "JPY",
                "net_amount": "1000.50",
                "tax_amount": "0",
                "total_amount": "1000.50",
            },
            {
                "invoice_id": "X-08",
                "currency": "jpy",
                "net_amount": "1000",
                "tax_amount": "100.00",
                "total_amount": "1100",
            },
            {"invoice_id": "X-09", "net_amount": "100.005", "tax_amount": "20.00", "total_amount": "120.005"},
        ),
    )
    write(
        recon_home / "landing/billing/credit_notes/c.csv",
        "credit_note_id,client_name,issue_date,currency,net_amount\nCN-1,Acme,2026-02-01,JPY,10.5\n"
        "CN-2,Acme,2026-02-01,EUR,10.5\n",
    )
    outcomes = {f.entity: f for f in run(recon_home).files}
    invoices, credits = outcomes["invoices"], outcomes["credit_notes"]
    assert (invoices.rows_loaded, invoices.rows_quarantined) == (2, 4), invoices.message
    assert (credits.rows_loaded, credits.rows_quarantined) == (1, 1), credits.message
    quarantined = dict(
        ((s, r), (c, v, reason))
        for s, r, c, v, reason in rows(
            recon_home, "select source_file, row_number, column_name, original_value, reason from raw.quarantine"
        )
    )
    column, value, reason = quarantined[("billing/invoices/amounts.csv", 1)]
    assert (column, value) == ("total_amount", "999.00")
    assert "net_amount 100.00 + tax_amount 20.00 against total_amount 999.00 in EUR" in reason, reason
    assert quarantined[("billing/invoices/amounts.csv", 3)][0] == "total_amount"
    column, value, reason = quarantined[("billing/invoices/amounts.csv", 4)]
    assert (column, value) == ("net_amount", "1000.50"), reason
    assert "no decimals in JPY" in reason and "net_amount 1000.50 in JPY" in reason, reason
    assert quarantined[("billing/invoices/amounts.csv", 6)][:2] == ("net_amount", "100.005")
    assert quarantined[("billing/credit_notes/c.csv", 1)][:2] == ("net_amount", "10.5")


def test_an_invoice_due_before_it_is_issued_loads_and_is_flagged(recon_home: Path) -> None:
    # A tester's file: due_date 2025-02-01 before issue_date 2025-03-01 loaded without a word.
    # No model reads the due date, and a re-issued invoice may keep its first one, so the row
    # loads (it is billed and matched) and the ingestion log names it.
    write(
        recon_home / "landing/billing/invoices/dates.csv",
        invoices_csv({}, {"invoice_id": "X-07", "issue_date": "2025-03-01", "due_date": "2025-02-01"}),
    )
    (outcome,) = run(recon_home).files
    assert (outcome.rows_loaded, outcome.rows_quarantined) == (2, 0)
    assert "1 row(s) loaded but flagged (rows 2): row 2: due_date is before issue_date" in outcome.message
    assert "issue_date 2025-03-01 and due_date 2025-02-01" in outcome.message, outcome.message
    logged = scalar(recon_home, "select message from raw.ingestion_log")
    assert "due_date is before issue_date" in logged


def test_every_reason_a_row_is_quarantined_for_says_what_to_do() -> None:
    # A helper's review: "not a date; expected ...", "not a timestamp", "not a whole number" and
    # "unknown value; expected one of ..." named the format but not the fix, as the other
    # reasons do. Every check and row rule of every entity, without a warehouse (0 s).
    reasons = {
        params[-1]
        for ent in contract.ENTITY_BY_TABLE.values()
        for _, params in [check for col in ent.columns for check in ingest._problem_checks(col, ent)]
        + ingest._rule_checks(ent)
    }
    assert len(reasons) > 40, len(reasons)
    assert [r for r in reasons if "re-drop" not in r] == []
    for generic in ("not a date;", "not a timestamp;", "not a whole number;", "not a decimal number;", "unknown "):
        said = [r for r in reasons if r.startswith(generic)]
        assert said and all(r.endswith("; correct the value and re-drop the file") for r in said), said


def test_rows_of_a_key_repeated_in_one_file_keep_the_files_text_in_quarantine(recon_home: Path) -> None:
    # A helper's tryout: the rows of a key repeated with other values were stored with their
    # values as loaded ('25000.0000', '2026-04-05 08:00:00'), not as the file writes them.
    # A CSV read record by record (it has a short row) and JSON Lines are read again alike.
    when = "2026-04-05T08:00:00Z"
    write(
        recon_home / "landing/crm/orders/o.csv",
        orders_csv(order_row("1", "25000.00", updated_at=when), "2,short", order_row("1", "25000.5", updated_at=when)),
    )
    lines = [dict(zip(ORDER_COLUMNS, order_row("7", a, updated_at=when).split(","), strict=True)) for a in ("9", "9.1")]
    write(recon_home / "landing/crm/orders/o.jsonl", "".join(json.dumps(line) + "\n" for line in lines))
    report = run(recon_home)
    assert [(f.rows_loaded, f.rows_quarantined) for f in report.files] == [(0, 3), (0, 2)]
    quarantined = rows(
        recon_home,
        "select source_file, row_number, column_name, original_value, record ->> 'updated_at' from raw.quarantine "
        "where column_name <> '_record' order by source_file, row_number",
    )
    assert quarantined == [
        ("crm/orders/o.csv", 1, "amount", "25000.00", when),
        ("crm/orders/o.csv", 3, "amount", "25000.5", when),
        ("crm/orders/o.jsonl", 1, "amount", "9", when),
        ("crm/orders/o.jsonl", 2, "amount", "9.1", when),
    ]


def test_a_later_file_restating_ad_delivery_or_an_unversioned_invoice_is_not_a_conflict(recon_home: Path) -> None:
    # Where no version column is configured (ad delivery: platforms restate recent days) or the
    # row has no version (an invoice without updated_at), the later delivery wins, by design.
    header = "platform,account_id,campaign_id,campaign_name,delivery_date,impressions,clicks,spend,currency"
    day = "google_ads,1,20002,Acme | PO-1,2026-01-20,100,5,{spend},USD"
    write(recon_home / "landing/ads/delivery/d1.csv", f"{header}\n{day.format(spend='300.00')}\n")
    invoice_columns = [c.name for c in contract.entity("billing", "invoices").columns if c.required]
    invoice = {
        "invoice_id": "INV-1",
        "client_name": "Acme",
        "issue_date": "2026-01-31",
        "currency": "EUR",
        "net_amount": "100.00",
        "tax_amount": "20.00",
        "total_amount": "120.00",
        "status": "issued",
    }
    assert sorted(invoice) == sorted(invoice_columns)

    def invoice_csv(status: str) -> str:
        return ",".join(invoice_columns) + "\n" + ",".join({**invoice, "status": status}[c] for c in invoice_columns)

    write(recon_home / "landing/billing/invoices/i1.csv", invoice_csv("issued") + "\n")
    run(recon_home)
    write(recon_home / "landing/ads/delivery/d2.csv", f"{header}\n{day.format(spend='310.00')}\n")
    write(recon_home / "landing/billing/invoices/i2.csv", invoice_csv("paid") + "\n")
    report = run(recon_home)
    assert [(f.rows_loaded, f.rows_quarantined) for f in report.by_status("loaded")] == [(1, 0), (1, 0)]
    assert scalar(recon_home, "select count(*) from raw.quarantine") == 0


def test_a_rejected_file_counts_its_rows_read_and_rejected_in_status(
    recon_home: Path, capsys: pytest.CaptureFixture
) -> None:
    # A tryout: a rejected file was logged with 0 rows read, so recon status and the ingest
    # summary could not say how many rows arrived: read = loaded + quarantined + rejected.
    from orchestration import status, terminal

    write(recon_home / "landing/crm/orders/good.csv", orders_csv(order_row("1"), order_row("2", amount="NA")))
    bad = write(recon_home / "landing/crm/orders/bad.csv", orders_csv(order_row("3"), order_row("4")).replace(",", ";"))
    report = run(recon_home)
    (rejected,) = report.by_status("rejected")
    assert (rejected.rows_read, rejected.rows_rejected) == (2, 2)
    assert "read=2 rejected=2" in ingest.describe(rejected)
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined, report.rows_rejected) == (4, 1, 1, 2)
    assert rows(recon_home, "select status, rows_read from raw.ingestion_log order by source_file") == [
        ("rejected", 2),
        ("loaded", 2),
    ]

    data = status_summary(recon_home)
    # files, rejected files, rows read = loaded + quarantined + rejected
    assert data["sources"] == [("crm", "orders", 1, 1, 4, 1, 1, 2)]
    capsys.readouterr()
    terminal.show(status.source_blocks(data))
    assert "rejected rows" in capsys.readouterr().out
    # Fixed and re-dropped: the rejection is no longer outstanding, its rows count once.
    bad.write_text(orders_csv(order_row("3"), order_row("4")))
    run(recon_home)
    assert status_summary(recon_home)["sources"] == [("crm", "orders", 2, 0, 4, 3, 1, 0)]


def test_status_lists_files_skipped_as_duplicates_and_what_they_copy(
    recon_home: Path, capsys: pytest.CaptureFixture
) -> None:
    # A tryout: byte-identical copies were skipped by ingestion and recon status said nothing
    # of them. It now says how many and of which file.
    from orchestration import status, terminal

    text = orders_csv(order_row("1"))
    write(recon_home / "landing/crm/orders/a.csv", text)
    write(recon_home / "landing/crm/orders/copy_of_a.csv", text)
    write(recon_home / "landing/crm/orders/sub/a (2).csv", text)
    run(recon_home)
    data = status_summary(recon_home)
    assert data["duplicate_files"] == [
        ("crm/orders/copy_of_a.csv", "crm/orders/a.csv", 1),
        ("crm/orders/sub/a (2).csv", "crm/orders/a.csv", 1),
    ]
    assert data["sources"] == [("crm", "orders", 1, 0, 1, 1, 0, 0)]  # the copies are not counted
    capsys.readouterr()
    terminal.show(status.source_blocks(data))
    shown = capsys.readouterr().out
    assert "Duplicate files: 2 skipped" in shown, shown
    assert "crm/orders/copy_of_a.csv: copy of crm/orders/a.csv (batch 1)" in shown, shown


def test_status_names_loaded_files_that_are_no_longer_in_landing(
    recon_home: Path, capsys: pytest.CaptureFixture
) -> None:
    # A tryout: a file moved out of landing stayed current (raw is append-only: right) and
    # `recon status` counted it without a word, so its rows looked as if they came from nowhere.
    from orchestration import status, terminal

    write(recon_home / "landing/crm/orders/a.csv", orders_csv(order_row("1"), order_row("2")))
    write(recon_home / "landing/crm/orders/b.csv", orders_csv(order_row("3")))
    run(recon_home)
    (recon_home / "landing/crm/orders/a.csv").rename(recon_home / "a_archived.csv")

    data = status_summary(recon_home)
    assert data["missing_files"] == [("crm/orders/a.csv", 2)]
    assert data["sources"] == [("crm", "orders", 2, 0, 3, 3, 0, 0)]  # still counted: its rows are current
    capsys.readouterr()
    terminal.show(status.source_blocks(data))
    shown = capsys.readouterr().out
    assert "Loaded files no longer in landing: 1 (their rows stay loaded and current" in shown, shown
    assert "crm/orders/a.csv  (2 rows loaded)" in shown, shown
    (recon_home / "a_archived.csv").rename(recon_home / "landing/crm/orders/a.csv")
    assert status_summary(recon_home)["missing_files"] == []


def test_a_file_name_holding_a_line_feed_prints_one_line() -> None:
    """A tryout: a landing file named "a.csv\\nloaded    fake.csv" printed a second outcome line
    nobody loaded. Names, messages and examples are data: spelled out, never obeyed."""
    outcome = ingest.FileOutcome(
        "crm/orders/a.csv\nloaded    crm/orders/fake.csv", "crm", "orders", "loaded", "0" * 64,
        rows_read=1, rows_loaded=1, message="note\x1b[2J", examples=["row 1, column x ('a\nb'): reason"],
    )  # fmt: skip
    shown = ingest.describe(outcome).splitlines()
    assert len(shown) == 2, shown
    assert shown[0].startswith("loaded    crm/orders/a.csv\\x0aloaded    crm/orders/fake.csv  read=1"), shown
    assert "\\x1b[2J" in shown[0] and "\x1b" not in shown[0]
