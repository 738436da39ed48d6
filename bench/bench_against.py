"""Measure the orders <-> invoices matching against datacompy (keyed pass) and Splink (scored pass).

Why: docs/benchmarks.md times the engine against a hand-written DuckDB "floor" query; this
says how it stands against the two tools a team would otherwise reach for, on the same
records, in one run on one machine.

    .venv/bin/python bench/bench_matching.py --orders 100000 --home /tmp/b100k --keep
    .venv/bin/python bench/bench_against.py --home /tmp/b100k --json /tmp/b100k-against.json

It reads a home that bench_matching.py built (``--keep``): the warehouse (read-only), the
build's run_results.json and compiled SQL, and the generator's ground truth. Needs the
``bench`` extra (Splink, datacompy: ``make bench`` installs it).

1. **Keyed pass vs datacompy.** The orders and billing items that carry a resolved order
   reference (the engine's ``left_records`` / ``right_records`` as compiled, reference_key
   not null) are loaded from DuckDB into pandas and compared by ``datacompy.PandasCompare``
   joined on the reference key, on client name, client id, currency and amount (the
   amount within 1.00 + 2 %, the confirmation tolerance of the reference passes). Timed
   against the engine's deterministic CTEs and the hand-written floor query of
   bench_matching.py (best of 5, interleaved), in the same read-only connection.
2. **Scored pass vs Splink.** The records the scored pass sees (``open_left`` /
   ``open_right``: what no deterministic pass paired) are linked by Splink 5 on DuckDB
   (``link_only``), with comparison levels written from the spec's own comparisons (same
   fields, functions and thresholds) and prediction blocking rules written from the spec's
   blocking keys and date window. Splink is trained without labels: u by random sampling,
   m by EM on two blocking rules (client name; currency + rounded amount); the prior is
   one true order per open item (1 / open orders). Its pairs are then decided at
   match probability 0.5 with each item keeping its best order (an item bills at most one
   order, as the spec's assignment says), scored against the ground truth, and the best F1
   over all thresholds is reported as a label-aware upper bound. The engine's own scored
   pass (its probabilistic and group decisions) is scored on the same records and the
   same truth, and timed alone: the pairs model's CTEs after the deterministic pairs, and
   the decisions model, re-run from the build's compiled SQL.

Precision / recall are at invoice level (billing_item_id = invoice_id#reference, as
``recon evaluate``): the true (order, invoice) links whose order and invoice are open in
the scored pass, less links the deterministic passes already made.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_matching as bm  # noqa: E402

from orchestration import settings  # noqa: E402
from orchestration.lab.evaluate import read_links  # noqa: E402
from orchestration.specs import load_spec  # noqa: E402
from orchestration.warehouse import open_reader  # noqa: E402

NAME = "orders_invoices"
PAIRS_MODEL = f"int_{NAME}__pairs"
DECISIONS_MODEL = f"int_{NAME}__decisions"
# Splink sorts its two input tables by name: the orders must be the left ("_l") side.
SPLINK_LEFT, SPLINK_RIGHT = "left_orders", "right_items"


def bench_extra_missing() -> str | None:
    """Why the comparison cannot run here (a package of the ``bench`` extra is missing), else None."""
    for module in ("splink", "datacompy"):
        try:
            __import__(module)
        except ImportError as exc:
            return f"{module} is not installed ({exc}): install the bench extra (make bench)"
    return None


# --------------------------------------------------------------------------- measuring


@contextmanager
def measured(out: dict, key: str):
    """Wall seconds of the block, CPU seconds of this process, and CPU other processes used meanwhile."""
    busy, started = bm._machine_busy_s(), time.perf_counter()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = usage.ru_utime + usage.ru_stime
    yield
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime - cpu_before
    out[key] = {
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 2),
        "other_cpu_s": round(max(0.0, bm._machine_busy_s() - busy - cpu), 1),
    }


def compiled_model_sql(target: Path, model: str) -> str:
    """The SQL dbt ran for `model` in the build (run_results.json)."""
    for result in json.loads((target / "run_results.json").read_text())["results"]:
        if result["unique_id"].startswith("model.") and result["unique_id"].endswith(f".{model}"):
            if result.get("compiled_code"):
                return result["compiled_code"]
    raise RuntimeError(f"no compiled SQL of {model} in {target}/run_results.json: did dbt build it?")


def model_times(target: Path) -> dict[str, float]:
    """Execution seconds of every node of the build, by name."""
    results = json.loads((target / "run_results.json").read_text())["results"]
    return {r["unique_id"].split(".")[-1]: round(r.get("execution_time") or 0.0, 3) for r in results}


def split_final(sql: str) -> tuple[list[tuple[str, str]], str]:
    """A compiled model's CTEs and the select after them."""
    ctes = bm.top_level_ctes(sql)
    prefix = bm.cte_prefix(sql, ctes[-1][0])
    return ctes, sql[len(prefix) :]


def _best(runs: list[float]) -> float:
    return round(min(runs), 3)


# --------------------------------------------------------------------------- 1. keyed pass


def keyed_inputs_sql(pairs_sql: str) -> tuple[str, str]:
    """The records of the reference passes as the engine reads them, with a resolved reference."""
    prefix = bm.cte_prefix(pairs_sql, "right_records")
    columns = "reference_key, name, client_id, currency, amount"
    left = f"{prefix}\nselect left_key, {columns} from left_records where reference_key is not null"
    right = f"{prefix}\nselect right_key, {columns} from right_records where reference_key is not null"
    return left, right


def keyed_against_datacompy(con, target: Path, repeats: int) -> dict:
    import datacompy

    out: dict = {"datacompy": datacompy.__version__}
    left_sql, right_sql = keyed_inputs_sql(compiled_model_sql(target, PAIRS_MODEL))
    loads, compares = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        orders = con.execute(left_sql).df()
        items = con.execute(right_sql).df()
        loads.append(time.perf_counter() - started)
        started = time.perf_counter()
        compare = datacompy.PandasCompare(
            orders,
            items,
            join_columns="reference_key",
            abs_tol={"amount": 1.0, "default": 0.0},
            rel_tol={"amount": 0.02, "default": 0.0},
            df1_name="orders",
            df2_name="items",
        )
        compares.append(time.perf_counter() - started)
    stats = {s["column"]: s for s in compare.column_stats}
    out.update(
        {
            "orders_with_reference": len(orders),
            "items_with_reference": len(items),
            "rows_joined": len(compare.intersect_rows),
            "orders_only": len(compare.df1_unq_rows),
            "items_only": len(compare.df2_unq_rows),
            "rows_all_columns_equal": int(compare.count_matching_rows()),
            "unequal": {c: int(stats[c]["unequal_cnt"]) for c in ("name", "client_id", "currency", "amount")},
            "load_s": _best(loads),
            "compare_s": _best(compares),
            "load_runs_s": [round(x, 3) for x in loads],
            "compare_runs_s": [round(x, 3) for x in compares],
        }
    )
    out["total_s"] = round(out["load_s"] + out["compare_s"], 3)
    return out


# --------------------------------------------------------------------------- 2. scored pass, ours


def engine_scored_alone(con, target: Path) -> dict:
    """The compiled pairs model cut into its passes, each part re-run alone, then the decisions model.

    The deterministic CTEs are materialised first, then the records they left open; then
    the blocking of those (into ``candidate_pairs``, the blocked pairs only); then comparing, weighing,
    ranking and capping those pairs (in the model the deterministic pairs are compared and
    weighed too, for their score components: left out here, as Splink never sees them).
    """
    ctes, final = split_final(compiled_model_sql(target, PAIRS_MODEL))
    names = [name for name, _ in ctes]
    bodies = dict(ctes)
    deterministic = names[: names.index("deterministic_pairs") + 1]
    open_records = [n for n in ("left_remaining", "open_left", "open_right") if n in bodies]
    blocking = [n for n in names[len(deterministic) : names.index("candidate_pairs")] if n not in open_records]
    scoring = names[names.index("candidate_pairs") + 1 :]
    materialised = [*deterministic, *open_records, "candidate_pairs"]
    out: dict = {}

    def materialise(parts: list[str]) -> float:
        started = time.perf_counter()
        for name in parts:
            con.execute(f"create or replace temp table {name} as {bodies[name]}")
        return round(time.perf_counter() - started, 3)

    try:
        out["deterministic_s"] = materialise(deterministic)
        # The records no pass paired: Splink is handed these ready-made, so they are timed apart.
        out["open_records_s"] = materialise(open_records)
        with_blocking = ",\n".join(f"{name} as ({bodies[name]})" for name in blocking)
        started = time.perf_counter()
        con.execute(
            f"create or replace temp table candidate_pairs as with {with_blocking}\n"
            f"select * from ({bodies['candidate_pairs']}) as candidates where pass_name is null"
        )
        out["blocking_s"] = round(time.perf_counter() - started, 3)
        out["blocked_pairs"] = con.execute("select count(*) from candidate_pairs").fetchall()[0][0]
        with_scoring = ",\n".join(f"{name} as ({bodies[name]})" for name in scoring)
        started = time.perf_counter()
        con.execute(f"create or replace temp table bench_scored_pairs as with {with_scoring}\n{final}")
        out["scoring_s"] = round(time.perf_counter() - started, 3)
        out["scored_pairs_kept"] = con.execute("select count(*) from bench_scored_pairs").fetchall()[0][0]
    finally:
        for name in ["bench_scored_pairs", *reversed(materialised)]:
            con.execute(f"drop table if exists {name}")
    # The whole decisions model (assignment of the deterministic and the scored pairs, groups).
    started = time.perf_counter()
    con.execute(f"create or replace temp table bench_decisions as {compiled_model_sql(target, DECISIONS_MODEL)}")
    out["decisions_s"] = round(time.perf_counter() - started, 3)
    con.execute("drop table bench_decisions")
    out["blocking_scoring_s"] = round(out["blocking_s"] + out["scoring_s"], 3)
    out["scored_pass_s"] = round(out["blocking_scoring_s"] + out["decisions_s"], 3)
    return out


def ours_train(warehouse: Path) -> dict:
    """`recon train` for this reconciliation (EM on the level patterns of the built pairs, no labels)."""
    from orchestration.rules.train import train

    started = time.perf_counter()
    result = train(warehouse, [NAME])[0]
    return {"train_s": round(time.perf_counter() - started, 3), "prior": round(result.model.prior, 4)}


def open_records_sql(pairs_sql: str) -> tuple[str, str]:
    """The records the scored pass sees, as Splink will: one schema for both sides."""
    prefix = bm.cte_prefix(pairs_sql, "open_right")
    fx = '"warehouse"."intermediate"."int_fx_rates_monthly"'
    left = f"""{prefix}
    select
        open_left.left_key as unique_id, open_left.reference, open_left.name, open_left.currency,
        cast(open_left.amount as double) as amount, cast(left_records.amount as double) as amount_whole,
        open_left.date, open_left.date_end, cast(fx.rate_to_usd as double) as fx_usd
    from open_left
    inner join left_records on open_left.left_key = left_records.left_key
    left join {fx} as fx
        on open_left.currency = fx.currency and date_trunc('month', open_left.date) = fx.rate_month
    """
    right = f"""{prefix}
    select
        open_right.right_key as unique_id, open_right.reference, open_right.name, open_right.currency,
        cast(open_right.amount as double) as amount, cast(open_right.amount as double) as amount_whole,
        open_right.date, open_right.date as date_end, cast(fx.rate_to_usd as double) as fx_usd
    from open_right
    left join {fx} as fx
        on open_right.currency = fx.currency and date_trunc('month', open_right.date) = fx.rate_month
    """
    return left, right


# --------------------------------------------------------------------------- 2. scored pass, Splink


def _num(value) -> str:
    """A number of the spec as SQL text (Splink takes its comparison levels as SQL, without parameters)."""
    number = float(value)
    return repr(int(number)) if number.is_integer() else repr(number)


def date_gap_sql(left_date: str, left_end: str, right_date: str) -> str:
    """Days from the left record's service period to the right date (0 inside it), as recon_date_gap."""
    return (
        f"case when {right_date} < {left_date} then date_diff('day', {left_date}, {right_date})"
        f" when {right_date} > {left_end} then date_diff('day', {left_end}, {right_date}) else 0 end"
    )


def splink_comparisons(spec: dict) -> list:
    """Splink comparisons with the levels of the spec's comparisons (same functions and thresholds)."""
    import splink.comparison_library as cl

    comparisons = []
    for comparison in spec["comparisons"]:
        field, method = comparison["field"], comparison["method"]
        unsupported = set(comparison) - {"field", "method", "levels", "same_family", "monotone"}
        if unsupported:
            raise NotImplementedError(f"comparison {field}: options {sorted(unsupported)} have no Splink level here")
        left, right = f"{field}_l", f"{field}_r"
        if method == "amount":
            # The left amount in the right record's currency (the engine converts at the rates
            # of the right record's month; here each record carries its own month's rate).
            left = "(case when currency_l = currency_r then amount_l else amount_l * fx_usd_l / fx_usd_r end)"
            whole = (
                "(case when currency_l = currency_r then amount_whole_l else amount_whole_l * fx_usd_l / fx_usd_r end)"
            )
        null_sql = f"{left} is null or {right} is null"
        if comparison.get("same_family"):
            family_l, family_r = f"split_part({left}, ':', 1)", f"split_part({right}, ':', 1)"
            null_sql += f" or ({family_l} != '' and {family_r} != '' and {family_l} != {family_r})"
        levels: list[dict] = [{"sql_condition": null_sql, "label_for_charts": "null", "is_null_level": True}]
        for level in comparison["levels"][:-1]:
            if method == "exact":
                condition = f"{left} = {right}"
            elif method == "edit_distance":
                condition = f"damerau_levenshtein({left}, {right}) <= {_num(level['max'])}"
            elif method == "similarity":
                condition = f"jaro_winkler_similarity({left}, {right}) >= {_num(level['min'])}"
            elif method == "days_between" and field == "date":
                gap = date_gap_sql("date_l", "date_end_l", "date_r")
                condition = f"({gap}) between {_num(level['min'])} and {_num(level['max'])}"
            elif method == "amount" and level.get("per_month"):
                months = "date_diff('month', date_l, date_end_l + 1)"
                condition = (
                    f"date_end_l >= date_l and {months} >= 2 and abs({whole} / {months} - {right})"
                    f" <= {_num(level['abs'])} + {_num(level['rel'])} * abs({right})"
                )
            elif method == "amount" and "rel_min" in level:
                condition = f"{right} between {_num(level['rel_min'])} * {left} and {_num(level['rel_max'])} * {left}"
            elif method == "amount":
                condition = f"abs({left} - {right}) <= {_num(level['abs'])} + {_num(level['rel'])} * abs({left})"
            else:
                raise NotImplementedError(f"comparison {field}: method {method} has no Splink level here")
            levels.append({"sql_condition": condition, "label_for_charts": level["name"]})
        levels.append({"sql_condition": "ELSE", "label_for_charts": comparison["levels"][-1]["name"]})
        comparisons.append(cl.CustomComparison(comparison_levels=levels, output_column_name=field))
    return comparisons


def blocking_key_sql(block: dict) -> tuple[str, list]:
    """One blocking key of the spec as a SQL expression on the record (recon_blocking_key), with its parameters."""
    value, params = block["field"], []
    if block["method"] == "exact":
        expr = value
    elif block["method"] == "prefix":
        expr, params = f"substr({value}, 1, ?)", [int(block["length"])]
    elif block["method"] == "suffix":
        expr, params = f"right({value}, ?)", [int(block["length"])]
    elif block["method"] == "first_words":
        pattern = "(?i)^[^ ]+" + "( [^ ]+)?" * (int(block["count"]) - 1)
        expr, params = f"nullif(regexp_extract({value}, ?, 0), '')", [pattern]
    elif block["method"] == "amount_rounded":
        expr = f"currency || ':' || cast(round({value}, 0) as varchar)"
    else:
        raise NotImplementedError(f"blocking method {block['method']}")
    for extra in reversed(block.get("also", [])):
        expr = f"{extra} || '|' || {expr}"
    return expr, params


def _copy(lab, table: str, arrow_table) -> None:
    """Arrow data (read from the warehouse) as a table of the lab database."""
    lab.register("bench_arrow", arrow_table)
    lab.execute(f"create or replace table {table} as select * from bench_arrow")
    lab.unregister("bench_arrow")


def load_splink_inputs(con, lab, target: Path, spec: dict) -> dict:
    """Copy the open records (with the spec's blocking keys) into the lab database Splink works in."""
    left_sql, right_sql = open_records_sql(compiled_model_sql(target, PAIRS_MODEL))
    keys = [blocking_key_sql(block) for block in spec["blocking"]["keys"]]
    key_columns = ", ".join(f"{expr} as bk_{i}" for i, (expr, _) in enumerate(keys))
    key_params = [p for _, params in keys for p in params]
    for table, sql in ((SPLINK_LEFT, left_sql), (SPLINK_RIGHT, right_sql)):
        _copy(lab, "bench_records", con.sql(sql).to_arrow_table())
        lab.execute(f"create or replace table {table} as select *, {key_columns} from bench_records", key_params)
        lab.execute("drop table bench_records")
    return {
        "open_left": lab.execute(f"select count(*) from {SPLINK_LEFT}").fetchall()[0][0],
        "open_right": lab.execute(f"select count(*) from {SPLINK_RIGHT}").fetchall()[0][0],
        "blocking_keys": len(keys),
    }


def splink_link(lab, spec: dict, u_pairs: float, em_pairs: float | None, seed: int) -> dict:
    """Train Splink without labels and score the blocked pairs; the scores go to table splink_pairs."""
    import logging

    import splink
    from splink import DuckDBAPI, Linker, SettingsCreator

    window = spec["blocking"]["window_days"]
    gap = date_gap_sql("l.date", "l.date_end", "r.date")
    rules = [
        f"l.bk_{i} = r.bk_{i} and ({gap}) between {_num(window['min'])} and {_num(window['max'])}"
        for i in range(len(spec["blocking"]["keys"]))
    ]
    n_left = lab.execute(f"select count(*) from {SPLINK_LEFT}").fetchall()[0][0]
    settings_obj = SettingsCreator(
        link_type="link_only",
        comparisons=splink_comparisons(spec),
        blocking_rules_to_generate_predictions=rules,
        # No labels: each open item bills one open order (an upper bound: some are orphans).
        probability_two_random_records_match=1.0 / max(n_left, 1),
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )
    db_api = DuckDBAPI(connection=lab)
    inputs = [
        db_api.register(SPLINK_LEFT, dataset_display_name=SPLINK_LEFT),
        db_api.register(SPLINK_RIGHT, dataset_display_name=SPLINK_RIGHT),
    ]
    out: dict = {"splink": splink.__version__, "prediction_rules": len(rules), "prior": round(1.0 / max(n_left, 1), 8)}
    linker = Linker(inputs, settings_obj, log_level=logging.WARNING)
    em_rules = [
        "l.name = r.name",  # estimates reference, amount, date, currency
        "l.currency = r.currency and round(l.amount, 0) = round(r.amount, 0)",  # name, reference, date
    ]
    started = time.perf_counter()
    linker.training.estimate_u_using_random_sampling(max_pairs=u_pairs, seed=seed)
    out["u_s"] = round(time.perf_counter() - started, 3)
    out["em_failed"] = {}
    for rule in em_rules:
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(rule, max_pairs=em_pairs)
        except ValueError as exc:
            # Splink 5 refuses an m that EM drove to exactly 0 (seen on a few hundred records):
            # the session is lost, the linker keeps what earlier sessions estimated.
            out["em_failed"][rule] = str(exc).splitlines()[0]
    out["train_s"] = round(time.perf_counter() - started, 3)
    out["em_s"] = round(out["train_s"] - out["u_s"], 3)
    started = time.perf_counter()
    predictions = linker.inference.predict()
    lab.execute(
        f"""
        create or replace table splink_pairs as
        select unique_id_l as left_key, unique_id_r as right_key, match_probability, source_dataset_l
        from {predictions.physical_name}
        """
    )
    out["predict_s"] = round(time.perf_counter() - started, 3)
    wrong_side = lab.execute("select count(*) from splink_pairs where source_dataset_l != ?", [SPLINK_LEFT]).fetchall()[
        0
    ]
    if wrong_side[0]:
        raise RuntimeError(f"Splink put {wrong_side[0]} items on its left side: the level SQL assumes orders there")
    out["pairs_scored"] = lab.execute("select count(*) from splink_pairs").fetchall()[0][0]
    out["em_rules"] = em_rules
    out["m_u"] = _splink_parameters(linker)
    return out


def _splink_parameters(linker) -> dict:
    """m and u per comparison level as trained (for the report: what EM found without labels)."""
    model = linker.misc.save_model_to_json()
    out = {}
    for comparison in model["comparisons"]:
        levels = {}
        for level in comparison["comparison_levels"]:
            if level.get("is_null_level"):
                continue
            m, u = level.get("m_probability"), level.get("u_probability")
            levels[level.get("label_for_charts", "?")] = {
                "m": None if m is None else round(m, 4),
                "u": None if u is None else round(u, 6),
            }
        out[comparison["output_column_name"]] = levels
    return out


# --------------------------------------------------------------------------- 2. scored pass, quality


def load_truth(lab, con, home: Path, spec: dict) -> None:
    """The true (order, invoice) links the scored pass can make: both open, not made by a deterministic pass."""
    import pyarrow as pa

    links = read_links(home / "ground_truth", NAME, frozenset({"void", "credit_note"}))
    _copy(lab, "truth", pa.table({"order_id": [a for a, _ in links], "invoice_id": [b for _, b in links]}))
    deterministic = con.sql(
        f"""
        select distinct left_key, split_part(right_key, '#', 1) as invoice_id
        from "warehouse"."intermediate"."{PAIRS_MODEL}" where is_deterministic
        """
    ).to_arrow_table()
    _copy(lab, "deterministic_links", deterministic)
    lab.execute(
        f"""
        create or replace table relevant_links as
        select distinct truth.order_id as left_key, truth.invoice_id
        from truth
        where truth.order_id in (select unique_id from {SPLINK_LEFT})
            and truth.invoice_id in (select split_part(unique_id, '#', 1) from {SPLINK_RIGHT})
            and not exists (
                select 1 from deterministic_links as d
                where d.left_key = truth.order_id and d.invoice_id = truth.invoice_id
            )
        """
    )
    # The engine's own scored pass: every decision not made by a deterministic pass.
    deterministic_passes = ["operator", *(p["name"] for p in spec["deterministic"])]
    ours = con.sql(
        f"""
        select left_key, right_key, decision, pass_name
        from "warehouse"."intermediate"."{DECISIONS_MODEL}"
        where pass_name not in (select unnest(?::varchar[]))
        """,
        params=[deterministic_passes],
    ).to_arrow_table()
    _copy(lab, "ours_decisions", ours)
    scored = con.sql(
        f"""
        select left_key, right_key, match_probability
        from "warehouse"."intermediate"."{PAIRS_MODEL}" where not is_deterministic
        """
    ).to_arrow_table()
    _copy(lab, "ours_pairs", scored)


def score_links(lab, predicted_sql: str, params: list | None = None) -> dict:
    """Precision / recall / F1 of predicted (left_key, right_key) pairs against relevant_links, at invoice level."""
    row = lab.execute(
        f"""
        with predicted as (
            select distinct p.left_key, split_part(p.right_key, '#', 1) as invoice_id
            from ({predicted_sql}) as p
            where not exists (
                select 1 from deterministic_links as d
                where d.left_key = p.left_key and d.invoice_id = split_part(p.right_key, '#', 1)
            )
        )
        select
            (select count(*) from predicted),
            (select count(*) from predicted inner join relevant_links using (left_key, invoice_id)),
            (select count(*) from relevant_links)
        """,
        params or [],
    ).fetchall()[0]
    return _prf(*row)


def _prf(predicted: int, correct: int, relevant: int) -> dict:
    precision = correct / predicted if predicted else 1.0
    recall = correct / relevant if relevant else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "predicted": predicted,
        "correct": correct,
        "relevant": relevant,
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
    }


BEST_PER_ITEM = """
    select left_key, right_key, match_probability from {table}
    qualify row_number() over (partition by right_key order by match_probability desc, left_key) = 1
"""


def best_threshold(lab, table: str) -> dict:
    """The threshold on match probability (each item keeping its best order) with the best F1: needs labels."""
    rows = lab.execute(
        f"""
        with best as ({BEST_PER_ITEM.format(table=table)}),
        predicted as (
            select b.left_key, split_part(b.right_key, '#', 1) as invoice_id, max(b.match_probability) as p
            from best as b
            where not exists (
                select 1 from deterministic_links as d
                where d.left_key = b.left_key and d.invoice_id = split_part(b.right_key, '#', 1)
            )
            group by all
        ),
        labelled as (
            select p, cast(r.left_key is not null as integer) as is_true
            from predicted left join relevant_links as r using (left_key, invoice_id)
        ),
        cumulative as (
            select distinct
                p,
                sum(is_true) over (order by p desc range between unbounded preceding and current row) as correct,
                count(*) over (order by p desc range between unbounded preceding and current row) as predicted
            from labelled
        )
        select p, predicted, correct, (select count(*) from relevant_links) as relevant
        from cumulative
        order by 2.0 * correct / (predicted + (select count(*) from relevant_links)) desc, p desc
        limit 1
        """
    ).fetchall()
    if not rows:
        return {"threshold": None, **_prf(0, 0, lab.execute("select count(*) from relevant_links").fetchall()[0][0])}
    p, predicted, correct, relevant = rows[0]
    return {"threshold": round(p, 6), **_prf(int(predicted), int(correct), int(relevant))}


def quality(lab, review: float) -> dict:
    threshold = [review]
    best_per_item = "select * from ({}) where match_probability >= ?"
    return {
        "relevant_links": lab.execute("select count(*) from relevant_links").fetchall()[0][0],
        "splink_all_pairs_at_review": score_links(
            lab, "select * from splink_pairs where match_probability >= ?", threshold
        ),
        "splink_best_per_item_at_review": score_links(
            lab, best_per_item.format(BEST_PER_ITEM.format(table="splink_pairs")), threshold
        ),
        "splink_best_threshold": best_threshold(lab, "splink_pairs"),
        "ours_matched": score_links(lab, "select * from ours_decisions where decision = 'matched'"),
        "ours_matched_or_suggested": score_links(
            lab, "select * from ours_decisions where decision in ('matched', 'suggested')"
        ),
        "ours_scores_best_per_item_at_review": score_links(
            lab, best_per_item.format(BEST_PER_ITEM.format(table="ours_pairs")), threshold
        ),
        "ours_scores_best_threshold": best_threshold(lab, "ours_pairs"),
        # Blocking written from the spec: the pairs Splink scored that the engine did not, and the reverse.
        "splink_pairs_not_in_ours": lab.execute(
            "select count(*) from (select left_key, right_key from splink_pairs"
            " except select left_key, right_key from ours_pairs)"
        ).fetchall()[0][0],
        "ours_pairs_not_in_splink": lab.execute(
            "select count(*) from (select left_key, right_key from ours_pairs"
            " except select left_key, right_key from splink_pairs)"
        ).fetchall()[0][0],
        "ours_decisions_by_pass": dict(
            lab.execute(
                "select pass_name || ' ' || decision, count(*) from ours_decisions group by all order by all"
            ).fetchall()
        ),
    }


# --------------------------------------------------------------------------- report


def _ratio(a, b):
    return round(a / b, 2) if a and b else None


def ratios(report: dict) -> list[tuple[str, float | None, str]]:
    """(what, ratio of times, the two times): above 1 the first is slower."""
    keyed, scored = report["keyed"], report["scored"]
    floor, dc = keyed["floor"], keyed["datacompy"]
    engine, hand = floor["engine_temp_table"], floor["hand_equivalent_temp_table"]
    ours, splink = scored["ours_alone"], scored["splink"]
    splink_all = splink["train_s"] + splink["predict_s"]
    rows = [
        ("ours deterministic CTEs / floor (the six passes by hand)", engine, hand),
        ("datacompy compare / ours deterministic CTEs", dc["compare_s"], engine),
        ("datacompy load + compare / ours deterministic CTEs", dc["total_s"], engine),
        ("Splink predict / ours blocking + scoring", splink["predict_s"], ours["blocking_scoring_s"]),
        ("Splink train / ours recon train", splink["train_s"], scored["ours_train"]["train_s"]),
        ("Splink train + predict / ours blocking + scoring + decisions", splink_all, ours["scored_pass_s"]),
    ]
    return [(label, _ratio(a, b), f"{a:.3f} s / {b:.3f} s") for label, a, b in rows]


def render(report: dict) -> str:
    lines: list[str] = []
    w = lines.append
    machine, measured_ = report["machine"], report["measured"]
    w(
        f"== against datacompy and Splink: {report['orders']:,} orders"
        f" (dialect {report.get('dialect', 'a')}, seed {report['seed']}, noise {report['noise']}) =="
    )
    w(
        f"machine: {machine['cpus']} cpus, {machine['mem_gib']} GiB; load average {machine['loadavg_start']} at start,"
        f" {machine['loadavg_end']} at end; python {report['python']}, duckdb {report['duckdb']}"
    )
    w(
        "CPU seconds other processes used meanwhile: "
        + ", ".join(f"{k} {v['other_cpu_s']} (in {v['wall_s']:.1f} s)" for k, v in measured_.items())
    )
    keyed, scored = report["keyed"], report["scored"]
    dc, floor = keyed["datacompy"], keyed["floor"]
    w("")
    w(
        f"-- keyed pass: {dc['orders_with_reference']:,} orders and {dc['items_with_reference']:,} billing items"
        " with a resolved reference --"
    )
    w(
        f"  floor: the six passes written by hand        {floor['hand_equivalent_temp_table']:>8.3f} s"
        f" {floor['hand_pairs']:>10,} pairs"
    )
    w(
        f"  ours: engine deterministic CTEs (6 passes)    {floor['engine_temp_table']:>8.3f} s"
        f" {floor['engine_pairs']:>10,} pairs"
    )
    w(f"  ours: {PAIRS_MODEL} in the build {keyed['pairs_model_in_build_s']:>8.2f} s (both passes)")
    w(
        f"  datacompy {dc['datacompy']}: load into pandas {dc['load_s']:.3f} s + compare {dc['compare_s']:.3f} s"
        f" = {dc['total_s']:.3f} s; rows joined {dc['rows_joined']:,}, orders only {dc['orders_only']:,},"
        f" items only {dc['items_only']:,}; unequal {dc['unequal']}"
    )
    sp, ours, q = scored["splink"], scored["ours_alone"], scored["quality"]
    w("")
    w(
        f"-- scored pass: {scored['inputs']['open_left']:,} open orders, {scored['inputs']['open_right']:,} open items,"
        f" {q['relevant_links']:,} true links to find --"
    )
    w(
        f"  ours alone: blocking {ours['blocking_s']:.3f} s + scoring {ours['scoring_s']:.3f} s"
        f" ({ours['blocked_pairs']:,} pairs) + decisions model {ours['decisions_s']:.3f} s"
        f" = {ours['scored_pass_s']:.3f} s (open records before: {ours['open_records_s']:.3f} s);"
        f" recon train {scored['ours_train']['train_s']:.3f} s"
    )
    build = scored["ours_in_build"]
    w(f"  ours in the build: pairs model {build['pairs_s']} s, decisions model {build['decisions_s']} s")
    w(
        f"  Splink {sp['splink']}: train {sp['train_s']:.2f} s (u {sp['u_s']:.2f} s on"
        f" {report['args']['splink_u_pairs']:.0e} random pairs, EM {sp['em_s']:.2f} s on {len(sp['em_rules'])} rules),"
        f" predict {sp['predict_s']:.3f} s ({sp['pairs_scored']:,} pairs; not among ours"
        f" {q['splink_pairs_not_in_ours']:,}, ours not among them {q['ours_pairs_not_in_splink']:,})"
    )
    for rule, reason in sp["em_failed"].items():
        w(f"  Splink EM session on {rule!r} failed: {reason}")
    w(f"  {'':<50}{'predicted':>10}{'precision':>11}{'recall':>9}{'F1':>8}")
    rows = [
        ("ours: matched (p >= 0.95, assignment, groups)", q["ours_matched"]),
        ("ours: matched + suggested (p >= 0.5)", q["ours_matched_or_suggested"]),
        ("ours' scores, p >= 0.5, best per item", q["ours_scores_best_per_item_at_review"]),
        (
            f"ours' scores, best threshold {q['ours_scores_best_threshold']['threshold']} *",
            q["ours_scores_best_threshold"],
        ),
        ("Splink, p >= 0.5, all pairs", q["splink_all_pairs_at_review"]),
        ("Splink, p >= 0.5, best per item", q["splink_best_per_item_at_review"]),
        (f"Splink, best threshold {q['splink_best_threshold']['threshold']} *", q["splink_best_threshold"]),
    ]
    for label, s in rows:
        w(f"  {label:<50}{s['predicted']:>10,}{s['precision']:>11.4f}{s['recall']:>9.4f}{s['f1']:>8.4f}")
    w("  * threshold chosen with the labels: an upper bound, not reachable without them")
    w("")
    w("-- ratios of times (above 1: the first is slower) --")
    for label, value, detail in report["ratios"]:
        w(f"  {label:<62}{bm._fmt(value):>8}x   ({detail})")
    return "\n".join(lines)


def run(home: Path, args: argparse.Namespace) -> dict:
    import duckdb

    settings.use_home(home)
    target = home / "target"
    marker = json.loads((home / bm.MARKER).read_text())
    spec = load_spec(NAME)
    report: dict = {
        **marker,
        "home": str(home),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "machine": {
            "cpus": os.cpu_count(),
            "mem_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
            "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        },
        "args": {
            "repeats": args.repeats,
            "splink_u_pairs": args.splink_u_pairs,
            "splink_em_pairs": args.splink_em_pairs,
        },
        "measured": {},
    }
    times = model_times(target)
    con = open_reader(settings.warehouse_path())
    lab = duckdb.connect()
    try:
        print("[against] keyed pass: datacompy", flush=True)
        with measured(report["measured"], "datacompy"):
            datacompy_out = keyed_against_datacompy(con, target, args.repeats)
        print("[against] keyed pass: engine and floor", flush=True)
        with measured(report["measured"], "floor"):
            floor = bm.deterministic_ratio(con, target)
        report["keyed"] = {"datacompy": datacompy_out, "floor": floor, "pairs_model_in_build_s": times.get(PAIRS_MODEL)}

        print("[against] scored pass: ours alone", flush=True)
        with measured(report["measured"], "ours_scored"):
            ours_alone = engine_scored_alone(con, target)
        with measured(report["measured"], "ours_train"):
            trained = ours_train(settings.warehouse_path())
        print("[against] scored pass: Splink", flush=True)
        with measured(report["measured"], "splink_inputs"):
            inputs = load_splink_inputs(con, lab, target, spec)
            load_truth(lab, con, home, spec)
        with measured(report["measured"], "splink"):
            splink_out = splink_link(lab, spec, args.splink_u_pairs, args.splink_em_pairs, args.seed)
        report["scored"] = {
            "inputs": inputs,
            "ours_alone": ours_alone,
            "ours_train": trained,
            "ours_in_build": {
                "pairs_s": times.get(PAIRS_MODEL),
                "decisions_s": times.get(DECISIONS_MODEL),
                "records_s": times.get(f"int_{NAME}__records"),
            },
            "ours_scored_pairs": lab.execute("select count(*) from ours_pairs").fetchall()[0][0],
            "splink": splink_out,
            "quality": quality(lab, float(spec["thresholds"]["review"])),
        }
    finally:
        lab.close()
        con.close()
    report["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    report["ratios"] = ratios(report)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True, help="a home built by bench_matching.py --keep")
    parser.add_argument("--json", help="also write the report as JSON to this path")
    parser.add_argument("--repeats", type=int, default=3, help="datacompy runs (best is reported; default 3)")
    parser.add_argument("--splink-u-pairs", type=float, default=1e7, help="random pairs for Splink's u (default 1e7)")
    parser.add_argument(
        "--splink-em-pairs", type=float, default=None, help="cap on the pairs of each Splink EM session (default none)"
    )
    parser.add_argument("--seed", type=int, default=42, help="seed of Splink's random sampling")
    args = parser.parse_args(argv)
    missing = bench_extra_missing()
    if missing:
        print(missing, file=sys.stderr)
        return 2
    home = Path(args.home).resolve()
    if not (home / bm.MARKER).exists() or not (home / "target" / "run_results.json").exists():
        print(f"{home} is not a home bench_matching.py built and kept (--keep)", file=sys.stderr)
        return 2
    report = run(home, args)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=str))
    print()
    print(render(report))
    if args.json:
        print(f"\nJSON: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
