"""Quality gates: Great Expectations checks on what the warehouse holds, as Dagster asset
checks that block a run (severity ``error``) or report (``warn``).

dbt tests prove the models agree with themselves; these gates tell that a source sent a
tenth of its usual rows, that a raw column disappeared, that the engine suddenly leaves a
third of the invoices without an order, or that a source stopped sending files. Each
check's settings, and what each family checks, are in ``config/quality.yml``.

Families (one module each): ``raw`` (raw tables per current batch), ``spikes`` (volume
and amounts against a robust band of earlier runs), ``freshness`` (time since each
source's last file) before dbt; ``match_rate`` (against a baseline of earlier passing
runs) after it. ``runner.run_quality_checks`` runs a phase's families once and writes the
run's report, which the next runs read back as history (``<history_dir>/<run_id>.json``).
"""

from orchestration.quality.config import (
    CONFIG_PATH,
    DBT_PROJECT_PATH,
    RECORDS_ASSET,
    RECORDS_RELATION,
    QualityConfigError,
    check_specs,
    config_path,
    default_history_dir,
    definition_specs,
    load_config,
    raw_asset,
    reconciliations,
)
from orchestration.quality.match_rate import match_rate_frame
from orchestration.quality.results import CheckResult, CheckSpec, QualityReport
from orchestration.quality.runner import build_data_docs, latest_report, run_quality_checks
from orchestration.quality.spikes import Band, load_history, robust_band

__all__ = [
    "CONFIG_PATH",
    "DBT_PROJECT_PATH",
    "RECORDS_ASSET",
    "RECORDS_RELATION",
    "Band",
    "CheckResult",
    "CheckSpec",
    "QualityReport",
    "build_data_docs",
    "check_specs",
    "default_history_dir",
    "latest_report",
    "QualityConfigError",
    "config_path",
    "definition_specs",
    "load_config",
    "load_history",
    "match_rate_frame",
    "raw_asset",
    "reconciliations",
    "robust_band",
    "run_quality_checks",
]
