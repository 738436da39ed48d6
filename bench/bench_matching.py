"""Benchmark the matching engine end to end: generate, ingest, dbt build, then engine statistics.

Why: the matching engine (macros/engine/) has targets — at most 50 candidate pairs
per open record, at least 1M scored pairs/s on 2 cores, a deterministic pass at most 2x
slower than a hand-written join — and this script is how docs/benchmarks.md was measured.

    .venv/bin/python bench/bench_matching.py --orders 100000
    .venv/bin/python bench/bench_matching.py --orders 1000000 --json /tmp/bench-1m.json
    .venv/bin/python bench/bench_matching.py --orders 1000000 --home /tmp/b1m --keep   # keep data
    .venv/bin/python bench/bench_matching.py --orders 1000000 --home /tmp/b1m --reuse  # dbt build only

What it does, all against a scratch RECON_HOME (never the project's .recon/):

1. generate (orchestration.lab.generate), ingest (orchestration.ingest) and ``dbt build``, each
   in its own child process, so each stage's peak RSS is its own: wall time, CPU time and
   ru_maxrss from ``os.wait4`` on that child. DuckDB runs inside the dbt process, so the
   dbt peak is dbt + DuckDB. During the build RSS and the size of DuckDB's spill directory
   are sampled from /proc every 0.5 s, to attribute memory to the models running then.
   dbt writes its target (run_results.json, manifest, compiled SQL) and logs under the
   scratch home (``--target-path``/``--log-path``), so concurrent dbt runs in the project
   cannot overwrite them.
2. per-node execution times from run_results.json, grouped by layer (manifest fqn).
3. per reconciliation in dbt_project.yml ``vars.reconciliations``, from the warehouse
   (read-only): pairs, deterministic and scored pairs, records in the scored pass, candidate
   pairs per open right record — as stored (after the per-record cap) and as generated
   (before the cap, by re-running the compiled pairs SQL up to its ``candidate_pairs`` CTE,
   aggregated in SQL) — and pairs per second of the pairs model.
4. orders_invoices only: a hand-written deterministic join vs the engine's compiled SQL cut
   after its ``deterministic_pairs`` CTE, both run in one read-only connection (temp tables
   work on a read-only DuckDB connection), best of 5, interleaved.

Nothing is materialised in Python: every statistic is one SQL aggregate, so ``--orders
10000000`` needs only disk (about 14 GB of landing files plus the warehouse).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from orchestration import settings  # noqa: E402
from orchestration.warehouse import open_reader  # noqa: E402

PROJECT_DIR = settings.PROJECT_DIR
MARKER = ".recon-bench-matching"
LAYERS = ("staging", "intermediate", "marts", "seeds", "tests")


# --------------------------------------------------------------------------- child stages


def _stage_main(args: argparse.Namespace) -> int:
    """Run one stage in this (child) process and write what it produced as JSON."""
    home = Path(args.home).resolve()
    settings.use_home(home)
    out: dict = {}
    if args.stage == "generate" and args.dialect != "a":
        # The held-out generators (never tuned on): measured, not tuned against.
        module = importlib.import_module(f"orchestration.lab.dialect_{args.dialect}")
        summary = module.generate(home, seed=args.seed, orders=args.orders, noise=args.noise)
        files = summary["files"]  # dialect b lists them, dialect c counts them
        out = {
            "rows": summary["rows"],
            "files": len(files) if isinstance(files, list) else files,
            "seconds_reported": summary["seconds"],
        }
    elif args.stage == "generate":
        from orchestration.lab.generate import generate

        result = generate(home, seed=args.seed, orders=args.orders, noise=args.noise)
        out = {
            "rows": result.rows,
            "bad_rows": result.bad_rows,
            "files": len(result.files),
            "seconds_reported": result.seconds,
        }
    elif args.stage == "ingest":
        from orchestration import ingest

        report = ingest.ingest_landing(settings.landing_dir(), settings.warehouse_path())
        out = {
            "rows_loaded": report.rows_loaded,
            "rows_quarantined": report.rows_quarantined,
            "rows_loaded_by_table": report.rows_loaded_by_table(),
            "files_loaded": len(report.by_status("loaded")),
            "files_rejected": len(report.by_status("rejected")),
            "files_skipped": len(report.by_status("skipped")),
            "seconds_reported": report.seconds,
        }
    else:
        raise SystemExit(f"unknown stage {args.stage}")
    Path(args.stage_out).write_text(json.dumps(out))
    return 0


class _Sampler(threading.Thread):
    """Sample a process's RSS (from /proc) and a directory's size every `interval` seconds."""

    def __init__(self, pid: int, spill_dir: Path, interval: float = 0.5):
        super().__init__(daemon=True)
        self.pid, self.spill_dir, self.interval = pid, spill_dir, interval
        self.samples: list[tuple[float, int, int]] = []  # (unix time, rss KiB, spill bytes)
        self._stop_event = threading.Event()

    def _rss_kib(self) -> int:
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except (OSError, ValueError):
            pass
        return 0

    def _spill_bytes(self) -> int:
        total = 0
        try:
            with os.scandir(self.spill_dir) as entries:
                for entry in entries:
                    try:
                        total += entry.stat().st_size
                    except OSError:
                        pass
        except OSError:
            pass
        return total

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.samples.append((time.time(), self._rss_kib(), self._spill_bytes()))
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def _machine_busy_s() -> float:
    """CPU seconds the whole machine has spent busy since boot (all processes, all cores)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    # guest time is already counted in user/nice
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _run_child(cmd: list[str], log_path: Path, sample_spill: Path | None = None) -> dict:
    """Run `cmd`, wait for it with wait4 and return wall time, CPU time and its own peak RSS."""
    busy_before = _machine_busy_s()
    started = time.monotonic()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=PROJECT_DIR, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
        sampler = _Sampler(proc.pid, sample_spill) if sample_spill else None
        if sampler:
            sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if sampler:
            sampler.stop()
    wall = time.monotonic() - started
    cpu = usage.ru_utime + usage.ru_stime
    out = {
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        # CPU other processes used meanwhile (this script's sampler included): a benchmark
        # run next to other work on 2 cores is slower, and this says by how much it could be.
        "other_cpu_s": round(max(0.0, _machine_busy_s() - busy_before - cpu), 1),
        # Linux reports ru_maxrss in KiB; this is the child's own peak (os.wait4), not the
        # maximum over all children that RUSAGE_CHILDREN would give.
        "peak_rss_mib": round(usage.ru_maxrss / 1024),
        "exit_code": proc.returncode,
        "log": str(log_path),
    }
    if sampler:
        out["samples"] = sampler.samples
        out["peak_spill_mib"] = round(max((s[2] for s in sampler.samples), default=0) / 2**20)
    return out


def run_stage(stage: str, home: Path, args: argparse.Namespace) -> tuple[dict, dict]:
    stage_out = home / "bench" / f"{stage}.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--stage", stage, "--stage-out", str(stage_out)]
    cmd += ["--home", str(home), "--orders", str(args.orders), "--seed", str(args.seed), "--noise", str(args.noise)]
    cmd += ["--dialect", args.dialect]
    measured = _run_child(cmd, home / "bench" / f"{stage}.log")
    if measured["exit_code"] != 0:
        tail = Path(measured["log"]).read_text().splitlines()[-30:]
        raise SystemExit(f"stage {stage} failed (exit {measured['exit_code']}):\n" + "\n".join(tail))
    return measured, json.loads(stage_out.read_text())


def dbt_command(home: Path, *args: str) -> list[str]:
    """The dbt invocation of pipeline._dbt, with target and logs under the scratch home."""
    exe = Path(sys.executable).with_name("dbt")
    return [
        str(exe) if exe.exists() else "dbt",
        *args,
        "--project-dir",
        str(PROJECT_DIR),
        "--target-path",
        str(home / "target"),
        "--log-path",
        str(home / "logs"),
    ]


# --------------------------------------------------------------------------- dbt artifacts


def _parse_ts(value: str | None) -> float | None:
    if not value:
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).replace(tzinfo=dt.UTC).timestamp()


def node_times(target: Path, samples: list) -> dict:
    """Execution time of every node of run_results.json, with its layer and the RSS seen meanwhile."""
    run_results = json.loads((target / "run_results.json").read_text())
    manifest = json.loads((target / "manifest.json").read_text())
    nodes = {**manifest.get("nodes", {}), **manifest.get("unit_tests", {})}
    out = []
    for result in run_results["results"]:
        uid = result["unique_id"]
        node = nodes.get(uid, {})
        kind = uid.split(".", 1)[0]
        if kind == "model":
            fqn = node.get("fqn", [])
            layer = fqn[1] if len(fqn) > 2 and fqn[1] in LAYERS else "other"
        elif kind == "seed":
            layer = "seeds"
        elif kind in ("test", "unit_test"):
            layer = "tests"
        else:
            layer = "other"
        execute = next((t for t in result.get("timing", []) if t.get("name") == "execute"), {})
        start, end = _parse_ts(execute.get("started_at")), _parse_ts(execute.get("completed_at"))
        window = [s for s in samples if start is not None and end is not None and start <= s[0] <= end]
        before = [s for s in samples if start is not None and s[0] <= start]
        out.append(
            {
                "unique_id": uid,
                "name": node.get("name", uid.split(".")[-1]),
                "kind": kind,
                "layer": layer,
                "status": result.get("status"),
                "execution_time_s": round(result.get("execution_time") or 0.0, 3),
                "peak_rss_mib_during": round(max(s[1] for s in window) / 1024) if window else None,
                "rss_mib_at_start": round(before[-1][1] / 1024) if before else None,
                "peak_spill_mib_during": round(max(s[2] for s in window) / 2**20) if window else None,
                "message": result.get("message") if result.get("status") not in ("success", "pass") else None,
            }
        )
    layers = {}
    for layer in (*LAYERS, "other"):
        members = [n for n in out if n["layer"] == layer]
        if members:
            layers[layer] = {
                "nodes": len(members),
                "total_s": round(sum(n["execution_time_s"] for n in members), 2),
                "max_s": max(n["execution_time_s"] for n in members),
                "not_ok": sum(n["status"] not in ("success", "pass") for n in members),
            }
    return {"elapsed_s": round(run_results.get("elapsed_time") or 0.0, 2), "layers": layers, "nodes": out}


# --------------------------------------------------------------------------- SQL helpers


def _code_mask(sql: str) -> list[bool]:
    """For each character: True when it is SQL code (not inside a comment, string or quoted name)."""
    mask = [True] * len(sql)
    i, n = 0, len(sql)
    while i < n:
        two = sql[i : i + 2]
        if two == "--":
            end = sql.find("\n", i)
            end = n if end == -1 else end
        elif two == "/*":
            end = sql.find("*/", i + 2)
            end = n if end == -1 else end + 2
        elif sql[i] in "'\"":
            quote, end = sql[i], i + 1
            while end < n:
                if sql[end] == quote:
                    if end + 1 < n and sql[end + 1] == quote:  # doubled quote
                        end += 2
                        continue
                    end += 1
                    break
                end += 1
        else:
            i += 1
            continue
        for j in range(i, end):
            mask[j] = False
        i = end
    return mask


def cte_prefix(sql: str, cte: str) -> str:
    """The SQL text from its leading WITH up to and including the closing parenthesis of CTE `cte`.

    Fails loudly unless the SQL starts with WITH and defines `cte` exactly once, outside
    comments and strings, with balanced parentheses.
    """
    mask = _code_mask(sql)
    code = "".join(c if m else " " for c, m in zip(sql, mask, strict=True))
    if not code.lstrip().lower().startswith("with"):
        raise RuntimeError("compiled SQL does not start with WITH: the engine's shape changed")
    found = [m for m in re.finditer(rf"(?<![\w.\"]){re.escape(cte)}\s+as\s*\(", code, re.IGNORECASE)]
    if len(found) != 1:
        raise RuntimeError(f"expected exactly one definition of CTE {cte!r} in the compiled SQL, found {len(found)}")
    depth = 0
    for pos in range(found[0].end() - 1, len(code)):
        if code[pos] == "(":
            depth += 1
        elif code[pos] == ")":
            depth -= 1
            if depth == 0:
                return sql[: pos + 1]
    raise RuntimeError(f"unbalanced parentheses after CTE {cte!r} in the compiled SQL")


def top_level_ctes(sql: str) -> list[tuple[str, str]]:
    """The CTEs of a WITH query in order, as (name, body without its parentheses)."""
    mask = _code_mask(sql)
    code = "".join(c if m else " " for c, m in zip(sql, mask, strict=True))
    start = code.lower().find("with")
    if start == -1 or code[:start].strip():
        raise RuntimeError("compiled SQL does not start with WITH: the engine's shape changed")
    ctes, pos = [], start + 4
    pattern = re.compile(r"\s*,?\s*([A-Za-z_][\w]*)\s+as\s*\(", re.IGNORECASE)
    while True:
        found = pattern.match(code, pos)
        if not found:
            return ctes
        depth, open_at = 0, found.end() - 1
        for end in range(open_at, len(code)):
            depth += {"(": 1, ")": -1}.get(code[end], 0)
            if depth == 0:
                break
        else:
            raise RuntimeError(f"unbalanced parentheses after CTE {found.group(1)!r}")
        ctes.append((found.group(1), sql[open_at + 1 : end]))
        pos = end + 1


def scoring_step(con, sql: str) -> dict:
    """Time the probabilistic pass's scoring alone: comparisons and weights over the candidates.

    Every CTE up to ``candidate_pairs`` is first materialized as a temp table (records,
    deterministic passes, blocking), then the ``compared`` and ``scored`` CTEs run over
    them: joining each candidate to its two records and FX rates, computing every
    comparison level, and looking up and summing the weights.
    """
    ctes = top_level_ctes(sql)
    names = [name for name, _ in ctes]
    if "candidate_pairs" not in names or "scored" not in names:
        raise RuntimeError("the compiled pairs SQL has no candidate_pairs / scored CTE: the engine's shape changed")
    cut = names.index("candidate_pairs") + 1
    for name, body in ctes[:cut]:
        con.execute(f"create or replace temp table {name} as {body}")
    tail = ",\n".join(f"{name} as ({body})" for name, body in ctes[cut:] if name in ("weights", "compared", "scored"))
    before = [name for name, _ in ctes[:cut]]
    pairs = con.execute("select count(*), count(*) filter (where pass_name is null) from candidate_pairs").fetchone()
    seconds, rows = _timed(
        con,
        f"with {tail} select count(*), sum(match_weight) from scored",
    )
    for name in reversed(before):
        con.execute(f"drop table if exists {name}")
    return {
        "candidate_pairs": pairs[0],
        "blocked_pairs": pairs[1],
        "scored_rows": rows[0][0],
        "seconds": round(seconds, 3),
        "pairs_per_s": round(pairs[0] / seconds) if seconds else None,
    }


def compiled_pairs_sql(target: Path, name: str) -> str:
    """The SQL dbt ran for model int_<name>__pairs in this build (run_results.json, else the manifest)."""
    model = f"int_{name}__pairs"
    for result in json.loads((target / "run_results.json").read_text())["results"]:
        if result["unique_id"].startswith("model.") and result["unique_id"].endswith(f".{model}"):
            if result.get("compiled_code"):
                return result["compiled_code"]
    for node in json.loads((target / "manifest.json").read_text())["nodes"].values():
        if node["resource_type"] == "model" and node["name"] == model and node.get("compiled_path"):
            path = Path(node["compiled_path"])
            path = path if path.is_absolute() else PROJECT_DIR / path
            if path.exists():
                return path.read_text()
    raise RuntimeError(f"no compiled SQL of {model} in {target}: did dbt build it?")


def _timed(con, sql: str) -> tuple[float, list]:
    started = time.perf_counter()
    rows = con.execute(sql).fetchall()
    return time.perf_counter() - started, rows


def _one(con, sql: str) -> dict:
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    row = cur.fetchone()
    return {k: float(v) if isinstance(v, Decimal) else v for k, v in zip(names, row, strict=True)}


def _distribution(con, sql_counts: str) -> dict:
    """mean / p50 / p95 / max / count of column `n` of `sql_counts` (one row per record)."""
    return _one(
        con,
        f"""
        select
            count(*) as records,
            round(avg(n), 2) as mean,
            quantile_disc(n, 0.5) as p50,
            quantile_disc(n, 0.95) as p95,
            max(n) as max,
            count(*) filter (where n > 50) as over_50
        from ({sql_counts}) as per_record
        """,
    )


# --------------------------------------------------------------------------- engine statistics


def reconciliation_stats(con, target: Path, name: str, pairs_seconds: float | None, isolated: bool) -> dict:
    table = f"intermediate.int_{name}__pairs"
    out: dict = {"name": name, "pairs_model_s": pairs_seconds}
    out.update(
        _one(
            con,
            f"""
            select
                count(*) as pairs,
                count(*) filter (where is_deterministic) as deterministic_pairs,
                count(*) filter (where not is_deterministic) as scored_pairs,
                count(distinct right_key) filter (where not is_deterministic) as right_records_scored,
                count(distinct left_key) filter (where not is_deterministic) as left_records_scored,
                count(distinct right_key) filter (where is_deterministic) as right_records_deterministic,
                count(distinct left_key) filter (where is_deterministic) as left_records_deterministic
            from {table}
            """,
        )
    )
    # As stored: after the cap of max_candidates_per_record per right record.
    stored = f"select {{side}}_key, count(*) as n from {table} where not is_deterministic group by all"
    out["stored_per_right"] = _distribution(con, stored.format(side="right"))
    out["stored_per_left"] = _distribution(con, stored.format(side="left"))
    try:
        out["decisions"] = {
            row[0]: row[1]
            for row in con.execute(
                f"select decision, count(*) from intermediate.int_{name}__decisions group by all order by all"
            ).fetchall()
        }
    except Exception as exc:  # noqa: BLE001 - a missing model is reported, not fatal
        out["decisions"] = f"n/a: {exc}"
    # As generated: the blocked candidates before the cap, from the compiled model SQL.
    try:
        sql = compiled_pairs_sql(target, name)
        prefix = cte_prefix(sql, "candidate_pairs")
        seconds, rows = _timed(
            con,
            f"""{prefix},
            per_right as (
                select right_key, count(*) as n from candidate_pairs where pass_name is null group by all
            )
            select
                (select count(*) from open_right) as open_right_records,
                (select count(*) from open_left) as open_left_records,
                (select count(*) from candidate_pairs where pass_name is null) as generated_pairs,
                (select count(*) from per_right) as right_records_with_candidates
            """,
        )
        generated = dict(
            zip(
                ("open_right_records", "open_left_records", "generated_pairs", "right_records_with_candidates"),
                rows[0],
                strict=True,
            )
        )
        generated["query_s"] = round(seconds, 2)
        per = "select {side}_key, count(*) as n from candidate_pairs where pass_name is null group by all"
        generated["per_right"] = _distribution(con, f"{prefix} {per.format(side='right')}")
        generated["per_left"] = _distribution(con, f"{prefix} {per.format(side='left')}")
        out["generated"] = generated
    except Exception as exc:  # noqa: BLE001 - report why, keep the other numbers
        out["generated"] = f"n/a: {exc}"
    if pairs_seconds:
        out["scored_pairs_per_s"] = round(out["scored_pairs"] / pairs_seconds)
        out["all_pairs_per_s"] = round(out["pairs"] / pairs_seconds)
        if isinstance(out["generated"], dict):
            out["generated_pairs_per_s"] = round(out["generated"]["generated_pairs"] / pairs_seconds)
    if isolated:
        # In dbt the model shares 2 cores with whatever model the other dbt thread runs;
        # re-run the same compiled SQL alone (into a temp table, dropped at once).
        try:
            sql = compiled_pairs_sql(target, name)
            seconds, _ = _timed(con, f"create or replace temp table bench_pairs_isolated as {sql}")
            con.execute("drop table bench_pairs_isolated")
            out["pairs_isolated_s"] = round(seconds, 2)
            out["scored_pairs_per_s_isolated"] = round(out["scored_pairs"] / seconds)
            out["all_pairs_per_s_isolated"] = round(out["pairs"] / seconds)
        except Exception as exc:  # noqa: BLE001
            out["pairs_isolated_s"] = f"n/a: {exc}"
    try:
        out["scoring_step"] = scoring_step(con, compiled_pairs_sql(target, name))
    except Exception as exc:  # noqa: BLE001 - report why, keep the other numbers
        out["scoring_step"] = f"n/a: {exc}"
    return out


# The floor: the keyed reconciliation of orders_invoices written by hand, as one would for
# this data alone: the six deterministic passes of macros/specs/spec__orders_invoices.sql
# (references read exactly, by OCR or as bare digits, each confirmed by the client or the
# amount; then an unreferenced item to the only order of its client that it bills to the
# cent, whole or as a month or instalment; then to initials or an abbreviation), over the
# same two models the engine reads. Derived values (initials, name words, the months of a
# service period) are computed once per record, and one join serves the three reference
# passes. Operator links aside (a benchmark home has none), deterministic_ratio checks that it
# makes exactly the engine's pairs and pass priorities; when a spec change makes them differ,
# this query must follow it.
_STOP_WORDS = "('and', 'of', 'the', 'llp', 'lp', 'group', 'holdings', '')"
HAND_EQUIVALENT = f"""
create or replace temp table bench_hand_deterministic as
with l as (
    select
        cast(order_id as varchar) as k, order_reference_key as rk, client_name_compared as nm,
        client_id as cid, currency as cur, booked_amount as amt,
        service_start_date as d0, service_end_date as d1,
        case when client_name_compared like '% %' then nullif(array_to_string(list_transform(
            list_filter(string_split(client_name_compared, ' '), lambda w: w not in {_STOP_WORDS}),
            lambda w: left(w, 1)), ''), '')
        end as initials,
        list_filter(string_split(client_name_compared, ' '), lambda w: w not in {_STOP_WORDS}) as words,
        case when service_end_date >= service_start_date
            then date_diff('month', service_start_date, service_end_date + 1) end as months
    from intermediate.int_orders_resolved
    -- Orders cancelled or not: the engine's reference passes see both. (An unknown
    -- is_cancelled is neither, as in the engine.)
    where not is_cancelled or is_cancelled
),
r as (
    select
        cast(billing_item_id as varchar) as k, reference_normalised as rk, reference_kind as kind,
        client_name_compared as nm, client_id_resolved as cid, currency as cur,
        net_amount as amt, primary_net_amount as amt1, issue_date as d, invoice_item_count as n,
        regexp_replace(lower(client_name_compared), '[^a-z]', '', 'g') as letters,
        list_filter(string_split(client_name_compared, ' '), lambda w: w not in {_STOP_WORDS}) as words
    from intermediate.int_invoice_billing_items
),
ref as (
    select l.k as left_key, r.k as right_key,
        case r.kind when 'exact' then 1 when 'ocr' then 2 else 3 end as p
    from l join r on l.rk = r.rk
    where r.kind in ('exact', 'ocr', 'digits')
      and case when r.kind = 'digits' then
            (coalesce(jaro_winkler_similarity(l.nm, r.nm) >= 0.8, false)
             or coalesce(length(r.letters) between 2 and 5 and r.letters = l.initials, false)
             or coalesce(l.cid = r.cid, false))
            and l.cur = r.cur
            and (abs(l.amt - r.amt) <= greatest(1.0, 0.02 * abs(l.amt))
                 or (r.amt <= l.amt and r.amt >= 0.05 * l.amt))
          else
            coalesce(jaro_winkler_similarity(l.nm, r.nm) >= 0.8, false)
             or coalesce(length(r.letters) between 2 and 5 and r.letters = l.initials, false)
             or coalesce(l.cid = r.cid, false)
             or (l.cur = r.cur and abs(l.amt - r.amt) <= greatest(1.0, 0.02 * abs(l.amt)))
          end
),
gap4 as (
    select l.k as left_key, r.k as right_key, l.cur, l.amt, l.months, r.amt as ramt, r.amt1,
        case when r.d < l.d0 then date_diff('day', l.d0, r.d)
             when r.d > l.d1 then date_diff('day', l.d1, r.d) else 0 end as gap, r.n
    from l join r on l.cid = r.cid and l.cur = r.cur
    where r.rk is null
),
p4 as (
    select left_key, right_key, 4 as p from gap4
    where gap between -45 and 180
      and (abs(amt - ramt) <= greatest(0.05, 0.0005 * abs(amt))
        or (months >= 2 and abs(cast(amt as decimal(38, 4)) / months - ramt) <= 0.05)
        or (ramt > 0 and round(amt / ramt) between 2 and 12
            and abs(cast(amt as decimal(38, 4)) / round(amt / ramt) - ramt) <= 0.05)
        or abs(amt - amt1) <= greatest(0.05, 0.0005 * abs(amt))
        or (months >= 2 and abs(cast(amt as decimal(38, 4)) / months - amt1) <= 0.05))
    qualify count(*) over (partition by right_key) = 1
),
p5 as (
    select left_key, right_key, 5 as p from gap4
    where n >= 2 and gap between -45 and 240
      and (abs(amt - ramt) <= greatest(0.05, 0.0005 * abs(amt))
        or abs(amt - amt1) <= greatest(0.05, 0.0005 * abs(amt)))
      and not exists (select 1 from ref where ref.left_key = gap4.left_key)
      and not exists (select 1 from p4 where p4.left_key = gap4.left_key)
    qualify count(*) over (partition by right_key) = 1
),
p6 as (
    select l.k as left_key, r.k as right_key, 6 as p
    from l join r on l.amt = r.amt and l.cur = r.cur
    where r.rk is null and r.cid is null
      and (coalesce(length(r.letters) between 2 and 5 and r.letters = l.initials, false)
        or coalesce(list_bool_or(list_transform(r.words, lambda w: length(w) = 1))
            and list_bool_or(list_transform(r.words, lambda w: length(w) >= 2))
            and len(r.words) = len(l.words)
            and list_bool_and(list_transform(list_zip(r.words, l.words),
                lambda x: x[1] = x[2] or (length(x[1]) = 1 and x[1] = left(x[2], 1)))), false))
      and case when r.d < l.d0 then date_diff('day', l.d0, r.d)
               when r.d > l.d1 then date_diff('day', l.d1, r.d) else 0 end between -45 and 75
    qualify count(*) over (partition by right_key) = 1
)
select left_key, right_key, min(p) as pass_priority
from (select * from ref union all select * from p4 union all select * from p5 union all select * from p6)
group by left_key, right_key
"""

HAND_BARE = """
create or replace temp table bench_hand_bare as
select orders.order_id as left_key, items.billing_item_id as right_key
from staging.stg_crm__orders as orders
inner join intermediate.int_invoice_billing_items as items
    on orders.order_ref_normalised = items.reference_normalised
where not orders.is_cancelled
"""


def deterministic_ratio(con, target: Path, repeats: int = 5) -> dict:
    """Hand-written deterministic join vs the engine's deterministic CTEs (orders_invoices), best of `repeats`."""
    prefix = cte_prefix(compiled_pairs_sql(target, "orders_invoices"), "deterministic_pairs")
    variants = {
        "hand_equivalent_temp_table": HAND_EQUIVALENT,
        "hand_bare_join_temp_table": HAND_BARE,
        "engine_count": f"{prefix}\nselect count(*) from deterministic_pairs",
        "engine_temp_table": f"create or replace temp table bench_engine_deterministic as {prefix}\n"
        "select * from deterministic_pairs",
    }
    runs: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(repeats):  # interleaved, so caches favour no variant
        for key, sql in variants.items():
            runs[key].append(_timed(con, sql)[0])
    out = {k: round(min(v), 3) for k, v in runs.items()}
    out["all_runs_s"] = {k: [round(x, 3) for x in v] for k, v in runs.items()}
    out.update(
        _one(
            con,
            """
            select
                (select count(*) from bench_hand_deterministic) as hand_pairs,
                (select count(*) from bench_hand_bare) as bare_join_pairs,
                (select count(*) from bench_engine_deterministic) as engine_pairs,
                (select count(*) from (
                    select left_key, right_key, pass_priority from bench_engine_deterministic
                    except
                    select left_key, right_key, pass_priority from bench_hand_deterministic
                )) as engine_not_in_hand,
                (select count(*) from (
                    select left_key, right_key, pass_priority from bench_hand_deterministic
                    except
                    select left_key, right_key, pass_priority from bench_engine_deterministic
                )) as hand_not_in_engine
            """,
        )
    )
    out["ratio_temp_table"] = round(out["engine_temp_table"] / out["hand_equivalent_temp_table"], 2)
    out["ratio_count"] = round(out["engine_count"] / out["hand_equivalent_temp_table"], 2)
    out["ratio_vs_bare_join"] = round(out["engine_temp_table"] / out["hand_bare_join_temp_table"], 2)
    return out


# --------------------------------------------------------------------------- report


def _fmt(value, spec: str = ",") -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return format(value, spec)


def render(report: dict) -> str:
    lines = []
    w = lines.append
    w(
        f"== matching benchmark: {report['orders']:,} orders, dialect {report.get('dialect', 'a')}, "
        f"seed {report['seed']}, noise {report['noise']} =="
    )
    w(f"machine: {report['machine']['cpus']} cpus, {report['machine']['mem_gib']} GiB, python {report['python']}")
    code = report.get("code", {})
    dirty = len(code.get("dirty", []))
    changed = " (code changed during the build)" if code.get("changed_during_build") else ""
    w(f"code: {code.get('head')} + {dirty} uncommitted model/macro files{changed}, duckdb {report['duckdb']}")
    w("")
    w(f"{'stage':<12}{'wall s':>10}{'cpu s':>10}{'peak RSS MiB':>14}{'peak spill MiB':>16}{'other procs cpu s':>19}")
    for stage, m in report["stages"].items():
        if isinstance(m, dict) and m.get("reused"):
            stage = f"{stage}*"
        if isinstance(m, dict):
            w(
                f"{stage:<12}{m['wall_s']:>10.1f}{m['cpu_s']:>10.1f}{m['peak_rss_mib']:>14,}"
                f"{_fmt(m.get('peak_spill_mib')):>16}{_fmt(m.get('other_cpu_s')):>19}"
            )
        else:
            w(f"{stage:<12}{m}")
    if any(isinstance(m, dict) and m.get("reused") for m in report["stages"].values()):
        w("* measured by the earlier run that made this data (--reuse)")
    data = report.get("data", {})
    if data.get("raw_rows"):
        w("")
        w("raw rows (written by the generator / loaded by ingest):")
        for table, n in data["raw_rows"].items():
            w(f"  {table:<28}{n:>13,}{_fmt(data.get('raw_loaded', {}).get(table)):>13}")
        w(f"  quarantined rows {_fmt(data.get('rows_quarantined'))}; warehouse {_fmt(data.get('warehouse_mib'))} MiB")
    if data.get("model_rows"):
        w("  " + ", ".join(f"{k} {_fmt(v)}" for k, v in data["model_rows"].items()))
    nodes = report.get("dbt")
    if nodes:
        w("")
        w(f"dbt build: run_results elapsed {nodes['elapsed_s']:.1f} s (2 dbt threads: node times overlap)")
        w(f"{'layer':<14}{'nodes':>7}{'sum s':>10}{'max s':>10}{'not ok':>8}")
        for layer, agg in nodes["layers"].items():
            w(f"{layer:<14}{agg['nodes']:>7}{agg['total_s']:>10.1f}{agg['max_s']:>10.1f}{agg['not_ok']:>8}")
        w("")
        w(f"{'model':<44}{'layer':<14}{'s':>9}{'rows':>13}{'RSS MiB':>9}{'spill':>7}")
        models = [n for n in nodes["nodes"] if n["kind"] in ("model", "seed")]
        for n in sorted(models, key=lambda n: (LAYERS.index(n["layer"]) if n["layer"] in LAYERS else 9, n["name"])):
            w(
                f"{n['name']:<44}{n['layer']:<14}{n['execution_time_s']:>9.2f}{_fmt(n.get('rows')):>13}"
                f"{_fmt(n['peak_rss_mib_during']):>9}{_fmt(n['peak_spill_mib_during']):>7}"
            )
        slow_tests = sorted((n for n in nodes["nodes"] if n["layer"] == "tests"), key=lambda n: -n["execution_time_s"])
        w("slowest tests: " + ", ".join(f"{n['name']} {n['execution_time_s']:.1f}s" for n in slow_tests[:5]))
        failed = [n for n in nodes["nodes"] if n["status"] not in ("success", "pass")]
        for n in failed:
            w(f"  NOT OK {n['status']}: {n['name']}: {(n['message'] or '')[:300]}")
    for rec in report.get("reconciliations", []):
        w("")
        w(f"-- reconciliation {rec['name']} (pairs model {_fmt(rec.get('pairs_model_s'), '.2f')} s) --")
        if "error" in rec:
            w(f"  n/a: {rec['error']}")
            continue
        w(
            f"  pairs {rec['pairs']:,}: deterministic {rec['deterministic_pairs']:,}, scored {rec['scored_pairs']:,}"
            f"; scored pass: {rec['right_records_scored']:,} right and {rec['left_records_scored']:,} left records"
        )
        w(f"  decisions: {rec.get('decisions')}")
        gen = rec.get("generated")
        if isinstance(gen, dict):
            w(
                f"  open records: right {gen['open_right_records']:,} ({gen['right_records_with_candidates']:,} with"
                f" candidates), left {gen['open_left_records']:,}; candidates generated {gen['generated_pairs']:,}"
                f" (query {gen['query_s']:.1f} s)"
            )
        else:
            w(f"  generated candidates: {gen}")
        w(f"  {'candidates per record':<36}{'records':>11}{'mean':>9}{'p50':>7}{'p95':>7}{'max':>8}{'>50':>9}")
        rows = [("stored, per open right (target <=50)", rec["stored_per_right"])]
        rows.append(("stored, per open left", rec["stored_per_left"]))
        if isinstance(gen, dict):
            rows.append(("generated (pre-cap), per right", gen["per_right"]))
            rows.append(("generated (pre-cap), per left", gen["per_left"]))
        for label, d in rows:
            w(
                f"  {label:<36}{d['records']:>11,}{_fmt(d['mean'], ',.2f'):>9}{_fmt(d['p50']):>7}{_fmt(d['p95']):>7}"
                f"{_fmt(d['max']):>8}{_fmt(d['over_50']):>9}"
            )
        if isinstance(rec.get("pairs_isolated_s"), float):
            w(
                f"  pairs SQL re-run alone: {rec['pairs_isolated_s']:.2f} s, scored pairs/s"
                f" {rec['scored_pairs_per_s_isolated']:,}, all pairs/s {rec['all_pairs_per_s_isolated']:,}"
            )
        elif rec.get("pairs_isolated_s"):
            w(f"  pairs SQL re-run alone: {rec['pairs_isolated_s']}")
        step = rec.get("scoring_step")
        if isinstance(step, dict):
            w(
                f"  scoring step alone (compare + weigh {step['candidate_pairs']:,} candidate pairs, of them"
                f" {step['blocked_pairs']:,} blocked): {step['seconds']:.2f} s = {step['pairs_per_s']:,} pairs/s"
                " (target >= 1,000,000)"
            )
        elif step:
            w(f"  scoring step alone: {step}")
        if rec.get("scored_pairs_per_s") is not None:
            w(
                f"  scored pairs/s {rec['scored_pairs_per_s']:,} (target >= 1,000,000); all pairs/s"
                f" {rec['all_pairs_per_s']:,}; generated (pre-cap) pairs/s {_fmt(rec.get('generated_pairs_per_s'))}"
            )
    det = report.get("deterministic_ratio")
    if det:
        w("")
        w("-- deterministic pass, orders_invoices (best of 5, one read-only connection) --")
        if isinstance(det, str):
            w(f"  n/a: {det}")
        else:
            w(f"  hand-written, the same six passes, temp table            {det['hand_equivalent_temp_table']:.3f} s")
            w(f"  hand-written, bare join, temp table                        {det['hand_bare_join_temp_table']:.3f} s")
            w(f"  engine deterministic CTEs, temp table                      {det['engine_temp_table']:.3f} s")
            w(f"  engine deterministic CTEs, count(*)                        {det['engine_count']:.3f} s")
            w(
                f"  ratio engine/hand: {det['ratio_temp_table']}x (temp table), {det['ratio_count']}x (count),"
                f" {det['ratio_vs_bare_join']}x vs bare join (target <= 1.5x)"
            )
            w(
                f"  pairs: engine {det['engine_pairs']:,}, hand {det['hand_pairs']:,} (differ: "
                f"{det['engine_not_in_hand']} / {det['hand_not_in_engine']}), bare join {det['bare_join_pairs']:,}"
            )
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def _prepare_home(home: Path, reuse: bool, args: argparse.Namespace) -> bool:
    """Create or clean the scratch home; return True when generate + ingest can be skipped."""
    default_home = (PROJECT_DIR / ".recon").resolve()
    if home == default_home or default_home in home.parents or home == PROJECT_DIR or PROJECT_DIR in home.parents:
        raise SystemExit(f"refusing to use {home}: benchmarks never run inside the project or its RECON_HOME")
    marker = home / MARKER
    wanted = {"orders": args.orders, "seed": args.seed, "noise": args.noise, "dialect": args.dialect}
    if reuse and marker.exists() and json.loads(marker.read_text()) == wanted:
        if (home / "warehouse.duckdb").exists():
            return True
    if home.exists() and any(home.iterdir()):
        if not marker.exists():
            raise SystemExit(f"{home} is not empty and was not made by this script: pick another --home")
        shutil.rmtree(home)
    home.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(wanted))
    return False


def _code_state() -> dict:
    """The commit benchmarked and the uncommitted files that change what dbt builds (read-only git)."""

    def git(*args: str) -> str:
        cmd = ["git", "--no-optional-locks", "-C", str(PROJECT_DIR), *args]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        return result.stdout.strip() if result.returncode == 0 else ""

    dirty = [line[3:] for line in git("status", "--porcelain").splitlines()]
    relevant = ("macros/", "models/", "seeds/", "tests/", "dbt_project.yml")
    return {"head": git("rev-parse", "--short", "HEAD"), "dirty": [p for p in dirty if p.startswith(relevant)]}


def _dir_mib(path: Path) -> int:
    return round(sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20) if path.exists() else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000, help="orders to generate (default 100 000)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--noise", type=float, default=1.0)
    parser.add_argument(
        "--dialect", choices=("a", "b", "c"), default="a", help="generator: a (tuned on), b or c (held out; default a)"
    )
    parser.add_argument("--home", help="scratch RECON_HOME (default: a new directory under /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch home (data, warehouse, dbt target)")
    parser.add_argument("--reuse", action="store_true", help="skip generate + ingest if --home holds the same data")
    parser.add_argument("--json", help="also write the report as JSON to this path")
    parser.add_argument(
        "--no-isolated",
        dest="isolated",
        action="store_false",
        help="do not re-run each pairs model alone after the build (saves its time again)",
    )
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("--stage-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stage:
        return _stage_main(args)
    args.keep = args.keep or args.reuse  # reusing data only makes sense if it stays

    import duckdb
    import yaml

    home = Path(args.home or tempfile.mkdtemp(prefix="recon-bench-matching-", dir="/tmp")).resolve()
    reused = _prepare_home(home, args.reuse, args)
    (home / "bench").mkdir(exist_ok=True)
    settings.use_home(home)  # RECON_HOME, RECON_DUCKDB_PATH, DAGSTER_HOME, DBT_PROFILES_DIR, no telemetry
    warehouse = settings.warehouse_path()
    report: dict = {
        "orders": args.orders,
        "seed": args.seed,
        "noise": args.noise,
        "dialect": args.dialect,
        "home": str(home),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "machine": {
            "cpus": os.cpu_count(),
            "mem_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        },
        "stages": {},
        "data": {},
    }
    exit_code = 0
    try:
        if reused:
            # The data of an earlier run in this home: report that run's stage measurements.
            made = home / "bench" / "data_stages.json"
            previous = json.loads(made.read_text()) if made.exists() else {"stages": {}, "data": {}}
            report["stages"].update({k: {**v, "reused": True} for k, v in previous["stages"].items()})
            report["data"].update(previous["data"])
        else:
            print(f"[bench] generating {args.orders:,} orders into {home}", flush=True)
            measured, produced = run_stage("generate", home, args)
            report["stages"]["generate"] = measured
            report["data"]["raw_rows"] = produced["rows"]
            report["data"]["landing_mib"] = _dir_mib(home / "landing")
            print(f"[bench] generate {measured['wall_s']:.1f}s; ingesting", flush=True)
            measured, produced = run_stage("ingest", home, args)
            report["stages"]["ingest"] = measured
            report["data"]["raw_loaded"] = produced["rows_loaded_by_table"]
            report["data"]["rows_quarantined"] = produced["rows_quarantined"]
            report["data"]["files_rejected"] = produced["files_rejected"]
            print(f"[bench] ingest {measured['wall_s']:.1f}s; dbt build", flush=True)

            made = {"stages": report["stages"], "data": report["data"]}
            (home / "bench" / "data_stages.json").write_text(json.dumps(made))

        target = home / "target"
        shutil.rmtree(target, ignore_errors=True)
        report["code"] = _code_state()  # what dbt is about to parse (others may be committing meanwhile)
        measured = _run_child(dbt_command(home, "build"), home / "bench" / "dbt_build.log", Path(f"{warehouse}.tmp"))
        samples = measured.pop("samples", [])
        report["stages"]["dbt_build"] = measured
        if _code_state() != report["code"]:
            report["code"]["changed_during_build"] = True  # dbt parsed at its start: see the compiled SQL
        print(f"[bench] dbt build {measured['wall_s']:.1f}s (exit {measured['exit_code']})", flush=True)
        if measured["exit_code"] != 0:
            exit_code = 1
            print("\n".join(Path(measured["log"]).read_text().splitlines()[-25:]), flush=True)
        if (target / "run_results.json").exists():
            # Keep a copy beside the report: the artifacts of this build, whatever runs next.
            for artifact in ("run_results.json", "manifest.json"):
                shutil.copy2(target / artifact, home / "bench" / artifact)
            report["dbt"] = node_times(target, samples)
        report["data"]["warehouse_mib"] = round(warehouse.stat().st_size / 2**20) if warehouse.exists() else None

        analysis_started, analysis_busy = time.monotonic(), _machine_busy_s()
        self_cpu = resource.getrusage(resource.RUSAGE_SELF)
        self_cpu_before = self_cpu.ru_utime + self_cpu.ru_stime
        names = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())["vars"]["reconciliations"]
        model_time = {n["name"]: n["execution_time_s"] for n in report.get("dbt", {}).get("nodes", [])}
        con = open_reader(warehouse)
        try:
            # Row counts of the tables dbt built, from DuckDB's catalog (views have none).
            sizes = dict(con.execute("select table_name, estimated_size from duckdb_tables()").fetchall())
            for node in report.get("dbt", {}).get("nodes", []):
                if node["kind"] in ("model", "seed"):
                    node["rows"] = sizes.get(node["name"])
            report["data"]["model_rows"] = {}
            for relation in ("staging.stg_crm__orders", "intermediate.int_invoice_billing_items"):
                try:
                    count = con.execute(f"select count(*) from {relation}").fetchone()[0]
                    report["data"]["model_rows"][relation] = count
                except duckdb.Error as exc:
                    report["data"]["model_rows"][relation] = f"n/a: {exc}"
            report["reconciliations"] = []
            for name in names:
                print(f"[bench] statistics of {name}", flush=True)
                try:
                    report["reconciliations"].append(
                        reconciliation_stats(con, target, name, model_time.get(f"int_{name}__pairs"), args.isolated)
                    )
                except Exception as exc:  # noqa: BLE001 - one broken reconciliation must not hide the others
                    report["reconciliations"].append({"name": name, "error": str(exc)})
                    exit_code = 1
            if "orders_invoices" in names:
                print("[bench] deterministic pass: hand-written vs engine", flush=True)
                try:
                    report["deterministic_ratio"] = deterministic_ratio(con, target)
                except Exception as exc:  # noqa: BLE001
                    report["deterministic_ratio"] = f"{type(exc).__name__}: {exc}"
                    exit_code = 1
        finally:
            con.close()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu = usage.ru_utime + usage.ru_stime - self_cpu_before
        report["stages"]["analysis"] = {
            "wall_s": round(time.monotonic() - analysis_started, 2),
            "cpu_s": round(cpu, 2),
            "peak_rss_mib": round(usage.ru_maxrss / 1024),  # this process: its DuckDB queries
            "other_cpu_s": round(max(0.0, _machine_busy_s() - analysis_busy - cpu), 1),
        }
    finally:
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=2, default=str))
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)
    print()
    print(render(report))
    if args.json:
        print(f"\nJSON: {args.json}")
    if args.keep:
        print(f"kept: {home}")
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
