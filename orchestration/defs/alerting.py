"""Alerts from Dagster: run-status and run-failure sensors on recon_job and on reprocessing, and the morning digest.

The sensors run in the Dagster daemon (``make dev`` or a deployment); ``recon run`` without
a daemon sends the same events itself when the run ends (orchestration/pipeline.py).
Each event has an idempotency key (orchestration/alerts.py), so whichever looks first
sends it and the other finds it sent.
"""

import re

import dagster as dg

from orchestration import alerts, lock
from orchestration.defs.automation import recon_job, reprocess_landing_job, reprocessed_landing_files
from orchestration.defs.resources import REFUSED


def _log(context, summary: dict) -> None:
    context.log.info(
        f"alerts: {summary.get('sent', 0)} event(s) sent in {summary.get('messages', 0)} message(s), "
        f"{summary.get('already_sent', 0)} already sent, {summary.get('failed', 0)} failed"
    )
    if summary.get("store_problem"):
        context.log.error(summary["store_problem"])
    for error in summary.get("errors") or []:
        context.log.warning(f"alert not delivered (retried at the next look): {error}")


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[recon_job],
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="After a successful run: stale sources, match-rate drops, SLA breaches (config/alerts.yml).",
)
def alert_after_success(context: dg.RunStatusSensorContext):
    _log(context, alerts.after_run(context.dagster_run.run_id, True))


@dg.run_failure_sensor(
    # Reprocessing too: a backfill whose file is gone or still rejected must not fail unheard.
    monitored_jobs=[recon_job, reprocess_landing_job],
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="After a failed run (the pipeline, or reprocessing landing files): what failed and what else it "
    "found, to config/alerts.yml.",
)
def alert_after_failure(context: dg.RunFailureSensorContext):
    _log(context, alerts.after_run(context.dagster_run.run_id, False, _error(context)))


def _error(context: dg.RunFailureSensorContext) -> str | None:
    """The run's failure; for a reprocessing, with its step's reason, which names the file (the
    run's own message names only the step)."""
    error = context.failure_event.message if context.failure_event else None
    refused = refusal_reason(getattr(context.failure_event, "event_specific_data", None))
    if refused:
        return refused
    limit = runtime_limit_exceeded(context.instance, context.dagster_run.run_id, error)
    if limit is not None:
        return lock.runtime_exceeded_message(context.dagster_run.run_id, limit)
    if not reprocessed_landing_files(context.dagster_run):
        return error
    for step in context.get_step_failure_events():
        reason = step.step_failure_data.error.message.strip() if step.step_failure_data.error else ""
        if reason:
            return f"{reason} ({error})" if error else reason
    return error


# Dagster's run monitoring says, for a run past its dagster/max_runtime (dagster/_daemon/monitoring/
# run_monitoring.py): "Canceling due to exceeding maximum runtime of N seconds.", then fails it with
# "Exceeded maximum runtime of N seconds." or, when it could not stop the run's process, "This job is
# being forcibly marked as failed. ...".
RUNTIME_EXCEEDED = re.compile(r"\bmaximum runtime of (\d+) seconds")


def runtime_limit_exceeded(instance: dg.DagsterInstance, run_id: str, error: str | None) -> int | None:
    """The limit in seconds, when Dagster's run monitoring failed the run for running longer."""
    found = RUNTIME_EXCEEDED.search(error or "")
    if found is None:
        for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_CANCELING):
            found = RUNTIME_EXCEEDED.search(entry.message or "")
            if found:
                break
    return int(found.group(1)) if found else None


def refusal_reason(failure_data) -> str | None:
    """The reason a run was refused when its resources started (a config mistake:
    orchestration/defs/resources.py): Dagster's run failure says only "an exception was thrown"
    and holds the reason, which names the file and key, as the cause of its error."""
    error = getattr(failure_data, "error", None)
    while error is not None:
        at = error.message.find(REFUSED)
        if at >= 0:
            return error.message[at:].strip()
        error = error.cause or error.context
    return None


def _failed_asset_job_reprocessing(run: dg.DagsterRun) -> bool:
    """A run alert_after_failure does not watch that read landing files again: the UI's
    materialization or asset backfill of ``landing_files`` partitions runs as ``__ASSET_JOB``."""
    return run.job_name not in (recon_job.name, reprocess_landing_job.name) and reprocessed_landing_files(run)


@dg.run_failure_sensor(
    # Every job of the code location, since Dagster's own asset job cannot be named in
    # monitored_jobs; any run that is not a reprocessing or stopped for its runtime is skipped, and
    # alert_after_failure keeps its jobs filtered in storage.
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="After a failed reprocessing of landing files from the UI (a materialization or asset backfill of "
    "raw_ingestion/landing_files partitions, run as __ASSET_JOB), or a run of another job than recon_job's that "
    "Dagster's run monitoring stopped past RECON_LOCK_MAX_HOLD_SECONDS: what failed, to config/alerts.yml.",
)
def alert_after_failed_ui_reprocessing(context: dg.RunFailureSensorContext) -> dg.SkipReason | None:
    run = context.dagster_run
    watched = run.job_name in (recon_job.name, reprocess_landing_job.name)  # alert_after_failure's
    error = context.failure_event.message if context.failure_event else None
    if watched or not (
        _failed_asset_job_reprocessing(run) or runtime_limit_exceeded(context.instance, run.run_id, error) is not None
    ):
        return dg.SkipReason(f"run {run.run_id} ({run.job_name}) is not a reprocessing from the UI")
    _log(context, alerts.after_run(run.run_id, False, _error(context)))
    return None


@dg.op(description="Send each team its digest: open exceptions, SLA breaches, value at risk, the most urgent.")
def send_alert_digests(context: dg.OpExecutionContext) -> None:
    summary = alerts.send_digests()
    _log(context, summary)
    if summary.get("store_problem"):
        # Sent as run_failed and in each digest; the job fails too, so the UI shows it red.
        raise dg.Failure(description=summary["store_problem"])


@dg.job(description="The daily digest per team (config/alerts.yml routes daily_digest).")
def alert_digest_job():
    send_alert_digests()


def _digest_cron() -> str:
    """digest.cron from config/alerts.yml; a broken file must not stop the definitions (and so every run)
    from loading: the default time, and the error is reported when alerts are sent."""
    try:
        return alerts.load_config().digest_cron
    except alerts.AlertConfigError:
        return alerts.DEFAULT_DIGEST_CRON


alert_digest = dg.ScheduleDefinition(
    name="alert_digest",
    job=alert_digest_job,
    cron_schedule=_digest_cron(),
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="The morning digest (digest.cron in config/alerts.yml, UTC).",
)
