"""What a gate run finds: check specs, check results, the report."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - imported lazily at run time
    pass


# ---------------------------------------------------------------------------- results


REPORT_FORMAT = 1


@dataclass(frozen=True)
class CheckSpec:
    """A check that every run reports, known before any data is read (for Dagster specs)."""

    name: str
    asset: str
    severity: str
    description: str


@dataclass
class CheckResult:
    name: str
    asset: str
    severity: str  # error (blocking) | warn
    passed: bool
    metadata: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    @property
    def blocking(self) -> bool:
        return self.severity == "error" and not self.passed

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "asset": self.asset,
            "severity": self.severity,
            "passed": self.passed,
            "description": self.description,
            "metadata": _plain(self.metadata),
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> CheckResult:
        return cls(
            name=doc["name"],
            asset=doc["asset"],
            severity=doc["severity"],
            passed=bool(doc["passed"]),
            metadata=dict(doc.get("metadata") or {}),
            description=doc.get("description") or "",
        )


@dataclass
class QualityReport:
    run_id: str
    checked_at: datetime  # naive UTC, like every timestamp in the warehouse
    warehouse: str
    checks: list[CheckResult]
    # Per raw table: new batches, rows loaded and amount totals of this run (None when the
    # run loaded no file for the table). The next run's spike checks read these back.
    observations: dict[str, Any]
    high_water_batch_id: int
    previous_high_water_batch_id: int
    # When the run really happened, and its place in the history: ``checked_at`` is the
    # business clock (RECON_AS_OF in a replay or a test), which may go back; the history is
    # ordered by ``seq`` (one more than the highest before, kept by the run's later phases).
    recorded_at: datetime | None = None
    seq: int | None = None
    seconds: float = 0.0
    history_file: Path | None = None
    _gx_context: Any = field(default=None, repr=False, compare=False)

    def blocking_failures(self) -> list[CheckResult]:
        """Failed checks of severity ``error``: the ones that must stop the run."""
        return [c for c in self.checks if c.blocking]

    def failures(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.passed]

    def get(self, name: str, asset: str) -> CheckResult:
        for check in self.checks:
            if check.name == name and check.asset == asset:
                return check
        raise KeyError(f"no check {name!r} on {asset!r} in this report")

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": REPORT_FORMAT,
            "run_id": self.run_id,
            "checked_at": self.checked_at.isoformat() + "Z",
            "recorded_at": self.recorded_at.isoformat() + "Z" if self.recorded_at else None,
            "seq": self.seq,
            "warehouse": self.warehouse,
            "seconds": round(self.seconds, 3),
            "passed": not self.blocking_failures(),
            "summary": {
                "checks": len(self.checks),
                "failed": len(self.failures()),
                "blocking": len(self.blocking_failures()),
            },
            "high_water_batch_id": self.high_water_batch_id,
            "previous_high_water_batch_id": self.previous_high_water_batch_id,
            "observations": _plain(self.observations),
            "checks": [c.to_dict() for c in self.checks],
        }


def _plain(value: Any) -> Any:
    """JSON-ready copy: numpy and Decimal numbers as Python numbers, NaN as None."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "item") and not isinstance(value, float):  # numpy scalar
        return _plain(value.item())
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return None if math.isnan(number) or math.isinf(number) else number
