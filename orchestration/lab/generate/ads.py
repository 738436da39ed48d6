"""Ad platforms (``ads__delivery``, ``ads__credits``): campaigns of insertion orders, daily delivery, credits."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.lab.generate.block import Block
from orchestration.lab.generate.columns import (
    _allocate,
    _arr,
    _cat,
    _date,
    _hash_u,
    _ids,
    _join,
    _money,
    _month_label,
    _null_where,
    _pad,
    _ragged,
    _str,
    _take,
)
from orchestration.lab.generate.text import _brand, _take_cl
from orchestration.lab.generate.world import (
    CAMPAIGN_THEMES,
    CREDIT_REASONS,
    CURRENCIES,
    ID_WIDTH,
    IO,
    L_MULTI,
    L_ONE,
    LEAD_GEN_SHARE,
    LEAD_GEN_THEME,
    P_NONE,
    P_UNBILLED,
    PLATFORM_CPM_CENTS,
    PLATFORM_CTR,
    PLATFORM_P,
    PLATFORMS,
)


def delivery(blk: Block, o: dict, inv: dict) -> dict:
    """Insertion orders: 1-2 campaigns with daily delivery over part of the period, credits."""
    ctx, rates = blk.ctx, blk.rates
    d = blk.draws("insertion_orders")
    i, cents, pattern = o["i"], o["cents"], inv["pattern"]
    billed = ~np.isin(pattern, (P_UNBILLED, P_NONE))
    io = (o["typ"] == IO) & ~o["cancelled"]
    not_delivered = io & billed & (d("billed_not_delivered") < rates["billed_not_delivered"])
    delivered = io & ~not_delivered
    u_delivery = d("delivery")
    over = delivered & (u_delivery < rates["over_delivery"])
    under = delivered & ~over & (u_delivery < rates["over_delivery"] + rates["under_delivery"])
    u_pacing = d("pacing")
    on_plan = 1 + rates["pacing_jitter"] * (2 * u_pacing - 1)
    factor = np.where(over, 1.05 + 0.25 * u_pacing, np.where(under, 0.5 + 0.4 * u_pacing, on_plan))
    target = np.rint(cents * factor).astype(np.int64)
    leadgen = delivered & (d("lead_gen") < LEAD_GEN_SHARE)

    jd = np.flatnonzero(delivered)
    n_camp = 1 + (d("two_campaigns")[jd] < 0.3).astype(np.int64)
    cg, cpos = _ragged(n_camp)
    cj = jd[cg]
    first = np.rint(target[jd] * (0.4 + 0.3 * d("first_campaign_share")[jd])).astype(np.int64)
    budget = np.where(n_camp[cg] == 1, target[cj], np.where(cpos == 0, first[cg], target[cj] - first[cg]))
    cd = blk.draws("campaigns", len(cj))
    platform = _cat(cd("platform"), PLATFORM_P[:-1])
    dur = o["end"][cj] - o["start"][cj] + 1
    days = np.minimum(3 + (cd("days") * 9).astype(np.int64), dur)
    flight = o["start"][cj] + (cd("flight_start") * (dur - days + 1)).astype(np.int64)
    cpm = PLATFORM_CPM_CENTS[platform] * (0.7 + 0.6 * cd("cpm"))
    ctr = PLATFORM_CTR[platform] * (0.5 + cd("ctr"))
    with_ref = cd("name_has_reference") >= rates["campaign_name_no_ref"]
    themes = _arr((*CAMPAIGN_THEMES, LEAD_GEN_THEME))
    theme_code = np.where(leadgen[cj], len(CAMPAIGN_THEMES), (cd("theme") * len(CAMPAIGN_THEMES)).astype(np.int64))
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
    dd = blk.draws("delivery_days", len(rg))
    spend = _allocate(budget, days, 0.5 + dd("spend"))
    impressions = np.rint(spend / cpm[rg] * 1000 * (0.85 + 0.3 * dd("impressions"))).astype(np.int64)
    clicks = np.rint(impressions * ctr[rg] * (0.8 + 0.4 * dd("clicks"))).astype(np.int64)
    no_stats = dd("stats_missing") < 0.02
    pick = pa.array(rg)
    blk.emit(
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
    credit_pos = np.flatnonzero(d("platform_credit")[jd] < rates["platform_credit"])
    cr_j, cr_c = jd[credit_pos], camp_start[credit_pos]
    cr_amount = np.maximum(100, np.rint(target[cr_j] * (0.02 + 0.08 * d("credit_share")[cr_j])).astype(np.int64))
    cr_id = _ids("CR-", blk.new_ids(len(cr_j)))
    cr_campaign = campaign_id.take(pa.array(cr_c))
    blk.emit(
        "ads__credits",
        {
            "credit_id": cr_id,
            "platform": _take(_arr(PLATFORMS), platform[cr_c]),
            "account_id": account.take(pa.array(cr_c)),
            "campaign_id": _null_where(cr_campaign, d("credit_campaign_missing")[cr_j] < 0.15),
            "credit_date": _date(o["end"][cr_j] + 5 + (d("credit_lag")[cr_j] * 36).astype(np.int64)),
            "amount": _money(cr_amount),
            "currency": _take(_arr(CURRENCIES), o["ccy"][cr_j]),
            "reason": _take(_arr(CREDIT_REASONS), (d("credit_reason")[cr_j] * len(CREDIT_REASONS)).astype(np.int64)),
        },
        i[cr_j],
    )

    order_id = o["order_id"]
    blk.link(
        "delivery_orders", i[cj], campaign_id, order_id.take(pa.array(cj)),
        np.where(n_camp[cg] > 1, L_MULTI, L_ONE),
    )  # fmt: skip

    def order_rec(disc, sel, detail):
        blk.record("crm__orders", disc, i[sel], order_id.take(pa.array(sel)), detail)

    for disc, mask in (("over_delivery", over), ("under_delivery", under)):
        sel = np.flatnonzero(mask)
        order_rec(disc, sel, _join("booked=", _money(cents[sel]), "; delivered=", _money(target[sel])))
    sel = np.flatnonzero(delivered & (pattern == P_UNBILLED))
    order_rec("delivered_not_billed", sel, _join("delivered=", _money(target[sel]), "; no invoice"))
    order_rec("billed_not_delivered", np.flatnonzero(not_delivered), "side=ads; no delivery rows")
    sel = np.flatnonzero(~with_ref)
    blk.record(
        "ads__delivery", "ref_missing", i[cj][sel], campaign_id.take(pa.array(sel)),
        _join("campaign name carries no order reference; order=", order_id.take(pa.array(cj[sel]))),
    )  # fmt: skip
    blk.record(
        "ads__credits", "platform_credit", i[cr_j], cr_id,
        _join("campaign=", cr_campaign, "; order=", order_id.take(pa.array(cr_j))),
    )  # fmt: skip
    form = _join("F-", _str(100 + (_hash_u(ctx.seed, i[cj] * 4 + cpos, 22) * 900).astype(np.int64)))
    return {
        "jd": jd, "n_camp": n_camp, "start": camp_start, "cj": cj, "campaign_id": campaign_id,
        "platform": platform, "flight": flight, "days": days, "leadgen": leadgen, "form": form,
    }  # fmt: skip
