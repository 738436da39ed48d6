"""Demo data generator: realistic, noisy landing files plus the ground truth behind them.

Why it exists: a reconciliation layer is only as good as the mess it can untangle, and
nobody can share real client billing data. This module fabricates what an agency's four
reconciliations see (orders vs invoices, ad delivery vs orders, deliverables vs invoices,
ad lead forms vs CRM leads) with documented, seeded noise, and writes down the truth
(which record belongs to which, and what is wrong with each record) so that matching
rules can be measured instead of eyeballed. ``docs/generator.md`` is the user guide;
``NOISE_RATES`` below is the table it mirrors.

How it scales (10M orders on a laptop):

* Orders are generated in fixed blocks of ``BLOCK_ORDERS``. Every block draws from its own
  ``numpy.random.default_rng([seed, block, stream])``, so blocks need no shared state and
  the output does not depend on ``chunk_size``: ``chunk_size`` only decides how rows are
  split into files and how much is held in memory at once.
* Numbers are drawn with numpy, text is assembled with ``pyarrow.compute``: no per-row
  Python except for the handful of deliberately corrupted rows.
* Files are written chunk by chunk; nothing held in memory grows with the number of orders.
"""

from __future__ import annotations

import calendar
import csv
import json
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from orchestration import contract, settings

GENERATOR_VERSION = "1.0.0"

# Orders per independent random block. Changing it changes every generated value, so it is
# a constant, not a parameter. Ids of rows created per block (invoices, deliverables, ...)
# are ``block * ID_STRIDE + local counter``: unique, increasing, with gaps between blocks.
BLOCK_ORDERS = 10_000
ID_STRIDE = 100_000
ID_WIDTH = 8

# Default noise rates at ``noise=1.0``. Every value is multiplied by ``noise`` and capped
# (see ``effective_rates``). docs/generator.md mirrors this table: keep them in step.
NOISE_RATES: dict[str, float] = {
    # CRM orders (per order)
    "crm_ref_missing": 0.04,  # order has no order_ref in the CRM
    # Billing pattern, one per billable order (mutually exclusive)
    "unbilled": 0.03,  # never invoiced
    "split": 0.04,  # billed in 2-4 invoices that sum to the order
    "consolidated": 0.04,  # share of orders billed together with 1-3 others of the same client
    "partial_billing": 0.03,  # one invoice for 50-95% of the order
    "duplicate_billing": 0.01,  # billed twice in full
    "void_reissue": 0.02,  # wrong invoice voided, correct one reissued
    "fx": 0.03,  # invoiced in another currency
    # Billing extras
    "credit_note": 0.03,  # per single-invoice order: a credit note against the invoice
    "orphan_invoice": 0.01,  # per order: an extra invoice that belongs to no order
    # Invoice text (per invoice header, and per line of consolidated invoices)
    "ref_missing": 0.06,
    "ref_typo": 0.02,
    "ref_format": 0.10,  # spaces, lowercase or dropped prefix: a normaliser fixes these
    "name_variant": 0.25,  # client name differs from the CRM's canonical name
    # Ads (per insertion order)
    "over_delivery": 0.04,  # spend 5-30% above booked
    "under_delivery": 0.06,  # spend 10-50% below booked
    "billed_not_delivered": 0.02,  # also for content/retainers: invoiced, nothing delivered
    "platform_credit": 0.03,  # platform grants a credit on a delivered order
    "campaign_name_no_ref": 0.30,  # campaign name carries no order reference
    "pacing_jitter": 0.01,  # amplitude: on-plan spend lands within +/- this of booked
    # Fulfilment (per content package / retainer)
    "quantity_short": 0.04,  # one deliverable delivered short
    "deliverable_no_ref": 0.30,  # project tool has no order_ref
    # Leads (per lead-form submission, per CRM lead)
    "missing_in_crm": 0.08,
    "duplicate_submission": 0.03,  # same person submits twice, CRM keeps one lead
    "duplicate_crm_lead": 0.03,  # one submission, CRM holds two leads
    "attribution_mismatch": 0.03,  # CRM credits another campaign
    "contact_variant": 0.20,  # e-mail / name case or whitespace differs in the CRM
    # Files and rows (per landing row)
    "duplicate_row": 0.005,  # exact copy re-sent in the late file
    "late_file": 0.02,  # row arrives in the ``_late`` file
    "bad_value": 0.002,  # CSV of orders, invoices, credits: one unparseable value
    "tz_offset": 0.05,  # timestamp written with a non-UTC offset (valid)
}

# Rates that exclude each other are scaled down together when noise pushes their sum past
# MAX_GROUP_SHARE; single rates never exceed MAX_RATE.
EXCLUSIVE_GROUPS: tuple[tuple[str, ...], ...] = (
    ("unbilled", "split", "partial_billing", "duplicate_billing", "void_reissue", "fx"),
    ("ref_missing", "ref_typo", "ref_format"),
    ("over_delivery", "under_delivery", "billed_not_delivered"),
    ("missing_in_crm", "duplicate_submission", "duplicate_crm_lead"),
)
MAX_RATE = 0.5
MAX_GROUP_SHARE = 0.9
# On-plan pacing must stay inside the over/under-delivery thresholds (+5% / -10%).
RATE_CAPS = {"pacing_jitter": 0.04}

# Non-noise mixes (the shape of the business, not errors).
ORDER_TYPES = ("insertion_order", "retainer", "content_package")
ORDER_TYPE_P = (0.55, 0.20, 0.25)
IO, RETAINER, CONTENT = 0, 1, 2
ORDER_STATUS_CHOICES = ("cancelled", "completed", "active", "booked")
ORDER_STATUS_P = (0.03, 0.65, 0.17, 0.15)
INVOICE_STATUS_CHOICES = ("paid", "issued", "overdue", "partially_paid", "void")
INVOICE_STATUS_P = (0.60, 0.25, 0.08, 0.07)
SERVICE_LENGTH_P = (0.5, 0.3, 0.2)  # 1, 2, 3 months
LEAD_GEN_SHARE = 0.30  # insertion orders that run lead-form campaigns
ORGANIC_LEAD_SHARE = 0.10  # CRM leads with no campaign, per form submission

MIXED_FORMATS: dict[str, str] = {
    "crm__orders": "csv",
    "crm__leads": "jsonl",
    "ads__delivery": "parquet",
    "ads__credits": "csv",
    "ads__lead_forms": "jsonl",
    "billing__invoices": "csv",
    "billing__invoice_lines": "csv",
    "billing__credit_notes": "csv",
    "fulfilment__deliverables": "jsonl",
}
FILE_FORMATS = ("mixed", "csv", "parquet", "jsonl")

# Tables that get corrupted rows, and the column each defect kind hits.
BAD_ROW_COLUMNS: dict[str, dict[str, str]] = {
    "crm__orders": {"amount": "amount", "date": "service_start_date", "currency": "currency", "id": "order_id"},
    "billing__invoices": {
        "amount": "net_amount",
        "date": "issue_date",
        "currency": "currency",
        "id": "invoice_id",
    },
    "ads__credits": {"amount": "amount", "date": "credit_date", "currency": "currency", "id": "credit_id"},
}
BAD_KINDS = ("amount", "date", "currency", "id")
BAD_ROW_EFFECT = {
    "crm__orders": "the order is missing from the warehouse",
    "billing__invoices": "the invoice is missing from the warehouse and its lines are orphaned",
    "ads__credits": "the credit is missing from the warehouse",
}
LEGACY_FILE = Path("landing/billing/invoices/invoices_legacy_export.csv")

RECONCILIATIONS = ("orders_invoices", "delivery_orders", "deliverables_invoices", "lead_forms_leads")
LINK_TYPES = (
    "one_to_one",
    "split",
    "consolidated",
    "void",
    "reissue",
    "duplicate",
    "credit_note",
    "multi_campaign",
)
L_ONE, L_SPLIT, L_CONS, L_VOID, L_REISSUE, L_DUP, L_CN, L_MULTI = range(8)

# Billing patterns per order.
P_NORMAL, P_UNBILLED, P_SPLIT, P_PARTIAL, P_DUP, P_VOID, P_FX, P_CONS, P_NONE, P_ORPHAN = range(10)

# --- calendar -----------------------------------------------------------------------------
SERVICE_FIRST_MONTH = (2025 - 1970) * 12  # 2025-01, months since 1970-01
SERVICE_MONTHS = 22  # 2025-01 .. 2026-10
LABEL_FIRST_MONTH = (2024 - 1970) * 12  # month labels and FX cover 2024-01 .. 2027-12
LABEL_MONTHS = 48
_MONTH_START = (
    np.arange(SERVICE_FIRST_MONTH, SERVICE_FIRST_MONTH + SERVICE_MONTHS + 1)
    .astype("datetime64[M]")
    .astype("datetime64[D]")
    .astype(np.int64)
)
SERVICE_LAST_DAY = int(_MONTH_START[-1]) - 1  # 2026-10-31
DAY = 86_400

CURRENCIES = contract.CURRENCIES
_CCY = {c: n for n, c in enumerate(CURRENCIES)}
CLIENT_CCY = ("USD", "EUR", "GBP", "CAD", "AUD", "CHF")
CLIENT_CCY_P = (0.35, 0.30, 0.20, 0.05, 0.05, 0.05)
FX_TARGETS = ("USD", "EUR", "GBP", "CHF", "SEK")
# VAT/GST in basis points by invoice currency; EUR is 19% for GmbH clients, 21% otherwise.
TAX_BP = {"USD": 0, "EUR": 2100, "GBP": 2000, "CAD": 500, "AUD": 1000, "CHF": 810, "SEK": 2500, "JPY": 1000}
EUR_GMBH_TAX_BP = 1900

# Timestamps: UTC "Z" unless a (valid) offset is drawn.
TZ_OFFSETS_MIN = (0, 60, 120, -300, -240, 330, 600)
TZ_SUFFIX = ("Z", "+01:00", "+02:00", "-05:00", "-04:00", "+05:30", "+10:00")

# --- word lists (no commas or quotes: text stays CSV/JSON safe unless noise adds them) -----
NAME_WORD_1 = (
    "Acme Northwind Bluebird Silverline Redwood Ironbridge Brightwater Goldleaf Stonegate Clearview "
    "Harbor Summit Maple Oakridge Riverside Sunrise Evergreen Granite Crescent Pinnacle Lakeshore "
    "Highland Meadow Falcon Orion Atlas Beacon Cobalt Cedar Coral Delta Ember Fjord Glacier Horizon "
    "Indigo Juniper Keystone Lumen Mosaic Nimbus Onyx Polaris Quartz Radiant Sable Tidewater Umber "
    "Vantage Willow Zephyr Aurora Basalt Canyon Driftwood Elmwood Foxglove Galleon Hawthorn Ivory Jade "
    "Kestrel Larkspur Mariner Nordström Ocelot Peregrine Quill Rosewood Saffron Thistle Upland Velvet "
    "Wren Yarrow Zenith Égide Alder Birch Copper"
).split()
NAME_WORD_2 = (
    "Widgets Foods Motors Textiles Pharma Logistics Energy Robotics Furniture Cosmetics Beverages "
    "Outdoor Apparel Software Analytics Health Travel Insurance Realty Dental Optics Audio Games "
    "Petcare Bakery Brewing Coffee Cycles Fitness Garden Hardware Jewelry Kitchens Lighting Marine "
    "Nutrition Organics Paper Plastics Printing Publishing Records Roofing Security Shipping Skincare "
    "Solar Sports Storage Telecom Tiles Tools Toys Vision Water Wellness Wines Yachts Aero Agri Bikes "
    "Cables Ceramics Chemicals Clinics Dairy Drones Fabrics Farms Films Glass Hotels Biotech Leather "
    "Metals Mining Music Pools Rail Seeds Spirits"
).split()
NAME_WORD_3 = (
    ("International", "Intl"), ("Technologies", "Tech"), ("Group", "Grp"), ("Holdings", "Hldgs"),
    ("Industries", "Inds"), ("Solutions", "Sol"), ("Systems", "Sys"), ("Services", "Svcs"),
    ("Partners", "Ptnrs"), ("Brands", "Brds"), ("Manufacturing", "Mfg"), ("Marketing", "Mktg"),
    ("Consulting", "Cnslt"), ("Distribution", "Dist"), ("Enterprises", "Ent"), ("Products", "Prods"),
    ("Trading", "Trdg"), ("Ventures", "Vent"), ("Worldwide", "WW"), ("Associates", "Assoc"),
    ("Company", "Co"), ("Corporation", "Corp"), ("Laboratories", "Labs"), ("Management", "Mgmt"),
    ("Development", "Dev"), ("Engineering", "Eng"), ("Communications", "Comms"), ("Networks", "Nets"),
    ("Resources", "Res"), ("Investments", "Invest"), ("Capital", "Cap"), ("Supply", "Sup"),
    ("Retail", "Rtl"), ("Europe", "Eur"), ("America", "Am"), ("Digital", "Dgtl"),
    ("Interactive", "Intrctv"), ("Collective", "Coll"), ("Works", "Wks"), ("Direct", "Dir"),
)  # fmt: skip
# Legal suffix: canonical, punctuation variant, spelled-out variant; which currencies use it.
SUFFIXES = (
    ("Ltd", "Ltd.", "Limited"),
    ("LLC", "L.L.C.", "Limited Liability Company"),
    ("Inc.", "Inc", "Incorporated"),
    ("GmbH", "G.m.b.H.", "Gesellschaft mbH"),
    ("S.A.", "SA", "Sociedad Anonima"),
    ("B.V.", "BV", "Besloten Vennootschap"),
    ("PLC", "P.L.C.", "Public Limited Company"),
)
SUFFIX_BY_CCY = {"USD": (1, 2), "EUR": (3, 4, 5), "GBP": (0, 0, 0, 6), "CAD": (2, 0), "AUD": (0,), "CHF": (3, 4)}
GMBH = 3
NAME_VARIANTS = (
    "canonical",
    "upper_case",
    "lower_case",
    "punctuation",
    "suffix_dropped",
    "suffix_changed",
    "abbreviation",
    "typo",
)
MANAGERS = (
    "j.doe a.smith m.garcia l.chen s.patel k.mueller r.rossi e.dubois t.nguyen o.kowalski h.tanaka c.oconnor"
).split()
FIRST_NAMES = (
    "Ana Ben Carla David Elena Farid Grace Hugo Ines Jonas Keiko Liam Maya Noah Olga Pablo Quinn Rosa "
    "Samir Tara Umar Vera Wei Xenia Yusuf Zoe Aisha Bruno Chloe Diego Emma Felix Gita Hannah Ivan Julia "
    "Karl Lucia Marco Nadia"
).split()
LAST_NAMES = (
    "Ruiz Smith Chen Garcia Muller Rossi Dubois Nguyen Kowalski Tanaka Oconnor Patel Silva Jensen Novak "
    "Costa Weber Haddad Larsen Moreau Ivanova Kaur Lopez Brown Fischer Santos Yilmaz Berg Russo Park "
    "Ahmed Walsh Kim Olsen Romano Meyer Horvat Sato Nowak Bianchi"
).split()
EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example", "inbox.example")
PLATFORMS = ("meta", "google_ads", "linkedin", "tiktok", "dv360")
PLATFORM_P = (0.35, 0.30, 0.12, 0.13, 0.10)
PLATFORM_CPM_CENTS = np.array([800, 400, 3000, 600, 300])
PLATFORM_CTR = np.array([0.012, 0.03, 0.006, 0.01, 0.002])
CAMPAIGN_THEMES = (
    "Spring Sale", "Brand Awareness", "Retargeting", "Product Launch", "Holiday", "Always On",
    "Summer Promo", "Black Friday", "Back to School", "Prospecting",
)  # fmt: skip
LEAD_GEN_THEME = "Lead Gen"
CREDIT_REASONS = ("under-delivery make-good", "billing adjustment", "invalid traffic credit", "policy refund")
CREDIT_NOTE_REASONS = ("under-delivery", "goodwill", "pricing correction", "scope change")
LINE_DESC = ("Media buying", "Retainer", "Content production")
CONTENT_ITEMS = (
    "Blog article 1500 words", "Video edit 30s", "Social post set", "Whitepaper", "Newsletter issue",
    "Landing page copy", "Infographic", "Photo shoot day", "Podcast episode", "Case study",
)  # fmt: skip
RETAINER_ITEMS = (
    "Strategy hours", "SEO hours", "Community management hours", "Reporting hours",
    "Creative direction hours", "Account management hours",
)  # fmt: skip
PROJECT_THEMES = ("campaign", "retainer", "content programme")
ORDER_AMOUNT_MEDIAN = np.array([12_000.0, 4_500.0, 6_000.0])  # per type, per month for retainers


def _typos(word: str) -> tuple[str, ...]:
    """Four one-character typos of ``word`` (swap, drop, double, wrong vowel), all != word."""
    swap = word[0] + word[2] + word[1] + word[3:]
    drop = word[: len(word) // 2] + word[len(word) // 2 + 1 :]
    double = word[:2] + word[1] + word[2:]
    vowels = {"a": "e", "e": "a", "i": "y", "o": "u", "u": "o", "y": "i"}
    at = next((n for n in range(1, len(word)) if word[n] in vowels), len(word) - 1)
    wrong = word[:at] + vowels.get(word[at], "x") + word[at + 1 :]
    return tuple(t if t != word else drop for t in (swap, drop, double, wrong))


# --- public API ---------------------------------------------------------------------------


@dataclass
class GenerateResult:
    """What ``generate`` wrote: landing files, row counts per raw table, corrupted rows."""

    files: list[Path]
    rows: dict[str, int]
    bad_rows: int
    seconds: float
    ground_truth_dir: Path
    discrepancies: dict[str, int] = field(default_factory=dict)


def effective_rates(noise: float) -> dict[str, float]:
    """Scale the default rates by ``noise`` and cap them so every draw stays a probability."""
    if noise < 0:
        raise ValueError("noise must be >= 0")
    rates = {k: min(v * noise, RATE_CAPS.get(k, MAX_RATE)) for k, v in NOISE_RATES.items()}
    for group in EXCLUSIVE_GROUPS:
        total = sum(rates[k] for k in group)
        if total > MAX_GROUP_SHARE:
            for k in group:
                rates[k] *= MAX_GROUP_SHARE / total
    return rates


def table_formats(file_format: str) -> dict[str, str]:
    """File format (csv / jsonl / parquet) of every raw table for a ``file_format`` choice."""
    if file_format not in FILE_FORMATS:
        raise ValueError(f"file_format must be one of {', '.join(FILE_FORMATS)}, not {file_format!r}")
    if file_format == "mixed":
        return dict(MIXED_FORMATS)
    return {table: file_format for table in MIXED_FORMATS}


def load_fx_rates(path: Path | None = None) -> dict[tuple[str, str], str]:
    """Read the FX seed the dbt project also loads: ``(currency, YYYY-MM-01) -> rate_to_usd``."""
    path = path or settings.PROJECT_DIR / "seeds" / "fx_rates.csv"
    with open(path, newline="", encoding="utf-8") as fh:
        return {(row["currency"], row["rate_month"]): row["rate_to_usd"] for row in csv.DictReader(fh)}


def generate(
    out_dir: Path,
    *,
    seed: int = 42,
    orders: int = 2000,
    noise: float = 1.0,
    file_format: str = "mixed",
    chunk_size: int = 100_000,
    bad_rows: bool = True,
    bad_files: bool = True,
) -> GenerateResult:
    """Write landing files under ``out_dir/landing`` and the truth under ``out_dir/ground_truth``.

    Same arguments give byte-identical files. ``noise`` multiplies every rate in
    ``NOISE_RATES`` (0 gives clean, perfectly matching data: no discrepancies, no bad rows,
    no bad file). Files this generator wrote before into the same directories are removed
    first, so a smaller re-run does not leave stale chunks behind.
    """
    started = time.perf_counter()
    if orders < 1:
        raise ValueError("orders must be >= 1")
    if chunk_size < 1:
        raise ValueError("chunk_size must be >= 1")
    if seed < 0:
        raise ValueError("seed must be >= 0")
    ctx = _Context(seed, orders, effective_rates(noise), table_formats(file_format), bad_rows)
    out_dir = Path(out_dir).resolve()
    landing = out_dir / "landing"
    truth_dir = out_dir / "ground_truth"
    _remove_previous_output(landing, truth_dir)

    files: list[Path] = []
    rows = {table: 0 for table in MIXED_FORMATS}
    discrepancies: Counter[str] = Counter()
    links: Counter[str] = Counter()
    cached: tuple[int, _BlockOutput] | None = None
    n_chunks = -(-orders // chunk_size)
    with _TruthWriter(truth_dir) as truth:
        for chunk in range(n_chunks):
            lo, hi = chunk * chunk_size, min(orders, (chunk + 1) * chunk_size)
            pieces = []
            for block in range(lo // BLOCK_ORDERS, (hi - 1) // BLOCK_ORDERS + 1):
                if cached is None or cached[0] != block:
                    cached = (block, _Block(ctx, block).run())
                pieces.append(cached[1].slice(lo, hi))
            for table in MIXED_FORMATS:
                for late in (False, True):
                    parts = [p.late[table] if late else p.main[table] for p in pieces]
                    data = pa.concat_tables(parts)
                    if late and data.num_rows == 0:
                        continue
                    path = _landing_path(landing, table, chunk, late, ctx.formats[table])
                    _write_landing(data, path, ctx.formats[table])
                    files.append(path)
                    rows[table] += data.num_rows
            records = pa.concat_tables([p.records for p in pieces])
            link_rows = pa.concat_tables([p.links for p in pieces])
            truth.write(records, link_rows)
            discrepancies.update(_value_counts(records.column("discrepancy")))
            links.update(_value_counts(link_rows.column("reconciliation")))

        bad_file_rows = []
        if bad_files and noise > 0:
            path = out_dir / LEGACY_FILE
            n_legacy = _write_legacy_export(ctx, path)
            files.append(path)
            bad_file_rows.append((LEGACY_FILE.as_posix(), "missing required column currency", n_legacy))
        truth.write_bad_files(bad_file_rows)
        manifest = {
            "generator_version": GENERATOR_VERSION,
            "contract_version": contract.CONTRACT_VERSION,
            "seed": seed,
            "orders": orders,
            "noise": noise,
            "file_format": file_format,
            "formats": ctx.formats,
            "chunk_size": chunk_size,
            "chunks": n_chunks,
            "block_orders": BLOCK_ORDERS,
            "id_stride": ID_STRIDE,
            "clients": ctx.n_clients,
            "bad_rows": bad_rows,
            "bad_files": [{"path": p, "problem": why, "rows": n} for p, why, n in bad_file_rows],
            "rates": {k: round(v, 6) for k, v in ctx.rates.items()},
            "default_rates": NOISE_RATES,
            "rows": rows,
            "files": len(files),
            "discrepancies": dict(sorted(discrepancies.items())),
            "links": dict(sorted(links.items())),
        }
        (truth_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")

    return GenerateResult(
        files=sorted(files),
        rows=rows,
        bad_rows=discrepancies.get("bad_value", 0),
        seconds=time.perf_counter() - started,
        ground_truth_dir=truth_dir,
        discrepancies=dict(sorted(discrepancies.items())),
    )


# --- context: everything a block needs, derived once ---------------------------------------


class _Context:
    """Run-wide constants: rates, formats, FX table, client and reference derivations."""

    def __init__(self, seed: int, orders: int, rates: dict[str, float], formats: dict[str, str], bad: bool):
        self.seed = seed
        self.orders = orders
        self.rates = rates
        self.formats = formats
        self.bad_rows = bad
        self.n_clients = max(20, orders // 40)
        # Order references are a seeded bijection of the order number (unique, not sequential)
        # with one spare digit so that most one-digit typos do not hit another order's ref.
        self.ref_digits = max(7, len(str(orders)) + 1)
        self.ref_mod = 10**self.ref_digits
        self.ref_mult = 7_654_321
        self.ref_add = _seed_hash(seed, 1) % self.ref_mod
        self.prj_add = _seed_hash(seed, 2) % self.ref_mod
        self.name_space = len(NAME_WORD_1) * len(NAME_WORD_2) * len(NAME_WORD_3)
        self.name_add = _seed_hash(seed, 3) % self.name_space
        # Feistel-style tables: shuffle the three name words so neighbouring clients differ.
        mix = np.random.default_rng([seed, 7])
        n1, n2, n3 = len(NAME_WORD_1), len(NAME_WORD_2), len(NAME_WORD_3)
        self.name_mix = [mix.integers(0, 1 << 20, size) for size in (n1, n2, n2 * n3)]
        self.fx_micro = self._fx_table()

    def bad_rows_in(self, table: str) -> bool:
        return self.bad_rows and table in BAD_ROW_COLUMNS and self.formats[table] == "csv"

    def ref_number(self, x: np.ndarray) -> np.ndarray:
        return (x * self.ref_mult + self.ref_add) % self.ref_mod

    def project_number(self, x: np.ndarray) -> np.ndarray:
        return (x * 3_333_331 + self.prj_add) % self.ref_mod

    @staticmethod
    def _fx_table() -> np.ndarray:
        """``rate_to_usd`` in millionths, indexed [currency, month since 2024-01]."""
        rates = load_fx_rates()
        table = np.zeros((len(CURRENCIES), LABEL_MONTHS), dtype=np.int64)
        for c, code in enumerate(CURRENCIES):
            for m in range(LABEL_MONTHS):
                month = f"{2024 + m // 12:04d}-{m % 12 + 1:02d}-01"
                if (code, month) not in rates:
                    raise ValueError(f"seeds/fx_rates.csv has no rate for {code} {month}")
                table[c, m] = round(float(rates[(code, month)]) * 1_000_000)
        return table

    def clients(self, k: np.ndarray) -> dict[str, np.ndarray]:
        """Attributes of client ``k``: a pure function of (seed, k), so blocks agree on them."""
        k = np.asarray(k, dtype=np.int64)
        p = (k * 158_219 + self.name_add) % self.name_space
        n1, n2, n3 = len(NAME_WORD_1), len(NAME_WORD_2), len(NAME_WORD_3)
        w1, w2, w3 = p % n1, p // n1 % n2, p // (n1 * n2)
        # Each step is invertible given the others, so distinct k keep distinct names.
        w2 = (w2 + self.name_mix[0][w1]) % n2
        w3 = (w3 + self.name_mix[1][w2]) % n3
        w1 = (w1 + self.name_mix[2][w2 * n3 + w3]) % n1
        ccy_pick = _cat(_hash_u(self.seed, k, 11), CLIENT_CCY_P[:-1])
        ccy = np.array([_CCY[c] for c in CLIENT_CCY])[ccy_pick]
        suffix = np.zeros(len(k), dtype=np.int64)
        u_suffix = _hash_u(self.seed, k, 12)
        for n, code in enumerate(CLIENT_CCY):
            choices = np.array(SUFFIX_BY_CCY[code])
            sel = ccy_pick == n
            suffix[sel] = choices[(u_suffix[sel] * len(choices)).astype(np.int64)]
        return {
            "w1": w1,
            "w2": w2,
            "w3": w3,
            "suffix": suffix,
            "ccy": ccy,
            "manager": (_hash_u(self.seed, k, 13) * len(MANAGERS)).astype(np.int64),
            "terms": np.array([14, 30, 30, 45, 60])[(_hash_u(self.seed, k, 14) * 5).astype(np.int64)],
        }

    def tax_bp(self, ccy: np.ndarray, suffix: np.ndarray) -> np.ndarray:
        bp = np.array([TAX_BP[c] for c in CURRENCIES])[ccy]
        return np.where((ccy == _CCY["EUR"]) & (suffix == GMBH), EUR_GMBH_TAX_BP, bp)

    def convert(self, cents: np.ndarray, src: np.ndarray, dst: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Convert with the seed rates of ``day``'s month, rounded half up to the cent."""
        m = np.clip(_month_of(day) - LABEL_FIRST_MONTH, 0, LABEL_MONTHS - 1)
        num = cents * self.fx_micro[src, m]
        den = self.fx_micro[dst, m]
        return (2 * num + den) // (2 * den)


# --- small vectorised helpers -------------------------------------------------------------

_M64 = (1 << 64) - 1


def _seed_hash(seed: int, salt: int) -> int:
    """A well-mixed 63-bit integer from (seed, salt): splitmix64 of a combined key."""
    return int(_mix64(np.array([(seed * 1_000_003 + salt * 7_919) & _M64], dtype=np.uint64))[0] >> 1)


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on uint64 arrays (wrapping arithmetic is intended)."""
    z = x + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _hash_u(seed: int, k: np.ndarray, salt: int) -> np.ndarray:
    """Uniform [0, 1) per ``k``, stable for a (seed, salt): used for client attributes."""
    key = np.uint64(_seed_hash(seed, salt))
    z = _mix64(k.astype(np.uint64) * np.uint64(0xD1B54A32D192ED03) ^ key)
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def _cat(u: np.ndarray, probs: tuple[float, ...] | list[float]) -> np.ndarray:
    """Categorical draw from uniforms: index i with probability probs[i]; the rest -> last+1."""
    return np.searchsorted(np.cumsum(probs), u, side="right").astype(np.int64)


def _ragged(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Expand per-group counts to rows: (group index, position within group) per row."""
    counts = np.asarray(counts, dtype=np.int64)
    group = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    return group, np.arange(len(group)) - starts[group]


def _allocate(total: np.ndarray, counts: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Split integer ``total`` per group over its rows by weight; the last row takes the rest."""
    group, pos = _ragged(counts)
    starts = np.cumsum(counts) - counts
    wsum = np.add.reduceat(weights, starts) if len(weights) else weights
    share = np.floor(total[group] * weights / wsum[group]).astype(np.int64)
    rest = total - (np.add.reduceat(share, starts) if len(share) else share)
    last = starts + counts - 1
    share[last] += rest
    return share


def _month_of(days: np.ndarray) -> np.ndarray:
    """Months since 1970-01 of day numbers."""
    return np.asarray(days, dtype=np.int64).astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)


def _year_of(days: np.ndarray) -> np.ndarray:
    return _month_of(days) // 12 + 1970


def _tz_code(u: np.ndarray, rate: float) -> np.ndarray:
    """0 (UTC) or, with probability ``rate``, one of the offsets; reuses the same uniform."""
    if rate <= 0:
        return np.zeros(len(u), dtype=np.int64)
    other = 1 + np.minimum((u / rate * (len(TZ_OFFSETS_MIN) - 1)).astype(np.int64), len(TZ_OFFSETS_MIN) - 2)
    return np.where(u < rate, other, 0)


def _arr(values) -> pa.Array:
    return pa.array(values, type=pa.string())


def _str(x: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(x, dtype=np.int64)).cast(pa.string())


def _pad(x: np.ndarray, width: int) -> pa.Array:
    return pc.utf8_lpad(_str(x), width=width, padding="0")


def _ids(prefix: str, x: np.ndarray, width: int = ID_WIDTH) -> pa.Array:
    return _join(prefix, _pad(x, width))


def _join(*parts, sep: str = "") -> pa.Array:
    return pc.binary_join_element_wise(*parts, sep)


def _take(values: pa.Array, idx: np.ndarray) -> pa.Array:
    return values.take(pa.array(np.asarray(idx, dtype=np.int64)))


def _null_where(values: pa.Array, mask: np.ndarray) -> pa.Array:
    if not mask.any():
        return values
    return pc.if_else(pa.array(mask), pa.scalar(None, pa.string()), values)


def _replace(values: pa.Array, mask: np.ndarray, replacement: pa.Array) -> pa.Array:
    """Replace ``values`` where ``mask`` by ``replacement`` (one value per True, in order)."""
    if not mask.any():
        return values
    return pc.replace_with_mask(values, pa.array(mask), replacement)


_CENTS = _arr([f"{c:02d}" for c in range(100)])
_HMS = _arr([f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(DAY)])  # lookup beats strftime


def _money(cents: np.ndarray) -> pa.Array:
    """Integer cents -> '1234.50' (no float ever touches money)."""
    cents = np.asarray(cents, dtype=np.int64)
    if (cents < 0).any():
        raise ValueError("money amounts are generated non-negative")
    return _join(_str(cents // 100), _take(_CENTS, cents % 100), sep=".")


def _date(days: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(days, dtype=np.int32), type=pa.date32()).cast(pa.string())


def _timestamp(seconds: np.ndarray, tz: np.ndarray) -> pa.Array:
    """UTC seconds -> ISO 8601, as 'Z' or as local time with the offset of code ``tz``."""
    local = np.asarray(seconds, dtype=np.int64) + np.array(TZ_OFFSETS_MIN)[tz] * 60
    return _join(_date(local // DAY), "T", _take(_HMS, local % DAY), _take(_arr(TZ_SUFFIX), tz))


def _month_label(days: np.ndarray) -> pa.Array:
    """'Mar 2026' for the month of each day."""
    m = np.clip(_month_of(days) - LABEL_FIRST_MONTH, 0, LABEL_MONTHS - 1)
    return _take(_MONTH_LABELS, m)


_MONTH_LABELS = _arr([f"{calendar.month_abbr[m % 12 + 1]} {2024 + m // 12}" for m in range(LABEL_MONTHS)])
_W1 = _arr(NAME_WORD_1)
_W2 = _arr(NAME_WORD_2)
_W3 = _arr([w for w, _ in NAME_WORD_3])
_W3_ABBR = _arr([a for _, a in NAME_WORD_3])
_W2_TYPO = _arr([t for w in NAME_WORD_2 for t in _typos(w)])
_SUFFIX = [_arr([s[n] for s in SUFFIXES]) for n in range(3)]


def _client_names(
    cl: dict[str, np.ndarray], variant: np.ndarray | None = None, typo: np.ndarray | None = None
) -> pa.Array:
    """Client names from their word components; ``variant`` codes index NAME_VARIANTS."""
    w1, w2, w3 = _take(_W1, cl["w1"]), _take(_W2, cl["w2"]), _take(_W3, cl["w3"])
    suffix = _take(_SUFFIX[0], cl["suffix"])
    names = _join(w1, w2, w3, suffix, sep=" ")
    if variant is None:
        return names
    for code in range(1, len(NAME_VARIANTS)):
        mask = variant == code
        if not mask.any():
            continue
        idx = np.flatnonzero(mask)
        pick = pa.array(idx)
        core = _join(w1.take(pick), w2.take(pick), w3.take(pick), sep=" ")
        kind = NAME_VARIANTS[code]
        if kind == "upper_case":
            new = pc.utf8_upper(names.take(pick))
        elif kind == "lower_case":
            new = pc.utf8_lower(names.take(pick))
        elif kind == "punctuation":
            new = _join(core, _take(_SUFFIX[1], cl["suffix"][idx]), sep=", ")
        elif kind == "suffix_dropped":
            new = core
        elif kind == "suffix_changed":
            new = _join(core, _take(_SUFFIX[2], cl["suffix"][idx]), sep=" ")
        elif kind == "abbreviation":
            new = _join(
                w1.take(pick),
                w2.take(pick),
                _take(_W3_ABBR, cl["w3"][idx]),
                _take(_SUFFIX[0], cl["suffix"][idx]),
                sep=" ",
            )
        else:  # typo in the second word
            typo_word = _take(_W2_TYPO, cl["w2"][idx] * 4 + typo[idx])
            new = _join(w1.take(pick), typo_word, w3.take(pick), _take(_SUFFIX[0], cl["suffix"][idx]), sep=" ")
        names = _replace(names, mask, new)
    return names


def _brand(cl: dict[str, np.ndarray]) -> pa.Array:
    """How marketers write the client: the first two words of the name."""
    return _join(_take(_W1, cl["w1"]), _take(_W2, cl["w2"]), sep=" ")


def _take_cl(cl: dict[str, np.ndarray], idx: np.ndarray) -> dict[str, np.ndarray]:
    return {key: v[idx] for key, v in cl.items()}


# Reference noise: 0 exact, 1 missing, 2 typo, 3 spaces, 4 lowercase, 5 prefix dropped.
REF_EXACT, REF_MISSING, REF_TYPO, REF_SPACES, REF_LOWER, REF_NOPREFIX = range(6)
_REF_PREFIX = _arr(["PO-", "PO-", "PO-", "PO ", "po-", ""])
_REF_SEP = _arr(["-", "-", "-", " ", "-", "-"])


def _ref_mode(u: np.ndarray, rates: dict[str, float]) -> np.ndarray:
    """Reference noise per reference from one uniform (exclusive: missing, typo, format)."""
    kind = _cat(u, (rates["ref_missing"], rates["ref_typo"], rates["ref_format"]))
    mode = np.array([REF_MISSING, REF_TYPO, REF_SPACES, REF_EXACT])[kind]
    fmt = mode == REF_SPACES
    within = (u - rates["ref_missing"] - rates["ref_typo"]) / max(rates["ref_format"], 1e-12)
    return np.where(fmt, REF_SPACES + np.clip((within * 3).astype(np.int64), 0, 2), mode)


def _typo_number(num: np.ndarray, digits: int, u: np.ndarray) -> np.ndarray:
    """One digit changed, or two adjacent digits transposed (when they differ)."""
    pos = np.minimum((u * (digits - 1)).astype(np.int64), digits - 2)
    frac = u * (digits - 1) - pos
    p0, p1 = 10**pos, 10 ** (pos + 1)
    d0, d1 = num // p0 % 10, num // p1 % 10
    swapped = num + (d1 - d0) * p0 + (d0 - d1) * p1
    changed = num + ((d0 + 1 + (frac * 9).astype(np.int64)) % 10 - d0) * p0
    return np.where((frac < 0.5) & (d0 != d1), swapped, changed)


def _ref_text(
    year: np.ndarray, num: np.ndarray, mode: np.ndarray | None, digits: int, u: np.ndarray | None = None
) -> pa.Array:
    """Order reference as written somewhere: 'PO-2026-0000123', or its ``mode`` variant."""
    if mode is None:
        mode = np.zeros(len(num), dtype=np.int64)
    if u is not None:
        num = np.where(mode == REF_TYPO, _typo_number(num, digits, u), num)
    text = _join(_take(_REF_PREFIX, mode), _str(year), _take(_REF_SEP, mode), _pad(num, digits))
    return _null_where(text, mode == REF_MISSING)


# --- block generation -----------------------------------------------------------------------

S_ORDERS, S_BILLING, S_ADS, S_FULFILMENT, S_LEADS, S_ROWS = 1, 2, 3, 4, 5, 100
TABLES = tuple(MIXED_FORMATS)


@dataclass
class _Part:
    """Rows of one table from one block, sorted by anchor (the global order index they follow)."""

    table: pa.Table
    anchor: np.ndarray

    def slice(self, lo: int, hi: int) -> pa.Table:
        start, stop = np.searchsorted(self.anchor, [lo, hi], side="left")
        return self.table.slice(int(start), int(stop - start))


@dataclass
class _BlockOutput:
    main: dict[str, _Part]
    late: dict[str, _Part]
    records: _Part
    links: _Part

    def slice(self, lo: int, hi: int) -> _BlockSlice:
        return _BlockSlice(
            {t: p.slice(lo, hi) for t, p in self.main.items()},
            {t: p.slice(lo, hi) for t, p in self.late.items()},
            self.records.slice(lo, hi),
            self.links.slice(lo, hi),
        )


@dataclass
class _BlockSlice:
    main: dict[str, pa.Table]
    late: dict[str, pa.Table]
    records: pa.Table
    links: pa.Table


class _Block:
    """Generates every entity for the orders of one block; methods run in dependency order."""

    def __init__(self, ctx: _Context, block: int):
        self.ctx = ctx
        self.rates = ctx.rates
        self.block = block
        self.i0 = block * BLOCK_ORDERS
        self.n = min(ctx.orders, self.i0 + BLOCK_ORDERS) - self.i0
        self.id_base = block * ID_STRIDE + 1
        self.main: dict[str, _Part] = {}
        self.late: dict[str, _Part] = {}
        self._records: list[tuple[np.ndarray, str, pa.Array, str, pa.Array]] = []
        self._links: list[tuple[np.ndarray, str, pa.Array, pa.Array, pa.Array]] = []

    def rng(self, stream: int) -> np.random.Generator:
        return np.random.default_rng([self.ctx.seed, self.block, stream])

    def run(self) -> _BlockOutput:
        o = self.orders()
        inv = self.billing(o)
        camp = self.ads(o, inv)
        self.fulfilment(o, inv)
        self.leads(o, camp)
        return _BlockOutput(self.main, self.late, self._pack_records(), self._pack_links())

    def new_ids(self, count: int) -> np.ndarray:
        if count >= ID_STRIDE:
            raise RuntimeError(f"block {self.block} needs {count} ids, more than ID_STRIDE={ID_STRIDE}")
        return self.id_base + np.arange(count, dtype=np.int64)

    # -- ground truth collection --

    def record(self, entity: str, discrepancy: str, anchor, record_id: pa.Array, detail=None) -> None:
        if len(record_id) == 0:
            return
        if detail is None:
            detail = pa.nulls(len(record_id), pa.string())
        elif isinstance(detail, str):
            detail = pa.repeat(detail, len(record_id))
        self._records.append((np.asarray(anchor, dtype=np.int64), entity, record_id, discrepancy, detail))

    def link(self, recon: str, anchor, left: pa.Array, right: pa.Array, link_type) -> None:
        if len(left) == 0:
            return
        if isinstance(link_type, str):
            link_type = pa.repeat(link_type, len(left))
        else:
            link_type = _take(_LINK_TYPES, link_type)
        self._links.append((np.asarray(anchor, dtype=np.int64), recon, left, right, link_type))

    def _pack_records(self) -> _Part:
        cols = ("entity", "record_id", "discrepancy", "detail")
        if not self._records:
            return _Part(pa.table({c: pa.array([], pa.string()) for c in cols}), np.zeros(0, np.int64))
        anchor = np.concatenate([r[0] for r in self._records])
        order = np.argsort(anchor, kind="stable")
        table = pa.table(
            {
                "entity": pa.concat_arrays([pa.repeat(r[1], len(r[0])) for r in self._records]),
                "record_id": pa.concat_arrays([r[2] for r in self._records]),
                "discrepancy": pa.concat_arrays([pa.repeat(r[3], len(r[0])) for r in self._records]),
                "detail": pa.concat_arrays([r[4] for r in self._records]),
            }
        )
        return _Part(table.take(pa.array(order)), anchor[order])

    def _pack_links(self) -> _Part:
        cols = ("reconciliation", "left_id", "right_id", "link_type")
        if not self._links:
            return _Part(pa.table({c: pa.array([], pa.string()) for c in cols}), np.zeros(0, np.int64))
        anchor = np.concatenate([r[0] for r in self._links])
        order = np.argsort(anchor, kind="stable")
        table = pa.table(
            {
                "reconciliation": pa.concat_arrays([pa.repeat(r[1], len(r[0])) for r in self._links]),
                "left_id": pa.concat_arrays([r[2] for r in self._links]),
                "right_id": pa.concat_arrays([r[3] for r in self._links]),
                "link_type": pa.concat_arrays([r[4] for r in self._links]),
            }
        )
        return _Part(table.take(pa.array(order)), anchor[order])

    # -- landing rows: late files, re-sent duplicates, corrupted values --

    def emit(self, table: str, cols: dict[str, pa.Array], anchor: np.ndarray) -> None:
        """Store a table's rows; decide which arrive late, are re-sent or carry a bad value."""
        entity = contract.ENTITY_BY_TABLE[table]
        # Dialect A writes the contract's 1.0.0 columns (and whichever later ones it fills),
        # in contract order: its files double as a check that older files still load.
        expected = tuple(c.name for c in entity.columns if c.since == "1.0.0" or c.name in cols)
        if tuple(cols) != expected:
            raise AssertionError(f"{table}: columns {tuple(cols)} differ from the contract")
        n = len(anchor)
        u = self.rng(S_ROWS + TABLES.index(table)).random((4, n))
        key = cols[entity.key[0]] if len(entity.key) == 1 else _join(*(cols[k] for k in entity.key), sep="|")
        bad = (u[0] < self.rates["bad_value"]) if self.ctx.bad_rows_in(table) else np.zeros(n, dtype=bool)
        dup = (u[1] < self.rates["duplicate_row"]) & ~bad
        late = u[2] < self.rates["late_file"]
        if bad.any():
            cols = self._corrupt(table, cols, key, anchor, bad, u[3])
        data = pa.table(cols)
        main_idx = np.flatnonzero(~late)
        late_idx = np.concatenate([np.flatnonzero(late), np.flatnonzero(dup)])
        late_idx = late_idx[np.argsort(anchor[late_idx], kind="stable")]
        self.main[table] = _Part(data.take(pa.array(main_idx)), anchor[main_idx])
        self.late[table] = _Part(data.take(pa.array(late_idx)), anchor[late_idx])
        self.record(table, "late_file", anchor[late], key.filter(pa.array(late)), "row arrives in the _late file")
        self.record(
            table, "duplicate_row", anchor[dup], key.filter(pa.array(dup)), "exact copy re-sent in the _late file"
        )

    def _corrupt(self, table, cols, key, anchor, bad, u) -> dict[str, pa.Array]:
        """One defect per bad row: the only per-row Python here, for ~0.2% of three tables."""
        cols = dict(cols)
        idx = np.flatnonzero(bad)
        kinds = np.minimum((u[idx] * 4).astype(np.int64), 3)
        flip = (u[idx] * 40) % 1 < 0.5  # second-level choice within a defect kind
        unknown = ("XYZ", "EURO", "US$")
        targets = BAD_ROW_COLUMNS[table]
        rec_ids, details = [], []
        for kind_code in range(4):
            kind = BAD_KINDS[kind_code]
            sel = idx[kinds == kind_code]
            if not len(sel):
                continue
            column = targets[kind]
            old = cols[column].take(pa.array(sel)).to_pylist()
            new: list[str | None] = []
            for value, f in zip(old, flip[kinds == kind_code], strict=True):
                if kind == "amount":
                    units, cents = value.split(".")
                    if int(units) >= 1000 and f:
                        new.append(f"{int(units):,}.{cents}")
                        defect = "thousands separator"
                    else:
                        new.append(f"{units},{cents}")
                        defect = "decimal comma"
                elif kind == "date":
                    y, m, d = value.split("-")
                    new.append(f"{d}/{m}/{y}")
                    defect = "date not ISO"
                elif kind == "currency":
                    new.append(unknown[len(details) % 3])
                    defect = "unknown currency"
                else:
                    new.append(None)
                    defect = "required id empty"
                shown = "empty" if new[-1] is None else f"'{new[-1]}'"
                details.append(f"column={column}; defect={defect}; value={shown}; {BAD_ROW_EFFECT[table]}")
            mask = np.zeros(len(bad), dtype=bool)
            mask[sel] = True
            cols[column] = _replace(cols[column], mask, pa.array(new, pa.string()))
            rec_ids.append(sel)
        order = np.concatenate(rec_ids)
        self.record(table, "bad_value", anchor[order], key.take(pa.array(order)), _arr(details))
        return cols

    # -- CRM orders --

    def orders(self) -> dict:
        ctx, rates, n = self.ctx, self.rates, self.n
        r = self.rng(S_ORDERS)
        u = r.random((15, n))
        z = r.standard_normal(n)
        i = np.arange(self.i0, self.i0 + n, dtype=np.int64)
        j = np.arange(n)
        typ = _cat(u[0], ORDER_TYPE_P[:-1])
        k = np.minimum((ctx.n_clients * u[1] ** 1.5).astype(np.int64), ctx.n_clients - 1)
        months = _cat(u[2], SERVICE_LENGTH_P[:-1]) + 1
        slot = np.floor((i + 0.5) / ctx.orders * SERVICE_MONTHS + (u[3] - 0.5) * 3).astype(np.int64)
        offset = np.where((typ == RETAINER) | (u[4] < 0.5), 0, (u[5] * 15).astype(np.int64))

        # Consolidated groups: in each window of 4 orders, the first 2-4 may become one client's
        # batch (same client, same service period) billed on one invoice.
        window_u = r.random((2, -(-n // 4)))
        window_rate = min(1.0, rates["consolidated"] * 4 / 3)
        size = np.where(window_u[0] < window_rate, 2 + (window_u[1] * 3).astype(np.int64), 0)
        lead = j // 4 * 4
        group_size = np.minimum(size[j // 4], n - lead)
        member = (group_size >= 2) & (j - lead < group_size)
        k = np.where(member, k[lead], k)
        months = np.where(member, months[lead], months)
        slot = np.where(member, slot[lead], slot)
        offset = np.where(member, offset[lead], offset)

        mpos = np.clip(slot, 0, SERVICE_MONTHS - months)
        start = _MONTH_START[mpos] + offset
        end = np.minimum(_MONTH_START[mpos + months] + offset - 1, SERVICE_LAST_DAY)
        per_month = np.where(typ == RETAINER, months, 1)
        amount = np.clip(np.exp(np.log(ORDER_AMOUNT_MEDIAN[typ] * per_month) + 0.9 * z), 500, 250_000)
        cents = np.where(u[6] < 0.6, np.rint(amount / 50) * 5000, np.rint(amount * 100)).astype(np.int64)
        cents = np.clip(cents, 50_000, 25_000_000)
        status = _cat(u[7], ORDER_STATUS_P[:-1])
        status = np.where(member & (status == 0), 1, status)
        updated = start * DAY - DAY - (u[8] * 59 * DAY).astype(np.int64)
        cl = ctx.clients(k)
        ref_year = _year_of(updated // DAY)
        ref_num = ctx.ref_number(i)
        ref = _ref_text(ref_year, ref_num, None, ctx.ref_digits)
        crm_ref_missing = u[10] < rates["crm_ref_missing"]
        manager = np.where(u[11] < 0.9, cl["manager"], (u[12] * len(MANAGERS)).astype(np.int64))

        o = {
            "i": i, "j": j, "typ": typ, "k": k, "start": start, "end": end, "cents": cents,
            "ccy": cl["ccy"], "cancelled": status == 0, "member": member, "lead": lead,
            "group_size": group_size, "ref_year": ref_year, "ref_num": ref_num, "cl": cl,
            "order_id": _ids("SO-", i + 1), "ref": ref,
        }  # fmt: skip
        self.emit(
            "crm__orders",
            {
                "order_id": o["order_id"],
                "client_id": _ids("C-", k + 1, 6),
                "client_name": _client_names(cl),
                "order_ref": _null_where(ref, crm_ref_missing),
                "order_type": _take(_arr(ORDER_TYPES), typ),
                "amount": _money(cents),
                "currency": _take(_arr(CURRENCIES), cl["ccy"]),
                "service_start_date": _date(start),
                "service_end_date": _date(end),
                "account_manager": _null_where(_take(_arr(MANAGERS), manager), u[13] < 0.03),
                "status": _take(_arr(ORDER_STATUS_CHOICES), status),
                "updated_at": _timestamp(updated, _tz_code(u[14], rates["tz_offset"])),
            },
            i,
        )
        sel = np.flatnonzero(crm_ref_missing)
        self.record(
            "crm__orders",
            "ref_missing",
            i[sel],
            o["order_id"].take(pa.array(sel)),
            _join("order_ref empty in the CRM; the client's reference is ", ref.take(pa.array(sel))),
        )
        return o

    # -- billing: invoices, lines, credit notes --

    def billing(self, o: dict) -> dict:
        """Invoices per order billing pattern (the orders <-> invoices noise), lines, credit notes."""
        r = self.rng(S_BILLING)
        u = r.random((12, self.n))
        kinds = ("unbilled", "split", "partial_billing", "duplicate_billing", "void_reissue", "fx")
        pattern = _cat(u[0], [self.rates[k] for k in kinds])
        pattern = np.array([P_UNBILLED, P_SPLIT, P_PARTIAL, P_DUP, P_VOID, P_FX, P_NORMAL])[pattern]
        pattern = np.where(o["member"], P_CONS, pattern)
        pattern = np.where(o["cancelled"], P_NONE, pattern)
        inv = self._plan_invoices(o, pattern, u, r.standard_normal(self.n))
        self._invoice_headers(inv, r.random((13, len(inv["num"]))))
        lines = self._invoice_lines(o, inv, r)
        cn = self._credit_notes(inv, r)
        return self._billing_truth(o, pattern, inv, lines, cn)

    def _plan_invoices(self, o: dict, pattern: np.ndarray, u: np.ndarray, z: np.ndarray) -> dict:
        """Amounts, dates and roles of every invoice of the block, sorted and numbered."""
        ctx, n = self.ctx, self.n
        i, cents, end, start = o["i"], o["cents"], o["end"], o["start"]
        issue = end + (31 * u[1] ** 2).astype(np.int64)  # lag 0-30 days, median ~7
        parts: list[dict[str, np.ndarray]] = []

        def add(sel, net, day, link, **extra):
            sel = np.asarray(sel, dtype=np.int64)
            cols = {
                "anchor": i[sel], "j": sel, "net": np.asarray(net, np.int64), "issue": np.asarray(day, np.int64),
                "link": np.full(len(sel), link), "pat": pattern[sel], "ccy": o["ccy"][sel], "k": o["k"][sel],
                "orphan": np.zeros(len(sel), bool), "known": np.ones(len(sel), bool),
                "part": np.zeros(len(sel), np.int64), "parts": np.ones(len(sel), np.int64),
                "ref_num": o["ref_num"][sel], "ref_year": o["ref_year"][sel],
            }  # fmt: skip
            cols.update(extra)
            parts.append(cols)

        single = np.flatnonzero(np.isin(pattern, (P_NORMAL, P_PARTIAL, P_FX)))
        partial = np.rint(cents[single] * (0.5 + 0.45 * u[2][single])).astype(np.int64)
        add(single, np.where(pattern[single] == P_PARTIAL, partial, cents[single]), issue[single], L_ONE)

        # Split: 2-4 instalments through the service period; the last one takes the rounding.
        sp = np.flatnonzero(pattern == P_SPLIT)
        g, pos = _ragged(2 + (u[3][sp] * 3).astype(np.int64))
        rows = sp[g]
        k = np.bincount(g)[g]
        base = cents[rows] // k
        dur = end[rows] - start[rows] + 1
        day = start[rows] + np.rint((pos + 1) * dur / k).astype(np.int64) + (u[4][rows] * 10).astype(np.int64)
        add(rows, np.where(pos == k - 1, cents[rows] - base * (k - 1), base), day, L_SPLIT, part=pos + 1, parts=k)

        dup = np.flatnonzero(pattern == P_DUP)
        add(dup, cents[dup], issue[dup], L_ONE)
        add(dup, cents[dup], issue[dup] + 5 + (u[5][dup] * 36).astype(np.int64), L_DUP)

        # Void and reissue: the voided invoice had a wrong amount.
        vo = np.flatnonzero(pattern == P_VOID)
        wrong = np.rint(cents[vo] * (0.8 + 0.4 * u[6][vo])).astype(np.int64)
        add(vo, np.where(wrong == cents[vo], wrong + 10_000, wrong), issue[vo], L_VOID)
        add(vo, cents[vo], issue[vo] + 1 + (u[7][vo] * 10).astype(np.int64), L_REISSUE)

        # Consolidated: one invoice per group, anchored at (and described by) its first order.
        first = np.flatnonzero(o["member"] & (o["j"] == o["lead"]))
        member = np.flatnonzero(o["member"])
        totals = np.bincount(o["lead"][member], weights=cents[member], minlength=n).astype(np.int64)
        add(first, totals[first], issue[first], L_CONS, parts=o["group_size"][first])

        # Orphans: a known client (name as billed) or one the CRM has never seen; a reference
        # no order carries (the ref bijection evaluated past the last order).
        orphan = np.flatnonzero(u[8] < self.rates["orphan_invoice"])
        known = u[9][orphan] < 0.5
        spare = max(1, ctx.name_space - ctx.n_clients)
        pick = u[10][orphan]
        client = np.where(known, pick * ctx.n_clients, ctx.n_clients + pick * spare).astype(np.int64)
        day = _MONTH_START[1] + (u[11][orphan] * (SERVICE_LAST_DAY + 30 - _MONTH_START[1])).astype(np.int64)
        fake = ctx.ref_number(ctx.orders + i[orphan])  # < 2 * orders, so never an order's ref
        add(
            orphan, np.clip(np.rint(np.exp(np.log(8000) + 0.9 * z[orphan]) * 100), 50_000, 25_000_000), day, -1,
            pat=np.full(len(orphan), P_ORPHAN), ccy=ctx.clients(client)["ccy"], k=client,
            orphan=np.ones(len(orphan), bool), known=known, ref_num=fake, ref_year=_year_of(day),
        )  # fmt: skip

        inv = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
        # Invoice numbers follow the orders, then issue date: a void precedes its reissue,
        # an original its duplicate (so those pairs have consecutive numbers).
        order = np.lexsort((inv["issue"], inv["orphan"], inv["anchor"]))
        inv = {key: v[order] for key, v in inv.items()}
        inv["num"] = self.new_ids(len(order))
        inv["id"] = _ids("INV-", inv["num"])
        inv["jj"] = np.where(inv["orphan"], 0, inv["j"])  # safe index for per-order lookups
        return inv

    def _invoice_headers(self, inv: dict, u: np.ndarray) -> None:
        """FX, tax, status and the noisy text (client name, reference) of each invoice."""
        ctx, rates = self.ctx, self.rates
        cl = ctx.clients(inv["k"])
        inv["cl"] = cl
        # FX: the invoice currency differs from the order's; converted at the issue month.
        inv["fx"] = inv["pat"] == P_FX
        targets = np.array([_CCY[c] for c in FX_TARGETS])
        pick = (u[0] * len(targets)).astype(np.int64)
        pick = np.where(targets[pick] == inv["ccy"], (pick + 1) % len(targets), pick)
        inv["order_ccy"] = inv["ccy"]
        inv["ccy"] = np.where(inv["fx"], targets[pick], inv["ccy"])
        converted = ctx.convert(inv["net"], inv["order_ccy"], inv["ccy"], inv["issue"])
        inv["net"] = np.where(inv["fx"], converted, inv["net"])

        tax = (inv["net"] * ctx.tax_bp(inv["ccy"], cl["suffix"]) + 5000) // 10_000
        void = inv["link"] == L_VOID
        status = np.where(void, INVOICE_STATUS_CHOICES.index("void"), _cat(u[1], INVOICE_STATUS_P[:-1]))
        name_rate = max(rates["name_variant"], 1e-12)
        inv["variant"] = np.where(
            u[2] < rates["name_variant"], 1 + np.minimum((u[2] / name_rate * 7).astype(np.int64), 6), 0
        )
        inv["cons"] = inv["link"] == L_CONS
        mode = np.where(inv["cons"], REF_MISSING, _ref_mode(u[4], rates))  # lines carry the refs
        inv["mode"] = np.where(inv["orphan"], np.where(u[5] < 0.5, REF_MISSING, REF_EXACT), mode)
        inv["reference"] = _ref_text(inv["ref_year"], inv["ref_num"], inv["mode"], ctx.ref_digits, u[6])
        inv["client_name"] = _client_names(cl, inv["variant"], (u[3] * 4).astype(np.int64))
        updated = inv["issue"] * DAY + 25_200 + (u[8] * 43_200).astype(np.int64)
        self.emit(
            "billing__invoices",
            {
                "invoice_id": inv["id"],
                "invoice_number": _join(_str(_year_of(inv["issue"])), _pad(inv["num"], ID_WIDTH), sep="-"),
                "client_name": inv["client_name"],
                "reference": inv["reference"],
                "issue_date": _date(inv["issue"]),
                "due_date": _null_where(_date(inv["issue"] + cl["terms"]), u[7] < 0.03),
                "currency": _take(_arr(CURRENCIES), inv["ccy"]),
                "net_amount": _money(inv["net"]),
                "tax_amount": _money(tax),
                "total_amount": _money(inv["net"] + tax),
                "status": _take(_arr(INVOICE_STATUS_CHOICES), status),
                "updated_at": _null_where(_timestamp(updated, _tz_code(u[9], rates["tz_offset"])), u[10] < 0.04),
            },
            inv["anchor"],
        )
        inv["two_lines"] = ~inv["cons"] & ~inv["orphan"] & (inv["link"] != L_SPLIT) & (u[11] < 0.3)
        inv["two_lines"] &= inv["net"] >= 100_000
        inv["credit"] = np.isin(inv["pat"], (P_NORMAL, P_FX)) & (u[12] < rates["credit_note"])

    def _invoice_lines(self, o: dict, inv: dict, r: np.random.Generator) -> dict:
        """One line per order on consolidated invoices (each quoting its ref), else one or two."""
        ctx = self.ctx
        cons, net = inv["cons"], inv["net"]
        g, pos = _ragged(np.where(cons, inv["parts"], 1 + inv["two_lines"]))
        u = r.random((4, len(g)))
        line_j = np.where(cons[g], inv["jj"][g] + pos, inv["jj"][g])
        media = (net[g] * 85 + 50) // 100
        fee_split = np.where(pos == 0, media, net[g] - media)
        line_net = np.where(cons[g], o["cents"][line_j], np.where(inv["two_lines"][g], fee_split, net[g]))
        desc = _join(_take(_arr(LINE_DESC), o["typ"][line_j]), _month_label(o["start"][line_j]), sep=" ")
        desc = pc.if_else(pa.array(inv["orphan"][g]), _join("Services ", _month_label(inv["issue"][g])), desc)
        desc = pc.if_else(pa.array(inv["two_lines"][g] & (pos == 1)), pa.scalar("Agency fee"), desc)
        instalment = _join(desc, " (instalment ", _str(inv["part"][g]), "/", _str(inv["parts"][g]), ")")
        desc = pc.if_else(pa.array(inv["link"][g] == L_SPLIT), instalment, desc)
        mode = _ref_mode(u[0], self.rates)
        cons_ref = _ref_text(o["ref_year"][line_j], o["ref_num"][line_j], mode, ctx.ref_digits, u[1])
        header_ref = _null_where(inv["reference"].take(pa.array(g)), u[2] >= 0.5)  # half the lines repeat it
        reference = pc.if_else(pa.array(cons[g]), cons_ref, header_ref)
        no_qty = u[3] < 0.03
        line_id = inv["id"].take(pa.array(g))
        self.emit(
            "billing__invoice_lines",
            {
                "invoice_id": line_id,
                "line_number": _str(pos + 1),
                "description": desc,
                "reference": reference,
                "quantity": _null_where(pa.repeat("1", len(g)), no_qty),
                "unit_price": _null_where(_money(line_net), no_qty),
                "net_amount": _money(line_net),
            },
            inv["anchor"][g],
        )
        return {"g": g, "pos": pos, "j": line_j, "cons": cons[g], "mode": mode, "id": line_id, "ref": reference}

    def _credit_notes(self, inv: dict, r: np.random.Generator) -> dict:
        """Credit notes against single-invoice orders (5-25% of the invoice)."""
        cn = np.flatnonzero(inv["credit"])
        u = r.random((4, len(cn)))
        net = np.maximum(1, np.rint(inv["net"][cn] * (0.05 + 0.2 * u[0])).astype(np.int64))
        day = inv["issue"][cn] + 10 + (u[1] * 51).astype(np.int64)
        order = np.lexsort((day, inv["anchor"][cn]))
        cn, net, day, u = cn[order], net[order], day[order], u[:, order]
        cn_id = _ids("CN-", self.new_ids(len(cn)))
        pick = pa.array(cn)
        self.emit(
            "billing__credit_notes",
            {
                "credit_note_id": cn_id,
                "invoice_id": _null_where(inv["id"].take(pick), u[2] < 0.2),
                "client_name": inv["client_name"].take(pick),
                "reference": inv["reference"].take(pick),
                "issue_date": _date(day),
                "currency": _take(_arr(CURRENCIES), inv["ccy"][cn]),
                "net_amount": _money(net),
                "reason": _take(_arr(CREDIT_NOTE_REASONS), (u[3] * len(CREDIT_NOTE_REASONS)).astype(np.int64)),
            },
            inv["anchor"][cn],
        )
        return {"inv": cn, "id": cn_id}

    def _billing_truth(self, o: dict, pattern: np.ndarray, inv: dict, lines: dict, cn: dict) -> dict:
        """Links and discrepancy records of the orders <-> invoices reconciliation."""
        ctx, i, cents, order_id, jj = self.ctx, o["i"], o["cents"], o["order_id"], inv["jj"]

        def ids_of(array, sel):
            return array.take(pa.array(sel))

        paired = np.flatnonzero(~inv["orphan"] & ~inv["cons"])
        self.link(
            "orders_invoices", inv["anchor"][paired], ids_of(order_id, jj[paired]), ids_of(inv["id"], paired),
            inv["link"][paired],
        )  # fmt: skip
        cl_lines = np.flatnonzero(lines["cons"])
        self.link(
            "orders_invoices", inv["anchor"][lines["g"][cl_lines]], ids_of(order_id, lines["j"][cl_lines]),
            ids_of(lines["id"], cl_lines), "consolidated",
        )  # fmt: skip
        c = cn["inv"]
        self.link("orders_invoices", inv["anchor"][c], ids_of(order_id, jj[c]), cn["id"], "credit_note")

        def order_rec(disc, sel, detail):
            self.record("crm__orders", disc, i[sel], ids_of(order_id, sel), detail)

        def inv_rec(disc, sel, detail):
            self.record("billing__invoices", disc, inv["anchor"][sel], ids_of(inv["id"], sel), detail)

        ccy_text = _arr(CURRENCIES)
        sel = np.flatnonzero(pattern == P_UNBILLED)
        order_rec("unbilled", sel, _join("booked=", _money(cents[sel]), " ", _take(ccy_text, o["ccy"][sel])))
        sel = np.flatnonzero((inv["link"] == L_SPLIT) & (inv["part"] == 1))
        order_rec("split", jj[sel], _join("invoices=", _str(inv["parts"][sel]), "; booked=", _money(cents[jj[sel]])))
        sel = np.flatnonzero(inv["pat"] == P_PARTIAL)
        order_rec(
            "partial_billing", jj[sel],
            _join("billed=", _money(inv["net"][sel]), "; booked=", _money(cents[jj[sel]]), "; invoice=",
                  ids_of(inv["id"], sel)),
        )  # fmt: skip
        sel = np.flatnonzero(inv["cons"])
        inv_rec("consolidated", sel, _join("orders=", _str(inv["parts"][sel])))
        sel = np.flatnonzero(inv["fx"])
        inv_rec(
            "fx", sel,
            _join("order_currency=", _take(ccy_text, inv["order_ccy"][sel]), "; order_amount=",
                  _money(cents[jj[sel]]), "; rate_month=", _date(_month_start_day(inv["issue"][sel]))),
        )  # fmt: skip
        sel = np.flatnonzero(inv["link"] == L_VOID)
        inv_rec("void", sel, _join("reissued_as=", _ids("INV-", inv["num"][sel] + 1)))
        sel = np.flatnonzero(inv["link"] == L_DUP)
        inv_rec("duplicate_billing", sel, _join("duplicate_of=", _ids("INV-", inv["num"][sel] - 1)))
        self.record(
            "billing__credit_notes", "credit_note", inv["anchor"][c], cn["id"],
            _join("invoice=", ids_of(inv["id"], c), "; order=", ids_of(order_id, jj[c])),
        )  # fmt: skip
        sel = np.flatnonzero(inv["orphan"])
        inv_rec("orphan_invoice", sel, _arr(np.where(inv["known"][sel], "client known", "client unknown")))

        expected = _ref_text(inv["ref_year"], inv["ref_num"], None, ctx.ref_digits)
        plain = ~inv["cons"] & ~inv["orphan"]
        for disc, modes in (
            ("ref_missing", (REF_MISSING,)),
            ("ref_typo", (REF_TYPO,)),
            ("ref_format", (REF_SPACES, REF_LOWER, REF_NOPREFIX)),
        ):
            sel = np.flatnonzero(np.isin(inv["mode"], modes) & plain)
            got = pc.fill_null(ids_of(inv["reference"], sel), "")
            inv_rec(disc, sel, _join("expected=", ids_of(expected, sel), "; got=", got))
            sel = np.flatnonzero(np.isin(lines["mode"], modes) & lines["cons"])
            self.record(
                "billing__invoice_lines", disc, inv["anchor"][lines["g"][sel]],
                _join(ids_of(lines["id"], sel), _str(lines["pos"][sel] + 1), sep="|"),
                _join("expected=", ids_of(o["ref"], lines["j"][sel]), "; got=",
                      pc.fill_null(ids_of(lines["ref"], sel), "")),
            )  # fmt: skip
        sel = np.flatnonzero(inv["variant"] > 0)
        inv_rec(
            "name_variant", sel,
            _join("kind=", _take(_arr(NAME_VARIANTS), inv["variant"][sel]), "; canonical=",
                  _client_names(_take_cl(inv["cl"], sel))),
        )  # fmt: skip

        # Order -> invoice pairs, for the deliverables <-> invoices links.
        return {
            "pattern": pattern,
            "pair_j": np.concatenate([jj[paired], lines["j"][cl_lines]]),
            "pair_inv": np.concatenate([paired, lines["g"][cl_lines]]),
            "pair_link": np.concatenate([inv["link"][paired], np.full(len(cl_lines), L_CONS)]),
            "inv_id": inv["id"],
        }

    def ads(self, o: dict, inv: dict) -> dict:
        """Insertion orders: 1-2 campaigns with daily delivery over part of the period, credits."""
        ctx, rates, n = self.ctx, self.rates, self.n
        r = self.rng(S_ADS)
        u = r.random((12, n))
        i, cents, pattern = o["i"], o["cents"], inv["pattern"]
        billed = ~np.isin(pattern, (P_UNBILLED, P_NONE))
        io = (o["typ"] == IO) & ~o["cancelled"]
        not_delivered = io & billed & (u[0] < rates["billed_not_delivered"])
        delivered = io & ~not_delivered
        over = delivered & (u[1] < rates["over_delivery"])
        under = delivered & ~over & (u[1] < rates["over_delivery"] + rates["under_delivery"])
        on_plan = 1 + rates["pacing_jitter"] * (2 * u[2] - 1)
        factor = np.where(over, 1.05 + 0.25 * u[2], np.where(under, 0.5 + 0.4 * u[2], on_plan))
        target = np.rint(cents * factor).astype(np.int64)
        leadgen = delivered & (u[3] < LEAD_GEN_SHARE)

        jd = np.flatnonzero(delivered)
        n_camp = 1 + (u[4][jd] < 0.3).astype(np.int64)
        cg, cpos = _ragged(n_camp)
        cj = jd[cg]
        first = np.rint(target[jd] * (0.4 + 0.3 * u[5][jd])).astype(np.int64)
        budget = np.where(n_camp[cg] == 1, target[cj], np.where(cpos == 0, first[cg], target[cj] - first[cg]))
        cu = r.random((8, len(cj)))
        platform = _cat(cu[0], PLATFORM_P[:-1])
        dur = o["end"][cj] - o["start"][cj] + 1
        days = np.minimum(3 + (cu[1] * 9).astype(np.int64), dur)
        flight = o["start"][cj] + (cu[2] * (dur - days + 1)).astype(np.int64)
        cpm = PLATFORM_CPM_CENTS[platform] * (0.7 + 0.6 * cu[3])
        ctr = PLATFORM_CTR[platform] * (0.5 + cu[4])
        with_ref = cu[5] >= rates["campaign_name_no_ref"]
        themes = _arr((*CAMPAIGN_THEMES, LEAD_GEN_THEME))
        theme_code = np.where(leadgen[cj], len(CAMPAIGN_THEMES), (cu[6] * len(CAMPAIGN_THEMES)).astype(np.int64))
        theme = _take(themes, theme_code)
        campaign_id = _join("CMP-", _pad(i[cj] + 1, ID_WIDTH), "-", _str(cpos + 1))
        brand = _brand(_take_cl(o["cl"], cj))
        label = _month_label(flight)
        name = pc.if_else(
            pa.array(with_ref),
            _join(brand, " | ", o["ref"].take(pa.array(cj)), " | ", theme, " ", label),
            _join(brand, " - ", theme, " ", label),
        )
        account_no = 1_000_000 + (_hash_u(ctx.seed, o["k"][cj] * 8 + platform, 21) * 9e6).astype(np.int64)
        account = _join("act_", _str(account_no))

        rg, rpos = _ragged(days)
        ru = r.random((4, len(rg)))
        spend = _allocate(budget, days, 0.5 + ru[0])
        impressions = np.rint(spend / cpm[rg] * 1000 * (0.85 + 0.3 * ru[1])).astype(np.int64)
        clicks = np.rint(impressions * ctr[rg] * (0.8 + 0.4 * ru[2])).astype(np.int64)
        no_stats = ru[3] < 0.02
        pick = pa.array(rg)
        self.emit(
            "ads__delivery",
            {
                "platform": _take(_arr(PLATFORMS), platform[rg]),
                "account_id": account.take(pick),
                "campaign_id": campaign_id.take(pick),
                "campaign_name": name.take(pick),
                "delivery_date": _date(flight[rg] + rpos),
                "impressions": _null_where(_str(impressions), no_stats),
                "clicks": _null_where(_str(clicks), no_stats),
                "spend": _money(spend),
                "currency": _take(_arr(CURRENCIES), o["ccy"][cj][rg]),
            },
            i[cj][rg],
        )

        camp_start = np.cumsum(n_camp) - n_camp
        credit_pos = np.flatnonzero(u[6][jd] < rates["platform_credit"])
        cr_j, cr_c = jd[credit_pos], camp_start[credit_pos]
        cr_amount = np.maximum(100, np.rint(target[cr_j] * (0.02 + 0.08 * u[7][cr_j])).astype(np.int64))
        cr_id = _ids("CR-", self.new_ids(len(cr_j)))
        cr_campaign = campaign_id.take(pa.array(cr_c))
        self.emit(
            "ads__credits",
            {
                "credit_id": cr_id,
                "platform": _take(_arr(PLATFORMS), platform[cr_c]),
                "account_id": account.take(pa.array(cr_c)),
                "campaign_id": _null_where(cr_campaign, u[8][cr_j] < 0.15),
                "credit_date": _date(o["end"][cr_j] + 5 + (u[9][cr_j] * 36).astype(np.int64)),
                "amount": _money(cr_amount),
                "currency": _take(_arr(CURRENCIES), o["ccy"][cr_j]),
                "reason": _take(_arr(CREDIT_REASONS), (u[10][cr_j] * len(CREDIT_REASONS)).astype(np.int64)),
            },
            i[cr_j],
        )

        order_id = o["order_id"]
        self.link(
            "delivery_orders", i[cj], campaign_id, order_id.take(pa.array(cj)),
            np.where(n_camp[cg] > 1, L_MULTI, L_ONE),
        )  # fmt: skip

        def order_rec(disc, sel, detail):
            self.record("crm__orders", disc, i[sel], order_id.take(pa.array(sel)), detail)

        for disc, mask in (("over_delivery", over), ("under_delivery", under)):
            sel = np.flatnonzero(mask)
            order_rec(disc, sel, _join("booked=", _money(cents[sel]), "; delivered=", _money(target[sel])))
        sel = np.flatnonzero(delivered & (pattern == P_UNBILLED))
        order_rec("delivered_not_billed", sel, _join("delivered=", _money(target[sel]), "; no invoice"))
        order_rec("billed_not_delivered", np.flatnonzero(not_delivered), "side=ads; no delivery rows")
        sel = np.flatnonzero(~with_ref)
        self.record(
            "ads__delivery", "ref_missing", i[cj][sel], campaign_id.take(pa.array(sel)),
            _join("campaign name carries no order reference; order=", order_id.take(pa.array(cj[sel]))),
        )  # fmt: skip
        self.record(
            "ads__credits", "platform_credit", i[cr_j], cr_id,
            _join("campaign=", cr_campaign, "; order=", order_id.take(pa.array(cr_j))),
        )  # fmt: skip
        form = _join("F-", _str(100 + (_hash_u(ctx.seed, i[cj] * 4 + cpos, 22) * 900).astype(np.int64)))
        return {
            "jd": jd, "n_camp": n_camp, "start": camp_start, "cj": cj, "campaign_id": campaign_id,
            "platform": platform, "flight": flight, "days": days, "leadgen": leadgen, "form": form,
        }  # fmt: skip

    # -- fulfilment: deliverables --

    def fulfilment(self, o: dict, inv: dict) -> None:
        """Content packages and retainers: 2-6 deliverables worth exactly the order amount."""
        ctx, rates, n = self.ctx, self.rates, self.n
        r = self.rng(S_FULFILMENT)
        u = r.random((8, n))
        i, cents, pattern = o["i"], o["cents"], inv["pattern"]
        billed = ~np.isin(pattern, (P_UNBILLED, P_NONE))
        packaged = o["typ"] != IO
        active = packaged & ~o["cancelled"]
        not_delivered = active & billed & (u[0] < rates["billed_not_delivered"])
        done = active & ~not_delivered
        dropped = packaged & o["cancelled"] & (u[1] < 0.5)  # cancelled work shows as cancelled tasks
        short = done & billed & (u[2] < rates["quantity_short"])
        no_ref = u[3] < rates["deliverable_no_ref"]

        jf = np.flatnonzero(done | dropped)
        count = 2 + (u[4][jf] * 5).astype(np.int64)
        g, pos = _ragged(count)
        rj = jf[g]
        last = pos == count[g] - 1
        du = r.random((7, len(g)))
        value = _allocate(cents[jf], count, 0.5 + du[0])
        retainer = o["typ"][rj] == RETAINER
        sold = np.where(
            last, 1, np.where(retainer, 5 + (du[1] * 36).astype(np.int64), 2 + (du[1] * 7).astype(np.int64))
        )
        unit = value // sold
        # The last deliverable (quantity 1) absorbs rounding: sum(quantity * unit) == amount.
        covered = np.bincount(g, weights=np.where(last, 0, sold * unit), minlength=len(jf)).astype(np.int64)
        unit = np.where(last, cents[rj] - covered[g], unit)
        cut = short[rj] & (pos == 0)
        qty = np.where(cut, sold - np.maximum(1, (sold * (0.1 + 0.4 * du[2])).astype(np.int64)), sold)
        cancelled = dropped[rj]
        dur = o["end"][rj] - o["start"][rj] + 1
        completed = o["start"][rj] * DAY + (du[3] * dur * DAY).astype(np.int64)
        item = np.where(
            retainer, (du[5] * len(RETAINER_ITEMS)).astype(np.int64), (du[5] * len(CONTENT_ITEMS)).astype(np.int64)
        )
        description = pc.if_else(
            pa.array(retainer), _take(_arr(RETAINER_ITEMS), np.minimum(item, len(RETAINER_ITEMS) - 1)),
            _take(_arr(CONTENT_ITEMS), item),
        )  # fmt: skip
        closing = pc.if_else(pa.array(retainer), pa.scalar("Retainer base fee"), pa.scalar("Project management and QA"))
        description = pc.if_else(pa.array(last), closing, description)

        cl = _take_cl(o["cl"], jf)
        brand = _brand(cl)
        month = _month_of(o["start"][jf])
        quarter = _join("Q", _str(month % 12 // 3 + 1), " ", _str(month // 12 + 1970))
        project_name = _join(brand, _take(_arr(PROJECT_THEMES), o["typ"][jf]), quarter, sep=" ")
        spaced = np.full(len(jf), REF_SPACES)
        ref_hint = _ref_text(o["ref_year"][jf], o["ref_num"][jf], spaced, ctx.ref_digits)
        hinted = no_ref[jf] & (u[5][jf] < 0.4)
        project_name = pc.if_else(pa.array(hinted), _join(project_name, " (", ref_hint, ")"), project_name)
        client = pc.if_else(pa.array(u[6][jf] < 0.5), pc.utf8_lower(brand), brand)
        d_id = _ids("D-", self.new_ids(len(g)))
        pick = pa.array(g)
        self.emit(
            "fulfilment__deliverables",
            {
                "deliverable_id": d_id,
                "project_id": _ids("PRJ-", ctx.project_number(i[rj]), ctx.ref_digits),
                "project_name": project_name.take(pick),
                "order_ref": _null_where(o["ref"].take(pa.array(rj)), no_ref[rj]),
                "client_name": client.take(pick),
                "description": description,
                "quantity": _str(qty),
                "unit_value": _money(unit),
                "currency": _take(_arr(CURRENCIES), o["ccy"][rj]),
                "status": pc.if_else(pa.array(cancelled), pa.scalar("cancelled"), pa.scalar("completed")),
                "completed_at": _null_where(_timestamp(completed, _tz_code(du[4], rates["tz_offset"])), cancelled),
            },
            i[rj],
        )

        order_id = o["order_id"]
        sel = np.flatnonzero(done & (pattern == P_UNBILLED))
        self.record(
            "crm__orders", "completed_not_billed", i[sel], order_id.take(pa.array(sel)),
            _join("completed=", _money(cents[sel]), "; no invoice"),
        )  # fmt: skip
        sel = np.flatnonzero(not_delivered)
        self.record(
            "crm__orders", "billed_not_delivered", i[sel], order_id.take(pa.array(sel)),
            "side=fulfilment; no deliverables",
        )  # fmt: skip
        sel = np.flatnonzero(cut)
        self.record(
            "fulfilment__deliverables", "quantity_short", i[rj][sel], d_id.take(pa.array(sel)),
            _join("sold_quantity=", _str(sold[sel]), "; delivered_quantity=", _str(qty[sel]), "; order=",
                  order_id.take(pa.array(rj[sel]))),
        )  # fmt: skip
        sel = np.flatnonzero(no_ref[rj] & ~cancelled)
        self.record(
            "fulfilment__deliverables", "ref_missing", i[rj][sel], d_id.take(pa.array(sel)),
            _join("order_ref empty; order=", order_id.take(pa.array(rj[sel]))),
        )  # fmt: skip

        # Every deliverable of a billed, delivered order links to every invoice of the order.
        pair_j, pair_inv, pair_link = inv["pair_j"], inv["pair_inv"], inv["pair_link"]
        keep = done[pair_j]
        pair_j, pair_inv, pair_link = pair_j[keep], pair_inv[keep], pair_link[keep]
        at = np.searchsorted(jf, pair_j)
        first = (np.cumsum(count) - count)[at]
        eg, ep = _ragged(count[at])
        self.link(
            "deliverables_invoices", i[pair_j[eg]], d_id.take(pa.array(first[eg] + ep)),
            inv["inv_id"].take(pa.array(pair_inv[eg])), pair_link[eg],
        )  # fmt: skip

    # -- leads: ad lead forms and CRM leads --

    def leads(self, o: dict, camp: dict) -> None:
        """Lead-gen campaigns' form submissions and the CRM leads they should become."""
        ctx, rates, n = self.ctx, self.rates, self.n
        r = self.rng(S_LEADS)
        u = r.random((3, n))
        i = o["i"]
        lg = np.flatnonzero(camp["leadgen"])
        g, _ = _ragged(1 + (u[0][lg] * 8).astype(np.int64))
        sj = lg[g]
        b = len(g)
        su = r.random((14, b))
        at = np.searchsorted(camp["jd"], sj)
        ci = camp["start"][at] + ((camp["n_camp"][at] == 2) & (su[0] < 0.5))
        sub_time = (camp["flight"][ci] + (su[1] * camp["days"][ci]).astype(np.int64)) * DAY + (su[2] * DAY).astype(
            np.int64
        )
        fate = _cat(su[3], [rates[k] for k in ("missing_in_crm", "duplicate_submission", "duplicate_crm_lead")])
        MISSING, DUP_SUB, DUP_CRM = 0, 1, 2

        # People: the submitters, then organic CRM leads that came from elsewhere.
        n_org = int(np.rint(b * ORGANIC_LEAD_SHARE))
        ou = r.random((6, n_org))
        pu = np.concatenate([su[4:8], ou[:4]], axis=1)
        first = _take(_arr(FIRST_NAMES), (pu[0] * len(FIRST_NAMES)).astype(np.int64))
        last = _take(_arr(LAST_NAMES), (pu[1] * len(LAST_NAMES)).astype(np.int64))
        full_name = _join(first, last, sep=" ")
        email = _join(
            pc.utf8_lower(first), ".", pc.utf8_lower(last), _str(1 + (pu[2] * 99).astype(np.int64)), "@",
            _take(_arr(EMAIL_DOMAINS), (pu[3] * len(EMAIL_DOMAINS)).astype(np.int64)),
        )  # fmt: skip

        # Submissions: every base one, plus a second one from the same person for DUP_SUB.
        again = np.flatnonzero(fate == DUP_SUB)
        s_src = np.concatenate([np.arange(b), again])
        s_time = np.concatenate([sub_time, sub_time[again] + 60 + (su[8][again] * 2 * DAY).astype(np.int64)])
        s_anchor = i[sj[s_src]]
        s_order = np.lexsort((s_time, s_anchor))
        s_rank = np.empty(len(s_order), np.int64)
        s_rank[s_order] = np.arange(len(s_order))
        s_num = self.new_ids(len(s_order))
        sub_id = _ids("SUB-", s_num)
        s_src, s_time, s_anchor = s_src[s_order], s_time[s_order], s_anchor[s_order]
        s_camp = ci[s_src]
        self.emit(
            "ads__lead_forms",
            {
                "submission_id": sub_id,
                "platform": _take(_arr(PLATFORMS), camp["platform"][s_camp]),
                "campaign_id": camp["campaign_id"].take(pa.array(s_camp)),
                "form_id": camp["form"].take(pa.array(s_camp)),
                "email": email.take(pa.array(s_src)),
                "full_name": full_name.take(pa.array(s_src)),
                "submitted_at": _timestamp(s_time, _tz_code(su[9][s_src], rates["tz_offset"])),
            },
            s_anchor,
        )
        base_sub = s_num[s_rank[:b]]  # submission number of each base submission
        dup_sub = s_num[s_rank[b:]]

        # CRM leads: one per base submission that reached the CRM, two for DUP_CRM, organic ones.
        reached = np.flatnonzero(fate != MISSING)
        twice = np.flatnonzero(fate == DUP_CRM)
        created = sub_time + 120 + (su[10] * 6 * 3600).astype(np.int64)
        n_camps = len(camp["cj"])
        mismatch = (su[11] < rates["attribution_mismatch"]) & (n_camps > 1)
        other = (ci + 1 + (su[12] * max(n_camps - 1, 1)).astype(np.int64)) % max(n_camps, 1)
        credited = np.where(mismatch, other, ci)
        org_anchor = self.i0 + (ou[4] * n).astype(np.int64)
        org_time = _MONTH_START[0] * DAY + (ou[5] * (SERVICE_LAST_DAY - _MONTH_START[0]) * DAY).astype(np.int64)
        l_person = np.concatenate([reached, twice, b + np.arange(n_org)])
        l_src = np.concatenate([reached, twice, np.full(n_org, -1)])
        l_second = np.concatenate([np.zeros(len(reached), bool), np.ones(len(twice), bool), np.zeros(n_org, bool)])
        l_time = np.concatenate(
            [created[reached], created[twice] + 60 + (su[13][twice] * 3 * DAY).astype(np.int64), org_time]
        )
        l_anchor = np.concatenate([i[sj[reached]], i[sj[twice]], org_anchor])
        l_order = np.lexsort((l_time, l_anchor))
        l_person, l_src, l_second, l_time, l_anchor = (
            a[l_order] for a in (l_person, l_src, l_second, l_time, l_anchor)
        )
        m = len(l_order)
        lu = r.random((6, m))
        lead_id = _ids("L-", self.new_ids(m))
        from_form = l_src >= 0
        src = np.where(from_form, l_src, 0)
        k = np.where(from_form, o["k"][sj[src]], (lu[0] * ctx.n_clients).astype(np.int64))
        l_email, l_name = email.take(pa.array(l_person)), full_name.take(pa.array(l_person))
        variant = np.where(from_form & (lu[1] < rates["contact_variant"]), 1 + (lu[2] * 4).astype(np.int64), 0)
        l_email = _replace(l_email, variant == 1, pc.utf8_upper(l_email.filter(pa.array(variant == 1))))
        l_email = _replace(l_email, variant == 2, _join(" ", l_email.filter(pa.array(variant == 2)), " "))
        l_name = _replace(l_name, variant == 3, pc.utf8_upper(l_name.filter(pa.array(variant == 3))))
        l_name = _replace(l_name, variant == 4, pc.replace_substring(l_name.filter(pa.array(variant == 4)), " ", "  "))
        l_campaign = _null_where(camp["campaign_id"].take(pa.array(np.where(from_form, credited[src], 0))), ~from_form)
        self.emit(
            "crm__leads",
            {
                "lead_id": lead_id,
                "email": l_email,
                "full_name": l_name,
                "client_id": _null_where(_ids("C-", k + 1, 6), lu[3] < 0.1),
                "campaign_id": l_campaign,
                "owner": _null_where(_take(_arr(MANAGERS), ctx.clients(k)["manager"]), lu[4] < 0.15),
                "created_at": _timestamp(l_time, _tz_code(lu[5], rates["tz_offset"])),
            },
            l_anchor,
        )

        # Ground truth.
        lead_pos = np.flatnonzero(from_form)
        pos_first = lead_pos[~l_second[lead_pos]]
        pos_second = lead_pos[l_second[lead_pos]]
        lead_of_sub = np.full(b, -1)
        lead_of_sub[l_src[pos_first]] = pos_first
        second_of_sub = np.full(b, -1)
        second_of_sub[l_src[pos_second]] = pos_second

        def sub_ids(nums):
            return _ids("SUB-", nums)

        sel = np.flatnonzero(fate != MISSING)
        self.link(
            "lead_forms_leads", i[sj[sel]], sub_ids(base_sub[sel]), lead_id.take(pa.array(lead_of_sub[sel])),
            "one_to_one",
        )  # fmt: skip
        self.link(
            "lead_forms_leads", i[sj[again]], sub_ids(dup_sub), lead_id.take(pa.array(lead_of_sub[again])),
            "duplicate",
        )  # fmt: skip
        self.link(
            "lead_forms_leads", i[sj[twice]], sub_ids(base_sub[twice]), lead_id.take(pa.array(second_of_sub[twice])),
            "duplicate",
        )  # fmt: skip
        sel = np.flatnonzero(fate == MISSING)
        self.record("ads__lead_forms", "missing_in_crm", i[sj[sel]], sub_ids(base_sub[sel]), "no CRM lead")
        self.record(
            "ads__lead_forms", "duplicate_lead", i[sj[again]], sub_ids(dup_sub),
            _join("same person as ", sub_ids(base_sub[again]), "; the CRM keeps one lead"),
        )  # fmt: skip
        self.record(
            "crm__leads", "duplicate_lead", i[sj[twice]], lead_id.take(pa.array(second_of_sub[twice])),
            _join("duplicate of ", lead_id.take(pa.array(lead_of_sub[twice]))),
        )  # fmt: skip
        sel = lead_pos[mismatch[l_src[lead_pos]]]
        self.record(
            "crm__leads", "attribution_mismatch", l_anchor[sel], lead_id.take(pa.array(sel)),
            _join("submitted via ", camp["campaign_id"].take(pa.array(ci[l_src[sel]])), "; CRM credits ",
                  l_campaign.take(pa.array(sel))),
        )  # fmt: skip
        sel = np.flatnonzero(variant > 0)
        kinds = _arr(["", "email_upper_case", "email_whitespace", "name_upper_case", "name_whitespace"])
        self.record(
            "crm__leads", "contact_variant", l_anchor[sel], lead_id.take(pa.array(sel)),
            _join("kind=", _take(kinds, variant[sel])),
        )  # fmt: skip


def _month_start_day(days: np.ndarray) -> np.ndarray:
    return _month_of(days).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)


_LINK_TYPES = _arr(LINK_TYPES)


# --- writing files --------------------------------------------------------------------------

_CSV_SPECIAL = re.compile('[,"\r\n]')


def _landing_path(landing: Path, table: str, chunk: int, late: bool, fmt: str) -> Path:
    source, name = table.split("__")
    return landing / source / name / f"{name}_{chunk:05d}{'_late' if late else ''}.{fmt}"


def _remove_previous_output(landing: Path, truth_dir: Path) -> None:
    """Delete files an earlier run wrote (and only those), so no stale chunk gets ingested."""
    for table in MIXED_FORMATS:
        source, name = table.split("__")
        folder = landing / source / name
        if not folder.is_dir():
            continue
        pattern = re.compile(rf"{re.escape(name)}_\d{{5}}(_late)?\.(csv|jsonl|parquet)")
        for path in folder.iterdir():
            if pattern.fullmatch(path.name) or path.name == LEGACY_FILE.name:
                path.unlink()
    for name in ("records.csv", "links.csv", "manifest.json", "bad_files.csv"):
        (truth_dir / name).unlink(missing_ok=True)


def _may_contain(column: pa.ChunkedArray | pa.Array, chars: bytes) -> bool:
    """Cheap pre-check on the raw UTF-8 bytes before running a per-value escape."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    for chunk in chunks:
        data = chunk.buffers()[2] if len(chunk) else None
        if data is not None:
            raw = data.to_pybytes()
            if any(bytes([c]) in raw for c in chars):
                return True
    return False


def _csv_field(column) -> pa.ChunkedArray | pa.Array:
    """Minimal quoting, as Python's csv module does: only values with , " or newlines."""
    column = pc.fill_null(column, "")
    if not _may_contain(column, b',"\r\n'):
        return column
    quoted = _join('"', pc.replace_substring(column, '"', '""'), '"')
    return pc.if_else(pc.match_substring_regex(column, _CSV_SPECIAL.pattern), quoted, column)


def _json_field(name: str, column) -> pa.ChunkedArray | pa.Array:
    """'"name":"value"' or '"name":null'; values are strings so decimals stay exact."""
    if _may_contain(column, b'"\\'):
        column = pc.replace_substring(pc.replace_substring(column, "\\", "\\\\"), '"', '\\"')
    return pc.fill_null(_join(f'"{name}":"', column, '"'), f'"{name}":null')


def _write_lines(fh, lines) -> None:
    """Write a string array's characters straight from its Arrow buffer (no Python strings)."""
    chunks = lines.chunks if isinstance(lines, pa.ChunkedArray) else [lines]
    for chunk in chunks:
        if len(chunk) == 0:
            continue
        offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int32)[chunk.offset : chunk.offset + len(chunk) + 1]
        fh.write(memoryview(chunk.buffers()[2])[offsets[0] : offsets[-1]])


def _csv_lines(table: pa.Table):
    return _join(_join(*(_csv_field(c) for c in table.columns), sep=","), "\n")


def _write_csv(table: pa.Table, fh) -> None:
    if table.num_rows:
        _write_lines(fh, _csv_lines(table))


def _write_landing(table: pa.Table, path: Path, fmt: str) -> None:
    """Write one landing file; every column is text, the ingester casts per the contract."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        pq.write_table(table, path, compression="snappy")
        return
    with open(path, "wb") as fh:
        if fmt == "csv":
            fh.write((",".join(table.column_names) + "\n").encode())
            _write_csv(table, fh)
        else:
            if table.num_rows:
                fields = [_json_field(name, table.column(name)) for name in table.column_names]
                _write_lines(fh, _join("{", _join(*fields, sep=","), "}\n"))


def _value_counts(column: pa.ChunkedArray) -> dict[str, int]:
    if len(column) == 0:
        return {}
    counts = pc.value_counts(column)
    return dict(zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True))


class _TruthWriter:
    """Streams records.csv and links.csv chunk by chunk; writes bad_files.csv at the end."""

    def __init__(self, directory: Path):
        self.directory = directory

    def __enter__(self) -> _TruthWriter:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.records = open(self.directory / "records.csv", "wb")
        self.records.write(b"entity,record_id,discrepancy,detail\n")
        self.links = open(self.directory / "links.csv", "wb")
        self.links.write(b"reconciliation,left_id,right_id,link_type\n")
        return self

    def write(self, records: pa.Table, links: pa.Table) -> None:
        _write_csv(records, self.records)
        _write_csv(links, self.links)

    def write_bad_files(self, rows: list[tuple[str, str, int]]) -> None:
        with open(self.directory / "bad_files.csv", "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(["path", "problem"])
            writer.writerows((path, problem) for path, problem, _ in rows)

    def __exit__(self, *exc) -> None:
        self.records.close()
        self.links.close()


def _write_legacy_export(ctx: _Context, path: Path) -> int:
    """An old billing export without the ``currency`` column: ingestion must reject the file."""
    columns = [c for c in contract.entity("billing", "invoices").column_names if c != "currency"]
    r = np.random.default_rng([ctx.seed, 0, 999])
    k = np.arange(5)
    names = _client_names(ctx.clients(k)).to_pylist()
    rows = []
    for n in range(5):
        net = int(r.integers(50_000, 2_000_000))
        tax = net // 5
        day = np.datetime64("2024-11-01") + int(r.integers(0, 60))
        rows.append(
            {
                "invoice_id": f"LEGACY-{n + 1:05d}",
                "invoice_number": f"L{n + 1:05d}",
                "client_name": names[n],
                "reference": "",
                "issue_date": str(day),
                "due_date": str(day + 30),
                "net_amount": f"{net // 100}.{net % 100:02d}",
                "tax_amount": f"{tax // 100}.{tax % 100:02d}",
                "total_amount": f"{(net + tax) // 100}.{(net + tax) % 100:02d}",
                "status": "paid",
                "updated_at": f"{day}T09:00:00Z",
            }
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)
