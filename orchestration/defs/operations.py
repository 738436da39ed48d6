"""Current exceptions into the operators' action store."""

import dagster as dg
from dagster import AssetExecutionContext

from orchestration import actions, settings, warehouse
from orchestration.defs.resources import WarehouseWriter

EXCEPTION_CATALOG_KEY = dg.AssetKey(["operations", "exception_catalog"])


@dg.asset(
    key=EXCEPTION_CATALOG_KEY,
    deps=[
        dg.AssetKey(["marts", "fct_reconciliation_exceptions"]),
        dg.AssetKey(["marts", "fct_reconciliation_records"]),
    ],
    group_name="operations",
    kinds={"sqlite"},
    owners=["team:operations"],
    description="Current exceptions published into the action store, where operators claim and resolve them.",
)
def exception_catalog(context: AssetExecutionContext, warehouse_writer: WarehouseWriter) -> dg.MaterializeResult:
    store = actions.ActionStore()
    counts = actions.catalog_from_warehouse(settings.warehouse_path(), store)
    # The pipeline events just appended (auto_resolve, reopen) are anchored too.
    con = warehouse.open_writer(settings.warehouse_path())
    try:
        actions.record_anchor(con, store, context.run.run_id, "exception_catalog")
    finally:
        con.close()
    context.log.info(
        f"published {counts['current']} current exceptions; {counts['auto_resolved']} closed by later data"
        f" ({counts['auto_resolved_withdrawn']} of them because their record was withdrawn from its source),"
        f" {counts['reopened']} reopened, {counts['no_longer_found']} no longer found in all"
    )
    return dg.MaterializeResult(metadata={f"{k}_exceptions": v for k, v in counts.items()})
