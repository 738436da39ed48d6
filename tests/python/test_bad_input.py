"""The bad-input catalog: every way a file can be wrong, each with a clear message and
exact row accounting (rows read = rows loaded + rows quarantined + rows rejected; a rejected
file loads nothing, counts the rows it holds as read and rejected, and says why, naming the file
and, where there is one, the row and column)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import write
from test_ingest import ORDER_HEADER, order_row, orders_csv, run

from orchestration import ingest

GOOD = order_row("1")
INVOICE = {
    "invoice_id": "I-1",
    "client_name": "Acme",
    "issue_date": "2026-01-05",
    "currency": "GBP",
    "net_amount": "10",
    "tax_amount": "2",
    "total_amount": "12",
    "status": "issued",
}


def _jsonl(*objs) -> str:
    return "\n".join(o if isinstance(o, str) else json.dumps(o) for o in objs) + "\n"


def _parquet(**columns: list) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.table(columns), buf)
    return buf.getvalue()


# (relative path, bytes, status, rows read, loaded, quarantined, words the message must hold)
CATALOG = [
    ("crm/orders/empty.csv", b"", "rejected", 0, 0, 0, ["empty"]),
    ("crm/orders/blank.csv", b"\n\n", "rejected", 0, 0, 0, ["empty"]),
    ("crm/orders/header_only.csv", (ORDER_HEADER + "\n").encode(), "loaded", 0, 0, 0, []),
    ("crm/orders/bom.csv", b"\xef\xbb\xbf" + orders_csv(GOOD).encode(), "loaded", 1, 1, 0, []),
    ("crm/orders/utf16.csv", orders_csv(GOOD).encode("utf-16"), "rejected", 1, 0, 0, ["UTF-16", "UTF-8"]),
    (
        "crm/orders/semicolons.csv",
        orders_csv(GOOD).replace(",", ";").encode(),
        "rejected",
        1,
        0,
        0,
        ["semicolon-separated", "comma-separated"],
    ),
    (
        "crm/orders/latin1.csv",
        orders_csv(order_row("1", client_name="Café Müller")).encode("latin-1"),
        "rejected",
        1,
        0,
        0,
        ["row 1, column client_name", "0xe9", "UTF-8"],
    ),
    (
        "crm/orders/latin1_header.csv",
        orders_csv(GOOD).replace("client_name", "clïent_name", 1).encode("latin-1"),
        "rejected",
        1,
        0,
        0,
        ["header row", "not UTF-8"],
    ),
    (
        "crm/orders/unterminated.csv",
        orders_csv(GOOD, order_row("2", client_name='"Acme')).encode(),
        "rejected",
        2,
        0,
        0,
        ["unreadable"],
    ),
    (
        "crm/orders/short_row.csv",
        orders_csv(GOOD, "3,C-1,Acme").encode(),
        "loaded",
        2,
        1,
        1,
        ["1 row(s) quarantined"],
    ),
    ("crm/orders/o.parquet", b"PAR1 not really parquet", "rejected", 0, 0, 0, ["Parquet"]),
    (
        "crm/orders/ids_only.parquet",
        _parquet(order_id=["1", "2", "3"]),
        "rejected",
        3,
        0,
        0,
        ["missing required column"],
    ),
    ("crm/orders/o.xlsx", b"PK\x03\x04", "rejected", 0, 0, 0, ["unsupported file type", ".csv"]),
    ("crm/o.csv", orders_csv(GOOD).encode(), "rejected", 1, 0, 0, ["move it to e.g. crm/orders/o.csv"]),
    ("crm/contacts/c.csv", b"a\n1\n", "rejected", 1, 0, 0, ["unknown landing entity", "crm/orders"]),
    (
        "billing/invoices/broken.jsonl",
        _jsonl(INVOICE, "{not json", '["a"]', {**INVOICE, "invoice_id": "I-2"}).encode(),
        "loaded",
        4,
        2,
        2,
        ["2 row(s) quarantined"],
    ),
    (
        "billing/invoices/nested.jsonl",
        _jsonl(INVOICE, {**INVOICE, "invoice_id": {"id": "I-3"}}).encode(),
        "loaded",
        2,
        1,
        1,
        [],
    ),
    (
        "billing/invoices/case_keys.jsonl",
        _jsonl(INVOICE, {**INVOICE, "Invoice_ID": "I-4"}).encode(),
        "loaded",
        2,
        1,
        1,
        [],
    ),
]


@pytest.mark.parametrize(
    ("relative", "data", "status", "read", "loaded", "quarantined", "words"),
    CATALOG,
    ids=[c[0] for c in CATALOG],
)
def test_bad_input_catalog(
    recon_home: Path, relative: str, data: bytes, status: str, read: int, loaded: int, quarantined: int, words
) -> None:
    path = recon_home / "landing" / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    (outcome,) = run(recon_home).files
    assert outcome.status == status, outcome.message
    assert (outcome.rows_read, outcome.rows_loaded, outcome.rows_quarantined) == (read, loaded, quarantined)
    # A rejected file's rows are read and rejected (they were logged as 0 read: the counts in
    # recon status did not add up to what arrived).
    assert outcome.rows_read == outcome.rows_loaded + outcome.rows_quarantined + outcome.rows_rejected
    for word in words:
        assert word in outcome.message, outcome.message
    if status == "rejected":
        assert relative in outcome.message
    con = duckdb.connect(str(recon_home / "warehouse.duckdb"), read_only=True)
    try:
        logged = con.execute(
            "select status, rows_read, rows_loaded, rows_quarantined from raw.ingestion_log where source_file = ?",
            [relative],
        ).fetchall()
        in_quarantine = con.execute("select count(*) from raw.quarantine where source_file = ?", [relative]).fetchone()
    finally:
        con.close()
    assert logged == [(status, read, loaded, quarantined)]
    assert in_quarantine[0] == quarantined


def test_nested_values_and_case_twins_name_the_column(recon_home: Path) -> None:
    write(
        recon_home / "landing/billing/invoices/i.jsonl",
        _jsonl({**INVOICE, "invoice_id": ["I-9"]}, {**INVOICE, "Invoice_Id": "I-8"}),
    )
    run(recon_home)
    con = duckdb.connect(str(recon_home / "warehouse.duckdb"), read_only=True)
    try:
        found = con.execute("select row_number, column_name, reason from raw.quarantine order by 1").fetchall()
    finally:
        con.close()
    assert [(r, c) for r, c, _ in found] == [(1, "invoice_id"), (2, "invoice_id")]
    assert "nested JSON list" in found[0][2] and "differ only by case" in found[1][2]


def test_a_nul_byte_in_a_text_value_is_quarantined_naming_the_row_and_column(recon_home: Path) -> None:
    """A tryout: a NUL byte inside a client name loaded as it was (a binary or damaged export)."""
    write(recon_home / "landing/crm/orders/o.csv", orders_csv(GOOD, order_row("2", client_name="Acme\x00Ltd")))
    (outcome,) = run(recon_home).files
    assert (outcome.rows_read, outcome.rows_loaded, outcome.rows_quarantined) == (2, 1, 1)
    con = duckdb.connect(str(recon_home / "warehouse.duckdb"), read_only=True)
    try:
        found = con.execute("select row_number, column_name, reason from raw.quarantine").fetchall()
    finally:
        con.close()
    assert [(r, c) for r, c, _ in found] == [(2, "client_name")], found
    assert "NUL byte" in found[0][2]


def test_a_file_changing_while_read_is_left_for_the_next_run(recon_home: Path, monkeypatch) -> None:
    path = write(recon_home / "landing/crm/orders/o.csv", orders_csv(GOOD))
    real = ingest.sha256_of

    def growing(p: Path) -> str:
        digest = real(p)
        with open(p, "a") as fh:  # the exporter is still appending
            fh.write(order_row("2") + "\n")
        return digest

    monkeypatch.setattr(ingest, "sha256_of", growing)
    (outcome,) = run(recon_home).files
    assert outcome.status == "skipped" and "still being written" in outcome.message
    monkeypatch.setattr(ingest, "sha256_of", real)
    (outcome,) = run(recon_home).files
    # One append happened while the first run looked; the second run reads it all.
    assert outcome.status == "loaded" and outcome.rows_loaded == 2
    assert path.read_text().count("\n") == 3


def test_status_stops_listing_a_rejection_once_it_is_fixed(recon_home: Path) -> None:
    from orchestration import status

    stray = write(recon_home / "landing/crm/o.csv", orders_csv(GOOD))
    broken = write(recon_home / "landing/crm/orders/p.csv", orders_csv(GOOD, order_row("3", client_name='"Acme')))
    still = write(recon_home / "landing/crm/orders/q.txt", orders_csv(order_row("4")))
    run(recon_home)

    def listed() -> list[str]:
        con = duckdb.connect(str(recon_home / "warehouse.duckdb"), read_only=True)
        try:
            return [path for path, _ in status.summary(con)["rejected_files"]]
        finally:
            con.close()

    assert listed() == ["crm/o.csv", "crm/orders/p.csv", "crm/orders/q.txt"]
    stray.rename(recon_home / "landing/crm/orders/o.csv")  # moved as advised
    broken.write_text(orders_csv(order_row("2")))  # fixed in place
    run(recon_home)
    assert listed() == ["crm/orders/q.txt"]  # not fixed yet
    assert still.exists()
