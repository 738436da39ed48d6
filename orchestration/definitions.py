"""The Dagster code location: ingestion, the dbt project, quality gates and publication as
assets of one job, with a nightly schedule and a landing-directory sensor.

`dagster dev` (``make dev``) shows this graph; ``recon run`` materializes the same job
in-process, so cron, the sensor, CI and the UI all run exactly one thing. DuckDB allows
one writer: every run executes in-process, one step after another, and holds the
warehouse lock (orchestration.lock) from start to end.
"""

import hashlib
import json
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import yaml
from dagster import AssetExecutionContext
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from orchestration import actions, contract, ingest, lock, publish, quality, settings
from orchestration.lock import WarehouseBusy, warehouse_lock

settings.apply_environment()

dbt_project = DbtProject(
    project_dir=settings.PROJECT_DIR,
    profiles_dir=settings.PROJECT_DIR / "profiles",
)
dbt_project.prepare_if_dev()

RAW_GROUP = "raw"
CODE_VERSION = publish.code_version()["git_sha"]
# Transient failures (a file still being written, a busy disk) get retried; a failed
# dbt test is not transient and is not retried.
TRANSIENT_RETRY = dg.RetryPolicy(max_retries=2, delay=10, backoff=dg.Backoff.EXPONENTIAL)


class WarehouseWriter(dg.ConfigurableResource):
    """Holds the warehouse lock for the whole run (every writing asset requires it)."""

    wait_seconds: float | None = None

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator["WarehouseWriter"]:
        with warehouse_lock(f"dagster run {context.run.run_id if context.run else None}", self.wait_seconds):
            if context.run is not None:
                lock.record_run(context.run.run_id)
                _fail_dead_run(context)
            yield self


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


@dg.multi_asset(specs=RAW_SPECS, name="ingest_landing", can_subset=False, retry_policy=TRANSIENT_RETRY)
def ingest_landing(context: AssetExecutionContext, warehouse_writer: WarehouseWriter) -> Iterator[dg.MaterializeResult]:
    """Load new landing files into the raw schema; rejected files are logged, not fatal."""
    try:
        report = ingest.ingest_landing(settings.landing_dir(), settings.warehouse_path())
    except WarehouseBusy as exc:
        # Another process has the DuckDB file open: say who, at once, instead of retrying.
        raise dg.Failure(description=str(exc), allow_retries=False) from exc
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
                # Lineage: which batches (files, checksums) this run brought in.
                "input_batches": dg.MetadataValue.json(
                    [{"batch_id": f.batch_id, "file": f.source_file, "sha256": f.sha256} for f in files]
                ),
                "code_version": CODE_VERSION,
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
    # Operator actions reach the warehouse every run, so dbt can fold them into state. A
    # store that does not continue what the warehouse holds (restored, truncated, forked)
    # fails the run: copying only the newer seq numbers would drop actions silently, and
    # the catalog step would append pipeline events to the wrong log.
    con = ingest.connect(settings.warehouse_path())
    try:
        store = actions.ActionStore()
        try:
            copy = actions.copy_to_warehouse(store, con)
        except actions.ForkError as exc:
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
            "actions_flagged": len(copy.flagged),
            "flagged": dg.MetadataValue.md("\n".join(f"- {p}" for p in copy.flagged) or "none"),
            "audit_anchor_seq": anchor["seq"],
            "audit_anchor_hash": anchor["entry_hash"],
        },
    )


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
def exception_catalog(context: AssetExecutionContext, warehouse_writer: WarehouseWriter) -> dg.MaterializeResult:
    store = actions.ActionStore()
    counts = actions.publish_from_warehouse(settings.warehouse_path(), store)
    # The pipeline events just appended (auto_resolve, reopen) are anchored too.
    con = ingest.connect(settings.warehouse_path())
    try:
        actions.record_anchor(con, store, context.run.run_id, "exception_catalog")
    finally:
        con.close()
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
def recon_dbt_assets(context: AssetExecutionContext, dbt: DbtCliResource, warehouse_writer: WarehouseWriter):
    # Models stamp the Dagster run id on what they build (env_var RECON_RUN_ID), so every
    # match and reconciled row says which run produced it.
    os.environ["RECON_RUN_ID"] = context.run.run_id
    # Production runs only approved rules, however the run was started (UI, schedule, sensor).
    from orchestration import governance

    try:
        context.log.info(governance.require_approved().message())
    except governance.GovernanceError as exc:
        raise dg.Failure(description=str(exc)) from exc
    yield from dbt.cli(dbt_build_args(), context=context).stream()


# ------------------------------------------------------------------ quality gates
# Great Expectations suites (orchestration/quality.py, config/quality.yml) as asset checks.
# Raw-table checks run right after ingestion, so a bad batch (a failed expectation, a
# volume or value spike) stops the dbt build and the publication; the match-rate checks
# run after the build and stop the publication. `error` checks block, `warn` report.

QUALITY_SPECS = quality.check_specs()


def _check_spec(spec: quality.CheckSpec) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        name=spec.name,
        asset=dg.AssetKey.from_user_string(spec.asset),
        description=spec.description,
        blocking=spec.severity == "error",
    )


def _quality_results(context: dg.AssetCheckExecutionContext, wanted: set[tuple[str, str]], after_build: bool):
    config = os.environ.get("RECON_QUALITY_CONFIG")  # another config/quality.yml (tests, one-off runs)
    report = quality.run_quality_checks(
        settings.warehouse_path(),
        quality.default_history_dir(),
        context.run.run_id,
        now=actions.utc_now(),
        config_path=Path(config) if config else None,
        # Before dbt the marts are the previous run's: their match rates set no baseline.
        after_build=after_build,
    )
    for check in report.checks:
        if (check.name, check.asset) not in wanted:
            continue
        metadata = {k: v for k, v in check.metadata.items() if isinstance(v, (int, float, str, bool))}
        metadata["report"] = str(report.history_file)
        yield dg.AssetCheckResult(
            asset_key=dg.AssetKey.from_user_string(check.asset),
            check_name=check.name,
            passed=check.passed,
            severity=dg.AssetCheckSeverity.ERROR if check.severity == "error" else dg.AssetCheckSeverity.WARN,
            metadata=metadata,
            description=check.description,
        )


RAW_QUALITY = [s for s in QUALITY_SPECS if s.asset.startswith("raw_")]
MART_QUALITY = [s for s in QUALITY_SPECS if not s.asset.startswith("raw_")]


@dg.multi_asset_check(specs=[_check_spec(s) for s in RAW_QUALITY], name="raw_quality_gates", can_subset=False)
def raw_quality_gates(context: dg.AssetCheckExecutionContext):
    yield from _quality_results(context, {(s.name, s.asset) for s in RAW_QUALITY}, after_build=False)


@dg.multi_asset_check(specs=[_check_spec(s) for s in MART_QUALITY], name="mart_quality_gates", can_subset=False)
def mart_quality_gates(context: dg.AssetCheckExecutionContext):
    yield from _quality_results(context, {(s.name, s.asset) for s in MART_QUALITY}, after_build=True)


def _mart_keys() -> list[dg.AssetKey]:
    """Every dbt model under models/marts, from the manifest: what a publication copies."""
    manifest = json.loads(Path(dbt_project.manifest_path).read_text())
    return sorted(
        dg.AssetKey(["marts", node["name"]])
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["original_file_path"].startswith("models/marts/")
    )


MART_KEYS = _mart_keys()


def _rule_versions() -> dict[str, str]:
    from orchestration.evaluate import load_spec

    names = yaml.safe_load((settings.PROJECT_DIR / "dbt_project.yml").read_text())["vars"]["reconciliations"]
    return {name: load_spec(name)["rule_version"] for name in names}


@dg.asset(
    key=dg.AssetKey(["publication", "serving_copy"]),
    deps=[*MART_KEYS, dg.AssetKey(["operations", "exception_catalog"])],
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
    import duckdb

    con = duckdb.connect(str(settings.warehouse_path()), read_only=True)
    try:
        match_rates = {
            f"{row.reconciliation}/{row.side}": round(float(row.match_rate), 4)
            for row in quality.match_rate_frame(con).itertuples()
        }
        batches = con.execute(
            "select count(*), max(batch_id), count(*) filter (where status = 'rejected') from raw.ingestion_log"
        ).fetchall()[0]
    finally:
        con.close()
    details = {
        "rule_versions": _rule_versions(),
        "match_rates": match_rates,
        "input_batches": {"batches": batches[0], "latest_batch_id": batches[1], "rejected_files": batches[2]},
        # The head of the action log: `recon audit verify` checks the store still holds it.
        "audit_anchor": actions.anchor_record(actions.ActionStore()),
    }
    record = publish.publish(settings.warehouse_path(), context.run.run_id, details)
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


recon_job = dg.define_asset_job(
    "recon_job",
    selection=dg.AssetSelection.all(),
    description="Ingest new landing files, build and test the dbt project, check quality, publish.",
)

recon_nightly = dg.ScheduleDefinition(
    name="recon_nightly",
    job=recon_job,
    cron_schedule=os.environ.get("RECON_SCHEDULE_CRON", "0 2 * * *"),
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="The whole pipeline every night (cron from RECON_SCHEDULE_CRON, UTC).",
)


def landing_fingerprint() -> dict[str, list[int]]:
    """Size and modification time of every landing file, by path relative to landing/."""
    landing = settings.landing_dir()
    out = {}
    for path in ingest.discover(landing):
        st = path.stat()
        out[str(path.relative_to(landing))] = [st.st_size, st.st_mtime_ns]
    return out


@dg.sensor(
    job=recon_job,
    minimum_interval_seconds=int(os.environ.get("RECON_SENSOR_INTERVAL_SECONDS", "30")),
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


defs = dg.Definitions(
    assets=[ingest_landing, recon_dbt_assets, exception_catalog, serving_copy],
    asset_checks=[raw_quality_gates, mart_quality_gates],
    jobs=[recon_job],
    schedules=[recon_nightly],
    sensors=[landing_sensor],
    resources={
        # The dbt next to this interpreter: `recon` runs from the venv without activating it.
        "dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=str(Path(sys.executable).with_name("dbt"))),
        "warehouse_writer": WarehouseWriter(),
    },
    executor=dg.in_process_executor,
)
