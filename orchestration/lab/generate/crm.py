"""CRM orders (``crm__orders``): types, clients, service periods, amounts, references."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from orchestration.lab.generate.block import Block
from orchestration.lab.generate.columns import (
    _arr,
    _cat,
    _date,
    _ids,
    _join,
    _money,
    _null_where,
    _take,
    _timestamp,
    _tz_code,
    _year_of,
)
from orchestration.lab.generate.text import _client_names, _ref_text
from orchestration.lab.generate.world import (
    _MONTH_START,
    CURRENCIES,
    DAY,
    MANAGERS,
    ORDER_AMOUNT_MEDIAN,
    ORDER_STATUS_CHOICES,
    ORDER_STATUS_P,
    ORDER_TYPE_P,
    ORDER_TYPES,
    RETAINER,
    SERVICE_LAST_DAY,
    SERVICE_LENGTH_P,
    SERVICE_MONTHS,
)


def orders(blk: Block) -> dict:
    ctx, rates, n = blk.ctx, blk.rates, blk.n
    d = blk.draws("orders")
    i = np.arange(blk.i0, blk.i0 + n, dtype=np.int64)
    j = np.arange(n)
    typ = _cat(d("order_type"), ORDER_TYPE_P[:-1])
    k = np.minimum((ctx.n_clients * d("client") ** 1.5).astype(np.int64), ctx.n_clients - 1)
    months = _cat(d("months"), SERVICE_LENGTH_P[:-1]) + 1
    slot = np.floor((i + 0.5) / ctx.orders * SERVICE_MONTHS + (d("slot") - 0.5) * 3).astype(np.int64)
    offset = np.where((typ == RETAINER) | (d("starts_on_the_1st") < 0.5), 0, (d("start_offset") * 15).astype(np.int64))

    # Consolidated groups: in each window of 4 orders, the first 2-4 may become one client's
    # batch (same client, same service period) billed on one invoice.
    windows = -(-n // 4)
    window_rate = min(1.0, rates["consolidated"] * 4 / 3)
    size = np.where(d("batch", windows) < window_rate, 2 + (d("batch_size", windows) * 3).astype(np.int64), 0)
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
    amount = np.clip(np.exp(np.log(ORDER_AMOUNT_MEDIAN[typ] * per_month) + 0.9 * d.normal("amount")), 500, 250_000)
    cents = np.where(d("round_amount") < 0.6, np.rint(amount / 50) * 5000, np.rint(amount * 100)).astype(np.int64)
    cents = np.clip(cents, 50_000, 25_000_000)
    status = _cat(d("status"), ORDER_STATUS_P[:-1])
    status = np.where(member & (status == 0), 1, status)
    updated = start * DAY - DAY - (d("updated") * 59 * DAY).astype(np.int64)
    cl = ctx.clients(k)
    ref_year = _year_of(updated // DAY)
    ref_num = ctx.ref_number(i)
    ref = _ref_text(ref_year, ref_num, None, ctx.ref_digits)
    crm_ref_missing = d("crm_ref_missing") < rates["crm_ref_missing"]
    manager = np.where(d("manager_is_clients") < 0.9, cl["manager"], (d("manager") * len(MANAGERS)).astype(np.int64))

    o = {
        "i": i, "j": j, "typ": typ, "k": k, "start": start, "end": end, "cents": cents,
        "ccy": cl["ccy"], "cancelled": status == 0, "member": member, "lead": lead,
        "group_size": group_size, "ref_year": ref_year, "ref_num": ref_num, "cl": cl,
        "order_id": _ids("SO-", i + 1), "ref": ref,
    }  # fmt: skip
    blk.emit(
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
            "account_manager": _null_where(_take(_arr(MANAGERS), manager), d("manager_missing") < 0.03),
            "status": _take(_arr(ORDER_STATUS_CHOICES), status),
            "updated_at": _timestamp(updated, _tz_code(d("timezone"), rates["tz_offset"])),
        },
        i,
    )
    sel = np.flatnonzero(crm_ref_missing)
    blk.record(
        "crm__orders",
        "ref_missing",
        i[sel],
        o["order_id"].take(pa.array(sel)),
        _join("order_ref empty in the CRM; the client's reference is ", ref.take(pa.array(sel))),
    )
    return o
