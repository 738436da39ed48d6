"""Hostile-but-real exports (docs: /work/shared/REAL_EXPORTS.md shapes) at ingestion: what
agencies' scripts and spreadsheets produce must load exactly or be quarantined with a reason
that names the row, the column and what to do; never load a wrong value."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from conftest import write
from test_ingest import order_row, orders_csv, rows, run

from orchestration.ingest import describe


def test_a_time_zone_abbreviation_is_quarantined_not_guessed(recon_home: Path) -> None:
    # A tryout: a script's strftime("%Y-%m-%d %H:%M:%S %Z") writes "BST" for London in
    # summer; DuckDB's ICU read it as Bangladesh (+06:00) and loaded 04:00 UTC for 09:00.
    write(
        recon_home / "landing/crm/orders/hubspot.csv",
        orders_csv(
            order_row("1", updated_at="2026-07-02 10:00:00 BST"),
            order_row("2", updated_at="2026-07-02 10:00:00 IST"),
            order_row("3", updated_at="2026-07-02 10:00:00 AST"),
            order_row("4", updated_at="2026-07-02 10:00:00 EDT"),
            order_row("5", updated_at="2026-07-02T10:00:00+01:00"),
            order_row("6", updated_at="2026-07-02 10:00:00 Europe/London"),
            order_row("7", updated_at="2026-07-02 10:00:00 UTC"),
            order_row("8", updated_at="2026-07-02T10:00:00Z"),
            order_row("9", updated_at="2026-07-02 10:00:00 GMT"),
        ),
    )
    (outcome,) = run(recon_home).files
    assert (outcome.rows_loaded, outcome.rows_quarantined) == (5, 4), outcome.message
    loaded = dict(rows(recon_home, "select order_id, updated_at from raw.crm__orders"))
    assert loaded["5"] == loaded["6"] == datetime(2026, 7, 2, 9, 0)
    assert loaded["7"] == loaded["8"] == loaded["9"] == datetime(2026, 7, 2, 10, 0)
    quarantined = rows(
        recon_home, "select row_number, column_name, reason, original_value, problems from raw.quarantine"
    )
    assert sorted(r[0] for r in quarantined) == [1, 2, 3, 4]
    for _, column, reason, original, problems in quarantined:
        assert column == "updated_at"
        # Named once: an abbreviation DuckDB cannot read (EDT) was also "not a timestamp".
        assert [p["reason"] for p in json.loads(problems)] == [reason], problems
        assert "abbreviation" in reason and "ambiguous" in reason, reason
        assert "offset" in reason and "IANA" in reason, reason
        assert original.endswith(("BST", "IST", "AST", "EDT"))


def test_an_offset_after_a_space_is_read_as_the_offset(recon_home: Path) -> None:
    # A tryout: strftime("%Y-%m-%d %H:%M:%S %z") writes "2026-11-03 09:00:00 +0200", which
    # DuckDB reads only without the space; the row was quarantined as "not a timestamp".
    write(
        recon_home / "landing/crm/orders/script.csv",
        orders_csv(
            order_row("1", updated_at="2026-11-03 09:00:00 +0200"),
            order_row("2", updated_at="2026-11-03 09:00:00 -05:30"),
            order_row("3", updated_at="2026-11-03T09:00:00 +02"),
            order_row("4", updated_at="2026-11-03 09:00:00 Z"),
            order_row("5", updated_at="2026-11-03 09:00:00 +2"),  # not an offset: quarantined
            order_row("6", updated_at="2026-11-03 09:00:00 +2500"),  # out of range: quarantined
        ),
    )
    (outcome,) = run(recon_home).files
    assert (outcome.rows_loaded, outcome.rows_quarantined) == (4, 2), outcome.message
    loaded = dict(rows(recon_home, "select order_id, updated_at from raw.crm__orders"))
    assert loaded == {
        "1": datetime(2026, 11, 3, 7, 0),
        "2": datetime(2026, 11, 3, 14, 30),
        "3": datetime(2026, 11, 3, 7, 0),
        "4": datetime(2026, 11, 3, 9, 0),
    }
    quarantined = dict(rows(recon_home, "select row_number, reason from raw.quarantine"))
    assert quarantined.keys() == {5, 6}
    assert "not a timestamp" in quarantined[5] and "offset out of range" in quarantined[6], quarantined


def test_a_footer_and_a_ragged_row_are_quarantined_on_their_own(recon_home: Path) -> None:
    # A tryout: a QuickBooks-style "Total" footer, or one description holding an unquoted
    # comma, rejected the whole file; every other row of it is a good record.
    good = [order_row(str(n)) for n in range(1, 120_001)]  # past the fast reader's first blocks
    shifted = order_row("x1", client_name="Acme, Ltd")  # 13 fields
    write(
        recon_home / "landing/crm/orders/export.csv",
        orders_csv(*good[:5], shifted, "", *good[5:], "Total,,,,,,", "Generated 2026-11-03 by QuickBooks"),
    )
    (outcome,) = run(recon_home).files
    assert outcome.status == "loaded", outcome.message
    assert (outcome.rows_read, outcome.rows_loaded, outcome.rows_quarantined) == (120_003, 120_000, 3)
    assert rows(recon_home, "select count(*), count(distinct order_id) from raw.crm__orders") == [(120_000, 120_000)]
    # Row numbers as a spreadsheet shows them: the empty line counts.
    numbers = dict(rows(recon_home, "select order_id, _row_number from raw.crm__orders where order_id in ('5', '6')"))
    assert numbers == {"5": 5, "6": 8}
    quarantined = rows(
        recon_home, "select row_number, column_name, reason, original_value from raw.quarantine order by 1"
    )
    assert [(r, c) for r, c, _, _ in quarantined] == [(6, "_record"), (120_003, "_record"), (120_004, "_record")]
    assert "13 field(s), the header 12" in quarantined[0][2] and "quote the value" in quarantined[0][2]
    assert quarantined[0][3].startswith("x1,") and ",Acme, Ltd," in quarantined[0][3]
    assert quarantined[1][3] == "Total,,,,,," and "footer" in quarantined[1][2]


def test_a_ragged_row_after_a_bad_byte_still_rejects_the_file(recon_home: Path) -> None:
    # The record-by-record reader reads UTF-8 as the fast one does: a Latin-1 byte is a
    # file-wide fault, named, and nothing of the file loads.
    text = orders_csv(order_row("1"), "short,row", order_row("2", client_name="Caf\xe9 Noir"))
    path = recon_home / "landing/crm/orders/latin.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("latin-1"))
    (outcome,) = run(recon_home).files
    assert outcome.status == "rejected" and outcome.rows_loaded == 0
    assert "row 3, column client_name" in outcome.message and "0xe9" in outcome.message, outcome.message


NUMBERS_FOR_PEOPLE = [
    ("(12.00)", "accounting negative in parentheses"),
    ("($1,200.00)", "accounting negative in parentheses"),
    ("12.00-", "trailing minus sign"),
    ("$1,200.00", "currency sign or code"),
    ("1200 EUR", "currency sign or code"),
    ("€ 1200", "currency sign or code"),
    ("12,500.00", "thousands separators"),
    ("12 500.00", "thousands separators"),
    ("1.234,50", "decimal comma"),
    ("12,50", "decimal comma"),
    ("12.5 %", "percentage sign"),
    ("twelve", "not a decimal number; expected plain decimal"),
]


def test_a_number_written_for_people_is_quarantined_with_the_fix(recon_home: Path) -> None:
    # A tryout: "(12.00)" and "$1,200.00" were quarantined as "not a decimal number", which
    # leaves the operator to guess what the contract wants instead.
    write(
        recon_home / "landing/crm/orders/people.csv",
        orders_csv(
            order_row("ok", amount="1200.50"),
            *(order_row(str(n), amount=f'"{value}"') for n, (value, _) in enumerate(NUMBERS_FOR_PEOPLE)),
        ),
    )
    (outcome,) = run(recon_home).files
    assert (outcome.rows_loaded, outcome.rows_quarantined) == (1, len(NUMBERS_FOR_PEOPLE)), outcome.message
    # `recon ingest` shows the first rows under the file, with the value and the fix.
    shown = describe(outcome).splitlines()
    assert shown[1] == (
        "    row 2, column amount ('(12.00)'): not a plain number: it has an accounting negative in "
        "parentheses ((12.00)); write it with a minus sign (-12.00), or as a credit in its own file if the "
        "column takes no negatives, and re-drop the file"
    )
    # The rest, row by row: a query to paste (recon status groups them by reason only).
    query = (
        "select row_number, column_name, reason from raw.quarantine"
        " where source_file = 'crm/orders/people.csv' order by row_number"
    )
    assert shown[-1] == f'    and {len(NUMBERS_FOR_PEOPLE) - 3} more: recon query --working "{query}"', shown
    assert len(rows(recon_home, query)) == len(NUMBERS_FOR_PEOPLE)
    found = dict(rows(recon_home, "select original_value, reason from raw.quarantine where column_name = 'amount'"))
    for value, hint in NUMBERS_FOR_PEOPLE:
        assert hint in found[value], (value, found[value])
        assert value == "twelve" or "write" in found[value], found[value]
    # The specific reason only: not also "not a decimal number" in the row's problems.
    listed = rows(recon_home, "select original_value, problems from raw.quarantine where column_name = 'amount'")
    assert all([p["reason"] for p in json.loads(problems)] == [found[v]] for v, problems in listed), listed


DELIVERABLES_HEADER = "deliverable_id,project_id,description,quantity,unit_value,currency,status,completed_at"


def test_an_id_excel_turned_into_scientific_notation_is_quarantined(recon_home: Path) -> None:
    # A tryout: an Asana export opened and saved in Excel turns the 16-digit task ids into
    # 1.21143E+15 (Meta campaign ids into 1.20253E+17); the digits are gone, yet the row
    # loaded and the deliverable could never match its project or order.
    write(
        recon_home / "landing/fulfilment/deliverables/asana.csv",
        "\n".join(
            [
                DELIVERABLES_HEADER,
                "1.21143E+15,1209000000000001,Blog,1,350.00,GBP,completed,2026-09-06",
                "1209000000000002,1.2090E+15,Blog,1,350.00,GBP,completed,2026-09-06",
                "1209000000000003,1209000000000001,Blog,1,350.00,GBP,completed,2026-09-06",
                "12E4567,PRJ-1E+5,2E+3 words,1,350.00,GBP,completed,2026-09-06",
            ]
        )
        + "\n",
    )
    (outcome,) = run(recon_home).files
    assert (outcome.rows_loaded, outcome.rows_quarantined) == (2, 2), outcome.message
    quarantined = rows(
        recon_home, "select row_number, column_name, reason, original_value from raw.quarantine order by row_number"
    )
    assert [(r[0], r[1], r[3]) for r in quarantined] == [
        (1, "deliverable_id", "1.21143E+15"),
        (2, "project_id", "1.2090E+15"),
    ]
    for *_, reason, _ in quarantined:
        assert "scientific notation" in reason and "Excel" in reason and "re-drop" in reason, reason


DELIVERY_HEADER = "platform,account_id,campaign_id,campaign_name,delivery_date,impressions,clicks,spend,currency"


def test_a_key_repeated_with_different_values_is_quarantined_not_left_to_block_the_run(recon_home: Path) -> None:
    # A tryout: a Google Ads report segmented by network has two rows per campaign-day
    # (Search 300.00, Display 120.00). The blocking raw gate raw_keys_unique then failed
    # every run until the file was fixed, with a message naming neither the file, the rows
    # nor the key. The conflicting rows are quarantined instead, each naming the key, the
    # rows that share it and the column that differs; the rest of the file loads.
    write(
        recon_home / "landing/ads/delivery/google_ads_by_network.csv",
        "\n".join(
            [
                DELIVERY_HEADER,
                "google_ads,123-456-7890,20002,Acme | PO-1 | PMax,2025-01-20,1266,35,300.00,USD",
                "google_ads,123-456-7890,20002,Acme | PO-1 | PMax,2025-01-20,880,12,120.00,USD",
                "google_ads,123-456-7890,20002,Acme | PO-1 | PMax,2025-01-21,900,10,250.00,USD",
                # an identical re-sent copy stays loaded: staging keeps one
                "google_ads,123-456-7890,20002,Acme | PO-1 | PMax,2025-01-21,900,10,250.0,USD",
            ]
        )
        + "\n",
    )
    # two versions of one order (told apart by updated_at, config/quality.yml) both load
    write(
        recon_home / "landing/crm/orders/o.csv",
        orders_csv(
            order_row("1", updated_at="2026-01-01T10:00:00Z"),
            order_row("1", amount="1300.00", updated_at="2026-01-02T10:00:00Z"),
        ),
    )
    delivery, orders = sorted(run(recon_home).files, key=lambda f: f.source_file)
    assert (orders.rows_loaded, orders.rows_quarantined) == (2, 0), orders.message
    assert (delivery.rows_read, delivery.rows_loaded, delivery.rows_quarantined) == (4, 2, 2), delivery.message
    logged = rows(recon_home, "select rows_loaded, rows_quarantined from raw.ingestion_log where entity = 'delivery'")
    assert logged == [(2, 2)]
    assert rows(recon_home, "select spend from raw.ads__delivery order by _row_number") == [(250,), (250,)]
    quarantined = rows(
        recon_home,
        "select row_number, column_name, reason, original_value, record ->> 'spend' from raw.quarantine "
        "order by row_number",
    )
    assert [(r[0], r[1], r[3], r[4]) for r in quarantined] == [
        (1, "impressions", "1266", "300.00"),  # the file's text, not the loaded 300.0000
        (2, "impressions", "880", "120.00"),
    ]
    for _, _, reason, _, _ in quarantined:
        assert reason.startswith("key repeated with different values;"), reason
        assert "google_ads, 20002, 2025-01-20" in reason and "rows 1, 2" in reason and "re-drop" in reason, reason
        assert "differ in impressions, clicks, spend." in reason, reason


def test_the_contract_says_what_happens_to_a_negative_it_gives_no_meaning(recon_home: Path) -> None:
    # A tryout: docs/landing_contract.md said "Negative: not expected (blocks the run)" on every
    # such column, while ingestion quarantines the row and the run goes on (contract 2.1.0).
    from orchestration import contract_docs

    write(recon_home / "landing/crm/orders/o.csv", orders_csv(order_row("1", amount="-10.00")))
    (outcome,) = run(recon_home).files
    assert (outcome.status, outcome.rows_quarantined) == ("loaded", 1)
    text = contract_docs.contract_markdown()
    assert "blocks the run" not in text
    amount = next(line for line in text.splitlines() if line.startswith("| `amount` | decimal | yes | Booked"))
    assert "Negative: not expected (the row is quarantined)." in amount, amount


def test_row_numbers_count_blank_lines_as_a_spreadsheet_shows_them(recon_home: Path) -> None:
    # A tryout: two exports pasted into one file with an empty line between them. The reader
    # skipped the empty line without counting it, so every row below it was named one row too
    # early (quarantine said row 3 for the bad date on row 4, and the row called 3 was fine),
    # while a rejection's "row N (line M)" counted it.
    write(
        recon_home / "landing/crm/orders/pasted.csv",
        orders_csv(
            order_row("1"),
            "",
            order_row("2"),
            order_row("3", service_start_date="31/01/2026"),
            "",
            "",
            order_row("4", amount='"1.234,56"'),
        ),
    )
    (outcome,) = run(recon_home).files
    assert (outcome.rows_read, outcome.rows_loaded, outcome.rows_quarantined) == (4, 2, 2), outcome.message
    assert rows(recon_home, "select order_id, _row_number from raw.crm__orders order by 1") == [("1", 1), ("2", 3)]
    assert rows(recon_home, "select row_number, column_name from raw.quarantine order by 1") == [
        (4, "service_start_date"),
        (7, "amount"),
    ]


def test_a_key_with_spaces_around_it_is_the_same_key(recon_home: Path) -> None:
    # A tryout: the order export re-saved from a spreadsheet pads the id ("SO-1 "). It loaded
    # with the space, so staging (one row per order_id) kept SO-1 twice and booked it twice;
    # a required value of spaces only is quarantined as empty, so spaces are no part of a value.
    write(recon_home / "landing/crm/orders/a.csv", orders_csv(order_row("SO-1")))
    write(
        recon_home / "landing/crm/orders/b.csv",
        orders_csv(order_row(" SO-1 ", client_name=" Acme Ltd ", updated_at="2026-01-02T10:00:00Z")),
    )
    assert [f.rows_loaded for f in run(recon_home).files] == [1, 1]
    assert rows(recon_home, "select distinct order_id, client_name, client_id from raw.crm__orders") == [
        ("SO-1", "Acme Ltd", "C-1")
    ]


INVOICES_HEADER = (
    "invoice_id,invoice_number,client_name,reference,issue_date,due_date,currency,net_amount,tax_amount,"
    "total_amount,status,updated_at"
)
TOTALS_ROW_REASON = (
    "a totals or summary row, not a record: nothing to fix; remove it from the export if you want it gone"
)


def test_a_totals_row_is_quarantined_as_a_summary_not_a_record_to_fill_in(recon_home: Path) -> None:
    # A tryout: a QuickBooks export ends with "TOTAL,,,,,,,2600.00,...", which was quarantined
    # as "required value is empty: fill in client_name for this row", advice no one can follow.
    # A client whose name starts with "Total" is a record and loads.
    write(
        recon_home / "landing/billing/invoices/qb_invoices_footer.csv",
        "\n".join(
            [
                INVOICES_HEADER,
                "INV-6001,INV-6001,Harbor Vet Clinics,PO-2026-1008,2026-10-04,2026-11-03,USD,2500.00,500.00,"
                "3000.00,issued,2026-10-04T08:00:00Z",
                "INV-6002,INV-6002,Total Wine Partners,,2026-10-04,2026-11-03,USD,100.00,20.00,120.00,issued,"
                "2026-10-04T08:00:00Z",
                "TOTAL,,,,,,,2600.00,520.00,3120.00,,",
                ",,  Grand Total ,,,,,2600.00,520.00,3120.00,,",
                " subtotal:,,,,,,USD,2600.00,520.00,3120.00,,",
                "Sum,,,,,,,2600.00,520.00,3120.00,,",
                "Total: Account,,,,,,,2600.00,520.00,3120.00,,",
                '"Monday, Dec 07, 2026 09:00:00 AM GMT-05:00"',
            ]
        )
        + "\n",
    )
    (outcome,) = run(recon_home).files
    assert (outcome.rows_read, outcome.rows_loaded, outcome.rows_quarantined) == (8, 2, 6), outcome.message
    assert [r[0] for r in rows(recon_home, "select client_name from raw.billing__invoices order by 1")] == [
        "Harbor Vet Clinics",
        "Total Wine Partners",
    ]
    quarantined = rows(
        recon_home, "select row_number, column_name, original_value, reason from raw.quarantine order by row_number"
    )
    assert [(r[0], r[1], r[2]) for r in quarantined[:5]] == [
        (3, "invoice_id", "TOTAL"),
        (4, "client_name", "  Grand Total "),
        (5, "invoice_id", " subtotal:"),
        (6, "invoice_id", "Sum"),
        (7, "invoice_id", "Total: Account"),
    ]
    assert all(r[3] == TOTALS_ROW_REASON for r in quarantined[:5]), quarantined
    # QuickBooks' date stamp below, on a line of its own: a report footer, nothing lost.
    assert quarantined[5][1] == "_record" and quarantined[5][3].startswith("a report footer line"), quarantined[5]
    # `recon ingest` shows the reason under the file, not "fill in client_name".
    assert f"row 3, column invoice_id ('TOTAL'): {TOTALS_ROW_REASON}" in describe(outcome)


def test_a_report_title_above_the_header_is_named_not_called_missing_columns(recon_home: Path) -> None:
    # A tryout: a Google Ads "Download report" CSV opens with the report's title and date
    # range; the file was rejected for "missing required column(s) platform, account_id, ...
    # Add the column(s)", though every column is there, on line 3.
    write(
        recon_home / "landing/ads/delivery/google_campaign_report.csv",
        "\n".join(
            [
                "Campaign report",
                '"November 1, 2026 - November 30, 2026"',
                DELIVERY_HEADER,
                'google_ads,act_9,CMP-2002,Ivy Books | PO-2026-2002 | Nov,2026-11-05,"6,114",379,500.00,USD',
                "Total: Account,,,,, --,379,500.00,USD",
            ]
        )
        + "\n",
    )
    # A Meta export with one title line, the header in other case, spaces around names.
    write(
        recon_home / "landing/ads/delivery/meta_report.csv",
        "Meta Ads report: Nov 2026;all accounts\n"
        + " Platform , Account_ID,campaign_id,campaign_name,delivery_date,impressions,clicks,spend,currency\n"
        + "meta,act_1,C-1,Ivy Books | PO-2026-2002 | Nov,2026-11-05,100,3,50.00,USD\n",
    )
    # A file that lacks a column on every line is still told to add it.
    write(
        recon_home / "landing/ads/delivery/no_spend.csv",
        "platform,account_id,campaign_id,campaign_name,delivery_date,impressions,clicks,currency\n"
        + "meta,act_1,C-1,Ivy Books,2026-11-05,100,3,USD\n",
    )
    google, meta, no_spend = sorted(run(recon_home).files, key=lambda f: f.source_file)
    assert google.status == meta.status == no_spend.status == "rejected"
    assert google.message == (
        "ads/delivery/google_campaign_report.csv: rejected, nothing loaded: the header is on line 3: delete "
        "the 2 line(s) above it (a report title / date range) and re-drop the file"
    ), google.message
    assert "the header is on line 2: delete the 1 line(s) above it" in meta.message, meta.message
    assert "missing required column(s) spend" in no_spend.message and "Add the column(s)" in no_spend.message


def test_a_windows_1252_file_is_told_its_encoding_not_to_count_fields(recon_home: Path) -> None:
    # A tryout: an invoices export saved as Windows-1252 ("Café Müller GmbH") was rejected
    # with the right advice followed by "Every row needs 12 fields like the header", which
    # sent the operator counting commas in a file whose every row has 12.
    path = recon_home / "landing/billing/invoices/invoices_cp1252.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        (
            INVOICES_HEADER
            + "\r\nINV-6101,INV-6101,Café Müller GmbH,PO-2026-2005,2026-11-04,2026-12-04,EUR,1000.00,190.00,"
            + "1190.00,issued,2026-11-04T08:00:00Z\r\n"
        ).encode("cp1252")
    )
    (outcome,) = run(recon_home).files
    assert outcome.status == "rejected"
    assert outcome.message == (
        "billing/invoices/invoices_cp1252.csv: rejected, nothing loaded: row 1, column client_name: byte 0xe9 "
        "is not UTF-8 (the file looks Latin-1 or Windows-1252 encoded); save it as UTF-8 CSV and re-drop it"
    ), outcome.message
    # A fault of quoting or field count still says how many fields a row needs.
    from orchestration.ingest import _unreadable_csv

    quote = _unreadable_csv("line 3: unexpected end of data; check for an unterminated quote", ValueError(), 12)
    assert quote.endswith("check for an unterminated quote. Every row needs 12 fields like the header"), quote
    assert "Every row needs" not in _unreadable_csv("", ValueError("CSV conversion error: invalid UTF8 data"), 12)


def test_a_copy_in_a_misspelt_entity_folder_is_rejected_for_the_folder_not_called_a_duplicate(
    recon_home: Path,
) -> None:
    # A tryout: a loaded invoices file copied into billing/invoice/ (no s) was logged as a
    # duplicate ("Delete the copy"), so the misspelt folder went unnoticed; the next file
    # dropped there, with new content, was then rejected for the folder.
    text = "\n".join(
        [
            INVOICES_HEADER,
            "INV-1,INV-1,Acme Ltd,PO-1,2026-10-04,2026-11-03,USD,100.00,20.00,120.00,issued,2026-10-04T08:00:00Z",
        ]
    )
    write(recon_home / "landing/billing/invoices/x.csv", text + "\n")
    assert [f.status for f in run(recon_home).files] == ["loaded"]
    write(recon_home / "landing/billing/invoice/x.csv", text + "\n")
    write(recon_home / "landing/x.csv", text + "\n")
    misspelt, top = (f for f in run(recon_home).files if f.status != "skipped")
    assert (misspelt.source_file, misspelt.status, misspelt.duplicate_of_batch_id) == (
        "billing/invoice/x.csv",
        "rejected",
        None,
    )
    assert "unknown landing entity billing/invoice (did you mean billing/invoices?); the contract has:" in (
        misspelt.message
    ), misspelt.message
    assert "billing/invoices" in misspelt.message
    assert (top.source_file, top.status) == ("x.csv", "rejected")
    assert "not under <source>/<entity>/" in top.message, top.message
    logged = rows(recon_home, "select source_file, status from raw.ingestion_log order by batch_id")
    assert logged == [
        ("billing/invoices/x.csv", "loaded"),
        ("billing/invoice/x.csv", "rejected"),
        ("x.csv", "rejected"),
    ]


def test_a_header_below_a_microsoft_ads_preamble_is_named_not_called_missing_columns(recon_home: Path) -> None:
    # A tryout: a Microsoft Advertising report opens with nine "Report ...:" lines and a blank
    # line, so its header is on line 11; the search stopped at line 10 and the file was
    # rejected for "missing required column(s) platform, account_id, ... Add the column(s)",
    # though every column is there.
    preamble = [
        f'"Report {what}"'
        for what in (
            "Name: Campaign Performance",
            "Time: 12/7/2026",
            "Time Zone: (GMT) UTC",
            "Last Completed Available Day: 12/6/2026 10:15:00 PM (GMT)",
            "Last Completed Available Hour: 12/6/2026 10:15:00 PM (GMT)",
            "Aggregation: Daily",
            "Filter: ",
            "Potential Incomplete Data: false",
            "Rows: 1",
        )
    ]
    write(
        recon_home / "landing/ads/delivery/msads_campaign_report.csv",
        "\n".join(
            [*preamble, "", DELIVERY_HEADER, "bing,act_3,CMP-7,Ivy Books | PO-2026-2002,2026-11-05,10,1,5.00,USD"]
        )
        + "\n",
    )
    (outcome,) = run(recon_home).files
    assert outcome.status == "rejected"
    assert "the header is on line 11: delete the 10 line(s) above it" in outcome.message, outcome.message
    # One row under the report's lines: one read and rejected, not ten (the preamble is no row).
    assert (outcome.rows_read, outcome.rows_rejected) == (1, 1), outcome


def test_a_quickbooks_total_for_row_is_quarantined_as_a_summary(recon_home: Path) -> None:
    # A tryout: a QuickBooks report grouped by customer closes each group with "Total for
    # <customer>"; the row was quarantined as "required value is empty: fill in client_name
    # for this row", advice no one can follow. "Total Wine Partners" is still a client.
    write(
        recon_home / "landing/billing/invoices/qb_by_customer.csv",
        "\n".join(
            [
                INVOICES_HEADER,
                "INV-6201,INV-6201,Total Wine Partners,,2026-10-04,2026-11-03,USD,100.00,20.00,120.00,issued,"
                "2026-10-04T08:00:00Z",
                "Total for Total Wine Partners,,,,,,,100.00,20.00,120.00,,",
                "  total FOR Harbor Vet Clinics ,,,,,,USD,0.00,0.00,0.00,,",
            ]
        )
        + "\n",
    )
    (outcome,) = run(recon_home).files
    assert (outcome.rows_loaded, outcome.rows_quarantined) == (1, 2), outcome.message
    quarantined = rows(recon_home, "select row_number, column_name, reason from raw.quarantine order by row_number")
    assert quarantined == [(2, "invoice_id", TOTALS_ROW_REASON), (3, "invoice_id", TOTALS_ROW_REASON)], quarantined


def test_a_negative_credit_note_is_told_to_be_positive_not_sent_to_credit_notes(recon_home: Path) -> None:
    # A tryout: a credit note exported with a minus sign (as accounting reports show credits)
    # was quarantined with "a credit or refund belongs in its own file, e.g.
    # billing/credit_notes", the very file it was in. A credits file gives credits positive.
    write(
        recon_home / "landing/billing/credit_notes/xero_credit_notes.csv",
        "credit_note_id,invoice_id,client_name,reference,issue_date,currency,net_amount,reason\n"
        "CN-1,INV-1,Acme,PO-1,2026-11-02,USD,-100.00,refund\n",
    )
    write(
        recon_home / "landing/ads/credits/google_credits.csv",
        "credit_id,platform,account_id,campaign_id,credit_date,amount,currency\n"
        "CR-1,google_ads,act_1,CMP-1,2026-11-02,-50.00,USD\n",
    )
    write(recon_home / "landing/crm/orders/negative.csv", orders_csv(order_row("SO-1", amount="-5.00")))
    assert [f.rows_quarantined for f in run(recon_home).files] == [1, 1, 1]
    reasons = dict(rows(recon_home, "select entity, reason from raw.quarantine"))
    for entity in ("credit_notes", "credits"):
        assert "positive" in reasons[entity] and "belongs in its own file" not in reasons[entity], reasons[entity]
    assert "belongs in its own file, e.g. billing/credit_notes" in reasons["orders"], reasons["orders"]


def test_a_date_column_written_by_pandas_as_midnight_timestamps_loads_as_dates(recon_home: Path) -> None:
    # A tryout: pandas writes a date column (pd.to_datetime) to Parquet as timestamps, so
    # service dates arrived as '2026-10-01 00:00:00.000000000' and every row was quarantined
    # as "not a date; expected ISO date", a fix no one can type into a Parquet file. A
    # midnight (in the column's own zone) is that date; any other instant is still no date.
    import pyarrow as pa
    import pyarrow.parquet as pq

    midnight_utc = 1_790_812_800_000_000  # 2026-10-01 00:00 UTC, in microseconds
    london_midnight = midnight_utc + 19 * 86_400_000_000 - 3_600_000_000  # 2026-10-20 00:00 BST
    n = 3
    table = pa.table(
        {
            "order_id": ["SO-1", "SO-2", "SO-3"],
            "client_id": ["C-1"] * n,
            "client_name": ["Acme Ltd"] * n,
            "order_type": ["insertion_order"] * n,
            "amount": ["1000.00"] * n,
            "currency": ["EUR"] * n,
            "service_start_date": pa.array([midnight_utc * 1000] * 2 + [None], pa.timestamp("ns")),
            "service_end_date": pa.array(
                [london_midnight, london_midnight + 3_600_000_000, london_midnight],
                pa.timestamp("us", tz="Europe/London"),
            ),
            "status": ["booked"] * n,
            "updated_at": ["2026-09-20T10:00:00Z"] * n,
        }
    )
    path = recon_home / "landing/crm/orders/pandas_export.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    (outcome,) = run(recon_home).files
    assert (outcome.rows_loaded, outcome.rows_quarantined) == (1, 2), outcome.message
    assert rows(recon_home, "select order_id, service_start_date, service_end_date from raw.crm__orders") == [
        ("SO-1", date(2026, 10, 1), date(2026, 10, 20))
    ]
    quarantined = rows(recon_home, "select row_number, column_name, original_value, reason from raw.quarantine")
    assert sorted((r[0], r[1]) for r in quarantined) == [(2, "service_end_date"), (3, "service_start_date")]
    (not_midnight,) = [r for r in quarantined if r[0] == 2]
    assert not_midnight[2].startswith("2026-10-20 01:00:00") and "not a date" in not_midnight[3], not_midnight


# A Google Ads report as downloaded, with its columns named as the contract names them (the
# contract maps no header of Google's own: Impr., Cost, Day, Currency code); columns the
# contract does not list (Budget name, CTR, Avg. CPC, Conv. value) keep Google's values.
GOOGLE_ADS_PREAMBLE = ["Campaign report", '"November 1, 2026 - November 30, 2026"']
GOOGLE_ADS_HEADER = (
    "platform,account_id,campaign_id,campaign_name,delivery_date,Budget name,impressions,clicks,CTR,"
    "Avg. CPC,spend,Conv. value,currency"
)
GOOGLE_ADS_ROWS = [
    'google_ads,123-456-7890,20001,Acme | PO-2026-0001 | Search,2026-11-05, --,"6,114",379,6.20%,1.32,'
    '500.00,"224,144.69",USD',
    'google_ads,123-456-7890,20002,Acme | PO-2026-0001 | PMax,2026-11-05, --,"1,755,879","12,345",0.70%,0.81,'
    "10000.25, --,USD",
    "google_ads,123-456-7890,20003,Acme | PO-2026-0001 | Video,2026-11-05, --, --, --, --, --,0.00, --,USD",
    'google_ads,123-456-7890,20004,Acme | Brand,2026-11-05,Brand budget,--,"1,000",--,--,12.50,--,USD',
    'Total: Account,,,,, --,"1,761,993","13,724",0.78%,0.77,10512.75,"224,144.69",USD',
]


def test_a_google_ads_report_loads_its_grouped_counts_and_dashes(recon_home: Path) -> None:
    # A tryout: Google Ads writes every count of 1,000 or more quoted with thousands
    # separators ("6,114", "1,755,879") and ` --` for a metric with no value; each such row
    # was quarantined whole, so its spend was missing from delivery for every Google Ads file.
    path = recon_home / "landing/ads/delivery/google_ads_campaign_report.csv"
    write(path, "\n".join([*GOOGLE_ADS_PREAMBLE, GOOGLE_ADS_HEADER, *GOOGLE_ADS_ROWS]) + "\n")
    (downloaded,) = run(recon_home).files
    assert downloaded.status == "rejected", downloaded.message
    assert "the header is on line 3: delete the 2 line(s) above it" in downloaded.message, downloaded.message
    # The two lines deleted, as the message says: every campaign-day loads.
    write(path, "\n".join([GOOGLE_ADS_HEADER, *GOOGLE_ADS_ROWS]) + "\n")
    (outcome,) = run(recon_home).files
    assert (outcome.status, outcome.rows_read, outcome.rows_loaded, outcome.rows_quarantined) == (
        "loaded",
        5,
        4,
        1,
    ), describe(outcome)
    loaded = rows(
        recon_home, "select campaign_id, impressions, clicks, spend from raw.ads__delivery order by campaign_id"
    )
    assert loaded == [
        ("20001", 6114, 379, Decimal("500.0000")),
        ("20002", 1755879, 12345, Decimal("10000.2500")),
        ("20003", None, None, Decimal("0.0000")),
        ("20004", None, 1000, Decimal("12.5000")),
    ], loaded
    # Only the totals row is quarantined, as a summary, its text kept as written.
    assert rows(recon_home, "select row_number, column_name, original_value, reason from raw.quarantine") == [
        (5, "platform", "Total: Account", TOTALS_ROW_REASON)
    ]


def test_a_count_whose_separators_can_be_misread_is_still_quarantined(recon_home: Path) -> None:
    # Only commas grouping digits in threes are read as thousands separators in a count.
    # A dot (1.234 is 1234 in Germany, 1.234 in England), a comma that is no thousands
    # separator (1,23, 0,500) and a fraction stay quarantined, each naming row and column.
    # Money keeps one plain form: 1,234 or 0,200 may be a decimal comma; ` --` is no spend.
    base = "google_ads,123-456-7890,{cid},Acme | PO-2026-0001,2026-11-05,{impressions},{clicks},{spend},USD"
    cases = [
        ("1", '"1,23"', "1", "1.00"),
        ("2", "1.234", "1", "1.00"),
        ("3", '"0,500"', "1", "1.00"),
        ("4", '"12,3456"', "1", "1.00"),
        ("5", '"1,234,56"', "1", "1.00"),
        ("6", '"6,114.5"', "1", "1.00"),
        ("7", '"1,234.00"', '"-1,000"', "1.00"),
        ("8", "10", "1", '"1,234"'),
        ("9", "10", "1", '"0,200"'),
        ("10", "10", "1", '"1,234.56"'),
        ("11", "10", "1", " --"),
        ("12", "10", "1", "--"),
        ("13", "10", "1", "-"),
        ("14", "10", "1", "1.00"),  # the one row that loads
    ]
    write(
        recon_home / "landing/ads/delivery/ambiguous.csv",
        "\n".join([DELIVERY_HEADER, *(base.format(cid=c, impressions=i, clicks=k, spend=s) for c, i, k, s in cases)])
        + "\n",
    )
    # An optional number of an invoice line given as -- is missing; a required one is not.
    write(
        recon_home / "landing/billing/invoice_lines/lines.csv",
        "invoice_id,line_number,description,quantity,unit_price,net_amount\n"
        "INV-1,1,Media, --, --,100.00\n"
        "INV-1,--,Media,1,100.00,100.00\n"
        "INV-1,3,Media,-,100.00,100.00\n",
    )
    delivery, lines = sorted(run(recon_home).files, key=lambda f: f.source_file)
    assert (delivery.rows_loaded, delivery.rows_quarantined) == (1, 13), describe(delivery)
    assert rows(recon_home, "select campaign_id, impressions from raw.ads__delivery") == [("14", 10)]
    found = rows(
        recon_home,
        "select row_number, column_name, original_value, reason from raw.quarantine where entity = 'delivery' "
        "order by row_number",
    )
    assert [(r, c, v) for r, c, v, _ in found] == [
        (1, "impressions", "1,23"),
        (2, "impressions", "1.234"),
        (3, "impressions", "0,500"),
        (4, "impressions", "12,3456"),
        (5, "impressions", "1,234,56"),
        (6, "impressions", "6,114.5"),
        (7, "clicks", "-1,000"),
        (8, "spend", "1,234"),
        (9, "spend", "0,200"),
        (10, "spend", "1,234.56"),
        (11, "spend", " --"),
        (12, "spend", "--"),
        (13, "spend", "-"),
    ], found
    reason = {r: why for r, _, _, why in found}
    # Each row names its one problem once: the first shape that fits, never also another
    # shape's advice or the generic "not a whole number" / "not a decimal number".
    problems = rows(recon_home, "select row_number, problems from raw.quarantine where entity = 'delivery'")
    assert all([p["reason"] for p in json.loads(listed)] == [reason[r]] for r, listed in problems), problems
    for row in (1, 3, 4, 5):
        assert "commas that do not group the digits in threes" in reason[row], reason[row]
        assert "plain digits (1234) or grouped by commas in threes (1,234)" in reason[row], reason[row]
    assert "dots between groups of three digits" in reason[2] and "cannot be read for sure" in reason[2], reason[2]
    assert "a fraction" in reason[6] and "whole number" in reason[6], reason[6]
    assert reason[7].startswith("negative value not expected"), reason[7]
    for row in (8, 9):
        assert "cannot be told apart" in reason[row] and "decimal comma" in reason[row], reason[row]
    assert "thousands separators" in reason[10] and "write the number without them" in reason[10], reason[10]
    for row in (11, 12):
        assert reason[row] == (
            "required value is '--' (an export's mark for no value): fill in spend for this row and re-drop the file"
        ), reason[row]
    # A dash alone is no '--': named, with what to write (a helper's review: "not a decimal number").
    assert reason[13] == (
        "required value is '-' (a mark some exports write for no value, as Meta Ads Manager does in its "
        "rankings): fill in spend for this row and re-drop the file"
    ), reason[13]
    # `recon ingest` names the row, the column and the value under the file.
    assert describe(delivery).splitlines()[1].startswith("    row 1, column impressions ('1,23'): not a plain number")
    assert (lines.rows_loaded, lines.rows_quarantined) == (1, 2), describe(lines)
    assert rows(recon_home, "select line_number, quantity, unit_price from raw.billing__invoice_lines") == [
        (1, None, None)
    ]
    quarantined = rows(
        recon_home,
        "select row_number, column_name, original_value, reason from raw.quarantine where entity = 'invoice_lines' "
        "order by row_number",
    )
    assert [q[:3] for q in quarantined] == [(2, "line_number", "--"), (3, "quantity", "-")]
    # In an optional column a dash alone is not read as no value (no export is known to write it
    # for a number; Meta writes it in its rankings, which are text): named, with the two fixes.
    assert quarantined[1][3].startswith("a dash alone ('-'), not a number"), quarantined[1]
    assert "leave the cell empty if quantity has none, or write the number, and re-drop" in quarantined[1][3]


def test_the_contract_says_which_number_separators_it_reads() -> None:
    # The rule as the operator reads it, in docs/landing_contract.md.
    from orchestration import contract_docs

    text = contract_docs.contract_markdown()
    integer = next(line for line in text.splitlines() if line.startswith("| integer |"))
    assert "6,114" in integer and "in threes" in integer, integer
    decimal = next(line for line in text.splitlines() if line.startswith("| decimal |"))
    assert "no thousands separator" in decimal, decimal
    assert "`--`" in text and "optional number column" in text


def test_a_date_a_person_can_fix_is_quarantined_naming_what_is_wrong_with_it(recon_home: Path) -> None:
    # A tryout with a hand-written HubSpot-like export: 2026-02-30 (a typo of a day) was
    # quarantined as "not a date; expected ISO date YYYY-MM-DD", a format it already has;
    # 3/1/2026 and 20/02/2026 10:00 got the same words without saying why the order of day and
    # month cannot be guessed; and 3000.1234567 or a float 45362.120000000003 was "not a
    # decimal number" although it is one, only with more decimals than the contract keeps.
    write(
        recon_home / "landing/crm/orders/hubspot-crm-exports-all-deals-2026-03-01.csv",
        orders_csv(
            order_row("1", service_start_date="2026-02-30"),
            order_row("2", service_end_date="2026-13-01"),
            order_row("3", service_start_date="3/1/2026"),
            order_row("4", updated_at="20/02/2026 10:00"),
            order_row("5", updated_at="2026-04-31T10:00:00Z"),
            order_row("6", amount="3000.1234567"),
            order_row("7", amount="45362.120000000003"),
            order_row("8", updated_at="2026-02-20T25:00:00Z"),
            order_row("9", amount="45362.1200000"),
            order_row("10", service_start_date="March 1 2026"),
        ),
    )
    (outcome,) = run(recon_home).files
    assert (outcome.rows_loaded, outcome.rows_quarantined) == (1, 9), outcome.message
    found = {
        r: (column, why)
        for r, column, why in rows(recon_home, "select row_number, column_name, reason from raw.quarantine")
    }
    for row, column in ((1, "service_start_date"), (2, "service_end_date"), (5, "updated_at")):
        assert found[row][0] == column and found[row][1].startswith("not a date in the calendar"), found[row]
        assert "correct the date and re-drop the file" in found[row][1], found[row]
    for row, column in ((3, "service_start_date"), (4, "updated_at")):
        assert found[row][0] == column and "day and month first" in found[row][1], found[row]
        assert "write it as YYYY-MM-DD" in found[row][1], found[row]
    for row in (6, 7):
        assert found[row][0] == "amount" and "more than 4 decimals" in found[row][1], found[row]
        assert "round it to at most 4 decimals" in found[row][1], found[row]
    assert found[8][1].startswith("not a timestamp; expected ISO 8601"), found[8]
    assert found[10][1].startswith("not a date; expected ISO date"), found[10]
    # A date names its one problem once: the specific reasons replace the generic one.
    problems = dict(rows(recon_home, "select row_number, json_array_length(problems) from raw.quarantine"))
    assert [problems[r] for r in (1, 2, 3, 4, 5, 8, 10)] == [1] * 7, problems


def test_a_summary_row_without_names_is_quarantined_as_one_not_as_a_record_to_fill_in(recon_home: Path) -> None:
    # A tryout with a Meta-like export: the account's totals come first with the name columns
    # empty (REAL_EXPORTS 1.2); the row was quarantined asking to "fill in platform for this
    # row", inviting a person to make a record of totals. A row missing only its key still is.
    write(
        recon_home / "landing/ads/delivery/meta_export.csv",
        '"platform","account_id",campaign_id,"campaign_name","delivery_date",impressions,clicks,spend,currency\n'
        ",,,,2026-03-01,314467,93675,159.51,USD\n"
        'meta,act_1001,CMP-M1,"Zeta — Spring",2026-03-01,21997,7076,159.51,USD\n'
        'meta,act_1001,,"Zeta — Spring",2026-03-02,21997,7076,159.51,USD\n',
    )
    (outcome,) = run(recon_home).files
    assert (outcome.rows_loaded, outcome.rows_quarantined) == (1, 2), outcome.message
    found = {
        r: (column, why)
        for r, column, why in rows(recon_home, "select row_number, column_name, reason from raw.quarantine")
    }
    assert found[1][0] == "platform" and found[1][1].startswith("a summary row, not a record"), found[1]
    assert "fill in platform, account_id, campaign_id, campaign_name" in found[1][1], found[1]
    assert found[3] == ("campaign_id", "required value is empty: fill in campaign_id for this row and re-drop the file")


def test_a_file_cut_short_is_rejected_whole_and_a_whole_last_row_without_a_line_break_loads(
    recon_home: Path,
) -> None:
    # A tryout: crm/orders re-dropped at its path cut to 80 % of its bytes ("SO-00000160,C-000006,Saf",
    # no line break) published: the cut row was quarantined as a footer and 39 orders vanished.
    path = write(recon_home / "landing/crm/orders/orders.csv", orders_csv(*(order_row(str(n)) for n in range(1, 5))))
    (first,) = run(recon_home).files
    assert (first.status, first.rows_loaded) == ("loaded", 4)
    cut = orders_csv(*(order_row(str(n)) for n in range(1, 5)))
    path.write_text(cut[: cut.index(order_row("3")) + 12])  # "3,C-1,Acme L"
    (outcome,) = run(recon_home).files
    assert outcome.status == "rejected", outcome.message
    assert "crm/orders/orders.csv" in outcome.message and "truncated" in outcome.message, outcome.message
    assert "row 3 (line 4)" in outcome.message and "3 field(s)" in outcome.message, outcome.message
    assert "export the file again" in outcome.message, outcome.message
    # Counted as rejected files are (read = rejected), and the earlier batch stays current.
    assert (outcome.rows_read, outcome.rows_rejected, outcome.rows_loaded) == (3, 3, 0)
    assert rows(recon_home, "select count(*) from raw.quarantine") == [(0,)]
    assert rows(recon_home, "select count(*) from raw.crm__orders") == [(4,)]
    # Many exporters leave out the last line break after a whole row, or a totals line: not cut.
    path.write_text(orders_csv(order_row("1"), order_row("2")).rstrip("\n"))
    write(
        recon_home / "landing/crm/orders/with_total.csv",
        orders_csv(order_row("5"), "Total,,,,,,").rstrip("\n"),
    )
    outcomes = {f.source_file: f for f in run(recon_home).files}
    assert outcomes["crm/orders/orders.csv"].status == "loaded", outcomes["crm/orders/orders.csv"].message
    assert outcomes["crm/orders/orders.csv"].rows_loaded == 2
    total = outcomes["crm/orders/with_total.csv"]
    assert (total.status, total.rows_loaded, total.rows_quarantined) == ("loaded", 1, 1), total.message


def test_a_cut_json_lines_file_or_parquet_file_is_rejected_as_truncated(recon_home: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    line = {"lead_id": "L1", "created_at": "2026-03-01T09:00:00Z"}
    text = "\n".join(json.dumps(line | {"lead_id": f"L{n}"}) for n in range(1, 4))
    write(recon_home / "landing/crm/leads/whole.jsonl", text)  # no line break after a whole object
    write(recon_home / "landing/crm/leads/cut.jsonl", text[:-9])
    path = recon_home / "landing/crm/leads/cut.parquet"
    pq.write_table(pa.table({k: [v] * 50 for k, v in line.items()}), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 8 // 10])
    outcomes = {f.source_file: f for f in run(recon_home).files}
    assert outcomes["crm/leads/whole.jsonl"].rows_loaded == 3, outcomes["crm/leads/whole.jsonl"].message
    cut = outcomes["crm/leads/cut.jsonl"]
    assert cut.status == "rejected" and "truncated" in cut.message and "line 3" in cut.message, cut.message
    assert (cut.rows_read, cut.rows_rejected) == (3, 3)
    parquet = outcomes["crm/leads/cut.parquet"]
    assert parquet.status == "rejected" and "truncated" in parquet.message, parquet.message
    assert rows(recon_home, "select count(*) from raw.quarantine") == [(0,)]


def test_a_report_footer_line_is_quarantined_as_a_footer_not_a_record_to_fill_in(recon_home: Path) -> None:
    # A tryout: QuickBooks' last line '" Tuesday, September 29, 2026 09:30 PM GMT-04:00",,,,,' was
    # quarantined as "required value is empty: fill in client_name", beside its TOTAL row called
    # a totals row. A row holding only an id is still a record to fill in.
    write(
        recon_home / "landing/billing/invoices/qbo.csv",
        "\n".join(
            [
                INVOICES_HEADER,
                "X-F01,1,Foot Ltd,PO-F,2025-03-01,2025-04-01,USD,100.00,0.00,100.00,issued,2025-03-01T10:00:00Z",
                "",
                '" Tuesday, September 29, 2026 09:30 PM GMT-04:00",,,,,,,,,,,',
                ",,Accrual Basis,,,,,,,,,",
                "X-F02,,,,,,,,,,,",
                '"Monday, Dec 07, 2026 09:00:00 AM GMT-05:00"',
            ]
        )
        + "\n",
    )
    (outcome,) = run(recon_home).files
    assert (outcome.rows_read, outcome.rows_loaded, outcome.rows_quarantined) == (5, 1, 4), outcome.message
    found = {
        r: (column, why)
        for r, column, why in rows(recon_home, "select row_number, column_name, reason from raw.quarantine")
    }
    for row, column in ((3, "invoice_id"), (4, "client_name"), (6, "_record")):
        assert found[row][0] == column and found[row][1].startswith("a report footer line"), found[row]
        assert "nothing was lost" in found[row][1], found[row]
    assert found[5][0] == "client_name" and found[5][1].startswith("required value is empty"), found[5]


def test_a_row_names_every_column_that_is_wrong_and_a_timestamp_in_a_date_column(recon_home: Path) -> None:
    # A tryout with a Parquet file: a row with a bad issue_date and bad amounts (0.30000000000000004,
    # 1e16) was quarantined for its issue_date alone, so fixing it took two re-drops; and a typed
    # timestamp at 10:30 in issue_date was "expected ISO date YYYY-MM-DD", not what it was.
    import pyarrow as pa
    import pyarrow.parquet as pq

    ten_thirty = 1_790_812_800_000_000 + 37_800_000_000  # 2026-10-01 10:30 UTC, in microseconds
    n = 2
    table = pa.table(
        {
            "invoice_id": ["I-1", "I-2"],
            "client_name": ["Acme"] * n,
            "issue_date": pa.array([ten_thirty, ten_thirty], pa.timestamp("us", tz="UTC")),
            "currency": ["USD"] * n,
            "net_amount": pa.array([0.1 + 0.2, 100.0]),
            "tax_amount": pa.array([0.0, 0.0]),
            "total_amount": pa.array([1e16, 100.0]),
            "status": ["issued"] * n,
        }
    )
    path = recon_home / "landing/billing/invoices/export.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    (outcome,) = run(recon_home).files
    assert (outcome.rows_loaded, outcome.rows_quarantined) == (0, 2), outcome.message
    found = {
        r: (column, why)
        for r, column, why in rows(recon_home, "select row_number, column_name, reason from raw.quarantine")
    }
    column, reason = found[1]
    assert column == "issue_date" and reason.startswith("a timestamp (a date with a time of day), not a date"), reason
    assert "not a date; expected" not in reason and "normalize" in reason, reason
    also = reason.split("; also wrong in this row: ", 1)[1]
    assert also.startswith('net_amount ("0.30000000000000004"): ') and " | total_amount (" in also, also
    assert "tax_amount" not in also and len(reason) < 1200, reason
    # One fault, one reason: nothing added.
    assert found[2][1].startswith("a timestamp") and "also wrong" not in found[2][1], found[2]
