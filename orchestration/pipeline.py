"""The pipeline as functions: prepare the dbt manifest, run the Dagster job, build a
scratch warehouse for the lab, hold the warehouse for a command. The CLI, the tests and
the benchmarks call these; ``orchestration/cli.py`` only parses arguments and prints.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC
from pathlib import Path

from orchestration import build_inputs, settings

# dbt's saved parse, which a later parse starts from (orchestration/defs/dbt.py keeps one per home).
PARTIAL_PARSE = "partial_parse.msgpack"
# What `recon prepare` publishes into target/, the manifest last (readers go by it).
PARSE_OUTPUTS = (PARTIAL_PARSE, "semantic_manifest.json", "manifest.json")


def _dbt(*args: str, target_path: Path) -> None:
    """Run dbt from the project directory with the project's profile and no telemetry.

    Always into a target directory of its own: the project's target/ holds the manifest
    that every run's Dagster definitions read, and dbt rewrites its manifest in place
    (a run started meanwhile read half of one: seen with two pytest workers).
    """
    settings.apply_environment()
    exe = Path(sys.executable).with_name("dbt")
    cmd = [str(exe) if exe.exists() else "dbt", *args, "--project-dir", str(settings.PROJECT_DIR)]
    cmd += ["--target-path", str(target_path)]
    subprocess.run(cmd, cwd=settings.PROJECT_DIR, check=True)


def manifest_path() -> Path:
    return settings.PROJECT_DIR / "target" / "manifest.json"


PROJECT_INPUTS = ("dbt_project.yml", "models", "macros", "seeds", "snapshots", "analyses", "tests", "profiles")
PROJECT_SUFFIXES = (".sql", ".yml", ".yaml", ".csv", ".md")


def _project_changed_since(stamp: float) -> bool:
    for name in PROJECT_INPUTS:
        root = settings.PROJECT_DIR / name
        paths = [root] if root.is_file() else (root.rglob("*") if root.exists() else [])
        for path in paths:
            if path.suffix in PROJECT_SUFFIXES and path.stat().st_mtime >= stamp:
                return True
    return False


def prepare(force: bool = False) -> Path:
    """Parse the dbt project into target/manifest.json, which the Dagster definitions load.

    ``force`` re-parses only when a project file changed since the manifest was written,
    under a lock: runs in several homes share the project's target/ directory. Readers
    (every run's definitions) do not take the lock, so dbt parses into a directory of its
    own and each file is swapped in whole, the manifest last: a reader sees the old
    manifest or the new one, never half of one.
    """
    import fcntl
    import tempfile

    path = manifest_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / ".parse.lock", "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            stale = not path.exists() or (force and _project_changed_since(path.stat().st_mtime))
            if stale:
                staging = Path(tempfile.mkdtemp(prefix=".parse-", dir=path.parent))
                try:
                    saved = path.parent / PARTIAL_PARSE
                    if saved.exists():  # dbt starts from the last parse
                        shutil.copyfile(saved, staging / saved.name)
                    _dbt("parse", "--quiet", target_path=staging)
                    for name in PARSE_OUTPUTS:
                        if (staging / name).exists():
                            os.replace(staging / name, path.parent / name)
                finally:
                    shutil.rmtree(staging, ignore_errors=True)
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)
    return path


def _send_alerts(result) -> None:
    """The run's alerts (config/alerts.yml), as the Dagster sensors would send them; never fails the run."""
    from orchestration import alerts

    error = None
    if not result.success:
        failures = [e for e in result.all_events if e.is_step_failure]
        error = failures[0].event_specific_data.error.message.strip()[:500] if failures else run_refusal(result)
    try:
        summary = alerts.after_run(result.run_id, result.success, error)
    except Exception as exc:  # an alert problem is reported, never the run's failure
        print(f"  alerts not sent: {type(exc).__name__}: {exc}", file=sys.stderr)
        return
    if summary.get("events"):
        print(
            f"  alerts: {summary['sent']} event(s) sent in {summary['messages']} message(s), "
            f"{summary['already_sent']} already sent, {summary['failed']} failed"
        )
    for problem in summary.get("errors") or []:
        print(f"  alert not delivered (retried at the next run): {problem}", file=sys.stderr)


def run_refusal(result) -> str | None:
    """Why a run was refused when its resources started (check_run_settings, from the
    warehouse writer), or None: such a run has no failed step to tell it."""
    from orchestration.defs.alerting import refusal_reason

    for event in result.all_events:
        if event.event_type_value == "PIPELINE_FAILURE":
            return refusal_reason(event.event_specific_data)
    return None


class SummarisedErrors(io.TextIOBase):
    """The terminal's stderr during a run, less the errors the run's summary says again.

    A gate that blocks made Dagster print the check's failure twice with a stack trace, then
    a line per step not run for it, before the summary said the same in words (a tryout:
    "noisy"). Those records are left out here; they stay in the run's event log (``make
    dev``). Any other error, a step's own exception with its trace included, still prints.
    Dagster's console handler writes each record in one call, so a record is kept or left
    out whole.
    """

    NOISE = ("Dependencies for step ",)
    GATE_FAILURE = "DagsterAssetCheckFailedError"
    GATE_EVENTS = (" - STEP_FAILURE - ", " - RUN_FAILURE - ")

    def __init__(self, terminal):
        self.terminal = terminal

    def _repeated(self, text: str) -> bool:
        if any(marker in text for marker in self.NOISE):
            return True
        return self.GATE_FAILURE in text and any(event in text for event in self.GATE_EVENTS)

    def write(self, text: str) -> int:
        if self._repeated(text):
            return len(text)
        return self.terminal.write(text)

    def flush(self) -> None:
        self.terminal.flush()

    def isatty(self) -> bool:
        return self.terminal.isatty()

    def writable(self) -> bool:
        return True


def run_pipeline(
    verbose: bool = False, raise_refusals: bool = False, full_refresh: bool = False, rewind_clock: bool = False
) -> bool:
    """Materialize the whole asset graph in-process on the persistent Dagster instance.

    False when the run failed or was refused. With ``raise_refusals`` a refusal raises
    instead (``WarehouseBusy``, ``GovernanceError``), so the CLI exits with its own code.
    A run with nothing new since the publication skips the build (``build_inputs``)
    unless ``full_refresh``, which also rebuilds dbt's incremental models. ``rewind_clock``
    builds at the real time after a publication dated ahead of it (``rewind_future_dates``).
    """
    settings.apply_environment()
    from orchestration.actions import ActionError, check_run_store
    from orchestration.quality.config import QualityConfigError
    from orchestration.rules import governance

    # A config file or RECON_* variable with a mistake, or rules not approved: refused before
    # dbt's parse and ingestion, not in a step half a minute later. The refusal is recorded
    # for `recon status` and alerted (run_failed): a night that did not run is never silent.
    try:
        check_run_settings(rewind_clock=rewind_clock)
        check_run_store()  # a mistyped RECON_ACTIONS_PATH, named, before the parse, the build and its skip
        governance.require_approved()
    except (settings.SettingError, QualityConfigError, ActionError, governance.GovernanceError) as exc:
        record_refusal(exc)
        if raise_refusals:
            raise
        print(f"recon run refused: {exc}", file=sys.stderr)
        return False
    prepare(force=True)  # the manifest must describe the models as they are now
    import dagster as dg

    from orchestration.definitions import defs

    # The run's full event log is in the Dagster instance (open `make dev`) and dbt's
    # output goes to a log file under RECON_HOME; the terminal gets warnings and errors
    # unless asked for more.
    level = "DEBUG" if verbose else "WARNING"
    run_config = {"loggers": {"console": {"config": {"log_level": level}}}}
    log_dir = settings.recon_home() / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"run-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.log"
    from orchestration.lock import WarehouseBusy, WarehouseHeldTooLong, warehouse_lock

    # Nothing new since the publication (landing listing, action log, project): a quiet
    # run of the ingestion and the raw gates only, which still builds if it finds anything.
    full_refresh = full_refresh or rewind_clock
    quiet = None if full_refresh else build_inputs.nothing_new()
    job = defs.resolve_job_def("recon_job")
    try:
        with warehouse_lock("recon run"), dg.DagsterInstance.get() as instance, open(log_path, "w") as log:
            from orchestration import publish

            if rewind_clock:
                from orchestration.actions import ActionStore

                rewound = rewind_future_dates(settings.warehouse_path(), store=ActionStore.existing())
                print(f"recon run: {rewound}", file=sys.stderr)
            restored = publish.restore_serving_copy()  # deleted or truncated since: a quiet night republishes nothing
            if restored:
                print(f"recon run: {restored}", file=sys.stderr)
            with (
                contextlib.nullcontext() if verbose else contextlib.redirect_stdout(log),
                contextlib.nullcontext() if verbose else contextlib.redirect_stderr(SummarisedErrors(sys.stderr)),
            ):
                result = None
                if quiet is not None:
                    result = job.execute_in_process(
                        run_config=run_config,
                        instance=instance,
                        raise_on_error=False,
                        asset_selection=quiet_selection(),
                        tags={build_inputs.QUIET_TAG: "true"},
                    )
                    if result.success and brought_anything(result):
                        result = None  # it loaded something after all: the whole job
                if result is None:
                    result = job.execute_in_process(
                        run_config=run_config,
                        instance=instance,
                        raise_on_error=False,
                        tags={
                            **({build_inputs.FULL_REFRESH_TAG: "true"} if full_refresh else {}),
                            **({REWIND_CLOCK_TAG: "true"} if rewind_clock else {}),
                        }
                        or None,
                    )
    except WarehouseBusy as exc:
        # Not recorded nor alerted: another run (or command) holds the warehouse, and that
        # run's own end is what `recon status` and the alerts report. Unless it has held it
        # longer than RECON_LOCK_MAX_HOLD_SECONDS: maybe hung, and then it may never end.
        if isinstance(exc, WarehouseHeldTooLong):
            record_refusal(exc)
        if raise_refusals:
            raise
        print(f"recon run refused: {exc}", file=sys.stderr)
        return False
    print(f"dagster run {result.run_id}: {'success' if result.success else 'FAILED'} (dbt log: {log_path})")
    skipped = {event.step_key for event in result.all_events if event.event_type_value == "STEP_SKIPPED"}
    quiet_run = result.dagster_run.tags.get(build_inputs.QUIET_TAG) == "true"
    if result.success and (quiet_run or "publication__serving_copy" in skipped):
        from orchestration import publish

        published = publish.current()
        if published is not None:
            print(f"  {build_inputs.describe_skip(published)}")
    _send_alerts(result)
    failed_checks = [e for e in result.get_asset_check_evaluations() if not e.passed]
    for evaluation in failed_checks:
        level = evaluation.severity.value.lower() if evaluation.severity else "error"
        print(f"  check failed ({level}): {evaluation.asset_key.to_user_string()} {evaluation.check_name}")
        if evaluation.description:  # what was found and what to tune (orchestration.quality words it)
            print(f"    {evaluation.description}")
    if failed_checks or not result.success:
        from orchestration import publish

        published = publish.current()
        if published is None or published["run_id"] != result.run_id:
            last = published["publication"] if published else "none yet"
            print(f"  not published: the last good publication stays ({last}, {publish.serving_path()})")
    if not result.success:
        refused = run_refusal(result)
        if refused:
            print(f"  {refused}")
        for event in result.all_events:
            if event.is_step_failure:
                message = event.event_specific_data.error.message.strip()
                if SummarisedErrors.GATE_FAILURE in message:  # the checks above say which and why
                    print(f"  step {event.step_key} stopped the run: a blocking check failed (above)")
                    continue
                print(f"  step {event.step_key} failed: {message[:2000]}")
                if any(word in message.lower() for word in DISK_FULL_WORDS):
                    print(f"  {disk_full_message()}")
        log_text = log_path.read_text()
        if "Could not set lock on file" in log_text:  # dbt could not open the warehouse
            from orchestration.lock import explain_file_lock

            line = next(x for x in log_text.splitlines() if "Could not set lock on file" in x)
            print(f"  {explain_file_lock(settings.warehouse_path(), line)}")
        tail = log_text.splitlines()[-40:]
        failed_steps = {event.step_key for event in result.all_events if event.is_step_failure}
        if tail and any(step.startswith("recon_dbt_assets") for step in failed_steps):
            print("\n".join(["  last lines of the dbt log:", *("    " + line for line in tail)]))
    return result.success


def quiet_selection() -> list:
    """The assets of a quiet run: what ingestion materializes (its raw gates come with them)."""
    from orchestration.defs.ingestion import RAW_SPECS

    return [spec.key for spec in RAW_SPECS]


def check_run_settings(rewind_clock: bool = False) -> None:
    """What a run refuses before it starts, whoever starts it (`recon run`, the schedule, the
    landing sensor, the UI): dbt's threads in profiles.yml, RECON_SCHEDULE_CRON,
    RECON_SENSOR_INTERVAL_SECONDS and RECON_LOCK_MAX_HOLD_SECONDS, the quality config, and the
    business clock (RECON_AS_OF readable, not ahead of the real time, not before the last
    publication). Raises ``SettingError``, ``QualityConfigError`` or ``ActionError``, each
    naming the file, key or variable to fix."""
    from orchestration import quality
    from orchestration.actions import utc_now

    settings.check_profile_threads()
    # Read when the Dagster definitions load, which fall back to the defaults on a mistake.
    settings.schedule_cron()
    settings.sensor_interval_seconds()
    from orchestration import lock

    lock.max_hold_seconds()  # read when a run is refused, which must not fail on a mistake
    try:
        quality.check_specs()  # reads the config in force: RECON_QUALITY_CONFIG or config/quality.yml
    except ValueError as exc:
        if isinstance(exc, quality.QualityConfigError):
            raise
        raise quality.QualityConfigError(str(exc)) from None
    utc_now()  # a RECON_AS_OF the build could not compute with stops here, named
    not_ahead_of_real_time()
    not_before_last_publication(rewind_clock)


def record_refusal(exc: BaseException) -> None:
    """A run refused before it started: in last_run.json for `recon status`, and alerted as
    run_failed (once per reason and day; a lock held too long, once per holder); never raises
    (the refusal itself is what the caller reports). A lock held within its time (a Dagster run
    refused busy: `recon run` reports that to its caller only) is alerted once per holder and
    not recorded."""
    from orchestration import alerts
    from orchestration.lock import WarehouseBusy, WarehouseHeldTooLong

    try:
        if isinstance(exc, WarehouseHeldTooLong):
            summary = alerts.after_lock_held(str(exc), exc.record, exc.held_seconds, exc.limit_seconds)
        elif isinstance(exc, WarehouseBusy):
            summary = alerts.after_lock_busy(str(exc), exc.record)
        else:
            summary = alerts.after_refusal(str(exc))
    except Exception as problem:  # an alert problem is reported, never instead of the refusal
        print(f"  refusal not alerted: {type(problem).__name__}: {problem}", file=sys.stderr)
        return
    for problem in summary.get("errors") or []:
        print(f"  alert not delivered (retried at the next run): {problem}", file=sys.stderr)


def not_ahead_of_real_time() -> None:
    """Refuse a run pinned (RECON_AS_OF) more than a few minutes ahead of the real time, the
    rule operator actions follow (orchestration.actions.ahead_of_real_time). Its publication
    would be dated then, and every later run of the home refused as going back in time until
    that date. RECON_AS_OF_AHEAD=allow builds ahead on purpose (a what-if on a throwaway home)."""
    from orchestration.actions import (
        AS_OF_AHEAD_ENV,
        ActionError,
        ahead_of_real_time,
        as_of_pinned,
        run_clock_ahead_allowed,
        utc_now,
        wall_clock,
    )

    now, real = utc_now(), wall_clock()
    if as_of_pinned() and ahead_of_real_time(now, real) and not run_clock_ahead_allowed():
        raise ActionError(
            f"RECON_AS_OF={as_of_pinned()} is ahead of the real time ({real.isoformat()}): the publication would be "
            "dated then, and every later run of this home refused until that date. Unset RECON_AS_OF, or pin a time "
            f"no later than now; to build ahead on purpose (a what-if on a copy of the home), set "
            f"{AS_OF_AHEAD_ENV}=allow"
        )


REWIND_CLOCK = "recon run --rewind-clock"
# On the Dagster run of `recon run --rewind-clock`: its first step checks the settings again
# (defs/resources.py), and must not refuse it as going back before the publication it rewinds.
REWIND_CLOCK_TAG = "recon/rewind_clock"


def not_before_last_publication(rewind_clock: bool = False) -> None:
    """Refuse a business clock (RECON_AS_OF) earlier than the one the published marts were
    built at: ages, SLA breaches and the KPI trend would run backwards (negative ages,
    exceptions first seen after the as-of time), and the publication would say nothing.

    A publication dated ahead of the real time (a run pinned ahead by mistake, or on purpose
    with RECON_AS_OF_AHEAD=allow) held every later run until that date, and the only way out
    was a new RECON_HOME: the refusal names ``recon run --rewind-clock``, which builds at the
    real time once, and only then."""
    from datetime import datetime

    from orchestration import publish
    from orchestration.actions import ActionError, ahead_of_real_time, as_of_pinned, utc_now, wall_clock

    published = publish.current() or {}
    try:
        last = datetime.fromisoformat(str(published["as_of"]))
    except (KeyError, ValueError):
        last = None  # published before the as-of time was recorded, or nothing yet
    if last is not None and last.tzinfo is None:
        last = None
    now, real = utc_now(), wall_clock()
    ahead = last is not None and ahead_of_real_time(last, real)
    if rewind_clock:
        if as_of_pinned():
            raise ActionError(
                f"--rewind-clock builds at the real time: unset RECON_AS_OF (set to {as_of_pinned()}) and run again"
            )
        if not ahead:
            raise ActionError(
                f"--rewind-clock: the last publication ({published.get('publication') or 'none yet'}"
                + (f", as of {last.isoformat()}" if last else "")
                + f") is not ahead of the real time ({real.isoformat()}): nothing to rewind; run without it"
            )
        return
    if last is None:
        return
    if ahead and now < last and not ahead_of_real_time(now, real):
        raise ActionError(
            f"the last publication {published.get('publication')} was built as of {last.isoformat()}, ahead of the "
            f"real time ({real.isoformat()}): a run pinned ahead (RECON_AS_OF left set, or a mistyped year). Every "
            f"run is refused as going back in time until then. To build at the real time again, run "
            f"`{REWIND_CLOCK}`{' with RECON_AS_OF unset' if as_of_pinned() else ''}: it brings what "
            "the warehouse dated after now (first and last sightings, exception history) back to now and "
            "builds everything again"
        )
    if now < last:
        raise ActionError(
            f"the business clock {now.isoformat()} (RECON_AS_OF) is earlier than that of the last publication "
            f"{published.get('publication')} ({last.isoformat()}): runs move forward in time. Unset RECON_AS_OF, "
            "or set it to that time or later; to replay history, use a new RECON_HOME"
        )


# What a build dates with its business clock and keeps from run to run: first and last
# sightings (incremental, kept by --full-refresh) and the snapshot of exception versions.
# Everything else is rebuilt by a full refresh.
CLOCK_DATED = {
    "int_exception_sightings": ("first_seen_at", "last_seen_at"),
    "snap_reconciliation_exceptions": ("dbt_valid_from", "dbt_valid_to", "dbt_updated_at"),
}


def rewind_future_dates(warehouse: Path, real=None, store=None) -> str:
    """Bring every time a run dated ahead of the real time back to the real time, in the
    working warehouse (``CLOCK_DATED``), in one transaction, then in the action ``store``'s
    catalog (``ActionStore.rewind_catalog``); returns what it changed, in words.
    A sighting, or an exception version, then dates from now, not from the year it was pinned
    to: ages start at zero, never negative, and the next builds go forward from now."""
    import duckdb

    from orchestration.actions import wall_clock

    real = real or wall_clock()
    con = duckdb.connect(str(warehouse))
    changed: list[str] = []
    try:
        con.execute("begin")
        columns = con.execute(
            "select table_schema, table_name, column_name, data_type from information_schema.columns"
            " where table_name in (select unnest(?)) and column_name in (select unnest(?))",
            [list(CLOCK_DATED), sorted({c for cols in CLOCK_DATED.values() for c in cols})],
        ).fetchall()
        for schema, table, column, data_type in sorted(columns):
            if column not in CLOCK_DATED[table]:
                continue
            # Naive timestamps hold UTC (dbt's snapshots); aware ones compare as instants.
            value = real if "TIME ZONE" in data_type.upper() else real.astimezone(UTC).replace(tzinfo=None)
            # Identifiers come from DuckDB's own catalog, quoted; values are parameters.
            count = con.execute(
                f'update "{schema}"."{table}" set "{column}" = ? where "{column}" > ?', [value, value]
            ).fetchall()[0][0]
            if count:
                changed.append(f"{schema}.{table}.{column}: {count}")
        con.execute("commit")
    finally:
        con.close()
    rows = store.rewind_catalog(real) if store is not None else 0
    if rows:
        changed.append(f"the action store's catalog: {rows}")
    what = "; ".join(changed) if changed else "nothing dated ahead"
    return f"rewound to the real time {real.isoformat()} ({what}); building everything again"


def brought_anything(result) -> bool:
    """Whether a run's ingestion loaded or rejected a file or copied an action a person made
    (the exception catalog's auto_resolve and reopen events mirror the last build)."""
    from orchestration.defs.ingestion import INGESTION_LOG_KEY, OPERATOR_ACTIONS_KEY

    for materialization in result.asset_materializations_for_node("ingest_landing"):
        metadata = {key: getattr(value, "value", value) for key, value in materialization.metadata.items()}
        if materialization.asset_key == INGESTION_LOG_KEY and (metadata["files_loaded"] or metadata["files_rejected"]):
            return True
        if materialization.asset_key == OPERATOR_ACTIONS_KEY and metadata.get(
            "operator_actions_copied", metadata["actions_copied"]
        ):
            return True
    return False


@contextlib.contextmanager
def working_warehouse(command: str):
    """Hold the warehouse lock while a command other than a run opens the working warehouse.

    Refused at once while a run writes (instead of failing on DuckDB's file lock), and a run
    started meanwhile is refused naming this command, instead of failing half-way.
    """
    from orchestration.lock import warehouse_lock

    with warehouse_lock(command, wait_seconds=0):
        yield


def build_scratch(
    home: Path, seed: int, orders: int, noise: float, select: str | None = None, dialect: str = "a"
) -> Path:
    """Generate a data set into ``home`` and build the warehouse there with plain dbt.

    Used by tune and evaluate to get labelled data for one seed without touching the
    main RECON_HOME; returns the ground-truth directory. ``dialect`` "a" is the demo
    generator (tuned on), "b" and "c" independently written ones held out from tuning.
    """
    from orchestration import ingest
    from orchestration.lab import generate

    settings.use_home(home)
    shutil.rmtree(home, ignore_errors=True)
    if dialect in ("b", "c"):
        import importlib

        importlib.import_module(f"orchestration.lab.dialect_{dialect}").generate(
            home, seed=seed, orders=orders, noise=noise
        )
        truth_dir = home / "ground_truth"
    else:
        truth_dir = generate.generate(home, seed=seed, orders=orders, noise=noise).ground_truth_dir
    ingest.ingest_landing(settings.landing_dir(), settings.warehouse_path())
    selection = ["--select", select, "--indirect-selection", "cautious"] if select else []
    # Building pairs to learn weights from must not need the weights being learned.
    bootstrap = ["--vars", "{recon_bootstrap_weights: true}"] if select else []
    _dbt("build", "--quiet", *selection, *bootstrap, target_path=home / "target")
    return truth_dir


DISK_FULL_WORDS = ("no space left on device", "disk is full", "database or disk is full", "not enough space")


def is_disk_full(exc: BaseException) -> bool:
    import errno

    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if any(word in str(exc).lower() for word in DISK_FULL_WORDS):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def disk_full_message(exc: BaseException | None = None) -> str:
    home = settings.recon_home()
    try:
        free = shutil.disk_usage(home).free
        room = f"{free / 1e6:,.1f} MB free on the disk of {home}"
    except OSError:
        room = f"the disk of {home}"
    return (
        f"the disk is full ({room}). Nothing half-done is kept: a landing file loads in one transaction "
        "(rolled back), and readers keep the last good publication. Free space (old publications, "
        "logs/, dagster/storage/) and run the command again."
    )
