"""The exception-type table of ``docs/exceptions.md``, generated from the policy seeds.

Each type's rule, business date, domain, owning team, severity (with its SLA) and the
source whose late data keeps it pending come from ``seeds/exception_policy.csv`` and
``seeds/severity_policy.csv``; the table sits between two markers in the document, and
``recon contract --write`` rewrites it (``--check``, run by the tests, fails when stale).
"""

from __future__ import annotations

import csv
from pathlib import Path

from orchestration.settings import PROJECT_DIR

BEGIN = "<!-- exception types: generated from seeds/exception_policy.csv by `recon contract --write` -->"
END = "<!-- end of exception types -->"


def exception_types(project_dir: Path = PROJECT_DIR) -> list[str]:
    """Every exception type the policy seed defines, in its order."""
    with open(project_dir / "seeds" / "exception_policy.csv", newline="") as fh:
        return [row["exception_type"] for row in csv.DictReader(fh)]


def types_table(project_dir: Path = PROJECT_DIR) -> str:
    with open(project_dir / "seeds" / "severity_policy.csv", newline="") as fh:
        sla = {row["severity"]: row["sla_hours"] for row in csv.DictReader(fh)}
    with open(project_dir / "seeds" / "exception_policy.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    lines = [
        "| type | raised when | ages from | domain · owner | severity (SLA) | pending while late |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        severity = row["severity"]
        pending = f"`{row['awaits_source']}`" if row["awaits_source"] else "—"
        lines.append(
            f"| `{row['exception_type']}` | {row['rule']} | {row['business_date']} | "
            f"{row['domain']} · {row['owner_team']} | {severity} ({sla.get(severity, '?')} h) | {pending} |"
        )
    return "\n".join(lines)


def exceptions_markdown(project_dir: Path = PROJECT_DIR) -> str:
    """docs/exceptions.md with its generated section brought up to date."""
    path = project_dir / "docs" / "exceptions.md"
    text = path.read_text()
    if BEGIN not in text or END not in text:
        raise ValueError(f"{path}: the markers of the generated exception-type table are missing ({BEGIN!r}, {END!r})")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{types_table(project_dir)}\n{END}{tail}"
