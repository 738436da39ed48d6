"""Ingestion: landing files → append-only ``raw`` tables in the DuckDB warehouse.

Each landing file is one batch, loaded in one transaction. The file's sha256 makes
ingestion idempotent (a file already seen is skipped) and tells a restatement (same
path, new content) from a new file. Every row read is either loaded into
``raw.<source>__<entity>`` or written to ``raw.quarantine`` with the column, the reason
and the original text; a file whose structure is unusable is rejected whole and
recorded in ``raw.ingestion_log``. The counts are checked before each commit.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import time
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TypeVar

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from orchestration import contract
from orchestration.contract import Column, Entity
from orchestration.warehouse import open_writer

BATCH_ROWS = 100_000
RAW_SCHEMA = "raw"
META_COLUMNS = (
    ("_batch_id", "BIGINT"),
    ("_source_file", "VARCHAR"),
    ("_file_sha256", "VARCHAR"),
    ("_row_number", "BIGINT"),
    ("_ingested_at", "TIMESTAMP"),
)
# Accept up to 4 significant decimals; trailing zeros beyond that (as typed Parquet
# decimals render) are harmless.
DECIMAL_PATTERN = r"^[+-]?[0-9]{1,30}(\.[0-9]{0,4}0*)?$"
# A whole number in plain digits; a trailing ".0" (a spreadsheet's float) is still exact.
INTEGER_PATTERN = r"[+-]?[0-9]{1,30}(\.0+)?"
# A count as ads platforms write it from 1,000 on (Google Ads: "6,114", "1,755,879"): commas
# grouping the digits in threes after a first group of one to three digits, not starting with
# 0, and a trailing ".0" as INTEGER_PATTERN allows. Read in integer columns only: a whole
# number has no decimals, so such a comma can be nothing but a thousands separator, while in
# a decimal column 1,234 and 0,200 may be written with a decimal comma (contract KIND_FORMAT).
# A constant of this module, written into the SQL (_number_text), not a value.
GROUPED_INTEGER = r"[+-]?[1-9][0-9]{0,2}(,[0-9]{3})+(\.0+)?"
# What ads platforms write for a metric with no value (Google Ads: " --", also "--"). In an
# optional number column it is a missing value; in a required one it is quarantined.
NOT_APPLICABLE = "--"
NOT_APPLICABLE_REQUIRED = (
    "required value is '--' (an export's mark for no value): fill in {column} for this row and re-drop the file"
)
# A dash alone: Meta Ads Manager's mark for "unavailable" in its ranking columns (text, in no
# contract column; REAL_EXPORTS 1.2). No export is known to write it for a number, and it may be
# a number half typed (-12 without its digits), so it is named, not read as no value as -- is.
LONE_DASH = "-"
LONE_DASH_REQUIRED = (
    "required value is '-' (a mark some exports write for no value, as Meta Ads Manager does in its "
    "rankings): fill in {column} for this row and re-drop the file"
)
LONE_DASH_OPTIONAL = (
    "a dash alone ('-'), not a number: some exports write it for no value (Meta Ads Manager in its "
    "rankings), but in a number column only an empty cell or '--' is no value; leave the cell empty if "
    "{column} has none, or write the number, and re-drop the file"
)
# How a reason whose words name no more specific fix ends.
FIX = "; correct the value and re-drop the file"
# Whole numbers whose separators have more than one reading, said before NUMBER_SHAPES (whose
# advice is for amounts): a comma grouping in threes is read (GROUPED_INTEGER), nothing else.
INTEGER_SHAPES: tuple[tuple[str, str], ...] = (
    (
        r"[+-]?[0-9]{1,3}(\.[0-9]{3})+",
        "dots between groups of three digits (1.234): a thousands separator in some exports and a "
        "decimal point in others, so it cannot be read for sure; write the whole number in plain digits "
        "(1234) or grouped by commas (1,234) and re-drop the file",
    ),
    (
        r"[+-]?[0-9]+(,[0-9]+)+",
        "commas that do not group the digits in threes (1,23, 0,500 or 12,3456): a decimal comma or a "
        "mistyped number; write the whole number in plain digits (1234) or grouped by commas in threes "
        "(1,234) and re-drop the file",
    ),
    (
        r"[+-]?[0-9]{1,3}(,[0-9]{3})+\.[0-9]*",
        "a fraction (6,114.5), and the column takes a whole number; correct the value and re-drop the file",
    ),
)
# An amount whose comma may be a thousands separator or a decimal comma: 1,234 is 1234 in
# English and 1.234 where a comma marks decimals (a RU-locale Google Ads account writes 0,19);
# 0,200 (a tax rate) is 0.2, never 200. Said before NUMBER_SHAPES' "thousands separators".
DECIMAL_SHAPES: tuple[tuple[str, str], ...] = (
    (
        r"[+-]?[0-9]{1,3}(,[0-9]{3})+",
        "a comma before three digits and no decimal point (1,234 or 0,200): a thousands separator "
        "(1234, 200) or a decimal comma (1.234, 0.2), which cannot be told apart; write it with a dot "
        "for decimals and no thousands separator (1234.00 or 0.2) and re-drop the file",
    ),
    (
        # A CRM's or spreadsheet's float (HubSpot's 45362.120000000003) or a rate with more
        # places than the contract keeps: a number, only too precise, not "no decimal number".
        r"[+-]?[0-9]+\.[0-9]{5,}",
        "more than 4 decimals (3000.1234567, or a spreadsheet's float such as 45362.120000000003), and "
        "the contract keeps 4; round it to at most 4 decimals (3000.1235) and re-drop the file",
    ),
)
# Numbers as spreadsheets and accounting exports show them, with what to write instead.
NUMBER_SHAPES: tuple[tuple[str, str], ...] = (
    (
        r"\(\s*[$€£¥]?\s*[0-9][0-9.,\s]*\)",
        "an accounting negative in parentheses ((12.00)); write it with a minus sign (-12.00), or as "
        "a credit in its own file if the column takes no negatives, and re-drop the file",
    ),
    (
        r"[0-9][0-9.,\s]*-",
        "a trailing minus sign (12.00-); write the minus first (-12.00) and re-drop the file",
    ),
    (
        r"[+-]?\s*([$€£¥]|[A-Za-z]{3}\s)\s*[0-9][0-9.,\s]*|[+-]?[0-9][0-9.,\s]*\s*([$€£¥]|\s[A-Za-z]{3})",
        "a currency sign or code beside the number ($1,200.00, 1200 EUR); write the number alone "
        "(1200.00): the currency goes in its own column; re-drop the file",
    ),
    (
        r"[+-]?[0-9]{1,3}([,\s][0-9]{3})+(\.[0-9]+)?",
        "thousands separators (12,500.00 or 12 500.00); write the number without them (12500.00) and re-drop the file",
    ),
    (
        r"[+-]?[0-9]{1,3}(\.[0-9]{3})+(,[0-9]+)?|[+-]?[0-9]+,[0-9]{1,2}",
        "a decimal comma (1.234,50 or 12,50); write a dot as the decimal separator and no thousands "
        "separator (1234.50), and re-drop the file",
    ),
    (r"[+-]?[0-9.,]+\s*%", "a percentage sign; write the number alone (12.5 for 12.5 %) and re-drop the file"),
)
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
TIMESTAMP_PREFIX = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
# A date written day and month first, as US and European exports and spreadsheets show it
# (QuickBooks' 1/19/2026, Xero's 24/03/2026, 01.02.2026), alone or before a time of day:
# 3/1/2026 is 1 March or 3 January, so it is named, never read.
DAY_MONTH_DATE = r"^[0-9]{1,2}[/.-][0-9]{1,2}[/.-]([0-9]{4}|[0-9]{2})([ T].*)?$"
DAY_MONTH_DATE_REASON = (
    "not a date: day and month first (3/1/2026 is 1 March in M/D/YYYY and 3 January in D/M/YYYY), "
    "which cannot be told apart; write it as YYYY-MM-DD (2026-03-01) and re-drop the file"
)
# A timestamp where a date belongs: a Parquet column typed as timestamps that is not at midnight
# (_midnights_as_dates), or a CSV's 2026-03-01 10:30:00.
DATE_WITH_TIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{1,2}:[0-9]{2}.*$"
DATE_WITH_TIME_REASON = (
    "a timestamp (a date with a time of day), not a date: this column holds a day; write the date alone "
    "(YYYY-MM-DD) and re-drop the file. A Parquet column typed as timestamps gives a date only at "
    "midnight in the column's time zone (as pandas writes dates): if the day is the one meant, drop the "
    "time of day (pandas: .dt.normalize()) or check the column's time zone, and re-drop the file"
)
# An ISO-shaped date the calendar lacks (2026-02-30, 2026-04-31, 2026-13-01): a typo of a day
# or a month, not a format to learn.
NO_SUCH_DAY_REASON = (
    "not a date in the calendar: {value} names a day its month does not have (2026-02-30, 2026-04-31) "
    "or a month past 12; correct the date and re-drop the file"
)
# An offset after a time of day beyond -12:00..+14:00 (+25:00, -13:30, +1500).
BAD_UTC_OFFSET = (
    r"[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?\s*"
    r"(\+(1[5-9]|[2-9][0-9])|-(1[3-9]|[2-9][0-9]))(:?[0-9]{2})?$"
)
# A timestamp with a time of day, and one whose time of day is whole: hh, hh:mm or hh:mm:ss
# (with a fraction), two digits each, then the end, an offset, Z, a space or a zone name.
# Cut off after a colon (2026-01-08T04:, 2026-01-08T04:45:) it is no ISO 8601 time.
TIMESTAMP_WITH_TIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ]"
WHOLE_TIME_OF_DAY = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}(:[0-9]{2}(:[0-9]{2}([.,][0-9]+)?)?)?($|[^0-9:.,])"
# A UTC offset (or Z) written after a space, as strftime's "%Y-%m-%d %H:%M:%S %z" and many
# exports do ("2026-11-03 09:00:00 +0200"): DuckDB reads it only without the space, so the
# space goes before the value is checked or cast. A constant of this module, not a value.
OFFSET_AFTER_SPACE = r"'([0-9])\s+([+-][0-9]{2}(:?[0-9]{2})?|[Zz])$', '\1\2'"


def _timestamp_text(text: str) -> str:
    """A timestamp column's trimmed text with the space before a trailing offset removed."""
    return f"regexp_replace({text}, {OFFSET_AFTER_SPACE})"


def _number_text(text: str, col: Column) -> str:
    """A number column's trimmed text as the checks and the cast read it: a count's commas
    grouping in threes removed (GROUPED_INTEGER), and NOT_APPLICABLE as empty when the column
    is optional. Any other comma stays, so the value is quarantined with its shape named."""
    if col.kind == "integer":
        # contains() first: nearly no value has a comma, and the pattern is then not run.
        grouped = f"contains({text}, ',') and regexp_full_match({text}, '{GROUPED_INTEGER}')"
        text = f"case when {grouped} then replace({text}, ',', '') else {text} end"
    if not col.required:
        text = f"nullif({text}, '{NOT_APPLICABLE}')"
    return text


# A time of day followed by letters only: a zone abbreviation (BST, IST, CST, EDT). They are
# ambiguous, and DuckDB's ICU reads some as the wrong zone (BST as Bangladesh, +06:00; AST
# as Alaska; IST as India), so they are quarantined unless they name UTC itself.
# An IANA name (Europe/London) and GMT+2 / UTC-05:00 carry more than letters and pass.
ZONE_ABBREVIATION = r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9:.]+\s*[A-Za-z]+"
ZONE_UTC_ITSELF = r"(?i).*[0-9]\s*(z|utc|gmt)"
# What Excel shows (and saves) for a long number in a General cell: 1.21143E+15. The digits
# after the mantissa are gone, so an id or reference in this form can never match.
EXCEL_SCIENTIFIC = r"[0-9](\.[0-9]+)?[Ee]\+[0-9]{1,3}"
RECORD_COLUMN = "_record"  # quarantine column name for a line that is not a record at all
# A totals or summary line of an accounting or ads export (QuickBooks' "TOTAL", Google Ads'
# "Total: Account"), as its first value or its key: the word alone, or before a colon.
# QuickBooks closes each customer's group with "Total for <customer>".
# "Total Wine Partners" is a name, not a totals word.
TOTALS_WORD = r"(?i)\s*((grand\s+total|sub-?\s?totals?|totals?|sum)\s*(:.*)?|total\s+for\s+\S.*)"
TOTALS_ROW_REASON = (
    "a totals or summary row, not a record: nothing to fix; remove it from the export if you want it gone"
)
# A report's footer line: one cell holding when the report was run or a note, every other cell
# empty (QuickBooks ends its exports with '" Tuesday, September 29, 2026 09:30 PM GMT-04:00",,,,,').
# A date or time of day in it (ISO or day/month dates, 09:30, a month's or weekday's name)...
FOOTER_STAMP = (
    r"(?i).*([0-9]{1,4}[-/.][0-9]{1,2}[-/.][0-9]{1,4}|[0-9]{1,2}:[0-9]{2}"
    r"|(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+[0-9]{1,2}"
    r"|[0-9]{1,2}\s+(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)"
    r"|(mon|tues?|wed(nes)?|thu(rs)?|fri|sat(ur)?|sun)(day)?,).*"
)
# ... or words (a note: "Cash Basis", "Report generated by Xero"), not one id or number.
FOOTER_NOTE = r"(?s)\s*[^\s]*[A-Za-z][^\s]*\s+\S.*"
FOOTER_LINE_REASON = (
    "a report footer line (when the report was run, or a note; every other cell empty), not a record: "
    "nothing was lost and nothing to fix; remove it from the export if you want it gone. If it is a "
    "record, fill in its values and re-drop the file"
)
# A file whose last line has no line break after it and is no whole record (fewer fields than the
# header, cut JSON): its end was cut off, and what is left of it would load as if it were all.
TRUNCATED_REASON = (
    "the file looks truncated (an interrupted download or upload): it does not end with a line break "
    "and its last line, {where}, {fault}. Records past the cut are missing, so nothing of it is loaded; "
    "export the file again and re-drop it whole"
)


def _is_footer_stamp(value: str) -> bool:
    return re.fullmatch(FOOTER_STAMP, value) is not None


def _is_footer_line(values: list[str]) -> bool:
    """A record whose only non-empty cell is a date/time stamp or a note (a report footer)."""
    filled = [v for v in values if v.strip()]
    return len(filled) == 1 and (_is_footer_stamp(filled[0]) or re.fullmatch(FOOTER_NOTE, filled[0]) is not None)


def _ends_without_line_break(path: Path) -> bool:
    """The file's last byte is no line break (the cheapest sign of a cut file; many exporters
    also leave it out after a whole last record)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            if fh.tell() == 0:
                return False
            fh.seek(-1, 2)
            return fh.read(1) not in (b"\n", b"\r")
    except OSError:
        return False


class FileRejected(Exception):
    """The file cannot be read as a table of this entity; nothing of it is loaded."""


@dataclass
class FileOutcome:
    source_file: str
    source: str
    entity: str
    status: str  # loaded | rejected | duplicate | archived | ignored | skipped (already ingested; not logged again)
    sha256: str
    batch_id: int | None = None
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    is_restatement: bool = False
    supersedes_batch_id: int | None = None
    # The first quarantined rows (row, column, value, reason), shown under the file's line.
    examples: list[str] = field(default_factory=list)
    duplicate_of_batch_id: int | None = None
    message: str = ""
    previous_status: str | None = None  # skipped: how its latest batch ended (loaded, rejected, ...)
    # A full export (contract delivery "full"): when it was exported (the date in its path,
    # else its modification time), the batches it supersedes, the batch that superseded it on
    # arrival (an export older than the newest loaded), and the keys it withdraws.
    delivery: str = "incremental"
    exported_at: datetime | None = None
    supersedes_batch_ids: list[int] = field(default_factory=list)
    superseded_on_arrival_by: int | None = None
    keys_withdrawn: int = 0

    @property
    def rows_rejected(self) -> int:
        """Rows of a rejected file: all it read, none loaded (read = loaded + quarantined + rejected)."""
        return self.rows_read if self.status == "rejected" else 0


@dataclass
class IngestReport:
    files: list[FileOutcome] = field(default_factory=list)
    seconds: float = 0.0

    def by_status(self, status: str) -> list[FileOutcome]:
        return [f for f in self.files if f.status == status]

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows_loaded for f in self.files)

    @property
    def rows_quarantined(self) -> int:
        return sum(f.rows_quarantined for f in self.files)

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files if f.status in ("loaded", "rejected"))

    @property
    def rows_rejected(self) -> int:
        return sum(f.rows_rejected for f in self.files)

    def rows_loaded_by_table(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.by_status("loaded"):
            key = f"{f.source}__{f.entity}"
            out[key] = out.get(key, 0) + f.rows_loaded
        return out


# --------------------------------------------------------------------------- DDL


def _ident(name: str) -> str:
    """Quote an identifier that comes from the contract (never from data)."""
    if not name.replace("_", "").isalnum():
        raise ValueError(f"refusing to use {name!r} as an SQL identifier")
    return f'"{name}"'


def ensure_raw_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the raw schema: one table per contract entity, the log, quarantine and operator actions."""
    con.execute(f"create schema if not exists {RAW_SCHEMA}")
    for ent in contract.ENTITIES:
        cols = [f"{_ident(c.name)} {c.sql_type}" for c in ent.columns]
        cols += [f"{_ident(n)} {t}" for n, t in META_COLUMNS]
        con.execute(f"create table if not exists {RAW_SCHEMA}.{_ident(ent.table)} ({', '.join(cols)})")
        # A warehouse made under an older contract gains the columns added since (null in
        # the rows it already holds); raw stays append-only.
        for c in ent.columns:
            con.execute(
                f"alter table {RAW_SCHEMA}.{_ident(ent.table)} add column if not exists {_ident(c.name)} {c.sql_type}"
            )
    con.execute(
        f"""
        create table if not exists {RAW_SCHEMA}.ingestion_log (
            batch_id BIGINT primary key,
            source VARCHAR,
            entity VARCHAR,
            source_file VARCHAR,
            file_sha256 VARCHAR,
            file_bytes BIGINT,
            file_format VARCHAR,
            status VARCHAR,
            is_restatement BOOLEAN,
            supersedes_batch_id BIGINT,
            rows_read BIGINT,
            rows_loaded BIGINT,
            rows_quarantined BIGINT,
            message VARCHAR,
            contract_version VARCHAR,
            ingested_at TIMESTAMP
        )
        """
    )
    con.execute(f"alter table {RAW_SCHEMA}.ingestion_log add column if not exists duplicate_of_batch_id BIGINT")
    # delivery: the entity's contract delivery when the file loaded; exported_at: for a full
    # export, when it was exported (the date in its landing path, else its modification time).
    con.execute(f"alter table {RAW_SCHEMA}.ingestion_log add column if not exists delivery VARCHAR")
    con.execute(f"alter table {RAW_SCHEMA}.ingestion_log add column if not exists exported_at TIMESTAMP")
    # Batches a full export superseded (contract delivery "full"), one row each, append-only:
    # batch_id no longer counts, superseded_by_batch_id replaced it, decided_by_batch_id is the
    # batch whose arrival decided it (the later export itself, or a late export superseded on
    # arrival by the newer one). Restatements of a path stay in ingestion_log.supersedes_batch_id.
    con.execute(
        f"""
        create table if not exists {RAW_SCHEMA}.batch_supersessions (
            batch_id BIGINT,
            superseded_by_batch_id BIGINT,
            decided_by_batch_id BIGINT,
            reason VARCHAR,
            recorded_at TIMESTAMP
        )
        """
    )
    # Filled by actions.copy_to_warehouse from the action store, every run.
    con.execute(
        f"""
        create table if not exists {RAW_SCHEMA}.operator_actions (
            seq BIGINT, action_id VARCHAR, exception_id VARCHAR, action VARCHAR, actor VARCHAR,
            acted_at TIMESTAMP, reason_code VARCHAR, comment VARCHAR, amount DECIMAL(18, 4), target VARCHAR,
            state_before JSON, state_after JSON, prev_hash VARCHAR, entry_hash VARCHAR,
            effective_at TIMESTAMP, amount_text VARCHAR, copy_problem VARCHAR
        )
        """
    )
    # effective_at: the business time (RECON_AS_OF in a replay) beside the real acted_at;
    # amount_text and copy_problem: an entry whose amount cannot be held as DECIMAL(18, 4) is
    # copied with amount null, its text kept, and flagged (actions.warehouse_row).
    # login: the authenticated OS login that wrote the entry (actor is the operator it acted as).
    for column, sql_type in (
        ("effective_at", "TIMESTAMP"),
        ("amount_text", "VARCHAR"),
        ("copy_problem", "VARCHAR"),
        ("login", "VARCHAR"),
    ):
        con.execute(f"alter table {RAW_SCHEMA}.operator_actions add column if not exists {column} {sql_type}")
    # Entries set aside by `recon audit accept-fork`, with who accepted the fork, when and why.
    con.execute(
        f"""
        create table if not exists {RAW_SCHEMA}.operator_actions_forked (
            seq BIGINT, action_id VARCHAR, exception_id VARCHAR, action VARCHAR, actor VARCHAR,
            acted_at TIMESTAMP, reason_code VARCHAR, comment VARCHAR, amount DECIMAL(18, 4), target VARCHAR,
            state_before JSON, state_after JSON, prev_hash VARCHAR, entry_hash VARCHAR,
            effective_at TIMESTAMP, amount_text VARCHAR, copy_problem VARCHAR,
            accepted_at TIMESTAMP, accepted_by VARCHAR, accept_reason VARCHAR
        )
        """
    )
    con.execute(f"alter table {RAW_SCHEMA}.operator_actions_forked add column if not exists login VARCHAR")
    # One row per run's dbt step: the inputs it started from (orchestration.build_inputs),
    # and whether it built or found nothing new since the publication and skipped.
    con.execute(
        f"""
        create table if not exists {RAW_SCHEMA}.build_log (
            run_id VARCHAR, logged_at TIMESTAMP, status VARCHAR, inputs JSON, reason VARCHAR,
            landing_sha256 VARCHAR
        )
        """
    )
    # The last batch each incremental staging model staged, per build, with the digest of
    # what staging it depends on and the project digest of the run that built it (empty for
    # a dbt build by hand): macros/staging_incremental.sql.
    con.execute(
        f"""
        create table if not exists {RAW_SCHEMA}.staged_batches (
            model VARCHAR, batch_id BIGINT, project_sha256 VARCHAR, staged_at TIMESTAMP
        )
        """
    )
    con.execute(f"alter table {RAW_SCHEMA}.staged_batches add column if not exists staging_digest VARCHAR")
    # The head of the action log (seq, entry_hash) at each run: the store must keep it.
    con.execute(
        f"""
        create table if not exists {RAW_SCHEMA}.audit_anchors (
            anchor_id BIGINT, anchored_at TIMESTAMP, run_id VARCHAR, step VARCHAR,
            seq BIGINT, entry_hash VARCHAR, store_path VARCHAR
        )
        """
    )
    # The action store's exception catalog digest at that moment (check_catalog).
    con.execute(f"alter table {RAW_SCHEMA}.audit_anchors add column if not exists catalog_digest VARCHAR")
    con.execute(
        f"""
        create table if not exists {RAW_SCHEMA}.quarantine (
            batch_id BIGINT,
            source VARCHAR,
            entity VARCHAR,
            source_file VARCHAR,
            row_number BIGINT,
            column_name VARCHAR,
            reason VARCHAR,
            original_value VARCHAR,
            problems JSON,
            record JSON,
            quarantined_at TIMESTAMP
        )
        """
    )


# --------------------------------------------------------------- row validation


# Entities whose rows are credits: each gives the amount credited as a positive number, so a
# negative one is told to drop its sign, not to move to a credits file it is already in.
CREDIT_ENTITIES = frozenset({("billing", "credit_notes"), ("ads", "credits")})


def _negative_reason(col: Column, ent: Entity | None) -> str:
    """Why a negative value of a column that gives negatives no meaning is quarantined."""
    if ent is not None and (ent.source, ent.name) in CREDIT_ENTITIES:
        return (
            f"negative value not expected: {ent.source}/{ent.name} gives each credit as a positive {col.name} "
            "(the amount credited), as the contract says; write it without the minus sign and re-drop the file"
        )
    return (
        f"negative value not expected: the contract gives a negative {col.name} no meaning "
        "(a credit or refund belongs in its own file, e.g. billing/credit_notes); "
        "correct the value and re-drop the file"
    )


# A number column's text as its checks read it (_number_text), and whether that is a plain
# number of its kind: worked out once per row beside the original text (_entity_sql), not
# in each of the column's dozen checks.
NUMBER_TEXT, NUMBER_IS_PLAIN = "_number_", "_plain_"  # + column name


def _number_column(col: Column, prefix: str = NUMBER_TEXT) -> str:
    return _ident(f"{prefix}{col.name}")


def _plain_pattern(col: Column) -> str:
    return DECIMAL_PATTERN if col.kind == "decimal" else INTEGER_PATTERN


def _problem_checks(col: Column, ent: Entity | None = None) -> list[tuple[str, list]]:
    """SQL conditions (with their parameters) that make a value of ``col`` (of ``ent``) unusable.

    Each entry is ``(condition_sql, params)``; ``params`` are bound in order, the last
    two being the column name and the reason an operator reads. A number column's checks
    read the NUMBER_TEXT and NUMBER_IS_PLAIN columns that _entity_sql adds to the batch.
    """
    q = _ident(col.name)
    text = f"trim({q})"
    if col.kind == "timestamp":
        text = _timestamp_text(text)
    elif col.kind in ("decimal", "integer"):
        text, plain = _number_column(col), _number_column(col, NUMBER_IS_PLAIN)
    present = f"nullif({text}, '') is not null"
    checks: list[tuple[str, list]] = []
    if col.required:
        checks.append(
            (
                f"nullif({text}, '') is null",
                [f"required value is empty: fill in {col.name} for this row and re-drop the file"],
            )
        )
        if col.kind in ("decimal", "integer"):
            checks.append((f"{text} = ?", [NOT_APPLICABLE, NOT_APPLICABLE_REQUIRED.format(column=col.name)]))
    fmt = contract.KIND_FORMAT[col.kind]
    out_of_range = (
        f"out of range: {col.name} must be {contract.column_range(col)}; correct the value and re-drop the file"
    )
    if col.kind in ("decimal", "integer"):
        # What the value looks like when it is a number written for people: named instead of
        # the generic reason, whose words give no fix for it. A value names one problem of its
        # shape: the first that fits (1.234 in a whole-number column is dots between groups of
        # three, not also a decimal comma), and one of these, a dash alone, or '--' in a
        # required column (checked above), is not also "not a decimal number" (a row's problems
        # listed both, the generic reason with no fix besides the specific).
        shapes = (INTEGER_SHAPES if col.kind == "integer" else DECIMAL_SHAPES) + NUMBER_SHAPES
        dash = (LONE_DASH_REQUIRED if col.required else LONE_DASH_OPTIONAL).format(column=col.name)
        checks.append((f"{text} = ?", [LONE_DASH, dash]))
        for at, (pattern, looks_like) in enumerate(shapes):
            earlier = "|".join(f"({p})" for p, _ in shapes[:at])
            checks.append(
                (
                    f"{present} and not {plain} and regexp_full_match({text}, ?)"
                    + (f" and not regexp_full_match({text}, ?)" if earlier else ""),
                    [pattern, *([earlier] if earlier else []), f"not a plain number: it has {looks_like}"],
                )
            )
        named = "|".join(f"({pattern})" for pattern, _ in shapes) + f"|{LONE_DASH}"
        named += f"|{NOT_APPLICABLE}" if col.required else ""
        if col.kind == "decimal":
            checks.append(
                (
                    f"{present} and not {plain} and not regexp_full_match({text}, ?)",
                    [named, f"not a decimal number; expected {fmt}{FIX}"],
                )
            )
            number = f"try_cast({text} as DECIMAL(38, 4))"
        else:
            checks.append(
                (
                    # The pattern first: DuckDB's cast rounds 1.5 to 2 and reads 0x10 as 16.
                    f"{present} and (not {plain} or try_cast({text} as HUGEINT) is null) "
                    f"and not (not {plain} and regexp_full_match({text}, ?))",
                    [named, f"not a whole number; expected {fmt}{FIX}"],
                )
            )
            number = f"try_cast({text} as HUGEINT)"
        bound = col.max_abs or (contract.MAX_ABS_DECIMAL if col.kind == "decimal" else contract.MAX_ABS_INTEGER)
        checks.append((f"abs({number}) >= cast(? as HUGEINT)", [str(bound), out_of_range]))
        limits = contract.currency_limits(col, ent) if ent is not None else {}
        for limit, currencies in limits.items():
            if limit >= bound:
                continue
            # An amount worth more than a yen has a tighter range: converted into another
            # currency it must still be one the models compute with (contract.AMOUNT_LIMITS).
            checks.append(
                (
                    f"abs({number}) >= cast(? as HUGEINT) and list_contains(?, upper(trim({_ident('currency')})))",
                    [
                        str(limit),
                        list(currencies),
                        f"out of range: {col.name} in {', '.join(currencies)} must be below {limit:,} in absolute "
                        f"value ({contract.currency_range(limits)}), so that converted into any other currency it "
                        "stays within what the models compute with; correct the value and re-drop the file",
                    ],
                )
            )
        if not col.negative:
            checks.append(
                (
                    f"{number} < 0 and abs({number}) < cast(? as HUGEINT)",
                    [str(bound), _negative_reason(col, ent)],
                )
            )
    elif col.kind == "date":
        checks.append(
            (
                f"{present} and regexp_full_match({text}, ?) and try_cast({text} as DATE) is null",
                [DATE_PATTERN, NO_SUCH_DAY_REASON.format(value="the date")],
            )
        )
        checks.append((f"{present} and regexp_full_match({text}, ?)", [DAY_MONTH_DATE, DAY_MONTH_DATE_REASON]))
        checks.append((f"{present} and regexp_full_match({text}, ?)", [DATE_WITH_TIME, DATE_WITH_TIME_REASON]))
        checks.append(
            (
                f"{present} and not regexp_full_match({text}, ?) and not regexp_full_match({text}, ?) "
                f"and not regexp_full_match({text}, ?)",
                [DATE_PATTERN, DAY_MONTH_DATE, DATE_WITH_TIME, f"not a date; expected {fmt}{FIX}"],
            )
        )
        checks.append(
            (
                f"not (try_cast({text} as DATE) between cast(? as DATE) and cast(? as DATE))",
                [contract.MIN_DATE, contract.MAX_DATE, out_of_range],
            )
        )
    elif col.kind == "timestamp":
        checks.append(
            (
                f"{present} and regexp_full_match({text}, ?) and not regexp_full_match({text}, ?)",
                [
                    ZONE_ABBREVIATION,
                    ZONE_UTC_ITSELF,
                    "time zone abbreviation instead of an offset: abbreviations are ambiguous (BST is British "
                    "Summer Time or Bangladesh, IST India, Ireland or Israel) and would be read as the wrong zone; "
                    "write the UTC offset (2026-07-02T10:00:00+01:00) or an IANA zone name "
                    "(2026-07-02 10:00:00 Europe/London) and re-drop the file",
                ],
            )
        )
        checks.append(
            (
                f"{present} and regexp_matches({text}, ?) and try_cast(left({text}, 10) as DATE) is null",
                [TIMESTAMP_PREFIX, NO_SUCH_DAY_REASON.format(value="its date")],
            )
        )
        checks.append((f"{present} and regexp_full_match({text}, ?)", [DAY_MONTH_DATE, DAY_MONTH_DATE_REASON]))
        checks.append(
            (
                # A zone abbreviation (said above) is not also "not a timestamp".
                f"{present} and not regexp_full_match({text}, ?) and (not regexp_matches({text}, ?) "
                f"or (try_cast(left({text}, 10) as DATE) is not null and try_cast({text} as TIMESTAMPTZ) is null)) "
                f"and not (regexp_full_match({text}, ?) and not regexp_full_match({text}, ?))",
                [
                    DAY_MONTH_DATE,
                    TIMESTAMP_PREFIX,
                    ZONE_ABBREVIATION,
                    ZONE_UTC_ITSELF,
                    f"not a timestamp; expected {fmt}{FIX}",
                ],
            )
        )
        checks.append(
            (
                # DuckDB reads a time of day cut off after its hour or minutes (2026-01-08T04:,
                # 2026-01-08T04:45:) as 04:00:00 and 04:45:00; it is no ISO 8601 time, and the
                # version it makes may win over the right one. (A cast that fails is said above.)
                f"{present} and regexp_matches({text}, ?) and not regexp_matches({text}, ?) "
                f"and try_cast({text} as TIMESTAMPTZ) is not null",
                [
                    TIMESTAMP_WITH_TIME,
                    WHOLE_TIME_OF_DAY,
                    "not a timestamp: its time of day is cut off (2026-01-08T04: or 2026-01-08T04:45:); "
                    "expected ISO 8601 with hours and minutes, and seconds if any, of two digits each "
                    "(2026-01-08T04:45:00Z); export the column again in full and re-drop the file",
                ],
            )
        )
        checks.append(
            (
                # DuckDB reads +25:00 as an offset; the earth's run from -12:00 to +14:00.
                f"{present} and regexp_matches({text}, ?)",
                [BAD_UTC_OFFSET, "UTC offset out of range (-12:00 to +14:00); correct the value and re-drop the file"],
            )
        )
        checks.append(
            (
                f"not (cast(try_cast({text} as TIMESTAMPTZ) at time zone 'UTC' as DATE) "
                "between cast(? as DATE) and cast(? as DATE))",
                [contract.MIN_DATE, contract.MAX_DATE, out_of_range],
            )
        )
    elif col.kind == "string" and not col.allowed:
        checks.append(
            (
                f"{present} and regexp_full_match({text}, ?)",
                [
                    EXCEL_SCIENTIFIC,
                    "a long number turned into scientific notation (as Excel shows 1209000000000001 as "
                    "1.209E+15): its digits are lost and it cannot match; export the file again without "
                    "saving it in Excel (or format the column as Text first) and re-drop the file",
                ],
            )
        )
    elif col.kind == "currency":
        checks.append(
            (
                f"{present} and not list_contains(?, upper({text}))",
                [list(contract.CURRENCIES), f"unknown currency code; expected {fmt}{FIX}"],
            )
        )
    if col.kind == "string":
        # A NUL byte is no character of any text a person typed: a binary or damaged export
        # (a tryout's loaded as it was, and every terminal, CSV export and BI tool reading it
        # after cuts the value there).
        checks.append(
            (
                f"contains({q}, chr(0))",
                [
                    "holds a NUL byte (a binary or damaged export, not text): export the file again as "
                    "text (CSV, UTF-8) and re-drop it"
                ],
            )
        )
    if col.allowed:
        checks.append(
            (
                f"{present} and not list_contains(?, lower({text}))",
                [list(col.allowed), "unknown value; expected one of " + ", ".join(col.allowed) + FIX],
            )
        )
    # Every check ends with the column name and reason, bound as parameters.
    return [(cond, params[:-1] + [col.name, params[-1]]) for cond, params in checks]


def _parsed(col: Column) -> str:
    """The value of ``col`` as the type a row rule computes with (null when it does not parse)."""
    text = f"nullif(trim({_ident(col.name)}), '')"
    if col.kind == "timestamp":
        text = _timestamp_text(text)
    elif col.kind in ("decimal", "integer"):
        text = _number_text(text, col)
    cast_type = {"decimal": "DECIMAL(38, 4)", "integer": "HUGEINT", "date": "DATE", "timestamp": "TIMESTAMPTZ"}
    return f"try_cast({text} as {cast_type[col.kind]})" if col.kind in cast_type else text


def _rule_checks(ent: Entity) -> list[tuple[str, list]]:
    """Row rules across columns: the row is quarantined when a rule's condition is false.
    The reason is the rule's as written (its ``{name}`` not yet the row's text: _rule_problems)."""
    values = {c.name: _parsed(c) for c in ent.columns}
    return [
        (f"not coalesce({rule.condition.format(**values)}, true)", [rule.column, rule.reason])
        for rule in ent.rules
        if not rule.flag_only
    ]


_REASON_VALUE = re.compile(r"\{([a-z_]+)\}")


def _reason_sql(reason: str, value: Callable[[str], str]) -> tuple[str, list]:
    """A rule's reason as SQL (with its parameters): each ``{name}`` is the row's value of that
    column (``value(name)``, SQL text), '(empty)' when it has none; the words are parameters."""
    parts = _REASON_VALUE.split(reason)
    sql: list[str] = []
    params: list = []
    for at, part in enumerate(parts):
        if at % 2:
            sql.append(f"coalesce(nullif({value(part)}, ''), '(empty)')")
        elif part:
            sql.append("cast(? as VARCHAR)")
            params.append(part)
    return " || ".join(sql), params


def _rule_problems(ent: Entity) -> list[tuple[str, list]]:
    """The problem entries (SQL, parameters) of the row rules that quarantine: the reason names
    the row's values as the file writes them (net_amount 100.00 + tax_amount 20.00 against
    total_amount 999.00), so a person sees which disagree without opening the file."""
    out = []
    for cond, (column, reason) in _rule_checks(ent):
        reason_sql, reason_params = _reason_sql(reason, lambda name: f"trim({_ident(name)})")
        out.append((f"case when {cond} then {{'column': ?, 'reason': {reason_sql}}} end", [column, *reason_params]))
    return out


def _cast_expr(col: Column) -> str:
    q = _ident(col.name)
    text = f"nullif(trim({q}), '')"
    if col.kind == "string":
        # Spaces around a value are no part of it (a required value of spaces only is empty):
        # "SO-1 " from a re-saved spreadsheet is the order SO-1, not a second one.
        expr = f"lower({text})" if col.allowed else text
    elif col.kind == "decimal":
        expr = f"cast({_number_text(text, col)} as DECIMAL(18, 4))"
    elif col.kind == "integer":
        expr = f"cast({_number_text(text, col)} as BIGINT)"
    elif col.kind == "date":
        expr = f"cast({text} as DATE)"
    elif col.kind == "timestamp":
        # Session time zone is UTC: a value without offset is read as UTC, one with an
        # offset is converted; the stored TIMESTAMP is UTC wall time.
        expr = f"timezone('UTC', cast({_timestamp_text(text)} as TIMESTAMPTZ))"
    elif col.kind == "currency":
        expr = f"upper({text})"
    else:  # pragma: no cover - the contract only uses the kinds above
        raise ValueError(col.kind)
    return f"{expr} as {q}"


def _totals_problem(ent: Entity) -> tuple[str, list]:
    """The problem entry (SQL, parameters) of a totals or summary row: said first, as the
    reason a person reads, since its empty columns are not values to fill in. It names the
    key column when that holds the totals word, else the row's first non-empty column."""
    values = [f"nullif(trim({_ident(c.name)}), '')" for c in ent.columns]
    keys = [_ident(k) for k in ent.key]
    condition = " or ".join(
        [f"regexp_full_match(coalesce({', '.join(values)}), ?)"] + [f"regexp_full_match(trim({k}), ?)" for k in keys]
    )
    column = (
        "case "
        + " ".join(f"when regexp_full_match(trim({k}), ?) then cast(? as VARCHAR)" for k in keys)
        + " "
        + " ".join(f"when {v} is not null then cast(? as VARCHAR)" for v in values)
        + " end"
    )
    params = [TOTALS_WORD] * (1 + len(keys))
    params += [p for k in ent.key for p in (TOTALS_WORD, k)] + list(ent.column_names) + [TOTALS_ROW_REASON]
    return f"case when {condition} then {{'column': {column}, 'reason': ?}} end", params


SUMMARY_ROW_REASON = (
    "a summary row, not a record: it has numbers but no key and no name (an export's totals line, as Meta "
    "Ads Manager writes the account's totals first with its name columns empty): nothing to fix; remove it "
    "from the export if you want it gone. If it is a record, fill in {key} and re-drop the file"
)


def _summary_problem(ent: Entity) -> tuple[str, list]:
    """The problem entry (SQL, parameters) of a summary row without a totals word: every key
    and text column empty, some number present. Said before the empty required values, which
    would ask a person to fill in a record that is none (named on the first key column)."""
    names = [c for c in ent.columns if c.kind == "string" and not c.allowed]  # ids and names, not dates
    numbers = [c for c in ent.columns if c.kind in ("decimal", "integer")]
    keys = [c.name for c in names if c.name in ent.key]
    if not keys or not numbers:
        return "null", []
    empty = " and ".join(f"nullif(trim({_ident(c.name)}), '') is null" for c in names)
    some_number = " or ".join(f"nullif(trim({_ident(c.name)}), '') is not null" for c in numbers)
    reason = SUMMARY_ROW_REASON.format(key=", ".join(c.name for c in names if c.required))
    return f"case when {empty} and ({some_number}) then {{'column': ?, 'reason': ?}} end", [keys[0], reason]


def _footer_problem(ent: Entity) -> tuple[str, list]:
    """The problem entry (SQL, parameters) of a report's footer line (_is_footer_line): one
    value, a date/time stamp or a note, every other column empty. Said first, like a totals
    row: "fill in client_name" is advice for a record, and this line is none."""
    values = [f"nullif(trim({_ident(c.name)}), '')" for c in ent.columns]
    filled = " + ".join(f"({v} is not null)::INTEGER" for v in values)
    only = f"coalesce({', '.join(values)})"
    column = "case " + " ".join(f"when {v} is not null then cast(? as VARCHAR)" for v in values) + " end"
    # The patterns only for a row with one value (a case, so that other rows skip them).
    condition = f"case when {filled} = 1 then regexp_full_match({only}, ?) or regexp_full_match({only}, ?) end"
    params = [FOOTER_STAMP, FOOTER_NOTE, *ent.column_names, FOOTER_LINE_REASON]
    return f"case when {condition} then {{'column': {column}, 'reason': ?}} end", params


# A row's other faulty columns named after its first reason (each column once, by its first
# problem): at most this many, each reason cut to its first clause and this length.
OTHER_FAULTS_NAMED = 5
OTHER_FAULT_CHARS = 120
VALUE_CHARS = 40


def _row_reason_sql() -> str:
    """The reason of a quarantined row as a person reads it: its first problem, then every other
    column of the row that is wrong (bounded), so one correction fixes the row. A totals,
    summary or footer row (the reasons bound first) keeps its one reason: its empty columns are
    not values to fill in. Reads _problems and _record; binds the whole-row reasons."""
    others = (
        "list_filter(_problems, lambda p, i: i > 1 and not list_contains("
        "list_transform(_problems[1:i - 1], lambda q: q['column']), p['column']))"
    )
    named = (
        f"list_transform({others}[1:{OTHER_FAULTS_NAMED}], lambda p: p['column'] || "
        "coalesce(' (' || to_json(left(json_extract_string(_record, '$.' || p['column']), "
        f"{VALUE_CHARS})) || ')', ' (empty)') || ': ' || "
        "case when p['reason'] = _problems[1]['reason'] then 'the same' "
        f"else left(split_part(p['reason'], ';', 1), {OTHER_FAULT_CHARS}) end)"
    )
    more = f"len({others}) - {OTHER_FAULTS_NAMED}"
    return (
        "case when list_contains(?, _problems[1]['reason']) or len(_problems) = 1 then _problems[1]['reason'] "
        f"else _problems[1]['reason'] || coalesce('; also wrong in this row: ' || nullif(array_to_string({named}, "
        f"' | '), '') || case when {more} > 0 then ' | and ' || ({more}) || ' more column(s) (see problems)' "
        "else '' end, '') end"
    )


@dataclass(frozen=True)
class _EntitySql:
    check_sql: str
    check_params: list
    insert_sql: str
    quarantine_sql: str
    # The reasons that stand alone (a totals, summary or footer row): one parameter of the
    # quarantine insert, between the file and the time.
    whole_row_reasons: list = field(default_factory=list)


def _entity_sql(ent: Entity) -> _EntitySql:
    totals_sql, totals_params = _totals_problem(ent)
    summary_sql, summary_params = _summary_problem(ent)
    footer_sql, footer_params = _footer_problem(ent)
    problems: list[str] = [totals_sql, summary_sql, footer_sql]
    params: list = list(totals_params) + summary_params + footer_params
    checks = [check for col in ent.columns for check in _problem_checks(col, ent)]
    for cond, p in checks:
        problems.append(f"case when {cond} then {{'column': ?, 'reason': ?}} end")
        params.extend(p)
    for problem, p in _rule_problems(ent):
        problems.append(problem)
        params.extend(p)
    cols = ", ".join(_ident(c.name) for c in ent.columns)
    originals = ", ".join(f"{_ident(c.name)} := {_ident(c.name)}" for c in ent.columns)
    # Each number column's text as its checks read it and whether it is plain (NUMBER_TEXT,
    # NUMBER_IS_PLAIN), once per row; _checked keeps the original text.
    numeric = [c for c in ent.columns if c.kind in ("decimal", "integer")]
    number_text = "".join(f", {_number_text(f'trim({_ident(c.name)})', c)} as {_number_column(c)}" for c in numeric)
    is_plain = "".join(
        f", regexp_full_match({_number_column(c)}, ?) as {_number_column(c, NUMBER_IS_PLAIN)}" for c in numeric
    )
    params.extend(_plain_pattern(c) for c in numeric)  # bound after the problems' parameters
    # The original values as JSON (_record) are written for quarantined rows only: built for
    # every row here, they cost as much as the checks themselves.
    check_sql = (
        "create or replace temp table _checked as "
        f"select {cols}, _row_number, "
        f"list_filter([{', '.join(problems)}], lambda x: x is not null) as _problems "
        f"from (select *{is_plain} from (select *{number_text} from _landing_batch))"
    )
    target = f"{RAW_SCHEMA}.{_ident(ent.table)}"
    meta = ", ".join(_ident(n) for n, _ in META_COLUMNS)
    insert_sql = (
        f"insert into {target} ({cols}, {meta}) "
        f"select {', '.join(_cast_expr(c) for c in ent.columns)}, ?, ?, ?, _row_number, ? "
        "from _checked where len(_problems) = 0"
    )
    quarantine_sql = (
        f"insert into {RAW_SCHEMA}.quarantine "
        f"select ?, ?, ?, ?, _row_number, _problems[1]['column'], {_row_reason_sql()}, "
        "json_extract_string(_record, '$.' || _problems[1]['column']), to_json(_problems), _record, ? "
        f"from (select _row_number, _problems, to_json(struct_pack({originals})) as _record "
        "from _checked where len(_problems) > 0)"
    )
    whole_row = [TOTALS_ROW_REASON, FOOTER_LINE_REASON, *summary_params[1:]]
    return _EntitySql(check_sql, params, insert_sql, quarantine_sql, whole_row)


# ------------------------------------------------------------------ file readers


IGNORED_COLUMN = "__ignored_column_"  # + position: an empty or repeated name outside the contract


def _normalise_header(names: list[str], path: Path, ent: Entity | None = None) -> list[str]:
    """Header names trimmed and lower-cased. A contract column named twice is ambiguous: the
    file is rejected. An empty name, or a repeated name the contract does not use (trailing
    empty columns of a spreadsheet, Jira's repeated Labels), is renamed by position and
    ignored, as any column outside the contract is."""
    normalised = [n.strip().lower() for n in names]
    contract_names = set(ent.column_names) if ent is not None else None
    seen: set[str] = set()
    out = []
    for position, n in enumerate(normalised, 1):
        if n in seen or not n:
            if contract_names is not None and n not in contract_names:
                out.append(f"{IGNORED_COLUMN}{position}")
                continue
            raise FileRejected(f"column {n!r} appears twice in the header; keep one and re-drop the file")
        seen.add(n)
        out.append(n)
    return out


def _check_columns(ent: Entity, present: list[str]) -> list[str]:
    """Reject a file that lacks required columns; return a note on ignored extras."""
    missing = [c for c in ent.required_columns if c not in present]
    if missing:
        raise FileRejected(
            f"missing required column(s) {', '.join(missing)} for {ent.source}/{ent.name}; "
            f"the contract (docs/landing_contract.md) requires {', '.join(ent.required_columns)}. "
            "Add the column(s) and re-drop the file."
        )
    extras = [
        f"(unnamed or repeated, column {c.removeprefix(IGNORED_COLUMN)})" if c.startswith(IGNORED_COLUMN) else c
        for c in present
        if c not in ent.column_names
    ]
    return [f"ignored column(s) not in the contract: {', '.join(extras)}"] if extras else []


def _midnights_as_dates(arr):
    """A typed timestamp column where the contract wants a date: pandas writes a date column
    (``pd.to_datetime``) to Parquet as timestamps at midnight. Each midnight, in the column's
    own time zone, is that date; any other instant keeps its text and is quarantined as no date."""
    wall = pc.local_timestamp(arr) if arr.type.tz else arr
    is_midnight = pc.equal(pc.floor_temporal(wall, unit="day"), wall)
    return pc.if_else(is_midnight, pc.cast(pc.cast(wall, pa.date32()), pa.string()), pc.cast(arr, pa.string()))


def _as_string_table(table: pa.Table, ent: Entity, first_row: int) -> pa.Table:
    """Contract columns as strings (missing optional ones as nulls) plus ``_row_number``."""
    arrays = []
    for col in ent.columns:
        if col.name in table.column_names:
            arr = table.column(col.name)
            if col.kind == "date" and pa.types.is_timestamp(arr.type):
                arr = _midnights_as_dates(arr)
            if not pa.types.is_string(arr.type) and not pa.types.is_large_string(arr.type):
                arr = arr.cast(pa.string())
        else:
            arr = pa.nulls(table.num_rows, pa.string())
        arrays.append(arr)
    arrays.append(pa.array(range(first_row, first_row + table.num_rows), pa.int64()))
    return pa.table(arrays, names=[*ent.column_names, "_row_number"])


SEPARATOR_HINTS = {";": "semicolon", "\t": "tab", "|": "pipe"}


def _read_header(path: Path) -> list[str]:
    """The header row, with a reason a person can act on when it cannot be read."""
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise FileRejected("file is UTF-16 encoded; save it as UTF-8 CSV (in Excel: CSV UTF-8) and re-drop it")
    with open(path, "rb") as fh:
        first = fh.readline()
    # Lines ended by a bare carriage return (old Mac CSV): the header ends at the first one
    # (the reader of the rows takes \r, \n and \r\n alike).
    bare_cr = first.find(b"\r")
    if 0 <= bare_cr < len(first.rstrip(b"\r\n")):
        first = first[:bare_cr]
    if not first.strip():
        raise FileRejected("file is empty: expected a header row naming the columns")
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileRejected(
            f"header row: byte 0x{first[exc.start]:02x} at position {exc.start + 1} is not UTF-8 (the file "
            "looks Latin-1 or Windows-1252 encoded); save it as UTF-8 CSV and re-drop it"
        ) from exc
    try:
        header = next(csv.reader([text]))
    except csv.Error as exc:
        raise FileRejected(f"header row is unreadable ({exc}); save the file as UTF-8 CSV") from exc
    if len(header) == 1:
        for sep, name in SEPARATOR_HINTS.items():
            if sep in header[0]:
                raise FileRejected(
                    f"the header is one column holding {name}s ({header[0][:60]!r}): the file looks "
                    f"{name}-separated; export it comma-separated and re-drop it"
                )
    return header


class _RaggedRows(Exception):
    """A CSV record whose field count differs from the header's: the file is read again
    record by record, and such records are quarantined on their own."""


def _locate_csv_problem(path: Path, names: list[str], count_fields: bool = True) -> str:
    """Find the first record the fast reader choked on: its row number, column and fault.

    Decoded as Latin-1 (which never fails) and parsed with the csv module, so a bad byte
    or a short row can be named even when the whole file cannot be read as UTF-8.
    """
    with open(path, newline="", encoding="latin-1") as fh:
        reader = csv.reader(fh)
        try:
            next(reader)
            for row_number, record in enumerate(reader, start=1):
                if len(record) != len(names):
                    if not record or not count_fields:
                        continue
                    return (
                        f"row {row_number} (line {reader.line_num}) has {len(record)} field(s), the header "
                        f"{len(names)}; check the separators and quoting on that line"
                    )
                for name, value in zip(names, record, strict=False):
                    raw = value.encode("latin-1")
                    try:
                        raw.decode("utf-8")
                    except UnicodeDecodeError as exc:
                        return (
                            f"row {row_number}, column {name}: byte 0x{raw[exc.start]:02x} is not UTF-8 (the file "
                            "looks Latin-1 or Windows-1252 encoded); save it as UTF-8 CSV and re-drop it"
                        )
        except csv.Error as exc:
            return f"line {reader.line_num}: {exc}; check for an unterminated quote"
    return ""


# How far down a report's preamble may push the header: a title and date range (Google Ads,
# line 3), QuickBooks' four lines, Microsoft Advertising's nine report lines and a blank one
# (line 11). Read only for a file already rejected.
HEADER_SEARCH_LINES = 30


def _header_below(path: Path, ent: Entity) -> int | None:
    """The line (2 to HEADER_SEARCH_LINES) holding every required column, when line 1 does
    not: an ads platform's report opens with its title and date range above the header."""
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as fh:
        reader = csv.reader(fh)
        try:
            for record in reader:
                if reader.line_num > HEADER_SEARCH_LINES:
                    break
                names = {n.strip().lower() for n in record}
                if reader.line_num > 1 and all(c in names for c in ent.required_columns):
                    return reader.line_num
        except csv.Error:
            return None
    return None


def _unreadable_csv(where: str, exc: Exception, fields: int) -> str:
    """Why a CSV cannot be read. The field count is named only for a fault of fields or
    quoting: a Windows-1252 byte is no reason to count fields."""
    fault = where or str(exc)
    if " is not UTF-8 " in fault or "invalid utf8" in fault.lower():
        if where:
            return where
        return f"file is not UTF-8 text ({exc}); save it as UTF-8 CSV and re-drop it"
    message = f"CSV structure is unreadable: {fault}"
    if where.startswith("line ") or " field(s), the header " in where or "parse error" in fault.lower():
        message += f". Every row needs {fields} fields like the header"
    return message


def _read_csv(path: Path, ent: Entity, notes: list[str]) -> Iterator[tuple[pa.Table, list]]:
    try:
        names = _normalise_header(_read_header(path), path, ent)
        notes.extend(_check_columns(ent, names))
    except FileRejected as exc:
        line = _header_below(path, ent)
        if line is None:
            raise
        raise FileRejected(
            f"the header is on line {line}: delete the {line - 1} line(s) above it (a report title / date "
            "range) and re-drop the file"
        ) from exc
    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=8 << 20),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                # Only an empty field is missing: "NA", "null", "N/A" are values (a client
                # may be called NA), not the reader's default list of null spellings.
                null_values=[""],
                strings_can_be_null=True,
            ),
        )
        numbers = _row_numbers_past_blank_lines(path)
        row = 1
        for batch in reader:
            table = _as_string_table(pa.Table.from_batches([batch]), ent, row)
            at = numbers[row - 1 : row - 1 + table.num_rows] if numbers is not None else []
            if len(at) == table.num_rows:  # the two readers agree on the records (else count them)
                table = table.set_column(table.num_columns - 1, "_row_number", pa.array(at, pa.int64()))
            yield table, []
            row += table.num_rows
    except pa.ArrowInvalid as exc:
        where = _locate_csv_problem(path, names)
        if " field(s), the header " in where:
            raise _RaggedRows(where) from exc
        raise FileRejected(_unreadable_csv(where, exc, len(names))) from exc


def _ragged_reason(fields: int, expected: int) -> str:
    return (
        f"row has {fields} field(s), the header {expected}: a footer or totals line, a note, or a value "
        "holding an unquoted comma; if it is a record, quote the value that holds the comma (or fill in "
        "the missing fields) and re-drop the file, otherwise leave it here"
    )


def _read_csv_by_record(path: Path, ent: Entity, notes: list[str]) -> Iterator[tuple[pa.Table, list]]:
    """The slow reader, for a file with a record of the wrong field count (found by the fast
    one): each such record is quarantined on its own (column ``_record``), the rest load.

    Row numbers count from the first row after the header, empty lines included, as in
    the fast reader. A bad byte or an unterminated quote still rejects the file.
    """
    names = _normalise_header(_read_header(path), path, ent)
    notes.extend(_check_columns(ent, names))
    columns: list[list[str | None]] = [[] for _ in names]
    numbers: list[int] = []
    bad: list[tuple[int, str, str, str]] = []
    last: tuple[int, int, list[str]] | None = None  # the last record: row, line, fields

    def flush() -> pa.Table:
        table = pa.table({f"c{i}": pa.array(v, pa.string()) for i, v in enumerate(columns)}).rename_columns(names)
        out = _as_string_table(table, ent, 1)
        return out.set_column(out.num_columns - 1, "_row_number", pa.array(numbers, pa.int64()))

    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            next(reader, None)
            for row_number, record in enumerate(reader, start=1):
                if not record:
                    continue
                if len(record) != len(names) and any("\n" in v or "\r" in v for v in record):
                    # A quote that never closes takes the lines after it into one field: not
                    # a row of its own but records hidden in one, so the file is refused.
                    raise FileRejected(
                        f"CSV structure is unreadable: row {row_number} opens a quoted value that does not "
                        "close before the line ends (an unterminated quote), so the rows after it cannot be "
                        "told apart; close or remove the quote and re-drop the file"
                    )
                last = (row_number, reader.line_num, record)
                if len(record) != len(names):
                    text = io.StringIO()
                    csv.writer(text, lineterminator="").writerow(record)
                    reason = FOOTER_LINE_REASON if _is_footer_line(record) else _ragged_reason(len(record), len(names))
                    bad.append((row_number, text.getvalue(), reason, RECORD_COLUMN))
                else:
                    for values, value in zip(columns, record, strict=True):
                        values.append(value if value != "" else None)  # only an empty field is missing
                    numbers.append(row_number)
                if len(numbers) >= BATCH_ROWS or len(bad) >= BATCH_ROWS:
                    yield flush(), bad
                    columns, numbers, bad = [[] for _ in names], [], []
    except (UnicodeDecodeError, csv.Error) as exc:
        where = _locate_csv_problem(path, names, count_fields=False)
        raise FileRejected(_unreadable_csv(where, exc, len(names))) from exc
    if last is not None and len(last[2]) < len(names) and _ends_without_line_break(path):
        row_number, line, record = last
        # A totals line (Total,,,) or a footer's date stamp is short by nature, not cut.
        filled = [v for v in record if v.strip()]
        if not (re.fullmatch(TOTALS_WORD, record[0]) or (len(filled) == 1 and _is_footer_stamp(filled[0]))):
            raise FileRejected(
                TRUNCATED_REASON.format(
                    where=f"row {row_number} (line {line})",
                    fault=f"has {len(record)} field(s) where the header has {len(names)}",
                )
            )
    if numbers or bad:
        yield flush(), bad


BLANK_LINE_MARKS = (b"\n\n", b"\n\r\n", b"\r\r")


def _row_numbers_past_blank_lines(path: Path) -> list[int] | None:
    """The row number of each record when the file has empty lines, else None.

    The reader skips an empty line; a spreadsheet shows it as an empty row and the
    contract numbers rows as it does (1 = first row after the header), so every record
    below one is numbered by the csv module, which yields an empty list for it. Files
    without an empty line (nearly all) are not read twice.
    """
    tail = b""
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            window = tail + block
            if any(mark in window for mark in BLANK_LINE_MARKS):
                break
            tail = block[-2:]
        else:
            return None
    numbers: list[int] = []
    # latin-1 never fails to decode; the reader proper checks UTF-8 and reports bad bytes.
    with open(path, newline="", encoding="latin-1") as fh:
        reader = csv.reader(fh)
        try:
            next(reader, None)
            for row_number, record in enumerate(reader, start=1):
                if record:
                    numbers.append(row_number)
        except csv.Error:
            return None  # the reader proper names the fault, or counts records as before
    return numbers


PARQUET_MAGIC = b"PAR1"  # the first four bytes of a Parquet file and its last four, after the footer
PARQUET_CUT = (
    "the file looks truncated (an interrupted download or upload): it starts as Parquet but its end, the "
    "footer that says where its rows are (written last), is missing, so none of its rows can be read and "
    "nothing is loaded; export the file again and re-drop it whole"
)


def _parquet_cut(path: Path) -> bool:
    """A file that opens as Parquet and does not close as one: its end was cut off."""
    try:
        with open(path, "rb") as fh:
            if fh.read(4) != PARQUET_MAGIC:
                return False
            fh.seek(0, 2)
            if fh.tell() < 12:  # magic, footer length, magic: a shorter file is cut too
                return True
            fh.seek(-4, 2)
            return fh.read(4) != PARQUET_MAGIC
    except OSError:
        return False


def _read_parquet(path: Path, ent: Entity, notes: list[str]) -> Iterator[tuple[pa.Table, list]]:
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        if _parquet_cut(path):
            raise FileRejected(PARQUET_CUT) from exc
        raise FileRejected(f"not a readable Parquet file ({exc})") from exc
    raw_names = pf.schema_arrow.names
    names = _normalise_header(raw_names, path, ent)
    notes.extend(_check_columns(ent, names))
    row = 1
    try:
        for batch in pf.iter_batches(batch_size=BATCH_ROWS):
            table = pa.Table.from_batches([batch]).rename_columns(names)
            yield _as_string_table(table, ent, row), []
            row += table.num_rows
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
        raise FileRejected(f"Parquet data is unreadable ({exc})") from exc


def _json_text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


class _RepeatedKey(ValueError):
    pass


def _pairs_once(pairs: list[tuple[str, object]]) -> dict:
    """A JSON object whose keys are all different: a repeated key (whose first value json
    would drop without a word) quarantines the line."""
    out = dict(pairs)
    if len(out) == len(pairs):
        return out
    out = {}
    for key, value in pairs:
        if key in out:
            raise _RepeatedKey(f"key {key!r} appears twice in the object, so one value would be lost; keep one")
        out[key] = value
    return out


MAX_JSON_SHAPES = 10_000  # key orders remembered per JSON Lines file (a bound on memory only)


def _read_jsonl(path: Path, ent: Entity, notes: list[str]) -> Iterator[tuple[pa.Table, list]]:
    """JSON Lines, parsed with numbers kept as text so decimals stay exact.

    A line that is not a JSON object is quarantined on its own (column ``_record``);
    a required key that no line carries rejects the file, like a missing CSV column.
    """
    keys_seen: set[str] = set()
    names = ent.column_names
    records: list[tuple] = []  # one tuple of values (in contract column order) per line loaded
    numbers: list[int] = []
    bad: list[tuple[int, str, str, str]] = []  # line, text, reason, column
    # json.loads(line, **these) makes a decoder per line; one decoder does the same work.
    decode = json.JSONDecoder(parse_float=str, parse_int=str, object_pairs_hook=_pairs_once).decode
    # Keys as written -> (keys trimmed and lower-cased, or None when two of them then collide;
    # whether they already were): lines of one file nearly all repeat one key order.
    shapes: dict[tuple[str, ...], tuple[tuple[str, ...] | None, bool]] = {}

    def flush():
        columns = list(zip(*records, strict=True)) or [() for _ in names]
        arrays = []
        for values in columns:
            try:  # nearly always text or null already (numbers are parsed as text)
                arrays.append(pa.array(values, pa.string()))
            except pa.ArrowTypeError:  # true, false, NaN: as _json_text spells them
                arrays.append(pa.array([_json_text(v) for v in values], pa.string()))
        out = _as_string_table(pa.table(arrays, names=list(names)), ent, 1)
        out = out.set_column(out.num_columns - 1, "_row_number", pa.array(numbers, pa.int64()))
        return out

    try:
        # utf-8-sig: a byte-order mark before the first object is no part of it (a CSV's is
        # dropped the same way).
        with open(path, encoding="utf-8-sig") as fh:
            for line_no, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    if line.startswith("\ufeff"):  # as json.loads says it
                        raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", line, 0)
                    obj = decode(line)
                except _RepeatedKey as exc:
                    bad.append((line_no, line.rstrip("\n"), str(exc), RECORD_COLUMN))
                    continue
                except json.JSONDecodeError as exc:
                    if not line.endswith("\n") and not line.endswith("\r"):  # the last line, cut
                        raise FileRejected(
                            TRUNCATED_REASON.format(
                                where=f"line {line_no}", fault=f"is not whole JSON ({exc.msg} at column {exc.colno})"
                            )
                        ) from exc
                    bad.append(
                        (line_no, line.rstrip("\n"), f"line is not valid JSON ({exc.msg}); fix the line", RECORD_COLUMN)
                    )
                    continue
                if not isinstance(obj, dict):
                    bad.append(
                        (line_no, line.rstrip("\n"), "line is not a JSON object; one object per line", RECORD_COLUMN)
                    )
                    continue
                problem = None
                written = tuple(obj)
                shape = shapes.get(written)
                if shape is None:  # keys not seen in this order yet: normalise them once
                    normal = tuple(k.strip().lower() for k in written)
                    shape = (normal if len(set(normal)) == len(normal) else None, normal == written)
                    if len(shapes) >= MAX_JSON_SHAPES:
                        shapes.clear()
                    shapes[written] = shape
                if shape[1]:  # already trimmed and lower case (nearly every line)
                    lowered: dict[str, object] = obj
                elif shape[0] is not None:
                    lowered = dict(zip(shape[0], obj.values(), strict=True))
                else:  # two keys differ only by case or spaces: say which
                    lowered = {}
                    spelled: dict[str, str] = {}
                    for k, v in obj.items():
                        key = str(k).strip().lower()
                        if key in spelled and key in names:
                            problem = (
                                f"keys {spelled[key]!r} and {k!r} differ only by case, so one would overwrite the "
                                "other; keep one and re-drop the file",
                                key,
                            )
                        spelled[key], lowered[key] = str(k), v
                keys_seen.update(lowered)
                # A nested object or list needs a second "{" or a "[" somewhere on the line.
                if problem is None and ("[" in line or line.count("{") > 1):
                    nested = [c for c in names if isinstance(lowered.get(c), dict | list)]
                    if nested:
                        problem = (
                            f"{nested[0]} holds a nested JSON {type(lowered[nested[0]]).__name__}; "
                            "expected a plain value (text or number): flatten it and re-drop the file",
                            nested[0],
                        )
                if problem is not None:
                    bad.append((line_no, line.rstrip("\n"), problem[0], problem[1]))
                    continue
                records.append(tuple(map(lowered.get, names)))
                numbers.append(line_no)
                if len(numbers) >= BATCH_ROWS or len(bad) >= BATCH_ROWS:
                    yield flush(), bad
                    records, numbers, bad = [], [], []
    except UnicodeDecodeError as exc:
        raise FileRejected(f"file is not UTF-8 text ({exc}); save it as UTF-8 JSON Lines") from exc
    if numbers or bad:
        yield flush(), bad
    if not keys_seen:
        raise FileRejected("no JSON object in the file: expected one JSON object per line")
    notes.extend(_check_columns(ent, sorted(keys_seen)))


READERS = {"csv": _read_csv, "parquet": _read_parquet, "jsonl": _read_jsonl}

_Item = TypeVar("_Item")
_DONE = object()


def _read_ahead(items: Iterator[_Item]) -> Iterator[_Item]:
    """What ``items`` yields, in order, with the next item read in a thread meanwhile.

    The readers parse in Python (holding the GIL) while DuckDB checks and inserts the batch
    before (releasing it), so on two cores the two overlap. A reader's exception is raised
    here at the point where it happened, after the batches before it.
    """
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-read")
    try:
        ahead = pool.submit(next, items, _DONE)
        while (item := ahead.result()) is not _DONE:
            ahead = pool.submit(next, items, _DONE)
            yield item
    finally:
        pool.shutdown(wait=True)  # the read under way ends before the reader is closed
        close = getattr(items, "close", None)
        if close is not None:
            close()


# ------------------------------------------------------------------- ingestion


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def discover(landing: Path) -> list[Path]:
    """Every entry under ``landing`` that ingestion must account for, in a stable order.

    Sorted by path, so batches are numbered reproducibly. Symlinks are listed, not
    followed (folders behind a symlink are not entered): `_ingest_file` decides about
    each, so a hidden file, a dangling link or a link out of landing is logged rather
    than passed over in silence.
    """
    if not landing.exists():
        return []
    found: list[Path] = []
    for folder, dirs, files in os.walk(landing, followlinks=False):
        base = Path(folder)
        # A symlinked folder shows up in ``dirs``; it is not walked but reported.
        found += [base / d for d in dirs if (base / d).is_symlink()]
        found += [base / f for f in files]
    return sorted(found)


def arrival_order(landing: Path, paths: list[Path]) -> list[Path]:
    """The order one ingest reads ``paths`` in, and so numbers their batches: the files of an
    entity's folder (``<source>/<entity>/``) by when they were exported, the earliest first.

    Which of two files is the original and which the copy follows from it: a file with the
    bytes of one loaded before it is a duplicate, an invoice exported again under a new id is
    the later batch's (stg_billing__invoices), and a row whose key a file loaded before it
    holds with other values is quarantined. When both arrive in one ingest, the path order
    (the order before contract 2.7.1) called the copy the original whenever its name sorted
    first: ``invoices (1).csv`` before ``invoices.csv``, ``2026-12-02/export.csv`` before
    ``invoices_2026-12-01.csv``. Exported is as for a full export (export_time): the last
    date in the path below the entity's folder, else the modification time; then the
    modification time (a copy is written after its original unless the copy kept it),
    then the path, so the order is the same on every run over the same files. Files of
    different folders keep the path order. Across ingests the order is arrival: a file
    loaded by an earlier ingest stays the original, whatever the date of a later one.
    """

    def key(path: Path) -> tuple:
        rel = path.relative_to(landing).as_posix()
        parts = rel.split("/")
        folder = "/".join(parts[:2]) if len(parts) >= 3 else rel
        mtime_ns = entry_stat(path)[1]
        exported, _ = export_time(rel, mtime_ns if mtime_ns >= 0 else None)
        return folder, exported or datetime.max, mtime_ns, rel

    return sorted(paths, key=key)


def entry_stat(path: Path) -> list[int]:
    """[size, mtime_ns] of a landing entry (of what a link leads to; of the link itself when
    it dangles), or [-1, -1] for one that vanished since it was listed: never an error, so a
    bad entry is ingestion's to report, not a crash of whoever lists the folder."""
    for look in (path.stat, path.lstat):
        try:
            st = look()
        except OSError:
            continue
        return [st.st_size, st.st_mtime_ns]
    return [-1, -1]


def _is_hidden(rel: str) -> bool:
    return any(part.startswith(".") for part in rel.split("/"))


def _unreadable_entry(landing: Path, path: Path) -> tuple[str, str] | None:
    """(status, reason) for an entry that cannot be read as a landing file, or None."""
    if path.is_symlink():
        target = os.readlink(path)
        if not path.exists():
            return (
                "rejected",
                f"dangling symlink to {target}: the file it points to is gone; remove the link or restore the file",
            )
        resolved = path.resolve()
        if not resolved.is_relative_to(landing.resolve()):
            return "rejected", (
                f"symlink to {resolved}, outside the landing folder; not followed. "
                "Copy the file into landing instead of linking to it"
            )
        if resolved.is_dir():
            return (
                "rejected",
                f"symlink to the folder {target}; folders behind links are not read. Move the files into landing",
            )
    elif not path.is_file():
        return "rejected", "not a regular file (a device, socket or pipe); landing holds files only"
    return None


def _link_digest(path: Path) -> str:
    """A stable identity for a link that has no readable content: where it points."""
    return hashlib.sha256(("symlink:" + os.readlink(path)).encode()).hexdigest()


class NotInLanding(ValueError):
    """A file asked for by name (``again``) that is not a file in the landing folder."""


def landing_paths(landing: Path, names: Collection[str]) -> list[str]:
    """The landing-relative paths of ``names`` (relative to landing, or absolute inside it).

    Each must be a file ingestion discovers; anything else raises NotInLanding naming it.
    """
    if not names:
        return []  # no walk of the landing folder for a plain `recon ingest`
    found = {path.relative_to(landing).as_posix() for path in discover(landing)}
    out: list[str] = []
    for name in names:
        given = Path(name)
        if given.is_absolute():
            try:
                # Normalised, not resolved: a link in landing names the link, as its relative path does.
                rel = Path(os.path.abspath(given)).relative_to(Path(os.path.abspath(landing))).as_posix()
            except ValueError:
                raise NotInLanding(f"{name}: not inside the landing folder {landing}") from None
        else:
            rel = given.as_posix()
        if rel not in found:
            raise NotInLanding(
                f"{name}: no such file in {landing} (give its path as recon status and raw.ingestion_log show it, "
                "e.g. crm/orders/orders.csv)"
            )
        if rel not in out:
            out.append(rel)
    return out


def ingest_landing(
    landing: Path,
    warehouse: Path,
    again: Collection[str] = (),
    only_again: bool = False,
    on_file: Callable[[FileOutcome], None] | None = None,
) -> IngestReport:
    """Load every new landing file; return what happened to each one.

    ``again`` names files (landing-relative paths) to read again although their bytes were
    ingested already: after the contract changed, a rejected file may now load and a
    quarantined value parse. Each becomes a new batch of its path, a restatement of the
    batch it loaded before (whose rows staging then stops reading); other files are
    ingested as usual, or left for the next run with ``only_again`` (a Dagster backfill of
    some landing files reads those and nothing else). ``on_file`` hears of each file as it
    is done (committed, if it loaded): a run stopped midway knows what it had read.
    """
    started = time.monotonic()
    report = IngestReport()
    again = set(landing_paths(landing, again)) if again else set()
    version_config = _load_version_config()
    con = open_writer(warehouse)
    last_batch = None
    try:
        ensure_raw_schema(con)
        for path in arrival_order(landing, discover(landing)):
            rel = path.relative_to(landing).as_posix()
            if only_again and rel not in again:
                continue
            outcome = _ingest_file(con, landing, path, again=rel in again, version_config=version_config)
            report.files.append(outcome)
            if on_file is not None:
                on_file(outcome)
        for outcome in report.files:
            if outcome.status == "skipped" and outcome.previous_status == "duplicate":
                _note_stale_copy(con, outcome)
        last_batch = con.execute(f"select coalesce(max(batch_id), 0) from {RAW_SCHEMA}.ingestion_log").fetchone()[0]
    finally:
        if last_batch is None and report.by_status("loaded"):
            # Stopped midway (a cancelled run): the files it committed must still make the next run build.
            try:
                last_batch = con.execute(f"select max(batch_id) from {RAW_SCHEMA}.ingestion_log").fetchone()[0]
            except duckdb.Error:
                pass
        con.close()
        if last_batch is not None:
            _write_ingest_head(warehouse, int(last_batch))
    report.seconds = time.monotonic() - started
    return report


def ingest_head_path(warehouse: Path) -> Path:
    """Beside the warehouse: the newest batch id ingestion logged, readable without opening
    the warehouse (build_inputs.nothing_new: a batch loaded outside a run, by
    `recon ingest --again`, must make the next run build)."""
    return warehouse.with_name(warehouse.name + ".ingested.json")


def _write_ingest_head(warehouse: Path, last_batch: int) -> None:
    path = ingest_head_path(warehouse)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps({"last_batch_id": last_batch}) + "\n")
        os.replace(tmp, path)
    except OSError:
        pass  # only a hint: without it the next run may go quiet, and ingests anyway


def ingest_head(warehouse: Path) -> int | None:
    try:
        return int(json.loads(ingest_head_path(warehouse).read_text())["last_batch_id"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


STALE_COPY = "was restated since, so this copy is not loaded"


def _note_stale_copy(con: duckdb.DuckDBPyConnection, outcome: FileOutcome) -> None:
    """Say so on a skipped duplicate whose twin was restated since (once).

    This copy is most likely the stale version, and loading it now would make its old
    values current again. A person decides. Asked again once the ingest has read every file,
    so it does not depend on whether the twin's restatement was read before or after it.
    """
    if STALE_COPY in outcome.message or _is_live(con, outcome.duplicate_of_batch_id):
        return
    outcome.message += (
        f"; the file it copied (batch {outcome.duplicate_of_batch_id}) {STALE_COPY}: "
        f"delete it if it is stale, or load it with recon ingest --again {outcome.source_file}"
    )


def _ingest_file(
    con: duckdb.DuckDBPyConnection,
    landing: Path,
    path: Path,
    again: bool = False,
    *,
    version_config: dict[str, list[str]] | None,
) -> FileOutcome:
    rel = path.relative_to(landing).as_posix()
    parts = rel.split("/")
    source, entity_name = (parts[0], parts[1]) if len(parts) >= 3 else (parts[0], "")
    unreadable = _unreadable_entry(landing, path)
    if unreadable is None and _is_hidden(rel):
        unreadable = (
            "ignored",
            "hidden file (a name starting with '.': editor locks, sync and system files); not loaded. "
            "If it holds data, rename it without the leading dot",
        )
    before = _fingerprint(path)
    if unreadable and path.is_symlink():
        sha = _link_digest(path)
    elif unreadable:  # never opened: a pipe would block the read for good
        sha = hashlib.sha256(f"{unreadable[0]}:{unreadable[1]}".encode()).hexdigest()
    else:
        try:
            sha = sha256_of(path)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            unreadable = ("rejected", f"cannot be read ({reason}); let the user that runs recon read it")
            sha = hashlib.sha256(f"unreadable:{reason}".encode()).hexdigest()
    outcome = FileOutcome(rel, source, entity_name, "skipped", sha)
    if _fingerprint(path) != before:
        outcome.message = STILL_WRITTEN
        return outcome

    # Idempotency is per (path, content): a path whose latest batch has these bytes is
    # done. Anything else at that path (new bytes, or bytes it held before) is a new
    # batch, so a restatement back to an earlier version is never passed over.
    latest = con.execute(
        f"select batch_id, status, file_sha256, duplicate_of_batch_id from {RAW_SCHEMA}.ingestion_log "
        "where source_file = ? order by batch_id desc limit 1",
        [rel],
    ).fetchone()
    if latest and latest[2] == sha and not again:
        outcome.batch_id, outcome.previous_status = latest[0], latest[1]
        outcome.message = f"already ingested as batch {latest[0]} ({latest[1]}); skipped"
        if latest[1] == "duplicate":
            outcome.duplicate_of_batch_id = latest[3]
            _note_stale_copy(con, outcome)
        return outcome

    earlier = con.execute(
        f"select max(batch_id) from {RAW_SCHEMA}.ingestion_log where source_file = ? and status = 'loaded'",
        [rel],
    ).fetchone()[0]
    outcome.batch_id = con.execute(f"select coalesce(max(batch_id), 0) + 1 from {RAW_SCHEMA}.ingestion_log").fetchone()[
        0
    ]
    now = datetime.now(UTC).replace(tzinfo=None)
    if unreadable:
        outcome.status, reason = unreadable
        outcome.message = f"{rel}: {outcome.status}, nothing loaded: {reason}"
        _log_batch(con, outcome, None, now, file_bytes=None)
        return outcome
    # A file in a folder that names no entity is rejected for the folder, whatever its bytes:
    # called a duplicate of a loaded file, a misspelt folder (billing/invoice/) goes unnoticed.
    misplaced = len(parts) < 3 or f"{source}__{entity_name}" not in contract.ENTITY_BY_TABLE
    twin = None if earlier is not None else _live_twin(con, sha)
    if twin is not None and _is_archived_copy(landing, path, twin[1]):
        # A loaded file moved or renamed to archive it (archive/x.csv, x.csv.done): its bytes
        # are loaded and current from the original path, so nothing is loaded or counted
        # again and nothing asks to delete it. It is logged once, under the original's entity.
        outcome.status, outcome.duplicate_of_batch_id = "archived", twin[0]
        outcome.source, outcome.entity = twin[2], twin[3]
        outcome.message = (
            f"{rel}: archived copy, nothing loaded: the same bytes are already loaded from {twin[1]} "
            f"(batch {twin[0]}), which is no longer in landing or this name is no data file's"
        )
        _log_batch(con, outcome, contract.FILE_FORMATS.get(path.suffix.lower()), now, path.stat().st_size)
        return outcome
    if misplaced:
        twin = None
    if twin is not None:
        # A new path with the bytes of a file that is loaded and current (a copy, or a
        # file renamed after loading): loading it again would double its rows.
        outcome.status, outcome.duplicate_of_batch_id = "duplicate", twin[0]
        outcome.message = (
            f"{rel}: duplicate, nothing loaded: same content as {twin[1]} (batch {twin[0]}), which is loaded "
            "and current. Delete the copy; to load it anyway, change the original first"
        )
        _log_batch(con, outcome, contract.FILE_FORMATS.get(path.suffix.lower()), now, path.stat().st_size)
        return outcome
    outcome.is_restatement = earlier is not None
    outcome.supersedes_batch_id = earlier
    fmt = contract.FILE_FORMATS.get(path.suffix.lower())

    con.execute("begin transaction")
    try:
        if len(parts) < 3:
            raise FileRejected(f"file is not under <source>/<entity>/; move it to e.g. crm/orders/{path.name}")
        try:
            ent = contract.entity(source, entity_name)
        except KeyError as exc:
            raise FileRejected(str(exc.args[0])) from exc
        if fmt is None:
            raise FileRejected(f"unsupported file type {path.suffix!r}; use .csv (with header), .parquet or .jsonl")
        try:
            _load_rows(con, ent, path, fmt, outcome, now, version_config)
        except OSError as exc:  # unreadable since it was hashed (permissions changed, file gone)
            raise FileRejected(f"cannot be read ({exc.strerror or type(exc).__name__})") from exc
        if _fingerprint(path) != before:
            con.execute("rollback")
            return FileOutcome(rel, source, entity_name, "skipped", sha, message=STILL_WRITTEN)
        outcome.status = "loaded"
        if ent.delivery == "full":
            _supersede_as_full_export(con, ent, outcome, rel, before, now)
        if outcome.is_restatement:
            outcome.message = (f"restatement of batch {earlier}; " + outcome.message).rstrip("; ")
        if again and latest:
            outcome.message = ("read again on request (recon ingest --again); " + outcome.message).rstrip("; ")
    except FileRejected as exc:
        con.execute("rollback")
        con.execute("begin transaction")
        outcome.status = "rejected"
        outcome.rows_loaded = outcome.rows_quarantined = 0
        outcome.rows_read = _rows_in_rejected_file(path, fmt, contract.ENTITY_BY_TABLE.get(f"{source}__{entity_name}"))
        outcome.is_restatement, outcome.supersedes_batch_id = False, None
        outcome.supersedes_batch_ids, outcome.superseded_on_arrival_by, outcome.keys_withdrawn = [], None, 0
        outcome.exported_at = None
        outcome.message = f"{rel}: rejected, nothing loaded: {exc}"
    except BaseException:
        con.execute("rollback")
        raise
    _log_batch(con, outcome, fmt, now, path.stat().st_size)
    con.execute("commit")
    return outcome


# A date in a landing path: 2026-12-01, 2026_12_01 or 20261201, not inside a longer number.
_PATH_DATE = re.compile(r"(?<![0-9])(20[0-9]{2})([-_]?)([01][0-9])\2([0-3][0-9])(?![0-9])")


def export_time(rel: str, mtime_ns: int | None) -> tuple[datetime | None, str]:
    """When a full export was made, and how that was told: the last date in its landing path
    below ``<source>/<entity>/`` (a dated name, or a dated folder), else the file's
    modification time as it landed (UTC)."""
    below = "/".join(rel.split("/")[2:])
    found = None
    for match in _PATH_DATE.finditer(below):
        try:
            found = date(int(match.group(1)), int(match.group(3)), int(match.group(4)))
        except ValueError:
            continue  # 20261399 is a number, not a date
    if found is not None:
        return datetime(found.year, found.month, found.day), "the date in its name"
    if mtime_ns is None:
        return None, "unknown"
    return datetime.fromtimestamp(mtime_ns / 1e9, UTC).replace(tzinfo=None), "when it landed (no date in its name)"


def _supersede_as_full_export(
    con: duckdb.DuckDBPyConnection,
    ent: Entity,
    outcome: FileOutcome,
    rel: str,
    fingerprint: tuple[int, int] | None,
    now: datetime,
) -> None:
    """Record what a loaded full export supersedes (contract delivery "full").

    The newest export of an entity is complete, so it supersedes every batch of the entity
    that is still current; staging then withdraws the keys it lacks. Newest is by export time
    (the date in the path, else when it landed), then by batch: an export that arrives after
    a newer one was loaded (a late night, a re-sent old file) is kept in raw but superseded on
    arrival by the newer one, so it withdraws nothing the newer one has. Raw stays
    append-only: supersession is a row in raw.batch_supersessions.
    """
    outcome.delivery = "full"
    outcome.exported_at, told = export_time(rel, fingerprint[1] if fingerprint else None)
    log = f"{RAW_SCHEMA}.ingestion_log"
    current = con.execute(
        f"""
        select log.batch_id, log.source_file, log.delivery, log.exported_at
        from {log} as log
        where log.source = ? and log.entity = ? and log.status = 'loaded'
            and log.batch_id is distinct from ?
            and log.batch_id not in ({superseded_batches_sql()})
        order by log.batch_id
        """,
        [ent.source, ent.name, outcome.supersedes_batch_id],
    ).fetchall()
    exported = outcome.exported_at or datetime.min
    newer = [row for row in current if row[2] == "full" and (row[3] or datetime.min) > exported]
    when = f"{outcome.exported_at:%Y-%m-%d %H:%M}".removesuffix(" 00:00") if outcome.exported_at else "unknown"
    if newer:
        batch_id, source_file, _, newer_at = max(newer, key=lambda row: (row[3], row[0]))
        con.execute(
            f"insert into {RAW_SCHEMA}.batch_supersessions values (?, ?, ?, 'late_full_export', ?)",
            [outcome.batch_id, batch_id, outcome.batch_id, now],
        )
        outcome.superseded_on_arrival_by = batch_id
        newer_when = f"{newer_at:%Y-%m-%d %H:%M}".removesuffix(" 00:00")
        note = (
            f"full export of {ent.source}/{ent.name} exported {when} ({told}), older than the current export "
            f"{source_file} (batch {batch_id}, exported {newer_when}): kept in raw but superseded on arrival, "
            "so it withdraws nothing. If it is the newer export, give it its date in its name"
        )
    else:
        superseded = [row[0] for row in current]
        if superseded:
            con.executemany(
                f"insert into {RAW_SCHEMA}.batch_supersessions values (?, ?, ?, 'full_export', ?)",
                [[batch_id, outcome.batch_id, outcome.batch_id, now] for batch_id in superseded],
            )
        outcome.supersedes_batch_ids = superseded
        replaced = superseded + ([outcome.supersedes_batch_id] if outcome.supersedes_batch_id is not None else [])
        outcome.keys_withdrawn = _keys_missing(con, ent, replaced, outcome.batch_id)
        key = ", ".join(ent.key)
        note = f"full export of {ent.source}/{ent.name} exported {when} ({told})"
        if superseded:
            listed = ", ".join(str(b) for b in superseded[:10]) + (" …" if len(superseded) > 10 else "")
            note += f"; supersedes batch(es) {listed}"
        if outcome.keys_withdrawn:
            note += (
                f"; {outcome.keys_withdrawn:,} {key} value(s) the export(s) it replaces held are not in it and are "
                "withdrawn from staging"
            )
    outcome.message = "; ".join(part for part in (note, outcome.message) if part)


def _keys_missing(con: duckdb.DuckDBPyConnection, ent: Entity, replaced: list[int], batch_id: int) -> int:
    """Keys the replaced batches held that this batch lacks: what a full export withdraws."""
    if not replaced:
        return 0
    table = f"{RAW_SCHEMA}.{_ident(ent.table)}"
    keys = ", ".join(_ident(k) for k in ent.key)
    same = " and ".join(f"newer.{_ident(k)} is not distinct from earlier.{_ident(k)}" for k in ent.key)
    return int(
        con.execute(
            f"""
            select count(*) from (
                select distinct {keys} from {table} as earlier
                where list_contains(?, earlier._batch_id)
                    and not exists (select 1 from {table} as newer where newer._batch_id = ? and {same})
            )
            """,
            [replaced, batch_id],
        ).fetchone()[0]
    )


def _rows_in_rejected_file(path: Path, fmt: str | None, ent: Entity | None = None) -> int:
    """The rows a rejected file holds, logged as read (and all rejected) so that read =
    loaded + quarantined + rejected adds up: Parquet's row count from its footer; otherwise
    its non-blank lines, less a CSV's header (a quoted value spanning lines counts each
    line) and, for a report whose header sits below a title (_header_below), the lines above
    it (a tryout: one data row under Microsoft Advertising's ten report lines was logged as
    ten read). 0 when it cannot be read at all or is of a type ingestion does not read."""
    if fmt is None:
        return 0
    try:
        if fmt == "parquet":
            return int(pq.ParquetFile(path).metadata.num_rows)
        with path.open("rb") as fh:
            utf16 = fh.read(2) in (b"\xff\xfe", b"\xfe\xff")
        header = _header_below(path, ent) if fmt == "csv" and ent is not None and not utf16 else None
        if utf16:  # its newlines are two bytes; read as text
            with path.open(encoding="utf-16", errors="replace") as fh:
                lines = sum(1 for line in fh if line.strip())
        else:
            with path.open("rb") as fh:
                lines = sum(1 for n, line in enumerate(fh, start=1) if line.strip() and n > (header or 0))
    except (OSError, pa.ArrowException, UnicodeError):
        return 0
    if header:
        return lines  # the lines below the header: its rows
    return lines if fmt == "jsonl" else max(lines - 1, 0)


STILL_WRITTEN = "still being written (it changed while it was read); nothing loaded, read again on the next run"


def _fingerprint(path: Path) -> tuple[int, int] | None:
    """Size and modification time: a file that changes between two looks is still being written."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def superseded_batches_sql(schema: str = RAW_SCHEMA, *, full_exports: bool = True) -> str:
    """A query of the batch ids no longer current: restated at their path (a later loaded
    batch of the path names them in ingestion_log), or superseded by a full export of their
    entity (batch_supersessions). ``full_exports=False`` for a copy made before that table
    existed (an older publication)."""
    sql = (
        f"select supersedes_batch_id as batch_id from {schema}.ingestion_log "
        "where status = 'loaded' and supersedes_batch_id is not null"
    )
    if full_exports:
        sql += f" union all select batch_id from {schema}.batch_supersessions"
    return sql


def _is_live(con: duckdb.DuckDBPyConnection, batch_id: int | None) -> bool:
    """Whether a loaded batch is still current (no restatement or full export supersedes it)."""
    if batch_id is None:
        return False
    return bool(
        con.execute(
            f"select count(*) = 0 from ({superseded_batches_sql()}) as superseded where superseded.batch_id = ?",
            [batch_id],
        ).fetchone()[0]
    )


def _is_archived_copy(landing: Path, path: Path, original: str) -> bool:
    """Whether a new path holding a loaded file's bytes is that file archived, not a second delivery.

    The original left landing (moved or renamed), or the copy's name is no data file's
    (x.csv.done, x.csv.bak): either way no one sent it again. A copy under a data file's
    name beside its original stays a duplicate for a person to look at.
    """
    return not (landing / original).is_file() or path.suffix.lower() not in contract.FILE_FORMATS


def _live_twin(con: duckdb.DuckDBPyConnection, sha: str) -> tuple[int, str, str, str] | None:
    """The current loaded batch, at another path, with these exact bytes: id, path, source, entity."""
    return con.execute(
        f"""
        select log.batch_id, log.source_file, log.source, log.entity
        from {RAW_SCHEMA}.ingestion_log as log
        where log.file_sha256 = ? and log.status = 'loaded'
            and log.batch_id not in ({superseded_batches_sql()})
        order by log.batch_id
        limit 1
        """,
        [sha],
    ).fetchone()


def _log_batch(
    con: duckdb.DuckDBPyConnection, outcome: FileOutcome, fmt: str | None, now: datetime, file_bytes: int | None
) -> None:
    con.execute(
        f"""
        insert into {RAW_SCHEMA}.ingestion_log (
            batch_id, source, entity, source_file, file_sha256, file_bytes, file_format, status,
            is_restatement, supersedes_batch_id, rows_read, rows_loaded, rows_quarantined, message,
            contract_version, ingested_at, duplicate_of_batch_id, delivery, exported_at
        ) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """,
        [
            outcome.batch_id,
            outcome.source,
            outcome.entity,
            outcome.source_file,
            outcome.sha256,
            file_bytes,
            fmt,
            outcome.status,
            outcome.is_restatement,
            outcome.supersedes_batch_id,
            outcome.rows_read,
            outcome.rows_loaded,
            outcome.rows_quarantined,
            outcome.message,
            contract.CONTRACT_VERSION,
            now,
            outcome.duplicate_of_batch_id,
            outcome.delivery if outcome.status == "loaded" else None,
            outcome.exported_at,
        ],
    )


_SQL_CACHE: dict[str, _EntitySql] = {}


def _load_rows(
    con: duckdb.DuckDBPyConnection,
    ent: Entity,
    path: Path,
    fmt: str,
    outcome: FileOutcome,
    now: datetime,
    version_config: dict[str, list[str]] | None,
) -> None:
    notes: list[str] = []
    reader = READERS[fmt]
    try:
        _load_batches(con, ent, reader(path, ent, notes), outcome, now)
    except _RaggedRows:
        # Nothing of this batch is committed: take back what the fast reader loaded and
        # read the file again record by record.
        con.execute(f"delete from {RAW_SCHEMA}.{_ident(ent.table)} where _batch_id = ?", [outcome.batch_id])
        con.execute(f"delete from {RAW_SCHEMA}.quarantine where batch_id = ?", [outcome.batch_id])
        outcome.rows_read = outcome.rows_loaded = outcome.rows_quarantined = 0
        notes.clear()
        reader = _read_csv_by_record
        _load_batches(con, ent, reader(path, ent, notes), outcome, now)

    def read_again() -> Iterator[tuple[pa.Table, list]]:
        return reader(path, ent, [])

    moved = _quarantine_conflicting_keys(con, ent, outcome, now, version_config, read_again)
    moved += _quarantine_conflicts_with_other_files(con, ent, outcome, now, version_config, read_again)
    moved += _quarantine_unversioned_rows_of_versioned_keys(con, ent, outcome, now, version_config, read_again)
    outcome.rows_loaded -= moved
    outcome.rows_quarantined += moved
    if outcome.rows_loaded + outcome.rows_quarantined != outcome.rows_read:
        raise RuntimeError(
            f"{outcome.source_file}: read {outcome.rows_read} rows but loaded {outcome.rows_loaded} and "
            f"quarantined {outcome.rows_quarantined}; refusing to commit an unbalanced batch"
        )
    notes.extend(_flagged_rows(con, ent, outcome))
    if outcome.rows_quarantined:
        notes.append(f"{outcome.rows_quarantined} row(s) quarantined (see raw.quarantine)")
        for row_number, column, value, reason in con.execute(
            f"select row_number, column_name, original_value, reason from {RAW_SCHEMA}.quarantine "
            "where batch_id = ? order by row_number limit ?",
            [outcome.batch_id, EXAMPLES_SHOWN],
        ).fetchall():
            shown = "empty" if value is None else repr(value if len(value) <= 60 else value[:57] + "...")
            outcome.examples.append(f"row {row_number}, column {column} ({shown}): {reason}")
    outcome.message = "; ".join(notes)


def _flagged_rows(con: duckdb.DuckDBPyConnection, ent: Entity, outcome: FileOutcome) -> list[str]:
    """A note for each flag-only row rule (contract.RowRule.flag_only) that loaded rows of this
    batch break: how many, which rows, and the first one's reason with its values. The rows
    stay loaded; the note is in the batch's raw.ingestion_log message and `recon ingest`."""
    notes = []
    table = f"{RAW_SCHEMA}.{_ident(ent.table)}"
    values = {c.name: _ident(c.name) for c in ent.columns}
    for rule in ent.rules:
        if not rule.flag_only:
            continue
        reason_sql, reason_params = _reason_sql(rule.reason, lambda name: f"cast({_ident(name)} as VARCHAR)")
        found = con.execute(
            f"""
            select count(*) over (), _row_number, {reason_sql} from {table}
            where _batch_id = ? and not coalesce({rule.condition.format(**values)}, true)
            order by _row_number limit ?
            """,
            [*reason_params, outcome.batch_id, MAX_ROWS_NAMED],
        ).fetchall()
        if found:
            count, numbers = found[0][0], ", ".join(str(row[1]) for row in found)
            more = f" and {count - len(found)} more" if count > len(found) else ""
            notes.append(f"{count} row(s) loaded but flagged (rows {numbers}{more}): row {found[0][1]}: {found[0][2]}")
    return notes


def _load_batches(
    con: duckdb.DuckDBPyConnection,
    ent: Entity,
    batches: Iterator[tuple[pa.Table, list]],
    outcome: FileOutcome,
    now: datetime,
) -> None:
    """Check each batch a reader yields: good rows into the raw table, the rest quarantined."""
    # (setdefault would build the SQL on every file before looking it up)
    sql = _SQL_CACHE.get(ent.table) or _SQL_CACHE.setdefault(ent.table, _entity_sql(ent))
    rel = outcome.source_file
    for table, bad_lines in _read_ahead(batches):
        outcome.rows_read += table.num_rows + len(bad_lines)
        if table.num_rows:
            con.register("_landing_batch", table)
            con.execute(sql.check_sql, sql.check_params)
            con.unregister("_landing_batch")
            loaded = con.execute(sql.insert_sql, [outcome.batch_id, rel, outcome.sha256, now]).fetchone()[0]
            quarantined = con.execute(
                sql.quarantine_sql, [outcome.batch_id, ent.source, ent.name, rel, sql.whole_row_reasons, now]
            ).fetchone()[0]
            outcome.rows_loaded += loaded
            outcome.rows_quarantined += quarantined
        for line_no, text, reason, column in bad_lines:
            con.execute(
                f"insert into {RAW_SCHEMA}.quarantine values (?, ?, ?, ?, ?, ?, ?, ?, ?, to_json(?::VARCHAR), ?)",
                [
                    outcome.batch_id,
                    ent.source,
                    ent.name,
                    rel,
                    line_no,
                    column,
                    reason,
                    text,
                    json.dumps([{"column": column, "reason": reason}]),
                    text,
                    now,
                ],
            )
            outcome.rows_quarantined += 1


def _load_version_config() -> dict[str, list[str]] | None:
    """config/quality.yml raw.version_columns (table -> columns), as the raw_keys_unique
    gate reads them; None when the config cannot be read (the gate then reports it).

    Read once per ingest call, not per file: the file is validated whole on each read."""
    from orchestration.quality.config import QualityConfigError, load_config

    try:
        return dict(load_config()["raw"]["version_columns"])
    except (QualityConfigError, OSError):
        return None


def _version_columns(ent: Entity, config: dict[str, list[str]] | None) -> list[str] | None:
    """The columns that tell versions of one key apart in a file; None when the config
    cannot be read."""
    if config is None:
        return None
    return [c for c in config.get(ent.table, []) if c in ent.column_names]


KEY_CONFLICT = "key repeated with different values"
MAX_ROWS_NAMED = 10


def _quarantine_conflicting_keys(
    con: duckdb.DuckDBPyConnection,
    ent: Entity,
    outcome: FileOutcome,
    now: datetime,
    version_config: dict[str, list[str]] | None,
    read_again: Callable[[], Iterator[tuple[pa.Table, list]]],
) -> int:
    """Move the rows of this batch whose key (and version) repeats with different values to
    quarantine; return how many.

    Staging keeps one row per key: of rows that differ it would pick one by row order and
    drop the others' values in silence (a Google Ads report segmented by network has two
    rows per campaign-day), so the blocking raw gate raw_keys_unique stopped every run
    until the file was fixed. Quarantined here, each row names the key, the rows that share
    it and the first column that differs, and the rest of the file loads. Identical copies
    (a re-sent row) stay: staging keeps one of them.
    """
    versions = _version_columns(ent, version_config)
    if versions is None:
        return 0
    unique_on = [*ent.key, *versions]
    table = f"{RAW_SCHEMA}.{_ident(ent.table)}"
    keys = ", ".join(_ident(c) for c in unique_on)
    differing = [c for c in ent.column_names if c not in unique_on]
    differs = (
        "list_filter(["
        + ", ".join(
            f"case when count(distinct coalesce(cast({_ident(c)} as VARCHAR), chr(0))) > 1 then '{c}' end"
            for c in differing
        )
        + "], lambda x: x is not null)"
    )
    key_text = " || ', ' || ".join(f"coalesce(cast({_ident(c)} as VARCHAR), '(empty)')" for c in unique_on)
    row_list = (
        f"array_to_string(list_slice(list(_row_number order by _row_number), 1, {MAX_ROWS_NAMED}), ', ') "
        f"|| case when count(*) > {MAX_ROWS_NAMED} then ' and ' || (count(*) - {MAX_ROWS_NAMED}) || ' more' "
        "else '' end"
    )
    not_null = " and ".join(f"{_ident(k)} is not null" for k in ent.key)
    # The keys this batch repeats, first: one cheap grouping. Nearly every file has none (no
    # temp table is made then), and only their rows need the per-column distinct counts
    # below (over a whole file of 500,000 rows those took seconds).
    repeated_keys = f"""
        select {keys} from {table}
        where _batch_id = ? and {not_null}
        group by {keys}
        having count(*) > 1
    """
    if not con.execute(f"select exists ({repeated_keys})", [outcome.batch_id]).fetchone()[0]:
        return 0
    con.execute(f"create or replace temp table _repeated_keys as {repeated_keys}", [outcome.batch_id])
    repeated = " and ".join(f"rows.{_ident(c)} is not distinct from repeated.{_ident(c)}" for c in unique_on)
    con.execute(
        f"""
        create or replace temp table _key_conflicts as
        select {keys}, coalesce({differs}[1], '{unique_on[-1]}') as _column,
            '{KEY_CONFLICT}; ({", ".join(unique_on)}) = (' || {key_text} || ') is on rows ' || {row_list}
            || ', which differ in ' || array_to_string({differs}, ', ') || '. One row per key is expected '
            || '(a report segmented by network, device or hour needs its rows summed per key first); '
            || 'correct the rows and re-drop the file' as _reason
        from (
            select rows.* from {table} as rows
            where rows._batch_id = ?
                and exists (select 1 from _repeated_keys as repeated where {repeated})
        )
        where {not_null}
        group by {keys}
        having count(*) > 1 and count(distinct row({", ".join(_ident(c) for c in ent.column_names)})) > 1
        """,
        [outcome.batch_id],
    )
    con.execute("drop table _repeated_keys")
    conflicts = con.execute("select count(*) from _key_conflicts").fetchone()[0]
    if not conflicts:
        con.execute("drop table _key_conflicts")
        return 0
    joined = " and ".join(f"rows.{_ident(c)} is not distinct from conflict.{_ident(c)}" for c in unique_on)
    con.execute(
        f"""
        create or replace temp table _conflicting_rows as
        select rows._row_number, conflict._column, conflict._reason
        from {table} as rows
        inner join _key_conflicts as conflict on {joined}
        where rows._batch_id = ?
        """,
        [outcome.batch_id],
    )
    con.execute("drop table _key_conflicts")
    return _move_conflicting_rows(con, ent, outcome, now, read_again)


CROSS_FILE_CONFLICT = "key and version already loaded from another file with different values"


def _quarantine_conflicts_with_other_files(
    con: duckdb.DuckDBPyConnection,
    ent: Entity,
    outcome: FileOutcome,
    now: datetime,
    version_config: dict[str, list[str]] | None,
    read_again: Callable[[], Iterator[tuple[pa.Table, list]]],
) -> int:
    """Move the rows of this batch whose key and version a current row of another file
    already holds with different values to quarantine; return how many.

    Where config/quality.yml names version columns (orders and invoices: updated_at), a
    change to a record comes with a new version, and staging keeps the latest version.
    The same version with other values in a later file is not a change the source made: of
    the two, staging kept the later batch's in silence. Quarantined here, the row names the
    file that holds the version already and what to do. The batch this one restates (same
    path) is not compared: a restatement replaces it. Tables without version columns are
    not checked: there the later delivery is the newer version by design (ad platforms
    restate recent days, exports re-send records on each change), and a row whose version
    is empty has no version to contradict (staging orders by batch then).
    """
    versions = _version_columns(ent, version_config)
    if not versions or ent.delivery == "full":
        # A full export replaces every earlier batch of its entity (or is replaced by a newer
        # one on arrival): there is no other current file whose version it could contradict.
        return 0
    unique_on = [*ent.key, *versions]
    table = f"{RAW_SCHEMA}.{_ident(ent.table)}"
    log = f"{RAW_SCHEMA}.ingestion_log"
    # Plain equality: a row with an empty key or version never matches another.
    same_version = " and ".join(f"earlier.{_ident(c)} = rows.{_ident(c)}" for c in unique_on)
    differing = [c for c in ent.column_names if c not in unique_on]
    differs = (
        "list_filter(["
        + ", ".join(
            f"case when rows.{_ident(c)} is distinct from earlier.{_ident(c)} then '{c}' end" for c in differing
        )
        + "], lambda x: x is not null)"
    )
    current_elsewhere = f"""
        earlier._batch_id in (
            select loaded.batch_id from {log} as loaded
            where loaded.status = 'loaded' and loaded.batch_id is distinct from ?
                and loaded.batch_id not in ({superseded_batches_sql()})
        )
    """
    pairs = f"""
        from {table} as rows
        inner join {table} as earlier on {same_version} and {current_elsewhere}
        where rows._batch_id = ? and earlier._batch_id <> rows._batch_id and len({differs}) > 0
    """
    params = [outcome.supersedes_batch_id, outcome.batch_id]
    if not con.execute(f"select exists (select 1 {pairs})", params).fetchone()[0]:
        return 0
    key_text = " || ', ' || ".join(f"coalesce(cast(rows.{_ident(c)} as VARCHAR), '(empty)')" for c in unique_on)
    version_names = " and ".join(versions)
    con.execute(
        f"""
        create or replace temp table _conflicting_rows as
        select rows._row_number, {differs}[1] as _column,
            '{CROSS_FILE_CONFLICT}; ({", ".join(unique_on)}) = (' || {key_text} || ') was loaded from '
            || earlier._source_file || ' (batch ' || earlier._batch_id || ', row ' || earlier._row_number
            || '), and this row differs in ' || array_to_string({differs}, ', ') || '. One version of a record '
            || 'has one set of values: if this row corrects it, export it with a later {version_names}; if '
            || 'this file replaces that one, drop it at ' || earlier._source_file || ' (a restatement); if it '
            || 'is stale, delete it' as _reason
        {pairs}
        qualify row_number() over (partition by rows._row_number order by earlier._batch_id, earlier._row_number) = 1
        """,
        params,
    )
    return _move_conflicting_rows(con, ent, outcome, now, read_again)


UNVERSIONED_CONFLICT = "no version, and the key is already loaded with a version and other values"


def _quarantine_unversioned_rows_of_versioned_keys(
    con: duckdb.DuckDBPyConnection,
    ent: Entity,
    outcome: FileOutcome,
    now: datetime,
    version_config: dict[str, list[str]] | None,
    read_again: Callable[[], Iterator[tuple[pa.Table, list]]],
) -> int:
    """Move the rows of this batch whose version is empty, and whose key a current row (of
    another file or this one) holds with a version and other values, to quarantine; return
    how many.

    A version column may be optional (an invoice's updated_at: some billing exports lack
    it). Staging keeps the latest version of a key, and a row with no version comes after
    every row with one (``nulls last``): a corrected invoice re-sent without updated_at
    loaded and was never seen, the earlier version kept in silence. Quarantined here, it
    names the versioned row staging keeps and asks for a later version. A row with no
    version that equals a versioned row of its key (a re-sent copy, even of an older
    version) loads: nothing of it is lost. Where no row of the key has a version, the later
    delivery wins, as in tables without version columns.
    """
    versions = _version_columns(ent, version_config)
    optional = {c.name for c in ent.columns if not c.required}
    if not versions or not optional.intersection(versions):
        return 0  # a required version is never empty: nothing to check (orders)
    unique_on = [*ent.key, *versions]
    table = f"{RAW_SCHEMA}.{_ident(ent.table)}"
    log = f"{RAW_SCHEMA}.ingestion_log"
    same_key = " and ".join(f"versioned.{_ident(c)} = rows.{_ident(c)}" for c in ent.key)
    no_version = " and ".join(f"rows.{_ident(c)} is null" for c in versions)
    has_version = " and ".join(f"versioned.{_ident(c)} is not null" for c in versions)
    compared = [c for c in ent.column_names if c not in unique_on]
    equal = " and ".join(f"copy.{_ident(c)} is not distinct from rows.{_ident(c)}" for c in compared)
    differs = (
        "list_filter(["
        + ", ".join(
            f"case when rows.{_ident(c)} is distinct from versioned.{_ident(c)} then '{c}' end" for c in compared
        )
        + "], lambda x: x is not null)"
    )
    # Current: this batch, and every loaded batch neither superseded nor restated by this one.
    # A full export supersedes every other batch of its entity: only its own rows count.
    current = "{alias}._batch_id = ?"
    params_current: list = [outcome.batch_id]
    if ent.delivery != "full":
        current = f"""({{alias}}._batch_id = ? or {{alias}}._batch_id in (
            select loaded.batch_id from {log} as loaded
            where loaded.status = 'loaded' and loaded.batch_id is distinct from ?
                and loaded.batch_id not in ({superseded_batches_sql()})
        ))"""
        params_current = [outcome.batch_id, outcome.supersedes_batch_id]
    current_versioned, current_copy = current.replace("{alias}", "versioned"), current.replace("{alias}", "copy")
    same_key_copy = " and ".join(f"copy.{_ident(c)} = rows.{_ident(c)}" for c in ent.key)
    copy_version = " and ".join(f"copy.{_ident(c)} is not null" for c in versions)
    pairs = f"""
        from {table} as rows
        inner join {table} as versioned on {same_key} and {has_version} and {current_versioned}
        where rows._batch_id = ? and {no_version}
            and not exists (
                select 1 from {table} as copy
                where {same_key_copy} and {copy_version} and {equal} and {current_copy}
            )
    """
    params = [*params_current, outcome.batch_id, *params_current]
    if not con.execute(f"select exists (select 1 {pairs})", params).fetchone()[0]:
        return 0
    key_text = " || ', ' || ".join(f"coalesce(cast(rows.{_ident(c)} as VARCHAR), '(empty)')" for c in ent.key)
    version_text = " || ', ' || ".join(f"cast(versioned.{_ident(c)} as VARCHAR)" for c in versions)
    version_names = " and ".join(versions)
    latest = ", ".join(f"versioned.{_ident(c)} desc" for c in versions)
    con.execute(
        f"""
        create or replace temp table _conflicting_rows as
        select rows._row_number, coalesce({differs}[1], '{versions[0]}') as _column,
            '{UNVERSIONED_CONFLICT}; ({", ".join(ent.key)}) = (' || {key_text} || ') has {version_names} '
            || {version_text} || ' on ' || versioned._source_file || ' (batch ' || versioned._batch_id
            || ', row ' || versioned._row_number || '), and this row has no {version_names} and differs in '
            || array_to_string({differs}, ', ') || '. Staging keeps the row with the latest {version_names}, '
            || 'so this one would be loaded and never used: if it corrects the record, export it with its '
            || '{version_names} set later than that one; if it is stale, delete it; then re-drop the file' as _reason
        {pairs}
        qualify row_number() over (
            partition by rows._row_number order by {latest}, versioned._batch_id desc, versioned._row_number desc
        ) = 1
        """,
        params,
    )
    return _move_conflicting_rows(con, ent, outcome, now, read_again)


def _original_rows(read_again: Callable[[], Iterator[tuple[pa.Table, list]]], wanted: list[int]) -> pa.Table | None:
    """The rows numbered ``wanted`` as the file writes them (text, before any cast), read
    again; None when the file no longer reads as it did (it changed meanwhile: the check of
    its size and time after loading then rolls the batch back).

    Read only when some loaded row is found in conflict (nearly no file), so no row's text
    is kept while the file loads."""
    numbers = pa.array(sorted(set(wanted)), pa.int64())
    found: list[pa.Table] = []
    left = len(numbers)
    batches = read_again()
    try:
        for table, _bad in batches:
            picked = table.filter(pc.is_in(table.column("_row_number"), value_set=numbers))
            if picked.num_rows:
                found.append(picked)
                left -= picked.num_rows
            if left <= 0:
                break
    except (FileRejected, _RaggedRows, OSError):
        return None
    finally:
        close = getattr(batches, "close", None)  # the readers are generators: stop reading
        if close is not None:
            close()
    return pa.concat_tables(found) if found else None


def _move_conflicting_rows(
    con: duckdb.DuckDBPyConnection,
    ent: Entity,
    outcome: FileOutcome,
    now: datetime,
    read_again: Callable[[], Iterator[tuple[pa.Table, list]]],
) -> int:
    """Move the loaded rows of this batch named in temp table ``_conflicting_rows``
    (_row_number, _column, _reason) to quarantine; return how many.

    Each keeps the file's text, as every other quarantined row does (25000.00, not the
    loaded 25000.0000; 2026-04-05T08:00:00Z, not 2026-04-05 08:00:00): read again from the
    file, since the raw table holds the typed values. Should the file not read as it did,
    the loaded values stand in (and the batch is rolled back as still being written)."""
    table = f"{RAW_SCHEMA}.{_ident(ent.table)}"
    wanted = [n for (n,) in con.execute("select _row_number from _conflicting_rows").fetchall()]
    originals = _original_rows(read_again, wanted)
    if originals is None:
        originals = pa.table(
            {**{c: pa.array([], pa.string()) for c in ent.column_names}, "_row_number": pa.array([], pa.int64())}
        )
    loaded = ", ".join(f"{_ident(c)} := cast(rows.{_ident(c)} as VARCHAR)" for c in ent.column_names)
    as_read = ", ".join(f"{_ident(c)} := original.{_ident(c)}" for c in ent.column_names)
    con.register("_original_rows", originals)
    try:
        con.execute(
            f"""
            insert into {RAW_SCHEMA}.quarantine
            select ?, ?, ?, ?, _row_number, _column, _reason, json_extract_string(_record, '$.' || _column),
                to_json([{{'column': _column, 'reason': _reason}}]), _record, ?
            from (
                select conflict._row_number, conflict._column, conflict._reason,
                    case when original._row_number is null then to_json(struct_pack({loaded}))
                        else to_json(struct_pack({as_read})) end as _record
                from _conflicting_rows as conflict
                inner join {table} as rows on rows._batch_id = ? and rows._row_number = conflict._row_number
                left join _original_rows as original on original._row_number = conflict._row_number
            )
            order by _row_number
            """,
            [outcome.batch_id, ent.source, ent.name, outcome.source_file, now, outcome.batch_id],
        )
    finally:
        con.unregister("_original_rows")
    moved = con.execute(
        f"""
        delete from {table} as rows
        where rows._batch_id = ? and rows._row_number in (select _row_number from _conflicting_rows)
        """,
        [outcome.batch_id],
    ).fetchone()[0]
    con.execute("drop table _conflicting_rows")
    return int(moved)


EXAMPLES_SHOWN = 3


def describe(outcome: FileOutcome) -> str:
    """One file's outcome as `recon ingest` prints it. File names and messages are data: a
    line feed or an escape in a file's name is spelled out (terminal.one_line), so it cannot
    print a line of its own that looks like another file's outcome."""
    from orchestration.terminal import one_line

    buf = io.StringIO()
    buf.write(f"{outcome.status:<9} {one_line(outcome.source_file)}")
    if outcome.status == "loaded":
        buf.write(f"  read={outcome.rows_read} loaded={outcome.rows_loaded} quarantined={outcome.rows_quarantined}")
    elif outcome.status == "rejected":
        buf.write(f"  read={outcome.rows_read} rejected={outcome.rows_rejected}")
    if outcome.message:
        buf.write(f"  — {one_line(outcome.message)}")
    for example in outcome.examples:
        buf.write(f"\n    {one_line(example)}")
    if outcome.rows_quarantined > len(outcome.examples) and outcome.examples:
        # Where the rest are, row by row (recon status groups them by reason only): a query to
        # paste, when the file's name is safe inside its quotes; else the table to read.
        rest = f"\n    and {outcome.rows_quarantined - len(outcome.examples):,} more"
        if re.fullmatch(r"[A-Za-z0-9._/ -]+", outcome.source_file):
            rest += (
                ': recon query --working "select row_number, column_name, reason from raw.quarantine'
                f" where source_file = '{outcome.source_file}' order by row_number\""
            )
        else:
            rest += ": raw.quarantine lists each (recon query --working), by source_file, row and column"
        buf.write(rest)
    return buf.getvalue()
