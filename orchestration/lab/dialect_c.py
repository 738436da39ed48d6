"""Dialect C: a third, independently written, held-out test-data generator.

The world: "Northlight & Fable", a mid-size London agency with a US entity. Deals live in
Salesforce (18-character ids, a job-number change in April 2025 from ``NF24-0412`` to
``SO-2025-00412``, some key clients insisting on their own project codes such as
``KEST-0042``, purchase-order numbers from SAP-run clients). The UK/EU/AU entity bills from
Xero (GUID invoice ids, ``INV-10412``), the US entity from Stripe Invoicing (``in_…`` ids,
per-customer ``8F3C2A1B-0042`` numbers). Media runs on Google Ads, LinkedIn and Microsoft
Ads (campaigns imported from Google). Content is produced in Jira (UK team) and Monday
(US team). Files are already mapped column for column onto the landing contract.

It exists only to measure how the matching generalises: never tune anything on it.
Money is handled in integer cents throughout; every draw comes from ``random.Random``
seeded from ``seed``, so the same seed writes the same bytes.
"""

from __future__ import annotations

import csv
import json
import random
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from orchestration import contract

AS_OF = date(2026, 1, 31)  # the day the exports were pulled
FIRST_START = date(2024, 1, 8)
LAST_START = date(2026, 3, 30)
REF_SWITCH = date(2025, 4, 1)  # CRM moved from NF24-0412 to SO-2025-00412 numbering

# Noise rates at noise=1.0 (each scaled by ``noise``, capped at 1).
RATES = {
    "ref_missing": 0.05,
    "ref_typo": 0.04,
    "ref_in_memo_only": 0.05,
    "ref_format_variant": 0.05,
    "po_instead_of_ref": 0.15,  # of invoices whose order has a client PO (a third of that if not required)
    "client_name_variant": 0.07,
    "tax_inclusive_lines": 0.08,  # of invoices that carry tax
    "reexported_copy": 0.03,
    "void_reissue": 0.03,
    "duplicate_billing": 0.02,
    "orphan_invoice": 0.03,
    "billed_actual_spend": 0.05,
    "unlinked_line": 0.04,
    "line_ref_typo": 0.05,
    "credit_note_no_invoice": 0.3,
    "campaign_ref_missing": 0.08,
    "campaign_ref_typo": 0.03,
    "campaign_po_in_name": 0.25,  # of campaigns whose order has a PO
    "campaign_stale_ref": 0.03,
    "orphan_campaign": 0.04,
    "negative_spend": 0.04,
    "account_currency_differs": 0.02,
    "repeat_submission": 0.05,
    "duplicate_lead": 0.03,
    "lead_not_synced": 0.02,
    "email_variant": 0.05,
    "deliverable_ref_typo": 0.04,
    "cancelled_not_billed": 0.01,
    "bad_value": 0.0015,
}

COUNTRIES = [
    # code, weight, currency, tax basis points on our invoices, time zone, suffixes
    ("GB", 36, "GBP", 2000, "Europe/London", ["Ltd", "Limited", "plc", "Ltd"]),
    ("US", 20, "USD", 0, "America/New_York", ["Inc.", "LLC", "Corp.", "Inc"]),
    ("DE", 8, "EUR", 0, "Europe/Berlin", ["GmbH", "AG", "GmbH & Co. KG"]),
    ("FR", 6, "EUR", 0, "Europe/Paris", ["SAS", "SARL", "SA"]),
    ("IE", 4, "EUR", 0, "Europe/Dublin", ["Ltd", "DAC", "Limited"]),
    ("NL", 4, "EUR", 0, "Europe/Amsterdam", ["B.V.", "N.V."]),
    ("AU", 8, "AUD", 1000, "Australia/Sydney", ["Pty Ltd", "Pty. Ltd.", "Pty Limited"]),
    ("CA", 5, "CAD", 0, "America/Toronto", ["Inc.", "Ltd.", "Corp."]),
    ("CH", 3, "CHF", 0, "Europe/Zurich", ["AG", "SA", "GmbH"]),
    ("SE", 3, "SEK", 0, "Europe/Stockholm", ["AB", "AB (publ)"]),
    ("JP", 1, "JPY", 0, "Asia/Tokyo", ["K.K.", "Co., Ltd."]),
]
COUNTRIES_BY = {c[0]: c for c in COUNTRIES}
FX_TO_USD = {"USD": 1.0, "GBP": 1.27, "EUR": 1.08, "AUD": 0.66, "CAD": 0.74, "CHF": 1.13, "SEK": 0.095, "JPY": 0.0067}

BRAND_A = "North Bright Kestrel Harbour Silver Oak Copper Blue Stone Iron Maple Cedar Falcon Summit Clear Lumen Vale Orbis Meridian Atlas Juniper Hollow Wren Beacon Tidal Quarry Alder Fenwick Ashby Marlow Calder Ridge Larch Osprey Halcyon Verity".split()  # noqa: E501
BRAND_B = "water gate field well point bridge wood light line mark stone view path brook side haven crest fold".split()
INDUSTRY = [
    "Outdoor",
    "Dental",
    "Logistics",
    "Foods",
    "Analytics",
    "Homes",
    "Cycles",
    "Coffee Roasters",
    "Health",
    "Pharma",
    "Interiors",
    "Capital",
    "Insurance",
    "Software",
    "Travel",
    "Brewing Co",
    "Energy",
    "Fitness",
    "Legal",
    "Education",
    "Pet Care",
    "Skincare",
    "Freight",
    "Robotics",
    "Wines",
]
SURNAMES = "Williams Hale Brook Patel Okafor Nguyen Schmidt Dubois Lindqvist Tanaka Murphy O'Connor Fischer Laurent Novak Costa Reyes Walsh Bauer Moreau Berg Kowalski Hughes Clarke Ahmed Fraser Young".split()  # noqa: E501
ACCENTED = [
    ("Café Lumière", "FR"),
    ("Müller Bäckerei", "DE"),
    ("Société Générale des Eaux Minérales", "FR"),
    ("Öresund Möbler", "SE"),
    ("Zürcher Uhrenmanufaktur", "CH"),
    ("Brasserie Élan", "FR"),
    ("Københavns Kaffe", "SE"),
    ("Gärtnerei Schön", "DE"),
    ("Crème & Co", "FR"),
    ("Señorío Vinos", "GB"),
]
FIRST_NAMES = "Ana Ben Chloé Daniel Emma Farid Grace Hiro Isla Jonas Karin Liam Maja Noah Olivia Priya Quentin Rosa Sven Tom Uma Viktor Wen Xavier Yara Zoë Amélie Björn Ciarán Siobhán".split()  # noqa: E501
MANAGERS = ["a.khan", "b.osei", "c.lindgren", "d.murphy", "e.rossi", "f.tanaka", "g.hughes", "h.novak", "i.costa"]
SERVICES = ["SEO", "Paid social management", "PPC management", "Content strategy", "CRO", "Analytics & reporting"]
CONTENT = [
    ("Blog article (1,500 words)", 32000, 55000, 1),
    ("Long-form guide (3,000 words)", 85000, 140000, 1),
    ("Social carousel", 18000, 30000, 5),
    ("Short video edit (30s)", 60000, 150000, 1),
    ("Landing page copy", 45000, 90000, 1),
    ("Email newsletter", 25000, 45000, 1),
    ("Infographic", 40000, 80000, 1),
    ("Case study", 70000, 120000, 1),
    ("Product photography (per image)", 4500, 9000, 12),
]
TOPICS = (
    "pricing explained|spring launch|customer story|how-to guide|industry trends|year in review|"
    "buyer's checklist|myth busting|behind the scenes|FAQ refresh|sustainability report|holiday gift guide"
).split("|")
PLATFORMS = ("google_ads", "linkedin", "microsoft_ads")
OCR = {"0": "O", "O": "0", "1": "I", "I": "1", "5": "S", "S": "5", "8": "B", "B": "8", "2": "Z", "6": "G"}
MONTHS = "January February March April May June July August September October November December".split()
MON = [m[:3] for m in MONTHS]


# ------------------------------------------------------------------ small helpers


def money(cents: int, currency: str = "") -> str:
    sign = "-" if cents < 0 else ""
    c = abs(cents)
    if currency == "JPY":
        return f"{sign}{c // 100}"
    return f"{sign}{c // 100}.{c % 100:02d}"


def pct_of(cents: int, bp: int) -> int:
    """``cents`` × ``bp``/10000, rounded half away from zero, in integer arithmetic."""
    sign = -1 if cents < 0 else 1
    return sign * ((abs(cents) * bp + 5000) // 10000)


def round_ccy(cents: int, currency: str) -> int:
    if currency == "JPY":
        return int(round(cents / 100.0)) * 100
    return cents


def iso(d: date) -> str:
    return d.isoformat()


def ts(d: date, seconds: int) -> str:
    return (datetime(d.year, d.month, d.day) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def month_start(d: date) -> date:
    return d.replace(day=1)


def next_month(d: date) -> date:
    return date(d.year + (d.month == 12), d.month % 12 + 1, 1)


def month_end(d: date) -> date:
    return next_month(d) - timedelta(days=1)


def quarter_end(d: date) -> date:
    q_last_month = ((d.month - 1) // 3) * 3 + 3
    return month_end(date(d.year, q_last_month, 1))


B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def sf_id(rng: random.Random, prefix: str) -> str:
    """An 18-character Salesforce id with a correct case-safe suffix."""
    body = prefix + "".join(rng.choice(B62) for _ in range(15 - len(prefix)))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
    suffix = ""
    for chunk in range(3):
        bits = sum(1 << i for i, ch in enumerate(body[chunk * 5 : chunk * 5 + 5]) if ch.isupper())
        suffix += alphabet[bits]
    return body + suffix


def ocr_typo(rng: random.Random, text: str) -> str:
    """One OCR-like or keying confusion: a look-alike character, a dropped dash, a transposition."""
    spots = [i for i, ch in enumerate(text) if ch in OCR]
    roll = rng.random()
    if spots and roll < 0.55:
        i = rng.choice(spots)
        return text[:i] + OCR[text[i]] + text[i + 1 :]
    digits = [i for i in range(len(text) - 1) if text[i].isdigit() and text[i + 1].isdigit() and text[i] != text[i + 1]]
    if digits and roll < 0.85:
        i = rng.choice(digits)
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    if "-" in text:
        return text.replace("-", "", 1)
    return text + "1"


def ref_variant(rng: random.Random, ref: str) -> str:
    """How people re-key a job number: spaces, no dash, lower case, a prefix word."""
    return rng.choice(
        [
            ref.replace("-", " "),
            ref.replace("-", ""),
            ref.lower(),
            "Ref: " + ref,
            "Job " + ref,
            ref.replace("-", "/"),
            "Our ref " + ref.replace("-", " "),
        ]
    )


def strip_accents(text: str) -> str:
    import unicodedata

    return "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))


# ------------------------------------------------------------------ world objects


@dataclass
class Client:
    id: str
    legal: str
    trading: str
    aliases: list[str]
    country: str
    currency: str
    tax_bp: int
    tz: str
    code: str
    short: str
    system: str  # xero or stripe
    po_required: bool
    own_codes: bool
    quarterly: bool
    terms: str
    stripe_prefix: str
    team: str  # jira or monday
    weight: float
    seq: int = 0
    stripe_seq: int = 0


@dataclass
class Order:
    id: str
    client: Client
    ref: str
    po: str
    kind: str
    amount: int
    currency: str
    start: date
    end: date
    order_date: date
    manager: str
    status: str
    updated: str
    service: str = ""
    monthly_fee: int = 0
    items: list = field(default_factory=list)  # content: [deliverable dicts]
    billing_mode: str = ""


@dataclass
class Line:
    description: str
    quantity: str
    unit_cents: int | None
    net: int
    order: Order | None
    reference: str = ""
    deliverables: list = field(default_factory=list)


@dataclass
class Invoice:
    client: Client
    issue: date
    lines: list[Line]
    kind: str = "normal"  # normal, orphan, void, reissue, duplicate, copy
    id: str = ""
    number: str = ""
    reference: str = ""
    client_name: str = ""
    status: str = ""
    due: date | None = None
    updated: str = ""
    inclusive: bool = False
    link_type: dict = field(default_factory=dict)  # order id -> type
    origin: Invoice | None = None

    @property
    def orders(self) -> list[Order]:
        seen: dict[str, Order] = {}
        for ln in self.lines:
            if ln.order is not None and ln.order.id not in seen:
                seen[ln.order.id] = ln.order
        return list(seen.values())


class World:
    def __init__(self, seed: int, orders: int, noise: float):
        self.seed = seed
        self.n_orders = orders
        self.noise = max(0.0, noise)
        self.rows: dict[str, list[dict]] = defaultdict(list)
        self.links: list[tuple[str, str, str, str]] = []
        self.records: list[tuple[str, str, str, str]] = []
        self.used_ids: set[str] = set()

    def rng(self, part: str) -> random.Random:
        return random.Random(f"dialect-c/{self.seed}/{part}")

    def p(self, name: str) -> float:
        return min(1.0, RATES[name] * self.noise)

    def hit(self, rng: random.Random, name: str, scale: float = 1.0) -> bool:
        return self.noise > 0 and rng.random() < min(1.0, RATES[name] * self.noise * scale)

    def record(self, entity: str, record_id: str, discrepancy: str, detail: str = "") -> None:
        self.records.append((entity, record_id, discrepancy, detail))

    def unique(self, make) -> str:
        while True:
            value = make()
            if value not in self.used_ids:
                self.used_ids.add(value)
                return value

    # -------------------------------------------------------------- clients

    def make_clients(self) -> None:
        rng = self.rng("clients")
        n = max(25, self.n_orders // 16)
        self.clients: list[Client] = []
        codes: set[str] = set()
        stripe_prefixes: set[str] = set()
        weights = [c[1] for c in COUNTRIES]
        for _ in range(n):
            country, _, ccy, tax_bp, tz, suffixes = rng.choices(COUNTRIES, weights)[0]
            roll = rng.random()
            aliases: list[str] = []
            if roll < 0.06:
                base, country = rng.choice(ACCENTED)
                country, _, ccy, tax_bp, tz, suffixes = next(c for c in COUNTRIES if c[0] == country)
                core = base
            elif roll < 0.22:
                core = f"{rng.choice(SURNAMES)} & {rng.choice(SURNAMES)}"
            elif roll < 0.32:
                words = [
                    rng.choice(BRAND_A),
                    rng.choice(["Pacific", "Atlantic", "Northern", "Western", "United"]),
                    rng.choice(INDUSTRY),
                ]
                core = " ".join(words)
                aliases.append("".join(w[0] for w in " ".join(words).split()).upper())
            else:
                brand = rng.choice(BRAND_A) + (rng.choice(BRAND_B) if rng.random() < 0.5 else "")
                core = f"{brand} {rng.choice(INDUSTRY)}"
            suffix = rng.choice(suffixes)
            holding = rng.random() < 0.15
            legal = f"{core} {'Holdings ' if holding else ''}{suffix}"
            t = rng.random()
            if holding or t < 0.35:
                trading = core
            elif t < 0.5 and " " in core and "&" not in core:
                trading = core.split()[0]
            else:
                trading = ""
            if "&" in core and rng.random() < 0.5:
                aliases.append(core.replace("&", "and"))
            if rng.random() < 0.2:
                aliases.append(core.upper())
            letters = "".join(ch for ch in strip_accents(core).upper() if ch.isalpha())
            code = letters[:4]
            k = 0
            while code in codes or len(code) < 3:
                k += 1
                code = (letters[:3] + "XYZQWKVJ"[k % 8] + str(k))[:5]
            codes.add(code)
            prefix = self.unique(lambda: "".join(rng.choice("0123456789ABCDEF") for _ in range(8)))
            stripe_prefixes.add(prefix)
            system = "stripe" if country in ("US", "CA") else "xero"
            client = Client(
                id=self.unique(lambda: sf_id(rng, "0014J")),
                legal=legal,
                trading=trading,
                aliases=aliases,
                country=country,
                currency=ccy,
                tax_bp=tax_bp,
                tz=tz,
                code=code,
                short=(trading or core).split()[0].lower().strip(",'"),
                system=system,
                po_required=rng.random() < 0.2,
                own_codes=rng.random() < 0.08,
                quarterly=rng.random() < 0.12,
                terms=rng.choice(["Net 30", "Net 30", "Net 14", "Net 45", "30 days EOM", "Due on receipt"]),
                stripe_prefix=prefix,
                team="monday" if country in ("US", "CA") else "jira",
                weight=min(15.0, rng.paretovariate(1.2)),
            )
            self.clients.append(client)
        # Divisions: a few clients are sister entities of another, with near-identical names.
        for c in rng.sample(self.clients, max(1, n // 18)):
            sister = rng.choice(self.clients)
            if sister is c or sister.country == c.country:
                continue
            core = sister.trading or sister.legal.rsplit(" ", 1)[0]
            c.legal = f"{core} {c.country} {rng.choice(COUNTRIES_BY[c.country][5])}"
            c.trading = f"{core} {rng.choice(['UK', 'Europe', 'North America', 'APAC', c.country])}"
        for c in self.clients:
            self.rows["crm/clients"].append(
                {
                    "client_id": c.id,
                    "legal_name": c.legal,
                    "trading_name": c.trading,
                    "aliases": "; ".join(c.aliases),
                    "country": c.country,
                    "billing_currency": c.currency,
                }
            )

    def billed_name(self, c: Client) -> str:
        return c.trading or c.legal

    def name_variant(self, rng: random.Random, c: Client) -> str:
        name = self.billed_name(c)
        options = [
            name.upper(),
            c.legal.replace(" Limited", " Ltd").replace(" Ltd", " Limited") if "Lt" in c.legal else c.legal + ".",
            strip_accents(name) if strip_accents(name) != name else name + " (Accounts Payable)",
            name.replace("&", "and") if "&" in name else name.replace(" ", "  ", 1),
            f"{name} - Accounts Payable",
            name[:-1] if len(name) > 6 else name + "s",
            c.legal.rsplit(" ", 1)[0] + ",",
        ]
        if c.aliases:
            options.append(rng.choice(c.aliases))
        return rng.choice(options)

    # -------------------------------------------------------------- orders

    def make_orders(self) -> None:
        rng = self.rng("orders")
        weights = [c.weight for c in self.clients]
        span = (LAST_START - FIRST_START).days
        drafts = []
        for _ in range(self.n_orders):
            client = rng.choices(self.clients, weights)[0]
            kind = rng.choices(["insertion_order", "retainer", "content_package"], [55, 18, 27])[0]
            start = FIRST_START + timedelta(days=int(rng.random() ** 0.85 * span))
            drafts.append((start, client, kind))
        drafts.sort(key=lambda d: (d[0], d[1].id, d[2]))
        seq_year: dict[str, int] = defaultdict(int)
        self.orders: list[Order] = []
        for start, client, kind in drafts:
            o_rng = rng
            service = ""
            fee = 0
            items: list = []
            if kind == "insertion_order":
                end = start + timedelta(days=rng.randint(13, 75))
                amount = int(rng.lognormvariate(9.4, 0.8)) * 100
                amount = max(150000, min(amount, 60000000)) // 5000 * 5000
            elif kind == "retainer":
                start = month_start(start)
                months = rng.randint(3, 12)
                end = start
                for _ in range(months):
                    end = next_month(end)
                end = end - timedelta(days=1)
                fee = rng.choice([150000, 250000, 350000, 450000, 600000, 750000, 1000000, 1250000])
                service = rng.choice(SERVICES)
                amount = fee * months
            else:
                end = start + timedelta(days=rng.randint(28, 120))
                amount = 0
                for _ in range(rng.randint(2, 7)):
                    name, lo, hi, qty = rng.choice(CONTENT)
                    count = rng.randint(1, 4)
                    unit = rng.randint(lo // 500, hi // 500) * 500
                    for _ in range(count):
                        items.append({"name": name, "unit": unit, "qty": qty, "topic": rng.choice(TOPICS)})
                        amount += unit * qty
            amount = round_ccy(
                int(amount * (1 / FX_TO_USD[client.currency] if client.currency in ("SEK", "JPY") else 1)),
                client.currency,
            )
            if kind == "retainer" and client.currency in ("SEK", "JPY"):
                fee = round_ccy(int(fee / FX_TO_USD[client.currency]), client.currency)
                amount = fee * round((end - start).days / 30.4)
            if kind == "content_package" and client.currency in ("SEK", "JPY"):
                for it in items:
                    it["unit"] = round_ccy(int(it["unit"] / FX_TO_USD[client.currency]), client.currency)
                amount = sum(it["unit"] * it["qty"] for it in items)
            order_date = start - timedelta(days=rng.randint(3, 35))
            if client.own_codes:
                client.seq += 1
                ref = f"{client.code}-{client.seq:04d}"
            elif order_date < REF_SWITCH:
                key = f"NF{order_date:%y}"
                seq_year[key] += 1
                ref = f"{key}-{seq_year[key]:04d}"
            else:
                key = f"SO-{order_date:%Y}"
                seq_year[key] += 10 if rng.random() < 0.03 else 1  # numbers get skipped
                ref = f"{key}-{seq_year[key]:05d}"
            po = ""
            if client.po_required or rng.random() < 0.08:
                po = rng.choice(
                    [
                        f"45{rng.randint(0, 99999999):08d}",
                        f"PO-{rng.randint(10000, 99999)}",
                        f"PO{order_date:%Y}/{rng.randint(100, 9999)}",
                    ]
                )
            roll = rng.random()
            if roll < 0.025:
                status = "cancelled"
            elif roll < 0.04 and start > AS_OF - timedelta(days=60):
                status = "draft"
            elif start > AS_OF:
                status = "booked"
            elif end >= AS_OF:
                status = "active"
            else:
                status = "completed"
            changed = min(
                AS_OF,
                max(
                    order_date,
                    end + timedelta(days=rng.randint(0, 20))
                    if status == "completed"
                    else order_date + timedelta(days=rng.randint(0, 10)),
                ),
            )
            order = Order(
                id=self.unique(lambda o_rng=o_rng: sf_id(o_rng, "0064J")),
                client=client,
                ref=ref,
                po=po,
                kind=kind,
                amount=amount,
                currency=client.currency,
                start=start,
                end=end,
                order_date=order_date,
                manager=rng.choice(MANAGERS),
                status=status,
                updated=ts(changed, rng.randint(25000, 65000)),
                service=service,
                monthly_fee=fee,
                items=items,
            )
            self.orders.append(order)
            self.rows["crm/orders"].append(
                {
                    "order_id": order.id,
                    "client_id": client.id,
                    "client_name": client.legal if rng.random() < 0.7 else self.billed_name(client),
                    "order_ref": ref,
                    "order_type": kind,
                    "po_number": po,
                    "amount": money(amount, client.currency),
                    "currency": client.currency,
                    "service_start_date": iso(start),
                    "service_end_date": iso(end),
                    "order_date": iso(order_date),
                    "account_manager": order.manager,
                    "status": status,
                    "updated_at": order.updated,
                }
            )
        self.by_client: dict[str, list[Order]] = defaultdict(list)
        for o in self.orders:
            self.by_client[o.client.id].append(o)

    # -------------------------------------------------------------- media plan

    def plan_media(self) -> None:
        """Which platforms and campaigns each insertion order buys, and how much it delivers."""
        rng = self.rng("media-plan")
        self.accounts: dict[tuple[str, str], dict] = {}
        self.campaigns: list[dict] = []
        for o in self.orders:
            if o.kind != "insertion_order":
                continue
            roll = rng.random()
            if roll < 0.08:
                factor = rng.uniform(0.70, 0.91)
            elif roll < 0.11:
                factor = rng.uniform(1.03, 1.12)
            else:
                factor = rng.uniform(0.94, 1.0)
            o.delivery_factor = factor  # type: ignore[attr-defined]
            platforms = ["google_ads"]
            if rng.random() < 0.3:
                platforms.append("linkedin")
            if rng.random() < 0.2:
                platforms.append("microsoft_ads")
            if rng.random() < 0.2:
                platforms.remove("google_ads")
                platforms = platforms or ["linkedin"]
            o.platforms = platforms  # type: ignore[attr-defined]
            o.campaigns = []  # type: ignore[attr-defined]
            if o.status in ("draft", "cancelled") or o.start > AS_OF:
                continue
            plan = []
            for platform in platforms:
                for _ in range(1 if rng.random() < 0.72 else rng.randint(2, 3)):
                    plan.append(platform)
            shares = [rng.uniform(0.5, 1.5) for _ in plan]
            total = sum(shares)
            for platform, share in zip(plan, shares, strict=True):
                camp = self.new_campaign(rng, o.client, platform, o)
                camp["share"] = share / total
                o.campaigns.append(camp)  # type: ignore[attr-defined]

    def account(self, rng: random.Random, client: Client, platform: str) -> dict:
        key = (client.id, platform)
        if key not in self.accounts:
            ccy = client.currency
            tz = client.tz
            name = self.billed_name(client)
            if platform == "google_ads":
                aid = self.unique(lambda: f"{rng.randint(100, 999)}-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}")
                aname = rng.choice([f"{name} - {client.country}", f"{client.code} | Northlight", name])
            elif platform == "linkedin":
                aid = self.unique(lambda: str(rng.randint(500000000, 509999999)))
                aname = rng.choice([name, f"{name} (Northlight & Fable)", client.legal])
            else:
                aid = self.unique(lambda: str(rng.randint(140000000, 149999999)))
                aname = f"{name} - Bing"
            self.accounts[key] = {"account_id": aid, "account_name": aname, "tz": tz, "currency": ccy}
        return self.accounts[key]

    def new_campaign(self, rng: random.Random, client: Client, platform: str, order: Order | None) -> dict:
        acct = self.account(rng, client, platform)
        if platform == "google_ads":
            cid = self.unique(lambda: str(rng.randint(20000000000, 22999999999)))
        elif platform == "linkedin":
            cid = self.unique(lambda: str(rng.randint(300000000, 399999999)))
        else:
            cid = self.unique(lambda: str(rng.randint(500000000, 599999999)))
        camp = {"id": cid, "platform": platform, "client": client, "order": order, "acct": acct, "leadgen": False}
        if platform == "linkedin":
            camp["objective"] = rng.choice(["Lead Gen", "Lead Gen", "Website Visits", "Brand Awareness", "Video Views"])
            camp["leadgen"] = camp["objective"] == "Lead Gen"
        else:
            choices = (
                ["Search", "Search", "PMax", "Display", "YouTube"]
                if platform == "google_ads"
                else ["Search", "Search", "Search", "Audience", "PMax"]
            )
            camp["objective"] = rng.choice(choices)
            camp["leadgen"] = camp["objective"] == "Search" and platform == "google_ads" and rng.random() < 0.25
        camp["theme"] = rng.choice(["Brand", "Generic", "Competitor", "Prospecting", "Retargeting", "Launch", "Promo"])
        self.campaigns.append(camp)
        return camp

    def campaign_name(self, rng: random.Random, camp: dict, ref: str | None) -> str:
        c: Client = camp["client"]
        o: Order | None = camp["order"]
        when = o.start if o else AS_OF
        geo = {"GB": "UK"}.get(c.country, c.country)
        if camp["platform"] == "linkedin":
            tag = f" [{ref}]" if ref else ""
            return f"{self.billed_name(c)} – {camp['objective']} – Q{(when.month - 1) // 3 + 1} {when.year}{tag}"
        parts = (
            [c.code, ref, camp["objective"], camp["theme"], geo]
            if ref
            else [c.code, camp["objective"], camp["theme"], geo]
        )
        name = "_".join(parts)
        if camp["platform"] == "microsoft_ads" and rng.random() < 0.3:
            name += " (Imported from Google Ads)"
        return name

    # -------------------------------------------------------------- billing

    def make_billing(self) -> None:
        rng = self.rng("billing")
        events: list[tuple[date, tuple | None, list[Line]]] = []
        groups_retainers = {c.id: rng.random() < 0.5 for c in self.clients}
        for o in self.orders:
            o.billed_items = []  # type: ignore[attr-defined]
            if o.kind == "content_package":
                self.schedule_items(rng, o)
            if o.kind == "retainer":
                o.jira_tracked = rng.random() < 0.4  # type: ignore[attr-defined]
            if o.status in ("draft", "cancelled") or o.start > AS_OF:
                continue
            if o.kind == "insertion_order":
                events.extend(self.io_events(rng, o))
            elif o.kind == "retainer":
                advance = rng.random() < 0.3
                o.billing_mode = "advance" if advance else "arrears"
                m = o.start
                while m <= o.end:
                    issue = (
                        m + timedelta(days=rng.randint(0, 3))
                        if advance
                        else next_month(m) + timedelta(days=rng.randint(0, 4))
                    )
                    label = f"{MONTHS[m.month - 1]} {m.year}"
                    line = Line(f"{o.service} retainer – {label}", "1", o.monthly_fee, o.monthly_fee, o)
                    if o.jira_tracked:  # type: ignore[attr-defined]
                        done = month_end(m)
                        state = "completed" if done <= AS_OF else "in_progress" if m <= AS_OF else "planned"
                        item = {
                            "name": f"{o.service} retainer – {label}",
                            "unit": o.monthly_fee,
                            "qty": 1,
                            "done": done,
                            "topic": "",
                            "status": state,
                            "order": o,
                        }
                        o.items.append(item)
                        line.deliverables.append(item)
                    key = ("ret", o.client.id, issue.year, issue.month) if groups_retainers[o.client.id] else None
                    events.append((issue, key, [line]))
                    m = next_month(m)
            else:
                events.extend(self.content_events(rng, o))
        # Consolidate and turn events into invoices.
        grouped: dict[tuple, list] = {}
        singles: list[tuple[date, list[Line]]] = []
        for issue, key, lines in events:
            if issue > AS_OF:
                continue
            if key is None:
                singles.append((issue, lines))
            else:
                g = grouped.setdefault(key, [issue, []])
                g[0] = max(g[0], issue)
                g[1].extend(lines)
        self.invoices: list[Invoice] = []
        for issue, lines in singles:
            self.invoices.append(Invoice(lines[0].order.client, issue, lines))  # type: ignore[union-attr]
        for key in sorted(grouped, key=lambda k: (grouped[k][0], str(k))):
            issue, lines = grouped[key]
            inv = Invoice(lines[0].order.client, issue, lines)
            if len(inv.orders) > 1:
                for ln in lines:
                    if rng.random() < 0.9:
                        ln.reference = ln.order.ref
                    else:
                        ln.description += f" ({ln.order.ref})"
            self.invoices.append(inv)
        self.invoices.sort(key=lambda i: (i.issue, i.client.id, i.lines[0].description, i.lines[0].net))
        for inv in self.invoices:
            for ln in inv.lines:
                for item in ln.deliverables:
                    ln.order.billed_items.append(item)  # type: ignore[union-attr]
        self.invoice_noise(rng)

    def io_events(self, rng: random.Random, o: Order) -> list:
        c = o.client
        flight = f"{MON[o.start.month - 1]}–{MON[o.end.month - 1]} {o.end.year}"
        if o.start.month == o.end.month:
            flight = f"{MONTHS[o.start.month - 1]} {o.start.year}"

        def body(amount: int, label: str) -> list[Line]:
            roll = rng.random()
            if roll < 0.45:
                return [Line(f"{label} – paid media {flight}", "1", amount, amount, o)]
            if roll < 0.8:
                fee = round_ccy(pct_of(amount, rng.choice([1000, 1200, 1500])), o.currency)
                media = amount - fee
                names = {
                    "google_ads": "Google Ads",
                    "linkedin": "LinkedIn Ads",
                    "microsoft_ads": "Microsoft Advertising",
                }
                plats = o.platforms  # type: ignore[attr-defined]
                out = []
                left = media
                for i, pf in enumerate(plats):
                    part = left if i == len(plats) - 1 else round_ccy(media // len(plats), o.currency)
                    left -= part
                    out.append(Line(f"{names[pf]} media spend {flight}", "1", part, part, o))
                out.append(Line(f"Agency management fee ({label.lower()})", "1", fee, fee, o))
                return out
            gross = round_ccy(amount * 100 // 95, o.currency)
            return [
                Line(f"{label} – media buying {flight}", "1", gross, gross, o),
                Line("Volume discount 5%", "1", -(gross - amount), -(gross - amount), o),
            ]

        if c.quarterly:
            o.billing_mode = "quarterly"
            issue = quarter_end(o.end) + timedelta(days=rng.randint(3, 8))
            return [(issue, ("q", c.id, issue), body(o.amount, "Campaign"))]
        roll = rng.random()
        months = (o.end.year - o.start.year) * 12 + o.end.month - o.start.month + 1
        if roll < 0.15:
            o.billing_mode = "deposit"
            dep = round_ccy(o.amount // 2, o.currency)
            return [
                (
                    o.order_date + timedelta(days=rng.randint(1, 7)),
                    None,
                    [Line(f"50% deposit – {o.ref} – paid media {flight}", "1", dep, dep, o)],
                ),
                (o.end + timedelta(days=rng.randint(2, 10)), None, body(o.amount - dep, "Balance")),
            ]
        if roll < 0.35 and months >= 2:
            o.billing_mode = "monthly"
            out = []
            total_days = (o.end - o.start).days + 1
            left = o.amount
            m = month_start(o.start)
            while m <= o.end:
                lo, hi = max(m, o.start), min(month_end(m), o.end)
                part = left if hi == o.end else round_ccy(o.amount * ((hi - lo).days + 1) // total_days, o.currency)
                left -= part
                label = f"{MONTHS[m.month - 1]} {m.year}"
                out.append(
                    (
                        next_month(m) + timedelta(days=rng.randint(0, 5)),
                        None,
                        [Line(f"Paid media – {label} delivery", "1", part, part, o)],
                    )
                )
                m = next_month(m)
            return out
        o.billing_mode = "single"
        return [(o.end + timedelta(days=rng.randint(2, 12)), None, body(o.amount, "Campaign"))]

    def schedule_items(self, rng: random.Random, o: Order) -> None:
        span = max(7, (o.end - o.start).days)
        for it in o.items:
            it["order"] = o
            it["done"] = o.start + timedelta(days=rng.randint(6, span))
            if o.status == "cancelled" or o.status == "draft":
                it["status"] = "cancelled" if o.status == "cancelled" else "planned"
            elif it["done"] <= AS_OF:
                it["status"] = "completed"
            else:
                it["status"] = "in_progress" if o.start <= AS_OF else "planned"
        o.items.sort(key=lambda it: (it["done"], it["name"], it["topic"]))

    def content_events(self, rng: random.Random, o: Order) -> list:
        c_rng = rng
        for it in o.items:
            if it["status"] == "completed" and self.hit(c_rng, "cancelled_not_billed"):
                it["status"] = "cancelled"
                it["cancelled_noise"] = True
        billable = [it for it in o.items if it["status"] == "completed"]
        if not billable:
            return []
        last = max(it["done"] for it in o.items)
        all_done = all(it["status"] in ("completed", "cancelled") for it in o.items)
        theme = f"content package {MON[o.start.month - 1]} {o.start.year}"

        def item_lines(items: list) -> list[Line]:
            if rng.random() < 0.35:
                total = sum(it["unit"] * it["qty"] for it in items)
                return [Line(f"Content production – {theme}", "1", total, total, o, deliverables=list(items))]
            out: dict[tuple, Line] = {}
            for it in items:
                key = (it["name"], it["unit"])
                if key not in out:
                    out[key] = Line(it["name"], "0", it["unit"], 0, o)
                ln = out[key]
                ln.quantity = str(int(ln.quantity) + it["qty"])
                ln.net += it["unit"] * it["qty"]
                ln.deliverables.append(it)
            return list(out.values())

        roll = rng.random()
        if roll < 0.5:
            o.billing_mode = "completion"
            if not all_done:
                return []
            return [(last + timedelta(days=rng.randint(1, 10)), None, item_lines(billable))]
        if roll < 0.75:
            o.billing_mode = "deposit"
            dep = round_ccy(o.amount // 2, o.currency)
            out = [
                (
                    o.order_date + timedelta(days=rng.randint(1, 6)),
                    None,
                    [Line(f"Deposit (50%) – {theme}", "1", dep, dep, o)],
                )
            ]
            if all_done:
                rest = sum(it["unit"] * it["qty"] for it in billable) - dep
                if rest > 0:
                    out.append(
                        (
                            last + timedelta(days=rng.randint(1, 10)),
                            None,
                            [Line(f"Balance – {theme}", "1", rest, rest, o, deliverables=list(billable))],
                        )
                    )
            return out
        o.billing_mode = "monthly"
        by_month: dict[date, list] = defaultdict(list)
        for it in billable:
            by_month[month_start(it["done"])].append(it)
        return [
            (next_month(m) + timedelta(days=rng.randint(0, 5)), None, item_lines(items))
            for m, items in sorted(by_month.items())
        ]

    # -------------------------------------------------------------- invoice mess

    def clone(self, inv: Invoice, kind: str, issue: date) -> Invoice:
        lines = [
            Line(ln.description, ln.quantity, ln.unit_cents, ln.net, ln.order, ln.reference, list(ln.deliverables))
            for ln in inv.lines
        ]
        new = Invoice(inv.client, issue, lines, kind=kind, origin=inv)
        carried = {"unlinked_line", "billed_actual_spend"} if kind != "copy" else set()
        new.notes = [n for n in getattr(inv, "notes", []) if n[0] in carried]  # type: ignore[attr-defined]
        return new

    def invoice_noise(self, rng: random.Random) -> None:
        for inv in self.invoices:
            inv.notes = []  # type: ignore[attr-defined]
        base = list(self.invoices)
        # Billed what the platforms reported rather than what was booked.
        for inv in base:
            orders = inv.orders
            if len(orders) == 1 and orders[0].kind == "insertion_order" and orders[0].billing_mode == "single":
                if self.hit(rng, "billed_actual_spend"):
                    o = orders[0]
                    f = o.delivery_factor if abs(o.delivery_factor - 1) > 0.02 else rng.uniform(0.88, 0.98)
                    for ln in inv.lines:
                        ln.net = round_ccy(int(ln.net * f), o.currency)
                        ln.unit_cents = ln.net
                    inv.notes.append(("billed_actual_spend", f"lines scaled by {f:.3f} of booked {o.ref}"))
            if self.hit(rng, "unlinked_line"):
                desc, lo, hi = rng.choice(
                    [
                        ("Rechargeable expenses – travel", 8000, 60000),
                        ("Late payment fee", 2500, 7500),
                        ("Stock imagery licence", 1500, 30000),
                        ("Courier", 1200, 4500),
                        ("Loyalty discount", -50000, -5000),
                    ]
                )
                amount = round_ccy(rng.randint(lo // 100, hi // 100) * 100, inv.client.currency)
                inv.lines.append(Line(desc, "1", amount, amount, None))
                if sum(ln.net for ln in inv.lines) <= 0:
                    inv.lines.pop()
                else:
                    inv.notes.append(("unlinked_line", desc))
        # Orphan invoices: ad-hoc work nobody put in the CRM.
        n_orphans = int(round(len(base) * self.p("orphan_invoice")))
        adhoc = [
            "Strategy workshop (half day)",
            "Out-of-scope design amends",
            "Photography day rate",
            "Brand audit",
            "Emergency site fix",
            "Media consultancy – hours",
            "Conference booth artwork",
        ]
        span = (AS_OF - date(2024, 2, 1)).days
        for _ in range(n_orphans):
            client = rng.choice(self.clients)
            lines = []
            for _ in range(rng.randint(1, 3)):
                qty = rng.choice([1, 1, 2, 4, 8])
                unit = round_ccy(rng.randint(80, 1500) * 100, client.currency)
                lines.append(Line(rng.choice(adhoc), str(qty), unit, unit * qty, None))
            inv = Invoice(client, date(2024, 2, 1) + timedelta(days=rng.randint(0, span)), lines, kind="orphan")
            inv.notes = [("orphan_invoice", "bills no order")]  # type: ignore[attr-defined]
            self.invoices.append(inv)
        # Billed twice by mistake.
        extra: list[Invoice] = []
        for inv in base:
            if len(inv.orders) == 1 and self.hit(rng, "duplicate_billing"):
                dup = self.clone(inv, "duplicate", min(AS_OF, inv.issue + timedelta(days=rng.randint(1, 15))))
                dup.notes.append(("duplicate_billing", f"{inv.orders[0].ref} billed again"))  # type: ignore[attr-defined]
                extra.append(dup)
        # Void and re-issue (wrong address, wrong PO, wrong amount).
        for inv in base:
            if self.hit(rng, "void_reissue"):
                inv.kind = "void"
                inv.notes.append(("void", rng.choice(["wrong PO", "wrong entity", "wrong amount", "wrong address"])))
                re = self.clone(inv, "reissue", min(AS_OF, inv.issue + timedelta(days=rng.randint(2, 20))))
                re.notes.append(("reissue", "replaces a void invoice"))  # type: ignore[attr-defined]
                extra.append(re)
        self.invoices.extend(extra)
        self.invoices.sort(key=lambda i: (i.issue, i.client.id, i.kind, i.lines[0].description, i.lines[0].net))
        # Link types.
        count: dict[str, int] = defaultdict(int)
        for inv in self.invoices:
            if inv.kind in ("normal", "void"):
                for o in inv.orders:
                    count[o.id] += 1
        for inv in self.invoices:
            orders = inv.orders
            for o in orders:
                if inv.kind in ("void", "reissue", "duplicate"):
                    inv.link_type[o.id] = inv.kind
                elif len(orders) > 1:
                    inv.link_type[o.id] = "consolidated"
                else:
                    inv.link_type[o.id] = "split" if count[o.id] > 1 else "one_to_one"
        # Header text: reference, name, tax presentation.
        for inv in self.invoices:
            self.dress_invoice(rng, inv)
        # Ids and numbers in issue order, per billing system.
        xero_no = 10411
        for inv in self.invoices:
            c = inv.client
            if c.system == "xero":
                inv.id = self.unique(lambda: str(uuid.UUID(int=rng.getrandbits(128), version=4)))
                xero_no += 2 if rng.random() < 0.01 else 1
                inv.number = f"INV-{xero_no}"
            else:
                inv.id = self.unique(lambda: "in_1" + "".join(rng.choice(B62) for _ in range(23)))
                c.stripe_seq += 1
                inv.number = f"{c.stripe_prefix}-{c.stripe_seq:04d}"
            self.settle(rng, inv)
        # The same invoice exported again under a new id (a second connector run).
        self.copies: list[Invoice] = []
        for inv in self.invoices:
            if self.hit(rng, "reexported_copy"):
                cp = self.clone(inv, "copy", inv.issue)
                for attr in ("number", "reference", "client_name", "status", "due", "inclusive"):
                    setattr(cp, attr, getattr(inv, attr))
                cp.updated = ts(min(AS_OF, inv.issue + timedelta(days=rng.randint(20, 90))), rng.randint(0, 86399))
                if inv.client.system == "xero":
                    cp.id = self.unique(lambda: str(uuid.UUID(int=rng.getrandbits(128), version=4)))
                else:
                    cp.id = self.unique(lambda: "in_1" + "".join(rng.choice(B62) for _ in range(23)))
                cp.notes = [("reexported_copy", f"copy of {inv.id}")]
                if cp.inclusive:
                    cp.notes.append(("tax_inclusive_lines", f"lines include {inv.client.tax_bp / 100:g}% tax"))  # type: ignore[attr-defined]
                self.copies.append(cp)

    def dress_invoice(self, rng: random.Random, inv: Invoice) -> None:
        c = inv.client
        if inv.origin is not None and inv.kind in ("reissue", "duplicate") and inv.origin.reference != "":
            src = inv.origin
            inv.client_name = src.client_name
            inv.reference = src.reference if inv.kind == "duplicate" or rng.random() < 0.5 else ""
            inv.inclusive = src.inclusive
            if inv.reference == "" and len(inv.orders) == 1:
                inv.reference = inv.orders[0].ref
            carried = {"client_name_variant"}
            if inv.reference == src.reference:
                carried |= {"po_instead_of_ref", "ref_typo", "ref_format_variant"}
            inv.notes.extend(n for n in src.notes if n[0] in carried)  # type: ignore[attr-defined]
            if inv.inclusive:
                inv.notes.append(("tax_inclusive_lines", f"lines include {c.tax_bp / 100:g}% tax"))
            return
        inv.client_name = self.billed_name(c)
        if self.hit(rng, "client_name_variant"):
            inv.client_name = self.name_variant(rng, c)
            if inv.client_name != self.billed_name(c):
                inv.notes.append(("client_name_variant", inv.client_name))  # type: ignore[attr-defined]
        orders = inv.orders
        if len(orders) == 1:
            o = orders[0]
            inv.reference = o.ref
            for ln in inv.lines:
                if ln.order is not None and rng.random() < 0.35:
                    ln.reference = o.ref
                elif ln.order is not None and rng.random() < 0.25 and o.ref not in ln.description:
                    ln.description += f" – {o.ref}"
            if o.po and self.hit(rng, "po_instead_of_ref", 1.0 if c.po_required else 0.35):
                inv.reference = o.po if rng.random() < 0.7 else f"PO {o.po}"
                inv.notes.append(("po_instead_of_ref", f"{o.po} for {o.ref}"))  # type: ignore[attr-defined]
            elif self.hit(rng, "ref_missing"):
                inv.reference = ""
                for ln in inv.lines:
                    ln.reference = ""
                    ln.description = ln.description.replace(f" – {o.ref}", "")
                inv.notes.append(("ref_missing", o.ref))  # type: ignore[attr-defined]
            elif self.hit(rng, "ref_in_memo_only"):
                inv.reference = ""
                for ln in inv.lines:
                    ln.reference = ""
                    ln.description = ln.description.replace(f" – {o.ref}", "")
                first = inv.lines[0]
                first.description += rng.choice([f" (your ref {o.ref})", f" – ref {o.ref}", f" / {o.ref}"])
                inv.notes.append(("ref_in_memo_only", o.ref))  # type: ignore[attr-defined]
            elif self.hit(rng, "ref_typo"):
                inv.reference = ocr_typo(rng, o.ref)
                inv.notes.append(("ref_typo", f"{inv.reference} for {o.ref}"))  # type: ignore[attr-defined]
            elif self.hit(rng, "ref_format_variant"):
                inv.reference = ref_variant(rng, o.ref)
                inv.notes.append(("ref_format_variant", f"{inv.reference} for {o.ref}"))  # type: ignore[attr-defined]
        elif len(orders) > 1:
            q = f"Q{(inv.issue.month - 2) % 12 // 3 + 1}"
            pos = sorted({o.po for o in orders if o.po})
            inv.reference = rng.choice(
                [f"{q} media", pos[0] if pos else "", "", f"{MONTHS[inv.issue.month - 1][:3]} {inv.issue.year} billing"]
            )
        else:
            inv.reference = rng.choice(["", "", "Ad hoc", f"Per email {inv.issue:%d/%m}"])
        for n, ln in enumerate(inv.lines, 1):
            if ln.reference and self.hit(rng, "line_ref_typo", 0.5):
                ln.reference = ocr_typo(rng, ln.reference)
                inv.notes.append(("line_ref_typo", f"line {n}: {ln.reference}"))  # type: ignore[attr-defined]
        if c.tax_bp and self.hit(rng, "tax_inclusive_lines"):
            inv.inclusive = True
            inv.notes.append(("tax_inclusive_lines", f"lines include {c.tax_bp / 100:g}% tax"))  # type: ignore[attr-defined]

    def settle(self, rng: random.Random, inv: Invoice) -> None:
        c = inv.client
        terms = c.terms
        if terms == "30 days EOM":
            due = month_end(inv.issue) + timedelta(days=30)
        elif terms == "Due on receipt":
            due = inv.issue
        else:
            due = inv.issue + timedelta(days=int(terms.split()[1]))
        inv.due = due
        paid_day = None
        if inv.kind == "void":
            inv.status = "void"
            changed = inv.issue + timedelta(days=rng.randint(1, 20))
        elif due >= AS_OF:
            inv.status = "draft" if inv.issue > AS_OF - timedelta(days=4) and rng.random() < 0.3 else "issued"
            changed = inv.issue
        else:
            roll = rng.random()
            if roll < 0.86:
                inv.status = "paid"
                paid_day = min(AS_OF, due + timedelta(days=rng.randint(-20, 25)))
            elif roll < 0.91:
                inv.status = "partially_paid"
                paid_day = min(AS_OF, due + timedelta(days=rng.randint(0, 30)))
            else:
                inv.status = "overdue"
            changed = paid_day or due + timedelta(days=1)
        changed = max(inv.issue, min(changed, AS_OF))
        inv.updated = ts(changed, rng.randint(0, 86399))

    # -------------------------------------------------------------- delivery

    def make_delivery(self) -> None:
        rng = self.rng("delivery")
        prev_ref: dict[str, str] = {}
        # Campaigns that belong to no order: the agency's own, tests, always-on that nobody sold.
        n_orphans = int(round(len(self.campaigns) * self.p("orphan_campaign")))
        orphan_names = [
            "NF_Internal_Recruitment_UK",
            "TEST - do not use",
            "Always-on brand (client-paid)",
            "Northlight - Awards entry promo",
            "Remarketing - legacy",
            "Copy of Brand Search",
        ]
        planned = list(self.campaigns)
        for _ in range(n_orphans):
            client = rng.choice(self.clients)
            camp = self.new_campaign(rng, client, rng.choice(PLATFORMS), None)
            start = date(2024, 1, 15) + timedelta(days=rng.randint(0, (AS_OF - date(2024, 1, 15)).days - 10))
            camp["start"], camp["end"] = start, start + timedelta(days=rng.randint(5, 60))
            camp["budget_usd"] = rng.randint(200, 6000)
            camp["name"] = rng.choice(orphan_names) if rng.random() < 0.5 else self.campaign_name(rng, camp, None)
            camp["leadgen"] = False
        for camp in planned:
            o: Order = camp["order"]
            c = o.client
            camp["start"] = o.start + timedelta(days=rng.choice([0, 0, 0, 1, 2]))
            camp["end"] = o.end - timedelta(days=rng.choice([0, 0, 0, 1]))
            if camp["end"] < camp["start"]:
                camp["end"] = camp["start"]
            ref = o.ref
            note = None
            if self.hit(rng, "campaign_ref_missing"):
                ref, note = None, ("campaign_ref_missing", o.ref)
            elif o.po and self.hit(rng, "campaign_po_in_name"):
                ref, note = o.po.replace("/", "-"), ("campaign_po_in_name", f"{o.po} for {o.ref}")
            elif c.id in prev_ref and self.hit(rng, "campaign_stale_ref"):
                ref, note = prev_ref[c.id], ("campaign_stale_ref", f"{prev_ref[c.id]} for {o.ref}")
            elif self.hit(rng, "campaign_ref_typo"):
                ref = ocr_typo(rng, o.ref)
                note = ("campaign_ref_typo", f"{ref} for {o.ref}")
            camp["name"] = self.campaign_name(rng, camp, ref)
            camp["note"] = note
            prev_ref[c.id] = o.ref
            budget = o.amount * camp["share"] * o.delivery_factor  # type: ignore[attr-defined]
            camp["budget_ccy"] = budget
            camp["ccy"] = camp["acct"]["currency"]
            if self.hit(rng, "account_currency_differs") and c.currency != "USD":
                camp["ccy"] = "USD"
                camp["budget_ccy"] = budget * FX_TO_USD[c.currency]
                camp["note2"] = ("account_currency_differs", f"account in USD, order in {c.currency}")
        for camp in self.campaigns:
            if camp["order"] is None:
                camp["ccy"] = camp["acct"]["currency"]
                camp["budget_ccy"] = camp["budget_usd"] * 100 / FX_TO_USD[camp["ccy"]]
        self.delivery_rows(rng)

    def delivery_rows(self, rng: random.Random) -> None:
        out = self.rows_by_file = getattr(self, "rows_by_file", defaultdict(list))
        cpm = {"google_ads": (3.0, 12.0), "linkedin": (25.0, 48.0), "microsoft_ads": (2.5, 9.0)}
        ctr = {"google_ads": (0.01, 0.06), "linkedin": (0.004, 0.012), "microsoft_ads": (0.01, 0.05)}
        self.delivered: dict[str, int] = {}
        for camp in self.campaigns:
            start, end = camp["start"], min(camp["end"], AS_OF)
            if start > AS_OF:
                continue
            days = (camp["end"] - start).days + 1
            run = (end - start).days + 1
            budget = int(camp["budget_ccy"] * run / days)
            ccy = camp["ccy"]
            weights = []
            for k in range(run):
                d = start + timedelta(days=k)
                w = (0.55 if d.weekday() >= 5 else 1.0) * rng.uniform(0.4, 1.6)
                weights.append(0.0 if rng.random() < 0.03 else w)
            total_w = sum(weights) or 1.0
            spends = [round_ccy(int(budget * w / total_w), ccy) for w in weights]
            spends[-1] += round_ccy(budget - sum(spends), ccy)
            if spends[-1] < 0:
                spends[-1] = 0
            acct = camp["acct"]
            pf = camp["platform"]
            the_cpm = rng.uniform(*cpm[pf])
            the_ctr = rng.uniform(*ctr[pf])
            fx = FX_TO_USD[ccy]
            days_rows = []
            for k, spend in enumerate(spends):
                d = start + timedelta(days=k)
                impressions = int(spend / 100 * fx / the_cpm * 1000 * rng.uniform(0.85, 1.15))
                clicks = int(impressions * the_ctr * rng.uniform(0.7, 1.3))
                days_rows.append([d, impressions, clicks, spend])
            if days_rows and self.hit(rng, "negative_spend"):
                credit = round_ccy(max(100, int(sum(spends) * rng.uniform(0.005, 0.04))), ccy)
                d = end + timedelta(days=rng.randint(2, 25))
                if d <= AS_OF:
                    days_rows.append([d, 0, 0, -credit])
                else:
                    days_rows[-1] = [days_rows[-1][0], 0, 0, -credit]
                self.record(
                    "ads__delivery",
                    f"{camp['id']}|{iso(days_rows[-1][0])}",
                    "negative_spend",
                    f"platform credit {money(-credit, ccy)} {ccy}",
                )
            self.delivered[camp["id"]] = sum(r[3] for r in days_rows)
            camp["delivered_days"] = [r[0] for r in days_rows]
            for d, impressions, clicks, spend in days_rows:
                out[(pf, d.year)].append(
                    {
                        "platform": pf,
                        "account_id": acct["account_id"],
                        "account_name": acct["account_name"],
                        "account_timezone": acct["tz"],
                        "campaign_id": camp["id"],
                        "campaign_name": camp["name"],
                        "delivery_date": iso(d),
                        "impressions": str(impressions),
                        "clicks": str(clicks),
                        "spend": money(spend, ccy),
                        "currency": ccy,
                    }
                )
            cid = camp["id"]
            if camp["order"] is None:
                self.record("ads__delivery", cid, "orphan_campaign", camp["name"])
            else:
                if camp.get("note"):
                    self.record("ads__delivery", cid, *camp["note"])
                if camp.get("note2"):
                    self.record("ads__delivery", cid, *camp["note2"])
                o = camp["order"]
                kind = "one_to_one" if len([x for x in o.campaigns if x["start"] <= AS_OF]) == 1 else "split"
                self.links.append(("delivery_orders", cid, o.id, kind))
        # Make-goods and billing adjustments granted by the platforms.
        for camp in self.campaigns:
            o = camp["order"]
            if o is None or camp["id"] not in self.delivered or rng.random() > 0.05:
                continue
            amount = round_ccy(max(1000, int(self.delivered[camp["id"]] * rng.uniform(0.01, 0.08))), camp["ccy"])
            day = min(AS_OF, camp["end"] + timedelta(days=rng.randint(3, 40)))
            if camp["platform"] == "google_ads":
                cred = self.unique(lambda: f"ADJ-{rng.randint(10**9, 10**10 - 1)}")
            elif camp["platform"] == "linkedin":
                cred = self.unique(lambda: f"LI-CR-{rng.randint(100000, 999999)}")
            else:
                cred = self.unique(lambda: f"MSA-{rng.randint(10**7, 10**8 - 1)}")
            self.rows["ads/credits"].append(
                {
                    "credit_id": cred,
                    "platform": camp["platform"],
                    "account_id": camp["acct"]["account_id"],
                    "campaign_id": camp["id"] if rng.random() < 0.8 else "",
                    "credit_date": iso(day),
                    "amount": money(amount, camp["ccy"]),
                    "currency": camp["ccy"],
                    "reason": rng.choice(
                        [
                            "Invalid activity credit",
                            "under-delivery make-good",
                            "Billing adjustment",
                            "Policy refund",
                            "Overdelivery credit",
                        ]
                    ),
                }
            )

    # -------------------------------------------------------------- leads

    def make_leads(self) -> None:
        rng = self.rng("leads")
        domains = ["gmail.com", "outlook.com", "yahoo.co.uk", "icloud.com", "hotmail.com", "proton.me", "web.de"]
        people: dict[str, list[dict]] = defaultdict(list)  # client id -> people with a lead
        subs: list[dict] = []
        leads: list[dict] = []
        for camp in self.campaigns:
            if not camp["leadgen"] or camp["id"] not in self.delivered:
                continue
            o: Order = camp["order"]
            c = o.client
            usd = max(0, self.delivered[camp["id"]]) / 100 * FX_TO_USD[camp["ccy"]]
            n = min(40, int(usd / rng.uniform(150, 400)))
            days = camp["delivered_days"]
            form = (
                f"urn:li:adForm:{rng.randint(1000000, 9999999)}"
                if camp["platform"] == "linkedin"
                else f"lf_{rng.randint(10**9, 10**10 - 1)}"
            )
            company = "".join(ch for ch in strip_accents(c.short).lower() if ch.isalnum()) or "client"
            for _ in range(n):
                d = rng.choice(days)
                at = datetime(d.year, d.month, d.day) + timedelta(seconds=rng.randint(21600, 84000))
                if camp["platform"] == "linkedin":
                    sid = self.unique(lambda: str(rng.randint(7 * 10**18, 8 * 10**18)))
                else:
                    sid = self.unique(lambda: "Cj0KCQ" + "".join(rng.choice(B62) for _ in range(22)))
                sub = {
                    "submission_id": sid,
                    "platform": camp["platform"],
                    "campaign_id": camp["id"],
                    "form_id": form,
                    "at": at,
                }
                known = people[c.id]
                if known and self.hit(rng, "repeat_submission"):
                    person = rng.choice(known)
                    if person["at"] < at:
                        sub.update(
                            email=person["email"] if rng.random() < 0.7 else person["email"].upper(),
                            full_name=person["name"],
                        )
                        subs.append(sub)
                        self.links.append(("lead_forms_leads", sid, person["lead_id"], "repeat"))
                        self.record("ads__lead_forms", sid, "repeat_submission", f"earlier lead {person['lead_id']}")
                        continue
                first, last = rng.choice(FIRST_NAMES), rng.choice(SURNAMES)
                local = rng.choice([f"{first}.{last}", f"{first[0]}{last}", f"{first}{rng.randint(1, 99)}"])
                local = "".join(ch for ch in strip_accents(local).lower() if ch.isalnum() or ch == ".")
                email = f"{local}@{rng.choice(domains) if rng.random() < 0.4 else company + '.example'}"
                typed = email
                if rng.random() < 0.15:
                    typed = email.capitalize() + (" " if rng.random() < 0.3 else "")
                name = f"{first} {last}"
                typed_name = rng.choice([name, name, name, f"{last.upper()} {first}", name.lower()])
                sub.update(email=typed, full_name=typed_name)
                subs.append(sub)
                if self.hit(rng, "lead_not_synced"):
                    self.record("ads__lead_forms", sid, "lead_not_synced", "no CRM lead created")
                    continue
                lead_email = email
                if self.hit(rng, "email_variant"):
                    bad = email.replace("gmail", "gmial").replace(".com", ".con") if rng.random() < 0.5 else email
                    if bad == email:
                        bad = email.replace("@", "@@") if rng.random() < 0.2 else email.replace(".", "", 1)
                    sub["email"] = bad  # the form has the typo, sales fixed it in the CRM
                    self.record("ads__lead_forms", sid, "email_variant", f"{bad} vs {email}")
                created = at + timedelta(
                    seconds=rng.randint(40, 5400) if rng.random() < 0.85 else rng.randint(40000, 200000)
                )
                lead_id = self.unique(lambda: sf_id(rng, "00Q4J"))
                lead = {
                    "lead_id": lead_id,
                    "email": lead_email,
                    "full_name": name,
                    "client_id": c.id if rng.random() < 0.9 else "",
                    "campaign_id": camp["id"] if rng.random() < 0.85 else "",
                    "owner": rng.choice(MANAGERS) if rng.random() < 0.4 else "",
                    "at": created,
                }
                leads.append(lead)
                people[c.id].append({"email": email, "name": name, "lead_id": lead_id, "at": created})
                self.links.append(("lead_forms_leads", sid, lead_id, "one_to_one"))
                if self.hit(rng, "duplicate_lead"):
                    dup_id = self.unique(lambda: sf_id(rng, "00Q4J"))
                    leads.append(
                        {
                            "lead_id": dup_id,
                            "email": rng.choice([email, email.upper(), ""]),
                            "full_name": rng.choice([name, f"{first[0]}. {last}", last]),
                            "client_id": c.id,
                            "campaign_id": "",
                            "owner": rng.choice(MANAGERS),
                            "at": created + timedelta(days=rng.randint(1, 40), seconds=rng.randint(0, 30000)),
                        }
                    )
                    self.record("crm__leads", dup_id, "duplicate_lead", f"same person as {lead_id}")
        # Leads that never came through a form: events, referrals, list imports.
        span = (AS_OF - date(2024, 1, 8)).days
        for _ in range(len(leads) // 6):
            first, last = rng.choice(FIRST_NAMES), rng.choice(SURNAMES)
            leads.append(
                {
                    "lead_id": self.unique(lambda: sf_id(rng, "00Q4J")),
                    "email": f"{strip_accents(first)}.{strip_accents(last)}@{rng.choice(domains)}".lower().replace(
                        "'", ""
                    ),
                    "full_name": f"{first} {last}",
                    "client_id": rng.choice(self.clients).id if rng.random() < 0.5 else "",
                    "campaign_id": "",
                    "owner": rng.choice(MANAGERS),
                    "at": datetime(2024, 1, 8) + timedelta(days=rng.randint(0, span), seconds=rng.randint(0, 86399)),
                }
            )
        for s in sorted(subs, key=lambda s: (s["at"], s["submission_id"])):
            self.rows["ads/lead_forms/" + s["platform"]].append(
                {
                    "submission_id": s["submission_id"],
                    "platform": s["platform"],
                    "campaign_id": s["campaign_id"],
                    "form_id": s["form_id"],
                    "email": s["email"],
                    "full_name": s["full_name"],
                    "submitted_at": s["at"].strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
            )
        for ld in sorted(leads, key=lambda x: (x["at"], x["lead_id"])):
            self.rows["crm/leads"].append(
                {
                    "lead_id": ld["lead_id"],
                    "email": ld["email"],
                    "full_name": ld["full_name"],
                    "client_id": ld["client_id"],
                    "campaign_id": ld["campaign_id"],
                    "owner": ld["owner"],
                    "created_at": ld["at"].strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
            )

    # -------------------------------------------------------------- fulfilment

    def make_deliverables(self) -> None:
        rng = self.rng("deliverables")
        jira_seq = 1200
        for o in self.orders:
            if not o.items:
                continue
            c = o.client
            team = c.team
            if team == "jira":
                jira_seq += 1
                project = f"CNT-{jira_seq}"
            else:
                project = self.unique(lambda: str(rng.randint(3 * 10**9, 4 * 10**9)))
            label = "SEO retainer" if o.kind == "retainer" else "content"
            pname = rng.choice(
                [
                    f"{c.short.capitalize()} – {label} {MON[o.start.month - 1]} {o.start.year}",
                    f"{self.billed_name(c)} | {o.ref} | {label}",
                    f"{c.code} {label} Q{(o.start.month - 1) // 3 + 1}",
                ]
            )
            cname = rng.choice([c.short, c.code, self.billed_name(c)])
            filled = rng.random() < (0.6 if team == "jira" else 0.75)
            for it in o.items:
                if team == "jira":
                    jira_seq += 1
                    did = f"CNT-{jira_seq}"
                else:
                    did = self.unique(lambda: str(rng.randint(5 * 10**9, 6 * 10**9)))
                it["id"] = did
                ref = o.ref if filled and rng.random() < 0.9 else ""
                if ref and self.hit(rng, "deliverable_ref_typo"):
                    ref = ocr_typo(rng, ref)
                    self.record("fulfilment__deliverables", did, "deliverable_ref_typo", f"{ref} for {o.ref}")
                if it.get("cancelled_noise"):
                    self.record("fulfilment__deliverables", did, "cancelled_not_billed", f"{o.ref}")
                status = it.get("status", "completed")
                done = it["done"]
                self.rows[f"fulfilment/deliverables/{team}"].append(
                    {
                        "deliverable_id": did,
                        "project_id": project,
                        "project_name": pname,
                        "order_ref": ref,
                        "client_name": cname,
                        "description": f"{it['name']}: {it['topic']}" if it["topic"] else it["name"],
                        "quantity": str(it["qty"]),
                        "unit_value": money(it["unit"], o.currency),
                        "currency": o.currency,
                        "status": status,
                        "completed_at": ts(done, rng.randint(30000, 64000)) if status == "completed" else "",
                    }
                )
                self.links.append(("deliverables_orders", did, o.id, "one_to_one"))

    # -------------------------------------------------------------- credit notes

    def make_credit_notes(self) -> None:
        rng = self.rng("credit-notes")
        notes: list[tuple[Invoice, int, str, date, str]] = []
        for inv in self.invoices:
            orders = inv.orders
            ref = orders[0].ref if len(orders) == 1 else ""
            if inv.kind == "duplicate" and rng.random() < 0.8:
                net = sum(ln.net for ln in inv.lines)
                notes.append((inv, net, "Duplicate invoice", inv.issue + timedelta(days=rng.randint(5, 40)), ref))
            elif inv.kind == "normal" and len(orders) == 1 and orders[0].kind == "insertion_order":
                o = orders[0]
                if (
                    o.delivery_factor < 0.92
                    and o.billing_mode in ("single", "quarterly")  # type: ignore[attr-defined]
                    and not any(n[0] == "billed_actual_spend" for n in inv.notes)  # type: ignore[attr-defined]
                    and rng.random() < 0.6
                ):
                    net = round_ccy(int(o.amount * (1 - o.delivery_factor)), o.currency)  # type: ignore[attr-defined]
                    notes.append((inv, net, "under-delivery", inv.issue + timedelta(days=rng.randint(10, 60)), ref))
            elif inv.kind == "normal" and rng.random() < 0.01:
                net = round_ccy(int(sum(ln.net for ln in inv.lines) * rng.uniform(0.05, 0.15)), inv.client.currency)
                notes.append(
                    (
                        inv,
                        net,
                        rng.choice(["goodwill", "service issue", "pricing error"]),
                        inv.issue + timedelta(days=rng.randint(3, 50)),
                        ref,
                    )
                )
        seq = 300
        for inv, net, reason, day, ref in notes:
            if day > AS_OF or net <= 0:
                continue
            c = inv.client
            if c.system == "xero":
                seq += 1
                cid = f"CN-{seq:05d}"
            else:
                cid = self.unique(lambda: "cn_1" + "".join(rng.choice(B62) for _ in range(23)))
            quoted = inv.id
            if self.hit(rng, "credit_note_no_invoice"):
                quoted = ""
                self.record("billing__credit_notes", cid, "credit_note_no_invoice", f"credits {inv.id}")
            self.rows[f"billing/credit_notes/{c.system}"].append(
                {
                    "credit_note_id": cid,
                    "invoice_id": quoted,
                    "client_name": inv.client_name,
                    "reference": rng.choice([ref, ref, inv.number, ""]) if ref else inv.number,
                    "issue_date": iso(day),
                    "currency": c.currency,
                    "net_amount": money(net, c.currency),
                    "reason": reason,
                }
            )

    # -------------------------------------------------------------- invoice rows and links

    def emit_invoices(self) -> None:
        for inv in [*self.invoices, *self.copies]:
            c = inv.client
            ccy = c.currency
            system = c.system + ("_reexport" if inv.kind == "copy" else "")
            taxes = [pct_of(ln.net, c.tax_bp) for ln in inv.lines]
            net = sum(ln.net for ln in inv.lines)
            tax = sum(taxes)
            self.rows[f"billing/invoices/{system}"].append(
                {
                    "invoice_id": inv.id,
                    "invoice_number": inv.number,
                    "client_name": inv.client_name,
                    "reference": inv.reference,
                    "issue_date": iso(inv.issue),
                    "due_date": iso(inv.due) if inv.due else "",
                    "currency": ccy,
                    "net_amount": money(net, ccy),
                    "tax_amount": money(tax, ccy),
                    "total_amount": money(net + tax, ccy),
                    "tax_rate": f"{c.tax_bp / 10000:.4f}" if c.system == "xero" else "",
                    "payment_terms": c.terms,
                    "status": inv.status,
                    "updated_at": inv.updated,
                }
            )
            for n, (ln, t) in enumerate(zip(inv.lines, taxes, strict=True), 1):
                amount = ln.net + t if inv.inclusive else ln.net
                qty = ln.quantity
                unit = ln.unit_cents if not inv.inclusive else (amount if qty == "1" else None)
                self.rows[f"billing/invoice_lines/{system}"].append(
                    {
                        "invoice_id": inv.id,
                        "line_number": str(n),
                        "description": ln.description,
                        "reference": ln.reference,
                        "quantity": qty,
                        "unit_price": money(unit, ccy) if unit is not None else "",
                        "net_amount": money(amount, ccy),
                    }
                )
            for kind, detail in inv.notes:  # type: ignore[attr-defined]
                if kind == "unlinked_line":
                    n = max(i for i, ln in enumerate(inv.lines, 1) if ln.order is None)
                    self.record("billing__invoice_lines", f"{inv.id}#{n}", kind, detail)
                elif kind == "line_ref_typo":
                    n = int(detail.split(":")[0].split()[1])
                    self.record("billing__invoice_lines", f"{inv.id}#{n}", kind, detail)
                else:
                    self.record("billing__invoices", inv.id, kind, detail)
            if inv.kind in ("copy", "orphan"):
                continue
            for o in inv.orders:
                self.links.append(("orders_invoices", o.id, inv.id, inv.link_type[o.id]))
            seen: set[str] = set()
            for n, ln in enumerate(inv.lines, 1):
                if ln.order is None:
                    continue
                if inv.kind != "void":
                    self.links.append(
                        ("orders_invoice_lines", ln.order.id, f"{inv.id}#{n}", inv.link_type[ln.order.id])
                    )
                for item in ln.deliverables:
                    if item["id"] not in seen:
                        seen.add(item["id"])
                        self.links.append(("deliverables_invoices", item["id"], inv.id, inv.link_type[ln.order.id]))

    # -------------------------------------------------------------- unparseable values

    def bad_values(self) -> None:
        rng = self.rng("bad-values")
        spec = [
            # rows prefix, entity, id builder, column, corruptions
            (
                "ads/delivery",
                "ads__delivery",
                lambda r: f"{r['campaign_id']}|{r['delivery_date']}",
                "spend",
                lambda v: rng.choice([f"{float(v):,.2f}", f"€{v}", v.replace(".", ","), "--"]),
            ),
            (
                "billing/invoice_lines",
                "billing__invoice_lines",
                lambda r: f"{r['invoice_id']}#{r['line_number']}",
                "net_amount",
                lambda v: rng.choice(
                    [f"({v.lstrip('-')})" if v.startswith("-") else f"{v} GBP", v.replace(".", ","), f"{float(v):,.2f}"]
                ),
            ),
            (
                "fulfilment/deliverables",
                "fulfilment__deliverables",
                lambda r: r["deliverable_id"],
                "quantity",
                lambda v: rng.choice([f"{v} pcs", "x" + v, "tbc"]),
            ),
            (
                "crm/leads",
                "crm__leads",
                lambda r: r["lead_id"],
                "created_at",
                lambda v: rng.choice([f"{v[8:10]}/{v[5:7]}/{v[:4]} {v[11:16]}", "#VALUE!"]),
            ),
            (
                "crm/orders",
                "crm__orders",
                lambda r: r["order_id"],
                "amount",
                lambda v: rng.choice([f"{float(v):,.2f}", v.replace(".", ","), f"${v}"]),
            ),
            (
                "ads/lead_forms",
                "ads__lead_forms",
                lambda r: r["submission_id"],
                "submitted_at",
                lambda v: str(int(datetime.strptime(v, "%Y-%m-%dT%H:%M:%SZ").timestamp() * 1000)),
            ),
            (
                "billing/invoices",
                "billing__invoices",
                lambda r: r["invoice_id"],
                "due_date",
                lambda v: f"{v[8:10]}/{v[5:7]}/{v[:4]}",
            ),
        ]
        for prefix, entity, rid, column, corrupt in spec:
            keys = sorted(k for k in self.rows if k.startswith(prefix))
            pool = [(k, i) for k in keys for i, r in enumerate(self.rows[k]) if r.get(column)]
            n = int(round(len(pool) * self.p("bad_value")))
            for k, i in sorted(rng.sample(pool, min(n, len(pool)))):
                row = self.rows[k][i]
                old = row[column]
                new = corrupt(old)
                if new == old:
                    continue
                row[column] = new
                self.record(entity, rid(row), "bad_value", f"{column}={new!r}")


FILE_NAMES = {
    "crm/clients": "crm/clients/salesforce_accounts.csv",
    "crm/orders": "crm/orders/salesforce_opportunities.csv",
    "crm/leads": "crm/leads/salesforce_leads.csv",
    "ads/credits": "ads/credits/platform_adjustments.csv",
    "ads/lead_forms/linkedin": "ads/lead_forms/linkedin_lead_gen_forms.csv",
    "ads/lead_forms/google_ads": "ads/lead_forms/google_lead_form_assets.csv",
    "fulfilment/deliverables/jira": "fulfilment/deliverables/jira_cnt_issues.csv",
    "fulfilment/deliverables/monday": "fulfilment/deliverables/monday_content_board.csv",
}


def _file_for(key: str) -> str:
    if key in FILE_NAMES:
        return FILE_NAMES[key]
    source, entity, variant = key.split("/", 2)
    return f"{source}/{entity}/{variant}_{entity}.csv"


def _write_csv(path: Path, columns: tuple[str, ...], rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(columns)
        for r in rows:
            w.writerow([r.get(c, "") for c in columns])


def _raw_ms_report(rows: list[dict]) -> str:
    """A Microsoft Advertising report dropped into landing untranslated (preamble, API headers, footer)."""
    lines = [
        '"Report Name: Campaign Performance - monthly"',
        '"Report Time: 6/3/2025"',
        '"Time Zone: (GMT) Greenwich Mean Time : Dublin, Edinburgh, Lisbon, London"',
        '"Last Completed Available Day: 6/2/2025 11:45:00 PM (GMT)"',
        '"Last Completed Available Hour: 6/2/2025 11:45:00 PM (GMT)"',
        '"Report Aggregation: Daily"',
        '"Report Filter: "',
        '"Potential Incomplete Data: false"',
        f'"Rows: {len(rows)}"',
        "",
        '"TimePeriod","AccountId","CampaignName","CampaignId","Impressions","Clicks","Spend","CurrencyCode"',
    ]
    for r in rows:
        y, m, d = r["delivery_date"].split("-")
        vals = [
            f"{int(m)}/{int(d)}/{y}",
            r["account_id"],
            r["campaign_name"],
            r["campaign_id"],
            r["impressions"],
            r["clicks"],
            r["spend"],
            r["currency"],
        ]
        lines.append(",".join('"' + v.replace('"', '""') + '"' for v in vals))
    lines += ["", '"©2025 Microsoft Corporation. All rights reserved. "']
    return "\n".join(lines) + "\n"


def generate(out_dir: Path, *, seed: int = 5, orders: int = 20000, noise: float = 1.0) -> dict:
    """Write the dialect C landing files and ground truth under ``out_dir``; return a summary."""
    started = time.perf_counter()
    out_dir = Path(out_dir)
    manifest_path = out_dir / "ground_truth" / "manifest.json"
    if manifest_path.exists():  # remove exactly what an earlier dialect C run wrote
        try:
            old = json.loads(manifest_path.read_text())
            if old.get("dialect") == "c":
                for rel in old.get("files", []):
                    (out_dir / rel).unlink(missing_ok=True)
        except (ValueError, OSError):
            pass
    w = World(seed, orders, noise)
    w.make_clients()
    w.make_orders()
    w.plan_media()
    w.make_billing()
    w.make_delivery()
    w.make_leads()
    w.make_deliverables()
    w.make_credit_notes()
    w.emit_invoices()
    for (platform, year), rows in sorted(w.rows_by_file.items()):
        rows.sort(key=lambda r: (r["delivery_date"], r["campaign_id"]))
        w.rows[f"ads/delivery/{platform}_{year}"] = rows
    w.bad_values()

    files: list[str] = []
    rows_per_table: dict[str, int] = defaultdict(int)
    for key in sorted(w.rows):
        source, entity = key.split("/")[:2]
        ent = contract.entity(source, entity)
        rel = "landing/" + (
            f"ads/delivery/{key.split('/')[2]}.csv" if key.startswith("ads/delivery/") else _file_for(key)
        )
        _write_csv(out_dir / rel, ent.column_names, w.rows[key])
        files.append(rel)
        rows_per_table[ent.table] += len(w.rows[key])
    bad_files: list[tuple[str, str]] = []
    ms = [r for k in sorted(w.rows) if k.startswith("ads/delivery/microsoft_ads") for r in w.rows[k]]
    if noise > 0 and ms:
        pick = ms[len(ms) // 2 : len(ms) // 2 + 40]
        rel = "landing/ads/delivery/microsoft_ads_campaign_performance_raw.csv"
        (out_dir / rel).write_text(_raw_ms_report(pick), encoding="utf-8")
        files.append(rel)
        bad_files.append(
            (
                rel,
                "raw Microsoft Advertising report: preamble and API headers, not mapped to the contract "
                "(its rows repeat rows already in microsoft_ads_*.csv)",
            )
        )

    truth = out_dir / "ground_truth"
    truth.mkdir(parents=True, exist_ok=True)
    links = sorted(set(w.links))
    with open(truth / "links.csv", "w", newline="", encoding="utf-8") as fh:
        cw = csv.writer(fh, lineterminator="\n")
        cw.writerow(["reconciliation", "left_id", "right_id", "link_type"])
        cw.writerows(links)
    records = sorted(w.records)
    with open(truth / "records.csv", "w", newline="", encoding="utf-8") as fh:
        cw = csv.writer(fh, lineterminator="\n")
        cw.writerow(["entity", "record_id", "discrepancy", "detail"])
        cw.writerows(records)
    with open(truth / "bad_files.csv", "w", newline="", encoding="utf-8") as fh:
        cw = csv.writer(fh, lineterminator="\n")
        cw.writerow(["path", "problem"])
        cw.writerows(bad_files)
    discrepancies: dict[str, int] = defaultdict(int)
    for _, _, kind, _ in records:
        discrepancies[kind] += 1
    link_counts: dict[str, int] = defaultdict(int)
    for rec, _, _, kind in links:
        link_counts[f"{rec}/{kind}"] += 1
    counts = {
        "rows": dict(sorted(rows_per_table.items())),
        "discrepancies": dict(sorted(discrepancies.items())),
        "links": dict(sorted(link_counts.items())),
    }
    manifest = {
        "dialect": "c",
        "seed": seed,
        "orders": orders,
        "noise": noise,
        "counts": counts,
        "files": [*files, "ground_truth/links.csv", "ground_truth/records.csv", "ground_truth/bad_files.csv"],
    }
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return {**counts, "files": len(files), "seconds": round(time.perf_counter() - started, 2)}
