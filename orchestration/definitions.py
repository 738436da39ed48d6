"""The Dagster code location: ingestion, the dbt project, quality gates and publication as
assets of one job, with a nightly schedule and a landing-directory sensor.

`dagster dev` (``make dev``) shows this graph; ``recon run`` materializes the same job
in-process, so cron, the sensor, CI and the UI all run exactly one thing. DuckDB allows
one writer: every run executes in-process, one step after another, and holds the
warehouse lock (orchestration.lock) from start to end. The parts live in
``orchestration.defs``, one module per concern.
"""

import dagster as dg

from orchestration import settings

settings.pin_environment()

from orchestration.defs import (  # noqa: E402
    alerting,
    automation,
    dbt,
    ingestion,
    landing_files,
    operations,
    publication,
    quality_gates,
)
from orchestration.defs.resources import WarehouseWriter, dbt_resource  # noqa: E402

defs = dg.Definitions(
    assets=[
        ingestion.ingest_landing,
        landing_files.landing_files,
        dbt.recon_dbt_assets,
        operations.exception_catalog,
        publication.serving_copy,
    ],
    asset_checks=[quality_gates.raw_quality_gates, quality_gates.mart_quality_gates],
    jobs=[automation.recon_job, automation.reprocess_landing_job, alerting.alert_digest_job],
    schedules=[automation.recon_nightly, alerting.alert_digest],
    sensors=[
        automation.landing_sensor,
        automation.build_after_reprocessing,
        alerting.alert_after_success,
        alerting.alert_after_failure,
        alerting.alert_after_failed_ui_reprocessing,
    ],
    resources={"dbt": dbt_resource(), "warehouse_writer": WarehouseWriter()},
    executor=dg.in_process_executor,
)
