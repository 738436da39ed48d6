"""Match-rate checks: the share of records matched, against a baseline of earlier passing runs."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import duckdb

if TYPE_CHECKING:  # pragma: no cover - imported lazily at run time
    import pandas as pd

from orchestration.quality.config import RECORD_STATES, RECORDS_ASSET, RECORDS_RELATION, RETRAIN_HINT, _recon_settings
from orchestration.quality.gx import _key, _Validator, _verdict
from orchestration.quality.results import CheckResult
from orchestration.quality.sql import _columns_of, _ident, _relation, _relation_exists

# ------------------------------------------------------------------------- match rate


def match_rate_frame(con: duckdb.DuckDBPyConnection, relation: str = RECORDS_RELATION) -> pd.DataFrame:
    """Records per reconciliation and side, by state, and ``match_rate`` = matched / records.

    ``relation`` is ``schema.table`` of any table shaped like
    ``marts.fct_reconciliation_records`` (reconciliation, side, record_state): one row per
    reconciliation and side comes back, so the frame is small whatever the mart's size.

    Beside them, the engine's own share: ``operator_records`` counts the records an operator
    matched or unmatched by hand (``has_operator_link``; 0 when the table has no such
    column), ``engine_records`` and ``engine_matched`` the others, and ``engine_match_rate``
    = engine_matched / engine_records (NaN when an operator decided every record).
    """
    quoted = _relation(relation)  # refuses anything but schema.table before it is read
    schema, table = relation.split(".")
    by_operator = "has_operator_link" in _columns_of(con, schema, table)
    operator = "coalesce(has_operator_link, false)" if by_operator else "false"
    states = ", ".join(
        f"count(*) filter (where record_state = ${state})::BIGINT as {_ident(state)}" for state in RECORD_STATES
    )
    sql = f"""
        select reconciliation, side, count(*)::BIGINT as records, {states},
            count(*) filter (where record_state = $matched)::DOUBLE / count(*) as match_rate,
            count(*) filter (where {operator})::BIGINT as operator_records,
            count(*) filter (where not {operator})::BIGINT as engine_records,
            count(*) filter (where not {operator} and record_state = $matched)::BIGINT as engine_matched,
            count(*) filter (where not {operator} and record_state = $matched)::DOUBLE
                / nullif(count(*) filter (where not {operator}), 0) as engine_match_rate
        from {quoted}
        group by reconciliation, side
        order by reconciliation, side
    """
    return con.execute(sql, {state: state for state in RECORD_STATES}).df()


def _match_rate_checks(
    con: duckdb.DuckDBPyConnection,
    validator: _Validator,
    cfg: Mapping[str, Any],
    names: Sequence[str],
    history: Sequence[Mapping[str, Any]],
    after_build: bool = True,
    checked_at: datetime | None = None,
) -> tuple[list[CheckResult], dict[str, Any]]:
    """One check per reconciliation, and this run's rates for the next runs' baselines.

    The rule, per reconciliation and checked side:

    * **Baseline period.** While fewer than ``baseline_runs`` earlier runs measured a rate,
      this run helps set the baseline: below ``min_rate`` it warns, it never blocks. A new
      warehouse's first run publishes whatever its data matches.
    * **After it**, the baseline is the median rate of the last ``window_runs`` runs that
      passed their gates. More than ``max_drop`` below it fails with the configured
      severity; below ``min_rate`` (but within ``max_drop``) warns.

    ``max_drop`` is absolute (rate points), not relative: rates live in [0, 1], and a
    relative drop would make a low-rate warehouse's gate hair-trigger (5 % of 0.4 is 0.02)
    just where onboarding needs slack. The median of a trailing window of *passing* runs
    lets a warehouse that improves (better data, re-trained weights) move its baseline up
    within about half the window, ignores a single odd run, and follows a slow decline only
    when it is slower than about ``max_drop`` per half window. A blocked run never joins,
    so a sudden drop keeps blocking until it is fixed, accepted (``baseline_since`` starts
    the baseline again) or the numbers change. Runs whose rate only warned do join: a
    warning is accepted data. Changing ``side`` starts a new baseline (rates are kept per
    side).

    The rate is the **engine's**: records an operator matched or unmatched by hand
    (``has_operator_link``) are left out of it, and so of every later run's baseline, and
    the message counts them. An operator's deliberate action is not a drop in matching: on
    a small book one unmatch moves the rate by more than ``max_drop`` and must not stop the
    publication that carries it. Reports written before this rule measured every record
    (they have no ``basis``); they stay in the window as they are until newer runs replace
    them.
    """
    wanted = {name: _recon_settings(cfg, name) for name in names}
    observed: dict[str, Any] = {}
    if not wanted:
        return [], observed
    if not _relation_exists(con, RECORDS_RELATION):
        error = f"{RECORDS_RELATION} does not exist: the dbt build has not produced it"
        for name, s in wanted.items():
            observed[name] = {"side": s["side"], "records": 0, "baseline_candidate": False}
        return [
            CheckResult(f"match_rate_{name}", RECORDS_ASSET, s["severity"], False, {"error": error}, error)
            for name, s in wanted.items()
        ], observed
    rates = match_rate_frame(con)
    # The checked side of each reconciliation, the engine's rate on it rounded like its
    # thresholds (0.9 - 0.05 is 0.8500000000000001 in floating point; a rate of exactly 0.85
    # must pass), and beside it the absolute minimum and, after the baseline period, the
    # relative floor. The engine's rate leaves out the records an operator matched or
    # unmatched by hand: a deliberate action is not a drop in matching (and never blocks a
    # publication); a side whose every record an operator decided has nothing to judge.
    key = rates["reconciliation"] + ":" + rates["side"]
    wanted_keys = [f"{n}:{s['side']}" for n, s in wanted.items()]
    checked = rates[key.isin(wanted_keys) & (rates["engine_records"] > 0)].reset_index(drop=True)
    checked["rate"] = checked["engine_match_rate"].astype(float).round(6)
    checked["min_rate"] = checked["reconciliation"].map({n: float(s["min_rate"]) for n, s in wanted.items()})
    baselines: dict[str, dict[str, Any]] = {}
    for name, s in wanted.items():
        prior = _baseline_rates(history, name, s["side"], s["baseline_since"])
        window = prior[-s["window_runs"] :]
        entry: dict[str, Any] = {"prior": prior, "window": window, "in_baseline": len(prior) < s["baseline_runs"]}
        entry["baseline"] = round(float(statistics.median(window)), 6) if window else None
        entry["fail_below"] = (
            None if entry["in_baseline"] else round(max(entry["baseline"] - float(s["max_drop"]), 0.0), 6)
        )
        baselines[name] = entry
    checked["fail_below"] = checked["reconciliation"].map(
        {n: (float("nan") if b["fail_below"] is None else b["fail_below"]) for n, b in baselines.items()}
    )
    expect = validator.expect
    expectations = []
    if len(checked):
        expectations.append(
            (
                "min_rate",
                expect.ExpectColumnPairValuesAToBeGreaterThanB(column_A="rate", column_B="min_rate", or_equal=True),
            )
        )
    if checked["fail_below"].notna().any():
        expectations.append(
            (
                "baseline",
                expect.ExpectColumnPairValuesAToBeGreaterThanB(
                    column_A="rate", column_B="fail_below", or_equal=True, ignore_row_if="either_value_is_missing"
                ),
            )
        )
    results_gx = validator.validate("match_rate", checked, expectations)
    results = []
    for name, s in wanted.items():
        mine = checked.index[checked["reconciliation"] == name]
        b = baselines[name]
        metadata: dict[str, Any] = {
            "reconciliation": name,
            "side": s["side"],
            "min_rate": s["min_rate"],
            "max_drop": s["max_drop"],
            "baseline_runs": s["baseline_runs"],
            "window_runs": s["window_runs"],
            "baseline": b["baseline"],
            "baseline_from_runs": len(b["window"]),
        }
        if s["baseline_since"] is not None:
            metadata["baseline_since"] = s["baseline_since"].isoformat()
        other = rates[(rates["reconciliation"] == name) & (rates["side"] != s["side"])]
        if len(other):
            metadata["other_side_match_rate"] = round(float(other["match_rate"].iloc[0]), 6)
        severity = s["severity"]
        side_rows = rates[(rates["reconciliation"] == name) & (rates["side"] == s["side"])]
        by_operator = int(side_rows["operator_records"].iloc[0]) if len(side_rows) else 0
        if not len(mine):
            records = int(side_rows["records"].iloc[0]) if len(side_rows) else 0
            observed[name] = {
                "side": s["side"],
                "records": records,
                "operator_records": by_operator,
                "baseline_candidate": False,
            }
            metadata.update(status="no records", records=records, operator_records=by_operator)
            passed = True
            if records:
                description = (
                    f"all {records} {s['side']} records of {name} were matched or unmatched by an operator: "
                    "no decision of the engine to check; this run does not count towards its baseline."
                )
            else:
                description = (
                    f"no {s['side']} records for {name}: nothing to check; "
                    "this run does not count towards its baseline."
                )
        else:
            row = checked.loc[mine[0]]
            rate = float(row["rate"])
            observed[name] = {
                "side": s["side"],
                # The engine's rate: records an operator matched or unmatched are left out
                # ("basis"; reports written before it have none and measured every record).
                "match_rate": rate,
                "basis": "engine",
                "records": int(row["records"]),
                "operator_records": by_operator,
                "all_records_match_rate": round(float(row["match_rate"]), 6),
                # Joins the baseline when the run passes its gates, and only if the rate was
                # measured on this run's own build (not the previous build, before dbt ran).
                "baseline_candidate": after_build,
            }
            min_ok, gx, _ = _verdict([r for r in results_gx if _key(r) == "min_rate"], mine)
            drop_ok = True
            if not b["in_baseline"]:
                drop_ok, gx_drop, _ = _verdict([r for r in results_gx if _key(r) == "baseline"], mine)
                gx = gx + gx_drop
            passed = min_ok and drop_ok
            if drop_ok and not min_ok:
                severity = "warn"  # the absolute threshold only warns, in and after the baseline period
            # A drop of a few records on a small book is not an engine regression: on 13
            # records one orphan campaign is 7.7 points, and blocking it withheld the very
            # exceptions it raised (a tryout). Below min_records_drop records it warns.
            few = None
            if not drop_ok:
                lost = round((b["baseline"] - rate) * int(row["engine_records"]))
                if lost < s["min_records_drop"]:
                    few, severity = lost, "warn"
            description, hint = _match_rate_message(
                name,
                {**s, "severity": severity} if few is not None else s,
                rate,
                b,
                min_ok,
                drop_ok,
                by_operator,
                float(row["match_rate"]),
                checked_at,
            )
            if few is not None:
                description += (
                    f" The drop is about {few} of {int(row['engine_records'])} record(s), fewer than "
                    f"match_rate.reconciliations.{name}.min_records_drop ({s['min_records_drop']:g}): it warns and "
                    "does not block; the exception list shows those records."
                )
                metadata["records_dropped"] = few
            metadata.update(
                status="baseline" if b["in_baseline"] else "checked",
                match_rate=rate,
                records=int(row["records"]),
                operator_records=by_operator,
                engine_records=int(row["engine_records"]),
                all_records_match_rate=round(float(row["match_rate"]), 6),
                **{state: int(row[state]) for state in RECORD_STATES},
                below_min_rate=not min_ok,
                expectations=gx,
            )
            if b["in_baseline"]:
                metadata["baseline_run"] = len(b["prior"]) + 1
            else:
                metadata.update(
                    fail_below=b["fail_below"],
                    drop=round(b["baseline"] - rate, 6),
                    initial_baseline=round(float(statistics.median(b["prior"][: s["baseline_runs"]])), 6),
                )
            if hint:
                metadata["hint"] = hint
        results.append(
            CheckResult(f"match_rate_{name}", RECORDS_ASSET, severity, passed, metadata, description=description)
        )
    return results, observed


def _baseline_rates(history: Sequence[Mapping[str, Any]], name: str, side: str, since: datetime | None) -> list[float]:
    """Rates of earlier runs that set the baseline of ``name`` on ``side``, oldest first.

    A run counts when no gate blocked it and its rate was measured on its own build, with
    records on that side, and (with ``baseline_since``) when it ran at or after that time.
    """
    found = []
    for run in history:
        seen = (run["observations"].get("match_rates") or {}).get(name) or {}
        if not run["passed"] or not seen.get("baseline_candidate") or seen.get("side") != side:
            continue
        if since is not None and run["checked_at"] < since:
            continue
        found.append(float(seen["match_rate"]))
    return found


def _fmt_rate(value: float) -> str:
    """0.41, 0.90, 0.905: two decimals unless a third one matters."""
    text = f"{value:.3f}"
    return text[:-1] if text.endswith("0") else text


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _match_rate_message(
    name: str,
    s: Mapping[str, Any],
    rate: float,
    b: Mapping[str, Any],
    min_ok: bool,
    drop_ok: bool,
    by_operator: int = 0,
    all_records_rate: float | None = None,
    checked_at: datetime | None = None,
) -> tuple[str, str]:
    """What the check found, in words, and what to change if it is not a problem (or is)."""
    where = f"match_rate.reconciliations.{name}"
    head = f"match rate {_fmt_rate(rate)} of {s['side']} records for {name}"
    if by_operator:
        head = (
            f"engine's {head} ({by_operator} record{'s' if by_operator != 1 else ''} an operator matched or "
            f"unmatched by hand left out; {_fmt_rate(all_records_rate if all_records_rate is not None else rate)} "
            "counting them)"
        )
    window = f"median of the last {len(b['window'])} passing run{'s' if len(b['window']) != 1 else ''}"
    min_hint = (
        f"if this rate is expected for your data, set {where}.min_rate in config/quality.yml "
        f"(now {_fmt_rate(s['min_rate'])}) to {_fmt_rate(math.floor(rate * 100) / 100)} or lower, or {RETRAIN_HINT}."
    )
    below_min = f"below min_rate {_fmt_rate(s['min_rate'])}"
    if b["in_baseline"]:
        run = f"baseline run {len(b['prior']) + 1} of {s['baseline_runs']}"
        if not min_ok:
            return (
                f"{run}: {head}; {below_min} — warning only while the baseline is being set. {_sentence(min_hint)}",
                min_hint,
            )
        return (
            f"{run}: {head}; min_rate {_fmt_rate(s['min_rate'])} met. After {s['baseline_runs']} runs, a drop of "
            f"more than {s['max_drop']:g} below the baseline fails.",
            "",
        )
    verb = "blocks" if s["severity"] == "error" else "warns"
    base = f"baseline {_fmt_rate(b['baseline'])} ({window})"
    if not drop_ok:
        # This run's time, not its date: a date alone keeps the runs earlier that day (this
        # one included) in the baseline, and the next run blocks again (a tryout on day one).
        since = (
            f"'{checked_at.replace(microsecond=0).isoformat()}' (this run's time; a date alone keeps "
            "earlier runs of that day in the baseline)"
            if checked_at is not None
            else "the current time (YYYY-MM-DDTHH:MM:SS, UTC)"
        )
        hint = (
            f"find what changed in the engine's own decisions (a source's export format, a rule or weight change; "
            f"operators' matches and unmatches are not counted: {by_operator} record{'s' if by_operator != 1 else ''} "
            f"here), or {RETRAIN_HINT}. "
            f"If the lower rate is expected from now on, set "
            f"{where}.baseline_since in config/quality.yml to {since}: the next {s['baseline_runs']} runs "
            f"set a new baseline and only warn. To allow wider swings, raise {where}.max_drop (now {s['max_drop']:g})."
        )
        return (
            f"{head} is {_fmt_rate(b['baseline'] - rate)} below its {base}; {verb} below "
            f"{_fmt_rate(b['fail_below'])} (max_drop {s['max_drop']:g}). {_sentence(hint)}",
            hint,
        )
    within = f"{head}; {base}; {verb} below {_fmt_rate(b['fail_below'])} (max_drop {s['max_drop']:g})"
    if not min_ok:
        return f"{within}; {below_min} — warning only. {_sentence(min_hint)}", min_hint
    return f"{within}; min_rate {_fmt_rate(s['min_rate'])} met.", ""
