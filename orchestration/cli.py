"""``recon``: the command line every operator and scheduler uses.

Commands: generate, ingest, prepare, run, status, query, contract, demo.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

from orchestration import settings
from orchestration.pipeline import (
    build_scratch,
    disk_full_message,
    is_disk_full,
    prepare,
    run_pipeline,
    working_warehouse,
)


def cmd_generate(args: argparse.Namespace) -> int:
    from orchestration.lab import generate

    out = Path(args.out).resolve() if args.out else settings.recon_home()
    if getattr(args, "dialect", "a") == "b":  # held-out data set: never tune on it
        from orchestration.lab import dialect_b

        summary = dialect_b.generate(out, seed=args.seed, orders=args.orders, noise=args.noise)
        print(f"dialect b: {sum(summary['rows'].values()):,} rows under {out / 'landing'} in {summary['seconds']}s")
        return 0
    if getattr(args, "dialect", "a") == "c":  # second held-out data set: never tune on it either
        from orchestration.lab import dialect_c

        summary = dialect_c.generate(out, seed=args.seed, orders=args.orders, noise=args.noise)
        print(f"dialect c: {sum(summary['rows'].values()):,} rows under {out / 'landing'} in {summary['seconds']}s")
        return 0
    result = generate.generate(
        out,
        seed=args.seed,
        orders=args.orders,
        noise=args.noise,
        file_format=args.format,
        chunk_size=args.chunk_size,
        bad_rows=not args.no_bad_rows,
        bad_files=not args.no_bad_files,
    )
    total = sum(result.rows.values())
    print(f"generated {total:,} rows in {len(result.files)} files under {out / 'landing'} in {result.seconds:.1f}s")
    for table, rows in sorted(result.rows.items()):
        print(f"  {table:<28} {rows:>12,}")
    print(f"ground truth: {result.ground_truth_dir}")
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from orchestration import ingest

    settings.apply_environment()
    with working_warehouse("recon ingest"):
        report = ingest.ingest_landing(settings.landing_dir(), settings.warehouse_path())
    for outcome in report.files:
        if args.verbose or outcome.status != "skipped":
            print(ingest.describe(outcome))
    print(
        f"files: {len(report.by_status('loaded'))} loaded, {len(report.by_status('rejected'))} rejected, "
        f"{len(report.by_status('skipped'))} already ingested; rows: {report.rows_loaded:,} loaded, "
        f"{report.rows_quarantined:,} quarantined ({report.seconds:.1f}s)"
    )
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    ok = run_pipeline(verbose=args.verbose)
    print(f"pipeline finished in {time.monotonic() - started:.1f}s")
    if ok and not args.quiet:
        from orchestration import status

        print(status.render_published())
    return 0 if ok else 1


def cmd_dev(args: argparse.Namespace) -> int:
    """Start the Dagster UI with the same environment `recon run` uses."""
    settings.apply_environment()
    prepare(force=True)
    exe = Path(sys.executable).with_name("dagster")
    cmd = [str(exe), "dev", "-m", "orchestration.definitions", "-p", str(args.port)]
    return subprocess.run(cmd, cwd=settings.PROJECT_DIR).returncode


def cmd_simulate(args: argparse.Namespace) -> int:
    from orchestration.lab import simulate

    workdir = Path(args.workdir) if args.workdir else settings.recon_home() / "simulate"
    seeds = range(args.start, args.start + args.seeds)
    report = simulate.simulate(seeds, workdir, orders=args.orders, keep=args.keep, jobs=args.jobs)
    print(simulate.render(report))
    simulate.write_json(report, workdir / "report.json")
    return 0 if not report.failed else 1


def cmd_status(args: argparse.Namespace) -> int:
    from orchestration import status

    settings.apply_environment()
    with status.reader(args.working, "recon status") as (source, con):
        print(status.render(source, con))
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    from orchestration import status

    settings.apply_environment()
    with status.reader(args.working, "recon query") as (source, con):
        print(status.query(con, args.sql, limit=args.limit))
    if args.working:
        print(f"(read the {source.describe()})", file=sys.stderr)
    return 0


def cmd_publication_verify(args: argparse.Namespace) -> int:
    from orchestration import publish

    settings.apply_environment()
    check = publish.verify()
    if check["publication"] is None:
        print(f"nothing is published yet ({publish.serving_path()})", file=sys.stderr)
        return 4
    if check["ok"] is None:
        print(f"publication {check['publication']} has no recorded sha256 (published before hashes were)")
        return 0
    for path, state in check["files"].items():
        print(f"{state:<9} {path}")
    if not check["ok"]:
        print(f"publication {check['publication']}: changed since publication (sha256 {check['recorded']} recorded)")
        return 6
    print(f"publication {check['publication']}: sha256 {check['recorded']} matches")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from orchestration.lab import evaluate, evaluate_exceptions

    settings.apply_environment()
    main_home = settings.recon_home()
    runs = []  # (label, home, ground truth, seed, dialect)
    if args.seeds:
        for dialect in args.dialect:
            for seed in args.seeds:
                home = main_home / "scratch" / f"evaluate-{dialect}-seed-{seed}-noise-{args.noise}"
                truth = build_scratch(home, seed, args.orders, args.noise, dialect=dialect)
                label = f"dialect {dialect}, seed {seed}, {args.orders} orders, noise {args.noise}"
                runs.append((label, home, truth, seed, dialect))
    else:
        truth = Path(args.ground_truth) if args.ground_truth else main_home / "ground_truth"
        runs.append((str(main_home), main_home, truth, None, None))
    for label, home, truth, seed, dialect in runs:
        warehouse = home / "warehouse.duckdb"
        # Without --seeds this reads the working warehouse (matches and records by key).
        with working_warehouse("recon evaluate") if seed is None else contextlib.nullcontext():
            reports = evaluate.evaluate(warehouse, truth)
            billed = evaluate.billed_accuracy_for(warehouse, truth)
            # The leg-state confusion reads dialect A's discrepancy names.
            confusion = evaluate.confusion_for(warehouse, truth) if dialect in ("a", None) else None
            exception_scores = evaluate_exceptions.scores_for(warehouse, truth)
        print(f"== evaluation: {label} ==")
        print(evaluate.render(reports))
        if billed:
            print(
                f"billed amount within 1 % of the truth: {billed['within_tolerance']}/{billed['billed_orders']} "
                f"billed orders = {billed['share']:.4f}"
            )
        if confusion is not None:
            print(evaluate.render_confusion(confusion))
        print("exceptions against the planted discrepancies (published run):")
        print(evaluate_exceptions.render(exception_scores))
        out = Path(args.json) if args.json else home / "evaluation.json"
        if seed is not None and args.json:
            out = out.with_name(f"{out.stem}-{dialect}-seed-{seed}{out.suffix}")
        evaluate.write_json(
            reports, out, confusion, seed=seed, dialect=dialect, orders=args.orders, noise=args.noise,
            billed_amount_accuracy=billed, exceptions=[e.as_dict() for e in exception_scores],
        )  # fmt: skip
        print(f"written: {out}")
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from orchestration.lab import evaluate
    from orchestration.rules import weights

    settings.apply_environment()
    main_home = settings.recon_home()
    names = args.reconciliations or list(evaluate.MAPPINGS)
    counts: dict[str, list] = {name: [] for name in names}
    for seed in args.seeds:
        home = main_home / "scratch" / f"tune-seed-{seed}"
        select = " ".join(f"+int_{name}__pairs" for name in names)
        truth = build_scratch(home, seed, args.orders, args.noise, select=select)
        con = duckdb_readonly(settings.warehouse_path())  # the scratch warehouse of this seed
        try:
            for name in names:
                counts[name].append(evaluate.level_counts(con, name, truth))
        finally:
            con.close()
    for name in names:
        merged = evaluate.merge_counts(counts[name])
        rows = evaluate.weights_rows(name, merged)
        print(f"== {name}: m/u from seeds {', '.join(map(str, args.seeds))} ({args.orders} orders each) ==")
        print(weights.bayes_factor_table(rows))
        print(
            f"prior_match_probability (true share of scored candidates): {evaluate.prior_from_counts(merged):.4f}"
            " — set thresholds.prior_match_probability in the spec to this value"
        )
        if args.write:
            weights.write_weights(name, rows)
            print(f"written: {weights.WEIGHTS_SEED}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """m/u per level and the prior by EM on the candidate pairs of a warehouse: no labels needed."""
    from orchestration.rules import train, weights

    settings.apply_environment()
    warehouses = [Path(w) for w in args.warehouse] if args.warehouse else [settings.warehouse_path()]
    try:
        with working_warehouse("recon train"):  # it reads the candidate pairs, which only the warehouse has
            results = train.train(warehouses, args.reconciliations, anchors=args.anchors)
    except train.TrainError as exc:
        print(f"recon train: {exc}", file=sys.stderr)
        return 2
    for result in results:
        print(train.render(result))
        if args.write:
            weights.write_weights(result.name, result.rows, weights.WEIGHTS_SEED)
            spec = f"macros/specs/spec__{result.name}.sql"
            prior = f"set thresholds.prior_match_probability in {spec} to {result.model.prior:.4f}"
            print(f"written: {weights.WEIGHTS_SEED}; {result.model.note or prior}")
    return 0


def duckdb_readonly(path: Path):
    from orchestration.warehouse import open_reader

    return open_reader(path)


def _store():
    from orchestration import actions

    settings.apply_environment()
    return actions.ActionStore()


def _requested_operator(args: argparse.Namespace) -> str | None:
    """Who to act as: --as, else RECON_USER (a default for --as, not an identity), else the login's own operator.

    Whoever is named, the store checks that the OS login may act as them.
    """
    return args.actor or os.environ.get("RECON_USER") or None


def cmd_exceptions_list(args: argparse.Namespace) -> int:
    from orchestration import status

    rows = _store().list_exceptions(
        team=args.team,
        owner=args.owner,
        status=args.status,
        severity=args.severity,
        exception_type=args.type,
        overdue=args.overdue,
        include_retired=args.all,
    )
    if args.json:
        print(json.dumps(rows[: args.limit], indent=2, default=str))
        return 0
    if args.ids:
        print("\n".join(r["exception_id"] for r in rows[: args.limit]))
        return 0
    table = [
        (
            r["exception_id"][:8],
            r["exception_type"],
            r["owner_team"],
            r["status"],
            r["claimed_by"] or "",
            r["severity"],
            r["sla_due_at"][:16].replace("T", " "),
            f"yes, to {r['escalated_to']}" if r["is_overdue"] else "",
            f"{Decimal(r['amount_at_risk_reporting'] or 0):,.2f}",
            r["record_id"],
        )
        for r in rows[: args.limit]
    ]
    headers = [
        "id",
        "type",
        "team",
        "status",
        "claimed by",
        "severity",
        "SLA due (UTC)",
        "overdue (escalated)",
        "at risk",
        "record",
    ]
    print("\n".join(status._table(headers, table, indent="")))
    print(f"{len(rows)} exception(s){' (showing ' + str(args.limit) + ')' if len(rows) > args.limit else ''}")
    return 0


def cmd_exceptions_show(args: argparse.Namespace) -> int:
    store = _store()
    entry = store.catalog_entry(args.id)
    state = store.state(entry["exception_id"])
    history = store.history(entry["exception_id"])
    details = json.loads(entry.pop("details") or "{}")
    doc = {"exception": entry, "state": state.__dict__, "details": details, "history": history}
    if args.json:
        print(json.dumps(doc, indent=2, default=str))
        return 0
    print(f"exception {entry['exception_id']}  ({entry['exception_type']}, {entry['severity']})")
    for key in ("record_entity", "record_id", "client_name", "currency", "amount_at_risk", "amount_at_risk_reporting"):
        print(f"  {key:<26} {entry[key]}")
    print(f"  {'owner team':<26} {state.owner_team}")
    print(f"  {'status':<26} {state.status}" + (f" (claimed by {state.claimed_by})" if state.claimed_by else ""))
    print(f"  {'first seen / last seen':<26} {entry['first_seen_at']} / {entry['last_seen_at']}")
    sla = f"{state.sla_due_at.isoformat()}" + ("  BREACHED" if state.is_breached else "")
    print(f"  {'SLA due':<26} {sla}" + (f" (reopened {state.reopened_at})" if state.reopened_at else ""))
    if state.escalated_to:
        print(f"  {'escalated to':<26} {state.escalated_to}")
    if state.pending_adjustments:
        print(f"  {'pending adjustments':<26} {', '.join(state.pending_adjustments)}")
    legs = details.get("legs")
    if legs:
        shown = ", ".join(
            f"{k} {legs[k]}"
            for k in ("booked", "billed", "credited", "delivered", "fulfilled")
            if legs.get(k) is not None
        )
        expects = [
            leg
            for leg, flag in (("delivery", "expects_delivery"), ("fulfilment", "expects_fulfilment"))
            if legs.get(flag)
        ]
        print(
            f"  {'order legs':<26} {shown}  ({legs.get('order_type')}; expects {', '.join(expects) or 'billing only'})"
        )
    reconciliations = details.get("reconciliations")
    if reconciliations is None:  # published by an older version: one reconciliation
        reconciliations = [
            {
                "reconciliation": "orders_invoices",
                **{k: details.get(k) for k in ("record_state", "matched_keys", "top_candidates")},
            }
        ]
    for rec in reconciliations:
        print(f"  in {rec['reconciliation']}: {rec.get('record_state')}  matched: {rec.get('matched_keys')}")
        candidates = rec.get("top_candidates") or []
        if candidates:
            print("    candidates (best first):")
        for cand in candidates:
            parts = ", ".join(f"{f}={c['level']}({c['weight']:+})" for f, c in (cand.get("components") or {}).items())
            key, p, w = cand["candidate_key"], cand["match_probability"], cand["match_weight"]
            print(f"      {key:<28} p={p:<7} weight={w:<8} {parts}")
        if not candidates:
            if rec.get("record_state") == "matched":
                print("    no candidates listed: the record is matched; the break is in its amounts")
            else:
                print("    no candidates: no record of the other side was close enough to score")
    if not reconciliations:
        print("  not a record any reconciliation matches")
    if state.status == "claimed":
        print(
            "  link by hand: recon exceptions match ID --with KEY --reason CODE"
            " (unmatch to break a wrong link); the next run applies it"
        )
    print("  history:")
    for h in history:
        extra = " ".join(
            f"{k}={h[k]}" for k in ("reason_code", "amount", "target", "comment") if h.get(k) not in (None, "")
        )
        login = f" (login {h['login']})" if h.get("login") and h["login"] != h["actor"] else ""
        print(f"    #{h['seq']:<5} {h['acted_at']}  {h['actor']:<8} {h['action']:<12} {extra}{login}")
    if not history:
        print("    no actions yet")
    return 0


def cmd_exception_action(args: argparse.Namespace) -> int:
    from orchestration import actions

    store = _store()
    actor = _requested_operator(args)
    if actions.as_of_pinned():
        print(
            f"recon: warning: RECON_AS_OF={actions.as_of_pinned()} pins the business clock: this action is "
            "recorded at the real time (acted_at) and takes effect at the pinned time (effective_at); "
            "both are in the audit log. Unset RECON_AS_OF outside replays and tests.",
            file=sys.stderr,
        )
    link = None
    if args.action in ("match", "unmatch"):
        link = _manual_link(store, args)
        if link is None:
            return 2
    entry = store.act(
        args.action,
        args.id,
        actor,
        reason=args.reason,
        comment=args.text,
        amount=args.amount,
        adjustment=args.adjustment,
        team=args.team,
        link=link,
    )
    if link is not None:
        sides = f"{', '.join(link.left)} ↔ {', '.join(link.right)}"
        verb = "linked" if args.action == "match" else "may never be linked"
        print(
            f"in {link.reconciliation}: {sides} {verb}; the next `recon run` applies it "
            "(pass `operator`) and the marts, the money and the exceptions follow"
        )
    state = json.loads(entry["state_after"])
    target = f" {entry['target']}" if entry.get("target") else ""
    by = entry["actor"] + (f" (login {entry['login']})" if entry.get("login") != entry["actor"] else "")
    print(
        f"{entry['action']}{target} recorded as #{entry['seq']} by {by}: status {state['status']}"
        + (f", pending approval: {', '.join(state['pending_adjustments'])}" if state["pending_adjustments"] else "")
    )
    return 0


def _manual_link(store, args: argparse.Namespace):
    """The link `match` / `unmatch` records: checked, and its records looked up in the published copy."""
    from orchestration import links, publish

    entry = store.catalog_entry(args.id)
    details = json.loads(entry.get("details") or "{}")
    try:
        link = links.build({**entry, "domain": details.get("domain")}, args.with_keys, args.reconciliation)
    except links.LinkError as exc:
        print(f"recon exceptions {args.action}: {exc}", file=sys.stderr)
        return None
    missing, link = links.look_up(link, publish.serving_path())
    if missing:
        print(
            f"recon exceptions {args.action}: the published data has no {'; no '.join(missing)}: check the key "
            "(`recon query` on the serving copy lists them)",
            file=sys.stderr,
        )
        return None
    return link


def cmd_audit_verify(args: argparse.Namespace) -> int:
    """The hash chain, and the chain against the head the last publication anchored.

    Reads the store read-only (a missing file or table is reported, never re-created) and
    the anchor from the serving copy's current.json, never the working warehouse.
    """
    from orchestration import actions, publish

    settings.apply_environment()
    path = actions.store_path()
    entries = actions.read_log(path) if path.exists() else None
    problems = actions.verify_chain(entries or [])
    published = publish.current()
    anchor = (published or {}).get("audit_anchor")
    source = f"the publication {published['publication']}" if published else ""
    problems += actions.check_anchor(entries, anchor, path, source)
    count = len(entries or [])
    if problems:
        print(f"audit FAILED for {path}: {len(problems)} problem(s) in {count} entries")
        for p in problems:
            print(f"  {p}")
        return 6
    for entry in entries or []:  # logged by an older version: flagged when copied, never fatal
        _, flags = actions.warehouse_row(entry)
        if flags:
            print(f"  warning: entry seq {entry['seq']}: {'; '.join(flags)} (copied to the warehouse as null)")
    if anchor:
        where = f"anchored seq {anchor['seq']} of {source} ({anchor.get('anchored_at')}) is in the log"
    elif published:
        where = f"no anchor yet: {source} was made before anchors existed; the next run anchors the log"
    else:
        where = "no anchor yet: nothing is published; the first run anchors the log"
    print(f"audit ok: {count} entries, hash chain intact ({path}); {where}")
    return 0


def cmd_audit_accept_fork(args: argparse.Namespace) -> int:
    """Accept the action store as it is after a restore: the warehouse's later copy is set aside."""
    from orchestration import actions, warehouse
    from orchestration.lock import WarehouseBusy, warehouse_lock

    settings.apply_environment()
    store = actions.ActionStore.existing()
    if store is None:
        print(f"recon: refused: no action store at {actions.store_path()}", file=sys.stderr)
        return 4
    actor = _requested_operator(args)
    try:
        with warehouse_lock("recon audit accept-fork"):
            con = warehouse.open_writer(settings.warehouse_path())
            try:
                moved = actions.accept_fork(store, con, actor, args.reason)
            finally:
                con.close()
    except WarehouseBusy as exc:
        print(f"recon: refused: {exc}", file=sys.stderr)
        return 5
    who = store.policy.acting(store.login(), actor, "accept a fork").name
    print(
        f"fork accepted by {who}: {moved} warehouse entr{'y' if moved == 1 else 'ies'} set aside in "
        "raw.operator_actions_forked; the next run copies the store's entries from there on"
    )
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    print(f"manifest: {prepare(force=True)}")
    return 0


def cmd_contract(args: argparse.Namespace) -> int:
    from orchestration import contract_docs

    if args.check:
        stale = contract_docs.stale_files()
        for path in stale:
            print(f"out of date: {path} (run `recon contract --write`)")
        return 1 if stale else 0
    for path in contract_docs.write_files():
        print(f"wrote {path}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Fresh demo: new RECON_HOME content, generated data, one full pipeline run, summary."""
    started = time.monotonic()
    settings.apply_environment()
    home = settings.recon_home()
    for sub in ("landing", "ground_truth"):
        shutil.rmtree(home / sub, ignore_errors=True)
    for path in (settings.warehouse_path(), settings.warehouse_path().with_suffix(".duckdb.wal")):
        path.unlink(missing_ok=True)
    gen_args = argparse.Namespace(
        seed=args.seed,
        orders=args.orders,
        noise=1.0,
        format="mixed",
        chunk_size=100_000,
        no_bad_rows=False,
        no_bad_files=False,
        out=None,
    )
    cmd_generate(gen_args)
    ok = run_pipeline()
    if not ok:
        return 1
    from orchestration import status

    print(status.render_published())
    print(f"demo finished in {time.monotonic() - started:.1f}s")
    return 0


def cmd_trace(args: argparse.Namespace) -> int:
    from orchestration import actions, publish, trace

    settings.apply_environment()
    try:
        # Lineage needs raw rows and staging, which only the working warehouse has.
        with working_warehouse(f"recon trace {args.id}"):
            found = trace.trace(settings.warehouse_path(), actions.store_path(), args.id, publication=publish.current())
    except trace.TraceError as exc:
        print(f"recon trace: {exc}", file=sys.stderr)
        return exc.exit_code
    print(json.dumps(found.to_dict(), indent=2, default=str) if args.json else trace.render(found))
    return 0


def cmd_quality(args: argparse.Namespace) -> int:
    import tempfile

    from orchestration import actions, quality

    settings.apply_environment()
    # Against the runs' history, without adding to it: this check is not a run.
    with tempfile.TemporaryDirectory(prefix="recon-quality-") as scratch:
        history = Path(scratch) / "history"
        if quality.default_history_dir().exists():
            shutil.copytree(quality.default_history_dir(), history)
        run_id = "manual-" + time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        with working_warehouse("recon quality"):  # the raw-table gates read the working warehouse
            report = quality.run_quality_checks(settings.warehouse_path(), history, run_id, now=actions.utc_now())
        for check in report.checks:
            if not check.passed:
                print(f"  FAILED ({check.severity}) {check.asset} {check.name}: {check.description}")
        summary = report.to_dict()["summary"]
        print(f"{summary['checks']} checks, {summary['failed']} failed, {summary['blocking']} blocking")
        if args.docs:
            index = quality.build_data_docs(report)
            print(f"Data Docs: {index}  (styling loads from public CDNs; offline the pages render plain)")
    return 1 if report.blocking_failures() else 0


def cmd_shadow(args: argparse.Namespace) -> int:
    from orchestration.rules import shadow

    settings.apply_environment()
    try:
        report = shadow.run_shadow(Path(args.rules))
    except shadow.ShadowError as exc:
        print(f"recon shadow: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        print(shadow.render(report))
        print(f"report: {report['report_path']}  (production untouched; metrics appended to shadow/history.jsonl)")
    return 0


def cmd_governance_status(args: argparse.Namespace) -> int:
    from orchestration.rules import governance

    try:
        current = governance.status()
    except governance.GovernanceError as exc:
        print(f"recon: refused: {exc}", file=sys.stderr)
        return governance.EXIT_UNAPPROVED
    print(f"active rules: {current.rules_hash}")
    for path, digest in governance.rule_manifest().items():
        print(f"  {digest[:12]}  {path}")
    for approval in current.approvals:
        print(
            f"  approved as {approval['role']:<20} by {approval['by']:<8} at {approval['at']} (signature verified)"
            f"  {approval.get('note', '')}"
        )
    for problem in current.problems:
        print(f"  not counted: {problem}")
    print(current.message())
    return 0 if current.approved else governance.EXIT_UNAPPROVED


def cmd_governance_check(args: argparse.Namespace) -> int:
    from orchestration.rules import governance

    try:
        current = governance.status()
        production = governance.production_problems() if args.production else []
    except governance.GovernanceError as exc:
        print(f"recon: refused: {exc}", file=sys.stderr)
        return governance.EXIT_UNAPPROVED
    for problem in current.problems:
        print(f"not counted: {problem}", file=sys.stderr)
    for problem in production:
        print(f"not for production: {problem}", file=sys.stderr)
    ok = current.approved and not production
    print(current.message(), file=sys.stdout if current.approved else sys.stderr)
    if production:
        print(
            f"recon governance check --production: refused, {len(production)} development-only setting(s) in the "
            "roster (above)",
            file=sys.stderr,
        )
    return 0 if ok else governance.EXIT_UNAPPROVED


def cmd_governance_approve(args: argparse.Namespace) -> int:
    from orchestration.rules import governance

    try:
        current = governance.approve(
            args.role, _requested_operator(args), args.note, key_path=Path(args.key) if args.key else None
        )
    except governance.GovernanceError as exc:
        print(f"recon: refused: {exc}", file=sys.stderr)
        return 3
    print(current.message())
    return 0


def cmd_governance_keygen(args: argparse.Namespace) -> int:
    """A new signing key for NAME: private half to a 0600 file, public half printed for the roster."""
    from orchestration import identity
    from orchestration.rules import governance

    name = _requested_operator(args)
    try:
        if name is None:
            login = identity.current_login()
            name = identity.login_map(governance.roster_users()).get(login)
            if name is None:
                raise governance.GovernanceError(
                    f"OS login {login!r} is not in config/operators.yml: name the key with --as NAME"
                )
        path, public = governance.keygen(name, Path(args.out) if args.out else None)
    except (governance.GovernanceError, identity.IdentityError) as exc:
        print(f"recon: refused: {exc}", file=sys.stderr)
        return 3
    print(f"private key for {name} written to {path} (mode 0600; keep it there, never commit it)")
    print(f"add this to {name}'s entry in config/operators.yml (a roster change: it needs the three approvals):")
    print(f"  public_key: {public}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recon", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("generate", help="write a demo agency data set (landing files + ground truth)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--orders", type=int, default=2000)
    p.add_argument("--out", help="output directory (default: $RECON_HOME)")
    p.add_argument("--noise", type=float, default=1.0, help="multiplier on every noise rate (0 = clean)")
    p.add_argument("--format", default="mixed", choices=["mixed", "csv", "parquet", "jsonl"])
    p.add_argument("--chunk-size", type=int, default=100_000, help="orders per chunk (memory bound)")
    p.add_argument("--no-bad-rows", action="store_true", help="do not inject unparseable values")
    p.add_argument("--no-bad-files", action="store_true", help="do not write the malformed legacy file")
    p.add_argument(
        "--dialect", default="a", choices=["a", "b", "c"], help="a: demo generator; b, c: held-out data sets"
    )
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("ingest", help="load new landing files into the raw schema")
    p.add_argument("-v", "--verbose", action="store_true", help="also list skipped files")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("prepare", help="parse the dbt project (target/manifest.json)")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("run", help="ingest + dbt build + checks, as one Dagster run")
    p.add_argument("--quiet", action="store_true", help="do not print the summary")
    p.add_argument("-v", "--verbose", action="store_true", help="print every Dagster event")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("simulate", help="seeded fault injection: kill -9 at random points, check the rerun converges")
    p.add_argument("--seeds", type=int, default=20, help="how many seeds (default 20; thousands in a long run)")
    p.add_argument("--start", type=int, default=0, help="first seed")
    p.add_argument("--orders", type=int, default=40, help="orders in the generated world")
    p.add_argument("--workdir", help="where the homes go (default $RECON_HOME/simulate)")
    p.add_argument("--keep", action="store_true", help="keep the homes of seeds that converged too")
    p.add_argument("--jobs", type=int, default=2, help="episodes at a time (default 2: one per core)")
    p.set_defaults(func=cmd_simulate)
    p = sub.add_parser("dev", help="open the Dagster UI on the project (dagster dev)")
    p.add_argument("--port", type=int, default=3000)
    p.set_defaults(func=cmd_dev)

    working_help = (
        "read the working warehouse instead of the published copy (refused while a run writes it; "
        "a run started meanwhile is refused)"
    )
    p = sub.add_parser("status", help="summary of the published copy: sources, quarantine, matches, exceptions")
    p.add_argument("--working", action="store_true", help=working_help)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser(
        "query",
        help="one read-only statement (SELECT, WITH, DESCRIBE, SHOW, SUMMARIZE, PRAGMA table_info) "
        "against the published copy; no file or extension access",
    )
    p.add_argument("sql")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--working", action="store_true", help=working_help)
    p.set_defaults(func=cmd_query)

    p = sub.add_parser("publication", help="the published serving copy")
    pub = p.add_subparsers(dest="publication_command", required=True)
    q = pub.add_parser("verify", help="exit 6 if the serving copy or the archive changed since publication (sha256)")
    q.set_defaults(func=cmd_publication_verify)

    p = sub.add_parser("evaluate", help="precision / recall of the matches against generator ground truth")
    p.add_argument("--ground-truth", help="ground truth of the current warehouse (default $RECON_HOME/ground_truth)")
    p.add_argument("--seeds", type=int, nargs="*", help="instead, build and evaluate fresh data sets for these seeds")
    p.add_argument("--orders", type=int, default=5000, help="orders per seed with --seeds")
    p.add_argument("--noise", type=float, default=1.0, help="noise multiplier with --seeds")
    p.add_argument("--json", help="where to write the JSON report (default beside the warehouse)")
    p.add_argument(
        "--dialect",
        nargs="+",
        choices=["a", "b", "c"],
        default=["a", "b", "c"],
        help="generator dialects to build with --seeds: a (tuned on), b and c (held out, never tuned on)",
    )
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("tune", help="estimate match weights (m/u) from ground truth of training seeds")
    p.add_argument("--seeds", type=int, nargs="+", default=[101, 102])
    p.add_argument("--orders", type=int, default=5000)
    p.add_argument("--noise", type=float, default=1.0)
    p.add_argument("--reconciliations", nargs="*")
    p.add_argument("--write", action="store_true", help="write seeds/match_weights.csv")
    p.set_defaults(func=cmd_tune)

    p = sub.add_parser("train", help="estimate match weights (m/u) and the prior from the warehouse, without labels")
    p.add_argument("--reconciliations", nargs="*", help="default: every one in vars.reconciliations")
    p.add_argument("--warehouse", action="append", help="DuckDB file, read-only (default: the warehouse); repeatable")
    p.add_argument("--anchors", choices=["none", "unselected", "all"], default="none", help=argparse.SUPPRESS)
    p.add_argument("--write", action="store_true", help="write seeds/match_weights.csv for these reconciliations")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("exceptions", help="work the exceptions: list, show, claim, resolve, ...")
    exc = p.add_subparsers(dest="exceptions_command", required=True)
    q = exc.add_parser("list", help="current exceptions, most urgent SLA first")
    q.add_argument("--team")
    q.add_argument("--owner", help="claimed by this operator")
    q.add_argument("--status", choices=["open", "claimed", "resolved"])
    q.add_argument("--severity", choices=["auto_resolve", "manual_review", "block_payout"])
    q.add_argument("--type")
    q.add_argument("--overdue", action="store_true")
    q.add_argument("--all", action="store_true", help="include exceptions the last run no longer found")
    q.add_argument("--limit", type=int, default=50)
    q.add_argument("--json", action="store_true")
    q.add_argument("--ids", action="store_true", help="print only the exception ids, one per line (for scripts)")
    q.set_defaults(func=cmd_exceptions_list)
    q = exc.add_parser("show", help="one exception: records, candidates with score components, every action")
    q.add_argument("id")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_exceptions_show)
    from orchestration.actions import ACTIONS

    for action in ACTIONS:
        q = exc.add_parser(action, help=f"{action} an exception")
        q.add_argument("id", help="exception id (a unique prefix is enough)")
        q.add_argument(
            "--as", dest="actor", help="act as this operator (needs the act_as role; default $RECON_USER, else you)"
        )
        q.add_argument("--reason", help="reason code (seeds/reason_codes.csv)")
        q.add_argument("--text", help="comment text")
        q.add_argument("--amount", help="adjustment amount (reporting currency)")
        q.add_argument("--adjustment", help="adjustment id to approve or reject")
        q.add_argument("--team", help="team to reassign to")
        if action in ("match", "unmatch"):
            q.add_argument(
                "--with",
                dest="with_keys",
                nargs="+",
                required=True,
                metavar="KEY",
                help="the other side's record(s): order ids for an invoice or campaign, billing items for an order",
            )
            q.add_argument(
                "--in", dest="reconciliation", help="the reconciliation, when the record is in several (an order)"
            )
        q.set_defaults(func=cmd_exception_action, action=action, with_keys=None, reconciliation=None)

    p = sub.add_parser("audit", help="check the operator action log")
    aud = p.add_subparsers(dest="audit_command", required=True)
    q = aud.add_parser(
        "verify",
        help="recompute the hash chain and check it against the last publication's anchor; exit 6 and say where",
    )
    q.set_defaults(func=cmd_audit_verify)
    q = aud.add_parser(
        "accept-fork",
        help="after a restore from an older backup: keep the store as it is, set the warehouse's later entries aside",
    )
    q.add_argument("--as", dest="actor", help="an ops lead (default $RECON_USER, else you; others need act_as)")
    q.add_argument("--reason", required=True, help="what happened to the action store")
    q.set_defaults(func=cmd_audit_accept_fork)

    p = sub.add_parser("trace", help="lineage of an exception, a match or a record: files → staging → match → actions")
    p.add_argument(
        "id", help="exception id or prefix, match id, or a record key (SO-…, INV-…, CMP-…); kind:key forces a kind"
    )
    p.add_argument("--json", action="store_true", help="print the trace as JSON")
    p.set_defaults(func=cmd_trace)

    p = sub.add_parser("quality", help="run the quality gates on the warehouse now and build GX Data Docs")
    p.add_argument("--docs", action="store_true", help="also build Great Expectations Data Docs (HTML)")
    p.set_defaults(func=cmd_quality)

    p = sub.add_parser("shadow", help="run candidate rules over the full history into a shadow database; drift report")
    p.add_argument("--rules", required=True, help="directory with the changed rule files, laid out like the project")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_shadow)

    p = sub.add_parser("governance", help="rule versions by content hash and their approvals")
    gov = p.add_subparsers(dest="governance_command", required=True)
    q = gov.add_parser("status", help="the active rules' hash, files and approvals")
    q.set_defaults(func=cmd_governance_status)
    q = gov.add_parser("check", help="exit 7 unless the active rules are approved by every required role (CI)")
    q.add_argument(
        "--production",
        action="store_true",
        help="also refuse development-only roster entries and the committed development keys",
    )
    q.set_defaults(func=cmd_governance_check)
    q = gov.add_parser("approve", help="approve the active rules in one role, signed with your key")
    q.add_argument("--role", required=True, help="data_owner, operations_lead or governance_reviewer")
    q.add_argument(
        "--as", dest="actor", help="who approves (default $RECON_USER, else your login's user; others need act_as)"
    )
    q.add_argument("--note", default="", help="what was reviewed")
    q.add_argument("--key", help="private key file (default $RECON_SIGNING_KEY, else ~/.config/recon/NAME.key)")
    q.set_defaults(func=cmd_governance_approve)
    q = gov.add_parser("keygen", help="make an approver's Ed25519 signing key; prints the public key for the roster")
    q.add_argument("--as", dest="actor", help="whose key (default $RECON_USER, else your login's user)")
    q.add_argument(
        "--out", help="where to write the private key (default $RECON_SIGNING_KEY, else ~/.config/recon/NAME.key)"
    )
    q.set_defaults(func=cmd_governance_keygen)

    p = sub.add_parser("contract", help="render the landing contract into docs/ and dbt sources")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--write", action="store_true", default=True)
    g.add_argument("--check", action="store_true", help="exit 1 if a rendered file is out of date")
    p.set_defaults(func=cmd_contract)

    p = sub.add_parser("demo", help="generate demo data into $RECON_HOME and run the whole pipeline")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--orders", type=int, default=2000)
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    from orchestration.actions import ActionError
    from orchestration.identity import IdentityError
    from orchestration.lock import WarehouseBusy
    from orchestration.status import ReaderError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ActionError, IdentityError) as exc:
        print(f"recon: refused: {exc}", file=sys.stderr)
        return exc.exit_code
    except ReaderError as exc:
        print(f"recon {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except WarehouseBusy as exc:
        print(f"recon {args.command} refused: {exc}", file=sys.stderr)
        return 5
    except subprocess.CalledProcessError as exc:
        print(f"recon: {' '.join(map(str, exc.cmd[:2]))} failed with exit code {exc.returncode}", file=sys.stderr)
        return exc.returncode or 1
    except Exception as exc:
        if not is_disk_full(exc):
            raise
        print(f"recon {args.command}: {disk_full_message(exc)}", file=sys.stderr)
        return EXIT_DISK_FULL


EXIT_DISK_FULL = 28  # ENOSPC

if __name__ == "__main__":
    sys.exit(main())
