"""``recon``: the command line every operator and scheduler uses.

Commands: generate, ingest, prepare, run, simulate, dev, status, query, publication,
evaluate, tune, train, exceptions, audit, trace, quality, shadow, governance, contract, demo.

Built on click; the tables of ``recon status``, ``recon query`` and ``recon exceptions
list`` and the spinner of the long steps come from rich through
:mod:`orchestration.terminal`. The commands only parse options, call the module that owns
the work (``orchestration.pipeline`` and friends) and print. Exit codes are the
interface schedulers read, so they are kept: 0 done, 1 failed, 2 usage error or input
refused, 3 refused, 4 not found, 5 busy or in conflict (a run holds the warehouse, an
exception is claimed), 6 tampered or forked, 7 rules unapproved, 28 disk full;
:func:`main` maps the exceptions to them.

Options are read as argparse read them, which scripts rely on: an option can take
several values (``--seeds 101 102``, ``--with SO-1 SO-2``) and a long option can be
shortened to a unique prefix (``--lim 5``); see :class:`ReconCommand`.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import click

from orchestration import settings, terminal
from orchestration.actions import ACTIONS, STATUSES
from orchestration.actions.state import LINK_APPROVAL_PREFIX, link_approval_id
from orchestration.links import link_shown, no_candidates_said, record_key_shown
from orchestration.pipeline import (
    build_scratch,
    disk_full_message,
    is_disk_full,
    prepare,
    run_pipeline,
    working_warehouse,
)

EXIT_DISK_FULL = 28  # ENOSPC
EXIT_BAD_CONFIG = 3  # a config file with a mistake: fix the named key and run again
MAX_ROWS_SHOWN = 100_000
LIMIT_HELP = f"rows shown, 1 to {MAX_ROWS_SHOWN:,}"
MAX_CLIENT_CHARS = 200  # --client of exceptions list, as the desk's client filter
LINK_ACTIONS = ("match", "unmatch")
# The action options that mean something to some actions only (--text and --reason are
# recorded with any action; the store checks a reason code against the action).
OPTION_ACTIONS = {
    "--amount": ("adjust",),
    "--adjustment": ("approve", "reject"),
    "--link": ("approve", "reject"),
    "--team": ("reassign",),
}
# What each action's help says it does (the adjustment and link checks are approve's and reject's).
ACTION_HELP = {
    "approve": "approve an adjustment (--adjustment ADJ-…) or a manual link (--link LNK-…) waiting for a checker",
    "reject": "reject an adjustment (--adjustment ADJ-…) or a manual link (--link LNK-…) waiting for a checker",
    "adjust": "record an adjustment on an exception (in its currency; above the threshold it waits for an approver)",
    "match": "link an exception's record to records of the other side by hand",
    "unmatch": "break a link between an exception's record and records of the other side",
}
# argparse's test for a value that looks like an option but is a negative number.
NEGATIVE_NUMBER = re.compile(r"^-\d+$|^-\d*\.\d+$")


class Variadic(click.Option):
    """An option followed by several values (``--seeds 101 102``), like argparse's nargs "+" and "*".

    ``at_least_one`` is nargs "+": the option given without a value is a usage error. The
    value is a tuple; given twice, the last one counts, as with argparse.
    """

    def __init__(self, *args, at_least_one: bool = True, **kwargs) -> None:
        super().__init__(*args, multiple=True, **kwargs)
        self.at_least_one = at_least_one


class ReconCommand(click.Command):
    """A click command that reads its options as the argparse CLI before it did.

    Before click parses, the arguments are rewritten into click's own syntax: a long
    option's unique prefix becomes the option, and a :class:`Variadic` option's values
    (every argument up to the next option) become one ``--opt VALUE`` pair each.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, _argparse_style(ctx, self.get_params(ctx), args))


def _argparse_style(ctx: click.Context, params: list[click.Parameter], args: list[str]) -> list[str]:
    options = {name: p for p in params if isinstance(p, click.Option) for name in (*p.opts, *p.secondary_opts)}
    longs = [name for name in options if name.startswith("--")]
    out: list[str] = []
    after_options: list[str] = []  # "--" and what follows it: never options
    variadic: dict[str, list[str]] = {}
    dashed = False  # a positional argument that starts with "-"
    rest = list(args)
    while rest:
        token = rest.pop(0)
        if token == "--":
            after_options = [token, *rest]
            break
        # As argparse: a "-" word with a space in it ("-- count orders\nselect ...", SQL
        # that opens with a comment) or a negative number is an argument, not an option.
        if token.startswith("-") and token != "-" and (any(c.isspace() for c in token) or NEGATIVE_NUMBER.match(token)):
            out.append(Positional(token))
            dashed = True
            continue
        if not token.startswith("--"):
            out.append(Positional(token) if not token.startswith("-") else token)
            continue
        name, eq, value = token.partition("=")
        if name not in options:
            matches = [option for option in longs if option.startswith(name)]
            if len(matches) > 1:
                ctx.fail(f"ambiguous option: {name} could match {', '.join(matches)}")
            name = matches[0] if matches else name
        option = options.get(name)
        if isinstance(option, Variadic):
            values = [value] if eq else []
            while not eq and rest and not (rest[0].startswith("-") and not NEGATIVE_NUMBER.match(rest[0])):
                values.append(rest.pop(0))
            if not values and option.at_least_one:
                ctx.fail(f"argument {name}: expected at least one argument")
            variadic[name] = values  # given twice: the last one counts
            continue
        out.append(name + eq + value)
        if option is not None and not eq and not option.is_flag and not option.count and rest:
            following = rest[0]
            if following.startswith("--") and following.split("=")[0] in options:  # "--reason --text hi"
                ctx.fail(f"argument {name}: expected one argument")
            out.append(rest.pop(0))  # its value, whatever else it looks like
    for name, values in variadic.items():
        out += [arg for value in values for arg in (name, value)]
    if dashed:  # click reads a "-" word as an option unless it follows "--": the arguments go there
        options_part = [arg for arg in out if not isinstance(arg, Positional)]
        positionals = [str(arg) for arg in out if isinstance(arg, Positional)]
        return [*options_part, "--", *positionals, *after_options[1:]]
    return [str(arg) for arg in out] + after_options


class Positional(str):
    """An argument (not an option, nor an option's value) in :func:`_argparse_style`'s output."""


class ReconGroup(click.Group):
    """A group whose commands are :class:`ReconCommand`, listed in the order they are defined (not sorted)."""

    command_class = ReconCommand
    group_class = type

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)


CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 120}


def _help(text: str) -> dict:
    """``help`` and the same text in the parent's list of commands (click would cut it at 45 characters)."""
    return {"help": text, "short_help": text.split("\n\n")[0]}


@click.group(
    cls=ReconGroup, context_settings=CONTEXT_SETTINGS, **_help("the command line every operator and scheduler uses")
)
@click.pass_context
def recon(ctx: click.Context) -> None:
    if isinstance(ctx.obj, dict):
        ctx.obj["command"] = ctx.invoked_subcommand  # main() names it in its messages


# ------------------------------------------------------------------------------ the pipeline


class FiniteFloatRange(click.FloatRange):
    """click's FloatRange, without NaN: ``--noise nan`` passed both bounds (every comparison
    with NaN is false) and stopped the generator with a traceback."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if number != number:
            self.fail(f"{value!r} is not a number in the range {self.min:g}<=x<={self.max:g}.", param, ctx)
        return number


NOISE = FiniteFloatRange(0, 100)  # a multiplier on every noise rate of the generators
ORDERS = click.IntRange(1, 100_000_000)


@recon.command("generate", **_help("write a demo agency data set (landing files + ground truth)"))
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=42)
@click.option("--orders", type=ORDERS, default=2000)
@click.option("--out", help="output directory (default: $RECON_HOME); an empty value is refused")
@click.option("--noise", type=NOISE, default=1.0, help="multiplier on every noise rate (0 = clean)")
@click.option("--format", "file_format", type=click.Choice(["mixed", "csv", "parquet", "jsonl"]), default="mixed")
@click.option(
    "--chunk-size", type=click.IntRange(1, 10_000_000), default=100_000, help="orders per chunk (memory bound)"
)
@click.option("--no-bad-rows", is_flag=True, help="do not inject unparseable values")
@click.option("--no-bad-files", is_flag=True, help="do not write the malformed legacy file")
@click.option(
    "--dialect", type=click.Choice(["a", "b", "c"]), default="a", help="a: demo generator; b, c: held-out data sets"
)
def cmd_generate(
    seed: int,
    orders: int,
    out: str | None,
    noise: float,
    file_format: str,
    chunk_size: int,
    no_bad_rows: bool,
    no_bad_files: bool,
    dialect: str,
) -> int:
    if out is not None and not out.strip():
        # An unset variable ("--out $DIR") must not mean "over the live landing files".
        raise click.BadParameter(
            "is empty: name a directory, or leave --out out to write into $RECON_HOME", param_hint="--out"
        )
    target = Path(out).resolve() if out else settings.recon_home()
    return _generate(
        target, seed, orders, noise, dialect, file_format=file_format, chunk_size=chunk_size,
        bad_rows=not no_bad_rows, bad_files=not no_bad_files,
    )  # fmt: skip


def _generate(out: Path, seed: int, orders: int, noise: float, dialect: str = "a", **options) -> int:
    """``recon generate`` and the first step of ``recon demo``."""
    from orchestration.lab import generate

    if dialect in ("b", "c"):  # held-out data sets: never tune on them
        import importlib

        module = importlib.import_module(f"orchestration.lab.dialect_{dialect}")
        with terminal.working(f"recon generate: dialect {dialect}, {orders:,} orders"):
            summary = module.generate(out, seed=seed, orders=orders, noise=noise)
        rows = sum(summary["rows"].values())
        click.echo(f"dialect {dialect}: {rows:,} rows under {out / 'landing'} in {summary['seconds']}s")
        return 0
    with terminal.working(f"recon generate: {orders:,} orders"):
        result = generate.generate(out, seed=seed, orders=orders, noise=noise, **options)
    total = sum(result.rows.values())
    click.echo(
        f"generated {total:,} rows in {len(result.files)} files under {out / 'landing'} in {result.seconds:.1f}s"
    )
    for table, rows in sorted(result.rows.items()):
        click.echo(f"  {table:<28} {rows:>12,}")
    click.echo(f"ground truth: {result.ground_truth_dir}")
    return 0


@recon.command("ingest", **_help("load new landing files into the raw schema"))
@click.option("-v", "--verbose", is_flag=True, help="also list skipped files")
@click.option(
    "--again", cls=Variadic, at_least_one=True, metavar="PATH [PATH ...]",
    help="read these landing files again although already ingested (after a contract change): "
    "each becomes a new batch that restates its earlier one",
)  # fmt: skip
def cmd_ingest(verbose: bool, again: tuple[str, ...]) -> int:
    """Load new landing files into the raw schema; --again reloads named ones (then recon run builds them)."""
    from orchestration import ingest

    settings.apply_environment()
    try:
        ingest.landing_paths(settings.landing_dir(), again)
    except ingest.NotInLanding as exc:
        click.echo(f"recon ingest: {exc}; nothing loaded", err=True)
        return 4
    with working_warehouse("recon ingest"), terminal.working("recon ingest: loading new landing files"):
        report = ingest.ingest_landing(settings.landing_dir(), settings.warehouse_path(), again=again)
    writing = [o for o in report.files if o.message == ingest.STILL_WRITTEN]
    for outcome in report.files:
        if verbose or outcome.status != "skipped" or outcome in writing:
            click.echo(ingest.describe(outcome))
    click.echo(
        f"files: {len(report.by_status('loaded'))} loaded, {len(report.by_status('rejected'))} rejected, "
        f"{len(report.by_status('skipped')) - len(writing)} already ingested"
        + (f", {len(writing)} still being written (read on the next run)" if writing else "")
        + f"; rows: {report.rows_read:,} read = {report.rows_loaded:,} loaded + {report.rows_quarantined:,} "
        f"quarantined + {report.rows_rejected:,} in rejected files ({report.seconds:.1f}s)"
    )
    return 0


@recon.command("prepare", **_help("parse the dbt project (target/manifest.json)"))
def cmd_prepare() -> int:
    click.echo(f"manifest: {prepare(force=True)}")
    return 0


RUN_STEP = "recon run: ingest, dbt build, quality checks and publication (one Dagster run)"


def _run_pipeline(verbose: bool = False, full_refresh: bool = False, rewind_clock: bool = False) -> bool:
    """The pipeline with a spinner, unless every Dagster event is printed anyway (``--verbose``)."""
    with contextlib.nullcontext() if verbose else terminal.working(RUN_STEP):
        return run_pipeline(verbose=verbose, raise_refusals=True, full_refresh=full_refresh, rewind_clock=rewind_clock)


@recon.command("run", **_help("ingest + dbt build + checks, as one Dagster run"))
@click.option("--quiet", is_flag=True, help="do not print the summary")
@click.option("-v", "--verbose", is_flag=True, help="print every Dagster event")
@click.option(
    "--full-refresh",
    is_flag=True,
    help="build everything even when nothing is new since the publication, and rebuild dbt's incremental models",
)
@click.option(
    "--rewind-clock",
    is_flag=True,
    help="after a publication dated ahead of the real time (a RECON_AS_OF pinned ahead): build at the real time, "
    "bringing what the warehouse dated after now back to now",
)
def cmd_run(quiet: bool, verbose: bool, full_refresh: bool, rewind_clock: bool) -> int:
    started = time.monotonic()
    ok = _run_pipeline(verbose=verbose, full_refresh=full_refresh, rewind_clock=rewind_clock)
    click.echo(f"pipeline finished in {time.monotonic() - started:.1f}s")
    if ok and not quiet:
        from orchestration import status

        try:
            terminal.show(status.render_published())
        except status.ReaderError as exc:
            # The run did its work; only the summary, read from the serving copy, cannot be shown
            # (a BI session holding that file read-write). A scheduler must not take it for a failed run.
            click.echo(f"recon run: the run succeeded, but its summary cannot be shown: {exc}", err=True)
    return 0 if ok else 1


@recon.command("simulate", **_help("seeded fault injection: kill -9 at random points, check the rerun converges"))
@click.option(
    "--seeds",
    type=click.IntRange(1, 1_000_000),
    default=20,
    help="how many seeds (default 20; thousands in a long run)",
)
@click.option("--start", type=click.IntRange(0, 2**31), default=0, help="first seed")
@click.option("--orders", type=click.IntRange(1, 100_000), default=40, help="orders in the generated world")
@click.option("--workdir", help="where the homes go (default $RECON_HOME/simulate)")
@click.option("--keep", is_flag=True, help="keep the homes of seeds that converged too")
@click.option("--jobs", type=int, default=2, help="episodes at a time (default 2: one per core)")
def cmd_simulate(seeds: int, start: int, orders: int, workdir: str | None, keep: bool, jobs: int) -> int:
    from orchestration.lab import simulate

    where = Path(workdir) if workdir else settings.recon_home() / "simulate"
    report = simulate.simulate(range(start, start + seeds), where, orders=orders, keep=keep, jobs=jobs)
    click.echo(simulate.render(report))
    simulate.write_json(report, where / "report.json")
    return 0 if not report.failed else 1


@recon.command("dev", **_help("open the Dagster UI on the project (dagster dev)"))
@click.option("--port", type=int, default=3000)
def cmd_dev(port: int) -> int:
    """Start the Dagster UI with the same environment `recon run` uses."""
    settings.apply_environment()
    prepare(force=True)
    exe = Path(sys.executable).with_name("dagster")
    cmd = [str(exe), "dev", "-m", "orchestration.definitions", "-p", str(port)]
    # Replaced, not wrapped: a SIGTERM or Ctrl-C reaches `dagster dev` itself, which stops its
    # webserver, daemon and code servers (a tryout: a wrapping recon died and left them running).
    # Started in the background by a script, SIGINT is ignored, and dagster dev maps SIGTERM
    # to SIGINT's handler, so both would be ignored: it gets the default back.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.chdir(settings.PROJECT_DIR)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(str(exe), cmd)


# ------------------------------------------------------------------------------ readers

WORKING_HELP = (
    "read the working warehouse instead of the published copy (refused while a run writes it; "
    "a run started meanwhile is refused)"
)


@recon.command("status", **_help("summary of the published copy: sources, quarantine, matches, exceptions"))
@click.option("--working", is_flag=True, help=WORKING_HELP)
def cmd_status(working: bool) -> int:
    from orchestration import status

    settings.apply_environment()
    with status.reader(working, "recon status") as (source, con):
        terminal.show(status.render(source, con))
    return 0


@recon.command(
    "query",
    **_help(
        "one read-only statement (SELECT, WITH, DESCRIBE, SHOW, SUMMARIZE, PRAGMA table_info) "
        "against the published copy; no file or extension access\n\nSQL: the statement"
    ),
)
@click.argument("sql")
@click.option("--limit", type=click.IntRange(1, MAX_ROWS_SHOWN), default=50, show_default=True, help=LIMIT_HELP)
@click.option("--working", is_flag=True, help=WORKING_HELP)
def cmd_query(sql: str, limit: int, working: bool) -> int:
    from orchestration import status

    settings.apply_environment()
    with status.reader(working, "recon query") as (source, con):
        shown, more = status.query(con, sql, limit=limit)
        terminal.show([shown])
    if more:
        click.echo(f"(the first {limit:,} rows; more follow: --limit up to {MAX_ROWS_SHOWN:,}, or aggregate)", err=True)
    if working:
        click.echo(f"(read the {source.describe()})", err=True)
    return 0


@recon.group("publication", **_help("the published serving copy"))
def publication() -> None:
    pass


@publication.command(
    "verify", **_help("exit 6 if the serving copy, its archive or a Parquet export changed since publication (sha256)")
)
def cmd_publication_verify() -> int:
    from orchestration import publish

    settings.apply_environment()
    check = publish.verify()
    if check["publication"] is None:
        click.echo(f"nothing is published yet ({publish.serving_path()})", err=True)
        return 4
    if check["ok"] is None:
        click.echo(f"publication {check['publication']} has no recorded sha256 (published before hashes were)")
        return 0
    for path, state in check["files"].items():
        note = check["notes"].get(path)
        click.echo(f"{state:<9} {path}" + (f" ({note})" if note else ""))
    if not check["ok"]:
        click.echo(
            f"publication {check['publication']}: changed since publication (sha256 {check['recorded']} recorded)"
        )
        click.echo(
            "recon publication verify: the serving copy, its archive or a Parquet export listed above is not what "
            "was published: do not report from it. Publish again from the working warehouse (`recon run "
            "--full-refresh`: a run with nothing new publishes nothing), and find what wrote to it: readers open "
            "it read-only.",
            err=True,
        )
        return 6
    click.echo(f"publication {check['publication']}: sha256 {check['recorded']} matches")
    if not check["exports_recorded"]:
        click.echo(
            f"publication {check['publication']}: its Parquet exports were published before their sha256 were "
            "recorded, so they are not checked; the next publication records them (`recon run --full-refresh`)"
        )
    return 0


# ------------------------------------------------------------------------------ the lab and the rules


@recon.command("evaluate", **_help("precision / recall of the matches against generator ground truth"))
@click.option("--ground-truth", help="ground truth of the current warehouse (default $RECON_HOME/ground_truth)")
@click.option(
    "--seeds", cls=Variadic, at_least_one=False, type=int, metavar="[SEEDS ...]",
    help="instead, build and evaluate fresh data sets for these seeds",
)  # fmt: skip
@click.option("--orders", type=ORDERS, default=5000, help="orders per seed with --seeds")
@click.option("--noise", type=NOISE, default=1.0, help="noise multiplier with --seeds")
@click.option("--json", "json_path", help="where to write the JSON report (default beside the warehouse)")
@click.option(
    "--dialect", cls=Variadic, type=click.Choice(["a", "b", "c"]), default=("a", "b", "c"), metavar="{a,b,c} [...]",
    help="generator dialects to build with --seeds: a (tuned on), b and c (held out, never tuned on)",
)  # fmt: skip
def cmd_evaluate(
    ground_truth: str | None, seeds: tuple[int, ...], orders: int, noise: float, json_path: str | None, dialect: tuple
) -> int:
    from orchestration.lab import evaluate, evaluate_exceptions

    settings.apply_environment()
    main_home = settings.recon_home()
    runs = []  # (label, home, ground truth, seed, dialect)
    if seeds:
        for name in dialect:
            for seed in seeds:
                home = main_home / "scratch" / f"evaluate-{name}-seed-{seed}-noise-{noise}"
                truth = build_scratch(home, seed, orders, noise, dialect=name)
                label = f"dialect {name}, seed {seed}, {orders} orders, noise {noise}"
                runs.append((label, home, truth, seed, name))
    else:
        truth = Path(ground_truth) if ground_truth else main_home / "ground_truth"
        runs.append((str(main_home), main_home, truth, None, None))
    for label, home, truth, seed, name in runs:
        warehouse = home / "warehouse.duckdb"
        # Without --seeds this reads the working warehouse (matches and records by key).
        with working_warehouse("recon evaluate") if seed is None else contextlib.nullcontext():
            reports = evaluate.evaluate(warehouse, truth)
            billed = evaluate.billed_accuracy_for(warehouse, truth)
            # The leg-state confusion reads dialect A's discrepancy names.
            confusion = evaluate.confusion_for(warehouse, truth) if name in ("a", None) else None
            exception_scores = evaluate_exceptions.scores_for(warehouse, truth)
        click.echo(f"== evaluation: {label} ==")
        click.echo(evaluate.render(reports))
        if billed:
            click.echo(
                f"billed amount within 1 % of the truth: {billed['within_tolerance']}/{billed['billed_orders']} "
                f"billed orders = {billed['share']:.4f}"
            )
        if confusion is not None:
            click.echo(evaluate.render_confusion(confusion))
        click.echo("exceptions against the planted discrepancies (published run):")
        click.echo(evaluate_exceptions.render(exception_scores))
        out = Path(json_path) if json_path else home / "evaluation.json"
        if seed is not None and json_path:
            out = out.with_name(f"{out.stem}-{name}-seed-{seed}{out.suffix}")
        evaluate.write_json(
            reports, out, confusion, seed=seed, dialect=name, orders=orders, noise=noise,
            billed_amount_accuracy=billed, exceptions=[e.as_dict() for e in exception_scores],
        )  # fmt: skip
        click.echo(f"written: {out}")
    return 0


@recon.command("tune", **_help("estimate match weights (m/u) from ground truth of training seeds"))
@click.option("--seeds", cls=Variadic, type=int, default=(101, 102), metavar="SEEDS [SEEDS ...]")
@click.option("--orders", type=ORDERS, default=5000)
@click.option("--noise", type=NOISE, default=1.0)
@click.option("--reconciliations", cls=Variadic, at_least_one=False, metavar="[RECONCILIATIONS ...]")
@click.option("--write", is_flag=True, help="write seeds/match_weights.csv")
def cmd_tune(seeds: tuple[int, ...], orders: int, noise: float, reconciliations: tuple[str, ...], write: bool) -> int:
    from orchestration.lab import evaluate
    from orchestration.rules import weights

    settings.apply_environment()
    main_home = settings.recon_home()
    names = list(reconciliations) or list(evaluate.MAPPINGS)
    counts, _ = evaluate.training_counts(main_home / "scratch" / "tune", seeds, orders, names, noise)
    for name in names:
        merged = counts[name]
        rows = evaluate.weights_rows(name, merged)
        click.echo(f"== {name}: m/u from seeds {', '.join(map(str, seeds))} ({orders} orders each) ==")
        click.echo(weights.bayes_factor_table(rows))
        click.echo(
            f"prior_match_probability (true share of scored candidates): {evaluate.prior_from_counts(merged):.4f}"
            " — set thresholds.prior_match_probability in the spec to this value"
        )
        if write:
            weights.write_weights(name, rows)
            click.echo(f"written: {weights.WEIGHTS_SEED}")
    return 0


@recon.command("train", **_help("estimate match weights (m/u) and the prior from the warehouse, without labels"))
@click.option(
    "--reconciliations", cls=Variadic, at_least_one=False, metavar="[RECONCILIATIONS ...]",
    help="default: every one in vars.reconciliations",
)  # fmt: skip
@click.option("--warehouse", multiple=True, help="DuckDB file, read-only (default: the warehouse); repeatable")
@click.option("--anchors", type=click.Choice(["none", "unselected", "all"]), default="none", hidden=True)
@click.option("--write", is_flag=True, help="write seeds/match_weights.csv for these reconciliations")
@click.option(
    "--to", "rules_dir", type=click.Path(file_okay=False, path_type=Path),
    help="write the trained weights into DIR/seeds/match_weights.csv instead (for recon shadow --rules DIR)",
)  # fmt: skip
@click.option("--force", is_flag=True, help="write even weights that disagree with the current ones")
def cmd_train(
    reconciliations: tuple[str, ...], warehouse: tuple[str, ...], anchors: str, write: bool, rules_dir: Path | None,
    force: bool,
) -> int:  # fmt: skip
    """m/u per level and the prior by EM on the candidate pairs of a warehouse: no labels needed.

    Each reconciliation's trained weights are compared with the current ones on every
    warehouse given: the records the scored pass auto-matches under each, and whether a
    closer agreement still weighs more than the least. --write refuses weights that keep
    under 90 % of today's auto-matches, add over 25 % as many others, or invert a
    comparison (EM can settle on another latent class, such as "same client"), unless
    --force; --to writes a rules directory to try them first with recon shadow.
    """
    from orchestration import specs
    from orchestration.rules import train, weights

    settings.apply_environment()
    if write and rules_dir is not None:
        click.echo("recon train: give --write (the project's seed) or --to DIR (a rules directory), not both", err=True)
        return 2
    if rules_dir is not None and (problem := train.rules_dir_problem(rules_dir)):
        click.echo(f"recon train: {problem}; nothing written", err=True)
        return 2
    names = list(dict.fromkeys(reconciliations)) or None  # a name given twice is trained once
    paths = [Path(w) for w in warehouse] or [settings.warehouse_path()]
    warehouses = list({p.resolve(): p for p in paths}.values())  # nor is a warehouse read twice
    try:
        with working_warehouse("recon train"):  # it reads the candidate pairs, which only the warehouse has
            results = train.train(warehouses, names, anchors=anchors)
            # --write changes the weights only: judge them at the spec's prior, as they will run.
            agreements = {
                r.name: [
                    train.agreement(
                        w, r, spec := specs.load_spec(r.name),
                        prior=float(spec["thresholds"]["prior_match_probability"]) if write else None,
                    )
                    for w in warehouses
                ]
                for r in results
            }  # fmt: skip
    except train.TrainError as exc:
        click.echo(f"recon train: {exc}", err=True)
        return 2
    for result in results:
        click.echo(train.render(result, specs.load_spec(result.name)))
        for agreed in agreements[result.name]:
            click.echo(agreed.render())
    agreeing = [n for n, per in agreements.items() if all(a.agrees for a in per)]
    disagreeing = [n for n in agreements if n not in agreeing]
    click.echo(
        f"== agrees: {', '.join(agreeing) or 'none'}; disagrees: {', '.join(disagreeing) or 'none'}. The comparison "
        "covers each scored record's best candidate; group matches, assignment and ambiguity show only in "
        "recon shadow. =="
    )
    if write and disagreeing and not force:
        only = f" Write the agreeing ones with --write --reconciliations {' '.join(agreeing)};" if agreeing else ""
        click.echo(
            f"recon train: not written: the trained weights of {', '.join(disagreeing)} disagree with the current "
            f"ones (above).{only} try the others with recon train --to DIR, then recon shadow --rules DIR, and read "
            "the drift report; write them with --write --force only if its matches are right.",
            err=True,
        )
        return 3
    try:
        if rules_dir is not None:
            written = train.write_rules_dir(rules_dir, results)
            click.echo(f"written: {', '.join(str(p) for p in written)}; now: recon shadow --rules {rules_dir}")
        elif write:
            for result in results:
                weights.write_weights(result.name, result.rows, weights.WEIGHTS_SEED)
                spec = f"macros/specs/spec__{result.name}.sql"
                prior = f"set thresholds.prior_match_probability in {spec} to {result.model.prior:.4f}"
                click.echo(f"written: {weights.WEIGHTS_SEED}; {result.model.note or prior}")
            click.echo("a rule change: recon run refuses it until approved (recon governance approve, three roles)")
    except OSError as exc:
        click.echo(f"recon train: cannot write the weights: {exc}", err=True)
        return 2
    return 0


def duckdb_readonly(path: Path):
    from orchestration.warehouse import open_reader

    return open_reader(path)


# ------------------------------------------------------------------------------ exceptions


def _store():
    from orchestration import actions

    settings.apply_environment()
    return actions.ActionStore.open_existing()  # never created by a command: a mistyped path is refused


def _reading_store():
    """The store for commands that only read it (list, show): SLAs and "overdue" are judged
    by the business clock the marts and `recon status` use (ActionStore.reading_clock), so
    a replay's list is not judged by today's date. Returns the store and a line saying which
    clock that is during a replay (empty otherwise)."""
    store = _store()
    now, source = store.use_reading_clock()
    note = ""
    if source == "replay":
        note = (
            f"as of {now.isoformat()} (the last run's pinned RECON_AS_OF: a replay; SLA and overdue are judged "
            "at that time, like the marts and recon status)"
        )
    return store, note


def _requested_operator(actor: str | None) -> str | None:
    """Who to act as: --as, else RECON_USER (a default for --as, not an identity), else the login's own operator.

    Whoever is named, the store checks that the OS login may act as them.
    """
    if actor is not None and not actor.strip():
        # An empty --as is a mistake (an unset shell variable), not a request to be someone else.
        raise click.BadParameter("needs an operator's name", param_hint="--as")
    return actor or os.environ.get("RECON_USER") or None


@recon.group("exceptions", **_help("work the exceptions: list, show, claim, resolve, ..."))
def exceptions() -> None:
    pass


EXCEPTION_COLUMNS = [
    "id", "type", "team", "status", "claimed by", "severity", "SLA due (UTC)", "overdue (escalated)", "at risk",
    "record",
]  # fmt: skip


def _at_risk_shown(row: dict) -> str:
    """The list's amount at risk: in the reporting currency. An exception with none there (its
    currency has no rate, or is not known yet: invoice lines whose header has not arrived)
    shows its own amount and currency; one with no amount at all (amount_out_of_range) shows
    nothing. Before, both read 0.00: 2,000.00 of lines without their header listed as nothing
    at risk."""
    if row.get("amount_at_risk_reporting") is not None:
        return f"{Decimal(row['amount_at_risk_reporting']):,.2f}"
    if row.get("amount_at_risk") is None:
        return ""
    return f"{Decimal(row['amount_at_risk']):,.2f} {row.get('currency') or '(currency unknown)'}"


@exceptions.command("list", **_help("current exceptions, most urgent SLA first"))
@click.option("--team")
@click.option("--owner", help="claimed by this operator")
@click.option(
    "--status",
    type=click.Choice(list(STATUSES)),
    help="auto_resolved: closed by later data; such exceptions are no longer found, so they are listed without --all",
)
@click.option("--severity", type=click.Choice(["auto_resolve", "manual_review", "block_payout"]))
@click.option("--type", "exception_type")
@click.option("--client", help="client name contains this text (any case), as the desk's client filter")
@click.option("--overdue", is_flag=True)
@click.option("--all", "include_retired", is_flag=True, help="include exceptions the last run no longer found")
@click.option("--limit", type=click.IntRange(1, MAX_ROWS_SHOWN), default=50, show_default=True, help=LIMIT_HELP)
@click.option("--json", "as_json", is_flag=True)
@click.option("--ids", is_flag=True, help="print only the exception ids, one per line (for scripts)")
def cmd_exceptions_list(
    team: str | None,
    owner: str | None,
    status: str | None,
    severity: str | None,
    exception_type: str | None,
    client: str | None,
    overdue: bool,
    include_retired: bool,
    limit: int,
    as_json: bool,
    ids: bool,
) -> int:
    from orchestration import policy_docs
    from orchestration.actions import InvalidInput, check_text

    if client is not None:
        # As the desk's filter (orchestration/desk/service.py): trimmed, at most 200 characters,
        # and none a reader cannot see; empty means no filter there, but typed here it is a mistake.
        try:
            client = check_text(client.strip(), "--client", MAX_CLIENT_CHARS)
        except InvalidInput as exc:
            raise click.BadParameter(str(exc).removeprefix("--client "), param_hint="--client") from None
        if not client:
            raise click.BadParameter("needs a client name, or part of one", param_hint="--client")

    known = policy_docs.exception_types()
    if exception_type is not None and exception_type not in known:  # a typo would list nothing, silently
        raise click.BadParameter(
            f"{exception_type!r} is no exception type; one of: {', '.join(known)}", param_hint="--type"
        )
    store, clock_note = _reading_store()
    if team is not None and team not in store.policy_teams():
        from orchestration.identity import close_match

        match = close_match(team, store.policy_teams())
        raise click.BadParameter(
            f"{team!r} is no team; "
            + (f"did you mean {match!r}? One of: " if match else "one of: ")
            + ", ".join(store.policy_teams()),
            param_hint="--team",
        )
    if (
        owner is not None
        and owner not in store.policy.operators
        and not store.list_exceptions(owner=owner, include_retired=True)
    ):  # someone since removed from the roster may still hold claims: those are listed
        raise click.BadParameter(
            f"{owner!r} is no operator in config/operators.yml and holds no claim; "
            f"operators: {', '.join(sorted(store.policy.operators))}",
            param_hint="--owner",
        )
    rows = store.list_exceptions(
        team=team,
        owner=owner,
        status=status,
        severity=severity,
        exception_type=exception_type,
        client=client,
        overdue=overdue,
        # An exception closed by later data is one the last run no longer found: none is current.
        include_retired=include_retired or status == "auto_resolved",
    )
    if as_json:
        click.echo(json.dumps(rows[:limit], indent=2, default=str))
        return 0
    if ids:
        click.echo("\n".join(r["exception_id"] for r in rows[:limit]))
        return 0
    shown = [
        (
            r["exception_id"][:8],
            r["exception_type"],
            r["owner_team"],
            r["status"],
            r["claimed_by"] or "",
            r["severity"],
            r["sla_due_at"][:16].replace("T", " "),
            # Past its SLA with nothing at risk, a quiet severity stays with its team
            # (seeds/severity_policy.csv escalates_with_nothing_at_risk): no escalation to name.
            (f"yes, to {r['escalated_to']}" if r["escalated_to"] else "yes, not escalated") if r["is_overdue"] else "",
            _at_risk_shown(r),
            record_key_shown(r["record_id"]),
        )
        for r in rows[:limit]
    ]
    terminal.show([terminal.table(EXCEPTION_COLUMNS, shown)])
    click.echo(f"{len(rows)} exception(s){' (showing ' + str(limit) + ')' if len(rows) > limit else ''}")
    if clock_note:
        click.echo(clock_note)
    return 0


@exceptions.command("show", **_help("one exception: records, candidates with score components, every action"))
@click.argument("exception_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True)
def cmd_exceptions_show(exception_id: str, as_json: bool) -> int:
    store, clock_note = _reading_store()
    entry = store.catalog_entry(exception_id)
    state = store.state(entry["exception_id"])
    history = store.history(entry["exception_id"])
    stored_details = entry.pop("details") or "{}"
    details = json.loads(stored_details)
    doc = {"exception": entry, "state": state.__dict__, "details": details, "history": history}
    if as_json:
        click.echo(json.dumps(doc, indent=2, default=str))
        return 0
    from orchestration.terminal import one_line

    def echo(line: str) -> None:
        # Each call prints one line; what a value holds (a comment's line feeds, an escape
        # in a client name from a landing file) is spelled out, never a line of its own.
        click.echo(one_line(line))

    currency = entry.get("currency")
    # The legs again, their numbers as the Decimals the JSON spells (not floats); in the
    # order's currency (a catalog published before it was recorded: the exception's).
    legs = json.loads(stored_details, parse_float=Decimal).get("legs")
    legs_currency = (legs or {}).get("currency") or currency
    echo(f"exception {entry['exception_id']}  ({entry['exception_type']}, {entry['severity']})")
    echo(f"  {'record_entity':<26} {entry['record_entity']}")
    echo(f"  {'record_id':<26} {record_key_shown(entry['record_id'])}")
    echo(f"  {'client_name':<26} {entry['client_name'] or '(none given)'}")
    named = details.get("named_client") or {}
    if named.get("client_name") and named["client_name"] != entry["client_name"]:
        # A campaign's or an invoice's exception carries the name as sent (a campaign name);
        # the client its names resolve to is what an operator looks for.
        echo(f"  {'client (as resolved)':<26} {named['client_name']} ({named['client_id']})")
    echo(
        f"  {'currency':<26} {currency or '(none)'}"
        + (f"  (the order is in {legs_currency}: its legs below are)" if legs and legs_currency != currency else "")
    )
    echo(f"  {'amount_at_risk':<26} {_money(entry['amount_at_risk'], currency)}")
    from orchestration.publish import reporting_currency

    # Only a value in today's reporting currency is printed under it (store.in_todays_currency);
    # before, a closed exception's value of a run that reported in another showed as today's.
    reporting = entry.get("reporting_value_note") or _money(entry["amount_at_risk_reporting"], reporting_currency())
    echo(f"  {'amount_at_risk_reporting':<26} {reporting}")
    echo(f"  {'owner team':<26} {state.owner_team}")
    echo(f"  {'status':<26} {state.status}" + (f" (claimed by {state.claimed_by})" if state.claimed_by else ""))
    echo(f"  {'first seen / last seen':<26} {entry['first_seen_at']} / {entry['last_seen_at']}")
    sla = f"{state.sla_due_at.isoformat()}" + ("  BREACHED" if state.is_breached else "")
    echo(f"  {'SLA due':<26} {sla}" + (f" (reopened {state.reopened_at})" if state.reopened_at else ""))
    if clock_note:
        echo(f"  {'':<26} {clock_note}")
    if state.escalated_to:
        echo(f"  {'escalated to':<26} {state.escalated_to}")
    if state.pending_adjustments:
        echo(f"  {'pending adjustments':<26} {', '.join(state.pending_adjustments)}")
    if state.pending_links:  # manual matches waiting for a checker: no run applies them until approved
        echo(f"  {'links awaiting approval':<26} {', '.join(state.pending_links)} (approve ID --link LNK-…)")
    # (A catalog published before reconciliations were listed has one: see below.)
    if not entry.get("is_current") and (legs or details.get("reconciliations", [None])):
        # No longer found: what follows (the order's legs, its records) is as the last run that
        # found it saw it. Printed after the legs, the label left "billed 0.00" of an order
        # billed since reading as now.
        echo(f"  as last found ({entry['last_seen_at']}); the break is gone since:")
    if legs:
        shown = ", ".join(
            f"{k} {_money(legs[k], legs_currency)}"
            for k in ("booked", "billed", "credited", "delivered", "fulfilled")
            if legs.get(k) is not None
        )
        expects = [
            leg
            for leg, flag in (("delivery", "expects_delivery"), ("fulfilment", "expects_fulfilment"))
            if legs.get(flag)
        ]
        echo(
            f"  {'order legs (' + str(legs_currency) + ')':<26} {shown}  "
            f"({legs.get('order_type')}; expects {', '.join(expects) or 'billing only'})"
        )
    # The items a duplicate_billing exception is about (int_duplicate_billing_items): those
    # the rule that raised it compared, as invoiced, and none where it compared no two items.
    for pair in json.loads(stored_details, parse_float=Decimal).get("repeated_billing") or []:
        for label, text in _duplicate_billing_shown(pair):
            echo(f"  {label:<26} {text}")
    quarantined = details.get("quarantined")
    if quarantined:
        files = quarantined.get("files") or []
        echo(
            f"  {'quarantined rows':<26} {quarantined['rows']} row(s) naming this record or its match were not "
            f"loaded ({', '.join(files[:3])}{' and more' if len(files) > 3 else ''}): the break may come from them; "
            "recon status --working lists why"
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
        matched = ", ".join(record_key_shown(k) for k in rec.get("matched_keys") or []) or "none"
        echo(f"  in {rec['reconciliation']}: {rec.get('record_state')}  matched: {matched}")
        candidates = rec.get("top_candidates") or []
        if candidates:
            echo("    candidates (best first):")
        for cand in candidates:
            parts = ", ".join(f"{f}={c['level']}({c['weight']:+})" for f, c in (cand.get("components") or {}).items())
            key, p, w = record_key_shown(cand["candidate_key"]), cand["match_probability"], cand["match_weight"]
            echo(f"      {key:<28} p={p:<7} weight={w:<8} {parts}")
        if not candidates:
            echo(f"    {no_candidates_said(rec.get('record_state'), rec.get('matched_by'))}")
    from orchestration import links

    withdrawn_links = details.get("withdrawn_links") or []
    for link in withdrawn_links:
        # A record linked by hand to this order that the source no longer gives: the link
        # lapsed, and what it placed on the order left it (int_operator_links_withdrawn).
        pair = f"{record_key_shown(link.get('left_key'))} ↔ {record_key_shown(link.get('right_key'))}"
        echo(
            f"  {'by hand (' + str(link.get('reconciliation')) + ')':<26} {pair}: linked by {link.get('actor')} "
            f"(#{link.get('seq')}), lapsed: {link.get('withdrawn') or 'its record is no longer in its source'}"
        )
    if withdrawn_links and entry["exception_type"] == "manual_link_changed":
        placed = (
            "what they placed on this order left it"
            if entry["record_entity"] == links.ORDER_ENTITY
            else "the rules decide this record again"
        )
        echo(
            f"  the link(s) above no longer decide anything here: {placed}. Link the record again if it came back "
            "under another key (match ID --in RECONCILIATION --with KEY), undo the link (unmatch ID --in "
            "RECONCILIATION --with KEY: the record need not come back), or resolve with a reason once the "
            f"{'order' if entry['record_entity'] == links.ORDER_ENTITY else 'record'} is right without it; a record "
            "that comes back as it was is linked again"
        )
    if entry["record_entity"] == links.CREDIT_NOTE_ENTITY:
        # A credit note is in no reconciliation's records: its links by hand are what an
        # operator reviewing it needs (a lapsed link's review named none of them before).
        said = store.links_of(links.CREDIT_NOTES, entry["record_id"])
        for word in said:
            how = "linked" if word["linked"] else "moved by a later link" if word["action"] == "match" else "unmatched"
            pair = f"{word['left']} ↔ {word['right']}"
            echo(f"  {'by hand (credit_notes)':<26} {pair}: {how} by {word['actor']} (#{word['seq']})")
        if entry["exception_type"] == "manual_link_changed":
            echo(
                "  the link above no longer decides it: the credit note was restated since, or the invoice it names "
                "bills no order, several or another one; match again (--with ORDER or INVOICE) or unmatch"
            )
        elif not said:
            echo("  not linked by hand: link it with recon exceptions match ID --with ORDER (or INVOICE)")
    elif not reconciliations:
        echo("  not a record any reconciliation matches")
    if state.status == "claimed":
        echo(
            "  link by hand: recon exceptions match ID --with KEY --reason CODE"
            " (unmatch to break a wrong link); the next run applies it"
        )
    echo("  history:")
    for h in history:
        shown = dict(h)
        if h["action"] in ("resolve", "reopen") and h.get("amount") is not None:
            # A resolution's amount is what it accepted; a reopen's, what was then at risk.
            label = "accepted" if h["action"] == "resolve" else "now at risk"
            shown[label], shown["amount"], shown["target"] = (
                f"{_money(h['amount'], h.get('target'))} {h.get('target') or ''}".strip(),
                None,
                None,
            )
        elif h.get("amount") is not None:  # an adjustment, in the exception's currency
            shown["amount"] = _money(h["amount"], currency)
        if h["action"] in LINK_ACTIONS:
            shown["target"] = link_shown(h.get("target"))
        extra = " ".join(
            f"{k}={shown[k]}"
            for k in ("reason_code", "accepted", "now at risk", "amount", "target", "comment")
            if shown.get(k) not in (None, "")
        )
        login = f" (login {h['login']})" if h.get("login") and h["login"] != h["actor"] else ""
        # The business time it took effect at (a replay pins it), and the real time if it differs.
        at = h.get("effective_at") or h["acted_at"]
        recorded = (
            f" (recorded {h['acted_at']})"
            if h.get("effective_at") and h["effective_at"][:19] != h["acted_at"][:19]
            else ""
        )
        echo(f"    #{h['seq']:<5} {at}  {h['actor']:<8} {h['action']:<12} {extra}{login}{recorded}")
    if not history:
        echo("    no actions yet")
    return 0


@functools.cache
def _minor_units() -> dict[str, int]:
    """Decimal places per currency (seeds/currencies.csv): JPY has none."""
    import csv

    try:
        with open(settings.PROJECT_DIR / "seeds" / "currencies.csv", newline="") as fh:
            return {row["currency"].strip().upper(): int(row["minor_units"]) for row in csv.DictReader(fh)}
    except (OSError, KeyError, ValueError):
        return {}


def _duplicate_billing_shown(evidence: dict) -> list[tuple[str, str]]:
    """The lines `show` prints for one entry of a duplicate_billing exception's evidence.

    Two items the rule compared (one amount billed twice) are named as such; which of the two
    is the copy no rule says (dialect B seed 11: the later, or unmatched, one was the planted
    copy in 19 of the 43 orders whose rule compares items, though in all 212 billed twice the
    booking), so neither is called the copy. A rule that compared no two items (billed
    about twice the booking in all; over-billed by the amount of several of its items) names
    none, and says what it compared."""
    currency = evidence.get("currency")
    repeat, original = evidence.get("repeat"), evidence.get("original")
    if repeat and original:
        apart = f"{evidence.get('days_apart')} day(s) apart" + (
            "" if repeat.get("matched") else "; matched to no order"
        )
        return [
            ("billed twice", _billing_item_shown(original, currency)),
            ("  and again", f"{_billing_item_shown(repeat, currency)}  ({apart})"),
        ]
    order_currency = evidence.get("order_currency") or currency
    billed, booked = evidence.get("billed_amount"), evidence.get("booked_amount")
    totals = f"{_money(billed, order_currency)} of {_money(booked, order_currency)} {order_currency or ''}".rstrip()
    none_named = "no single item is named as repeating another"
    if evidence.get("rule") == "billed_twice_the_booking":
        try:
            times = f"{Decimal(str(billed)) / Decimal(str(booked)):.1f} × the booking"
        except (ArithmeticError, TypeError, ValueError):
            times = "about twice the booking"
        return [
            (
                "billed in all",
                f"{times} ({totals}) on {evidence.get('invoice_count')} invoice(s); {none_named}: the rule compared"
                " what was billed in all with the booking, not one item with another",
            )
        ]
    try:
        excess = _money(Decimal(str(billed)) - Decimal(str(booked)), order_currency)
    except (ArithmeticError, TypeError, ValueError):
        excess = "?"
    return [
        (
            "billed in all",
            f"over the booking by {excess} ({totals}), the amount of each of several of its items; {none_named}:"
            " which of them is billed again the rule does not say",
        )
    ]


def _billing_item_shown(item: dict, currency: str | None) -> str:
    """A billing item as an operator finds it on the invoice: number, lines, date, amount."""
    number = item.get("invoice_number") or record_key_shown(item.get("invoice_id"))
    lines = str(item.get("lines") or "")
    shown_lines = f" {'lines' if ',' in lines else 'line'} {lines}" if lines else ""
    amount = f"{_money(item.get('amount'), currency)} {currency or ''}".rstrip()
    return f"{number}{shown_lines}, {item.get('issue_date')}, {amount}"


def _money(value: object, currency: str | None) -> str:
    """An amount as `recon exceptions show` prints it: decimal text with the currency's places
    (2 when unknown), never dropping a digit the value has, and without thousands separators,
    so it can be pasted into --amount. Text that is no number is shown as it is."""
    if value is None:
        return ""
    try:
        amount = Decimal(str(value))
    except ArithmeticError:
        return str(value)
    if not amount.is_finite():
        return str(value)
    quantum = Decimal(1).scaleb(-_minor_units().get(str(currency or "").strip().upper(), 2))
    try:
        rounded = amount.quantize(quantum)
    except ArithmeticError:  # more digits than the context holds: as stored
        return str(value)
    return format(rounded if rounded == amount else amount.normalize(), "f")


def cmd_exception_action(
    action: str,
    exception_id: str,
    actor: str | None,
    reason: str | None,
    text: str | None,
    amount: str | None,
    adjustment: str | None,
    team: str | None,
    link_id: str | None = None,
    with_keys: tuple[str, ...] = (),
    reconciliation: str | None = None,
) -> int:
    """``recon exceptions ACTION ID``: one action, recorded by the store, which checks who may take it."""
    from orchestration import actions

    given = {"--amount": amount, "--adjustment": adjustment, "--link": link_id, "--team": team}
    for option, value in given.items():
        if value is not None and action not in OPTION_ACTIONS[option]:
            # Dropped silently, an operator would believe it recorded (claim --amount 500).
            click.echo(
                f"recon exceptions {action}: {option} does not apply to {action} "
                f"(only to {', '.join(OPTION_ACTIONS[option])}); nothing recorded",
                err=True,
            )
            return 2
    store = _store()
    operator = _requested_operator(actor)
    link, notes = None, []
    if action in LINK_ACTIONS:
        link = _manual_link(store, action, exception_id, list(with_keys), reconciliation, notes)
        if isinstance(link, int):  # refused: the exit code
            return link
    # Notes and the pinned-clock warning wait for the store's verdict: printed before a
    # refusal, they read as if the action had been recorded.
    entry = store.act(
        action,
        exception_id,
        operator,
        reason=reason,
        comment=text,
        amount=amount,
        adjustment=adjustment,
        link_id=link_id,
        team=team,
        link=link,
    )
    if actions.as_of_pinned():
        click.echo(
            f"recon: warning: RECON_AS_OF={actions.as_of_pinned()} pins the business clock: this action is "
            "recorded at the real time (acted_at) and takes effect at the pinned time (effective_at); "
            "both are in the audit log. Unset RECON_AS_OF outside replays and tests.",
            err=True,
        )
    for note in notes:
        click.echo(note, err=True)
    waiting = link_approval_id(entry.get("target")) if link is not None else None
    if link is not None and waiting is not None:
        sides = f"{', '.join(link.left)} ↔ {', '.join(link.right)}"
        why = "; ".join(json.loads(entry["target"]).get("review") or [])
        click.echo(
            f"in {link.reconciliation}: {sides} awaits approval as {waiting} ({why}): a different approver of the "
            f"team checks it (`recon exceptions approve {entry['exception_id'][:8]} --link {waiting}`, or reject); "
            "no run applies it until approved"
        )
    elif link is not None:
        sides = f"{', '.join(link.left)} ↔ {', '.join(link.right)}"
        verb = "linked" if action == "match" else "may never be linked"
        click.echo(
            f"in {link.reconciliation}: {sides} {verb}; the next `recon run` applies it "
            "(pass `operator`) and the marts, the money and the exceptions follow"
        )
    if entry["action"] == "approve" and str(entry.get("target") or "").startswith(LINK_APPROVAL_PREFIX):
        click.echo(f"link {entry['target']} approved; the next `recon run` applies it (pass `operator`)")
    state = json.loads(entry["state_after"])
    pending = [*state["pending_adjustments"], *state.get("pending_links", [])]
    # A resolution's target is the currency of the value at risk it accepted: said as such.
    resolve = entry["action"] == "resolve"
    # A link was said in words above; its JSON (with fingerprints) is the log's, not the operator's.
    target = f" {entry['target']}" if entry.get("target") and not resolve and link is None else ""
    accepted = (
        f"; accepted {_money(entry['amount'], entry.get('target'))} {entry.get('target') or ''}".rstrip() + " at risk"
        if resolve and entry.get("amount")
        else ""
    )
    by = entry["actor"] + (f" (login {entry['login']})" if entry.get("login") != entry["actor"] else "")
    click.echo(
        f"{entry['action']}{target} recorded as #{entry['seq']} by {by}: status {state['status']}"
        + (f", pending approval: {', '.join(pending)}" if pending else "")
        + accepted
    )
    return 0


def _manual_link(
    store, action: str, exception_id: str, with_keys: list[str], reconciliation: str | None, notes: list[str]
):
    """The link `match` / `unmatch` records: checked, and its records looked up in the published copy;
    when refused, the exit code (2 usage, 4 a record the publication lacks). What the link
    will change is appended to ``notes``, for the caller to print once the store accepted it."""
    from orchestration import links, publish

    entry = store.catalog_entry(exception_id)
    details = json.loads(entry.get("details") or "{}")
    try:
        link = links.build({**entry, "domain": details.get("domain")}, with_keys, reconciliation)
    except links.LinkError as exc:
        click.echo(f"recon exceptions {action}: {exc}", err=True)
        return 2
    # An unmatch may name a record the published copy no longer holds, where an operator's
    # link in force pairs it (the source withdrew it, or matching holds it out): undoing a
    # lapsed link must not wait for the record to come back.
    held = store.linked_pairs(link.reconciliation) if action == "unmatch" else ()
    missing, link = links.look_up(link, publish.serving_path(), held)
    if missing:
        click.echo(
            f"recon exceptions {action}: the published data has no {'; no '.join(missing)}: check the key "
            "(`recon query` on the serving copy lists them)",
            err=True,
        )
        return 4  # not found (README: exit codes)
    if action == "match" and link.reconciliation != links.CREDIT_NOTES:
        from orchestration import specs

        shared = links.right_may_share(specs.load_spec(link.reconciliation))
        for right, left, version, pass_name in links.linked_elsewhere(link, publish.serving_path()):
            if pass_name != "operator":
                what = f"the next run moves it here: an operator's link comes before every rule ({version})"
            elif shared:
                what = (
                    "linking it here too ties it to both (an invoice item's amount is then split between its "
                    f"orders by booking); to move it instead, unmatch it from {left} first"
                )
            else:
                what = f"this later link moves it here (in {link.reconciliation} it belongs to one record)"
            notes.append(f"note: {right} is matched to {left} now; {what}.")
        notes += links.unlike(link, publish.serving_path())
        notes += links.billed_in_full(link, publish.serving_path())
    return link


def _action_command(action: str) -> click.Command:
    """``recon exceptions ACTION``: the same options for every action, plus ``--with`` / ``--in`` to link."""
    params: list[click.Parameter] = [
        click.Argument(["exception_id"], metavar="ID"),
        click.Option(
            ["--as", "actor"], help="act as this operator (needs the act_as role; default $RECON_USER, else you)"
        ),
        click.Option(["--reason"], help="reason code (seeds/reason_codes.csv)"),
        click.Option(["--text"], help="comment text"),
    ]
    # Every action takes these options, so that one given where it does not apply is refused by
    # name (cmd_exception_action: "does not apply", nothing recorded); --help lists them only
    # for the actions they apply to.
    for names, help_text in (
        (["--amount"], "adjustment amount, in the exception's currency, within its currency's range"),
        (["--adjustment"], "the adjustment (ADJ-…) to approve or reject"),
        (["--link", "link_id"], "the manual link (LNK-…) to approve or reject: a match waiting for a checker"),
        (["--team"], "team to reassign to"),
    ):
        params.append(click.Option(names, help=help_text, hidden=action not in OPTION_ACTIONS[names[0]]))
    if action in LINK_ACTIONS:
        params += [
            Variadic(
                ["--with", "with_keys"],
                required=True,
                metavar="KEY [KEY ...]",
                help="the other side's record(s): order ids for an invoice or campaign, billing items for an order",
            ),
            click.Option(
                ["--in", "reconciliation"], help="the reconciliation, when the record is in several (an order)"
            ),
        ]
    return ReconCommand(
        action,
        params=params,
        callback=functools.partial(cmd_exception_action, action),
        **_help(f"{ACTION_HELP.get(action, action + ' an exception')}\n\nID: exception id (a unique prefix is enough)"),
    )


for _action in ACTIONS:
    exceptions.add_command(_action_command(_action))


# ------------------------------------------------------------------------------ audit


@recon.group("audit", **_help("check the operator action log"))
def audit() -> None:
    pass


@audit.command(
    "verify",
    **_help("recompute the hash chain and check it against the last publication's anchor; exit 6 and say where"),
)
def cmd_audit_verify() -> int:
    """The hash chain, and the chain against the head the last publication anchored.

    Reads the store read-only (a missing file or table is reported, never re-created) and
    the anchor from the serving copy's current.json, never the working warehouse.
    """
    from orchestration import actions, publish

    settings.apply_environment()
    path = actions.store_path()
    actions.check_store_file(path)  # a directory: said, not sqlite's "disk I/O error"
    entries = actions.read_log(path) if path.exists() else None
    problems = actions.verify_chain(entries or [])
    published = publish.current()
    anchor = (published or {}).get("audit_anchor")
    source = f"the publication {published['publication']}" if published else ""
    problems += actions.check_anchor(entries, anchor, path, source)
    # Every archived publication's own anchor too, and current.json against its archive;
    # not those anchored on a branch an ops lead abandoned since (recon audit accept-fork).
    forks = actions.accepted_forks(path)
    for name, archived in publish.archived_anchors():
        if published and name == published["publication"] and archived != anchor:
            problems.append(
                f"publications/current.json's audit anchor differs from the one archived with publication {name} "
                "(publication.json): one of them was edited"
            )
        if archived != anchor and actions.superseded_by_fork(archived, forks) is None:
            problems += actions.check_anchor(entries, archived, path, f"the archived publication {name}")
    # The catalog (who owns each exception, its amounts) is rewritten by every run, outside the
    # chain, with its digest: recomputed here; compared with the publication's digest and rows
    # unless a run since refreshed it without publishing.
    from orchestration import alerts, lock

    last = alerts.last_run()
    run_since = bool(published) and (
        # a run holds the warehouse: it may have written the catalog and not yet published
        lock.current_holder() is not None
        or (bool(last) and last.get("run_id") != published["run_id"] and not last.get("succeeded"))
    )
    # Relaxed only if such a run did write the catalog after the publication (check_catalog
    # reads when, from its snapshot): a failed run that never reached the catalog step (a
    # reprocessing, a blocked gate) relaxes nothing.
    catalog_problems, anchored, since = (
        actions.check_catalog(path, anchor, source, published["published_at"] if run_since else None)
        if path.exists()
        else ([], False, False)
    )
    # The publication's own exceptions: to name the rows that differ, or when there is no
    # digest to go by (a store or publication of an older version). A catalog whose digest is
    # the one the publication anchored is what that run published: nothing to read again.
    if path.exists() and published and not since and not anchored:
        catalog_problems += actions.catalog_disagreements(path, publish.serving_path())
    problems += [
        f"{p}: the catalog was edited outside a run (the next run rewrites the current exceptions; restore "
        "actions.sqlite from a backup to keep their first sightings)"
        for p in catalog_problems
    ]
    count = len(entries or [])
    if problems:
        click.echo(f"audit FAILED for {path}: {len(problems)} problem(s) in {count} entries")
        for p in problems:
            click.echo(f"  {p}")
        click.echo(
            "recon audit verify: the action log was changed outside recon. Restore it from a backup whose chain "
            "verifies; after restoring an older backup, `recon audit accept-fork` sets the warehouse's later "
            "entries aside.",
            err=True,
        )
        return 6
    for entry in entries or []:  # logged by an older version: flagged when copied, never fatal
        _, flags = actions.warehouse_row(entry)
        if flags:
            click.echo(f"  warning: entry seq {entry['seq']}: {'; '.join(flags)} (copied to the warehouse as null)")
    if entries is None:  # nothing anchored either (else a problem above): a fresh or mistyped RECON_HOME
        click.echo(
            f"recon audit verify: no action log at {path}: no operator has acted under this RECON_HOME "
            f"({settings.recon_home()}); check RECON_HOME if you expected one",
            err=True,
        )
        return 4
    if anchor:
        where = f"anchored seq {anchor['seq']} of {source} ({anchor.get('anchored_at')}) is in the log"
    elif published:
        where = f"no anchor yet: {source} was made before anchors existed; the next run anchors the log"
    else:
        where = "no anchor yet: nothing is published; the first run anchors the log"
    click.echo(f"audit ok: {count} entries, hash chain intact ({path}); {where}")
    return 0


@audit.command(
    "accept-fork",
    **_help("after a restore from an older backup: keep the store as it is, set the warehouse's later entries aside"),
)
@click.option("--as", "actor", help="an ops lead (default $RECON_USER, else you; others need act_as)")
@click.option("--reason", required=True, help="what happened to the action store")
def cmd_audit_accept_fork(actor: str | None, reason: str) -> int:
    """Accept the action store as it is after a restore: the warehouse's later copy is set aside."""
    from orchestration import actions, warehouse
    from orchestration.lock import WarehouseBusy, warehouse_lock

    settings.apply_environment()
    store = actions.ActionStore.existing()
    if store is None:
        click.echo(f"recon: refused: no action store at {actions.store_path()}", err=True)
        return 4
    operator = _requested_operator(actor)
    try:
        with warehouse_lock("recon audit accept-fork"):
            con = warehouse.open_writer(settings.warehouse_path())
            try:
                moved = actions.accept_fork(store, con, operator, reason)
            finally:
                con.close()
    except WarehouseBusy as exc:
        click.echo(f"recon: refused: {exc}", err=True)
        return 5
    who = store.policy.acting(store.login(), operator, "accept a fork").name
    click.echo(
        f"fork accepted by {who}: {moved} warehouse entr{'y' if moved == 1 else 'ies'} set aside in "
        "raw.operator_actions_forked; the next run copies the store's entries from there on"
    )
    return 0


# ------------------------------------------------------------------------------ lineage, quality, rules


@recon.command(
    "trace",
    **_help(
        "lineage of an exception, a match or a record: files → staging → match → actions\n\n"
        "ID: exception id or prefix, match id, or a record key (SO-…, INV-…, CMP-…); kind:key forces a kind"
    ),
)
@click.argument("trace_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="print the trace as JSON")
def cmd_trace(trace_id: str, as_json: bool) -> int:
    from orchestration import actions, publish, trace
    from orchestration.lock import WarehouseBusy, WarehouseHeldTooLong

    settings.apply_environment()
    actions.check_store_file(actions.store_path())
    try:
        # Lineage needs raw rows and staging: the working warehouse has them. While a run
        # holds it, the serving copy does too (each publication copies the lineage, as the
        # desk's trace reads it): an operator tracing during a daytime run is not refused.
        try:
            with working_warehouse(f"recon trace {trace_id}"):
                found = trace.trace(
                    settings.warehouse_path(), actions.store_path(), trace_id, publication=publish.current()
                )
        except WarehouseBusy as busy:
            if not settings.serving_path().exists():
                raise
            found = trace.trace(settings.serving_path(), actions.store_path(), trace_id, publication=publish.current())
            refusal = str(busy).split(";")[0]  # "the warehouse is held by another process (HOLDER)"
            held_by = refusal[refusal.find("(") + 1 : refusal.rfind(")")] if "(" in refusal else refusal
            if isinstance(busy, WarehouseHeldTooLong):  # its message is not "held by another process (…)"
                held_by = busy.who()
            click.echo(
                f"recon trace: a run holds the working warehouse ({held_by}): traced from the published "
                "serving copy, as of the last publication",
                err=True,
            )
    except trace.TraceError as exc:
        click.echo(f"recon trace: {exc}", err=True)
        return exc.exit_code
    click.echo(json.dumps(found.to_dict(), indent=2, default=str) if as_json else trace.render(found))
    return 0


@recon.command("quality", **_help("run the quality gates on the warehouse now and build GX Data Docs"))
@click.option("--docs", is_flag=True, help="also build Great Expectations Data Docs (HTML)")
def cmd_quality(docs: bool) -> int:
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
                click.echo(f"  FAILED ({check.severity}) {check.asset} {check.name}: {check.description}")
        summary = report.to_dict()["summary"]
        click.echo(f"{summary['checks']} checks, {summary['failed']} failed, {summary['blocking']} blocking")
        if docs:
            index = quality.build_data_docs(report)
            click.echo(f"Data Docs: {index}  (styling loads from public CDNs; offline the pages render plain)")
    return 1 if report.blocking_failures() else 0


@recon.command("shadow", **_help("run candidate rules over the full history into a shadow database; drift report"))
@click.option("--rules", required=True, help="directory with the changed rule files, laid out like the project")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
def cmd_shadow(rules: str, as_json: bool) -> int:
    from orchestration.rules import shadow

    settings.apply_environment()
    try:
        report = shadow.run_shadow(Path(rules))
    except shadow.ShadowError as exc:
        click.echo(f"recon shadow: {exc}", err=True)
        return 1
    if as_json:
        click.echo(json.dumps(report, indent=2, default=str))
    else:
        click.echo(shadow.render(report))
        click.echo(f"report: {report['report_path']}  (production untouched; metrics appended to shadow/history.jsonl)")
    return 0


# ------------------------------------------------------------------------------ governance


@recon.group("governance", **_help("rule versions by content hash and their approvals"))
def governance_group() -> None:
    pass


@governance_group.command("status", **_help("the active rules' hash, files and approvals"))
def cmd_governance_status() -> int:
    from orchestration.rules import governance

    try:
        current = governance.status()
    except governance.GovernanceError as exc:
        click.echo(f"recon: refused: {exc}", err=True)
        return governance.EXIT_UNAPPROVED
    click.echo(f"active rules: {current.rules_hash}")
    for path, digest in governance.rule_manifest().items():
        click.echo(f"  {digest[:12]}  {path}")
    for approval in current.approvals:
        click.echo(
            f"  approved as {approval['role']:<20} by {approval['by']:<8} at {approval['at']} (signature verified)"
            f"  {approval.get('note', '')}"
        )
    for problem in current.problems:
        click.echo(f"  not counted: {problem}")
    click.echo(current.message())
    return 0 if current.approved else governance.EXIT_UNAPPROVED


@governance_group.command("check", **_help("exit 7 unless the active rules are approved by every required role (CI)"))
@click.option(
    "--production",
    is_flag=True,
    help="also refuse development-only roster entries and the committed development keys",
)
def cmd_governance_check(production: bool) -> int:
    from orchestration.rules import governance

    try:
        current = governance.status()
        refused = governance.production_problems() if production else []
    except governance.GovernanceError as exc:
        click.echo(f"recon: refused: {exc}", err=True)
        return governance.EXIT_UNAPPROVED
    for problem in current.problems:
        click.echo(f"not counted: {problem}", err=True)
    for problem in refused:
        click.echo(f"not for production: {problem}", err=True)
    ok = current.approved and not refused
    click.echo(current.message(), err=not current.approved)
    if refused:
        click.echo(
            f"recon governance check --production: refused, {len(refused)} development-only setting(s) in the "
            "roster (above)",
            err=True,
        )
    return 0 if ok else governance.EXIT_UNAPPROVED


@governance_group.command("approve", **_help("approve the active rules in one role, signed with your key"))
@click.option("--role", required=True, help="data_owner, operations_lead or governance_reviewer")
@click.option("--as", "actor", help="who approves (default $RECON_USER, else your login's user; others need act_as)")
@click.option("--note", default="", help="what was reviewed")
@click.option("--key", help="private key file (default $RECON_SIGNING_KEY, else ~/.config/recon/NAME.key)")
def cmd_governance_approve(role: str, actor: str | None, note: str, key: str | None) -> int:
    from orchestration.rules import governance

    try:
        current = governance.approve(role, _requested_operator(actor), note, key_path=Path(key) if key else None)
    except governance.GovernanceError as exc:
        click.echo(f"recon: refused: {exc}", err=True)
        return 3
    click.echo(current.message())
    return 0


@governance_group.command(
    "keygen", **_help("make an approver's Ed25519 signing key; prints the public key for the roster")
)
@click.option("--as", "actor", help="whose key (default $RECON_USER, else your login's user)")
@click.option(
    "--out", help="where to write the private key (default $RECON_SIGNING_KEY, else ~/.config/recon/NAME.key)"
)
def cmd_governance_keygen(actor: str | None, out: str | None) -> int:
    """A new signing key for NAME: private half to a 0600 file, public half printed for the roster."""
    from orchestration import identity
    from orchestration.rules import governance

    name = _requested_operator(actor)
    try:
        if name is None:
            login = identity.current_login()
            name = identity.login_map(governance.roster_users()).get(login)
            if name is None:
                raise governance.GovernanceError(
                    f"OS login {login!r} is not in config/operators.yml: name the key with --as NAME"
                )
        path, public = governance.keygen(name, Path(out) if out else None)
    except (governance.GovernanceError, identity.IdentityError) as exc:
        click.echo(f"recon: refused: {exc}", err=True)
        return 3
    click.echo(f"private key for {name} written to {path} (mode 0600; keep it there, never commit it)")
    click.echo(f"add this to {name}'s entry in config/operators.yml (a roster change: it needs the three approvals):")
    click.echo(f"  public_key: {public}")
    return 0


# ------------------------------------------------------------------------------ contract and demo


@recon.command("contract", **_help("render the landing contract into docs/ and dbt sources"))
@click.option("--write", is_flag=True, help="write the rendered files (the default)")
@click.option("--check", is_flag=True, help="exit 1 if a rendered file is out of date")
def cmd_contract(write: bool, check: bool) -> int:
    from orchestration import contract_docs

    if write and check:  # one or the other, as argparse's mutually exclusive group had it
        raise click.UsageError("argument --check: not allowed with argument --write")
    if check:
        stale = contract_docs.stale_files()
        for path in stale:
            click.echo(f"out of date: {path} (run `recon contract --write`)")
        return 1 if stale else 0
    for path in contract_docs.write_files():
        click.echo(f"wrote {path}")
    return 0


@recon.command("demo", **_help("generate demo data into $RECON_HOME and run the whole pipeline"))
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=42)
@click.option("--orders", type=ORDERS, default=2000)
def cmd_demo(seed: int, orders: int) -> int:
    """Fresh demo: new RECON_HOME content, generated data, one full pipeline run, summary."""
    started = time.monotonic()
    settings.apply_environment()
    home = settings.recon_home()
    for sub in ("landing", "ground_truth"):
        shutil.rmtree(home / sub, ignore_errors=True)
    for path in (settings.warehouse_path(), settings.warehouse_path().with_suffix(".duckdb.wal")):
        path.unlink(missing_ok=True)
    _generate(home, seed, orders, 1.0)
    if not _run_pipeline():
        return 1
    from orchestration import status

    terminal.show(status.render_published())
    click.echo(f"demo finished in {time.monotonic() - started:.1f}s")
    return 0


# ------------------------------------------------------------------------------ entry point


from orchestration.desk.commands import register as _register_desk  # noqa: E402  (click only)

_register_desk(recon, _help)


def main(argv: list[str] | None = None) -> int:
    """Run one command and return its exit code; the ``recon`` script exits with it.

    Usage errors print click's message on stderr and return 2, as argparse exited 2.
    Refusals and known failures print one line on stderr, never a traceback.
    """
    from orchestration.actions import ActionError
    from orchestration.identity import IdentityError
    from orchestration.lock import WarehouseBusy
    from orchestration.quality.config import QualityConfigError
    from orchestration.rules.governance import EXIT_UNAPPROVED, GovernanceError
    from orchestration.settings import SettingError
    from orchestration.status import ReaderError

    invoked: dict[str, str | None] = {}
    args = sys.argv[1:] if argv is None else list(argv)
    for position, arg in enumerate(args, 1):
        # Bytes that are not UTF-8 reach Python as lone surrogates: nothing can store or print them.
        if isinstance(arg, str) and any("\ud800" <= ch <= "\udfff" for ch in arg):
            shown = arg.encode("utf-8", "surrogateescape").decode("utf-8", "replace")[:80]
            click.echo(f"recon: argument {position} ({shown!r}) is not valid UTF-8 text; retype it", err=True)
            return 2
    try:
        code = recon.main(args=args, prog_name="recon", standalone_mode=False, obj=invoked)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort as exc:  # click turns Ctrl-C into Abort: let it end the process as before
        if isinstance(exc.__cause__, KeyboardInterrupt | EOFError):
            raise exc.__cause__ from None
        raise
    except (ActionError, IdentityError) as exc:
        click.echo(f"recon: refused: {exc}", err=True)
        return exc.exit_code
    except ReaderError as exc:
        click.echo(f"recon {invoked.get('command')}: {exc}", err=True)
        return exc.exit_code
    except WarehouseBusy as exc:
        click.echo(f"recon {invoked.get('command')} refused: {exc}", err=True)
        return 5
    except GovernanceError as exc:  # a run under rules not approved
        click.echo(f"recon {invoked.get('command')} refused: {exc}", err=True)
        return EXIT_UNAPPROVED
    except (QualityConfigError, SettingError) as exc:  # a config file or RECON_* variable with a mistake
        click.echo(f"recon {invoked.get('command')} refused: {exc}", err=True)
        return EXIT_BAD_CONFIG
    except subprocess.CalledProcessError as exc:
        click.echo(f"recon: {' '.join(map(str, exc.cmd[:2]))} failed with exit code {exc.returncode}", err=True)
        return exc.returncode or 1
    except Exception as exc:
        if not is_disk_full(exc):
            raise
        click.echo(f"recon {invoked.get('command')}: {disk_full_message(exc)}", err=True)
        return EXIT_DISK_FULL
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
