"""Resources and shared settings of the code location."""

import importlib.metadata
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from functools import cache
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource, DbtProject
from packaging import version

from orchestration import lock, publish, settings
from orchestration.lock import warehouse_lock

RAW_GROUP = "raw"
# Transient failures (a file still being written, a busy disk) get retried; a failed
# dbt test is not transient and is not retried.
TRANSIENT_RETRY = dg.RetryPolicy(max_retries=2, delay=10, backoff=dg.Backoff.EXPONENTIAL)


@cache
def dbt_project() -> DbtProject:
    """The dbt project; under `dagster dev` its manifest is re-parsed on load."""
    project = DbtProject(project_dir=settings.PROJECT_DIR, profiles_dir=settings.PROJECT_DIR / "profiles")
    project.prepare_if_dev()
    return project


@cache
def code_version() -> str:
    """The git commit the run executes (asked once per process, when a step needs it)."""
    return publish.code_version()["git_sha"]


class ReconDbtCliResource(DbtCliResource):
    """dagster-dbt's resource without the two things a build paid for and never used.

    Before every ``dbt build`` dagster-dbt ran ``dbt --version`` in a subprocess (2.2 s)
    and opened a dbt adapter in this process (2.4 s: profile, project, base macros). The
    adapter serves only ``fetch_row_counts`` and ``fetch_column_metadata``, which this
    project does not call. The executable is the ``dbt`` of this interpreter's venv
    (``dbt_resource``), so its version is the installed dbt-core's. Measured:
    docs/benchmarks.md "CI time".
    """

    @property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:  # type: ignore[override]
        return None


def dbt_resource() -> DbtCliResource:
    # The dbt next to this interpreter: `recon` runs from the venv without activating it.
    import sys

    return ReconDbtCliResource(project_dir=dbt_project(), dbt_executable=str(Path(sys.executable).with_name("dbt")))


class WarehouseWriter(dg.ConfigurableResource):
    """Holds the warehouse lock for the whole run (every writing asset requires it)."""

    wait_seconds: float | None = None

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator["WarehouseWriter"]:
        _refuse_bad_settings(context)
        launched = not lock.holding()  # not the in-process run of a `recon run`, which holds it already
        with ExitStack() as held:
            try:
                held.enter_context(
                    warehouse_lock(f"dagster run {context.run.run_id if context.run else None}", self.wait_seconds)
                )
            except lock.WarehouseBusy as exc:
                # Held too long (maybe hung: orchestration/lock.py), recorded and alerted once per holder,
                # like `recon run`; held within its time (a `recon run`, a command), alerted once per
                # holder. The failure carries the holder and what to do to the failure sensor, which
                # sends nothing more for it.
                from orchestration.pipeline import record_refusal

                record_refusal(exc)
                raise dg.Failure(description=f"{REFUSED}{exc}", allow_retries=False) from None
            if context.run is not None:
                lock.record_run(context.run.run_id)
                if launched:
                    _limit_runtime(context)
                _fail_dead_run(context)
            yield self


# The start of a step's failure when a run was refused before touching the warehouse: the
# failure sensor sends this reason (orchestration/defs/alerting.py) rather than Dagster's own line.
REFUSED = "run refused before it started: "


def _refuse_bad_settings(context: dg.InitResourceContext) -> None:
    """The checks ``recon run`` makes first, for runs the daemon starts (schedule, sensor, UI):
    a quality.yml or profiles.yml mistake, or a RECON_AS_OF the run may not use, fails the first
    step that writes, naming the file and key, before anything is ingested; the failure sensor
    alerts it and `recon status` shows it."""
    from orchestration.actions import ActionError
    from orchestration.pipeline import REWIND_CLOCK_TAG, check_run_settings
    from orchestration.quality import QualityConfigError

    rewind_clock = context.run is not None and context.run.tags.get(REWIND_CLOCK_TAG) == "true"
    try:
        check_run_settings(rewind_clock=rewind_clock)
    except (settings.SettingError, QualityConfigError, ActionError) as exc:
        raise dg.Failure(description=f"{REFUSED}{exc}", allow_retries=False) from None


# Dagster's run tag for the longest a run may last (dagster._core.storage.tags.MAX_RUNTIME_SECONDS_TAG):
# its run monitoring (enabled in recon's dagster.yaml) fails a run that runs longer.
MAX_RUNTIME_TAG = "dagster/max_runtime"


def _limit_runtime(context: dg.InitResourceContext) -> None:
    """Give a run Dagster launched (schedule, sensors, UI, a retry) RECON_LOCK_MAX_HOLD_SECONDS as
    its ``dagster/max_runtime``, once it holds the warehouse: the daemon's run monitoring fails it
    past that, so the runs queued behind a hung run (``max_concurrent_runs: 1``) start, and the
    failure sensor alerts it (orchestration/defs/alerting.py). A limit set at launch is kept. A
    `recon run`'s own run gets none: the daemon cannot stop that process, and runs refused by its
    lock say so (orchestration/lock.py)."""
    if context.instance is None or context.run is None or context.run.tags.get(MAX_RUNTIME_TAG):
        return
    limit = settings.loading(lock.max_hold_seconds, lock.DEFAULT_MAX_HOLD_SECONDS)
    try:
        context.instance.add_run_tags(context.run.run_id, {MAX_RUNTIME_TAG: str(limit)})
    except Exception as exc:  # the run goes ahead; what it could not set is in its log
        context.log.warning(f"could not set {MAX_RUNTIME_TAG} on run {context.run.run_id}: {exc}")


def _fail_dead_run(context: dg.InitResourceContext) -> None:
    """Mark failed the Dagster runs of holders that were killed holding the warehouse.

    A run killed with kill -9 never reports its end, so it would stay STARTED for good.
    Whoever took the lock next recorded it (``lock.takeovers``); this closes the run.
    """
    if context.instance is None:
        return
    for dead in lock.takeovers():
        run = context.instance.get_run_by_id(dead["run_id"]) if dead.get("run_id") else None
        if run is None or run.is_finished:
            continue
        context.instance.report_run_failed(
            run,
            f"the process running it (pid {dead.get('pid')}) ended without finishing (kill -9, out of memory or "
            f"power loss); found at {dead.get('found_at')}"
            + (f", when {len(dead['stopped'])} process(es) it left running were stopped" if dead["stopped"] else ""),
        )
