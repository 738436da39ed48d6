"""The Dagster code location: ingestion assets, the dbt project as assets, one job.

`dagster dev` (``make dev``) shows this graph; ``recon run`` materializes the same job
in-process, so cron, CI and the UI all run exactly one thing. DuckDB allows one writer,
so every run executes in-process, one step after another.
"""

import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from orchestration import actions, contract, ingest, settings

settings.apply_environment()

dbt_project = DbtProject(
    project_dir=settings.PROJECT_DIR,
    profiles_dir=settings.PROJECT_DIR / "profiles",
)
dbt_project.prepare_if_dev()

RAW_GROUP = "raw"
INGESTION_LOG_KEY = dg.AssetKey(["raw_ingestion", "ingestion_log"])
OPERATOR_ACTIONS_KEY = dg.AssetKey(["raw_operations", "operator_actions"])
QUARANTINE_KEY = dg.AssetKey(["raw_ingestion", "quarantine"])


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
]


@dg.multi_asset(specs=RAW_SPECS, name="ingest_landing", can_subset=False)
def ingest_landing(context: AssetExecutionContext) -> Iterator[dg.MaterializeResult]:
    """Load new landing files into the raw schema; rejected files are logged, not fatal."""
    report = ingest.ingest_landing(settings.landing_dir(), settings.warehouse_path())
    for outcome in report.files:
        if outcome.status == "rejected":
            context.log.warning(outcome.message)
        elif outcome.status == "loaded":
            context.log.info(ingest.describe(outcome))
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
    # Operator actions reach the warehouse every run, so dbt can fold them into state.
    con = ingest.connect(settings.warehouse_path())
    try:
        copied = actions.copy_to_warehouse(actions.ActionStore(), con)
    finally:
        con.close()
    yield dg.MaterializeResult(asset_key=OPERATOR_ACTIONS_KEY, metadata={"actions_copied": copied})


@dg.asset(
    key=dg.AssetKey(["operations", "exception_catalog"]),
    deps=[
        dg.AssetKey(["marts", "fct_reconciliation_exceptions"]),
        dg.AssetKey(["marts", "fct_reconciliation_records"]),
    ],
    group_name="operations",
    kinds={"sqlite"},
    owners=["team:operations"],
    description="Current exceptions published into the action store, where operators claim and resolve them.",
)
def exception_catalog(context: AssetExecutionContext) -> dg.MaterializeResult:
    counts = actions.publish_from_warehouse(settings.warehouse_path(), actions.ActionStore())
    context.log.info(
        f"published {counts['current']} current exceptions; {counts['auto_resolved']} closed by later data,"
        f" {counts['reopened']} reopened, {counts['no_longer_found']} no longer found in all"
    )
    return dg.MaterializeResult(metadata={f"{k}_exceptions": v for k, v in counts.items()})


class ReconDbtTranslator(DagsterDbtTranslator):
    """Groups from the dbt folder layer, owners from ``meta.owner`` — never from model lists."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "source":
            return RAW_GROUP
        if dbt_resource_props["resource_type"] == "seed":
            return "reference"
        fqn = dbt_resource_props.get("fqn", [])
        return fqn[1] if len(fqn) > 2 else "default"

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str] | None:
        owner = (dbt_resource_props.get("meta") or {}).get("owner") or (
            dbt_resource_props.get("config", {}).get("meta") or {}
        ).get("owner")
        return [f"team:{owner}"] if owner else None


def dbt_build_args() -> list[str]:
    """CLI arguments of the dbt step: build everything (models, seeds, tests, unit tests)."""
    return ["build"]


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=ReconDbtTranslator(),
)
def recon_dbt_assets(context: AssetExecutionContext, dbt: DbtCliResource):
    # Models stamp the Dagster run id on what they build (env_var RECON_RUN_ID), so every
    # match and reconciled row says which run produced it.
    os.environ["RECON_RUN_ID"] = context.run_id
    yield from dbt.cli(dbt_build_args(), context=context).stream()


recon_job = dg.define_asset_job(
    "recon_job",
    selection=dg.AssetSelection.all(),
    description="Ingest new landing files, then build and test the dbt project.",
)

defs = dg.Definitions(
    assets=[ingest_landing, recon_dbt_assets, exception_catalog],
    jobs=[recon_job],
    resources={
        # The dbt next to this interpreter: `recon` runs from the venv without activating it.
        "dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=str(Path(sys.executable).with_name("dbt")))
    },
    executor=dg.in_process_executor,
)
