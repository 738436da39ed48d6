"""The generated world's parameters: noise rates, business mixes, calendar, word lists, formats."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from orchestration import contract, settings

GENERATOR_VERSION = "2.0.0"

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
