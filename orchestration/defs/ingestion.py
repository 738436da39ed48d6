"""Landing files into the raw schema, and operator actions into the warehouse."""

from collections.abc import Iterator

import dagster as dg
from dagster import AssetExecutionContext

from orchestration import actions, contract, ingest, settings, warehouse
from orchestration.defs.landing_files import record_files
from orchestration.defs.resources import RAW_GROUP, TRANSIENT_RETRY, WarehouseWriter, code_version
from orchestration.lock import WarehouseBusy

INGESTION_LOG_KEY = dg.AssetKey(["raw_ingestion", "ingestion_log"])
OPERATOR_ACTIONS_KEY = dg.AssetKey(["raw_operations", "operator_actions"])
QUARANTINE_KEY = dg.AssetKey(["raw_ingestion", "quarantine"])
SUPERSESSIONS_KEY = dg.AssetKey(["raw_ingestion", "batch_supersessions"])


def raw_asset_key(ent: contract.Entity) -> dg.AssetKey:
    """Same key dagster-dbt gives the dbt source ``raw_<source>.<table>``, so lineage joins up."""
    return dg.AssetKey([f"raw_{ent.source}", ent.table])


RAW_SPECS = [
    dg.AssetSpec(
        key=raw_asset_key(ent),
        group_name=RAW_GROUP,
        description=f"{ent.description} Loaded append-only from $RECON_HOME/landing/{ent.source}/{ent.name}/.",
        kinds={"duckdb"},
        owners=["team:data"],
        metadata={"natural_key": ", ".join(ent.key), "contract_version": contract.CONTRACT_VERSION},
    )
    for ent in contract.ENTITIES
] + [
    dg.AssetSpec(
        key=INGESTION_LOG_KEY,
        group_name=RAW_GROUP,
        description="One row per landing file loaded or rejected.",
        kinds={"duckdb"},
        owners=["team:data"],
    ),
    dg.AssetSpec(
        key=OPERATOR_ACTIONS_KEY,
        group_name=RAW_GROUP,
        description="Operator actions copied from the action store (append-only, hash-chained).",
        kinds={"duckdb", "sqlite"},
        owners=["team:operations"],
    ),
    dg.AssetSpec(
        key=QUARANTINE_KEY,
        group_name=RAW_GROUP,
        description="Rows that arrived but could not be loaded, with reason and original text.",
        kinds={"duckdb"},
        owners=["team:data"],
    ),
    dg.AssetSpec(
        key=SUPERSESSIONS_KEY,
        group_name=RAW_GROUP,
        description="Batches a full export superseded (landing contract delivery: full), one row each.",
        kinds={"duckdb"},
        owners=["team:data"],
    ),
]


@dg.multi_asset(specs=RAW_SPECS, name="ingest_landing", can_subset=False, retry_policy=TRANSIENT_RETRY)
def ingest_landing(context: AssetExecutionContext, warehouse_writer: WarehouseWriter) -> Iterator[dg.MaterializeResult]:
    """Load new landing files into the raw schema; rejected files are logged, not fatal."""
    try:
        report = ingest.ingest_landing(settings.landing_dir(), settings.warehouse_path())
    except WarehouseBusy as exc:
        # Another process has the DuckDB file open: say who, at once, instead of retrying.
        raise dg.Failure(description=str(exc), allow_retries=False) from exc
    for outcome in report.files:
        if outcome.status == "rejected" or outcome.message == ingest.STILL_WRITTEN:
            context.log.warning(outcome.message if outcome.status == "rejected" else ingest.describe(outcome))
        elif outcome.status == "loaded":
            context.log.info(ingest.describe(outcome))
    # Each landing file is a partition of raw_ingestion/landing_files (reprocessed by a backfill).
    record_files(context, report.files)
    by_table: dict[str, list[ingest.FileOutcome]] = {}
    for outcome in report.by_status("loaded"):
        by_table.setdefault(f"{outcome.source}__{outcome.entity}", []).append(outcome)
    for ent in contract.ENTITIES:
        files = by_table.get(ent.table, [])
        yield dg.MaterializeResult(
            asset_key=raw_asset_key(ent),
            metadata={
                "files_loaded": len(files),
                "rows_loaded": sum(f.rows_loaded for f in files),
                "rows_quarantined": sum(f.rows_quarantined for f in files),
                "restatements": sum(1 for f in files if f.is_restatement),
                # Lineage: which batches (files, checksums) this run brought in.
                "input_batches": dg.MetadataValue.json(
                    [{"batch_id": f.batch_id, "file": f.source_file, "sha256": f.sha256} for f in files]
                ),
                "code_version": code_version(),
            },
        )
    rejected = report.by_status("rejected")
    yield dg.MaterializeResult(
        asset_key=INGESTION_LOG_KEY,
        metadata={
            "files_loaded": len(report.by_status("loaded")),
            "files_rejected": len(rejected),
            "files_skipped": len(report.by_status("skipped")),
            "rejected": dg.MetadataValue.md("\n".join(f"- {f.message}" for f in rejected) or "none"),
            "seconds": round(report.seconds, 2),
        },
    )
    yield dg.MaterializeResult(asset_key=QUARANTINE_KEY, metadata={"rows_quarantined": report.rows_quarantined})
    loaded = report.by_status("loaded")
    yield dg.MaterializeResult(
        asset_key=SUPERSESSIONS_KEY,
        metadata={
            "batches_superseded": sum(len(f.supersedes_batch_ids) for f in loaded),
            "superseded_on_arrival": sum(1 for f in loaded if f.superseded_on_arrival_by is not None),
            "keys_withdrawn": sum(f.keys_withdrawn for f in loaded),
        },
    )
    # Operator actions reach the warehouse every run, so dbt can fold them into state. A
    # store that does not continue what the warehouse holds (restored, truncated, forked)
    # fails the run: copying only the newer seq numbers would drop actions silently, and
    # the catalog step would append pipeline events to the wrong log.
    con = warehouse.open_writer(settings.warehouse_path())
    try:
        try:
            # Made here by a home's first run; refused where the warehouse anchored one before.
            store = actions.ActionStore.for_run(con)
            copy = actions.copy_to_warehouse(store, con)
        except (actions.ForkError, actions.StoreMissing) as exc:
            raise dg.Failure(description=f"operator actions not copied: {exc}", allow_retries=False) from exc
        anchor = actions.record_anchor(con, store, context.run.run_id, "ingest_landing")
    finally:
        con.close()
    for problem in copy.flagged:  # logged by an older version; never stops the run
        context.log.warning(f"operator action copied with a field left null: {problem}")
    yield dg.MaterializeResult(
        asset_key=OPERATOR_ACTIONS_KEY,
        metadata={
            "actions_copied": copy.copied,
            # Those a person made: the catalog's own events (auto_resolve, reopen) change
            # no mart, and alone do not make a quiet run build (pipeline.brought_anything).
            "operator_actions_copied": copy.operator_copied,
            "actions_flagged": len(copy.flagged),
            "flagged": dg.MetadataValue.md("\n".join(f"- {p}" for p in copy.flagged) or "none"),
            "audit_anchor_seq": anchor["seq"],
            "audit_anchor_hash": anchor["entry_hash"],
        },
    )
