"""The Dagster code location loads offline and shows the whole graph."""

from __future__ import annotations

import time

import dagster as dg

from orchestration import contract


def test_definitions_load_with_raw_dbt_assets_checks_and_job(recon_home) -> None:
    started = time.monotonic()
    from orchestration import definitions

    repo = definitions.defs.get_repository_def()
    keys = set(repo.asset_graph.get_all_asset_keys())
    for ent in contract.ENTITIES:
        assert dg.AssetKey([f"raw_{ent.source}", ent.table]) in keys
    # dbt assets are keyed by schema and name, as BI users see them in the warehouse.
    for key in (
        ["staging", "stg_crm__orders"],
        ["marts", "fct_reconciled_orders"],
        ["marts", "fct_order_invoice_matches"],
        ["reference", "fx_rates"],
    ):
        assert dg.AssetKey(key) in keys, key
    check_keys = {ck.name for ck in repo.asset_graph.asset_check_keys}
    assert "unique_stg_crm__orders_order_id" in check_keys  # dbt tests are asset checks
    job = definitions.defs.resolve_job_def("recon_job")
    assert job.executor_def is dg.in_process_executor
    assert time.monotonic() - started < 60


def test_translator_groups_by_folder_and_owner_from_meta() -> None:
    from orchestration.definitions import ReconDbtTranslator

    translator = ReconDbtTranslator()
    model = {
        "resource_type": "model",
        "fqn": ["recon", "marts", "reconciliation", "fct_x"],
        "meta": {"owner": "finance"},
    }
    assert translator.get_group_name(model) == "marts"
    assert translator.get_owners(model) == ["team:finance"]
    assert translator.get_group_name({"resource_type": "seed", "fqn": ["recon", "fx_rates"]}) == "reference"
    assert translator.get_owners({"resource_type": "model", "fqn": ["recon", "staging", "x"]}) is None


def test_dbt_step_builds_everything() -> None:
    from orchestration.definitions import dbt_build_args

    assert dbt_build_args() == ["build"]


def test_environment_puts_dbt_on_path_for_dagster_dev(recon_home, monkeypatch) -> None:
    # `recon dev` runs from .venv/bin without an activated venv; dagster-dbt then looks
    # dbt up on PATH when it prepares the project.
    import shutil
    import sys
    from pathlib import Path

    from orchestration import settings

    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert shutil.which("dbt") is None or "/.venv/" not in shutil.which("dbt")
    settings.apply_environment()
    found = shutil.which("dbt")
    assert found is not None and found.startswith(str(Path(sys.executable).parent))
