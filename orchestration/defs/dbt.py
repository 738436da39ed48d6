"""The dbt project as assets: models, seeds and snapshots; its tests as asset checks."""

import os
from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from orchestration import build_inputs, publish, settings, warehouse
from orchestration.defs.resources import RAW_GROUP, WarehouseWriter, dbt_project


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


def dbt_build_args(full_refresh: bool = False) -> list[str]:
    """CLI arguments of the dbt step: build models, seeds and snapshots with their data tests.

    Unit tests check the SQL, not the data: the same fixtures give the same answer every
    night, so a run leaves them out (as dbt's docs advise for production) and `make test`
    runs them once (tests/python/test_pipeline.py). They had grown to a third of a small
    run's dbt time (the demo's build: 17.1 s with them, 11 s without).
    """
    args = ["build", "--exclude-resource-type", "unit_test"]
    return [*args, "--full-refresh"] if full_refresh else args


@dbt_assets(
    manifest=dbt_project().manifest_path,
    project=dbt_project(),
    dagster_dbt_translator=ReconDbtTranslator(),
)
def recon_dbt_assets(context: AssetExecutionContext, dbt: DbtCliResource, warehouse_writer: WarehouseWriter):
    # Models stamp the Dagster run id on what they build (env_var RECON_RUN_ID), so every
    # match and reconciled row says which run produced it.
    os.environ["RECON_RUN_ID"] = context.run.run_id
    # Production runs only approved rules, however the run was started (UI, schedule, sensor).
    from orchestration.rules import governance

    try:
        context.log.info(governance.require_approved().message())
    except governance.GovernanceError as exc:
        raise dg.Failure(description=str(exc)) from exc
    # A night with nothing new: the published marts are what this build would make. No
    # output is yielded, so Dagster skips the catalog and the publication after it.
    run_id = context.run.run_id
    full_refresh = context.run.tags.get(build_inputs.FULL_REFRESH_TAG) == "true"
    con = warehouse.open_writer(settings.warehouse_path())
    try:
        inputs = build_inputs.current(con)
        published = publish.current()
        if not full_refresh and build_inputs.unchanged_since(published, inputs):
            reason = build_inputs.describe_skip(published)
            build_inputs.record(con, run_id, inputs, "skipped", reason)
            context.log.info(reason)
            return
    finally:
        con.close()
    # Incremental staging models stage only what arrived since their last build by this
    # version of the project (macros/staging_incremental.sql); another version restages all.
    os.environ["RECON_PROJECT_SHA"] = inputs["project_sha256"]
    yield from dbt.cli(dbt_build_args(full_refresh), context=context).stream()
    con = warehouse.open_writer(settings.warehouse_path())
    try:
        build_inputs.record(con, run_id, inputs, "built", "full refresh" if full_refresh else None)
    finally:
        con.close()
