"""The matching on data we did not write: dialects B and C, never used for tuning.

A whole first run (Dagster: ingest, gates, dbt build, publication) on a fresh warehouse
of dialect B, seed 7, and of dialect C, seed 5, then the matches against their ground
truth. Weights and thresholds were tuned on dialect A only; rules were looked for on B's
and C's development seeds (11, 9), never on these; the figures this asserts are in
docs/benchmarks.md.

The floors are the matching issue's targets (line precision 0.99 and F1 0.95, campaign
precision 0.98 and recall 0.90, deliverable F1 0.95, submission recall 0.97, billed amount
within 1 % for 95 % of billed orders), measured here at 5,000 orders (docs/benchmarks.md
has 20,000). The data is seeded and the build deterministic, so a figure below a floor is
a change in the engine, never noise. Raising a floor needs a better engine, never a change
tuned on this data.

Size: RECON_HELD_OUT_ORDERS (default 5,000 orders; the documented figures use 20,000).
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from orchestration import pipeline, publish, quality
from orchestration.lab import dialect_b, dialect_c, evaluate

ORDERS = int(os.environ.get("RECON_HELD_OUT_ORDERS", "5000"))
# The held-out seed of each dialect written by others.
HELD_OUT = {"b": (dialect_b, 7), "c": (dialect_c, 5)}


@pytest.fixture(scope="module", params=sorted(HELD_OUT))
def held_out_home(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dialect, seed = HELD_OUT[request.param]
    home = tmp_path_factory.mktemp(f"held_out_{request.param}")
    mp = pytest.MonkeyPatch()
    mp.setenv("RECON_HOME", str(home))
    mp.setenv("RECON_DUCKDB_PATH", str(home / "warehouse.duckdb"))
    mp.setenv("DAGSTER_HOME", str(home / "dagster"))
    dialect.generate(home, seed=seed, orders=ORDERS)
    run_ok = pipeline.run_pipeline()
    yield home, run_ok
    mp.undo()


@pytest.fixture(scope="module")
def reports(held_out_home: tuple[Path, bool]) -> dict[str, evaluate.ReconciliationReport]:
    home, _ = held_out_home
    return {r.name: r for r in evaluate.evaluate(home / "warehouse.duckdb", home / "ground_truth")}


def test_the_first_run_on_a_new_warehouse_publishes_with_warnings(held_out_home: tuple[Path, bool]) -> None:
    home, run_ok = held_out_home
    assert run_ok, "the first run on a held-out dialect failed: see the log above"
    # Match-rate gates only warn while a new warehouse sets its baseline.
    assert publish.current() is not None, "a first run on a new warehouse must publish"
    report = quality.latest_report()
    assert report is not None
    match_rate_checks = [c for c in report["checks"] if c["name"].startswith("match_rate_")]
    assert match_rate_checks and all((c.get("metadata") or {}).get("status") == "baseline" for c in match_rate_checks)


def test_order_to_invoice_lines(reports: dict[str, evaluate.ReconciliationReport]) -> None:
    lines = reports["orders_invoice_lines"].auto
    assert lines.precision >= 0.99 and lines.f1 >= 0.95, lines.as_dict()
    orders = reports["orders_invoices"].auto
    assert orders.precision >= 0.995 and orders.recall >= 0.93, orders.as_dict()


def test_campaign_to_order(reports: dict[str, evaluate.ReconciliationReport]) -> None:
    campaigns = reports["delivery_orders"].auto
    assert campaigns.precision >= 0.98 and campaigns.recall >= 0.90, campaigns.as_dict()


def test_deliverable_to_order(reports: dict[str, evaluate.ReconciliationReport]) -> None:
    deliverables = reports["deliverables_orders"].auto
    assert deliverables.precision >= 0.99, deliverables.as_dict()
    assert deliverables.f1 >= 0.95, deliverables.as_dict()


def test_submission_to_lead_including_repeat_submissions(reports: dict[str, evaluate.ReconciliationReport]) -> None:
    leads = reports["lead_forms_leads"].auto
    assert leads.recall >= 0.97 and leads.precision >= 0.99, leads.as_dict()  # target recall 0.97


def test_billed_amounts(held_out_home: tuple[Path, bool]) -> None:
    home, _ = held_out_home
    billed = evaluate.billed_accuracy_for(home / "warehouse.duckdb", home / "ground_truth")
    assert billed["share"] >= 0.95, billed


def test_every_billed_cent_is_allocated_or_an_exception(held_out_home: tuple[Path, bool]) -> None:
    # Per currency: billed = matched + amounts at risk in exceptions, to the cent (the
    # dbt test assert_billed_amounts_conserved blocks the run otherwise; checked here on
    # the held-out data directly).
    home, _ = held_out_home
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        rows = con.execute(
            """
            with billed as (
                select currency, sum(net_amount) as amount from intermediate.int_invoice_billing_items group by 1
            ),
            matched as (
                select invoice_currency as currency, sum(billed_amount + ancillary_amount) as amount
                from marts.fct_order_invoice_matches group by 1
            ),
            excepted as (
                select currency, sum(amount_at_risk) as amount from intermediate.int_exception_breaks
                where record_entity = 'int_invoice_billing_items' and exception_type != 'manual_link_changed'
                group by 1
            )
            select billed.currency, billed.amount, coalesce(matched.amount, 0) + coalesce(excepted.amount, 0)
            from billed
            left join matched on billed.currency = matched.currency
            left join excepted on billed.currency = excepted.currency
            """
        ).fetchall()
    finally:
        con.close()
    assert rows
    assert all(billed == accounted for _, billed, accounted in rows), rows


def test_duplicate_exports_and_tax_inclusive_lines_are_recognised(
    held_out_home: tuple[Path, bool], request: pytest.FixtureRequest
) -> None:
    if request.node.callspec.params["held_out_home"] != "b":
        pytest.skip("dialect B is the one that exports tax-inclusive lines")
    home, _ = held_out_home
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        duplicates = con.execute(
            "select count(*) from staging.stg_billing__invoices where is_duplicate_export"
        ).fetchone()[0]
        tax_inclusive, off_by = con.execute(
            """
            select count(distinct lines.invoice_id), max(abs(sums.net - invoices.net_amount))
            from intermediate.int_invoice_lines_billable as lines
            inner join staging.stg_billing__invoices as invoices on lines.invoice_id = invoices.invoice_id
            inner join (
                select invoice_id, sum(net_amount) as net from intermediate.int_invoice_lines_billable group by 1
            ) as sums on lines.invoice_id = sums.invoice_id
            where lines.is_tax_inclusive
            """
        ).fetchone()
    finally:
        con.close()
    assert duplicates > 0, "dialect B re-exports invoices under new ids"
    assert tax_inclusive > 0 and off_by == 0, (tax_inclusive, off_by)  # converted lines sum to the net exactly
