"""Where state lives. Everything the product writes goes under ``RECON_HOME``."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent


def recon_home() -> Path:
    """``RECON_HOME`` (default ``.recon/`` in the project), made absolute."""
    return Path(os.environ.get("RECON_HOME", PROJECT_DIR / ".recon")).resolve()


def landing_dir() -> Path:
    return recon_home() / "landing"


def warehouse_path() -> Path:
    return Path(os.environ.get("RECON_DUCKDB_PATH", recon_home() / "warehouse.duckdb")).resolve()


def publications_dir() -> Path:
    return recon_home() / "publications"


def serving_path() -> Path:
    """The published, read-only copy every reader opens (orchestration/publish.py writes it)."""
    return publications_dir() / "serving.duckdb"


def dagster_home() -> Path:
    return Path(os.environ.get("DAGSTER_HOME", recon_home() / "dagster")).resolve()


def use_home(home: Path) -> None:
    """Point every state path of this process at ``home`` (scratch builds: tune, evaluate)."""
    home = Path(home).resolve()
    os.environ["RECON_HOME"] = str(home)
    os.environ["RECON_DUCKDB_PATH"] = str(home / "warehouse.duckdb")
    os.environ["DAGSTER_HOME"] = str(home / "dagster")
    apply_environment()


def apply_environment() -> None:
    """Pin the environment (``pin_environment``) and write DAGSTER_HOME's dagster.yaml.

    The CLI's entry points and the tests call this before anything else.
    """
    pin_environment()
    dagster_dir = Path(os.environ["DAGSTER_HOME"])
    dagster_dir.mkdir(parents=True, exist_ok=True)
    config = dagster_dir / "dagster.yaml"
    if not config.exists() or config.read_text() != DAGSTER_YAML:
        config.write_text(DAGSTER_YAML)


def pin_environment() -> None:
    """The environment every entry point runs with: absolute state paths, no telemetry.

    dbt and Dagster read these from the process environment. Writes nothing: loading the
    Dagster definitions calls this alone.
    """
    home = recon_home()
    os.environ["RECON_HOME"] = str(home)
    # dbt and dagster live next to this interpreter; `.venv/bin/recon` runs without an
    # activated venv, and dagster-dbt looks dbt up on PATH when it prepares the project.
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    os.environ.setdefault("RECON_DUCKDB_PATH", str(warehouse_path()))
    os.environ.setdefault("DAGSTER_HOME", str(dagster_home()))
    os.environ["DO_NOT_TRACK"] = "1"
    os.environ["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    os.environ.setdefault("DBT_PROFILES_DIR", str(PROJECT_DIR / "profiles"))


# The Dagster instance config recon manages under DAGSTER_HOME (rewritten if it differs).
# Runs from the UI, the schedule and the sensor queue one at a time (one warehouse
# writer); a run whose process dies is retried, a failed step (a failed test) is not.
# Run monitoring fails a run past its dagster/max_runtime tag, which the warehouse writer
# sets to RECON_LOCK_MAX_HOLD_SECONDS on the runs Dagster launches (orchestration/defs/
# resources.py; the tag, not max_runtime_seconds here, so this text stays the same whatever
# the environment), and a run that has not started after 15 minutes (definitions load in
# 10-100 s on a loaded 2-core machine, a dbt parse included): either would hold the queue.
# Events go to Dagster's usual SQLite files under DAGSTER_HOME through a storage that
# keeps its databases open (orchestration/event_log_storage.py).
DAGSTER_YAML = """\
# Written by recon (orchestration/settings.py); edits are overwritten.
telemetry:
  enabled: false
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    max_concurrent_runs: 1
run_monitoring:
  enabled: true
  start_timeout_seconds: 900
run_retries:
  enabled: true
  max_retries: 2
  retry_on_asset_or_op_failure: false
event_log_storage:
  module: orchestration.event_log_storage
  class: PooledSqliteEventLogStorage
  config:
    dagster_home:
      env: DAGSTER_HOME
"""


# ------------------------------------------------------------------ numbers from the environment


class SettingError(ValueError):
    """An environment variable holds a value the product cannot use; the message names it."""


def env_number(name: str, default: float, low: float, high: float, whole: bool = True) -> float:
    """The number in environment variable ``name`` (``default`` when unset or empty), refused
    with a message naming the variable when it is not a finite number from ``low`` to ``high``."""
    import math

    text = os.environ.get(name, "").strip()
    if not text:
        return default
    kind = "whole number" if whole else "number"
    try:
        value = int(text) if whole else float(text)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or not low <= value <= high:
        shown = text if len(text) <= 40 else text[:40] + "…"
        raise SettingError(f"{name}={shown!r}: must be a {kind} from {low:g} to {high:g} (unset it for {default:g})")
    return value


_MEMORY = re.compile(r"^\s*\d+(\.\d+)?\s*(%|(K|M|G|T)i?B|B|bytes)\s*$", re.IGNORECASE)


def env_memory_limit() -> str | None:
    """RECON_DUCKDB_MEMORY_LIMIT as DuckDB reads it (e.g. 14GB, 8GiB, 80%), or None when unset."""
    text = os.environ.get("RECON_DUCKDB_MEMORY_LIMIT", "").strip()
    if not text:
        return None
    if not _MEMORY.match(text) or (text.endswith("%") and not 0 < float(text.rstrip("% ")) <= 100):
        shown = text if len(text) <= 40 else text[:40] + "…"
        raise SettingError(
            f"RECON_DUCKDB_MEMORY_LIMIT={shown!r}: must be a size such as 14GB, 8GiB or 512MB, or a share "
            "of the memory such as 80% (unset it for DuckDB's default, 80%)"
        )
    return text


def env_cron(name: str, default: str) -> str:
    """A cron expression from environment variable ``name``, refused by name when invalid."""
    text = os.environ.get(name, "").strip() or default
    from dagster._utils.schedules import is_valid_cron_string

    if not is_valid_cron_string(text):
        raise SettingError(
            f"{name}={text[:60]!r}: not a cron expression such as '0 2 * * *' (unset it for {default!r})"
        )
    return text


def schedule_cron() -> str:
    """The nightly schedule's cron (RECON_SCHEDULE_CRON, UTC); SettingError naming it when invalid."""
    return env_cron("RECON_SCHEDULE_CRON", DEFAULT_SCHEDULE_CRON)


def sensor_interval_seconds() -> int:
    """How often the landing sensors look (RECON_SENSOR_INTERVAL_SECONDS); SettingError naming it when invalid."""
    return int(env_number("RECON_SENSOR_INTERVAL_SECONDS", DEFAULT_SENSOR_INTERVAL, 5, 86_400))


def loading(read, fallback):
    """``read()`` for the Dagster definitions, ``fallback`` when the setting has a mistake: the
    definitions must load whatever the environment says (else the schedule, the sensors and the
    failure alerts stop with nothing said); runs are refused naming it
    (orchestration.pipeline.check_run_settings), and the failure is alerted."""
    try:
        return read()
    except SettingError:
        return fallback


DEFAULT_SCHEDULE_CRON = "0 2 * * *"
DEFAULT_SENSOR_INTERVAL = 30
MAX_THREADS = 64


def check_profile_threads() -> None:
    """dbt's ``threads`` in the profile the runs use (``$DBT_PROFILES_DIR/profiles.yml``, target of
    the ``recon`` profile), refused naming the file unless a whole number from 1 to MAX_THREADS.

    ``threads: 0`` ran ingestion and the raw gates for half a minute, then failed the dbt step
    with 250 lines of traceback ending in "max_workers must be greater than 0", naming neither
    the file nor the key; ``threads: two`` failed dbt's parse as "at path ['threads']". A value
    dbt renders from Jinja (``{{ env_var(...) }}``) is left to dbt."""
    from orchestration import strict_yaml

    path = Path(os.environ.get("DBT_PROFILES_DIR", PROJECT_DIR / "profiles")) / "profiles.yml"
    try:
        doc = strict_yaml.load_mapping(path)
    except strict_yaml.StrictYamlError as exc:
        raise SettingError(str(exc)) from None
    profile = doc.get("recon")
    if not isinstance(profile, dict) or not isinstance(profile.get("outputs"), dict):
        return  # dbt names what is missing
    target = profile.get("target")
    output = profile["outputs"].get(target) if isinstance(target, str) else None
    if not isinstance(output, dict) or "threads" not in output:
        return
    threads = output["threads"]
    if isinstance(threads, str) and "{{" in threads:
        return
    if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= MAX_THREADS:
        raise SettingError(
            f"{path}: recon.outputs.{target}.threads must be a whole number from 1 to {MAX_THREADS} (the dbt "
            f"models built at once; the machine's cores are a good start), not {threads!r}"
        )
