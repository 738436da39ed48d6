"""The main job, the nightly schedule, the sensor on the landing folder, and reprocessing landing files."""

import hashlib
import json

import dagster as dg

from orchestration import build_inputs, ingest, settings
from orchestration.defs.landing_files import LANDING_FILES, LANDING_FILES_KEY, READ_AGAIN_TAG

recon_job = dg.define_asset_job(
    "recon_job",
    # Everything but the landing files' partitions, which reprocess_landing_job materializes.
    selection=dg.AssetSelection.all() - dg.AssetSelection.assets(LANDING_FILES_KEY),
    description="Ingest new landing files, build and test the dbt project, check quality, publish.",
)


@dg.schedule(
    name="recon_nightly",
    job=recon_job,
    cron_schedule=settings.loading(settings.schedule_cron, settings.DEFAULT_SCHEDULE_CRON),
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description=(
        "The pipeline every night (cron from RECON_SCHEDULE_CRON, UTC). With nothing new since the publication "
        "(landing listing, action log, project), only ingestion and the raw gates run (tag recon/quiet)."
    ),
)
def recon_nightly(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    # Read without opening the warehouse (a run may hold it): the landing listing, the
    # action store's head and the project against the publication's build. A file that
    # lands after the guess is loaded by the quiet run and built by the next one (the
    # landing sensor starts it).
    tags = {"recon/trigger": "recon_nightly"}
    if build_inputs.nothing_new() is None:
        return dg.RunRequest(tags=tags)
    from orchestration.pipeline import quiet_selection

    return dg.RunRequest(asset_selection=quiet_selection(), tags={**tags, build_inputs.QUIET_TAG: "true"})


def landing_fingerprint() -> dict[str, list[int]]:
    """Size and modification time of every landing file, by path relative to landing/."""
    landing = settings.landing_dir()
    out = {}
    for path in ingest.discover(landing):
        out[str(path.relative_to(landing))] = ingest.entry_stat(path)
    return out


@dg.sensor(
    job=recon_job,
    minimum_interval_seconds=settings.loading(settings.sensor_interval_seconds, settings.DEFAULT_SENSOR_INTERVAL),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Starts a run when files appear or change in $RECON_HOME/landing (files already loaded are skipped).",
)
def landing_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    # The sensor never opens the warehouse (a run may hold it): it compares file
    # fingerprints with the cursor of its last tick. Ingestion is idempotent by checksum,
    # so a touched but unchanged file loads nothing.
    seen = json.loads(context.cursor) if context.cursor else {}
    now = landing_fingerprint()
    new = sorted(path for path, fp in now.items() if seen.get(path) != fp)
    if not new:
        return dg.SkipReason("no new or changed files in landing/")
    run_key = hashlib.sha256(json.dumps({p: now[p] for p in new}, sort_keys=True).encode()).hexdigest()[:16]
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=run_key,
                tags={"recon/trigger": "landing_sensor", "recon/new_files": str(len(new))},
            )
        ],
        cursor=json.dumps(now, sort_keys=True),
    )


reprocess_landing_job = dg.define_asset_job(
    "reprocess_landing_job",
    selection=[LANDING_FILES_KEY],
    partitions_def=LANDING_FILES,
    description="Read chosen landing files again (a backfill of their partitions); recon_job builds them after.",
)


BACKFILL_TAG = "dagster/backfill"
BUILD_KEY_TAG = "recon/build_key"
BUILD_KEYS_TAG = "recon/build_keys"  # a build merged from several requests names each one's key
_NOT_FINISHED = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def reprocessed_landing_files(run: dg.DagsterRun) -> bool:
    """Whether a run read landing files again: ``reprocess_landing_job``, or the UI's
    materialization of ``landing_files`` partitions (an asset backfill runs as ``__ASSET_JOB``)."""
    if run.job_name == reprocess_landing_job.name:
        return True
    return run.job_name != recon_job.name and LANDING_FILES_KEY in (run.asset_selection or ())


def _reloaded_any(instance: dg.DagsterInstance, run: dg.DagsterRun) -> bool:
    """Whether a finished reprocessing run read a file again: every successful one did; a
    failed or cancelled one may have, before a gone or still-rejected file failed it or
    the cancellation stopped it (it tags itself at its first file read again, and records
    the partitions that loaded as materializations)."""
    if run.status == dg.DagsterRunStatus.SUCCESS or run.tags.get(READ_AGAIN_TAG) == "true":
        return True
    return any(
        event.dagster_event is not None
        and event.dagster_event.is_step_materialization
        and event.dagster_event.asset_key == LANDING_FILES_KEY
        for event in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
    )


def build_request(instance: dg.DagsterInstance, run: dg.DagsterRun) -> dg.RunRequest | dg.SkipReason:
    """The recon_job run that builds what a reprocessing reloaded, once it is over.

    A backfill from the UI is one run per range of adjacent partitions, and `dagster job
    backfill` one run per file: one build after the last of them, whether that one
    succeeded, failed or was cancelled, if any of them reloaded a file. Keyed by how many runs have
    finished, so runs a backfill submits later still get their build.
    """
    if not reprocessed_landing_files(run):
        return dg.SkipReason(f"run {run.run_id} ({run.job_name}) reprocessed no landing file")
    tags = {"recon/trigger": "build_after_reprocessing", "recon/reprocess_run": run.run_id}
    backfill = run.tags.get(BACKFILL_TAG)
    runs = instance.get_runs(dg.RunsFilter(tags={BACKFILL_TAG: backfill})) if backfill else [run]
    pending = sum(1 for r in runs if r.status in _NOT_FINISHED)
    if pending:
        return dg.SkipReason(f"{pending} more run(s) of backfill {backfill} to finish; the build follows the last")
    if not any(_reloaded_any(instance, r) for r in runs):
        return dg.SkipReason(f"nothing was read again by {'backfill ' + backfill if backfill else run.run_id}")
    if not backfill:
        return dg.RunRequest(run_key=f"after-reprocessing-{run.run_id}", tags=tags)
    # Also asked by a build that is already there (one requested before this sensor's cursor
    # remembered its keys, or started by hand with the tag).
    key = f"after-backfill-{backfill}-{len(runs)}"
    if _requested(instance, key):
        return dg.SkipReason(f"the build after backfill {backfill} is already requested")
    return dg.RunRequest(run_key=key, tags={**tags, "recon/reprocess_backfill": backfill, BUILD_KEY_TAG: key})


BUILDS_LOOKED_BACK = 200  # the builds after reprocessing read to find a merged one


def _requested(instance: dg.DagsterInstance, key: str) -> bool:
    """Whether a build with this key exists: alone (its ``recon/build_key`` tag) or merged
    with others into one build (``recon/build_keys``, see ``one_build``)."""
    if instance.get_runs(dg.RunsFilter(tags={BUILD_KEY_TAG: key}), limit=1):
        return True
    merged = instance.get_runs(
        dg.RunsFilter(tags={"recon/trigger": "build_after_reprocessing"}), limit=BUILDS_LOOKED_BACK
    )
    return any(key in run.tags.get(BUILD_KEYS_TAG, "").split() for run in merged)


# How a run can end: success, failure, cancellation (a cancelled backfill cancels its queued
# runs). One sensor reads them all, so runs that end together start one build, not one per
# status (three run-status sensors each asked for their own, in the same tick).
RUN_ENDS = (
    dg.DagsterEventType.RUN_SUCCESS,
    dg.DagsterEventType.RUN_FAILURE,
    dg.DagsterEventType.RUN_CANCELED,
)
RUN_ENDS_PER_TICK = 200  # per kind of end; the rest wait for the next tick
BUILT_KEYS_KEPT = 200  # the build keys the cursor remembers, so a group is never built twice


def _ends_after(instance: dg.DagsterInstance, after: int) -> list[tuple[int, str]]:
    """(storage id, run id) of the runs that ended after event ``after``, in order.

    Each kind of end is read up to RUN_ENDS_PER_TICK; when one is cut, no later event of any
    kind is taken this tick, so the cursor never passes an end it did not read.
    """
    ends: list[tuple[int, str]] = []
    bound: int | None = None
    for event_type in RUN_ENDS:
        records = instance.fetch_run_status_changes(
            dg.RunStatusChangeRecordsFilter(event_type=event_type, after_storage_id=after),
            limit=RUN_ENDS_PER_TICK,
            ascending=True,
        ).records
        if len(records) == RUN_ENDS_PER_TICK:
            bound = records[-1].storage_id if bound is None else min(bound, records[-1].storage_id)
        ends += [(r.storage_id, r.event_log_entry.run_id) for r in records]
    return sorted(e for e in ends if bound is None or e[0] <= bound)


def _latest_end(instance: dg.DagsterInstance) -> int:
    latest = -1
    for event_type in RUN_ENDS:
        records = instance.fetch_run_status_changes(event_type, limit=1).records
        latest = max([latest, *(r.storage_id for r in records)])
    return latest


@dg.sensor(
    job=recon_job,
    minimum_interval_seconds=settings.loading(settings.sensor_interval_seconds, settings.DEFAULT_SENSOR_INTERVAL),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "After landing files were reprocessed (the run succeeded, failed or was cancelled): run recon_job, which "
        "builds and publishes what was read again; once per backfill, after its last run, and once per tick "
        "however many reprocessings ended."
    ),
)
def build_after_reprocessing(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    instance = context.instance
    cursor = json.loads(context.cursor) if context.cursor else {}
    if "after" not in cursor:
        # The run-status sensor this one replaced kept its place as record_id; a new sensor
        # starts now (what ended before it is the nightly run's to build).
        start = cursor.get("record_id") if isinstance(cursor.get("record_id"), int) else _latest_end(instance)
        return dg.SensorResult(
            skip_reason=f"watching runs that end after event {start}", cursor=json.dumps({"after": start, "built": []})
        )
    built: list[str] = list(cursor.get("built") or [])
    ends = _ends_after(instance, int(cursor["after"]))
    if not ends:
        return dg.SkipReason("no run ended since the last tick")
    groups: dict[str, dg.RunRequest] = {}
    skipped: list[str] = []
    for _, run_id in ends:
        run = instance.get_run_by_id(run_id)
        request = build_request(instance, run) if run is not None else dg.SkipReason(f"run {run_id} was deleted")
        if isinstance(request, dg.SkipReason):
            skipped.append(request.skip_message or "")
        elif request.run_key not in built:  # a backfill's runs share their group's key
            groups.setdefault(request.run_key, request)
    after = json.dumps({"after": ends[-1][0], "built": (built + sorted(groups))[-BUILT_KEYS_KEPT:]})
    if not groups:
        return dg.SensorResult(skip_reason="; ".join(skipped)[:1000], cursor=after)
    return dg.SensorResult(run_requests=[one_build(list(groups.values()))], cursor=after)


def one_build(requests: list[dg.RunRequest]) -> dg.RunRequest:
    """One recon_job run for every reprocessing that is over: the job ingests and builds all
    that was read again, so a second build would only repeat the first."""
    if len(requests) == 1:
        return requests[0]
    keys = sorted(r.run_key or "" for r in requests)
    runs = sorted({r.tags["recon/reprocess_run"] for r in requests})
    tags = {
        "recon/trigger": "build_after_reprocessing",
        "recon/reprocess_runs": str(len(runs)),
        "recon/reprocess_run": runs[-1],
        BUILD_KEYS_TAG: " ".join(keys)[:4000],
    }
    key = "after-reprocessing-" + hashlib.sha256(" ".join(keys).encode()).hexdigest()[:16]
    return dg.RunRequest(run_key=key, tags=tags)
