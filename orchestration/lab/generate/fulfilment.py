"""Fulfilment (``fulfilment__deliverables``): planned and delivered items of content packages and retainers."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.lab.generate.block import Block
from orchestration.lab.generate.columns import (
    _allocate,
    _arr,
    _ids,
    _join,
    _money,
    _month_of,
    _null_where,
    _ragged,
    _str,
    _take,
    _timestamp,
    _tz_code,
)
from orchestration.lab.generate.text import REF_SPACES, _brand, _ref_text, _take_cl
from orchestration.lab.generate.world import (
    CONTENT_ITEMS,
    CURRENCIES,
    DAY,
    IO,
    P_NONE,
    P_UNBILLED,
    PROJECT_THEMES,
    RETAINER,
    RETAINER_ITEMS,
)


def deliverables(blk: Block, o: dict, inv: dict) -> None:
    """Content packages and retainers: 2-6 deliverables worth exactly the order amount."""
    ctx, rates = blk.ctx, blk.rates
    d = blk.draws("packages")
    i, cents, pattern = o["i"], o["cents"], inv["pattern"]
    billed = ~np.isin(pattern, (P_UNBILLED, P_NONE))
    packaged = o["typ"] != IO
    active = packaged & ~o["cancelled"]
    not_delivered = active & billed & (d("billed_not_delivered") < rates["billed_not_delivered"])
    done = active & ~not_delivered
    dropped = packaged & o["cancelled"] & (d("dropped_shows") < 0.5)  # cancelled work shows as cancelled tasks
    short = done & billed & (d("quantity_short") < rates["quantity_short"])
    no_ref = d("reference_missing") < rates["deliverable_no_ref"]

    jf = np.flatnonzero(done | dropped)
    count = 2 + (d("deliverables")[jf] * 5).astype(np.int64)
    g, pos = _ragged(count)
    rj = jf[g]
    last = pos == count[g] - 1
    dd = blk.draws("deliverables", len(g))
    value = _allocate(cents[jf], count, 0.5 + dd("value"))
    retainer = o["typ"][rj] == RETAINER
    u_sold = dd("sold")
    sold = np.where(last, 1, np.where(retainer, 5 + (u_sold * 36).astype(np.int64), 2 + (u_sold * 7).astype(np.int64)))
    unit = value // sold
    # The last deliverable (quantity 1) absorbs rounding: sum(quantity * unit) == amount.
    covered = np.bincount(g, weights=np.where(last, 0, sold * unit), minlength=len(jf)).astype(np.int64)
    unit = np.where(last, cents[rj] - covered[g], unit)
    cut = short[rj] & (pos == 0)
    qty = np.where(cut, sold - np.maximum(1, (sold * (0.1 + 0.4 * dd("short_share"))).astype(np.int64)), sold)
    cancelled = dropped[rj]
    dur = o["end"][rj] - o["start"][rj] + 1
    completed = o["start"][rj] * DAY + (dd("completed") * dur * DAY).astype(np.int64)
    u_item = dd("item")
    item = np.where(
        retainer, (u_item * len(RETAINER_ITEMS)).astype(np.int64), (u_item * len(CONTENT_ITEMS)).astype(np.int64)
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
    hinted = no_ref[jf] & (d("reference_in_project_name")[jf] < 0.4)
    project_name = pc.if_else(pa.array(hinted), _join(project_name, " (", ref_hint, ")"), project_name)
    client = pc.if_else(pa.array(d("client_lower_case")[jf] < 0.5), pc.utf8_lower(brand), brand)
    d_id = _ids("D-", blk.new_ids(len(g)))
    pick = pa.array(g)
    blk.emit(
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
            "completed_at": _null_where(_timestamp(completed, _tz_code(dd("timezone"), rates["tz_offset"])), cancelled),
        },
        i[rj],
    )

    order_id = o["order_id"]
    sel = np.flatnonzero(done & (pattern == P_UNBILLED))
    blk.record(
        "crm__orders", "completed_not_billed", i[sel], order_id.take(pa.array(sel)),
        _join("completed=", _money(cents[sel]), "; no invoice"),
    )  # fmt: skip
    sel = np.flatnonzero(not_delivered)
    blk.record(
        "crm__orders", "billed_not_delivered", i[sel], order_id.take(pa.array(sel)),
        "side=fulfilment; no deliverables",
    )  # fmt: skip
    sel = np.flatnonzero(cut)
    blk.record(
        "fulfilment__deliverables", "quantity_short", i[rj][sel], d_id.take(pa.array(sel)),
        _join("sold_quantity=", _str(sold[sel]), "; delivered_quantity=", _str(qty[sel]), "; order=",
              order_id.take(pa.array(rj[sel]))),
    )  # fmt: skip
    sel = np.flatnonzero(no_ref[rj] & ~cancelled)
    blk.record(
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
    blk.link(
        "deliverables_invoices", i[pair_j[eg]], d_id.take(pa.array(first[eg] + ep)),
        inv["inv_id"].take(pa.array(pair_inv[eg])), pair_link[eg],
    )  # fmt: skip
