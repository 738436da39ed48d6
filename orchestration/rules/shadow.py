"""Shadow mode: run candidate rules over the full history without touching production.

``recon shadow --rules DIR`` takes a directory laid out like the project that holds only
the rule files to change (``macros/specs/spec__*.sql``, ``seeds/*.csv``,
``dbt_project.yml``). It builds a copy of the dbt project with those files laid over it,
copies the production raw tables (the full history) into a separate shadow warehouse
under ``$RECON_HOME/shadow/<id>/``, runs ``dbt build`` there, and compares the shadow
marts with the current publication (what BI and operators see):

* matches gained, lost and changed per reconciliation (by right-side record);
* exceptions added and removed per type, with their value in the reporting currency.

The report is written as ``drift.json`` and ``drift.md`` in the shadow directory, and one
line of drift metrics per shadow run is appended to ``$RECON_HOME/shadow/history.jsonl``.
Production — the working warehouse, its marts, the publications, the action store — is
only ever read.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from orchestration import publish
from orchestration.lock import warehouse_lock
from orchestration.rules import governance
from orchestration.settings import PROJECT_DIR, recon_home, warehouse_path
from orchestration.warehouse import open_writer

PROJECT_PARTS = ("dbt_project.yml", "models", "macros", "seeds", "snapshots", "tests", "profiles", "config")
ALLOWED = ("macros/specs/", "seeds/", "dbt_project.yml")


class ShadowError(Exception):
    pass


def _candidate_files(candidate: Path) -> list[Path]:
    if not candidate.exists():
        raise ShadowError(f"{candidate}: no such directory (recon train --to DIR writes one)")
    if not candidate.is_dir():
        raise ShadowError(f"{candidate} is a file: give the directory that holds the rule files")
    files = sorted(p.relative_to(candidate) for p in candidate.rglob("*") if p.is_file())
    if not files:
        raise ShadowError(f"{candidate} holds no files: put the changed rule files there, laid out like the project")
    for rel in files:
        if not str(rel).startswith(ALLOWED):
            raise ShadowError(
                f"{candidate / rel}: only rule files can be shadowed (macros/specs/, seeds/, dbt_project.yml)"
            )
    return files


def _copy_raw(production: Path, shadow_db: Path) -> dict[str, int]:
    """The production raw schema (every batch ever loaded) into the shadow warehouse."""
    con = open_writer(shadow_db)
    try:
        con.execute("attach ? as production (read_only)", [str(production)])
        tables = con.execute(
            "select table_name from duckdb_tables() where database_name = 'production' and schema_name = 'raw' "
            "order by 1"
        ).fetchall()
        con.execute("create schema if not exists raw")
        counts = {}
        for (table,) in tables:
            con.execute(f'create table raw."{table}" as select * from production.raw."{table}"')
            counts[table] = con.execute(f'select count(*) from raw."{table}"').fetchall()[0][0]
        con.execute("detach production")
        return counts
    finally:
        con.close()


DRIFT_SQL = {
    "matches": """
        with prod as (
            select reconciliation, right_key, list(left_key order by left_key) as lefts
            from baseline.marts.fct_reconciliation_matches where decision = 'matched' group by 1, 2
        ),
        cand as (
            select reconciliation, right_key, list(left_key order by left_key) as lefts
            from shadow.marts.fct_reconciliation_matches where decision = 'matched' group by 1, 2
        )
        select
            coalesce(prod.reconciliation, cand.reconciliation) as reconciliation,
            count(prod.right_key) as matched_before,
            count(cand.right_key) as matched_after,
            count(*) filter (where prod.right_key is null) as gained,
            count(*) filter (where cand.right_key is null) as lost,
            count(*) filter (where prod.lefts != cand.lefts) as changed
        from prod
        full outer join cand
            on prod.reconciliation = cand.reconciliation and prod.right_key = cand.right_key
        group by 1 order by 1
    """,
    "exceptions": """
        with prod as (select * from baseline.marts.fct_reconciliation_exceptions),
        cand as (select * from shadow.marts.fct_reconciliation_exceptions)
        select
            coalesce(prod.exception_type, cand.exception_type) as exception_type,
            count(*) filter (where prod.exception_id is null) as added,
            count(*) filter (where cand.exception_id is null) as removed,
            coalesce(sum(cand.amount_at_risk_reporting) filter (where prod.exception_id is null), 0)
                - coalesce(sum(prod.amount_at_risk_reporting) filter (where cand.exception_id is null), 0)
                as amount_at_risk_change_reporting
        from prod
        full outer join cand on prod.exception_id = cand.exception_id
        group by 1
        having count(*) filter (where prod.exception_id is null or cand.exception_id is null) > 0
        order by 1
    """,
}


def drift(baseline: Path, shadow_db: Path) -> dict:
    con = open_writer()
    try:
        con.execute("attach ? as baseline (read_only)", [str(baseline)])
        con.execute("attach ? as shadow (read_only)", [str(shadow_db)])
        out = {}
        for key, sql in DRIFT_SQL.items():
            cur = con.execute(sql)
            names = [d[0] for d in cur.description]
            out[key] = [
                {k: (float(v) if hasattr(v, "as_tuple") else v) for k, v in zip(names, row, strict=True)}
                for row in cur.fetchall()
            ]
        return out
    finally:
        con.close()


def render(report: dict) -> str:
    lines = [
        f"# Shadow run {report['shadow_id']}",
        "",
        f"Candidate rules {report['candidate_rules_hash'][:12]} (production {report['production_rules_hash'][:12]}),"
        f" changed files: {', '.join(report['changed_files'])}.",
        f"Compared with publication {report['baseline']['publication']} (run {report['baseline']['run_id']}).",
        "",
        "| reconciliation | matched before | matched after | gained | lost | changed |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for m in report["drift"]["matches"]:
        lines.append(
            f"| {m['reconciliation']} | {m['matched_before']} | {m['matched_after']} | {m['gained']} | {m['lost']}"
            f" | {m['changed']} |"
        )
    lines += ["", "| exception type | added | removed | value at risk change |", "|---|---:|---:|---:|"]
    for e in report["drift"]["exceptions"]:
        lines.append(
            f"| {e['exception_type']} | {e['added']} | {e['removed']} | {e['amount_at_risk_change_reporting']:,.2f} |"
        )
    if not report["drift"]["exceptions"]:
        lines.append("| (none) | 0 | 0 | 0.00 |")
    return "\n".join(lines) + "\n"


KEEP_WAREHOUSES = 3  # shadow runs whose warehouse and project copy stay on disk (about 50 MB each at 3,000 orders)


def _prune_shadows(root: Path, keep: str) -> None:
    """Older shadow runs keep their reports (drift.md / drift.json) and lose their bulk."""
    runs = sorted(p for p in root.iterdir() if p.is_dir() and p.name[:8].isdigit() and p.name != keep)
    for old in runs[: max(0, len(runs) - (KEEP_WAREHOUSES - 1))]:
        for bulky in ("project", "target", "logs"):
            shutil.rmtree(old / bulky, ignore_errors=True)
        for suffix in ("", ".wal"):
            (old / f"shadow.duckdb{suffix}").unlink(missing_ok=True)


def run_shadow(candidate: Path, now: datetime | None = None) -> dict:
    candidate = Path(candidate).resolve()
    files = _candidate_files(candidate)
    baseline = publish.current()
    if baseline is None:
        raise ShadowError("nothing is published yet: run `recon run` once, then shadow against it")
    now = now or datetime.now(UTC)
    root = recon_home() / "shadow"
    staging = root / f".building-{now.strftime('%Y%m%dT%H%M%S%f')}"
    project = staging / "project"
    project.mkdir(parents=True)
    for part in PROJECT_PARTS:
        src = PROJECT_DIR / part
        if src.is_dir():
            shutil.copytree(src, project / part)
        else:
            shutil.copy2(src, project / part)
    for rel in files:
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(candidate / rel, project / rel)
    candidate_hash = governance.rules_hash(project)
    shadow_id = f"{now.strftime('%Y%m%dT%H%M%SZ')}-{candidate_hash[:8]}"
    home = root / shadow_id
    os.replace(staging, home)
    project = home / "project"
    shadow_db = home / "shadow.duckdb"
    try:
        with warehouse_lock("recon shadow (copying raw)"):
            raw_rows = _copy_raw(warehouse_path(), shadow_db)
    except BaseException:
        # Refused (a run holds the warehouse) or interrupted: nothing of this shadow is kept.
        shutil.rmtree(home, ignore_errors=True)
        raise
    env = {
        **os.environ,
        "RECON_DUCKDB_PATH": str(shadow_db),
        "RECON_RUN_ID": f"shadow-{shadow_id}",
        "DBT_PROFILES_DIR": str(project / "profiles"),
    }
    dbt = Path(sys.executable).with_name("dbt")
    log = home / "dbt_build.log"
    with open(log, "w") as fh:
        done = subprocess.run(
            # Unit tests pin the production specs' behaviour; a candidate may change it on purpose.
            [str(dbt), "build", "--exclude", "test_type:unit", "--project-dir", str(project),
             "--target-path", str(home / "target"), "--log-path", str(home / "logs")],
            env=env, stdout=fh, stderr=subprocess.STDOUT, check=False,
        )  # fmt: skip
    if done.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-15:])
        raise ShadowError(f"the shadow build failed (exit {done.returncode}); see {log}:\n{tail}")
    report = {
        "shadow_id": shadow_id,
        "ran_at": now.isoformat(),
        "candidate_rules_hash": candidate_hash,
        "production_rules_hash": governance.rules_hash(),
        "changed_files": [str(f) for f in files],
        "baseline": {k: baseline[k] for k in ("publication", "run_id", "published_at")},
        "raw_rows_copied": raw_rows,
        "shadow_warehouse": str(shadow_db),
        "drift": drift(publish.serving_path(), shadow_db),
    }
    (home / "drift.json").write_text(json.dumps(report, indent=2, default=str))
    (home / "drift.md").write_text(render(report))
    metrics = {
        "shadow_id": shadow_id,
        "ran_at": report["ran_at"],
        "candidate_rules_hash": candidate_hash,
        "baseline_publication": baseline["publication"],
        "matches_gained": sum(m["gained"] for m in report["drift"]["matches"]),
        "matches_lost": sum(m["lost"] for m in report["drift"]["matches"]),
        "matches_changed": sum(m["changed"] for m in report["drift"]["matches"]),
        "exceptions_added": sum(e["added"] for e in report["drift"]["exceptions"]),
        "exceptions_removed": sum(e["removed"] for e in report["drift"]["exceptions"]),
        "amount_at_risk_change_reporting": sum(
            e["amount_at_risk_change_reporting"] for e in report["drift"]["exceptions"]
        ),
    }
    with open(root / "history.jsonl", "a") as fh:
        fh.write(json.dumps(metrics) + "\n")
    _prune_shadows(root, keep=home.name)
    report["metrics"] = metrics
    report["report_path"] = str(home / "drift.md")
    return report
