"""Measure the matching engine against the generator's ground truth, and tune it.

``evaluate`` compares the decided pairs of each reconciliation with ``links.csv`` and
reports precision, recall and F1 for auto-matches (overall and per pass) and for
suggestions. ``tune`` estimates the m / u probabilities of every comparison level from
labelled candidate pairs of *training* seeds and writes ``seeds/match_weights.csv``;
evaluation is then done on other seeds.
"""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from orchestration.rules.weights import monotone_rows
from orchestration.specs import load_spec
from orchestration.warehouse import open_reader

PRIOR_KEY = "__prior__"


def read_links(ground_truth: Path, name: str, excluded: frozenset[str] = frozenset()) -> set[tuple[str, str]]:
    with open(ground_truth / "links.csv", newline="") as fh:
        return {
            (row["left_id"], row["right_id"])
            for row in csv.DictReader(fh)
            if row["reconciliation"] == name and row["link_type"] not in excluded
        }


@dataclass(frozen=True)
class TruthMapping:
    """How a reconciliation's record keys map onto the ground truth's natural ids.

    ``truth`` returns the true (left id, right id) pairs in the reconciliation's own
    orientation; ``right_id`` maps a right record key to the id used there.
    """

    truth: Callable[[Path, duckdb.DuckDBPyConnection], set[tuple[str, str]]]
    right_id: Callable[[str], str] = lambda key: key
    # True when the truth only knows some records (projects of unbilled orders have no
    # link): pairs whose two records are both unknown to it are left out of the counts.
    partial_truth: bool = False

    def known(self, truth: set[tuple[str, str]]) -> Callable[[str, str], bool]:
        if not self.partial_truth:
            return lambda left, right: True
        lefts, rights = {a for a, _ in truth}, {b for _, b in truth}
        return lambda left, right: left in lefts or right in rights


def _orders_invoices_truth(gt: Path, con: duckdb.DuckDBPyConnection) -> set[tuple[str, str]]:
    # Void invoices bill nothing and credit notes are not invoice lines: not made here.
    return read_links(gt, "orders_invoices", frozenset({"void", "credit_note"}))


def _swapped(name: str) -> Callable[[Path, duckdb.DuckDBPyConnection], set[tuple[str, str]]]:
    return lambda gt, con: {(b, a) for a, b in read_links(gt, name)}


def _projects_orders_truth(gt: Path, con: duckdb.DuckDBPyConnection) -> set[tuple[str, str]]:
    """(order, project): a project belongs to the order its deliverables' invoices bill.

    A consolidated invoice bills several orders, so a deliverable's order is the one
    common to all its invoices; where that is not a single order the pair stays unknown.
    """
    orders_of_invoice: dict[str, set[str]] = defaultdict(set)
    for order, invoice in read_links(gt, "orders_invoices"):
        orders_of_invoice[invoice].add(order)
    invoices_of: dict[str, set[str]] = defaultdict(set)
    for deliverable, invoice in read_links(gt, "deliverables_invoices"):
        invoices_of[deliverable].add(invoice)
    project_of = dict(
        con.execute("select deliverable_id, project_id from staging.stg_fulfilment__deliverables").fetchall()
    )
    pairs = set()
    for deliverable, invoices in invoices_of.items():
        common = set.intersection(*(orders_of_invoice.get(i, set()) for i in invoices))
        if len(common) == 1 and deliverable in project_of:
            pairs.add((common.pop(), project_of[deliverable]))
    return pairs


MAPPINGS: dict[str, TruthMapping] = {
    # billing_item_id = invoice_id#reference
    "orders_invoices": TruthMapping(_orders_invoices_truth, right_id=lambda key: key.split("#", 1)[0]),
    "delivery_orders": TruthMapping(_swapped("delivery_orders")),
    "projects_orders": TruthMapping(_projects_orders_truth, partial_truth=True),
    "lead_forms_leads": TruthMapping(_swapped("lead_forms_leads")),
}


@dataclass
class Score:
    predicted: int = 0
    correct: int = 0
    relevant: int = 0

    @property
    def precision(self) -> float:
        return self.correct / self.predicted if self.predicted else 1.0

    @property
    def recall(self) -> float:
        return self.correct / self.relevant if self.relevant else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict:
        return {
            "predicted": self.predicted,
            "correct": self.correct,
            "relevant": self.relevant,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
        }


@dataclass
class ReconciliationReport:
    name: str
    auto: Score
    suggested: Score
    by_pass: dict[str, Score] = field(default_factory=dict)
    ambiguous_records: int = 0
    truth_links: int = 0
    truth_links_evaluable: int = 0

    def as_dict(self) -> dict:
        return {
            "reconciliation": self.name,
            "truth_links": self.truth_links,
            "truth_links_evaluable": self.truth_links_evaluable,
            "auto_match": self.auto.as_dict(),
            "suggested": self.suggested.as_dict(),
            "by_pass": {k: v.as_dict() for k, v in sorted(self.by_pass.items())},
            "ambiguous_records": self.ambiguous_records,
        }


def _present_ids(con: duckdb.DuckDBPyConnection, name: str, mapping: TruthMapping) -> tuple[set[str], set[str]]:
    rows = con.execute(
        f"select side, record_key from intermediate.int_{name}__records"  # name is a spec name, not data
    ).fetchall()
    left = {k for s, k in rows if s == "left"}
    right = {mapping.right_id(k) for s, k in rows if s == "right"}
    return left, right


def evaluate_reconciliation(con: duckdb.DuckDBPyConnection, name: str, ground_truth: Path) -> ReconciliationReport:
    mapping = MAPPINGS[name]
    truth = mapping.truth(ground_truth, con)
    left_present, right_present = _present_ids(con, name, mapping)
    # Only links whose two records reached the reconciliation can be found; the others
    # were quarantined at ingestion or filtered out (e.g. cancelled orders) by design.
    evaluable = {(lid, rid) for lid, rid in truth if lid in left_present and rid in right_present}
    decided = con.execute(
        f"select left_key, right_key, decision, pass_name from intermediate.int_{name}__decisions"
    ).fetchall()
    auto: set[tuple[str, str]] = set()
    suggested: set[tuple[str, str]] = set()
    by_pass: dict[str, set[tuple[str, str]]] = defaultdict(set)
    known = mapping.known(truth)
    for left_key, right_key, decision, pass_name in decided:
        pair = (left_key, mapping.right_id(right_key))
        if not known(*pair):
            continue
        if decision == "matched":
            auto.add(pair)
            by_pass[pass_name].add(pair)
        elif decision == "suggested":
            suggested.add(pair)
    ambiguous = con.execute(
        f"select count(*) from intermediate.int_{name}__records where record_state = 'ambiguous'"
    ).fetchone()[0]

    def score(pred: set[tuple[str, str]]) -> Score:
        return Score(predicted=len(pred), correct=len(pred & truth), relevant=len(evaluable))

    return ReconciliationReport(
        name=name,
        auto=score(auto),
        suggested=score(suggested),
        by_pass={p: score(pairs) for p, pairs in by_pass.items()},
        ambiguous_records=ambiguous,
        truth_links=len(truth),
        truth_links_evaluable=len(evaluable),
    )


def evaluate_deliverables_invoices(con: duckdb.DuckDBPyConnection, ground_truth: Path) -> ReconciliationReport:
    """Deliverables ↔ invoices, derived: deliverable → project → order → invoice.

    A deliverable is linked to an invoice when its project is auto-matched to an order
    and that order to the invoice; compared with the generator's deliverable links.
    """
    truth = read_links(ground_truth, "deliverables_invoices")
    predicted = set(
        con.execute(
            """
            select distinct deliverables.deliverable_id, invoice_matches.invoice_id
            from staging.stg_fulfilment__deliverables as deliverables
            inner join intermediate.int_projects_orders__decisions as projects
                on deliverables.project_id = projects.right_key and projects.decision = 'matched'
            inner join marts.fct_order_invoice_matches as invoice_matches
                on projects.left_key = invoice_matches.order_id
            """
        ).fetchall()
    )
    deliverables = {
        r[0] for r in con.execute("select deliverable_id from staging.stg_fulfilment__deliverables").fetchall()
    }
    invoices = {r[0] for r in con.execute("select invoice_id from intermediate.int_invoice_billing_items").fetchall()}
    evaluable = {(d, i) for d, i in truth if d in deliverables and i in invoices}
    score = Score(predicted=len(predicted), correct=len(predicted & truth), relevant=len(evaluable))
    return ReconciliationReport(
        name="deliverables_invoices",
        auto=score,
        suggested=Score(relevant=len(evaluable)),
        by_pass={"derived via projects_orders and orders_invoices": score},
        truth_links=len(truth),
        truth_links_evaluable=len(evaluable),
    )


def _has_links(ground_truth: Path, name: str) -> bool:
    with open(ground_truth / "links.csv", newline="") as fh:
        return any(row["reconciliation"] == name for row in csv.DictReader(fh))


def _open_orders(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute("select order_id from staging.stg_crm__orders where not is_cancelled").fetchall()}


def _derived_report(
    name: str, how: str, truth: set[tuple[str, str]], predicted: set[tuple[str, str]], evaluable: set
) -> ReconciliationReport:
    """A link measured from decisions of other reconciliations: no suggestions of its own."""
    score = Score(predicted=len(predicted), correct=len(predicted & truth), relevant=len(evaluable))
    return ReconciliationReport(
        name=name,
        auto=score,
        suggested=Score(relevant=len(evaluable)),
        by_pass={how: score},
        truth_links=len(truth),
        truth_links_evaluable=len(evaluable),
    )


# The invoice lines the run says bill each order: the lines of its auto-matched billing
# items, less the extra charges it set aside (fct_order_invoice_matches.ancillary_amount).
LINES_BILLING_ORDERS = """
    select
        decisions.left_key as order_id,
        lines.invoice_id || '#' || lines.line_number as line_id,
        lines.currency,
        lines.net_amount
    from intermediate.int_orders_invoices__decisions as decisions
    inner join intermediate.int_invoice_lines_billable as lines
        on decisions.right_key = lines.billing_item_id
    left join marts.fct_order_invoice_matches as matches
        on decisions.left_key = matches.order_id and decisions.right_key = matches.billing_item_id
    where decisions.decision = 'matched'
        and not coalesce(list_contains(matches.ancillary_line_numbers, lines.line_number), false)
"""


def evaluate_invoice_lines(con: duckdb.DuckDBPyConnection, ground_truth: Path) -> ReconciliationReport:
    """Order ↔ invoice line: every line of an auto-matched billing item is linked to its order,
    except the extra charges set aside beside it.

    Needs line-level truth (``orders_invoice_lines`` links, ``invoice_id#line_number``),
    which dialect B writes. This is the figure that a consolidated invoice booked whole to
    one order ruins and that order-level scores hide.
    """
    truth = read_links(ground_truth, "orders_invoice_lines")
    predicted = set(con.execute(f"select distinct order_id, line_id from ({LINES_BILLING_ORDERS})").fetchall())
    lines = {
        r[0]
        for r in con.execute(
            "select invoice_id || '#' || line_number from intermediate.int_invoice_lines_billable"
        ).fetchall()
    }
    orders = _open_orders(con)
    evaluable = {(o, line) for o, line in truth if o in orders and line in lines}
    return _derived_report("orders_invoice_lines", "lines of matched billing items", truth, predicted, evaluable)


def evaluate_deliverables_orders(con: duckdb.DuckDBPyConnection, ground_truth: Path) -> ReconciliationReport:
    """Deliverable → order, derived: a deliverable follows its project's auto-matched order."""
    truth = read_links(ground_truth, "deliverables_orders")
    predicted = set(
        con.execute(
            """
            select deliverables.deliverable_id, projects.left_key
            from staging.stg_fulfilment__deliverables as deliverables
            inner join intermediate.int_projects_orders__decisions as projects
                on deliverables.project_id = projects.right_key and projects.decision = 'matched'
            """
        ).fetchall()
    )
    deliverables = {
        r[0] for r in con.execute("select deliverable_id from staging.stg_fulfilment__deliverables").fetchall()
    }
    orders = _open_orders(con)
    evaluable = {(d, o) for d, o in truth if d in deliverables and o in orders}
    return _derived_report("deliverables_orders", "derived via projects_orders", truth, predicted, evaluable)


def billed_amount_accuracy(con: duckdb.DuckDBPyConnection, ground_truth: Path, tolerance: float = 0.01) -> dict:
    """Share of billed orders whose allocated billed amount is within ``tolerance`` of the truth.

    The true billed amount of an order is the net of the invoice lines that truly bill it
    (line-level truth); the allocated one is the net of the lines of the billing items
    auto-matched to it, less extra charges set aside. Both in the invoice currency, per
    (order, currency).
    """
    truth = read_links(ground_truth, "orders_invoice_lines")
    if not truth:
        return {}
    pairs = sorted(truth)
    con.register(
        "_true_lines",
        pa.table({"order_id": [o for o, _ in pairs], "line_id": [line for _, line in pairs]}),
    )
    rows = con.execute(
        f"""
        with lines as (
            select invoice_id || '#' || line_number as line_id, billing_item_id, currency, net_amount
            from intermediate.int_invoice_lines_billable
        ),
        true_billed as (
            select _true_lines.order_id, lines.currency, sum(lines.net_amount) as amount
            from _true_lines inner join lines on _true_lines.line_id = lines.line_id
            group by all
        ),
        allocated as (
            select order_id, currency, sum(net_amount) as amount
            from ({LINES_BILLING_ORDERS})
            group by all
        )
        select
            count(*) as billed_orders,
            count(*) filter (
                where abs(coalesce(allocated.amount, 0) - true_billed.amount) <= ? * abs(true_billed.amount)
            ) as within
        from true_billed
        left join allocated
            on true_billed.order_id = allocated.order_id and true_billed.currency = allocated.currency
        where true_billed.amount <> 0
        """,
        [tolerance],
    ).fetchone()
    billed, within = rows
    return {"billed_orders": billed, "within_tolerance": within, "share": round(within / billed, 4) if billed else 1.0}


def evaluate(warehouse: Path, ground_truth: Path, names: list[str] | None = None) -> list[ReconciliationReport]:
    con = open_reader(warehouse)
    try:
        reports = [evaluate_reconciliation(con, n, ground_truth) for n in (names or list(MAPPINGS))]
        if names is None:
            reports.append(evaluate_deliverables_invoices(con, ground_truth))
            if _has_links(ground_truth, "orders_invoice_lines"):
                reports.append(evaluate_invoice_lines(con, ground_truth))
            if _has_links(ground_truth, "deliverables_orders"):
                reports.append(evaluate_deliverables_orders(con, ground_truth))
        return reports
    finally:
        con.close()


def billed_accuracy_for(warehouse: Path, ground_truth: Path) -> dict:
    con = open_reader(warehouse)
    try:
        return billed_amount_accuracy(con, ground_truth)
    finally:
        con.close()


def _true_order_states(ground_truth: Path) -> dict[str, dict[str, str]]:
    """Per order, the state each leg should be in according to the generator."""
    discrepancies: dict[str, dict[str, str]] = defaultdict(dict)
    with open(ground_truth / "records.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["entity"] == "crm__orders":
                discrepancies[row["record_id"]][row["discrepancy"]] = row["detail"]
    duplicate_invoices = set()
    with open(ground_truth / "records.csv", newline="") as fh:
        duplicate_invoices = {r["record_id"] for r in csv.DictReader(fh) if r["discrepancy"] == "duplicate_billing"}
    over_billed = {order for order, inv in read_links(ground_truth, "orders_invoices") if inv in duplicate_invoices}
    # A short deliverable is recorded on the deliverable: reach its order through the
    # invoices it was billed on (orders that were never billed are not reached).
    with open(ground_truth / "records.csv", newline="") as fh:
        short = {r["record_id"] for r in csv.DictReader(fh) if r["discrepancy"] == "quantity_short"}
    orders_of_invoice: dict[str, set[str]] = defaultdict(set)
    for order, invoice in read_links(ground_truth, "orders_invoices"):
        orders_of_invoice[invoice].add(order)
    short_orders = set()
    for deliverable, invoice in read_links(ground_truth, "deliverables_invoices"):
        if deliverable in short and len(orders_of_invoice.get(invoice, ())) == 1:
            short_orders |= orders_of_invoice[invoice]
    states: dict[str, dict[str, str]] = dict(discrepancies)
    for order in over_billed:
        states.setdefault(order, {})["duplicate_billing"] = ""
    for order in short_orders:
        states.setdefault(order, {})["quantity_short"] = ""
    return states


def state_confusion(con: duckdb.DuckDBPyConnection, ground_truth: Path) -> dict[str, Counter]:
    """Confusion of (true state, reported state) per leg of the reconciled orders.

    The generator records discrepancies, not states, so the true state of a leg is
    derived: unbilled → not_billed, partial billing → under_billed, a duplicate invoice →
    over_billed; over/under delivery and no delivery for the ads leg; a short quantity or
    no deliverables for the fulfilment leg; everything else agrees.
    """
    truth = _true_order_states(ground_truth)
    rows = con.execute(
        "select order_id, order_type, billing_state, delivery_state, fulfilment_state "
        "from marts.fct_reconciled_orders where not is_cancelled"
    ).fetchall()
    confusion: dict[str, Counter] = {"billing": Counter(), "delivery": Counter(), "fulfilment": Counter()}
    for order_id, order_type, billing, delivery, fulfilment in rows:
        found = truth.get(order_id, {})
        if "unbilled" in found:
            true_billing = "not_billed"
        elif "partial_billing" in found:
            true_billing = "under_billed"
        elif "duplicate_billing" in found:
            true_billing = "over_billed"
        else:
            true_billing = "billed"
        confusion["billing"][(true_billing, billing)] += 1
        side = found.get("billed_not_delivered", "")
        if order_type == "insertion_order":
            if "side=ads" in side:
                true_delivery = "not_delivered"
            elif "over_delivery" in found:
                true_delivery = "over_delivered"
            elif "under_delivery" in found:
                true_delivery = "under_delivered"
            else:
                true_delivery = "delivered"
            confusion["delivery"][(true_delivery, delivery)] += 1
        else:
            if "side=fulfilment" in side:
                true_fulfilment = "not_started"
            elif "quantity_short" in found:
                true_fulfilment = "partially_fulfilled"
            else:
                true_fulfilment = "fulfilled"
            confusion["fulfilment"][(true_fulfilment, fulfilment)] += 1
    return confusion


def render_confusion(confusion: dict[str, Counter]) -> str:
    lines = []
    for leg, counts in confusion.items():
        truths = sorted({t for t, _ in counts})
        reported = sorted({r for _, r in counts})
        lines.append(f"-- {leg} leg: rows = true state, columns = reported state")
        lines.append(f"{'':<20}" + "".join(f"{r:>21}" for r in reported))
        for t in truths:
            lines.append(f"{t:<20}" + "".join(f"{counts[(t, r)]:>21}" for r in reported))
        agree = sum(v for (t, r), v in counts.items() if t == r)
        total = sum(counts.values())
        lines.append(f"agreement: {agree}/{total} = {agree / total:.4f}" if total else "no rows")
    return "\n".join(lines)


def render(reports: list[ReconciliationReport]) -> str:
    lines = [
        f"{'reconciliation':<18} {'what':<28} {'pred':>7} {'correct':>7} {'truth':>7} "
        f"{'precision':>9} {'recall':>7} {'f1':>6}"
    ]

    def row(name: str, what: str, s: Score, recall: bool = True) -> str:
        r = f"{s.recall:>7.4f}" if recall else f"{'':>7}"
        f = f"{s.f1:>6.4f}" if recall else f"{'':>6}"
        return f"{name:<18} {what:<28} {s.predicted:>7} {s.correct:>7} {s.relevant:>7} {s.precision:>9.4f} {r} {f}"

    for rep in reports:
        lines.append(row(rep.name, "auto-matches (all passes)", rep.auto))
        for pass_name, s in sorted(rep.by_pass.items()):
            lines.append(row("", f"  pass {pass_name}", s, recall=False))
        lines.append(row("", "suggested for review", rep.suggested, recall=False))
        lines.append(
            f"{'':<18} ambiguous records: {rep.ambiguous_records}; truth links {rep.truth_links} "
            f"({rep.truth_links_evaluable} reached the reconciliation)"
        )
    return "\n".join(lines)


# ------------------------------------------------------------------ tuning


def level_counts(con: duckdb.DuckDBPyConnection, name: str, ground_truth: Path) -> dict[str, dict[bool, Counter]]:
    """Per comparison field: level counts among true and among false candidate pairs."""
    spec = load_spec(name)
    mapping = MAPPINGS[name]
    truth = mapping.truth(ground_truth, con)
    fields = [c["field"] for c in spec["comparisons"]]
    cols = ", ".join(f"level_{f}" for f in fields)
    counts: dict[str, dict[bool, Counter]] = {f: {True: Counter(), False: Counter()} for f in fields}
    # The prior of the scored pass: the share of true pairs among the candidates it scores.
    counts[PRIOR_KEY] = {True: Counter(), False: Counter()}
    cur = con.execute(f"select left_key, right_key, is_deterministic, {cols} from intermediate.int_{name}__pairs")
    known = mapping.known(truth)
    while batch := cur.fetchmany(100_000):
        for left_key, right_key, is_deterministic, *levels in batch:
            pair = (left_key, mapping.right_id(right_key))
            if not known(*pair):
                continue
            is_match = pair in truth
            if not is_deterministic:
                counts[PRIOR_KEY][is_match][0] += 1
            for f, level in zip(fields, levels, strict=True):
                if level is not None and level >= 0:
                    counts[f][is_match][level] += 1
    return counts


def training_counts(
    homes: Path, seeds: list[int] | tuple[int, ...], orders: int, names: list[str], noise: float = 1.0
) -> tuple[dict[str, dict[str, dict[bool, Counter]]], list[Path]]:
    """Labelled level counts of the training seeds, merged per reconciliation, and their warehouses.

    Each seed of dialect A is generated into ``homes/seed-<seed>`` and built up to the
    pair models of ``names`` (without the weights being learned); ``recon tune`` and the
    unlabelled-vs-labelled comparison both start here.
    """
    from orchestration import pipeline

    select = " ".join(f"+int_{name}__pairs" for name in names)
    counts: dict[str, list] = {name: [] for name in names}
    warehouses = []
    for seed in seeds:
        home = homes / f"seed-{seed}"
        truth = pipeline.build_scratch(home, seed, orders, noise, select=select)
        warehouses.append(home / "warehouse.duckdb")
        con = open_reader(home / "warehouse.duckdb")
        try:
            for name in names:
                counts[name].append(level_counts(con, name, truth))
        finally:
            con.close()
    return {name: merge_counts(counts[name]) for name in names}, warehouses


def prior_from_counts(counts: dict[str, dict[bool, Counter]]) -> float:
    true, false = counts[PRIOR_KEY][True][0], counts[PRIOR_KEY][False][0]
    return (true + 1) / (true + false + 2)


def merge_counts(all_counts: list[dict[str, dict[bool, Counter]]]) -> dict[str, dict[bool, Counter]]:
    merged: dict[str, dict[bool, Counter]] = {}
    for counts in all_counts:
        for f, by_label in counts.items():
            slot = merged.setdefault(f, {True: Counter(), False: Counter()})
            for label, counter in by_label.items():
                slot[label].update(counter)
    return merged


def weights_rows(name: str, counts: dict[str, dict[bool, Counter]]) -> list[dict]:
    """m and u per level with add-one smoothing, so an unseen level is rare, not impossible,
    and never stronger evidence than a level its spec ranks above it (``monotone``)."""
    spec = load_spec(name)
    rows = []
    for comparison in spec["comparisons"]:
        f = comparison["field"]
        levels = comparison["levels"]
        for label_key, label in (("m_probability", True), ("u_probability", False)):
            total = sum(counts[f][label].values())
            for i, _ in enumerate(levels):
                p = (counts[f][label][i] + 1) / (total + len(levels))
                if label:
                    rows.append(
                        {
                            "reconciliation": name,
                            "field": f,
                            "level": i,
                            "level_name": levels[i]["name"],
                            label_key: p,
                        }
                    )
                else:
                    rows[-len(levels) + i][label_key] = p
    for r in rows:
        r["m_probability"] = f"{r['m_probability']:.6g}"
        r["u_probability"] = f"{r['u_probability']:.6g}"
    return monotone_rows(rows, spec)


def write_json(
    reports: list[ReconciliationReport], path: Path, confusion: dict[str, Counter] | None = None, **context
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {**context, "reconciliations": [r.as_dict() for r in reports]}
    if confusion is not None:
        doc["state_confusion"] = {
            leg: [{"true": t, "reported": r, "orders": n} for (t, r), n in sorted(counts.items())]
            for leg, counts in confusion.items()
        }
    path.write_text(json.dumps(doc, indent=2) + "\n")


def confusion_for(warehouse: Path, ground_truth: Path) -> dict[str, Counter]:
    con = open_reader(warehouse)
    try:
        return state_confusion(con, ground_truth)
    finally:
        con.close()
