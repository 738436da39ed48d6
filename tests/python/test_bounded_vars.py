"""Numeric dbt vars are refused at compile time unless they are numbers in their range.

Jinja's `| int` turns "ten" into 0; a template_campaign_min_clients of 0 would make every
campaign name a template and every campaign orphan spend, and an
extra_charge_min_evidence of 0 every line description an extra charge. A typo in
dbt_project.yml must stop the build, naming the var and its range.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from orchestration import settings

DBT = Path(settings.PROJECT_DIR) / ".venv" / "bin" / "dbt"


def _compile(tmp_path: Path, model: str, variables: dict, command: str = "compile") -> subprocess.CompletedProcess:
    env = {**os.environ, "RECON_DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"), "DO_NOT_TRACK": "1"}
    return subprocess.run(
        [
            str(DBT),
            command,
            # A build of one node runs only the tests on it alone (not relationships to others).
            *(["--indirect-selection", "cautious"] if command == "build" else []),
            "--quiet",
            "--select",
            model,
            "--vars",
            json.dumps(variables),
            "--project-dir",
            str(settings.PROJECT_DIR),
            "--profiles-dir",
            str(settings.PROJECT_DIR / "profiles"),
            "--target-path",
            str(tmp_path / "target"),
            "--log-path",
            str(tmp_path / "logs"),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


@pytest.mark.parametrize(
    ("model", "variables", "message"),
    [
        (
            "int_ads_campaigns",
            {"template_campaign_min_clients": "ten"},
            "var template_campaign_min_clients must be a number between 2 and 1000000",
        ),
        (
            "int_ads_campaigns",
            {"template_campaign_min_clients": 0},
            "var template_campaign_min_clients must be between 2 and 1000000",
        ),
        (
            "int_order_invoice_matches",
            {"extra_charge_min_evidence": 2.5},
            "var extra_charge_min_evidence must be a whole number",
        ),
        (
            "int_order_invoice_matches",
            {"extra_charge_max_billed_share": 3},
            "var extra_charge_max_billed_share must be between 0 and 1",
        ),
        (
            "int_lead_duplicates",
            {"duplicate_lead_unassigned_window_days": -1},
            "var duplicate_lead_unassigned_window_days must be between 0 and 3650",
        ),
        (
            "int_exception_breaks",
            {"duplicate_billing_window_days": "two weeks"},
            "var duplicate_billing_window_days must be a number between 0 and 366",
        ),
        # Money: a negative tolerance made exact matches variances (353 of 400 orders).
        (
            "int_reconciled_orders",
            {"amount_tolerance_abs": -1},
            "var amount_tolerance_abs must be between 0 and 1000000",
        ),
        ("int_reconciled_orders", {"amount_tolerance_rel": -0.5}, "var amount_tolerance_rel must be between 0 and 1"),
        ("int_reconciled_orders", {"delivery_tolerance_rel": "5%"}, "var delivery_tolerance_rel must be a number"),
        ("int_reconciled_orders", {"reporting_currency": "usd"}, "var reporting_currency must be a three-letter"),
    ],
)
def test_a_var_out_of_range_stops_the_build_naming_it(
    tmp_path: Path, model: str, variables: dict, message: str
) -> None:
    result = _compile(tmp_path, model, variables)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr, result.stdout[-2000:]


def test_the_shipped_values_compile(tmp_path: Path) -> None:
    models = (
        "int_ads_campaigns int_order_invoice_matches int_lead_duplicates int_exception_breaks int_reconciled_orders"
    )
    result = _compile(tmp_path, models, {})
    assert result.returncode == 0, result.stdout[-2000:]


def test_a_reporting_currency_without_rates_stops_the_build_at_the_seed(tmp_path: Path) -> None:
    """A well-formed code the FX seed has no rates for: the seed's own test fails, naming
    the var, so nothing downstream converts into nulls."""
    result = _compile(tmp_path, "fx_rates", {"reporting_currency": "XYZ"}, command="build")
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "assert_reporting_currency_has_fx_rates" in out, out[-2000:]
    assert _compile(tmp_path, "fx_rates", {}, command="build").returncode == 0
