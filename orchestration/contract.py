"""The landing contract: what each source system may drop, column by column.

This module is the single source of truth for the raw layer. Ingestion validates
against it, the dbt source declarations (`models/staging/*/_*__sources.yml`) and the
human documentation (`docs/landing_contract.md`) are rendered from it by
`recon contract --write`, and a test fails when those files drift from it.

Bump ``CONTRACT_VERSION`` whenever a column is added, removed or changes meaning.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CONTRACT_VERSION = "2.9.0"

# What changed, newest first. Additive changes keep older files loading: a column that
# a file lacks is loaded as null unless it is required.
CONTRACT_HISTORY: tuple[tuple[str, str], ...] = (
    (
        "2.9.0",
        "A file that looks truncated (an interrupted download or upload) is rejected whole, naming its last "
        "line: a CSV or JSON Lines file whose last line has no line break after it and is no whole record "
        "(fewer fields than the header; cut JSON), or a Parquet file without its end. The CSV's cut row was "
        "quarantined as a footer and the rest loaded: a restatement cut short withdrew every record past "
        "the cut. A report's footer line (a date/time stamp or a note, every other cell empty) is "
        "quarantined as a footer, not as a record to fill in. A quarantined row's reason names every "
        "column that is wrong, not only the first. A timestamp with a time of day in a date column (a "
        'Parquet timestamp not at midnight) is named as such, not as "not a date".'
        " Rows that parsed and still could not be right are quarantined, each reason naming the values: a "
        "timestamp whose time of day is cut off (2026-01-08T04: and 2026-01-08T04:45: loaded as 04:00:00 and "
        "04:45:00); an invoice whose net_amount + tax_amount differs from its total_amount by more than the "
        "currency's smallest unit (0.01, 1 in JPY); an invoice or credit note amount with more decimals than "
        "its currency has (1000.50 JPY). A row without a version (an invoice without updated_at) whose key a "
        "current row holds with a version and other values is quarantined: staging keeps the latest version, "
        "so a correction re-sent without updated_at loaded and was never used; send it with a later one. An "
        "invoice due before it is issued loads, and the ingestion log names it. Rows loaded before stay "
        "loaded; `recon ingest --again PATH` checks a file again.",
    ),
    (
        "2.8.0",
        "The files of an entity's folder that arrive in one ingest are read in the order they were exported "
        "(the last date in the path, else the modification time; then the modification time, then the "
        "path), no longer by path alone: of two copies of one export, the one written first loads and the "
        "other is the duplicate (`invoices (1).csv` sorted before `invoices.csv` and was loaded as the "
        "original), and an invoice exported again under a new id is the copy in the later-dated file. "
        "An order, invoice or credit note with a row past its currency's range loaded under an older "
        "contract (raw is append-only, and such a row could overflow a conversion) is held out of staging "
        "and raised as `amount_out_of_range`; its rows stay loaded and counted.",
    ),
    (
        "2.7.0",
        "An amount in a row that carries its currency has that currency's range: below 10^10 in USD, EUR, "
        "GBP, CAD, AUD and CHF, 10^11 in SEK, 10^12 in JPY (it was 10^12 in every currency). Converted into "
        "another currency, an amount is multiplied by the ratio of their rates: 999,999,999,999 GBP is about "
        "2 x 10^14 JPY, which overflowed the models and stopped every run. Such rows are quarantined with "
        "the range in the reason. A total formed from many rows (a campaign, an invoice, a project, an "
        "order's legs) past its currency's range is held out and raised as `amount_out_of_range`. Rows "
        "loaded before keep loaded; no real export is known to hold such an amount.",
    ),
    (
        "2.6.0",
        "A whole number may group its digits by commas in threes (6,114 or 1,755,879, as Google Ads writes "
        "impressions and clicks); such rows were quarantined for thousands separators. `--` in an optional "
        "number column (Google Ads' mark for a metric with no value) is a missing value; such rows were "
        "quarantined as not a number, and in a required column they still are, asking for the value. "
        "Decimals still take no thousands separator: 1,234 or 0,200 in one is quarantined as ambiguous (a "
        "thousands separator or a decimal comma). `recon ingest --again PATH` loads files quarantined before.",
    ),
    (
        "2.5.0",
        "An entity may be declared `delivery: full` (each file a complete export, as a CRM's nightly "
        "export under a new dated name): a new file supersedes every earlier batch of the entity, so a "
        "record missing from the newest export is withdrawn; a file older than the newest export loaded "
        "(by the date in its name, else when it landed) withdraws nothing. Every entity stays "
        "`incremental` unless declared: files load as before.",
    ),
    (
        "2.4.0",
        "A row whose natural key and version (raw.version_columns: updated_at of orders and invoices) a "
        "current row of another file already holds with other values is quarantined, naming that file; "
        "the later file's values replaced the earlier ones in silence. Send a change with a new version, "
        "or a correction of the earlier file at its path (a restatement).",
    ),
    (
        "2.3.0",
        "A UTC offset after a space (2026-11-03 09:00:00 +0200, as strftime's %z writes it) is read as the "
        "offset; such rows were quarantined as not a timestamp. A CSV line with more or fewer fields than "
        "the header (a totals footer, a value holding an unquoted comma) is quarantined on its own; it "
        "rejected the whole file. A row whose first value or key is a totals word (Total, Grand Total, "
        "Subtotal, Sum) is quarantined as a totals or summary row; it was quarantined as a record with "
        "empty required values. A copy of a loaded file in a folder that names no entity (billing/invoice/) "
        "is rejected for the folder; it was logged as a duplicate.",
    ),
    (
        "2.2.0",
        "A timestamp whose zone is an abbreviation (BST, IST, AST, EDT) is quarantined: abbreviations are "
        "ambiguous and were read as the wrong zone (BST as Bangladesh); write an offset or an IANA name. "
        "A text value that is a number in scientific notation (1.21143E+15, an id Excel saved) is "
        "quarantined: its digits are lost. Rows of one file sharing a natural key (and version) with "
        "different values are quarantined, naming the rows (they stopped the run at the raw gate).",
    ),
    (
        "2.1.0",
        "Every value has a range every model can compute with: amounts below 10^12 in absolute value, "
        "whole numbers below 10^12, dates and timestamps within 2000-01-01..2099-12-31, quantities below "
        "10^9 and quantity × unit value below 10^12; service periods must not end before they start; a "
        "negative value in a column that gives negatives no meaning is quarantined (it no longer stops the "
        "run); only an empty field is missing (`NA`, `null`, `N/A` are text). Rows outside these ranges "
        "are quarantined with the reason.",
    ),
    (
        "2.0.0",
        "crm/clients (client master: legal and trading names, aliases); orders: order_date, po_number; "
        "delivery: account_name, account_timezone, negative spend is a platform credit; invoices: tax_rate, "
        "payment_terms; invoice lines: negative amounts are discounts or credits; the meaning of a negative "
        "value is stated per column. All additions are optional: 1.0.0 files still load.",
    ),
    (
        "1.0.0",
        "First contract: orders, leads, delivery, credits, lead forms, invoices, lines, credit notes, deliverables.",
    ),
)

# ISO 4217 codes the agency trades in. Anything else is quarantined at ingestion:
# an unknown code cannot be converted to the reporting currency.
CURRENCIES: tuple[str, ...] = ("USD", "EUR", "GBP", "CAD", "AUD", "CHF", "SEK", "JPY")

# Column kinds and how ingestion parses them. Raw tables store the parsed value, so a
# row either parses in full or is quarantined with its original text.
KIND_SQL_TYPE = {
    "string": "VARCHAR",
    "decimal": "DECIMAL(18, 4)",
    "integer": "BIGINT",
    "date": "DATE",
    "timestamp": "TIMESTAMP",  # always UTC: offsets are converted, naive values are UTC
    "currency": "VARCHAR",
}

# Ranges every model can compute with. A value the contract accepts must never overflow a
# model (DECIMAL(18, 4) holds 14 integer digits; products with constants and FX rates need
# headroom), and an implausible date (year 9999) must not sit pending forever. Values
# outside are quarantined at ingestion with the range in the reason.
MAX_ABS_DECIMAL = 10**12  # exclusive: up to 999,999,999,999.9999
MAX_ABS_INTEGER = 10**12
MIN_DATE, MAX_DATE = "2000-01-01", "2099-12-31"

# The range of an amount in each currency (exclusive, in absolute value): tighter than
# MAX_ABS_DECIMAL for a currency worth more than a yen. The models convert amounts between
# currencies (a USD order against a JPY invoice, a reporting currency of JPY), multiplying
# by the ratio of two rates: up to about 208 (GBP to JPY) at the seeded rates, so one
# 999,999,999,999 GBP amount became 2 x 10^14 JPY, past DECIMAL(18, 4), and stopped every
# run. At these limits every amount converts into every currency below 10^13 (a singular
# dbt test checks the seeded rates keep that: tests/reference/assert_fx_rates_keep_amount_limits.sql).
# Rendered into macros/contract/recon_amount_limit.sql for totals formed in the models.
AMOUNT_LIMITS: dict[str, int] = {
    "USD": 10**10,
    "EUR": 10**10,
    "GBP": 10**10,
    "CAD": 10**10,
    "AUD": 10**10,
    "CHF": 10**10,
    "SEK": 10**11,
    "JPY": 10**12,
}
# What a converted amount stays below, at the limits above and the seeded rates.
MAX_ABS_CONVERTED = 10**13

# Decimals of each currency's smallest unit (ISO 4217 minor unit): a cent in most, none in JPY
# (KWD or BHD, with three, would say 3 here when added). An invoice or credit note bills whole
# smallest units, so its amounts have no more decimals than this, and its net + tax may differ
# from its total by one smallest unit at most (each rounded on its own).
MINOR_UNITS: dict[str, int] = {
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "CAD": 2,
    "AUD": 2,
    "CHF": 2,
    "SEK": 2,
    "JPY": 0,
}
if set(MINOR_UNITS) != set(CURRENCIES) or set(AMOUNT_LIMITS) != set(CURRENCIES):  # pragma: no cover
    raise ValueError("every currency of CURRENCIES needs its MINOR_UNITS and AMOUNT_LIMITS")


def smallest_unit_sql(currency: str) -> str:
    """SQL: the smallest unit of the currency in ``currency`` (0.01; 1 in JPY), null for a
    currency the contract lacks (that column's own check quarantines it)."""
    whens = " ".join(f"when '{c}' then cast('{10**-n:.{n}f}' as DECIMAL(18, 4))" for c, n in MINOR_UNITS.items())
    return f"(case upper({currency}) {whens} end)"


def smallest_units_per_major_sql(currency: str) -> str:
    """SQL: how many smallest units make one of the currency in ``currency`` (100; 1 in JPY),
    null for a currency the contract lacks. An amount times it is whole when the amount bills
    whole smallest units (exact: a DECIMAL times an integer stays a DECIMAL)."""
    whens = " ".join(f"when '{c}' then {10**n}" for c, n in MINOR_UNITS.items())
    return f"(case upper({currency}) {whens} end)"


def minor_units_said() -> str:
    """The minor units as the docs and reasons say them: "2 decimals in USD, ...; none in JPY"."""
    by_digits: dict[int, list[str]] = {}
    for currency, digits in MINOR_UNITS.items():
        by_digits.setdefault(digits, []).append(currency)
    return ", ".join(
        f"{'no decimals' if n == 0 else f'{n} decimals'} in {', '.join(cs)}"
        for n, cs in sorted(by_digits.items(), reverse=True)
    )


KIND_FORMAT = {
    "string": "text",
    "decimal": "plain decimal, dot separator, at most 4 decimals, no thousands separator (1234.50)",
    "integer": "whole number (42); its digits may be grouped by commas in threes (6,114 or 1,755,879)",
    "date": "ISO date YYYY-MM-DD (2026-03-31)",
    "timestamp": (
        "ISO 8601; an offset (-12:00 to +14:00, also after a space: 2026-03-31 15:05:00 +0100) or an IANA "
        "zone name (Europe/London) is converted to UTC, no offset means UTC (2026-03-31T14:05:00Z); "
        "a zone abbreviation (BST, IST) is ambiguous and quarantined"
    ),
    "currency": "ISO 4217 code, one of " + ", ".join(CURRENCIES),
}


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    required: bool
    description: str
    example: str
    allowed: tuple[str, ...] = ()  # for enumerations: accepted values, case-insensitive
    # For numbers: what a negative value means. Empty: negatives are not expected; ingestion
    # quarantines the row (the source sent something we cannot read) and the run goes on.
    negative: str = ""
    since: str = "1.0.0"  # contract version that added the column
    # For numbers: the exclusive bound on the absolute value, when tighter than the kind's.
    max_abs: int | None = None

    @property
    def sql_type(self) -> str:
        return KIND_SQL_TYPE[self.kind]


@dataclass(frozen=True)
class RowRule:
    """A check across columns of one row; a row that breaks it is quarantined.

    ``condition`` is SQL over the parsed values, with each column written ``{name}``;
    it is true for a good row (nulls count as good: emptiness is the columns' own check).
    It comes from this module, never from data.
    """

    column: str  # the column the quarantine names
    condition: str
    reason: str  # ``{name}`` in it after the first ``;`` is the row's text of that column
    # True: the row loads and the ingestion log names it (a value the models do not compute
    # with, that may be right in a real export); False: the row is quarantined.
    flag_only: bool = False


# How an entity's files arrive, and what a file that lacks a record means.
DELIVERY_MODES: dict[str, str] = {
    "incremental": (
        "each file adds or changes records; a record missing from a new file stays as the earlier file "
        "gave it, and leaves only when that file is restated (re-dropped at its path) without it"
    ),
    "full": (
        "each file is a complete export of the entity (a CRM's nightly export under a new dated name): "
        "the newest one supersedes every earlier batch of the entity, so a record missing from it is "
        "withdrawn. Newest means the latest date (YYYY-MM-DD, YYYYMMDD or YYYY_MM_DD) in the file's "
        "landing path, else its modification time when it landed; a file older than the newest loaded "
        "is kept in raw but superseded on arrival and withdraws nothing"
    ),
}


@dataclass(frozen=True)
class Entity:
    source: str
    name: str
    description: str
    key: tuple[str, ...]
    columns: tuple[Column, ...] = field(default_factory=tuple)
    rules: tuple[RowRule, ...] = ()
    # How its files arrive (DELIVERY_MODES): "incremental", each file adds or changes
    # records and a record leaves only when its own file is restated without it; or "full",
    # each file is a complete export that supersedes every earlier batch of the entity.
    delivery: str = "incremental"

    def __post_init__(self) -> None:
        if self.delivery not in DELIVERY_MODES:
            raise ValueError(
                f"{self.source}/{self.name}: delivery {self.delivery!r} is not one of {', '.join(DELIVERY_MODES)}; "
                "declare delivery='full' for a source that sends a complete export each time"
            )

    @property
    def table(self) -> str:
        """Raw table name, ``<source>__<entity>`` in the ``raw`` schema."""
        return f"{self.source}__{self.name}"

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def _c(name, kind, required, description, example, allowed=(), negative="", since="1.0.0", max_abs=None):
    return Column(name, kind, required, description, example, tuple(allowed), negative, since, max_abs)


def currency_limits(col: Column, ent: Entity) -> dict[int, tuple[str, ...]]:
    """For an amount column of an entity that carries its currency: each limit and the
    currencies it holds for (AMOUNT_LIMITS), smallest first. Empty for any other column (a
    quantity, a rate, an amount whose currency is another row's)."""
    if col.kind != "decimal" or col.max_abs or col.name.endswith("_rate") or "currency" not in ent.column_names:
        return {}
    out: dict[int, tuple[str, ...]] = {}
    for currency, limit in sorted(AMOUNT_LIMITS.items(), key=lambda item: item[1]):
        out[min(limit, MAX_ABS_DECIMAL)] = out.get(min(limit, MAX_ABS_DECIMAL), ()) + (currency,)
    return out


def currency_range(limits: dict[int, tuple[str, ...]]) -> str:
    """The limits of currency_limits as a sentence part: "below 10,000,000,000 in USD, EUR;
    below 1,000,000,000,000 in JPY" (in absolute value)."""
    return "; ".join(f"below {limit:,} in {', '.join(currencies)}" for limit, currencies in limits.items())


def column_range(col: Column) -> str:
    """The accepted range of a number or date column, as the docs and messages say it."""
    if col.kind in ("decimal", "integer"):
        bound = col.max_abs or (MAX_ABS_DECIMAL if col.kind == "decimal" else MAX_ABS_INTEGER)
        low = "0" if not col.negative else f"-{bound:,} (exclusive)"
        return f"{low} to {bound:,} (exclusive)"
    if col.kind in ("date", "timestamp"):
        return f"{MIN_DATE} to {MAX_DATE}"
    return ""


SERVICE_PERIOD = RowRule(
    "service_end_date",
    "{service_end_date} >= {service_start_date}",
    "service_end_date is before service_start_date; correct the service period and re-drop the file",
)
MAX_QUANTITY = 10**9


def whole_smallest_units(column: str) -> RowRule:
    """An amount of a billed document (an invoice, a credit note) in whole smallest units of
    its currency: no fraction of a cent, no fraction of a yen. (An ad platform's spend or a
    unit price may well carry fractions of a cent; those columns have no such rule.)"""
    return RowRule(
        column,
        f"{{{column}}} * {smallest_units_per_major_sql('{currency}')} "
        f"= floor({{{column}}} * {smallest_units_per_major_sql('{currency}')})",
        f"{column} has more decimals than its currency has ({minor_units_said()}), and a billing document "
        f"bills whole units; this row has {column} {{{column}}} in {{currency}}: correct the amount in the "
        "billing export (or the currency, if it is not the amount's) and re-drop the file",
    )


INVOICE_TOTAL = RowRule(
    "total_amount",
    f"abs({{net_amount}} + {{tax_amount}} - {{total_amount}}) <= {smallest_unit_sql('{currency}')}",
    "net_amount + tax_amount differs from total_amount by more than the currency's smallest unit (0.01, "
    "1 in JPY: what rounding each of the three on its own can make); this row has net_amount {net_amount} + "
    "tax_amount {tax_amount} against total_amount {total_amount} in {currency}, so one of them is wrong: correct "
    "it in the billing export and re-drop the file",
)
DUE_AFTER_ISSUE = RowRule(
    "due_date",
    "{due_date} >= {issue_date}",
    "due_date is before issue_date (loaded as given: no model reads the due date, and a re-issued invoice "
    "may keep its first due date); this row has issue_date {issue_date} and due_date {due_date}: check the "
    "dates in the billing export and re-drop the file if they are wrong",
    flag_only=True,
)


SOURCES: dict[str, str] = {
    "crm": "The agency's CRM: what was sold (orders) and who asked (leads).",
    "ads": "Ad platforms (search, social, programmatic): what was delivered and spent.",
    "billing": "The billing / accounting system: what was invoiced and credited.",
    "fulfilment": "Project and fulfilment tools: what work was completed.",
}

V2 = "2.0.0"

ORDER_STATUSES = ("draft", "booked", "active", "completed", "cancelled")
INVOICE_STATUSES = ("draft", "issued", "paid", "partially_paid", "overdue", "void")

ENTITIES: tuple[Entity, ...] = (
    Entity(
        "crm",
        "clients",
        "Client master: one row per client account, with every name the client goes by.",
        key=("client_id",),
        columns=(
            _c("client_id", "string", True, "CRM identifier of the client account.", "C-0042", since=V2),
            _c("legal_name", "string", True, "Registered legal name.", "Patricia Williams Furniture Ltd", since=V2),
            _c(
                "trading_name",
                "string",
                False,
                "Name the client trades and is billed under.",
                "Williams Furniture",
                since=V2,
            ),
            _c(
                "aliases",
                "string",
                False,
                "Other names seen on invoices, campaigns or projects, separated by `;`.",
                "PW Furniture; Williams Furn.",
                since=V2,
            ),
            _c("country", "string", False, "ISO 3166 country code.", "GB", since=V2),
            _c("billing_currency", "currency", False, "Currency the client is billed in.", "GBP", since=V2),
        ),
    ),
    Entity(
        "crm",
        "orders",
        "Insertion orders, retainers and content packages as sold: one row per order version.",
        key=("order_id",),
        columns=(
            _c("order_id", "string", True, "CRM identifier of the order.", "SO-000123"),
            _c("client_id", "string", True, "CRM identifier of the client account.", "C-0042"),
            _c("client_name", "string", True, "Client name as recorded in the CRM.", "Acme Widgets Ltd"),
            _c(
                "order_ref",
                "string",
                False,
                "Order reference / PO number the client expects on invoices.",
                "PO-2026-000123",
            ),
            _c(
                "order_type",
                "string",
                True,
                "What was sold.",
                "insertion_order",
                ("insertion_order", "retainer", "content_package"),
            ),
            _c(
                "po_number",
                "string",
                False,
                "The client's purchase-order number, when it differs from `order_ref`; invoices may quote either.",
                "4500012345",
                since=V2,
            ),
            _c("amount", "decimal", True, "Booked amount, net of tax, in `currency`.", "12500.00"),
            _c("currency", "currency", True, "Currency of `amount`.", "EUR"),
            _c("service_start_date", "date", True, "First day of the service period.", "2026-03-01"),
            _c("service_end_date", "date", True, "Last day of the service period.", "2026-03-31"),
            _c("order_date", "date", False, "Signature date of the order.", "2026-02-14", since=V2),
            _c("account_manager", "string", False, "Owner of the client relationship.", "j.doe"),
            _c("status", "string", True, "Order status.", "booked", ORDER_STATUSES),
            _c("updated_at", "timestamp", True, "When the CRM last changed the order.", "2026-02-20T09:30:00Z"),
        ),
        rules=(SERVICE_PERIOD,),
    ),
    Entity(
        "crm",
        "leads",
        "Leads recorded in the CRM (from forms, sales, imports).",
        key=("lead_id",),
        columns=(
            _c("lead_id", "string", True, "CRM identifier of the lead.", "L-0000987"),
            _c("email", "string", False, "Contact e-mail address.", "ana@example.com"),
            _c("full_name", "string", False, "Contact name.", "Ana Ruiz"),
            _c("client_id", "string", False, "Client the lead was generated for.", "C-0042"),
            _c("campaign_id", "string", False, "Ad campaign credited with the lead.", "CMP-000123-1"),
            _c("owner", "string", False, "Sales owner of the lead.", "j.doe"),
            _c("created_at", "timestamp", True, "When the lead was created in the CRM.", "2026-03-02T10:00:00Z"),
        ),
    ),
    Entity(
        "ads",
        "delivery",
        "Daily delivery per campaign as reported by the ad platform.",
        key=("platform", "campaign_id", "delivery_date"),
        columns=(
            _c("platform", "string", True, "Ad platform.", "meta"),
            _c("account_id", "string", True, "Advertiser account on the platform.", "act_1001"),
            _c("account_name", "string", False, "Advertiser account name on the platform.", "Acme - UK", since=V2),
            _c(
                "account_timezone",
                "string",
                False,
                "IANA time zone of the account; `delivery_date` is a day in it.",
                "Europe/London",
                since=V2,
            ),
            _c("campaign_id", "string", True, "Platform campaign identifier.", "CMP-000123-1"),
            _c(
                "campaign_name",
                "string",
                True,
                "Campaign name; often, not always, carries the order reference.",
                "Acme | PO-2026-000123 | Spring",
            ),
            _c("delivery_date", "date", True, "Day of delivery (platform time zone, as reported).", "2026-03-05"),
            _c("impressions", "integer", False, "Impressions served that day.", "15320"),
            _c("clicks", "integer", False, "Clicks that day.", "210"),
            _c(
                "spend",
                "decimal",
                True,
                "Spend that day in `currency`.",
                "410.25",
                negative="a platform credit or refund booked on that day; it reduces the campaign's delivered spend",
            ),
            _c("currency", "currency", True, "Currency of `spend`.", "EUR"),
        ),
    ),
    Entity(
        "ads",
        "credits",
        "Credits granted by the ad platform (make-goods, billing adjustments).",
        key=("credit_id",),
        columns=(
            _c("credit_id", "string", True, "Platform identifier of the credit.", "CR-000045"),
            _c("platform", "string", True, "Ad platform.", "google_ads"),
            _c("account_id", "string", True, "Advertiser account on the platform.", "act_1001"),
            _c("campaign_id", "string", False, "Campaign the credit applies to, when known.", "CMP-000123-1"),
            _c("credit_date", "date", True, "Day the credit was granted.", "2026-04-02"),
            _c("amount", "decimal", True, "Credit amount (positive) in `currency`.", "120.00"),
            _c("currency", "currency", True, "Currency of `amount`.", "EUR"),
            _c("reason", "string", False, "Platform's reason text.", "under-delivery make-good"),
        ),
    ),
    Entity(
        "ads",
        "lead_forms",
        "Lead-form submissions captured on the ad platform.",
        key=("submission_id",),
        columns=(
            _c("submission_id", "string", True, "Platform identifier of the submission.", "SUB-0001234"),
            _c("platform", "string", True, "Ad platform.", "linkedin"),
            _c("campaign_id", "string", True, "Campaign that captured the lead.", "CMP-000123-1"),
            _c("form_id", "string", False, "Lead form identifier.", "F-77"),
            _c("email", "string", False, "E-mail typed into the form.", "ana@example.com"),
            _c("full_name", "string", False, "Name typed into the form.", "Ana Ruiz"),
            _c("submitted_at", "timestamp", True, "Submission time.", "2026-03-02T09:58:12Z"),
        ),
    ),
    Entity(
        "billing",
        "invoices",
        "Invoice headers from the billing system.",
        key=("invoice_id",),
        columns=(
            _c("invoice_id", "string", True, "Billing identifier of the invoice.", "INV-0004567"),
            _c("invoice_number", "string", False, "Human-facing invoice number.", "2026-004567"),
            _c("client_name", "string", True, "Client name as billed (free text).", "ACME WIDGETS LIMITED"),
            _c("reference", "string", False, "Order reference / PO quoted on the invoice.", "PO 2026 000123"),
            _c("issue_date", "date", True, "Invoice date.", "2026-04-03"),
            _c("due_date", "date", False, "Payment due date.", "2026-05-03"),
            _c("currency", "currency", True, "Invoice currency.", "EUR"),
            _c("net_amount", "decimal", True, "Total before tax.", "12500.00"),
            _c("tax_amount", "decimal", True, "Tax total.", "2500.00"),
            _c("total_amount", "decimal", True, "Total including tax.", "15000.00"),
            _c("tax_rate", "decimal", False, "Tax rate applied, as a fraction.", "0.2000", since=V2),
            _c("payment_terms", "string", False, "Payment terms as printed.", "Net 30", since=V2),
            _c(
                "status",
                "string",
                True,
                "Invoice status; void invoices are kept, not deleted.",
                "issued",
                INVOICE_STATUSES,
            ),
            _c(
                "updated_at",
                "timestamp",
                False,
                "When the billing system last changed the invoice.",
                "2026-04-03T08:00:00Z",
            ),
        ),
        rules=(
            *(whole_smallest_units(c) for c in ("net_amount", "tax_amount", "total_amount")),
            INVOICE_TOTAL,
            DUE_AFTER_ISSUE,
        ),
    ),
    Entity(
        "billing",
        "invoice_lines",
        "Invoice lines; a line may quote its own order reference.",
        key=("invoice_id", "line_number"),
        columns=(
            _c("invoice_id", "string", True, "Invoice the line belongs to.", "INV-0004567"),
            _c("line_number", "integer", True, "Position of the line on the invoice.", "1"),
            _c("description", "string", False, "Line text.", "Media buying March 2026"),
            _c("reference", "string", False, "Order reference quoted on the line.", "PO-2026-000123"),
            _c(
                "quantity",
                "decimal",
                False,
                "Quantity billed.",
                "1",
                negative="units returned or credited, on a credit line",
                max_abs=MAX_QUANTITY,
            ),
            _c(
                "unit_price",
                "decimal",
                False,
                "Unit price in the invoice currency.",
                "12500.00",
                negative="a discount or credit line",
            ),
            _c(
                "net_amount",
                "decimal",
                True,
                "Line amount before tax (some billing exports give it including tax: detected per invoice).",
                "12500.00",
                negative="a discount or credit line; it reduces what the invoice bills",
            ),
        ),
        rules=(
            RowRule(
                "unit_price",
                "abs({quantity} * {unit_price}) < 1000000000000",
                "quantity × unit_price is 10^12 or more, beyond what the models can compute with; "
                "check the quantity and unit price and re-drop the file",
            ),
        ),
    ),
    Entity(
        "billing",
        "credit_notes",
        "Credit notes reducing what was invoiced.",
        key=("credit_note_id",),
        columns=(
            _c("credit_note_id", "string", True, "Billing identifier of the credit note.", "CN-000321"),
            _c("invoice_id", "string", False, "Invoice credited, when quoted.", "INV-0004567"),
            _c("client_name", "string", True, "Client name as billed.", "Acme Widgets"),
            _c("reference", "string", False, "Order reference quoted on the credit note.", "PO-2026-000123"),
            _c("issue_date", "date", True, "Credit note date.", "2026-04-20"),
            _c("currency", "currency", True, "Currency of `net_amount`.", "EUR"),
            _c("net_amount", "decimal", True, "Amount credited before tax (positive).", "500.00"),
            _c("reason", "string", False, "Why the credit was issued.", "under-delivery"),
        ),
        rules=(whole_smallest_units("net_amount"),),
    ),
    Entity(
        "fulfilment",
        "deliverables",
        "Deliverables / tasks tracked in project tools.",
        key=("deliverable_id",),
        columns=(
            _c("deliverable_id", "string", True, "Project tool identifier of the deliverable.", "D-0009876"),
            _c("project_id", "string", True, "Project the deliverable belongs to.", "PRJ-0456"),
            _c("project_name", "string", False, "Project name; may carry the client or reference.", "Acme blog Q2"),
            _c("order_ref", "string", False, "Order reference, when the team filled it in.", "PO-2026-000123"),
            _c("client_name", "string", False, "Client as named in the project tool.", "acme"),
            _c("description", "string", False, "What was delivered.", "Blog article 1500 words"),
            _c("quantity", "decimal", True, "Units delivered.", "4", max_abs=MAX_QUANTITY),
            _c("unit_value", "decimal", True, "Value of one unit in `currency`.", "350.00"),
            _c("currency", "currency", True, "Currency of `unit_value`.", "GBP"),
            _c(
                "status",
                "string",
                True,
                "Task status.",
                "completed",
                ("planned", "in_progress", "completed", "cancelled"),
            ),
            _c("completed_at", "timestamp", False, "When the deliverable was completed.", "2026-04-11T16:20:00Z"),
        ),
        rules=(
            RowRule(
                "unit_value",
                "abs({quantity} * {unit_value}) < 1000000000000",
                "quantity × unit_value is 10^12 or more, beyond what the models can compute with; "
                "check the quantity and unit value and re-drop the file",
            ),
        ),
    ),
)

ENTITY_BY_TABLE: dict[str, Entity] = {e.table: e for e in ENTITIES}

FILE_FORMATS = {".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}


def entity(source: str, name: str) -> Entity:
    """Look up an entity, with an error that lists what exists."""
    table = f"{source}__{name}"
    if table not in ENTITY_BY_TABLE:
        names = [f"{e.source}/{e.name}" for e in ENTITIES]
        # A folder one letter off (billing/invoice, crm/order) is named with the one it means.
        from orchestration.identity import close_match

        match = close_match(f"{source}/{name}", names)
        hint = f" (did you mean {match}?)" if match else ""
        raise KeyError(f"unknown landing entity {source}/{name}{hint}; the contract has: {', '.join(names)}")
    return ENTITY_BY_TABLE[table]
