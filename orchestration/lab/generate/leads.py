"""Leads (``ads__lead_forms``, ``crm__leads``): form submissions on lead-gen campaigns and the CRM's leads."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.lab.generate.block import Block
from orchestration.lab.generate.columns import (
    _arr,
    _cat,
    _ids,
    _join,
    _null_where,
    _ragged,
    _replace,
    _str,
    _take,
    _timestamp,
    _tz_code,
)
from orchestration.lab.generate.world import (
    _MONTH_START,
    DAY,
    EMAIL_DOMAINS,
    FIRST_NAMES,
    LAST_NAMES,
    MANAGERS,
    ORGANIC_LEAD_SHARE,
    PLATFORMS,
    SERVICE_LAST_DAY,
)


def leads(blk: Block, o: dict, camp: dict) -> None:
    """Lead-gen campaigns' form submissions and the CRM leads they should become."""
    ctx, rates, n = blk.ctx, blk.rates, blk.n
    d = blk.draws("lead_gen_orders")
    i = o["i"]
    lg = np.flatnonzero(camp["leadgen"])
    g, _ = _ragged(1 + (d("submissions")[lg] * 8).astype(np.int64))
    sj = lg[g]
    b = len(g)
    sd = blk.draws("submissions", b)
    at = np.searchsorted(camp["jd"], sj)
    ci = camp["start"][at] + ((camp["n_camp"][at] == 2) & (sd("second_campaign") < 0.5))
    sub_time = (camp["flight"][ci] + (sd("day") * camp["days"][ci]).astype(np.int64)) * DAY + (
        sd("time_of_day") * DAY
    ).astype(np.int64)
    fate = _cat(sd("fate"), [rates[k] for k in ("missing_in_crm", "duplicate_submission", "duplicate_crm_lead")])
    MISSING, DUP_SUB, DUP_CRM = 0, 1, 2

    # People: the submitters, then organic CRM leads that came from elsewhere.
    n_org = int(np.rint(b * ORGANIC_LEAD_SHARE))
    od = blk.draws("organic_leads", n_org)
    people = blk.draws("people", b + n_org)  # the submitters, then the organic leads
    first = _take(_arr(FIRST_NAMES), (people("first_name") * len(FIRST_NAMES)).astype(np.int64))
    last = _take(_arr(LAST_NAMES), (people("last_name") * len(LAST_NAMES)).astype(np.int64))
    full_name = _join(first, last, sep=" ")
    email = _join(
        pc.utf8_lower(first), ".", pc.utf8_lower(last), _str(1 + (people("email_number") * 99).astype(np.int64)), "@",
        _take(_arr(EMAIL_DOMAINS), (people("email_domain") * len(EMAIL_DOMAINS)).astype(np.int64)),
    )  # fmt: skip

    # Submissions: every base one, plus a second one from the same person for DUP_SUB.
    again = np.flatnonzero(fate == DUP_SUB)
    s_src = np.concatenate([np.arange(b), again])
    s_time = np.concatenate([sub_time, sub_time[again] + 60 + (sd("again_after")[again] * 2 * DAY).astype(np.int64)])
    s_anchor = i[sj[s_src]]
    s_order = np.lexsort((s_time, s_anchor))
    s_rank = np.empty(len(s_order), np.int64)
    s_rank[s_order] = np.arange(len(s_order))
    s_num = blk.new_ids(len(s_order))
    sub_id = _ids("SUB-", s_num)
    s_src, s_time, s_anchor = s_src[s_order], s_time[s_order], s_anchor[s_order]
    s_camp = ci[s_src]
    blk.emit(
        "ads__lead_forms",
        {
            "submission_id": sub_id,
            "platform": _take(_arr(PLATFORMS), camp["platform"][s_camp]),
            "campaign_id": camp["campaign_id"].take(pa.array(s_camp)),
            "form_id": camp["form"].take(pa.array(s_camp)),
            "email": email.take(pa.array(s_src)),
            "full_name": full_name.take(pa.array(s_src)),
            "submitted_at": _timestamp(s_time, _tz_code(sd("timezone")[s_src], rates["tz_offset"])),
        },
        s_anchor,
    )
    base_sub = s_num[s_rank[:b]]  # submission number of each base submission
    dup_sub = s_num[s_rank[b:]]

    # CRM leads: one per base submission that reached the CRM, two for DUP_CRM, organic ones.
    reached = np.flatnonzero(fate != MISSING)
    twice = np.flatnonzero(fate == DUP_CRM)
    created = sub_time + 120 + (sd("created_after") * 6 * 3600).astype(np.int64)
    n_camps = len(camp["cj"])
    mismatch = (sd("attribution_mismatch") < rates["attribution_mismatch"]) & (n_camps > 1)
    other = (ci + 1 + (sd("credited_campaign") * max(n_camps - 1, 1)).astype(np.int64)) % max(n_camps, 1)
    credited = np.where(mismatch, other, ci)
    org_anchor = blk.i0 + (od("anchor") * n).astype(np.int64)
    org_time = _MONTH_START[0] * DAY + (od("created") * (SERVICE_LAST_DAY - _MONTH_START[0]) * DAY).astype(np.int64)
    l_person = np.concatenate([reached, twice, b + np.arange(n_org)])
    l_src = np.concatenate([reached, twice, np.full(n_org, -1)])
    l_second = np.concatenate([np.zeros(len(reached), bool), np.ones(len(twice), bool), np.zeros(n_org, bool)])
    l_time = np.concatenate(
        [created[reached], created[twice] + 60 + (sd("second_lead_after")[twice] * 3 * DAY).astype(np.int64), org_time]
    )
    l_anchor = np.concatenate([i[sj[reached]], i[sj[twice]], org_anchor])
    l_order = np.lexsort((l_time, l_anchor))
    l_person, l_src, l_second, l_time, l_anchor = (a[l_order] for a in (l_person, l_src, l_second, l_time, l_anchor))
    m = len(l_order)
    ld = blk.draws("crm_leads", m)
    lead_id = _ids("L-", blk.new_ids(m))
    from_form = l_src >= 0
    src = np.where(from_form, l_src, 0)
    k = np.where(from_form, o["k"][sj[src]], (ld("client") * ctx.n_clients).astype(np.int64))
    l_email, l_name = email.take(pa.array(l_person)), full_name.take(pa.array(l_person))
    variant = np.where(
        from_form & (ld("contact_variant") < rates["contact_variant"]),
        1 + (ld("contact_variant_kind") * 4).astype(np.int64),
        0,
    )
    l_email = _replace(l_email, variant == 1, pc.utf8_upper(l_email.filter(pa.array(variant == 1))))
    l_email = _replace(l_email, variant == 2, _join(" ", l_email.filter(pa.array(variant == 2)), " "))
    l_name = _replace(l_name, variant == 3, pc.utf8_upper(l_name.filter(pa.array(variant == 3))))
    l_name = _replace(l_name, variant == 4, pc.replace_substring(l_name.filter(pa.array(variant == 4)), " ", "  "))
    l_campaign = _null_where(camp["campaign_id"].take(pa.array(np.where(from_form, credited[src], 0))), ~from_form)
    blk.emit(
        "crm__leads",
        {
            "lead_id": lead_id,
            "email": l_email,
            "full_name": l_name,
            "client_id": _null_where(_ids("C-", k + 1, 6), ld("client_id_missing") < 0.1),
            "campaign_id": l_campaign,
            "owner": _null_where(_take(_arr(MANAGERS), ctx.clients(k)["manager"]), ld("owner_missing") < 0.15),
            "created_at": _timestamp(l_time, _tz_code(ld("timezone"), rates["tz_offset"])),
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
    blk.link(
        "lead_forms_leads", i[sj[sel]], sub_ids(base_sub[sel]), lead_id.take(pa.array(lead_of_sub[sel])),
        "one_to_one",
    )  # fmt: skip
    blk.link(
        "lead_forms_leads", i[sj[again]], sub_ids(dup_sub), lead_id.take(pa.array(lead_of_sub[again])),
        "duplicate",
    )  # fmt: skip
    blk.link(
        "lead_forms_leads", i[sj[twice]], sub_ids(base_sub[twice]), lead_id.take(pa.array(second_of_sub[twice])),
        "duplicate",
    )  # fmt: skip
    sel = np.flatnonzero(fate == MISSING)
    blk.record("ads__lead_forms", "missing_in_crm", i[sj[sel]], sub_ids(base_sub[sel]), "no CRM lead")
    blk.record(
        "ads__lead_forms", "duplicate_lead", i[sj[again]], sub_ids(dup_sub),
        _join("same person as ", sub_ids(base_sub[again]), "; the CRM keeps one lead"),
    )  # fmt: skip
    blk.record(
        "crm__leads", "duplicate_lead", i[sj[twice]], lead_id.take(pa.array(second_of_sub[twice])),
        _join("duplicate of ", lead_id.take(pa.array(lead_of_sub[twice]))),
    )  # fmt: skip
    sel = lead_pos[mismatch[l_src[lead_pos]]]
    blk.record(
        "crm__leads", "attribution_mismatch", l_anchor[sel], lead_id.take(pa.array(sel)),
        _join("submitted via ", camp["campaign_id"].take(pa.array(ci[l_src[sel]])), "; CRM credits ",
              l_campaign.take(pa.array(sel))),
    )  # fmt: skip
    sel = np.flatnonzero(variant > 0)
    kinds = _arr(["", "email_upper_case", "email_whitespace", "name_upper_case", "name_whitespace"])
    blk.record(
        "crm__leads", "contact_variant", l_anchor[sel], lead_id.take(pa.array(sel)),
        _join("kind=", _take(kinds, variant[sel])),
    )  # fmt: skip
