"""Render the landing contract into the files people and dbt read.

``docs/landing_contract.md`` for people, ``models/staging/<source>/_<source>__sources.yml``
for dbt, and the exception-type table of ``docs/exceptions.md`` from the policy seeds
(orchestration/policy_docs.py). Both are generated so they cannot drift from ``orchestration.contract``;
``recon contract --check`` (run by the tests) fails when a committed copy is stale.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from orchestration import contract
from orchestration.ingest import META_COLUMNS
from orchestration.settings import PROJECT_DIR

GENERATED = "# Generated from orchestration/contract.py by `recon contract --write`; do not edit by hand.\n"

META_DESCRIPTIONS = {
    "_batch_id": "Ingestion batch (one landing file) that delivered the row; see raw.ingestion_log.",
    "_source_file": "Landing file path relative to $RECON_HOME/landing.",
    "_file_sha256": "sha256 of the landing file; a file with a known hash is never loaded twice.",
    "_row_number": "Data row number within the file (1 = first row after the header, or line number for JSON Lines).",
    "_ingested_at": "When the batch was loaded (UTC).",
}


def sources_yaml(source: str) -> str:
    tables = []
    for ent in contract.ENTITIES:
        if ent.source != source:
            continue
        columns = [
            {
                "name": c.name,
                "description": c.description + ("" if c.required else " Optional."),
                "data_type": c.sql_type.replace(" ", "").lower(),
            }
            for c in ent.columns
        ]
        columns += [{"name": n, "description": META_DESCRIPTIONS[n], "data_type": t.lower()} for n, t in META_COLUMNS]
        tables.append(
            {
                "name": ent.table,
                "description": f"{ent.description} Landing: $RECON_HOME/landing/{ent.source}/{ent.name}/. "
                f"Natural key: {', '.join(ent.key)}. Delivery: {ent.delivery}. Append-only; loaded by `recon ingest`.",
                "columns": columns,
            }
        )
    doc = {
        "version": 2,
        "sources": [
            {
                "name": f"raw_{source}",
                "description": contract.SOURCES[source],
                "schema": "raw",
                "meta": {"contract_version": contract.CONTRACT_VERSION},
                "tables": tables,
            }
        ],
    }
    return GENERATED + yaml.safe_dump(doc, sort_keys=False, width=110, allow_unicode=True)


def contract_markdown() -> str:
    lines = [
        "<!-- Generated from orchestration/contract.py by `recon contract --write`; do not edit by hand. -->",
        f"# Landing contract v{contract.CONTRACT_VERSION}",
        "",
        "Drop files for each entity under `$RECON_HOME/landing/<source>/<entity>/` (any sub-folders below",
        "that are fine). Accepted formats: CSV with a header row (UTF-8, comma-separated), Parquet, and",
        "JSON Lines (`.jsonl` / `.ndjson`, one object per line; numbers may be JSON numbers or strings).",
        "A Parquet date column may be typed as timestamps at midnight (as pandas writes dates): a",
        "midnight in the column's time zone is that date, any other instant is quarantined as a",
        "timestamp with a time of day where a date belongs (as is `2026-03-01 10:30:00` in a CSV).",
        "Column names are matched case-insensitively after trimming spaces; columns not listed here are",
        "ignored (and noted in the ingestion log). Optional columns may be left out of a file: files",
        "written for an earlier contract version still load.",
        "",
        "What happens to a file (`recon ingest`, also the first step of `recon run`):",
        "",
        "- **Skipped** when the latest batch of the same path has the same sha256 (loaded or rejected):",
        "  idempotency is per (path, content). The same path with other bytes, including bytes it held",
        "  before, is a new batch; a rejected file moved or renamed as its message advises is read again.",
        "  After the contract changes (a new version accepts what it rejected or quarantined), `recon ingest",
        "  --again PATH ...` reads named files again: each becomes a new batch restating its earlier one.",
        "- **Duplicate** (logged, nothing loaded) when a new path holds exactly the bytes of a file that is",
        "  loaded and current elsewhere. It stays a duplicate when that file is restated (it is most likely",
        "  the stale version); `recon ingest --again PATH` loads it when it is not. A file that is not",
        "  under `<source>/<entity>/` of an entity the contract has (a misspelt folder) is rejected for",
        "  its folder instead, whatever its bytes. When the original and its copy arrive in one ingest,",
        "  the original is the one exported first: one ingest reads the files of an entity's folder by",
        "  the last date in their path below the folder (as for a full export below), else their",
        "  modification time, then by modification time, then by path; across ingests, the one loaded",
        "  first. So `invoices.csv` loads and `invoices (1).csv`, written after it, is the duplicate",
        "  (by path alone the copy sorted first), and an invoice exported again under a new id",
        "  (`duplicate_export`) is the copy in the later-dated file.",
        "- **Archived** (logged once, nothing loaded, nothing to do) when a new path holds exactly the",
        "  bytes of a file that is loaded and current, and that file's path is no longer in landing (it",
        "  was moved or renamed: `crm/orders/archive/x.csv`, or a top-level `archive/x.csv`), or the new",
        "  name is no data file's (`x.csv.done`, `x.csv.bak`). Its rows are loaded from the original and",
        "  counted once; `recon status` lists it neither as a duplicate nor as rejected (the original is",
        '  listed under "Loaded files no longer in landing"). A copy under a data file\'s name beside its',
        "  original is a duplicate, as above.",
        "- **Ignored** (logged once) when its name or a folder above it starts with `.`.",
        "- **Rejected whole** when it is not under `<source>/<entity>/`, has an unsupported extension,",
        "  lacks a required column, or cannot be parsed (a CSV quote that never closes, not Parquet,",
        "  not UTF-8), or is a symlink that dangles, leads out of landing or to a folder. A CSV whose",
        "  header is below a report title or date range (ads platforms' reports) is rejected naming the",
        "  line the header is on. A file that looks **truncated** (an interrupted download or upload)",
        "  is rejected naming its last line: a CSV or JSON Lines file whose last line has no line break",
        "  after it and is no whole record (fewer fields than the header, other than a totals line or a",
        "  footer's date stamp; JSON cut off), or a Parquet file that starts as Parquet and lacks its",
        "  end. A last record that is whole loads without a final line break, as many exporters write it.",
        "  Nothing of it is loaded; `raw.ingestion_log` records why, and the rows it holds as read (all",
        "  rejected: rows read = loaded + quarantined + rejected, in `recon status` too).",
        "- **Loaded** otherwise, as one batch. Each row that has an empty required value or a value",
        "  that does not parse goes to `raw.quarantine` with the file, row number, column, reason and",
        "  original text; all other rows go to `raw.<source>__<entity>`. Rows read = rows loaded +",
        "  rows quarantined, for every file. Rows of one file that share the natural key (and version:",
        "  `raw.version_columns` in config/quality.yml) but differ are all quarantined, each naming the",
        "  key, the rows and the columns that differ; identical copies load (staging keeps one). A row",
        "  whose key and version (not empty) a current row of another file already holds with other values",
        "  is quarantined, naming that file: a change comes with a new version, a correction of that file",
        "  is a restatement at its path. A row with an empty version (an invoice's updated_at is optional)",
        "  whose key a current row holds with a version and other values is quarantined, naming that row:",
        "  staging keeps the latest version and would never use it; a correction comes with a later",
        "  version. It loads when it equals a versioned row of its key (a re-sent copy), and where no row of",
        "  its key has a version the latest delivery wins. Tables without version columns keep the latest",
        "  delivery. A CSV",
        "  line with more or fewer fields than the header (a totals footer, a note, a value holding an",
        "  unquoted comma) is quarantined on its own (column `_record`, the line as read). A row whose",
        "  first value or key is a totals word (`Total`, `Totals`, `Grand Total`, `Subtotal`, `Sum`, alone",
        "  or before a colon, or QuickBooks' `Total for <customer>`) is quarantined as a totals or summary",
        "  row, not as a record to fill in, and so is a report's footer line (one cell holding a date/time",
        '  stamp or a note, such as QuickBooks\' `" Tuesday, September 29, 2026 09:30 PM GMT-04:00",,,`,',
        "  every other cell empty) as a footer: nothing was lost. A row with faults in several columns",
        "  names the first as its reason and `column`, then every other column that is wrong, with its",
        "  value and the first clause of its reason (up to 5; all are in `problems`), so one correction",
        "  fixes the row.",
        "- A file at a path already loaded but with new content is a **restatement**: a new batch that",
        "  supersedes the earlier one; staging reads only the rows of the latest batch of each path.",
        "",
        "## Delivery: incremental files or full exports",
        "",
        "Each entity declares how its files arrive (`delivery` of its `Entity` in",
        "`orchestration/contract.py`; each entity below says which it is):",
        "",
    ]
    lines += [f"- **`{mode}`**: {about}." for mode, about in contract.DELIVERY_MODES.items()]
    lines += [
        "",
        "A full export that supersedes earlier batches says so in `raw.ingestion_log.message` (the batches",
        "and how many keys it withdraws); each superseded batch is a row of `raw.batch_supersessions`. Raw",
        "stays append-only: superseded rows stay in their tables, counted, and `recon status` lists them",
        "under superseded files. A key withdrawn leaves staging and the marts with the next build, and",
        "its open exceptions are auto-resolved with reason `record_withdrawn`, naming the export that",
        "withdrew it (they reopen if it comes back). An export that withdraws more than the raw gate allows",
        "(a truncated export: `spikes.max_withdrawn_share` in config/quality.yml) stops the run before",
        "the build; drop the complete export (at the same path, or under a newer dated name) to clear it.",
        "A file exported with the same bytes as the current one under a new name is a duplicate (nothing",
        "changed). Declaring an entity `full` takes effect with its next file, which supersedes every",
        "batch of the entity loaded before.",
        "",
        "## Value formats",
        "",
        "| kind | format | stored as |",
        "| --- | --- | --- |",
    ]
    for kind, fmt in contract.KIND_FORMAT.items():
        lines.append(f"| {kind} | {fmt} | `{contract.KIND_SQL_TYPE[kind]}` |")
    lines += [
        "",
        "Only an empty field is a missing value, and `--` in an optional number column (spaces around it",
        "allowed: Google Ads writes ` --` for a metric with no value); in a required column `--` is",
        "quarantined, asking for the value. A dash alone (`-`, Meta Ads Manager's mark in its ranking",
        "columns, which no contract column holds) is no missing value: in a number column it is",
        "quarantined, asking to leave the cell empty or write the number. `NA`, `N/A`, `null` and",
        "`#N/A` are text (a client may be called NA; in a number column they are quarantined as not a",
        "number). Values of enumerated columns are matched case-insensitively. A text value that is a",
        "number in scientific notation (`1.21143E+15`: an id or reference saved by Excel, its digits",
        "lost) is quarantined.",
        "",
        "Thousands separators are read in whole numbers only, and only as commas grouping the digits in",
        'threes, as ads platforms write counts from 1,000 on (`"6,114"`, `"1,755,879"`): a first group of',
        "one to three digits not starting with 0, then groups of exactly three. A count has no decimals, so",
        "such a comma has no other reading. Any other separator in a whole number is quarantined, the",
        "reason naming its shape: `1.234` (a thousands separator in some exports, a decimal point in",
        "others), `1,23`, `0,500` or `12,3456` (not grouped in threes: a decimal comma or a typo), `6,114.5`",
        "(a fraction). A decimal (an amount, a quantity, a rate) takes no thousands separator: `1,234` or",
        "`0,200` is 1234 and 200 with a thousands separator but 1.234 and 0.2 with a decimal comma (a",
        'Russian-locale Google Ads account writes `"0,19"` and `"1,14"`), and an amount misread a',
        "thousandfold would reconcile without a word; such a value is quarantined as ambiguous. `1,234.56`",
        "has one reading, yet it stays quarantined: reading it while refusing `1,234` would make an amount",
        "load or not by whether it has cents, and the amounts the contract takes from ads platforms (Google",
        "Ads' Cost) come without separators. Write amounts in plain digits with a dot (1234.56).",
        "",
        "Every value has a range that every model can compute with; a row with a value outside it is",
        f"quarantined with the range in the reason: amounts below {contract.MAX_ABS_DECIMAL:,} in absolute",
        f"value (at most 4 decimals), whole numbers below {contract.MAX_ABS_INTEGER:,}, dates and timestamps",
        f"from {contract.MIN_DATE} to {contract.MAX_DATE}. A negative number in a column that does not say",
        "what a negative means is quarantined too (it does not stop the run), and so is a text value",
        "holding a NUL byte (a binary or damaged export). Tighter ranges and rules across columns are",
        "listed per entity.",
        "",
        "An amount in a row that carries its currency has that currency's range, tighter for a currency",
        "worth more than a yen: the models convert amounts between currencies (a USD order against a JPY",
        "invoice, a reporting currency of JPY), multiplying by the ratio of two rates, and the result must",
        f"stay one they compute with. The ranges ({contract.currency_range(_money_limits())}, in absolute",
        f"value) convert into every traded currency below {contract.MAX_ABS_CONVERTED:,} at the seeded",
        "rates; a dbt test on `seeds/fx_rates.csv` stops the build if a rate breaks that.",
        "",
        "Some rows parse and still cannot be right; each is quarantined with a reason that names the",
        "values that disagree (since 2.9.0), or, where a real export may hold it, loaded and named:",
        "",
        "- A timestamp whose time of day is cut off (`2026-01-08T04:`, `2026-01-08T04:45:`) is quarantined:",
        "  it read as 04:00:00 and 04:45:00, and a version decides which row of a record wins. Hours and",
        "  minutes, and seconds if any, are two digits each (`2026-01-08 04:45` is whole).",
        "- An invoice or credit note bills whole smallest units of its currency: an amount with more",
        f"  decimals ({contract.minor_units_said()}) is quarantined (`1000.50` JPY). Spend, unit",
        "  prices, quantities and rates keep up to 4 decimals: ad platforms report fractions of a cent.",
        "  Orders are not checked: a CRM's amount is a booked figure, not a billed one.",
        "- An invoice whose `net_amount + tax_amount` differs from `total_amount` by more than one",
        "  smallest unit of its currency (0.01, 1 in JPY) is quarantined: rounding each of the three on",
        "  its own moves them apart by one unit at most, so a larger gap means one of them is wrong, and",
        "  matching on it would reconcile an amount nobody billed.",
        "- An invoice whose `due_date` is before its `issue_date` loads, and `recon ingest` and",
        "  `raw.ingestion_log.message` name its rows: no model reads the due date, a re-issued invoice may",
        "  keep its first one, and quarantining it would hold a billed invoice out of matching.",
        "",
        "Totals formed from many rows keep the same range in their currency: a campaign whose delivery",
        "rows or platform credits, an invoice whose lines, or a project whose deliverables add up (in",
        "absolute value) past it is held out of matching, and an order whose matched records add up past",
        "the order currency's range is held out of the reconciled dataset; each is raised as",
        "`amount_out_of_range`, its rows stay loaded and the run goes on (docs/exceptions.md). Raw is",
        "append-only and ingest does not check loaded rows again: an order, invoice or credit note with a",
        "row past its currency's range loaded under an older contract (before 2.7.0 every currency had",
        "10^12) is held out of staging and raised the same way; restating its file releases it.",
    ]
    for source, about in contract.SOURCES.items():
        lines += ["", f"## `{source}` — {about}"]
        for ent in (e for e in contract.ENTITIES if e.source == source):
            lines += [
                "",
                f"### `{source}/{ent.name}` → `raw.{ent.table}`",
                "",
                f"{ent.description} Natural key: `{', '.join(ent.key)}`. Delivery: `{ent.delivery}`.",
                "",
                "| column | type | required | meaning | example |",
                "| --- | --- | --- | --- | --- |",
            ]
            for c in ent.columns:
                meaning = c.description
                if c.allowed:
                    meaning += " One of: " + ", ".join(f"`{a}`" for a in c.allowed) + "."
                if c.kind in ("decimal", "integer"):
                    negative = c.negative or "not expected (the row is quarantined)"
                    meaning += f" Negative: {negative}."
                if c.max_abs:
                    meaning += f" Range: {contract.column_range(c)}."
                elif contract.currency_limits(c, ent):
                    meaning += f" Range: {contract.currency_range(contract.currency_limits(c, ent))} (since v2.7.0)."
                if c.since != "1.0.0":
                    meaning += f" (since v{c.since})"
                lines.append(f"| `{c.name}` | {c.kind} | {'yes' if c.required else 'no'} | {meaning} | `{c.example}` |")
            quarantining = [rule for rule in ent.rules if not rule.flag_only]
            flagging = [rule for rule in ent.rules if rule.flag_only]
            if quarantining:
                lines += ["", "Rows are also quarantined when:", ""]
                lines += [f"- {rule.reason.split(';')[0]} (named column `{rule.column}`)." for rule in quarantining]
            if flagging:
                lines += [
                    "",
                    "Rows load but are named in the ingestion log (`recon ingest`, raw.ingestion_log) when:",
                    "",
                ]
                lines += [f"- {rule.reason.split(';')[0]}." for rule in flagging]
    lines += ["", "## Versions", "", "| version | change |", "| --- | --- |"]
    lines += [f"| {version} | {change} |" for version, change in contract.CONTRACT_HISTORY]
    lines += [
        "",
        "## Columns added at ingestion",
        "",
        "| column | meaning |",
        "| --- | --- |",
    ]
    lines += [f"| `{n}` | {d} |" for n, d in META_DESCRIPTIONS.items()]
    return "\n".join(lines) + "\n"


def _money_limits() -> dict[int, tuple[str, ...]]:
    orders = next(e for e in contract.ENTITIES if e.name == "orders")
    return contract.currency_limits(next(c for c in orders.columns if c.name == "amount"), orders)


def amount_limit_macro() -> str:
    """The dbt macro giving an amount's range in its currency (contract.AMOUNT_LIMITS), for
    the totals the models form from many rows."""
    whens = "\n".join(
        f"        when '{currency}' then cast({min(limit, contract.MAX_ABS_DECIMAL)} as decimal(38, 4))"
        for currency, limit in contract.AMOUNT_LIMITS.items()
    )
    return (
        "{#- Rendered from orchestration/contract.py (AMOUNT_LIMITS) by `recon contract --write`: edit the\n"
        "    contract, not this file. The range (exclusive, in absolute value) of an amount in `currency`: at\n"
        "    these limits every amount converts into every traded currency below\n"
        f"    {contract.MAX_ABS_CONVERTED:,} at the seeded rates\n"
        "    (tests/reference/assert_fx_rates_keep_amount_limits.sql). A null or unknown currency (nothing is\n"
        "    converted) has the general range,\n"
        f"    {contract.MAX_ABS_DECIMAL:,}. -#}}\n"
        "{% macro recon_amount_limit(currency) -%}\n"
        "    case upper({{ currency }})\n"
        f"{whens}\n"
        f"        else cast({contract.MAX_ABS_DECIMAL} as decimal(38, 4))\n"
        "    end\n"
        "{%- endmacro %}\n"
        "\n"
        "{#- What every amount, converted into any traded currency, stays below (the singular test's bound). -#}\n"
        "{% macro recon_max_abs_converted() -%}\n"
        f"    cast({contract.MAX_ABS_CONVERTED} as decimal(38, 4))\n"
        "{%- endmacro %}\n"
        "\n"
        "{#- The columns of a raw table whose amounts have the range of the row's currency: a row\n"
        "    loaded under an older contract with one past it is held out of staging\n"
        "    (recon_hold_out_past_amount_range) and raised as amount_out_of_range. -#}\n"
        "{% macro recon_amount_columns(table_name) -%}\n"
        f"    {{{{ return({_amount_columns()!r}.get(table_name, [])) }}}}\n"
        "{%- endmacro %}\n"
    )


def _amount_columns() -> dict[str, list[str]]:
    """Per raw table, its columns with a per-currency range (contract.currency_limits)."""
    out = {}
    for ent in contract.ENTITIES:
        columns = [col.name for col in ent.columns if contract.currency_limits(col, ent)]
        if columns:
            out[ent.table] = columns
    return out


def rendered_files(project_dir: Path = PROJECT_DIR) -> dict[Path, str]:
    from orchestration import policy_docs

    files = {
        project_dir / "docs" / "landing_contract.md": contract_markdown(),
        project_dir / "docs" / "exceptions.md": policy_docs.exceptions_markdown(project_dir),
        project_dir / "macros" / "contract" / "recon_amount_limit.sql": amount_limit_macro(),
    }
    for source in contract.SOURCES:
        files[project_dir / "models" / "staging" / source / f"_{source}__sources.yml"] = sources_yaml(source)
    return files


def stale_files(project_dir: Path = PROJECT_DIR) -> list[Path]:
    return [p for p, text in rendered_files(project_dir).items() if not p.exists() or p.read_text() != text]


def write_files(project_dir: Path = PROJECT_DIR) -> list[Path]:
    written = []
    for path, text in rendered_files(project_dir).items():
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            written.append(path)
    return written
