"""Dialect B: a held-out agency data set, written independently of the matching engine.

Dialect A (``orchestration/lab/generate/``) is what the engine was developed against. This
module describes the same business (an agency that sells media, retainers and content,
runs campaigns, bills and fulfils) in a different voice: HubSpot-style record ids,
Xero-style invoice UUIDs and numbers, agency order references in several house styles,
references hidden in line descriptions, statement-style consolidated invoices, VAT-inclusive
lines, duplicate exports, trading/legal/alias client names, Asana-style projects and
platform-shaped campaign ids. Every piece of mess is written to ``ground_truth/``.

It exists to measure generalisation. **Never tune the matcher on it.**

The files are already mapped onto the landing contract (CSV, ISO dates, plain decimals),
plus the contract-v2 optional columns. Everything is plain Python driven by
``random.Random`` streams seeded from ``(seed, stream name)``, so a seed always gives the
same bytes. Money is integer cents throughout.
"""

from __future__ import annotations

import bisect
import csv
import json
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from orchestration import contract

DIALECT = "b"
DIALECT_VERSION = "1.0.0"
AS_OF = date(2026, 12, 18)  # the day the agency exported everything
LAST_DAY = date(2026, 12, 31)
SERVICE_CAP = date(2026, 10, 31)

# Base noise rates at noise=1.0 (each is multiplied by `noise`, then capped).
RATES: dict[str, float] = {
    "crm_ref_missing": 0.03,  # CRM order has no order_ref
    "client_po": 0.30,  # share of clients that issue purchase orders
    "unbilled": 0.04,
    "partial_billing": 0.03,
    "split": 0.05,  # non-retainer order billed over 2-4 invoices
    "duplicate_billing": 0.015,
    "void_reissue": 0.025,
    "credit_note": 0.03,
    "billed_cancelled": 0.25,  # share of cancelled orders that get billed anyway
    "orphan_invoice": 0.01,  # per order
    "consolidating_client": 0.35,  # share of big clients billed on statements
    "ref_desc_only": 0.22,  # header reference empty, reference only in a line description
    "ref_nowhere": 0.06,  # no reference anywhere on the invoice
    "ref_typed": 0.22,  # reference typed differently (CP-018251, cp-18251, bare digits ...)
    "ocr_reference": 0.03,
    "name_variant": 0.6,  # invoice client name other than the legal name
    "vat_inclusive": 0.06,  # of taxed invoices
    "duplicate_export": 0.025,
    "fee_line": 0.04,  # an extra line that bills no order
    "consolidated_line_no_ref": 0.15,
    "over_delivery": 0.04,
    "under_delivery": 0.06,
    "not_delivered": 0.02,
    "delivery_before_order": 0.03,
    "negative_spend": 0.015,  # per campaign
    "test_campaign": 0.008,  # per order
    "campaign_no_ref": 0.35,
    "platform_credit": 0.03,
    "quantity_short": 0.05,
    "package_not_delivered": 0.02,
    "project_ref_in_name": 0.15,
    "project_ref_field": 0.35,
    "missing_in_crm": 0.06,
    "repeat_submission": 0.05,
    "double_submit": 0.02,
    "duplicate_crm_lead": 0.03,
    "contact_variant": 0.12,
    "bad_value": 0.0012,  # per row of the corrupted tables
}

V2_COLUMNS: dict[str, tuple[str, ...]] = {
    "crm__clients": ("client_id", "legal_name", "trading_name", "aliases", "country", "billing_currency"),
    "crm__orders": ("order_date", "po_number"),
    "ads__delivery": ("account_name", "account_timezone"),
    "billing__invoices": ("tax_rate", "payment_terms"),
}
TABLES = (
    "crm__clients",
    "crm__orders",
    "crm__leads",
    "ads__delivery",
    "ads__credits",
    "ads__lead_forms",
    "billing__invoices",
    "billing__invoice_lines",
    "billing__credit_notes",
    "fulfilment__deliverables",
)


def columns(table: str) -> list[str]:
    """Contract columns of ``table`` (when the contract knows it) followed by the v2 extras."""
    base = list(contract.ENTITY_BY_TABLE[table].column_names) if table in contract.ENTITY_BY_TABLE else []
    return base + [c for c in V2_COLUMNS.get(table, ()) if c not in base]


# --- vocabulary ------------------------------------------------------------------------------

FIRST = (
    "Patricia James Oliver Amelia George Isla Harry Freya Noah Priya Mohammed Chloe Daniel Sofia Lukas "
    "Emma Henrik Aoife Connor Mei Rafael Ingrid Tomas Hannah Ravi Grace Sean Elena Marco Jonas Beatriz "
    "Kwame Fatima Yusuf Niamh Pieter Camille Mateo Astrid Dmitri Leila Owen Siobhan Hugo Zara"
).split()
SURNAMES = (
    "Williams Okafor Lindqvist Brennan Kowalski Mehta Tanaka Dubois Moretti Hughes Clarke Fischer "
    "Jansen Novak Byrne Patel Ahmed Schmidt Rossi Walsh Evans Murphy Kaur Nguyen Silva Costa Hansen "
    "Bergstrom Davies Fletcher Gallagher Harrington Ibsen Keane Lambert Marsh Nolan Osei Pryce Quinn "
    "Rahman Sandoval Thorne Underwood Vance Whitfield Yates Zielinski Ashworth Blackwood Carver Dunmore"
).split()
PLACES = (
    "Foxford Ashby Northgate Kingsbridge Harrowfield Bramley Westbury Elmstead Marlow Redcliffe "
    "Thornbury Calder Ashdown Fenwick Lowther Pennington Stirling Whitmore Avonside Hartland Larkhill "
    "Mossgiel Oakham Ravenscar Silverdale Tamworth Wexcombe Yarrow Brightwater Coldharbour Dunmere "
    "Eastleigh Fairhaven Glenmore Hollybush Ivybridge Juniper Kelso Longmead Millbrook"
).split()
INDUSTRIES = (
    "Furniture|Events|Dental|Brewing|Coffee Roasters|Interiors|Logistics|Skincare|Cycles|Pet Supplies|"
    "Bakery|Fitness|Architects|Opticians|Travel|Wines|Tiles|Roofing|Software|Analytics|Fashion|Jewellers|"
    "Kitchens|Print|Veterinary|Estate Agents|Motors|Garden Centres|Yoga|Hotels|Spirits|Outdoor|Toys|Audio|"
    "Solar|Recruitment|Catering|Florists|Bathrooms|Clinics|Flooring|Boats|Cosmetics|Studios|Removals"
).split("|")
SYLLABLES_A = "Lum Vel Bright Nov Quill Sol Arc Ever Mar Zen Hal Cor Tal Kin Ori Fen Sil Bel Dor Ast".split()
SYLLABLES_B = "ora ex path ia ent ivo ly ara ion ika oon ex ity ano ova ura ette is ium ar".split()

COUNTRIES = (  # country, weight, currency, tax basis points, suffixes, time zones
    ("GB", 42, "GBP", 2000, ("Ltd", "Limited", "PLC", "LLP"), ("Europe/London",)),
    ("IE", 5, "EUR", 2300, ("Ltd", "DAC"), ("Europe/Dublin",)),
    ("DE", 8, "EUR", 1900, ("GmbH", "AG", "GmbH & Co. KG"), ("Europe/Berlin",)),
    ("FR", 6, "EUR", 2000, ("SAS", "SARL"), ("Europe/Paris",)),
    ("NL", 5, "EUR", 2100, ("B.V.",), ("Europe/Amsterdam",)),
    ("ES", 3, "EUR", 2100, ("S.L.",), ("Europe/Madrid",)),
    ("US", 18, "USD", 0, ("LLC", "Inc."), ("America/New_York", "America/Chicago", "America/Los_Angeles")),
    ("CA", 4, "CAD", 500, ("Inc.", "Ltd."), ("America/Toronto", "America/Vancouver")),
    ("AU", 4, "AUD", 1000, ("Pty Ltd",), ("Australia/Sydney", "Australia/Melbourne")),
    ("CH", 3, "CHF", 810, ("AG", "GmbH"), ("Europe/Zurich",)),
    ("SE", 2, "SEK", 2500, ("AB",), ("Europe/Stockholm",)),
)
CURRENCY_SCALE = {"SEK": 10, "JPY": 150}  # order sizes are drawn in ~GBP and scaled
TERMS = (("Net 30", 40), ("Net 14", 15), ("Net 45", 12), ("Net 60", 8), ("Due on receipt", 12), ("30 days EOM", 13))
MANAGERS = "p.okafor s.lindqvist m.brennan a.kowalski r.mehta h.tanaka c.dubois l.moretti k.hughes j.clarke".split()
AGENCIES = ("Northwind Digital", "Hollow Oak Media", "Parallax & Co", "Saltmarsh Agency", "Greyfield Partners")
PLATFORMS = (("google_ads", 35), ("meta", 32), ("linkedin", 12), ("microsoft_ads", 8), ("tiktok", 13))
PLATFORM_LABEL = {
    "google_ads": "Google Ads",
    "meta": "Meta",
    "linkedin": "LinkedIn",
    "microsoft_ads": "Microsoft Ads",
    "tiktok": "TikTok",
}
CPM = {"google_ads": 9.0, "meta": 7.5, "linkedin": 32.0, "microsoft_ads": 11.0, "tiktok": 6.0}
CTR = {"google_ads": 0.035, "meta": 0.011, "linkedin": 0.006, "microsoft_ads": 0.03, "tiktok": 0.009}
THEMES = (
    "Search",
    "Brand",
    "Prospecting",
    "Retargeting",
    "Awareness",
    "Lead Gen",
    "Performance Max",
    "Video Views",
    "Conversions",
    "Catalogue Sales",
    "Always-on",
)
MONTHS = "January February March April May June July August September October November December".split()
CONTENT_TITLES = (
    "Blog",
    "Social content",
    "Video series",
    "Website copy refresh",
    "Newsletter programme",
    "Product photography",
    "Case studies",
)
RETAINER_TITLES = ("SEO retainer", "Always-on social", "PR retainer", "Community management", "CRO retainer")
CONTENT_ITEMS = (
    ("Blog article 1500 words", 180, 420),
    ("Infographic", 250, 700),
    ("Short-form video edit", 300, 900),
    ("Photo shoot (half day)", 600, 1400),
    ("Newsletter edition", 150, 400),
    ("Landing page copy", 200, 600),
    ("Social post set (10)", 220, 520),
)
RETAINER_ITEMS = ("Strategy & reporting", "Campaign optimisation", "Content calendar", "Community replies", "Audit")
FEE_LINES = ("Ad serving & tracking fees", "Reporting dashboard licence", "Stock imagery", "Late payment fee")
CREDIT_REASONS = ("Under-delivery credit", "Goodwill gesture", "Pricing correction", "Campaign paused early")
PLATFORM_CREDIT_REASONS = ("Invalid traffic adjustment", "Policy credit", "Billing adjustment", "Make-good")
DOMAINS = ("example.com", "example.org", "example.net", "mail.example", "post.test", "inbox.example")


# --- small helpers ---------------------------------------------------------------------------


def money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def half_up(num: int, den: int) -> int:
    """round(num / den) half up, for num >= 0."""
    return (2 * num + den) // (2 * den)


def allocate(total: int, weights: list[float]) -> list[int]:
    """Split integer ``total`` proportionally to ``weights`` (largest remainder, exact sum)."""
    s = sum(weights)
    raw = [total * w / s for w in weights]
    out = [int(x) for x in raw]
    rest = total - sum(out)
    order = sorted(range(len(raw)), key=lambda i: (out[i] - raw[i], i))
    for i in order[:rest]:
        out[i] += 1
    return out


def month_start(d: date, add: int = 0) -> date:
    y, m = divmod(d.month - 1 + add, 12)
    return date(d.year + y, m + 1, 1)


def month_end(d: date) -> date:
    return month_start(d, 1) - timedelta(days=1)


def clamp(d: date, hi: date = LAST_DAY) -> date:
    return min(d, hi)


def ts(d: date, rng: random.Random, lo: int = 7, hi: int = 19) -> str:
    t = datetime(d.year, d.month, d.day, rng.randint(lo, hi), rng.randrange(60), rng.randrange(60))
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def ts_dt(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def pick(rng: random.Random, weighted) -> object:
    items = [w[0] for w in weighted]
    return rng.choices(items, weights=[w[1] for w in weighted])[0]


def lognorm_cents(rng: random.Random, median: float, sigma: float, lo: float, hi: float, step: int) -> int:
    v = min(max(median * rng.lognormvariate(0, sigma), lo), hi)
    return max(step, int(round(v / step)) * step) * 100


def _uuid(r: random.Random) -> str:
    """A UUID4-shaped id (Xero invoice ids), from the seeded stream."""
    a, b, c, d, e = r.getrandbits(32), r.getrandbits(16), r.getrandbits(12), r.getrandbits(14), r.getrandbits(48)
    return f"{a:08x}-{b:04x}-4{c:03x}-{0x8000 | d:04x}-{e:012x}"


def initials(words: str) -> str:
    return "".join(w[0] for w in words.replace("&", " ").split() if w[0].isalpha()).upper()


# Branch and region qualifiers for client names once the name pool is used up (build_clients).
QUALIFIERS = ("North", "South", "East", "West", "Central", "Coastal", "Metro", "Highland", "Valley", "Harbour")
CLIENT_NAME_DRAWS = 2000

# --- the world -------------------------------------------------------------------------------


@dataclass
class Client:
    cid: str
    legal: str
    trading: str
    aliases: list[str]
    country: str
    currency: str
    billing_currency: str
    tax_bp: int
    terms: str
    code: str
    short: str
    tz: str
    po_style: str | None
    consolidates: bool = False


@dataclass
class Order:
    n: int
    client: Client
    otype: str
    cents: int
    currency: str
    start: date
    end: date
    order_date: date
    status: str
    manager: str
    style: str = ""
    number: int = 0
    year: int = 0
    suffix: str = ""
    ref: str = ""
    crm_ref: str = ""
    po: str = ""
    oid: str = ""
    months: int = 1
    campaigns: list = field(default_factory=list)
    invoices: list = field(default_factory=list)  # (invoice_id, link_type)
    early_delivery: bool = False
    consolidated: bool = False
    unbilled: bool = False


@dataclass
class Invoice:
    iid: str
    client: Client | None
    name: str
    reference: str
    issue: date
    currency: str
    tax_bp: int
    terms: str
    lines: list  # [description, reference, quantity, unit_price, cents, order | None]
    link_type: str = "one_to_one"
    status: str = ""
    void: bool = False
    copy_of: Invoice | None = None
    vat_inclusive: bool = False
    number: str = ""
    orphan: bool = False


class Dialect:
    """Builds every table in memory, then writes them."""

    def __init__(self, seed: int, n_orders: int, noise: float):
        self.seed, self.n_orders, self.noise = seed, n_orders, noise
        self.rows: dict[str, list[tuple[str, dict]]] = defaultdict(list)  # table -> [(file, row)]
        self.records: list[tuple[str, str, str, str]] = []
        self.links: list[tuple[str, str, str, str]] = []
        self.used_ids: set[str] = set()
        self.agency = self.rng("agency").choice(AGENCIES)

    # randomness ----------------------------------------------------------------------------
    def rng(self, stream: str) -> random.Random:
        return random.Random(f"dialect-b|{self.seed}|{stream}")

    def rate(self, key: str, cap: float = 0.9) -> float:
        return min(RATES[key] * self.noise, cap)

    def new_id(self, rng: random.Random, make) -> str:
        while True:
            value = make(rng)
            if value not in self.used_ids:
                self.used_ids.add(value)
                return value

    def record(self, table: str, record_id: str, discrepancy: str, detail: str = "") -> None:
        self.records.append((table, record_id, discrepancy, detail))

    def link(self, recon: str, left: str, right: str, link_type: str) -> None:
        self.links.append((recon, left, right, link_type))

    # clients ---------------------------------------------------------------------------------
    def build_clients(self) -> None:
        rng = self.rng("clients")
        n = max(30, self.n_orders // 15)
        legal_seen: set[str] = set()
        trading_seen: set[str] = set()
        codes: set[str] = set()
        self.clients: list[Client] = []
        country_w = [c[1] for c in COUNTRIES]
        cid = rng.randrange(30000, 60000)
        # Draws in a row that gave a name already taken. The name pool holds about 6,000
        # trading names: past it (about 90,000 orders) every draw collides, so a branch or
        # region qualifier ("Harrow Dental North") tells the new client apart. Below it no
        # draw is qualified, and the data of a seed is as before.
        collisions, level = 0, 0  # level 1: qualified names; 2: qualified and numbered
        numbered: dict[str, int] = {}
        while len(self.clients) < n:
            country, _, home_ccy, tax_bp, suffixes, tzs = rng.choices(COUNTRIES, weights=country_w)[0]
            suffix = rng.choice(suffixes)
            ind = rng.choice(INDUSTRIES)
            shape = rng.choices("ABCDEF", weights=(24, 14, 14, 16, 18, 14))[0]
            aliases: list[str] = []
            if shape == "A":
                first, sur = rng.choice(FIRST), rng.choice(SURNAMES)
                legal, trading = f"{first} {sur} {ind} {suffix}", f"{sur} {ind}"
                aliases.append(f"{initials(first + ' ' + sur + ' ' + ind)} {suffix}")
            elif shape == "B":
                place = rng.choice(PLACES)
                legal = f"The {place} {ind} Company" + (f" {suffix}" if rng.random() < 0.3 else "")
                trading = f"{place} {ind}"
                aliases.append(f"{place} {ind} Co")
            elif shape == "C":
                a, b = rng.sample(SURNAMES, 2)
                legal, trading = f"{a} & {b} {suffix}", f"{a} & {b}"
                aliases.append(f"{a} and {b}")
                ind = ""
            elif shape == "D":
                place = rng.choice(PLACES)
                legal, trading = f"{place} {ind} Group {suffix}", f"{place} {ind}"
                aliases.append(f"{place} Group")
            elif shape == "E":
                coined = rng.choice(SYLLABLES_A) + rng.choice(SYLLABLES_B)
                legal, trading = f"{coined} {ind} {suffix}", coined
                aliases.append(f"{coined} {ind}")
            else:
                sur = rng.choice(SURNAMES)
                legal, trading = f"{sur} {ind} Holdings {suffix}", f"{sur} {ind}"
                aliases.append(f"{sur} {ind} ({country})")
            if collisions >= CLIENT_NAME_DRAWS and level < 2:
                collisions, level = 0, level + 1
            if level:
                qualifier = rng.choice(QUALIFIERS) + (f" {rng.randrange(2, 1000)}" if level == 2 else "")
                legal, trading = f"{legal} ({qualifier})", f"{trading} {qualifier}"
            if legal in legal_seen or trading in trading_seen:
                collisions += 1
                continue
            legal_seen.add(legal)
            trading_seen.add(trading)
            if rng.random() < 0.15:  # a former brand name
                aliases.append(rng.choice(SYLLABLES_A) + rng.choice(SYLLABLES_B) + " " + (ind or "Partners"))
            word = "".join(ch for ch in trading.split()[0] if ch.isalpha()).upper()
            candidates = [word[:4]] + [word[:3] + ch for ch in "XZQKVWJYBDFGHMNPRT"]
            candidates += [word[:2] + a + b for a in "XZQKVWJY" for b in "XZQKVWJY"]
            if level:  # then two letters and two digits, once names are qualified
                candidates += [f"{word[:2]}{i:02d}" for i in range(100)]
            code = next((x for x in candidates if x not in codes), None)
            if code is None and level == 2:  # and past those, two letters and a serial
                serial = numbered.get(word[:2], 99)
                while code is None or code in codes:
                    serial += 1
                    code = f"{word[:2]}{serial}"
                numbered[word[:2]] = serial
            if code is None:  # every code of its first word's letters is taken
                collisions += 1
                continue
            collisions = 0
            codes.add(code)
            billing = home_ccy
            if country == "CH" and rng.random() < 0.2:
                billing = "EUR"
            if country == "SE" and rng.random() < 0.3:
                billing = "EUR"
            cid += rng.randint(1, 40)
            short = trading.split()[0] if shape in "BDEF" else trading.split(" & ")[0]
            self.clients.append(
                Client(
                    cid=f"CL{cid}",
                    legal=legal,
                    trading=trading,
                    aliases=aliases,
                    country=country,
                    currency=home_ccy,
                    billing_currency=billing,
                    tax_bp=tax_bp,
                    terms=pick(rng, TERMS),
                    code=code,
                    short=short,
                    tz=rng.choice(tzs),
                    po_style=rng.choice(("PO-5", "SAP10", "PO6", "CODE"))
                    if rng.random() < self.rate("client_po")
                    else None,
                )
            )
        for c in self.clients:
            self.rows["crm__clients"].append(
                (
                    "companies_export.csv",
                    {
                        "client_id": c.cid,
                        "legal_name": c.legal,
                        "trading_name": c.trading if rng.random() < 0.93 else "",
                        "aliases": " ; ".join(c.aliases) if rng.random() < 0.8 else "",
                        "country": c.country,
                        "billing_currency": c.billing_currency if rng.random() < 0.96 else "",
                    },
                )
            )

    # orders ----------------------------------------------------------------------------------
    def build_orders(self) -> None:
        rng = self.rng("orders")
        weights = [(k + 1) ** -0.7 for k in range(len(self.clients))]
        order_clients = rng.choices(self.clients, weights=weights, k=self.n_orders)
        months = [month_start(date(2025, 2, 1), m) for m in range(21)]  # 2025-02 .. 2026-10
        month_w = [1.0 + 0.03 * i for i in range(len(months))]
        self.orders: list[Order] = []
        for i, client in enumerate(order_clients):
            otype = rng.choices(("insertion_order", "retainer", "content_package"), weights=(50, 22, 28))[0]
            first = rng.choices(months, weights=month_w)[0]
            scale = CURRENCY_SCALE.get(client.billing_currency, 1)
            n_months = 1
            if otype == "retainer":
                n_months = rng.choice((2, 3, 3, 4, 6))
                start = first
                end = month_end(month_start(start, n_months - 1))
                if end > SERVICE_CAP:
                    end = SERVICE_CAP
                    n_months = (end.year - start.year) * 12 + end.month - start.month + 1
                fee = lognorm_cents(rng, 4000, 0.6, 1200, 20000, 100) * scale
                cents = fee * n_months
            else:
                start = first if rng.random() < 0.55 else first + timedelta(days=rng.randint(1, 19))
                days = rng.randint(10, 62) if otype == "insertion_order" else rng.randint(30, 120)
                end = min(start + timedelta(days=days - 1), SERVICE_CAP)
                if otype == "insertion_order":
                    cents = lognorm_cents(rng, 9000, 0.85, 750, 180000, 50 if rng.random() < 0.7 else 1) * scale
                else:
                    cents = lognorm_cents(rng, 6000, 0.7, 1500, 45000, 50) * scale
            currency = client.billing_currency
            if currency != "USD" and rng.random() < 0.03:
                currency = "USD"
            order_date = max(start - timedelta(days=rng.randint(3, 40)), date(2025, 1, 2))
            u = rng.random()
            status = "completed"
            if u < 0.03:
                status = "cancelled"
            elif u < 0.04:
                status = "draft"
            elif u < 0.09:
                status = "active"  # stale: the service ended weeks ago
            elif u < 0.11:
                status = "booked"
            manager = rng.choice(MANAGERS) if rng.random() > 0.03 else ""
            o = Order(i, client, otype, cents, currency, start, end, order_date, status, manager, months=n_months)
            if otype == "insertion_order" and status not in ("cancelled", "draft"):
                if rng.random() < self.rate("delivery_before_order"):
                    o.early_delivery = True
                    o.order_date = start + timedelta(days=rng.randint(2, 12))
            self.orders.append(o)
        # CRM ids increase with the creation (signature) date
        self.orders.sort(key=lambda o: (o.order_date, o.n))
        rid = 18_800_000_000 + rng.randrange(10**8)
        for o in self.orders:
            rid += rng.randint(3, 2500)
            o.oid = str(rid)
        self.assign_refs(rng)
        for o in self.orders:
            if o.client.po_style and rng.random() < 0.8:
                o.po = self.new_po(rng, o.client)
            o.crm_ref = o.ref if rng.random() >= self.rate("crm_ref_missing") else ""
            if not o.crm_ref:
                self.record("crm__orders", o.oid, "ref_missing", f"ref={o.ref}")
            if o.early_delivery:
                self.record(
                    "crm__orders",
                    o.oid,
                    "delivery_before_order",
                    f"order_date={o.order_date}; delivery_from={o.start}",
                )
            updated = max(o.order_date + timedelta(days=rng.randint(0, 20)), o.order_date)
            if o.status in ("completed", "cancelled"):
                updated = clamp(o.end + timedelta(days=rng.randint(1, 30)), AS_OF)
            self.rows["crm__orders"].append(
                (
                    f"deals_export_{o.order_date.year}.csv",
                    {
                        "order_id": o.oid,
                        "client_id": o.client.cid,
                        "client_name": o.client.trading if rng.random() < 0.7 else o.client.legal,
                        "order_ref": o.crm_ref,
                        "order_type": o.otype,
                        "amount": money(o.cents),
                        "currency": o.currency,
                        "service_start_date": o.start.isoformat(),
                        "service_end_date": o.end.isoformat(),
                        "account_manager": o.manager,
                        "status": o.status,
                        "updated_at": ts(updated, rng),
                        "order_date": o.order_date.isoformat() if rng.random() > 0.02 else "",
                        "po_number": o.po,
                    },
                )
            )

    def assign_refs(self, rng: random.Random) -> None:
        """Agency order references: several house styles per seed, each its own number series."""
        styles = ["IO", "RT", "CP", "J", "AGY", "NUM", "CLI"]
        primary = {
            "insertion_order": rng.choice(("IO", "IO", "NUM", "J", "AGY")),
            "retainer": rng.choice(("RT", "RT", "AGY", "CLI", "J")),
            "content_package": rng.choice(("CP", "CP", "CLI", "NUM", "J")),
        }
        share = rng.uniform(0.6, 0.85)
        legacy_w = [rng.random() + 0.1 for _ in styles]
        for o in self.orders:
            o.style = primary[o.otype] if rng.random() < share else rng.choices(styles, weights=legacy_w)[0]
        counts = Counter(o.style for o in self.orders)
        # disjoint number windows for the globally numbered series
        lo = rng.randint(3000, 9000)
        windows = {}
        for s in rng.sample(["IO", "RT", "CP", "J", "NUM"], 5):
            width = counts[s] * 4 + 500
            windows[s] = lo
            lo += width + rng.randint(1000, 30000)
        nxt = dict(windows)
        per_year: dict[int, int] = {}
        per_client: dict[str, int] = {}
        seen: set[str] = set()
        for o in self.orders:
            s = o.style
            if s == "AGY":
                y = o.order_date.year
                per_year[y] = per_year.get(y, rng.randint(1, 60)) + rng.randint(1, 2)
                o.number, o.year = per_year[y], y
            elif s == "CLI":
                c = o.client.code
                per_client[c] = per_client.get(c, rng.randint(100, 2400)) + rng.randint(1, 3)
                o.number = per_client[c]
            else:
                nxt[s] += rng.randint(1, 7)
                o.number = nxt[s]
            if rng.random() < 0.04:
                o.suffix = rng.choice(("/A", "/A", "/B", "-R1"))
            o.ref = self.canonical(o)
            assert o.ref not in seen, o.ref
            seen.add(o.ref)
        self.known_refs = seen

    @staticmethod
    def canonical(o: Order) -> str:
        n = o.number
        s = o.style
        body = {
            "IO": f"IO-{n:06d}",
            "RT": f"RT-{n:06d}",
            "CP": f"CP#{n}",
            "J": f"J-{n}",
            "NUM": f"{n}",
            "AGY": f"AGY/{o.year}/{n:04d}",
            "CLI": f"{o.client.code}-{n}",
        }[s]
        return body + o.suffix

    def new_po(self, rng: random.Random, client: Client) -> str:
        style = client.po_style
        makers = {
            "PO-5": lambda r: f"PO-{r.randint(10000, 99999)}",
            "SAP10": lambda r: f"45{r.randint(0, 99999999):08d}",
            "PO6": lambda r: f"PO{r.randint(100000, 999999)}",
            "CODE": lambda r: f"{client.code}/PO/{r.randint(1000, 9999)}",
        }
        return self.new_id(rng, makers[style])

    def typed_ref(self, o: Order, rng: random.Random) -> tuple[str, str]:
        """A reference as a person types it: (text, kind)."""
        n, s = o.number, o.style
        prefix = {"IO": "IO", "RT": "RT", "CP": "CP", "J": "J"}.get(s)
        options = []
        if prefix:
            options += [
                f"{prefix}-{n:06d}",
                f"{prefix.lower()}-{n}",
                f"{prefix} {n}",
                f"{prefix}{n}",
                f"{prefix}#{n}",
                f"{n}",
            ]
        elif s == "NUM":
            options += [f"{n:06d}", f"Order {n}", f"#{n}", f"No. {n}"]
        elif s == "AGY":
            options += [f"AGY-{o.year}-{n:04d}", f"AGY {o.year}/{n}", f"{o.year}/{n:04d}", f"agy/{o.year}/{n}"]
        else:
            options += [f"{o.client.code.lower()}-{n}", f"{o.client.code} {n}", f"{o.client.code}{n}"]
        text = rng.choice([x for x in options if x != o.ref] or options)
        if o.suffix and rng.random() < 0.5:
            text += o.suffix
        return text, "ref_format"

    def ocr(self, text: str, rng: random.Random) -> str:
        swaps = [(i, ch) for i, ch in enumerate(text) if ch in "01582"]
        if not swaps:
            return text
        i, ch = rng.choice(swaps)
        repl = {"0": "O", "1": rng.choice("Il"), "5": "S", "8": "B", "2": "Z"}[ch]
        return text[:i] + repl + text[i + 1 :]

    def invoice_ref(self, o: Order, rng: random.Random) -> tuple[str, str]:
        """The reference a biller typed on an invoice for ``o``: (text, kinds recorded)."""
        if o.po and rng.random() < 0.45:
            return o.po, "po_reference"
        text, kind = o.ref, ""
        if rng.random() < self.rate("ref_typed"):
            text, kind = self.typed_ref(o, rng)
        if rng.random() < self.rate("ocr_reference"):
            garbled = self.ocr(text, rng)
            if garbled != text:
                text, kind = garbled, "ocr_reference"
        return text, kind

    # billing ---------------------------------------------------------------------------------
    def build_billing(self) -> None:
        rng = self.rng("billing")
        self.invoices: list[Invoice] = []
        self.credit_notes: list[dict] = []
        self.pick_consolidations(rng)
        for o in self.orders:
            if o.consolidated:
                continue
            self.bill_order(o, rng)
        for group in self.consolidations:
            self.bill_statement(group, rng)
        self.orphans(rng)
        self.finish_invoices(rng)

    def pick_consolidations(self, rng: random.Random) -> None:
        by_client: dict[str, list[Order]] = defaultdict(list)
        for o in self.orders:
            if (
                o.otype != "retainer"
                and o.status not in ("cancelled", "draft")
                and o.currency == o.client.billing_currency
            ):
                by_client[o.client.cid].append(o)
        self.consolidations: list[list[Order]] = []
        for c in self.clients:
            orders = by_client.get(c.cid, [])
            if len(orders) < 24 or rng.random() >= self.rate("consolidating_client"):
                continue
            c.consolidates = True
            quarters: dict[tuple[int, int], list[Order]] = defaultdict(list)  # half-year statements
            for o in orders:
                quarters[(o.end.year, (o.end.month - 1) // 6)].append(o)
            for key in sorted(quarters):
                group = sorted(quarters[key], key=lambda o: (o.end, o.oid))
                if len(group) < 10:
                    continue
                parts = -(-len(group) // 60)
                size = -(-len(group) // parts)
                for p in range(parts):
                    chunk = group[p * size : (p + 1) * size]
                    if len(chunk) < 10:  # fold a short tail into the previous statement
                        self.consolidations[-1].extend(chunk)
                    else:
                        self.consolidations.append(chunk)
                    for o in chunk:
                        o.consolidated = True

    def client_name(self, c: Client, rng: random.Random, notes: list) -> str:
        if rng.random() >= self.rate("name_variant", 0.95):
            return c.legal
        kind = rng.choices(
            ("trading", "upper", "upper_trading", "abbreviation", "alias", "no_suffix", "lower"),
            weights=(45, 10, 8, 9, 14, 9, 5),
        )[0]
        words = c.legal.split()
        if kind == "trading":
            return c.trading
        if kind == "upper":
            name = c.legal.upper()
        elif kind == "upper_trading":
            name = c.trading.upper()
        elif kind == "lower":
            name = c.trading.lower()
        elif kind == "abbreviation":
            if len(words) >= 3 and not words[0] == "The":
                name = f"{words[0][0]}. " + " ".join(words[1:])
            else:
                name = initials(c.trading) + (" " + words[-1] if words[-1] in ("Ltd", "Limited", "GmbH", "LLC") else "")
        elif kind == "alias":
            name = rng.choice(c.aliases)
        else:
            name = c.trading if c.legal.startswith("The ") else " ".join(words[:-1])
            name = name.rstrip(",")
        notes.append(f"kind={kind}; legal={c.legal}")
        return name

    def line_text(self, o: Order, rng: random.Random, ref: str | None, when: date, part: str = "") -> str:
        mon, month, yy = MONTHS[when.month - 1][:3], MONTHS[when.month - 1], when.year
        if o.otype == "insertion_order":
            if ref:
                t = rng.choice(
                    (
                        f"Media buying – {ref} – {month}",
                        f"Paid media {mon} {yy} ({ref})",
                        f"Digital media as per {ref}",
                        f"{ref} media spend {mon}-{str(yy)[2:]}",
                        f"Campaign delivery ref {ref}",
                    )
                )
            else:
                t = rng.choice(
                    (
                        f"Media buying – {month}",
                        f"Paid social & search, {mon} {yy}",
                        "Digital media as per insertion order",
                        f"Campaign delivery {month} {yy}",
                    )
                )
        elif o.otype == "retainer":
            if ref:
                t = rng.choice(
                    (
                        f"Retainer {mon} {yy} ({ref})",
                        f"Monthly retainer – {month} {yy} – {ref}",
                        f"{ref} retainer fee {mon}",
                    )
                )
            else:
                t = rng.choice(
                    (
                        f"Monthly retainer – {month} {yy}",
                        f"Retainer fee {mon}-{str(yy)[2:]}",
                        f"Agency retainer {month}",
                    )
                )
        else:
            title = rng.choice(CONTENT_TITLES)
            t = (
                rng.choice((f"Content production – {title} ({ref})", f"Content package {ref}", f"{ref}: {title}"))
                if ref
                else rng.choice((f"Content production – {title}", f"{title} package", "Creative services as quoted"))
            )
        return t + part

    def new_invoice(self, rng, o: Order, issue: date, cents: int, link_type: str, part: str = "") -> Invoice:
        """A single-order invoice for ``cents`` with 1-2 lines (the reference placed somewhere, or nowhere)."""
        c = o.client
        iid = self.new_id(rng, _uuid)
        notes: list[str] = []
        name = self.client_name(c, rng, notes)
        if notes:
            self.record("billing__invoices", iid, "name_variant", notes[0])
        text, kind = self.invoice_ref(o, rng)
        u = rng.random()
        header, in_line = text, False
        if u < self.rate("ref_nowhere"):
            header, kind = "", ""
            self.record("billing__invoices", iid, "ref_missing", f"order_ref={o.ref}")
        elif u < self.rate("ref_nowhere") + self.rate("ref_desc_only"):
            header, in_line = "", True
            self.record("billing__invoices", iid, "ref_in_description", f"order_ref={o.ref}; quoted={text}")
        else:
            in_line = rng.random() < 0.35
        if kind:
            self.record("billing__invoices", iid, kind, f"order_ref={o.ref}; quoted={text}")
        when = issue if o.otype == "retainer" else o.end
        lines = []
        if o.otype == "insertion_order" and cents >= 150000 and rng.random() < 0.3:
            fee = half_up(cents * rng.randint(8, 15), 100)
            lines.append([self.line_text(o, rng, text if in_line else None, when, part), "", "1", None, cents - fee, o])
            lines.append(
                [f"Management fee{' – ' + text if in_line and rng.random() < 0.5 else ''}", "", "1", None, fee, o]
            )
        elif o.otype == "content_package" and rng.random() < 0.3:
            qty = rng.randint(2, 8)
            lines.append([self.line_text(o, rng, text if in_line else None, when, part), "", str(qty), None, cents, o])
        else:
            lines.append([self.line_text(o, rng, text if in_line else None, when, part), "", "1", None, cents, o])
        if in_line and rng.random() < 0.3:
            lines[0][1] = o.ref if rng.random() < 0.6 else text
        inv = Invoice(iid, c, name, header, clamp(issue), o.currency, c.tax_bp, c.terms, lines, link_type)
        self.invoices.append(inv)
        o.invoices.append((iid, link_type))
        return inv

    def bill_order(self, o: Order, rng: random.Random) -> None:
        if o.status == "draft":
            return
        if o.status == "cancelled":
            if rng.random() < self.rate("billed_cancelled"):
                self.new_invoice(rng, o, o.end + timedelta(days=rng.randint(0, 20)), o.cents, "one_to_one")
                self.record("crm__orders", o.oid, "billed_cancelled_order", f"amount={money(o.cents)}")
            return
        pats = [
            ("unbilled", self.rate("unbilled")),
            ("partial", self.rate("partial_billing")),
            ("split", self.rate("split") if o.otype != "retainer" else 0.0),
            ("duplicate", self.rate("duplicate_billing")),
            ("void", self.rate("void_reissue")),
        ]
        total = sum(p for _, p in pats)
        if total > 0.9:
            pats = [(k, p * 0.9 / total) for k, p in pats]
        u, acc, pattern = rng.random(), 0.0, "normal"
        for k, p in pats:
            acc += p
            if u < acc:
                pattern = k
                break
        if pattern == "unbilled":
            self.record("crm__orders", o.oid, "unbilled", f"amount={money(o.cents)}; type={o.otype}")
            o.unbilled = True
            return
        lag = int(31 * rng.random() ** 2)
        advance = o.otype != "retainer" and rng.random() < 0.25
        issue = (o.start - timedelta(days=rng.randint(0, 7))) if advance else o.end + timedelta(days=lag)
        if o.otype == "retainer" and (o.months > 1 and rng.random() < 0.85):
            # monthly instalments: fee per month, the last month takes the rounding
            fees = allocate(o.cents, [1.0] * o.months)
            billed_months = o.months
            if pattern == "partial":
                billed_months = rng.randint(1, o.months - 1)
                self.record(
                    "crm__orders",
                    o.oid,
                    "partial_billing",
                    f"billed={money(sum(fees[:billed_months]))}; booked={money(o.cents)}; "
                    f"months={billed_months}/{o.months}",
                )
            void_month = rng.randrange(billed_months) if pattern == "void" else -1
            dup_month = rng.randrange(billed_months) if pattern == "duplicate" else -1
            for m in range(billed_months):
                when = month_start(o.start, m) + timedelta(days=rng.randint(0, 4))
                if m == void_month:
                    self.void_and_reissue(o, rng, when, fees[m], f" (month {m + 1}/{o.months})")
                    continue
                self.new_invoice(
                    rng, o, when, fees[m], "split", f" (month {m + 1}/{o.months})" if rng.random() < 0.4 else ""
                )
                if m == dup_month:
                    dup = self.new_invoice(rng, o, when + timedelta(days=rng.randint(5, 35)), fees[m], "duplicate")
                    self.record("billing__invoices", dup.iid, "duplicate_billing", f"order={o.oid}; month={m + 1}")
            self.maybe_credit(o, rng)
            return
        if pattern == "partial":
            cents = half_up(o.cents * rng.randint(40, 90), 100)
            self.new_invoice(rng, o, issue, cents, "one_to_one")
            self.record("crm__orders", o.oid, "partial_billing", f"billed={money(cents)}; booked={money(o.cents)}")
        elif pattern == "split":
            k = rng.choice((2, 2, 3, 4))
            parts = allocate(o.cents, [rng.choice((1.0, 1.0, 1.5, 2.0)) for _ in range(k)])
            span = max((o.end - o.start).days, 1)
            for p, cents in enumerate(parts):
                when = o.start + timedelta(days=span * (p + 1) // k + rng.randint(0, 9))
                self.new_invoice(
                    rng, o, when, cents, "split", f" (instalment {p + 1} of {k})" if rng.random() < 0.5 else ""
                )
            self.record("crm__orders", o.oid, "split", f"invoices={k}")
        elif pattern == "void":
            self.void_and_reissue(o, rng, issue, o.cents, "")
        else:
            self.new_invoice(rng, o, issue, o.cents, "one_to_one")
            if pattern == "duplicate":
                dup = self.new_invoice(rng, o, issue + timedelta(days=rng.randint(5, 40)), o.cents, "duplicate")
                self.record("billing__invoices", dup.iid, "duplicate_billing", f"order={o.oid}")
        self.maybe_credit(o, rng)

    def void_and_reissue(self, o: Order, rng, issue: date, cents: int, part: str) -> None:
        wrong = half_up(cents * rng.randint(80, 120), 100)
        if wrong == cents:
            wrong += 5000
        bad = self.new_invoice(rng, o, issue, wrong, "void", part)
        bad.void = True
        good = self.new_invoice(rng, o, issue + timedelta(days=rng.randint(1, 12)), cents, "reissue", part)
        self.record(
            "billing__invoices", bad.iid, "void_reissue", f"reissued_as={good.iid}; wrong_amount={money(wrong)}"
        )

    def maybe_credit(self, o: Order, rng: random.Random) -> None:
        live = [(iid, lt) for iid, lt in o.invoices if lt not in ("void", "duplicate")]
        if not live or rng.random() >= self.rate("credit_note"):
            return
        iid = live[0][0]
        inv = next(i for i in reversed(self.invoices) if i.iid == iid)
        net = sum(line[4] for line in inv.lines)
        cents = max(1000, half_up(net * rng.randint(5, 30), 100) // 100 * 100)
        cn = self.new_id(rng, lambda r: f"CN-{r.randint(1000, 99999):05d}")
        issue = clamp(inv.issue + timedelta(days=rng.randint(10, 60)))
        notes: list[str] = []
        ref_text = o.ref if rng.random() < 0.5 else (inv.reference or "")
        self.credit_notes.append(
            {
                "credit_note_id": cn,
                "invoice_id": iid if rng.random() < 0.7 else "",
                "client_name": self.client_name(o.client, rng, notes),
                "reference": ref_text,
                "issue_date": issue.isoformat(),
                "currency": inv.currency,
                "net_amount": money(cents),
                "reason": rng.choice(CREDIT_REASONS) if rng.random() < 0.85 else "",
                "_file": f"credit_notes_{issue.year}.csv",
            }
        )
        o.invoices.append((cn, "credit_note"))
        self.record("billing__credit_notes", cn, "credit_note", f"order={o.oid}; invoice={iid}; amount={money(cents)}")

    def bill_statement(self, group: list[Order], rng: random.Random) -> None:
        c = group[0].client
        issue = clamp(max(o.end for o in group) + timedelta(days=rng.randint(1, 12)))
        iid = self.new_id(rng, _uuid)
        notes: list[str] = []
        name = self.client_name(c, rng, notes)
        if notes:
            self.record("billing__invoices", iid, "name_variant", notes[0])
        lines = []
        for o in group:
            if rng.random() < self.rate("consolidated_line_no_ref"):
                text = None
                self.record("billing__invoice_lines", f"{iid}|{len(lines) + 1}", "ref_missing", f"order_ref={o.ref}")
            else:
                text, kind = self.invoice_ref(o, rng)
                if kind:
                    self.record(
                        "billing__invoice_lines", f"{iid}|{len(lines) + 1}", kind, f"order_ref={o.ref}; quoted={text}"
                    )
            desc = self.line_text(o, rng, text, o.end)
            lines.append([desc, (text or "") if rng.random() < 0.3 else "", "1", None, o.cents, o])
            o.invoices.append((iid, "consolidated"))
        header = ""
        if rng.random() < 0.7:
            header = group[0].po if group[0].po and rng.random() < 0.3 else group[0].ref
        inv = Invoice(iid, c, name, header, issue, group[0].currency, c.tax_bp, c.terms, lines, "consolidated")
        self.invoices.append(inv)
        self.record("billing__invoices", iid, "consolidated", f"orders={len(group)}")

    def orphans(self, rng: random.Random) -> None:
        n = round(self.n_orders * self.rate("orphan_invoice"))
        for _ in range(n):
            if rng.random() < 0.6:
                c = rng.choice(self.clients)
                notes: list[str] = []
                name, currency, tax_bp, terms = self.client_name(c, rng, notes), c.billing_currency, c.tax_bp, c.terms
            else:
                c = None
                name = f"{rng.choice(PLACES)} {rng.choice(INDUSTRIES)} {rng.choice(('Ltd', 'LLC', 'GmbH', 'Partners'))}"
                currency = rng.choice(("GBP", "EUR", "USD"))
                tax_bp, terms = {"GBP": 2000, "EUR": 2100, "USD": 0}[currency], "Net 30"
            u = rng.random()
            if u < 0.4:
                reference = ""
            elif u < 0.8:
                while True:
                    reference = rng.choice(("IO-{:06d}", "J-{}", "CP#{}", "RT-{:06d}")).format(rng.randint(100, 999999))
                    if reference not in self.known_refs:
                        break
            else:
                reference = f"PO-{rng.randint(10000, 99999)}"
            iid = self.new_id(rng, _uuid)
            issue = date(2025, 2, 1) + timedelta(days=rng.randint(0, 680))
            cents = lognorm_cents(rng, 1500, 0.8, 100, 20000, 1)
            desc = rng.choice(
                (
                    "Consultancy – workshop",
                    "Ad hoc design work",
                    "Media buying – additional",
                    "Event photography",
                    "Rush fee",
                )
            )
            inv = Invoice(
                iid, c, name, reference, issue, currency, tax_bp, terms, [[desc, "", "1", None, cents, None]], ""
            )
            inv.orphan = True
            self.invoices.append(inv)
            self.record("billing__invoices", iid, "orphan_invoice", f"client={name}; reference={reference}")

    def finish_invoices(self, rng: random.Random) -> None:
        # extra fee lines that bill no order
        for inv in self.invoices:
            if not inv.orphan and not inv.void and rng.random() < self.rate("fee_line"):
                fee = rng.randint(50, 400) * 100
                inv.lines.append([rng.choice(FEE_LINES), "", "1", None, fee, None])
                self.record("billing__invoice_lines", f"{inv.iid}|{len(inv.lines)}", "fee_line", f"amount={money(fee)}")
        # VAT-inclusive lines: lines carry gross amounts, summing to the header total
        for inv in self.invoices:
            if inv.tax_bp and not inv.void and rng.random() < self.rate("vat_inclusive"):
                inv.vat_inclusive = True
        # duplicate exports: the same invoice again under a new id
        copies = []
        for inv in self.invoices:
            if not inv.void and rng.random() < self.rate("duplicate_export"):
                iid = self.new_id(rng, _uuid)
                copy = Invoice(
                    iid,
                    inv.client,
                    inv.name,
                    inv.reference,
                    inv.issue,
                    inv.currency,
                    inv.tax_bp,
                    inv.terms,
                    inv.lines,
                    "duplicate",
                )
                copy.copy_of, copy.vat_inclusive, copy.orphan = inv, inv.vat_inclusive, inv.orphan
                copies.append(copy)
        # invoice numbers follow issue dates
        numbered = sorted(self.invoices, key=lambda i: (i.issue, i.iid))
        style = rng.choice(("INV-{}", "INV-{:06d}", "{}", "SI-{}"))
        n = rng.randint(1000, 9000)
        for inv in numbered:
            n += 1
            inv.number = style.format(n)
        for copy in copies:
            copy.number = copy.copy_of.number
            seen: list[Order] = []
            for line in copy.lines:
                if line[5] is not None and line[5] not in seen:
                    seen.append(line[5])
                    line[5].invoices.append((copy.iid, "duplicate"))
        for cn in self.credit_notes:
            self.rows["billing__credit_notes"].append((cn.pop("_file"), cn))
        self.invoices.extend(copies)
        for inv in self.invoices:
            self.emit_invoice(inv, rng)

    def emit_invoice(self, inv: Invoice, rng: random.Random) -> None:
        net = sum(line[4] for line in inv.lines)
        tax = half_up(net * inv.tax_bp, 10000)
        total = net + tax
        # header links
        if inv.copy_of is None:
            seen = []
            for line in inv.lines:
                o = line[5]
                if o is not None and o not in seen:
                    seen.append(o)
            for o in seen:
                self.link("orders_invoices", o.oid, inv.iid, inv.link_type)
        else:
            orig = inv.copy_of
            seen = []
            for line in orig.lines:
                if line[5] is not None and line[5] not in seen:
                    seen.append(line[5])
            for o in seen:
                self.link("orders_invoices", o.oid, inv.iid, "duplicate")
            self.record(
                "billing__invoices", inv.iid, "duplicate_export", f"copy_of={orig.iid}; invoice_number={orig.number}"
            )
        if inv.vat_inclusive:
            self.record("billing__invoices", inv.iid, "vat_inclusive", f"net={money(net)}; total={money(total)}")
        amounts = [line[4] for line in inv.lines]
        if inv.vat_inclusive:
            taxes = allocate(tax, amounts) if net > 0 else [0] * len(amounts)
            amounts = [a + t for a, t in zip(amounts, taxes, strict=True)]
        if inv.void:
            status = "void"
        else:
            due = self.due_date(inv.issue, inv.terms)
            if due >= AS_OF:
                status = "issued" if rng.random() < 0.7 else "paid"
            else:
                status = pick(rng, (("paid", 82), ("overdue", 10), ("partially_paid", 8)))
        inv.status = status
        month = f"{inv.issue.year}-{inv.issue.month:02d}"
        suffix = "_reexport" if inv.copy_of is not None else ""
        due = self.due_date(inv.issue, inv.terms)
        self.rows["billing__invoices"].append(
            (
                f"invoices_{month}{suffix}.csv",
                {
                    "invoice_id": inv.iid,
                    "invoice_number": inv.number,
                    "client_name": inv.name,
                    "reference": inv.reference,
                    "issue_date": inv.issue.isoformat(),
                    "due_date": due.isoformat() if rng.random() > 0.03 else "",
                    "currency": inv.currency,
                    "net_amount": money(net),
                    "tax_amount": money(tax),
                    "total_amount": money(total),
                    "status": status,
                    "updated_at": ts(clamp(inv.issue + timedelta(days=rng.randint(0, 30)), AS_OF), rng)
                    if rng.random() > 0.04
                    else "",
                    "tax_rate": f"{inv.tax_bp // 10000}.{inv.tax_bp % 10000:04d}" if rng.random() > 0.05 else "",
                    "payment_terms": inv.terms if rng.random() > 0.06 else "",
                },
            )
        )
        for k, (line, amount) in enumerate(zip(inv.lines, amounts, strict=True), start=1):
            desc, ref, qty, _, _, o = line
            unit = money(amount) if qty == "1" else (money(amount // int(qty)) if amount % int(qty) == 0 else "")
            self.rows["billing__invoice_lines"].append(
                (
                    f"invoice_lines_{month}{suffix}.csv",
                    {
                        "invoice_id": inv.iid,
                        "line_number": str(k),
                        "description": desc,
                        "reference": ref,
                        "quantity": qty,
                        "unit_price": unit,
                        "net_amount": money(amount),
                    },
                )
            )
            if o is not None and not inv.void and inv.copy_of is None:
                self.link("orders_invoice_lines", o.oid, f"{inv.iid}#{k}", inv.link_type)

    @staticmethod
    def due_date(issue: date, terms: str) -> date:
        if terms == "Due on receipt":
            return issue
        if terms == "30 days EOM":
            return month_end(month_start(issue, 1))
        return issue + timedelta(days=int(terms.split()[1]))

    # ads ---------------------------------------------------------------------------------------
    def campaign_id(self, rng: random.Random, platform: str) -> str:
        makers = {
            "google_ads": lambda r: str(r.randint(10**10, 3 * 10**10)),
            "meta": lambda r: f"1202{r.randint(10**13, 10**14 - 1)}",
            "linkedin": lambda r: str(r.randint(300_000_000, 799_999_999)),
            "microsoft_ads": lambda r: str(r.randint(400_000_000, 699_999_999)),
            "tiktok": lambda r: f"17{r.randint(10**16, 10**17 - 1)}",
        }
        return self.new_id(rng, makers[platform])

    def account(self, rng: random.Random, client: Client | None, platform: str) -> dict:
        key = (client.cid if client else "agency", platform)
        if key not in self.accounts:
            makers = {
                "google_ads": lambda r: f"{r.randint(100, 999)}-{r.randint(100, 999)}-{r.randint(1000, 9999)}",
                "meta": lambda r: f"act_{r.randint(10**14, 10**16 - 1)}",
                "linkedin": lambda r: str(r.randint(500_000_000, 509_999_999)),
                "microsoft_ads": lambda r: f"F{r.randint(100000, 999999)}{r.choice('ABCDEFGH')}",
                "tiktok": lambda r: f"7{r.randint(10**17, 10**18 - 1)}",
            }
            label = PLATFORM_LABEL[platform]
            if client is None:
                name, tz = f"{self.agency} – Internal", "Europe/London"
            else:
                name = rng.choice(
                    (
                        f"{client.trading} - {label}",
                        f"{client.trading.upper()} ({client.billing_currency})",
                        f"{client.short} | {self.agency}",
                        client.legal,
                        f"{client.code} {label} account",
                    )
                )
                tz = client.tz
            self.accounts[key] = {
                "account_id": self.new_id(rng, makers[platform]),
                "account_name": name if rng.random() > 0.05 else "",
                "account_timezone": tz if rng.random() > 0.05 else "",
            }
        return self.accounts[key]

    def campaign_name(self, o: Order, rng: random.Random, theme: str, shapes_w: list[float]) -> tuple[str, bool]:
        c = o.client
        ref = o.ref
        q = f"Q{(o.start.month - 1) // 3 + 1}"
        mon = f"{MONTHS[o.start.month - 1][:3]} {str(o.start.year)[2:]}"
        brand = c.short.replace(" ", "")
        if rng.random() < self.rate("campaign_no_ref", 0.95):
            shape = rng.choice(("a", "b", "c"))
            name = {
                "a": f"{c.trading} - {theme} - {mon}",
                "b": f"{brand} | {theme} | {o.start.year}",
                "c": f"{brand}_{theme.replace(' ', '')}_{c.country}",
            }[shape]
            return name, False
        lower = ref.lower().replace("-0", "-").replace("-0", "-").replace("-0", "-")
        shapes = (
            f"{ref} | {c.trading.upper()} | {theme}",
            f"[{ref}] {c.trading} - {theme}",
            f"{brand}_{theme.replace(' ', '')}_{q} {lower}",
            f"{ref}_{theme.replace(' ', '_')}_{c.country}",
            f"{c.trading} {theme} ({o.po})" if o.po else f"{c.trading} – {theme} – {ref}",
            f"{ref} {brand} {theme} {mon}",
        )
        return rng.choices(shapes, weights=shapes_w)[0], True

    def build_ads(self) -> None:
        rng = self.rng("ads")
        self.accounts: dict = {}
        self.campaigns: list[dict] = []
        shapes_w = [rng.random() + 0.05 for _ in range(6)]
        for o in self.orders:
            if o.otype != "insertion_order" or o.status in ("cancelled", "draft"):
                continue
            if rng.random() < self.rate("not_delivered"):
                if o.invoices:
                    self.record("crm__orders", o.oid, "billed_not_delivered", "side=ads")
                continue
            u = rng.random()
            pace = rng.uniform(0.98, 1.005)
            if u < self.rate("over_delivery"):
                pace = rng.uniform(1.08, 1.30)
            elif u < self.rate("over_delivery") + self.rate("under_delivery"):
                pace = rng.uniform(0.50, 0.88)
            target = int(o.cents * pace)
            if pace > 1.05:
                self.record("crm__orders", o.oid, "over_delivery", f"spend={money(target)}; booked={money(o.cents)}")
            elif pace < 0.9:
                self.record("crm__orders", o.oid, "under_delivery", f"spend={money(target)}; booked={money(o.cents)}")
            if o.unbilled:
                self.record("crm__orders", o.oid, "delivered_not_billed", f"spend={money(target)}")
            k = rng.choices((1, 2, 3, 4), weights=(55, 25, 12, 8))[0]
            budgets = allocate(target, [rng.uniform(0.5, 2.0) for _ in range(k)])
            link_type = "one_to_one" if k == 1 else "multi_campaign"
            lead_gen = rng.random() < 0.25
            for j in range(k):
                platform = pick(rng, PLATFORMS)
                if lead_gen and j == 0:
                    platform = rng.choice(("meta", "linkedin"))
                theme = "Lead Gen" if lead_gen and j == 0 else rng.choice(THEMES)
                cid = self.campaign_id(rng, platform)
                acct = self.account(rng, o.client, platform)
                name, has_ref = self.campaign_name(o, rng, theme, shapes_w)
                if not has_ref:
                    self.record("ads__delivery", cid, "ref_missing", f"order_ref={o.ref}")
                first = o.start + timedelta(days=0 if o.early_delivery else rng.randint(0, 4))
                last = max(first + timedelta(days=2), o.end - timedelta(days=rng.randint(0, 3)))
                camp = {
                    "cid": cid,
                    "platform": platform,
                    "acct": acct,
                    "name": name,
                    "order": o,
                    "lead_gen": lead_gen and j == 0,
                }
                camp["first"], camp["last"] = first, last
                self.campaigns.append(camp)
                o.campaigns.append(cid)
                self.link("delivery_orders", cid, o.oid, link_type)
                self.emit_delivery(camp, budgets[j], rng, o.currency)
        # test / sandbox / internal campaigns that belong to no order
        for _ in range(round(self.n_orders * self.rate("test_campaign"))):
            platform = pick(rng, PLATFORMS)
            client = rng.choice(self.clients) if rng.random() < 0.6 else None
            acct = self.account(rng, client, platform)
            brand = client.short if client else self.agency.split()[0]
            name = rng.choice(
                (
                    "TEST - pixel check - do not use",
                    f"Sandbox_{brand}_conversion_test",
                    f"{self.agency} – Brand Awareness (internal)",
                    f"zz_OLD {brand} test campaign",
                    f"{brand} | QA | Tracking validation",
                )
            )
            cid = self.campaign_id(rng, platform)
            first = date(2025, 2, 1) + timedelta(days=rng.randint(0, 600))
            camp = {"cid": cid, "platform": platform, "acct": acct, "name": name, "order": None, "lead_gen": False}
            camp["first"], camp["last"] = first, first + timedelta(days=rng.randint(1, 6))
            cents = rng.randint(500, 30000)
            ccy = client.billing_currency if client else "GBP"
            self.emit_delivery(camp, cents, rng, ccy)
            self.record("ads__delivery", cid, "orphan_spend", f"name={name}; spend={money(cents)}")
        # platform credits
        for camp in self.campaigns:
            o = camp["order"]
            if rng.random() >= self.rate("platform_credit"):
                continue
            cr = self.new_id(rng, lambda r: f"{r.choice(('CR', 'ADJ'))}-{r.randint(100000, 999999)}")
            cents = max(500, half_up(camp["spend"] * rng.randint(2, 12), 100))
            day = clamp(camp["last"] + timedelta(days=rng.randint(5, 40)))
            self.rows["ads__credits"].append(
                (
                    "platform_credits.csv",
                    {
                        "credit_id": cr,
                        "platform": camp["platform"],
                        "account_id": camp["acct"]["account_id"],
                        "campaign_id": camp["cid"] if rng.random() < 0.8 else "",
                        "credit_date": day.isoformat(),
                        "amount": money(cents),
                        "currency": o.currency,
                        "reason": rng.choice(PLATFORM_CREDIT_REASONS),
                    },
                )
            )
            self.record("ads__credits", cr, "platform_credit", f"campaign={camp['cid']}; order={o.oid}")

    def emit_delivery(self, camp: dict, cents: int, rng: random.Random, currency: str) -> None:
        days = []
        d = camp["first"]
        while d <= camp["last"]:
            if rng.random() > 0.08 or d in (camp["first"], camp["last"]):
                days.append(d)
            d += timedelta(days=1)
        negative_day = -1
        refund = 0
        if len(days) >= 4 and rng.random() < self.rate("negative_spend"):
            negative_day = rng.randrange(1, len(days))
            refund = min(rng.randint(500, 8000), cents // 4)
        weights = [rng.uniform(0.4, 1.6) for _ in days]
        if negative_day >= 0:
            weights[negative_day] = 0.0
        spend = allocate(cents + refund, weights)
        if negative_day >= 0:
            spend[negative_day] = -refund
            self.record(
                "ads__delivery",
                camp["cid"],
                "negative_spend",
                f"date={days[negative_day]}; spend={money(-refund)}",
            )
        camp["spend"] = cents
        p = camp["platform"]
        acct = camp["acct"]
        for day, s in zip(days, spend, strict=True):
            if s > 0:
                imps = max(1, int(s / 100 / CPM[p] * 1000 * rng.uniform(0.7, 1.3)))
                clicks = int(imps * CTR[p] * rng.uniform(0.6, 1.4))
                imps_s, clicks_s = (str(imps), str(clicks)) if rng.random() > 0.03 else ("", "")
            else:
                imps_s, clicks_s = "0", "0"
            self.rows["ads__delivery"].append(
                (
                    f"{p}_daily_{day.year}-{day.month:02d}.csv",
                    {
                        "platform": p,
                        "account_id": acct["account_id"],
                        "campaign_id": camp["cid"],
                        "campaign_name": camp["name"],
                        "delivery_date": day.isoformat(),
                        "impressions": imps_s,
                        "clicks": clicks_s,
                        "spend": money(s),
                        "currency": currency,
                        "account_name": acct["account_name"],
                        "account_timezone": acct["account_timezone"],
                    },
                )
            )

    # fulfilment ----------------------------------------------------------------------------
    def build_fulfilment(self) -> None:
        rng = self.rng("fulfilment")
        gid = lambda r: f"12{r.randint(10**13, 10**14 - 1)}"  # noqa: E731 - Asana-style 16-digit gids
        for o in self.orders:
            if o.otype == "insertion_order" or o.status == "draft":
                continue
            billed = [x for x in o.invoices if x[1] != "credit_note"]
            if o.status != "cancelled" and rng.random() < self.rate("package_not_delivered"):
                if billed:
                    self.record("crm__orders", o.oid, "billed_not_delivered", "side=fulfilment")
                continue
            project = self.new_id(rng, gid)
            c = o.client
            q = f"Q{(o.start.month - 1) // 3 + 1}"
            title = rng.choice(CONTENT_TITLES if o.otype == "content_package" else RETAINER_TITLES)
            short = rng.choice((c.short, c.short.lower(), initials(c.trading), c.trading))
            pname = rng.choice(
                (
                    f"{c.short} – {title} {q}",
                    f"{c.trading}: {title} {o.start.year}",
                    f"{title} ({short})",
                    f"{c.short.upper()} | {title}",
                )
            )
            if rng.random() < self.rate("project_ref_in_name"):
                text = o.ref if rng.random() < 0.6 else self.typed_ref(o, rng)[0]
                pname = rng.choice((f"{text} {pname}", f"{pname} [{text}]"))
            order_ref = ""
            if rng.random() < self.rate("project_ref_field"):
                order_ref = o.ref if rng.random() < 0.7 else (o.po or self.typed_ref(o, rng)[0])
            scale = CURRENCY_SCALE.get(o.currency, 1)
            items: list[list] = []
            budget = o.cents
            if o.otype == "content_package":
                for _ in range(rng.randint(1, 5)):
                    desc, lo, hi = rng.choice(CONTENT_ITEMS)
                    unit = rng.randint(lo, hi) * 100 * scale
                    qty = rng.randint(1, 8)
                    if sum(a * b for _, a, b in items) + unit * qty > budget * 0.85:
                        break
                    items.append([desc, qty, unit])
                rest = budget - sum(a * b for _, a, b in items)
                items.append(["Project management & QA", 1, rest])
            else:
                rate_h = rng.choice((85, 95, 110, 125, 140)) * 100 * scale
                for m in range(o.months):
                    hours = rng.randint(6, 30)
                    month = month_start(o.start, m)
                    if sum(a * b for _, a, b in items) + rate_h * hours > budget * 0.85:
                        break
                    items.append(
                        [f"{rng.choice(RETAINER_ITEMS)} – {MONTHS[month.month - 1][:3]} {month.year}", hours, rate_h]
                    )
                rest = budget - sum(a * b for _, a, b in items)
                items.append(["Retainer base fee", 1, rest])
            short_first = (
                o.status != "cancelled" and billed and items[0][1] >= 2 and rng.random() < self.rate("quantity_short")
            )
            for k, (desc, qty, unit) in enumerate(items):
                did = self.new_id(rng, gid)
                delivered = qty
                if k == 0 and short_first:
                    delivered = max(1, qty - max(1, int(qty * rng.uniform(0.1, 0.5))))
                    self.record(
                        "fulfilment__deliverables", did, "quantity_short", f"delivered={delivered}; ordered={qty}"
                    )
                if o.status == "cancelled":
                    status, done = "cancelled", ""
                elif o.status in ("active", "booked") and rng.random() < 0.3:
                    status, done = "in_progress", ""
                else:
                    day = o.start + timedelta(days=rng.randint(0, max(0, (o.end - o.start).days)))
                    status, done = "completed", ts(day, rng, 8, 18)
                self.rows["fulfilment__deliverables"].append(
                    (
                        f"asana_export_{o.start.year}_{q}.csv",
                        {
                            "deliverable_id": did,
                            "project_id": project,
                            "project_name": pname,
                            "order_ref": order_ref,
                            "client_name": short,
                            "description": desc,
                            "quantity": str(delivered),
                            "unit_value": money(unit),
                            "currency": o.currency,
                            "status": status,
                            "completed_at": done,
                        },
                    )
                )
                self.link("deliverables_orders", did, o.oid, "one_to_one")
                for iid, lt in billed:
                    self.link("deliverables_invoices", did, iid, lt)
            if o.unbilled and o.status != "cancelled":
                self.record("crm__orders", o.oid, "completed_not_billed", f"deliverables={len(items)}")

    # leads ---------------------------------------------------------------------------------
    def build_leads(self) -> None:
        rng = self.rng("leads")
        people_seen: set[str] = set()

        # As build_clients: once the addresses the names make are used up (about 90,000
        # orders), a number tells a new person's address apart; below that, none is drawn.
        collisions, numbered = 0, False

        def person() -> tuple[str, str]:
            nonlocal collisions, numbered
            while True:
                first, last = rng.choice(FIRST), rng.choice(SURNAMES)
                local = rng.choice(
                    (f"{first}.{last}", f"{first[0]}{last}", f"{first}{rng.randint(1, 99)}", f"{first}_{last[0]}")
                )
                if collisions >= CLIENT_NAME_DRAWS:
                    collisions, numbered = 0, True
                if numbered:
                    local += str(rng.randint(100, 99999))
                email = f"{local.lower()}@{rng.choice(DOMAINS)}"
                if email not in people_seen:
                    collisions = 0
                    people_seen.add(email)
                    return f"{first} {last}", email
                collisions += 1

        subs = []
        for camp in self.campaigns:
            if not camp["lead_gen"]:
                continue
            span = (camp["last"] - camp["first"]).days
            form = f"{rng.randint(10**14, 10**15 - 1)}" if camp["platform"] == "meta" else f"F-{rng.randint(100, 9999)}"
            for _ in range(rng.randint(1, 12)):
                t = datetime.combine(camp["first"], datetime.min.time()) + timedelta(
                    days=rng.randint(0, span), seconds=rng.randint(0, 86399)
                )
                subs.append({"camp": camp, "form": form, "t": t})
        organic = []
        for _ in range(max(1, len(subs) // 8)):
            t = datetime(2025, 1, 15) + timedelta(seconds=rng.randint(0, 690 * 86400))
            organic.append(t)
        subs.sort(key=lambda s: (s["t"], s["camp"]["cid"]))
        leads = []  # dicts; ids assigned later in created order
        owners = MANAGERS + ["sdr.team", "inbound"]
        # organic leads: people who reached the CRM without a form (some later submit one)
        # leads a repeat submitter can already have (an older lead with the same e-mail), by time
        known: list[tuple[datetime, int, dict]] = []
        for t in sorted(organic):
            name, email = person()
            lead = {"email": email, "name": name, "client": rng.choice(self.clients), "campaign": "", "t": t}
            leads.append(lead)
            known.append((t, len(known), lead))
            if rng.random() < 0.02 * self.noise:
                dup = dict(lead, t=t + timedelta(hours=rng.randint(1, 400)), dup_of=lead)
                leads.append(dup)
        for s in subs:
            camp = s["camp"]
            o = camp["order"]
            sid = self.new_id(rng, lambda r: str(r.randint(10**14, 10**16 - 1)))
            s["sid"] = sid
            n_older = bisect.bisect_left(known, (s["t"] - timedelta(days=1),))
            if n_older and rng.random() < self.rate("repeat_submission"):
                lead = known[n_older - rng.randint(1, min(n_older, 50))][2]
                name, email = lead["name"], lead["email"]
                s["email"] = self.email_variant(email, rng, 0.4)
                s["name"] = name
                self.link("lead_forms_leads", sid, lead, "repeat_submission")
                self.record("ads__lead_forms", sid, "repeat_submission", f"older_lead_created={ts_dt(lead['t'])}")
            else:
                name, email = person()
                s["email"] = self.email_variant(email, rng, 0.08)
                s["name"] = name if rng.random() > 0.1 else name.lower()
                if rng.random() < self.rate("missing_in_crm"):
                    self.record("ads__lead_forms", sid, "missing_in_crm", f"email={email}")
                else:
                    t = s["t"] + timedelta(seconds=rng.randint(120, 8 * 3600))
                    lead = {"email": email, "name": name, "client": o.client, "campaign": camp["cid"], "t": t}
                    leads.append(lead)
                    bisect.insort(known, (t, len(leads), lead))
                    self.link("lead_forms_leads", sid, lead, "one_to_one")
                    if rng.random() < self.rate("duplicate_crm_lead"):
                        dup = dict(lead, t=t + timedelta(seconds=rng.randint(60, 3 * 86400)), dup_of=lead)
                        leads.append(dup)
                        self.link("lead_forms_leads", sid, dup, "duplicate")
                    if rng.random() < self.rate("double_submit"):
                        sid2 = self.new_id(rng, lambda r: str(r.randint(10**14, 10**16 - 1)))
                        s2 = dict(s, sid=sid2, t=s["t"] + timedelta(seconds=rng.randint(20, 600)))
                        s2["_double"] = True
                        subs_extra = s2
                        self.emit_submission(subs_extra)
                        self.link("lead_forms_leads", sid2, lead, "duplicate")
                        self.record("ads__lead_forms", sid2, "duplicate_submission", f"first={sid}")
            self.emit_submission(s)
        # CRM lead ids increase with creation time
        leads.sort(key=lambda x: (x["t"], x["email"]))
        base = rng.randint(50_000, 90_000)
        for lead in leads:
            base += rng.randint(1, 9)
            lead["id"] = str(base)
        for lead in leads:
            email = lead["email"]
            if rng.random() < self.rate("contact_variant"):
                email = self.email_variant(email, rng, 1.0)
                self.record("crm__leads", lead["id"], "contact_variant", f"email={lead['email']}")
            if "dup_of" in lead:
                self.record("crm__leads", lead["id"], "duplicate_lead", f"first={lead['dup_of']['id']}")
            self.rows["crm__leads"].append(
                (
                    f"contacts_{lead['t'].year}-{lead['t'].month:02d}.csv",
                    {
                        "lead_id": lead["id"],
                        "email": email,
                        "full_name": lead["name"] if rng.random() > 0.04 else "",
                        "client_id": lead["client"].cid if rng.random() > 0.15 else "",
                        "campaign_id": lead["campaign"] if rng.random() > 0.25 else "",
                        "owner": rng.choice(owners) if rng.random() > 0.2 else "",
                        "created_at": ts_dt(lead["t"]),
                    },
                )
            )
        # links were recorded against lead dicts: resolve to ids now
        self.links = [
            (r, left, right["id"], lt) if r == "lead_forms_leads" else (r, left, right, lt)
            for r, left, right, lt in self.links
        ]

    @staticmethod
    def email_variant(email: str, rng: random.Random, p: float) -> str:
        if rng.random() >= p:
            return email
        kind = rng.choice(("upper", "title", "space", "trailing"))
        if kind == "upper":
            return email.upper()
        if kind == "title":
            local, dom = email.split("@")
            return local.title() + "@" + dom
        if kind == "space":
            return " " + email
        return email + "  "

    def emit_submission(self, s: dict) -> None:
        camp = s["camp"]
        self.rows["ads__lead_forms"].append(
            (
                f"{camp['platform']}_leads_{s['t'].year}-{s['t'].month:02d}.csv",
                {
                    "submission_id": s["sid"],
                    "platform": camp["platform"],
                    "campaign_id": camp["cid"],
                    "form_id": s["form"],
                    "email": s["email"],
                    "full_name": s["name"],
                    "submitted_at": ts_dt(s["t"]),
                },
            )
        )

    # bad values --------------------------------------------------------------------------------
    BAD_TARGETS = {
        "crm__orders": (("amount", "money"), ("service_start_date", "date")),
        "billing__invoices": (("net_amount", "money"), ("total_amount", "money"), ("issue_date", "date")),
        "billing__invoice_lines": (("net_amount", "money"),),
        "billing__credit_notes": (("net_amount", "money"), ("issue_date", "date")),
        "ads__delivery": (("spend", "money"),),
        "fulfilment__deliverables": (("unit_value", "money"),),
    }
    KEYS = {
        "crm__orders": ("order_id",),
        "billing__invoices": ("invoice_id",),
        "billing__invoice_lines": ("invoice_id", "line_number"),
        "billing__credit_notes": ("credit_note_id",),
        "ads__delivery": ("platform", "campaign_id", "delivery_date"),
        "fulfilment__deliverables": ("deliverable_id",),
    }

    def corrupt(self) -> None:
        rng = self.rng("bad")
        for table, targets in self.BAD_TARGETS.items():
            rows = self.rows[table]
            n = round(len(rows) * self.rate("bad_value"))
            if self.noise > 0:
                n = max(n, 1)
            for idx in sorted(rng.sample(range(len(rows)), min(n, len(rows)))):
                row = rows[idx][1]
                col, kind = rng.choice(targets)
                old = row[col]
                if kind == "money":
                    whole, cents = old.lstrip("-").split(".")
                    new = rng.choice(
                        (
                            f"{int(whole):,}.{cents}" if int(whole) >= 1000 else f"{whole},{cents}",
                            f"{whole},{cents}",
                            f"£{old}",
                            "#VALUE!",
                            "n/a",
                            f"{whole}.{cents} EUR",
                        )
                    )
                else:
                    d = date.fromisoformat(old)
                    new = rng.choice(
                        (d.strftime("%d/%m/%Y"), d.strftime("%m/%d/%y"), d.strftime("%b %d, %Y"), f"{d.year}-02-30")
                    )
                row[col] = new
                key = "|".join(row[k] for k in self.KEYS[table])
                self.record(table, key, "bad_value", f"column={col}; value={new}; original={old}")

    # output --------------------------------------------------------------------------------
    def build(self) -> None:
        self.build_clients()
        self.build_orders()
        self.build_billing()
        self.build_ads()
        self.build_fulfilment()
        self.build_leads()
        self.corrupt()


def _bad_file(d: Dialect, landing: Path) -> tuple[str, str] | None:
    """An Excel re-save of a few June invoices: semicolons and decimal commas (reject the file)."""
    rows = [r for f, r in d.rows["billing__invoices"] if f.startswith("invoices_2026-06")][:6]
    if not rows or d.noise <= 0:
        return None
    path = landing / "billing" / "invoices" / "invoices_2026-06 (excel resave).csv"
    cols = columns("billing__invoices")
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, delimiter=";", lineterminator="\r\n")
        w.writerow(cols)
        for r in rows:
            w.writerow([r[c].replace(".", ",") if c.endswith("amount") else r[c] for c in cols])
    return (path.relative_to(landing.parent).as_posix(), "semicolon-delimited Excel re-save with decimal commas")


def _remove_previous(out_dir: Path) -> None:
    manifest = out_dir / "ground_truth" / "manifest.json"
    if manifest.exists():
        try:
            old = json.loads(manifest.read_text())
        except ValueError:
            old = {}
        if old.get("dialect") == DIALECT:
            for rel in old.get("files", []):
                (out_dir / rel).unlink(missing_ok=True)
    for name in ("links.csv", "records.csv", "manifest.json", "bad_files.csv"):
        (out_dir / "ground_truth" / name).unlink(missing_ok=True)


def generate(out_dir: Path, *, seed: int = 7, orders: int = 20000, noise: float = 1.0) -> dict:
    """Write dialect-B landing files and ground truth under ``out_dir``; return a summary."""
    if orders < 1 or seed < 0 or noise < 0:
        raise ValueError("orders must be >= 1, seed and noise >= 0")
    started = time.perf_counter()
    out_dir = Path(out_dir)
    _remove_previous(out_dir)
    d = Dialect(seed, orders, noise)
    d.build()
    landing = out_dir / "landing"
    files: list[str] = []
    rows_per_table: dict[str, int] = {}
    for table in TABLES:
        source, entity = table.split("__")
        folder = landing / source / entity
        folder.mkdir(parents=True, exist_ok=True)
        cols = columns(table)
        by_file: dict[str, list[dict]] = defaultdict(list)
        for fname, row in d.rows[table]:
            by_file[fname].append(row)
        if not by_file:
            by_file[f"{entity}.csv"] = []
        for fname in sorted(by_file):
            path = folder / fname
            with open(path, "w", newline="", encoding="utf-8") as fh:
                w = csv.writer(fh, lineterminator="\n")
                w.writerow(cols)
                for row in by_file[fname]:
                    w.writerow([row.get(c, "") for c in cols])
            files.append(path.relative_to(out_dir).as_posix())
        rows_per_table[table] = len(d.rows[table])
    bad = _bad_file(d, landing)
    if bad:
        files.append(bad[0])
    truth = out_dir / "ground_truth"
    truth.mkdir(parents=True, exist_ok=True)
    with open(truth / "links.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["reconciliation", "left_id", "right_id", "link_type"])
        w.writerows(d.links)
    with open(truth / "records.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["entity", "record_id", "discrepancy", "detail"])
        w.writerows(d.records)
    with open(truth / "bad_files.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["path", "problem"])
        if bad:
            w.writerow(bad)
    links = Counter(f"{r}/{lt}" for r, _, _, lt in d.links)
    discrepancies = Counter(f"{t}/{k}" for t, _, k, _ in d.records)
    summary = {
        "dialect": DIALECT,
        "dialect_version": DIALECT_VERSION,
        "contract_version": contract.CONTRACT_VERSION,
        "seed": seed,
        "orders": orders,
        "noise": noise,
        "as_of": AS_OF.isoformat(),
        "clients": len(d.clients),
        "rows": rows_per_table,
        "counts": {
            "links": dict(sorted(links.items())),
            "discrepancies": dict(sorted(discrepancies.items())),
            "consolidated_invoices": len(d.consolidations),
            "consolidated_orders": sum(len(g) for g in d.consolidations),
            "bad_files": 1 if bad else 0,
        },
        "rates": {k: round(min(v * noise, 0.9), 6) for k, v in RATES.items()},
        "files": files,
    }
    (truth / "manifest.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    summary["seconds"] = round(time.perf_counter() - started, 2)
    return summary
