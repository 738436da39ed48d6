"""Landing files as Dagster partitions: each file is a partition, reprocessing one is a backfill.

Every landing file a run finds becomes a partition of ``raw_ingestion/landing_files``
(dynamic partitions named ``landing_files``, keyed by the path relative to landing, e.g.
``crm/orders/orders_2026-12-01.csv``). A file the run loads is recorded as that
partition's materialization, with its batch, rows and checksum; a rejected file stays
unmaterialized, which is what to look for after a contract change.

Materializing partitions (a backfill in the UI, or ``dagster job backfill``) reads those
files again, and only those: each becomes a new batch restating its earlier one, exactly
as ``recon ingest --again``. The whole backfill is one run (``BackfillPolicy.single_run``),
holding the warehouse lock once. Its job, ``reprocess_landing_job``, and the sensor that
starts ``recon_job`` after it are in ``automation``: the main job is unpartitioned, and
Dagster does not mix the two in one job.
"""

import warnings
from collections.abc import Iterable

import dagster as dg
from dagster import AssetExecutionContext

from orchestration import ingest, settings
from orchestration.defs.resources import RAW_GROUP, WarehouseWriter, code_version
from orchestration.lock import WarehouseBusy

LANDING_FILES = dg.DynamicPartitionsDefinition(name="landing_files")
LANDING_FILES_KEY = dg.AssetKey(["raw_ingestion", "landing_files"])
# Dagster refuses these in a partition key; a path holding one is loaded as usual by the
# main job and only has no partition (said in the run's log).
_NOT_IN_A_KEY = ("...", "\a", "\b", "\f", "\n", "\r", "\t", "\v", "\0")
MAX_KEY_LENGTH = 1024
# On a reprocessing run once it has committed a file read again (see automation.build_request).
READ_AGAIN_TAG = "recon/read_again"


def partition_key(rel: str) -> str | None:
    """The partition key of a landing-relative path, or None when Dagster cannot hold it."""
    if not rel or len(rel) > MAX_KEY_LENGTH or any(bad in rel for bad in _NOT_IN_A_KEY):
        return None
    return rel


def outcome_metadata(outcome: ingest.FileOutcome) -> dict:
    """What one partition's materialization says about its file."""
    return {
        "batch_id": outcome.batch_id,
        "status": outcome.status,
        "rows_read": outcome.rows_read,
        "rows_loaded": outcome.rows_loaded,
        "rows_quarantined": outcome.rows_quarantined,
        "rows_rejected": outcome.rows_rejected,
        "restatement_of_batch": outcome.supersedes_batch_id,
        "sha256": outcome.sha256,
        "message": outcome.message,
    }


def record_files(context: AssetExecutionContext, outcomes: Iterable[ingest.FileOutcome]) -> int:
    """Make every file a partition and record the loaded ones as materialized; returns how many it recorded.

    Called by the main job's ingestion, so the partitions show what every run loaded.
    """
    outcomes = list(outcomes)
    keys = {o.source_file: partition_key(o.source_file) for o in outcomes}
    unkeyed = sorted(path for path, key in keys.items() if key is None)
    if unkeyed:
        context.log.warning(
            f"{len(unkeyed)} landing file(s) have a path Dagster cannot use as a partition key (it holds '...' "
            f"or a control character, or is longer than {MAX_KEY_LENGTH}); they are ingested as usual but cannot "
            f"be reprocessed from Dagster (use recon ingest --again). First: {unkeyed[0]!r}"
        )
    instance = context.instance
    known = set(instance.get_dynamic_partitions(LANDING_FILES.name))
    new = sorted({key for key in keys.values() if key is not None} - known)
    if new:
        instance.add_dynamic_partitions(LANDING_FILES.name, new)
    # Files loaded before they were partitions (before this feature, or by `recon ingest`
    # outside Dagster) are recorded once too, so a partition left missing is a file that
    # never loaded (rejected, a duplicate, hidden), not one loaded some other way.
    done = instance.get_materialized_partitions(LANDING_FILES_KEY) if outcomes else set()
    recorded = 0
    for outcome in outcomes:
        key = keys[outcome.source_file]
        loaded_before = outcome.status == "skipped" and outcome.previous_status == "loaded" and key not in done
        if key is None or not (outcome.status == "loaded" or loaded_before):
            continue
        context.log_event(
            dg.AssetMaterialization(
                asset_key=LANDING_FILES_KEY,
                partition=key,
                description="loaded by the main job's ingestion" if outcome.status == "loaded" else "loaded earlier",
                metadata={**outcome_metadata(outcome), "status": "loaded"}
                if loaded_before
                else outcome_metadata(outcome),
            )
        )
        recorded += 1
    return recorded


def _reprocess(context: AssetExecutionContext, warehouse_writer: WarehouseWriter) -> dg.MaterializeResult:
    keys = list(context.partition_keys)
    loaded: list[ingest.FileOutcome] = []

    def heard(outcome: ingest.FileOutcome) -> None:
        # Said on the run as soon as the first file is committed: a run cancelled (or killed)
        # midway still tells the build sensors that it read a file again.
        if outcome.status != "loaded":
            return
        if not loaded:
            try:
                context.instance.add_run_tags(context.run_id, {READ_AGAIN_TAG: "true"})
            except Exception as exc:  # the materializations still say it, unless the run is killed
                context.log.warning(f"could not tag the run {READ_AGAIN_TAG}: {exc}")
        loaded.append(outcome)

    try:
        report = ingest.ingest_landing(
            settings.landing_dir(), settings.warehouse_path(), again=keys, only_again=True, on_file=heard
        )
    except ingest.NotInLanding as exc:
        # The file was deleted or moved since it became a partition: nothing is read.
        raise dg.Failure(
            description=f"nothing reprocessed: {exc}. Put the file back, or leave its partition out of the backfill",
            allow_retries=False,
        ) from exc
    except WarehouseBusy as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from exc
    except BaseException:
        # Cancelled (Dagster interrupts the step) or broken midway: the files committed so
        # far are new batches all the same, so their partitions say so.
        for outcome in loaded:
            context.log_event(
                dg.AssetMaterialization(
                    asset_key=LANDING_FILES_KEY,
                    partition=outcome.source_file,
                    description="read again before the run was stopped",
                    metadata=outcome_metadata(outcome),
                )
            )
        raise
    by_path = {o.source_file: o for o in report.files}
    # Gone between the check and the read: not read, so not materialized.
    vanished = [key for key in keys if key not in by_path]
    for key in keys:
        outcome = by_path.get(key)
        if outcome is None:
            continue
        context.add_asset_metadata(outcome_metadata(outcome), partition_key=key)
        if outcome.status == "loaded":
            context.log.info(ingest.describe(outcome))
        else:
            context.log.warning(outcome.message or ingest.describe(outcome))
    not_loaded = [o for o in report.files if o.status != "loaded"]
    not_loaded += [ingest.FileOutcome(key, "", "", "vanished", "", message="vanished while read") for key in vanished]
    if not_loaded:
        for outcome in report.files:  # those that did load are materialized all the same
            if outcome.status == "loaded":
                context.log_event(
                    dg.AssetMaterialization(
                        asset_key=LANDING_FILES_KEY, partition=outcome.source_file, metadata=outcome_metadata(outcome)
                    )
                )
        # Recorded in raw.ingestion_log like any rejection; the partitions are not marked
        # materialized, so the backfill shows what still needs a fix.
        raise dg.Failure(
            description=f"{len(not_loaded)} of {len(keys)} file(s) not loaded: "
            + "; ".join(
                o.message if o.message.startswith(o.source_file) else f"{o.source_file}: {o.message}"
                for o in not_loaded[:5]
            ),
            allow_retries=False,
            metadata={"loaded": sum(1 for o in report.files if o.status == "loaded")},
        )
    return dg.MaterializeResult(
        metadata={
            "files": len(report.files),
            "rows_loaded": report.rows_loaded,
            "rows_quarantined": report.rows_quarantined,
            "seconds": round(report.seconds, 2),
            "code_version": code_version(),
        }
    )


# One run for a backfill's files. Dagster marks the parameter beta and says so on every load
# (each `recon` command): that is for whoever upgrades Dagster, not for the operator.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.BetaWarning)
    landing_files = dg.asset(
        key=LANDING_FILES_KEY,
        partitions_def=LANDING_FILES,
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name=RAW_GROUP,
        kinds={"duckdb"},
        owners=["team:data"],
        description=(
            "One partition per landing file (its path under $RECON_HOME/landing). Materializing partitions reads "
            "those files again as new batches that restate their earlier ones; recon_job then builds them."
        ),
    )(_reprocess)
