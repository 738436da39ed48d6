"""Billing (``billing__invoices``, ``billing__invoice_lines``, ``billing__credit_notes``): one pattern per order."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.lab.generate.block import Block, Draws
from orchestration.lab.generate.columns import (
    _arr,
    _cat,
    _date,
    _ids,
    _join,
    _money,
    _month_label,
    _month_start_day,
    _null_where,
    _pad,
    _ragged,
    _str,
    _take,
    _timestamp,
    _tz_code,
    _year_of,
)
from orchestration.lab.generate.text import (
    REF_EXACT,
    REF_LOWER,
    REF_MISSING,
    REF_NOPREFIX,
    REF_SPACES,
    REF_TYPO,
    _client_names,
    _ref_mode,
    _ref_text,
    _take_cl,
)
from orchestration.lab.generate.world import (
    _CCY,
    _MONTH_START,
    CREDIT_NOTE_REASONS,
    CURRENCIES,
    DAY,
    FX_TARGETS,
    ID_WIDTH,
    INVOICE_STATUS_CHOICES,
    INVOICE_STATUS_P,
    L_CONS,
    L_DUP,
    L_ONE,
    L_REISSUE,
    L_SPLIT,
    L_VOID,
    LINE_DESC,
    NAME_VARIANTS,
    P_CONS,
    P_DUP,
    P_FX,
    P_NONE,
    P_NORMAL,
    P_ORPHAN,
    P_PARTIAL,
    P_SPLIT,
    P_UNBILLED,
    P_VOID,
    SERVICE_LAST_DAY,
)


def invoices(blk: Block, o: dict) -> dict:
    """Invoices per order billing pattern (the orders <-> invoices noise), lines, credit notes."""
    d = blk.draws("billing")
    kinds = ("unbilled", "split", "partial_billing", "duplicate_billing", "void_reissue", "fx")
    pattern = _cat(d("pattern"), [blk.rates[k] for k in kinds])
    pattern = np.array([P_UNBILLED, P_SPLIT, P_PARTIAL, P_DUP, P_VOID, P_FX, P_NORMAL])[pattern]
    pattern = np.where(o["member"], P_CONS, pattern)
    pattern = np.where(o["cancelled"], P_NONE, pattern)
    inv = _plan_invoices(blk, o, pattern, d)
    _invoice_headers(blk, inv)
    lines = _invoice_lines(blk, o, inv)
    cn = _credit_notes(blk, inv)
    return _billing_truth(blk, o, pattern, inv, lines, cn)


def _plan_invoices(blk: Block, o: dict, pattern: np.ndarray, d: Draws) -> dict:
    """Amounts, dates and roles of every invoice of the block, sorted and numbered."""
    ctx, n = blk.ctx, blk.n
    i, cents, end, start = o["i"], o["cents"], o["end"], o["start"]
    issue = end + (31 * d("issue_lag") ** 2).astype(np.int64)  # lag 0-30 days, median ~7
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
    partial = np.rint(cents[single] * (0.5 + 0.45 * d("partial_share")[single])).astype(np.int64)
    add(single, np.where(pattern[single] == P_PARTIAL, partial, cents[single]), issue[single], L_ONE)

    # Split: 2-4 instalments through the service period; the last one takes the rounding.
    sp = np.flatnonzero(pattern == P_SPLIT)
    g, pos = _ragged(2 + (d("instalments")[sp] * 3).astype(np.int64))
    rows = sp[g]
    k = np.bincount(g)[g]
    base = cents[rows] // k
    dur = end[rows] - start[rows] + 1
    day = (
        start[rows]
        + np.rint((pos + 1) * dur / k).astype(np.int64)
        + (d("instalment_shift")[rows] * 10).astype(np.int64)
    )
    add(rows, np.where(pos == k - 1, cents[rows] - base * (k - 1), base), day, L_SPLIT, part=pos + 1, parts=k)

    dup = np.flatnonzero(pattern == P_DUP)
    add(dup, cents[dup], issue[dup], L_ONE)
    add(dup, cents[dup], issue[dup] + 5 + (d("duplicate_lag")[dup] * 36).astype(np.int64), L_DUP)

    # Void and reissue: the voided invoice had a wrong amount.
    vo = np.flatnonzero(pattern == P_VOID)
    wrong = np.rint(cents[vo] * (0.8 + 0.4 * d("void_share")[vo])).astype(np.int64)
    add(vo, np.where(wrong == cents[vo], wrong + 10_000, wrong), issue[vo], L_VOID)
    add(vo, cents[vo], issue[vo] + 1 + (d("reissue_lag")[vo] * 10).astype(np.int64), L_REISSUE)

    # Consolidated: one invoice per group, anchored at (and described by) its first order.
    first = np.flatnonzero(o["member"] & (o["j"] == o["lead"]))
    member = np.flatnonzero(o["member"])
    totals = np.bincount(o["lead"][member], weights=cents[member], minlength=n).astype(np.int64)
    add(first, totals[first], issue[first], L_CONS, parts=o["group_size"][first])

    # Orphans: a known client (name as billed) or one the CRM has never seen; a reference
    # no order carries (the ref bijection evaluated past the last order).
    orphan = np.flatnonzero(d("orphan") < blk.rates["orphan_invoice"])
    known = d("orphan_known_client")[orphan] < 0.5
    spare = max(1, ctx.name_space - ctx.n_clients)
    pick = d("orphan_client")[orphan]
    client = np.where(known, pick * ctx.n_clients, ctx.n_clients + pick * spare).astype(np.int64)
    day = _MONTH_START[1] + (d("orphan_issue")[orphan] * (SERVICE_LAST_DAY + 30 - _MONTH_START[1])).astype(np.int64)
    fake = ctx.ref_number(ctx.orders + i[orphan])  # < 2 * orders, so never an order's ref
    amount = np.exp(np.log(8000) + 0.9 * d.normal("orphan_amount")[orphan])
    add(
        orphan, np.clip(np.rint(amount * 100), 50_000, 25_000_000), day, -1,
        pat=np.full(len(orphan), P_ORPHAN), ccy=ctx.clients(client)["ccy"], k=client,
        orphan=np.ones(len(orphan), bool), known=known, ref_num=fake, ref_year=_year_of(day),
    )  # fmt: skip

    inv = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    # Invoice numbers follow the orders, then issue date: a void precedes its reissue,
    # an original its duplicate (so those pairs have consecutive numbers).
    order = np.lexsort((inv["issue"], inv["orphan"], inv["anchor"]))
    inv = {key: v[order] for key, v in inv.items()}
    inv["num"] = blk.new_ids(len(order))
    inv["id"] = _ids("INV-", inv["num"])
    inv["jj"] = np.where(inv["orphan"], 0, inv["j"])  # safe index for per-order lookups
    return inv


def _invoice_headers(blk: Block, inv: dict) -> None:
    """FX, tax, status and the noisy text (client name, reference) of each invoice."""
    h = blk.draws("invoices", len(inv["num"]))
    ctx, rates = blk.ctx, blk.rates
    cl = ctx.clients(inv["k"])
    inv["cl"] = cl
    # FX: the invoice currency differs from the order's; converted at the issue month.
    inv["fx"] = inv["pat"] == P_FX
    targets = np.array([_CCY[c] for c in FX_TARGETS])
    pick = (h("fx_currency") * len(targets)).astype(np.int64)
    pick = np.where(targets[pick] == inv["ccy"], (pick + 1) % len(targets), pick)
    inv["order_ccy"] = inv["ccy"]
    inv["ccy"] = np.where(inv["fx"], targets[pick], inv["ccy"])
    converted = ctx.convert(inv["net"], inv["order_ccy"], inv["ccy"], inv["issue"])
    inv["net"] = np.where(inv["fx"], converted, inv["net"])

    tax = (inv["net"] * ctx.tax_bp(inv["ccy"], cl["suffix"]) + 5000) // 10_000
    void = inv["link"] == L_VOID
    status = np.where(void, INVOICE_STATUS_CHOICES.index("void"), _cat(h("status"), INVOICE_STATUS_P[:-1]))
    name_rate = max(rates["name_variant"], 1e-12)
    u_name_variant = h("name_variant")
    inv["variant"] = np.where(
        u_name_variant < rates["name_variant"], 1 + np.minimum((u_name_variant / name_rate * 7).astype(np.int64), 6), 0
    )
    inv["cons"] = inv["link"] == L_CONS
    mode = np.where(inv["cons"], REF_MISSING, _ref_mode(h("reference_noise"), rates))  # lines carry the refs
    inv["mode"] = np.where(inv["orphan"], np.where(h("orphan_reference") < 0.5, REF_MISSING, REF_EXACT), mode)
    inv["reference"] = _ref_text(inv["ref_year"], inv["ref_num"], inv["mode"], ctx.ref_digits, h("reference_typo"))
    inv["client_name"] = _client_names(cl, inv["variant"], (h("name_typo") * 4).astype(np.int64))
    updated = inv["issue"] * DAY + 25_200 + (h("updated") * 43_200).astype(np.int64)
    blk.emit(
        "billing__invoices",
        {
            "invoice_id": inv["id"],
            "invoice_number": _join(_str(_year_of(inv["issue"])), _pad(inv["num"], ID_WIDTH), sep="-"),
            "client_name": inv["client_name"],
            "reference": inv["reference"],
            "issue_date": _date(inv["issue"]),
            "due_date": _null_where(_date(inv["issue"] + cl["terms"]), h("due_date_missing") < 0.03),
            "currency": _take(_arr(CURRENCIES), inv["ccy"]),
            "net_amount": _money(inv["net"]),
            "tax_amount": _money(tax),
            "total_amount": _money(inv["net"] + tax),
            "status": _take(_arr(INVOICE_STATUS_CHOICES), status),
            "updated_at": _null_where(
                _timestamp(updated, _tz_code(h("timezone"), rates["tz_offset"])), h("updated_missing") < 0.04
            ),
        },
        inv["anchor"],
    )
    inv["two_lines"] = ~inv["cons"] & ~inv["orphan"] & (inv["link"] != L_SPLIT) & (h("two_lines") < 0.3)
    inv["two_lines"] &= inv["net"] >= 100_000
    inv["credit"] = np.isin(inv["pat"], (P_NORMAL, P_FX)) & (h("credit_note") < rates["credit_note"])


def _invoice_lines(blk: Block, o: dict, inv: dict) -> dict:
    """One line per order on consolidated invoices (each quoting its ref), else one or two."""
    ctx = blk.ctx
    cons, net = inv["cons"], inv["net"]
    g, pos = _ragged(np.where(cons, inv["parts"], 1 + inv["two_lines"]))
    ld = blk.draws("invoice_lines", len(g))
    line_j = np.where(cons[g], inv["jj"][g] + pos, inv["jj"][g])
    media = (net[g] * 85 + 50) // 100
    fee_split = np.where(pos == 0, media, net[g] - media)
    line_net = np.where(cons[g], o["cents"][line_j], np.where(inv["two_lines"][g], fee_split, net[g]))
    desc = _join(_take(_arr(LINE_DESC), o["typ"][line_j]), _month_label(o["start"][line_j]), sep=" ")
    desc = pc.if_else(pa.array(inv["orphan"][g]), _join("Services ", _month_label(inv["issue"][g])), desc)
    desc = pc.if_else(pa.array(inv["two_lines"][g] & (pos == 1)), pa.scalar("Agency fee"), desc)
    instalment = _join(desc, " (instalment ", _str(inv["part"][g]), "/", _str(inv["parts"][g]), ")")
    desc = pc.if_else(pa.array(inv["link"][g] == L_SPLIT), instalment, desc)
    mode = _ref_mode(ld("reference_noise"), blk.rates)
    cons_ref = _ref_text(o["ref_year"][line_j], o["ref_num"][line_j], mode, ctx.ref_digits, ld("reference_typo"))
    header_ref = _null_where(
        inv["reference"].take(pa.array(g)), ld("repeats_header_reference") >= 0.5
    )  # half the lines repeat it
    reference = pc.if_else(pa.array(cons[g]), cons_ref, header_ref)
    no_qty = ld("quantity_missing") < 0.03
    line_id = inv["id"].take(pa.array(g))
    blk.emit(
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


def _credit_notes(blk: Block, inv: dict) -> dict:
    """Credit notes against single-invoice orders (5-25% of the invoice)."""
    cn = np.flatnonzero(inv["credit"])
    cd = blk.draws("credit_notes", len(cn))
    net = np.maximum(1, np.rint(inv["net"][cn] * (0.05 + 0.2 * cd("share"))).astype(np.int64))
    day = inv["issue"][cn] + 10 + (cd("days_after") * 51).astype(np.int64)
    no_invoice_id, reason = cd("invoice_id_missing"), cd("reason")
    order = np.lexsort((day, inv["anchor"][cn]))
    cn, net, day = cn[order], net[order], day[order]
    no_invoice_id, reason = no_invoice_id[order], reason[order]
    cn_id = _ids("CN-", blk.new_ids(len(cn)))
    pick = pa.array(cn)
    blk.emit(
        "billing__credit_notes",
        {
            "credit_note_id": cn_id,
            "invoice_id": _null_where(inv["id"].take(pick), no_invoice_id < 0.2),
            "client_name": inv["client_name"].take(pick),
            "reference": inv["reference"].take(pick),
            "issue_date": _date(day),
            "currency": _take(_arr(CURRENCIES), inv["ccy"][cn]),
            "net_amount": _money(net),
            "reason": _take(_arr(CREDIT_NOTE_REASONS), (reason * len(CREDIT_NOTE_REASONS)).astype(np.int64)),
        },
        inv["anchor"][cn],
    )
    return {"inv": cn, "id": cn_id}


def _billing_truth(blk: Block, o: dict, pattern: np.ndarray, inv: dict, lines: dict, cn: dict) -> dict:
    """Links and discrepancy records of the orders <-> invoices reconciliation."""
    ctx, i, cents, order_id, jj = blk.ctx, o["i"], o["cents"], o["order_id"], inv["jj"]

    def ids_of(array, sel):
        return array.take(pa.array(sel))

    paired = np.flatnonzero(~inv["orphan"] & ~inv["cons"])
    blk.link(
        "orders_invoices", inv["anchor"][paired], ids_of(order_id, jj[paired]), ids_of(inv["id"], paired),
        inv["link"][paired],
    )  # fmt: skip
    cl_lines = np.flatnonzero(lines["cons"])
    blk.link(
        "orders_invoices", inv["anchor"][lines["g"][cl_lines]], ids_of(order_id, lines["j"][cl_lines]),
        ids_of(lines["id"], cl_lines), "consolidated",
    )  # fmt: skip
    c = cn["inv"]
    blk.link("orders_invoices", inv["anchor"][c], ids_of(order_id, jj[c]), cn["id"], "credit_note")

    def order_rec(disc, sel, detail):
        blk.record("crm__orders", disc, i[sel], ids_of(order_id, sel), detail)

    def inv_rec(disc, sel, detail):
        blk.record("billing__invoices", disc, inv["anchor"][sel], ids_of(inv["id"], sel), detail)

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
    blk.record(
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
        blk.record(
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
