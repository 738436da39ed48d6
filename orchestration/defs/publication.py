"""Write-audit-publish: the marts to the read-only serving copy that BI and operators read."""

import json
from pathlib import Path

import dagster as dg
from dagster import AssetExecutionContext

from orchestration import actions, build_inputs, publish, quality, settings, specs
from orchestration.defs.operations import EXCEPTION_CATALOG_KEY
from orchestration.defs.resources import TRANSIENT_RETRY, WarehouseWriter, dbt_project


def _mart_keys() -> list[dg.AssetKey]:
    """Every dbt model under models/marts, from the manifest: what a publication copies."""
    manifest = json.loads(Path(dbt_project().manifest_path).read_text())
    return sorted(
        dg.AssetKey(["marts", node["name"]])
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["original_file_path"].startswith("models/marts/")
    )


MART_KEYS = _mart_keys()


@dg.asset(
    key=dg.AssetKey(["publication", "serving_copy"]),
    deps=[*MART_KEYS, EXCEPTION_CATALOG_KEY],
    group_name="publication",
    kinds={"duckdb", "parquet"},
    owners=["team:data"],
    retry_policy=TRANSIENT_RETRY,
    description=(
        "Write-audit-publish: after the build and the blocking checks pass, the marts are copied to a new "
        "read-only DuckDB file and Parquet exports under $RECON_HOME/publications and switched to atomically. "
        "A failed check or build never gets here, so the last good publication stays."
    ),
)
def serving_copy(context: AssetExecutionContext, warehouse_writer: WarehouseWriter) -> dg.MaterializeResult:
    from orchestration.warehouse import open_reader

    con = open_reader(settings.warehouse_path())
    try:
        match_rates = {
            f"{row.reconciliation}/{row.side}": round(float(row.match_rate), 4)
            for row in quality.match_rate_frame(con).itertuples()
        }
        built_from, landing_sha256 = build_inputs.built_from(con, context.run.run_id)
        batches = con.execute(
            "select count(*), max(batch_id), count(*) filter (where status = 'rejected') from raw.ingestion_log"
        ).fetchall()[0]
    finally:
        con.close()
    details = {
        "rule_versions": specs.rule_versions(),
        "match_rates": match_rates,
        "input_batches": {"batches": batches[0], "latest_batch_id": batches[1], "rejected_files": batches[2]},
        # The head of the action log: `recon audit verify` checks the store still holds it.
        "audit_anchor": actions.anchor_record(actions.ActionStore()),
        # What the build started from: the next run with the same inputs skips (build_inputs).
        "build_inputs": built_from,
        # The business clock the marts were built at (RECON_AS_OF, else now): a later run may
        # not go back before it (pipeline.run_pipeline).
        "as_of": actions.utc_now().isoformat(),
        "landing_sha256": landing_sha256,
    }
    try:
        record = publish.publish(settings.warehouse_path(), context.run.run_id, details)
    except Exception as exc:
        from orchestration.pipeline import disk_full_message, is_disk_full

        # No retry fills a full disk less, nor makes a directory writable: one clear failure,
        # and the last publication stays.
        if is_disk_full(exc):
            raise dg.Failure(description=f"publication: {disk_full_message(exc)}", allow_retries=False) from exc
        refused = publish.not_writable_message(exc)
        if refused:
            raise dg.Failure(description=f"publication: {refused}", allow_retries=False) from exc
        raise
    for note in ("kpi_history_note", "after_publication_note"):
        if record.get(note):
            context.log.warning(record[note])
    context.log.info(f"published {record['publication']} to {publish.serving_path()}")
    return dg.MaterializeResult(
        metadata={
            "publication": record["publication"],
            "serving_path": str(publish.serving_path()),
            "code_version": record["code_version"]["git_sha"],
            "rule_versions": dg.MetadataValue.json(details["rule_versions"]),
            "match_rates": dg.MetadataValue.json(match_rates),
            "row_counts": dg.MetadataValue.json(record["row_counts"]),
        }
    )
