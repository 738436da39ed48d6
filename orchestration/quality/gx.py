"""Great Expectations, run in an ephemeral context (no files, analytics off), imported on first use."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - imported lazily at run time
    import pandas as pd

from orchestration.quality.results import _plain

# ------------------------------------------------------------------ Great Expectations


def _import_gx():
    """Great Expectations, imported on first use (it takes seconds) with analytics off."""
    os.environ["GX_ANALYTICS_ENABLED"] = "False"
    import great_expectations as gx

    return gx


class _Validator:
    """One ephemeral GX context per quality run; every validation is on a small pandas frame.

    GX's cost is per expectation, so each family validates one long frame (a row per table
    and batch, per table and currency, per reconciliation, per source) with one or two
    expectations, and a check's verdict is whether GX found any of *its* rows unexpected.
    """

    def __init__(self) -> None:
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self.gx = _import_gx()
        self.context = self.gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        self.datasource = self.context.data_sources.add_pandas("recon_quality")
        self.expect = self.gx.expectations

    def validate(self, name: str, frame: pd.DataFrame, expectations: Sequence[tuple[str, Any]]) -> list[Any]:
        """Validate ``frame``; each result keeps the key its expectation was given (``_key``)."""
        if not expectations:
            return []
        gx = self.gx
        batch = self.datasource.add_dataframe_asset(name).add_batch_definition_whole_dataframe("whole")
        suite = gx.ExpectationSuite(name=name)
        for key, expectation in expectations:
            expectation.meta = {**(expectation.meta or {}), "check": key}
            suite.add_expectation(expectation)
        suite = self.context.suites.add(suite)
        definition = self.context.validation_definitions.add(
            gx.ValidationDefinition(name=name, data=batch, suite=suite)
        )
        # COMPLETE: the unexpected row labels, bounded by the frame (a row per batch at most).
        result = definition.run(batch_parameters={"dataframe": frame}, result_format={"result_format": "COMPLETE"})
        return list(result.results)


def _key(result: Any) -> str:
    return result.expectation_config.meta["check"]


def _gx_error(result: Any) -> str | None:
    """The message of an expectation that could not run (a missing column, a type error)."""
    info = result.exception_info or {}
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    for value in info.values():
        if isinstance(value, Mapping) and value.get("raised_exception", True) and value.get("exception_message"):
            return str(value["exception_message"])
    return None


def _verdict(results: Sequence[Any], rows: Iterable[int] | None = None) -> tuple[bool, list[dict[str, Any]], set[int]]:
    """Pass or fail of one check from GX results, a summary for its metadata, its failing rows.

    With ``rows`` (the check's rows in a family's long frame) the check fails when GX found
    one of those rows unexpected; without, when any result failed. An expectation that
    could not run, or failed without saying which rows, fails the check.
    """
    wanted = None if rows is None else {int(r) for r in rows}
    passed = bool(results)
    summary: list[dict[str, Any]] = []
    failing: set[int] = set()
    for item in results:
        config = item.expectation_config
        entry: dict[str, Any] = {"expectation": config.type}
        entry.update({k: config.kwargs[k] for k in ("column", "column_A", "column_B") if k in config.kwargs})
        res = item.result or {}
        error = _gx_error(item)
        if error:
            ok = False
            entry["error"] = error[:300]
        elif wanted is None:
            ok = bool(item.success)
            entry.update({k: res[k] for k in ("observed_value", "unexpected_count") if k in res})
            if "details" in res:
                entry["details"] = res["details"]
        else:
            unexpected = res.get("unexpected_index_list")
            if item.success:
                bad = set()
            elif unexpected is None:
                bad = set(wanted)
            else:
                bad = {int(i) for i in unexpected} & wanted
            failing |= bad
            ok = not bad
            entry.update(rows=len(wanted), unexpected_rows=len(bad))
        entry["success"] = ok
        passed = passed and ok
        summary.append(entry)
    return passed, _plain(summary), failing
