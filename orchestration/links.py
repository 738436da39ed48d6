"""Manual links: what `recon exceptions match / unmatch` records, checked before it is chained.

An exception names one record (its entity and key). A link says which reconciliation the
operator means, which side that record is on, and the records of the other side it
belongs (or does not belong) with. The engine reads the links from the action log
(model int_operator_links) as its first pass; an unmatch forbids the pair to every pass.

Which reconciliation: the one whose spec has the record's model on a side. An order
(``stg_crm__orders``) is the left side of several reconciliations; the exception's domain
picks one (billing → orders ↔ invoices, media → campaigns, content → projects), and
``--in`` overrides it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

MAX_KEYS = 200  # records one action may link: a consolidated invoice names dozens of orders
MAX_KEY_CHARS = 200
KEY = re.compile(rf"[^\x00-\x1f\x7f]{{1,{MAX_KEY_CHARS}}}")
# The staged entity an exception names for a spec side's model, where they differ.
ENTITY_OF_MODEL = {"int_orders_resolved": "stg_crm__orders"}
# Credit notes are in no matching spec: an operator links one to the order it credits, or to
# the invoice it credits (the engine then follows that invoice to its order), and the
# engine reads the link in int_credit_note_assignments. The left key is the order or the
# invoice, the right key the credit note.
CREDIT_NOTES = "credit_notes"
CREDIT_NOTE_ENTITY = "stg_billing__credit_notes"
ORDER_ENTITY = "stg_crm__orders"
DOMAIN_RECONCILIATION = {
    "billing": "orders_invoices",
    "media": "delivery_orders",
    "content": "projects_orders",
    "leads": "lead_forms_leads",
}


class LinkError(Exception):
    pass


@dataclass(frozen=True)
class Link:
    reconciliation: str
    left: tuple[str, ...]
    right: tuple[str, ...]
    # Each record as the published copy showed it (fct_reconciliation_records.record_fingerprint),
    # in the order of its keys; empty when nothing was published to look at.
    left_fingerprints: tuple[str | None, ...] = ()
    right_fingerprints: tuple[str | None, ...] = ()

    def target(self) -> str:
        """The action's target: JSON the warehouse parses (int_operator_links)."""
        doc: dict = {"reconciliation": self.reconciliation, "left": list(self.left), "right": list(self.right)}
        if self.left_fingerprints or self.right_fingerprints:
            doc["left_fingerprints"] = list(self.left_fingerprints)
            doc["right_fingerprints"] = list(self.right_fingerprints)
        return json.dumps(doc, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_target(cls, text: str) -> Link:
        doc = json.loads(text)
        return cls(
            doc["reconciliation"],
            tuple(doc["left"]),
            tuple(doc["right"]),
            tuple(doc.get("left_fingerprints") or ()),
            tuple(doc.get("right_fingerprints") or ()),
        )


def link_shown(target: str | None) -> str | None:
    """A match's or unmatch's target as an operator reads it: ``orders_invoices: SO-1 ↔ INV-1``,
    in `recon exceptions show` and the desk's exception page alike. The log keeps the link as
    JSON with each record's fingerprint (an md5 no one reads; `recon trace` prints the entry
    whole); anything that is not such a link is shown as it is."""
    try:
        link = json.loads(target or "")
    except ValueError:
        return target
    if not isinstance(link, dict) or not isinstance(link.get("left"), list) or not isinstance(link.get("right"), list):
        return target
    left, right = (", ".join(record_key_shown(str(k)) for k in link[side]) for side in ("left", "right"))
    return f"{link.get('reconciliation') or '?'}: {left} ↔ {right}"


def record_key_shown(key: str | None) -> str:
    """A record key as shown: a billing item of a whole invoice that quotes no reference is
    keyed ``INV-1#`` (invoice id, ``#``, the reference it bills); shown ``INV-1``. Display
    only: ``--with`` takes either form."""
    if key is None:
        return ""
    return key[:-1] if key.endswith("#") and len(key) > 1 else key


def _specs(names: list[str]) -> dict[str, dict]:
    from orchestration import specs

    return {name: specs.load_spec(name) for name in names}


def configured() -> list[str]:
    from orchestration import specs

    return specs.configured()


def right_may_share(spec: dict) -> bool:
    """Whether a right record may belong to several left records (as int_operator_links reads
    the spec): a many-to-one group, or a pass that ties it to every left it matches. Else a
    later match moves it, and one match may name one left record only."""
    groups = spec.get("groups") or []
    return any(g.get("direction") == "many_to_one" for g in groups) or any(
        p.get("ties") == "match_all" for p in spec.get("deterministic") or []
    )


def sides_of(entity: str, specs: dict[str, dict]) -> list[tuple[str, str]]:
    """(reconciliation, side) pairs whose side holds records of this entity."""
    found = []
    for name, spec in specs.items():
        for side in ("left", "right"):
            model = spec[side]["model"]
            if entity in (model, ENTITY_OF_MODEL.get(model)):
                found.append((name, side))
    return found


def check_keys(keys: list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    if not keys:
        raise LinkError("--with needs at least one record key of the other side")
    if len(keys) > MAX_KEYS:
        raise LinkError(f"--with takes at most {MAX_KEYS} records per action; got {len(keys)}")
    out = []
    for key in keys:
        # Spaces around a key are no part of it (as at ingestion: staging trims every key); a
        # key pasted from a spreadsheet cell often carries one, invisible in a refusal.
        key = key.strip() if isinstance(key, str) else key
        if not isinstance(key, str) or not KEY.fullmatch(key):
            raise LinkError(f"--with {str(key)[:60]!r}: a record key is 1 to {MAX_KEY_CHARS} printable characters")
        out.append(key)
    if len(set(out)) != len(out):
        raise LinkError("--with names a record twice")
    return tuple(out)


def build(entry: dict, with_keys: list[str], reconciliation: str | None, names: list[str] | None = None) -> Link:
    """The link an operator asks for on this exception (catalog entry), before any lookup."""
    if entry["record_entity"] == CREDIT_NOTE_ENTITY or reconciliation == CREDIT_NOTES:
        return _credit_note_link(entry, with_keys, reconciliation)
    names = names or configured()
    if reconciliation is not None and reconciliation not in names:
        raise LinkError(f"--in {reconciliation!r}: not a reconciliation here ({', '.join(names)})")
    specs = _specs([reconciliation] if reconciliation else names)
    sides = sides_of(entry["record_entity"], specs)
    if not sides and reconciliation is not None:
        elsewhere = [name for name, _ in sides_of(entry["record_entity"], _specs(names))]
        raise LinkError(
            f"--in {reconciliation}: exception {entry['exception_id'][:8]} is about a {entry['record_entity']} "
            f"record, which {reconciliation} does not match"
            + (f"; it is in {', '.join(elsewhere)}" if elsewhere else "")
        )
    if not sides:
        raise LinkError(
            f"exception {entry['exception_id'][:8]} is about a {entry['record_entity']} record, which no "
            f"reconciliation matches ({', '.join(names)}): nothing to link"
        )
    if len(sides) > 1:
        preferred = DOMAIN_RECONCILIATION.get(entry.get("domain") or "")
        chosen = [s for s in sides if s[0] == preferred]
        if len(chosen) != 1:
            options = ", ".join(name for name, _ in sides)
            raise LinkError(f"say which reconciliation with --in ({options})")
        sides = chosen
    name, side = sides[0]
    others = check_keys(with_keys)
    own = (entry["record_id"],)
    link = Link(name, own, others) if side == "left" else Link(name, others, own)
    if len(link.left) > 1 and len(link.right) == 1 and not right_may_share(specs[name]):
        raise LinkError(
            f"in {name} a {specs[name]['right']['model']} record belongs to one {specs[name]['left']['model']} "
            f"record: name one with --with (a later match moves it)"
        )
    return link


def _credit_note_link(entry: dict, with_keys: list[str], reconciliation: str | None) -> Link:
    """A credit note linked to the one order (or invoice) it credits; from an order's exception
    (``--in credit_notes``), the order linked to credit notes."""
    others = check_keys(with_keys)
    if entry["record_entity"] == CREDIT_NOTE_ENTITY:
        if reconciliation not in (None, CREDIT_NOTES):
            raise LinkError(
                f"--in {reconciliation}: exception {entry['exception_id'][:8]} is about a credit note, which "
                f"is linked in {CREDIT_NOTES} only (to an order or an invoice)"
            )
        if len(others) != 1:
            raise LinkError(
                "a credit note credits one order: name one order, or the one invoice it credits, with --with"
            )
        return Link(CREDIT_NOTES, others, (entry["record_id"],))
    if entry["record_entity"] != ORDER_ENTITY:
        raise LinkError(
            f"--in {CREDIT_NOTES}: exception {entry['exception_id'][:8]} is about a {entry['record_entity']} "
            "record; credit notes are linked from their own exception or from an order's"
        )
    return Link(CREDIT_NOTES, (entry["record_id"],), others)


def _other_case(con, sql: str, params: list) -> str:
    """' (did you mean K?)' naming the keys ``sql`` finds in another case, else ''. Named,
    never taken in the key's place: the operator retypes it."""
    found = sorted({str(r[0]) for r in con.execute(sql + " limit 6", params).fetchall()})
    return f" (did you mean {' or '.join(found[:5])}?)" if found else ""


def _look_up_credit_note_link(
    link: Link, serving: Path, linked_by_hand: Collection[tuple[str, str]] = ()
) -> tuple[list[str], Link]:
    """What the published copy lacks for a credit-note link: the credit notes, and for each
    order-or-invoice key an order, or an invoice that bills exactly one order (a link to an
    invoice that bills none or several could credit nobody: the refusal names them); and the
    link with each credit note's fingerprint (marts.fct_credit_notes.record_fingerprint) and,
    for an invoice, the order it bills ("bills:SO-1"), so a credit note restated since, or an
    invoice billing another order since, suspends the link (manual_link_changed).

    The credit notes are looked up in marts.fct_credit_notes, which every publication
    carries. A copy published before it existed is checked against the staged credit notes
    when the lineage copy holds them, without fingerprints (such links never lapse)."""
    import dataclasses

    from orchestration.warehouse import open_reader, table_exists

    con = open_reader(serving)
    try:
        missing = []
        found: dict = {}
        if table_exists(con, "marts", "fct_credit_notes"):
            notes, fingerprint = "marts.fct_credit_notes", "record_fingerprint"
        elif table_exists(con, "staging", "stg_billing__credit_notes"):
            notes, fingerprint = "staging.stg_billing__credit_notes", "null"
        else:
            notes = None  # published before credit notes were: the orders and invoices are still checked
        if notes is not None:
            found = dict(
                con.execute(
                    f"select credit_note_id, {fingerprint} from {notes} where credit_note_id in (select unnest(?))",
                    [list(link.right)],
                ).fetchall()
            )
            # A credit note withdrawn since an operator linked it: its link may be undone.
            missing += [
                f"credit note {k}"
                for k in link.right
                if k not in found and not all((left, k) in linked_by_hand for left in link.left)
            ]
        left_prints: list[str | None] = []
        for key in link.left:
            left_prints.append(None)
            if con.execute("select 1 from marts.fct_reconciled_orders where order_id = ?", [key]).fetchall():
                continue
            if not con.execute(
                "select 1 from marts.fct_order_invoice_matches where invoice_id = ? limit 1", [key]
            ).fetchall() and not _published_invoice(con, key):
                if all((key, right) in linked_by_hand for right in link.right):
                    continue  # an order or invoice gone since an operator linked it: undone as asked
                hint = _other_case(
                    con,
                    "select order_id from marts.fct_reconciled_orders where lower(order_id) = lower(?) union "
                    "select invoice_id from marts.fct_order_invoice_matches where lower(invoice_id) = lower(?)",
                    [key, key],
                )
                missing.append(f"order or invoice {key}{hint}")
                continue
            billed = [
                str(r[0])
                for r in con.execute(
                    "select distinct order_id from marts.fct_order_invoice_matches where invoice_id = ?"
                    " order by order_id limit 6",
                    [key],
                ).fetchall()
            ]
            if len(billed) != 1:
                what = f"bills {len(billed)} orders ({', '.join(billed[:5])})" if billed else "bills no order"
                missing.append(f"order {key} (invoice {key} {what}: link the credit note to the order it credits)")
            else:
                # What the operator saw of an invoice: the one order it bills. An invoice that
                # comes to bill another order (restated, or matched anew) lapses the link
                # (int_credit_note_assignments), so the credit does not move between orders
                # on an old decision.
                left_prints[-1] = f"bills:{billed[0]}"
        prints = tuple(found.get(k) for k in link.right)
        if not any(prints) and not any(left_prints):
            return missing, link
        return missing, dataclasses.replace(link, left_fingerprints=tuple(left_prints), right_fingerprints=prints)
    finally:
        con.close()


def _published_invoice(con, invoice_id: str) -> bool:
    """Whether the published copy knows the invoice at all: its staged header (lineage copy)
    or a billing item of it in the records (an invoice that bills no order is in neither
    marts.fct_order_invoice_matches nor marts.fct_reconciled_orders)."""
    from orchestration.warehouse import table_exists

    if table_exists(con, "staging", "stg_billing__invoices"):
        return bool(
            con.execute("select 1 from staging.stg_billing__invoices where invoice_id = ?", [invoice_id]).fetchall()
        )
    return bool(
        con.execute(
            "select 1 from marts.fct_reconciliation_records where reconciliation = 'orders_invoices'"
            " and side = 'right' and starts_with(record_key, ?) limit 1",
            [f"{invoice_id}#"],
        ).fetchall()
    )


def _side_label(reconciliation: str, side: str) -> str:
    """What a side's records are, as an operator says it ("billing item", "campaign"),
    not the engine's "left" / "right"; the side itself when the spec names a model trace
    does not know."""
    from orchestration.trace.kinds import MODEL_KIND

    try:
        model = _specs([reconciliation])[reconciliation][side]["model"]
    except (KeyError, LookupError, OSError, ValueError):
        return side
    kind = MODEL_KIND.get(model)
    return kind.label if kind else side


def _held_form(key: str, side: str, others: tuple[str, ...], held: Collection[tuple[str, str]]) -> str | None:
    """The form of ``key`` (as typed, or a whole invoice's ``INV-1#`` typed as shown) that an
    operator's link in force pairs with every key of the other side, else None."""

    def forms(k: str) -> tuple[str, ...]:
        return (k,) if k.endswith("#") else (k, f"{k}#")

    for form in forms(key):
        if all(any(((form, o) if side == "left" else (o, form)) in held for o in forms(other)) for other in others):
            return form
    return None


def look_up(link: Link, serving: Path, linked_by_hand: Collection[tuple[str, str]] = ()) -> tuple[list[str], Link]:
    """The link's keys the published copy lacks, and the link with each record's fingerprint.

    Reads marts.fct_reconciliation_records of the serving copy, read-only. The fingerprints
    say what the operator linked: a later run that finds a record restated suspends the
    link and raises manual_link_changed. With no published copy yet there is nothing to
    check or fingerprint: ([], link) unchanged.

    ``linked_by_hand``: the (left, right) pairs operators' links hold now, for an unmatch. A
    key the published copy lacks is taken where such a link pairs it with every key of the
    other side: the source withdrew the record (or matching held it out), the link lapsed,
    and undoing it must not need the record back (it was refused, exit 4, and the lapsed
    link stayed in the log and in `show`). Its fingerprint is None: there is nothing to see.
    """
    import dataclasses

    from orchestration.warehouse import open_reader

    if not serving.exists():
        return [], link
    if link.reconciliation == CREDIT_NOTES:
        # A credit note is in no reconciliation's records: its fingerprint is fct_credit_notes'.
        return _look_up_credit_note_link(link, serving, linked_by_hand)
    con = open_reader(serving)
    try:
        missing: list[str] = []
        prints: dict[str, tuple[str | None, ...]] = {}
        sides: dict[str, tuple[str, ...]] = {}
        columns = {r[0] for r in con.execute("describe marts.fct_reconciliation_records").fetchall()}
        # A copy published before fingerprints existed: the link is kept without them.
        fingerprint = "record_fingerprint" if "record_fingerprint" in columns else "null"
        unpublished: dict[str, dict[str, str]] = {"left": {}, "right": {}}  # key -> what to say
        for side, keys in (("left", link.left), ("right", link.right)):
            # A whole invoice's billing item is keyed INV-1# and shown INV-1 (record_key_shown):
            # a key typed as shown is the one with the '#'.
            typed = list(keys) + [f"{k}#" for k in keys]
            found = dict(
                con.execute(
                    f"select record_key, {fingerprint} from marts.fct_reconciliation_records"
                    " where reconciliation = ? and side = ? and record_key in (select unnest(?))",
                    [link.reconciliation, side, typed],
                ).fetchall()
            )
            keys = tuple(k if k in found or f"{k}#" not in found else f"{k}#" for k in keys)
            for k in keys:
                if k in found:
                    continue
                # An invoice id typed for its billing items, which are keyed INV-1#<the reference
                # their lines quote>: name the keys to type (never guess which one was meant).
                items = [
                    str(r[0])
                    for r in con.execute(
                        "select record_key from marts.fct_reconciliation_records where reconciliation = ?"
                        " and side = ? and starts_with(record_key, ?) order by record_key limit 6",
                        [link.reconciliation, side, k if k.endswith("#") else f"{k}#"],
                    ).fetchall()
                ]
                shown = ", ".join(items[:5]) + (", ..." if len(items) > 5 else "")
                hint = (
                    f" (its records here: {shown})"
                    if items
                    else _other_case(
                        con,
                        "select record_key from marts.fct_reconciliation_records where reconciliation = ?"
                        " and side = ? and (lower(record_key) = lower(?) or starts_with(lower(record_key), lower(?)))",
                        [link.reconciliation, side, k, k if k.endswith("#") else f"{k}#"],
                    )
                )
                unpublished[side][k] = f"{_side_label(link.reconciliation, side)} {k}{hint}"
            prints[side], sides[side] = tuple(found.get(k) for k in keys), keys
        for side, other in (("left", "right"), ("right", "left")):
            held = {
                k: _held_form(k, side, sides[other], linked_by_hand) if linked_by_hand else None
                for k in unpublished[side]
            }
            missing += [said for k, said in unpublished[side].items() if held[k] is None]
            sides[side] = tuple(held.get(k) or k for k in sides[side])
        return missing, dataclasses.replace(
            link,
            left=sides["left"],
            right=sides["right"],
            left_fingerprints=prints["left"],
            right_fingerprints=prints["right"],
        )
    finally:
        con.close()


def linked_elsewhere(link: Link, serving: Path) -> list[tuple[str, str, str, str]]:
    """(right key, left key, rule version, pass) of the published matches that already tie
    this link's right records to other left records (a note for the operator, not a refusal).
    """
    from orchestration.warehouse import open_reader

    if not serving.exists():
        return []
    con = open_reader(serving)
    try:
        return [
            (str(r), str(le), str(v), str(p))
            for r, le, v, p in con.execute(
                "select right_key, left_key, rule_version, pass_name from marts.fct_reconciliation_matches"
                " where reconciliation = ? and right_key in (select unnest(?)) and left_key not in (select unnest(?))"
                " order by right_key, left_key",
                [link.reconciliation, list(link.right), list(link.left)],
            ).fetchall()
        ]
    finally:
        con.close()


def billed_in_full(link: Link, serving: Path) -> list[str]:
    """Notes on the orders of an orders ↔ invoices match that are billed in full already.

    Read from marts.fct_reconciled_orders and marts.fct_reconciliation_matches of the serving
    copy. Not a refusal (a second invoice for a booking raised since may be right), but an
    operator linking an orphan invoice to an order its own invoice bills in full makes the
    next run bill it over (agency nights: a 750 ad-hoc invoice matched to a 5,000 order
    billed 5,000 turned into a 750 amount_variance), so it is said before the run applies it.
    """
    from orchestration.warehouse import open_reader, table_exists

    if link.reconciliation != "orders_invoices" or not serving.exists():
        return []
    con = open_reader(serving)
    try:
        if not (
            table_exists(con, "marts", "fct_reconciled_orders")
            and table_exists(con, "marts", "fct_reconciliation_matches")
        ):
            return []
        rows = con.execute(
            # Net of credit notes: an order credited in full and billed again is not billed.
            "select orders.order_id,"
            " case when orders.net_billed_amount > orders.booked_amount + orders.variance_tolerance"
            "  then 'over_billed' else 'billed' end,"
            " orders.net_billed_amount, orders.booked_amount, orders.currency"
            " from marts.fct_reconciled_orders as orders"
            " where orders.order_id in (select unnest(?)) and orders.booked_amount > 0"
            " and orders.net_billed_amount >= orders.booked_amount - orders.variance_tolerance"
            # Re-linking an item that already bills the order changes nothing.
            " and not exists (select 1 from marts.fct_reconciliation_matches as matches"
            "  where matches.reconciliation = 'orders_invoices' and matches.left_key = orders.order_id"
            "  and matches.right_key in (select unnest(?)))"
            " order by orders.order_id",
            [list(link.left), list(link.right)],
        ).fetchall()
    finally:
        con.close()
    items = ", ".join(record_key_shown(key) for key in link.right)
    return [
        f"note: {order} is {'billed in full' if state == 'billed' else 'over-billed'} already "
        f"({billed:,.2f} of {booked:,.2f} {currency} net); linking {items} too bills it over, and the next run "
        "raises the excess (unmatch it if that was a slip)."
        for order, state, billed, booked, currency in rows
    ]


def _record_values(link: Link, serving: Path) -> dict[tuple[str, str], dict]:
    """The link's records' values in the serving copy, by (side, key): what the passes
    compare (marts.fct_reconciliation_record_values), or for a credit-note link its credit
    notes' currency and net amount (marts.fct_credit_notes) on the right. Empty without them."""
    from orchestration.warehouse import open_reader, table_exists

    if not serving.exists():
        return {}
    con = open_reader(serving)
    try:
        if link.reconciliation == CREDIT_NOTES:
            if not table_exists(con, "marts", "fct_credit_notes"):
                return {}
            return {
                ("right", str(key)): {"currency": currency, "amount": amount}
                for key, currency, amount in con.execute(
                    "select credit_note_id, currency, net_amount from marts.fct_credit_notes"
                    " where credit_note_id in (select unnest(?))",
                    [list(link.right)],
                ).fetchall()
            }
        if not table_exists(con, "marts", "fct_reconciliation_record_values"):
            return {}
        return {
            (str(side), str(key)): json.loads(doc, parse_float=Decimal) if isinstance(doc, str) else dict(doc or {})
            for side, key, doc in con.execute(
                "select side, record_key, record_values from marts.fct_reconciliation_record_values"
                " where reconciliation = ? and record_key in (select unnest(?))",
                [link.reconciliation, [*link.left, *link.right]],
            ).fetchall()
        }
    finally:
        con.close()


def _described(key: str, doc: dict) -> str:
    client = f"({doc['client_id']})" if doc.get("client_id") else "(a name of no known client)"
    currency = doc.get("currency") or "(no currency)"
    return f"{record_key_shown(key)} is {doc.get('name') or '(no name)'} {client} in {currency}"


def _unlike_pairs(link: Link, values: dict[tuple[str, str], dict]) -> list[tuple[str, str, str]]:
    """(right described, left described, what differs) of each pair of another client or currency."""
    out = []
    for right in link.right:
        for left in link.left:
            r, le = values.get(("right", right)), values.get(("left", left))
            if r is None or le is None:
                continue
            if r.get("client_id") and le.get("client_id"):
                other_client = r["client_id"] != le["client_id"]
            else:
                other_client = (r.get("name") or "") != (le.get("name") or "")
            other_currency = bool(r.get("currency") and le.get("currency") and r["currency"] != le["currency"])
            if not (other_client or other_currency):
                continue
            what = ", ".join(
                w for w, on in (("another client", other_client), ("another currency", other_currency)) if on
            )
            out.append((_described(right, r), _described(left, le), what))
    return out


def unlike(link: Link, serving: Path, limit: int = 5) -> list[str]:
    """Notes on the pairs of a match whose records are of another client or currency.

    Read from marts.fct_reconciliation_record_values of the serving copy (the values the
    passes compare: ``client_id``, the normalised ``name``, ``currency``). An invoice in
    another currency than its order may be legitimate, and an operator may know the client
    better than the names do; but a slip of a key links a stranger's invoice and the next
    run bills the order with it, so it is said, and the match waits for a checker
    (:func:`review`). A name no client goes by differs from a known client unless the names
    are the same.
    """
    if link.reconciliation == CREDIT_NOTES:
        return []
    notes = [
        f"note: {right}, {left}: {what}; recorded as asked (unmatch it if that was a slip)."
        for right, left, what in _unlike_pairs(link, _record_values(link, serving))
    ]
    if len(notes) > limit:
        notes = [*notes[:limit], f"note: and {len(notes) - limit} more pair(s) of another client or currency."]
    return notes


def review(link: Link, serving: Path, policy, on) -> list[str]:
    """Why a manual match waits for a checker (maker–checker, as adjustments above the
    threshold do); empty when it may apply at the next run by its maker's word alone.

    A match moves money the engine would not have: the right records' amounts (an invoice
    item's, a campaign's spend, a project's, a credit note's) are billed, delivered or
    credited to the left records. It waits for a different approver of the team when

    - a pair is of another client or another currency (:func:`_unlike_pairs`), or
    - the right records' amounts, in absolute value and converted to the reporting currency
      (``policy.fx_rate``, seed fx_rates, in the month of ``on``), total more than
      ``adjustment_approval_threshold``; an amount in a currency with no rate counts as over.

    Read from the serving copy; with none published (nothing to look up) nothing is said.
    Records with no amount (a lead form) are judged by client and currency alone.
    """
    values = _record_values(link, serving)
    if not values:
        return []
    reasons: list[str] = []
    if link.reconciliation != CREDIT_NOTES:
        pairs = _unlike_pairs(link, values)
        reasons += [f"{right}, {left}: {what}" for right, left, what in pairs[:5]]
        if len(pairs) > 5:
            reasons.append(f"and {len(pairs) - 5} more pair(s) of another client or currency")
    reporting = policy.reporting_currency
    total, parts, unconverted = Decimal(0), {}, []
    for key in link.right:
        doc = values.get(("right", key)) or {}
        try:
            amount = abs(Decimal(str(doc["amount"])))
        except (KeyError, TypeError, ArithmeticError, ValueError):
            continue  # no amount to move (a lead form), or none published
        if not amount.is_finite():
            continue
        currency = str(doc.get("currency") or "").strip().upper()
        parts[currency] = parts.get(currency, Decimal(0)) + amount
        rate = Decimal(1) if currency == reporting.upper() else (policy.fx_rate(currency, on) if currency else None)
        if rate is None:
            unconverted.append(currency or "(no currency)")
        else:
            total += amount * rate
    moved = ", ".join(f"{amount:,f} {currency or '(no currency)'}" for currency, amount in parts.items())
    if unconverted:
        reasons.append(f"it moves {moved}, with no rate into {reporting} for {', '.join(unconverted)}")
    elif total > policy.approval_threshold:
        converted = "" if set(parts) == {reporting.upper()} else f" ({total:,.2f} {reporting})"
        reasons.append(
            f"it moves {moved}{converted}, over adjustment_approval_threshold "
            f"{policy.approval_threshold:,.2f} {reporting}"
        )
    return reasons


def no_candidates_said(record_state: str | None, matched_by: list[str] | None) -> str:
    """Why a record's exception lists no candidates, true for each state the passes leave a
    record in (fct_reconciliation_records.record_state) and for who matched it (matched_by:
    the passes, ``operator`` for a link by hand). Candidates are listed for records left
    open only; "no record of the other side was close enough to score" was said of every
    record not matched, and "the break is in its amounts" of every matched one, a record an
    operator linked by hand included. ``matched_by`` is None in a catalog published before
    it was recorded."""
    passes = [p for p in matched_by or [] if p != "operator"]
    if record_state == "matched":
        if matched_by and "operator" in matched_by:
            also = f", and by pass {', '.join(passes)}" if passes else ""
            return (
                f"no candidates listed: the record is matched by an operator's link{also} "
                "(recon exceptions unmatch breaks it); candidates are listed only for records left open"
            )
        by = f" by pass {', '.join(passes)}" if passes else ""
        return f"no candidates listed: the record is matched{by}; candidates are listed only for records left open"
    if record_state == "suggested":
        return (
            "no candidates listed: a pass suggested a match for it that no one has confirmed "
            "(recon exceptions match confirms it by hand)"
        )
    if record_state == "ambiguous":
        return (
            "no candidates listed: a pass found it tied between records of the other side and took none "
            "(recon exceptions match names the right one)"
        )
    if record_state == "unmatched":
        return (
            "no candidates: no pair with a record of the other side was scored: none came close enough under "
            "the spec's blocking, or the record was not open to scoring (an unmatch by hand forbade its pairs, "
            "deterministic matches hold it or the other record, or the spec leaves it to the deterministic "
            "passes only, as a cancelled order)"
        )
    return f"no candidates listed: the record is {record_state or 'in no known state'}"
