"""Quality gates: the Great Expectations suites (orchestration/quality/,
config/quality.yml) as asset checks.

Raw-table checks run right after ingestion, so a bad batch (a failed expectation, a
volume or value spike) stops the dbt build and the publication; the match-rate checks
run after the build and stop the publication. `error` checks block, `warn` report.
"""

import dagster as dg

from orchestration import actions, quality, settings

# A config with a mistake must not stop the definitions (and with them the schedule, the sensors
# and the failure alerts): the specs then block, and the run is refused at its first step.
QUALITY_SPECS, QUALITY_CONFIG_ERROR = quality.definition_specs()


def _check_spec(spec: quality.CheckSpec) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        name=spec.name,
        asset=dg.AssetKey.from_user_string(spec.asset),
        description=spec.description,
        blocking=spec.severity == "error",
    )


def _quality_results(context: dg.AssetCheckExecutionContext, wanted: set[tuple[str, str]], phase: str):
    # The config in force (quality.config_path(): RECON_QUALITY_CONFIG or config/quality.yml),
    # the same file QUALITY_SPECS took the blocking flags from.
    report = quality.run_quality_checks(
        settings.warehouse_path(),
        quality.default_history_dir(),
        context.run.run_id,
        now=actions.utc_now(),
        # Each family once: raw tables, spikes and freshness before dbt; match rates after it,
        # on this run's marts (the report then holds both phases).
        phase=phase,
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
    yield from _quality_results(context, {(s.name, s.asset) for s in RAW_QUALITY}, phase="raw")


@dg.multi_asset_check(specs=[_check_spec(s) for s in MART_QUALITY], name="mart_quality_gates", can_subset=False)
def mart_quality_gates(context: dg.AssetCheckExecutionContext):
    yield from _quality_results(context, {(s.name, s.asset) for s in MART_QUALITY}, phase="marts")
