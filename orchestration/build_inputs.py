"""What a run's dbt build is made from, so a night with nothing new builds nothing.

A build reads the raw tables (landing batches), the operator actions copied from the
action store, the project (models, macros, seeds, specs, the Python that catalogues and
publishes, the configs) and the business clock (``RECON_AS_OF``). ``current`` puts these
in one small record; each dbt build writes the record it started from to
``raw.build_log``, and the publication keeps it (``build_inputs`` in ``current.json``).

When the record of a run equals the record of the current publication, the marts the
build would make are the ones already published: the run skips the dbt build, the
exception catalog and the publication, and still ingests and runs the raw quality gates
(freshness is checked every run). ``recon run --full-refresh`` builds anyway.

What a skipped night does not refresh: the as-of time of the serving copy
(``state_as_of``, ``is_breached`` as of the last publication). The action store and the
desk count SLA clocks live, and escalate on them, whatever the serving copy says.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from orchestration import settings

# The project inputs a build depends on, besides the warehouse: the dbt project, the
# configs (quality gates, operators), the governed approvals, and the Python that runs
# the catalog and the publication.
DIGEST_ROOTS = (
    "dbt_project.yml",
    "models",
    "macros",
    "seeds",
    "snapshots",
    "analyses",
    "tests",
    "profiles",
    "config/operators.yml",
    "config/quality.yml",
    "governance/approvals.yml",
    "orchestration",
)
DIGEST_SUFFIXES = (".sql", ".yml", ".yaml", ".csv", ".md", ".py", ".json")
DIGEST_SKIP = ("tests/python",)  # pytest, not dbt tests
# Environment that changes what a build computes (the rest of RECON_* names places).
DIGEST_ENV = ("RECON_AS_OF", "RECON_QUALITY_CONFIG", "RECON_REPORTING_CURRENCY")

FULL_REFRESH_TAG = "recon/full_refresh"
QUIET_TAG = "recon/quiet"  # a run of the ingestion and the raw gates only (nothing new expected)


def project_digest(root: Path | None = None) -> str:
    """sha256 over every project file a build reads (paths and contents, in path order)."""
    root = root or settings.PROJECT_DIR
    digest = hashlib.sha256()
    files: list[Path] = []
    for name in DIGEST_ROOTS:
        path = root / name
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files.extend(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix in DIGEST_SUFFIXES
                and "__pycache__" not in p.parts
                and not str(p.relative_to(root)).startswith(DIGEST_SKIP)
            )
    for path in sorted(files):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    for name in DIGEST_ENV:
        digest.update(f"{name}={os.environ.get(name, '')}\0".encode())
    quality_config = os.environ.get("RECON_QUALITY_CONFIG")
    if quality_config and Path(quality_config).is_file():
        digest.update(Path(quality_config).read_bytes())
    return digest.hexdigest()


def current(con) -> dict:
    """The inputs of a build on the warehouse ``con`` as it is now (read only)."""
    # Every batch by id, file hash, status and load time: another warehouse loaded from the
    # same files (a demo started afresh) is not mistaken for this one.
    batches, last_batch, log_sha = con.execute(
        "select count(*), coalesce(max(batch_id), 0), "
        "sha256(coalesce(string_agg(concat_ws('|', batch_id, file_sha256, status, ingested_at), ',' "
        "order by batch_id), '')) from raw.ingestion_log"
    ).fetchone()
    # The action log is hash-chained: its last entry's hash stands for all before it.
    actions, last_seq, last_hash = con.execute(
        "select count(*), coalesce(max(seq), 0), coalesce(arg_max(entry_hash, seq), '') from raw.operator_actions"
    ).fetchone()
    forked = con.execute("select count(*) from raw.operator_actions_forked").fetchone()[0]
    return {
        "landing_batches": int(batches),
        "last_batch_id": int(last_batch),
        "ingestion_log_sha256": log_sha,
        "operator_actions": int(actions),
        "last_action_seq": int(last_seq),
        "last_action_hash": last_hash,
        "forked_actions": int(forked),
        "project_sha256": project_digest(),
    }


def landing_digest(landing: Path | None = None) -> str:
    """sha256 of every landing file's path, size and modification time (no file is read)."""
    from orchestration import ingest

    landing = landing or settings.landing_dir()
    listing = []
    for path in ingest.discover(landing):
        listing.append([str(path.relative_to(landing)), *ingest.entry_stat(path)])
    return hashlib.sha256(json.dumps(listing).encode()).hexdigest()


def record(con, run_id: str, inputs: dict, status: str, reason: str | None = None) -> None:
    """One row of ``raw.build_log``: what the run's dbt step started from and what it did."""
    con.execute(
        "insert into raw.build_log (run_id, logged_at, status, inputs, reason, landing_sha256) "
        "values (?, cast(timezone('UTC', now()) as timestamp), ?, ?, ?, ?)",
        [run_id, status, json.dumps(inputs, sort_keys=True), reason, landing_digest()],
    )


def built_from(con, run_id: str) -> tuple[dict | None, str | None]:
    """The inputs the run ``run_id`` built from and the landing folder's digest then; Nones
    when it built nothing."""
    row = con.execute(
        "select inputs, landing_sha256 from raw.build_log where run_id = ? and status = 'built' "
        "order by logged_at desc limit 1",
        [run_id],
    ).fetchone()
    return (json.loads(row[0]), row[1]) if row else (None, None)


def nothing_new() -> dict | None:
    """The current publication when nothing a build reads can have changed since it was built.

    Asked before a run, without opening the warehouse: the landing folder's listing, the
    action store's head and the project are compared with what the publication's build
    saw. A yes is a guess on the safe side: the run still ingests, and builds when its
    ingestion finds anything (``pipeline.run_pipeline``).
    """
    from orchestration import actions, publish

    published = publish.current()
    inputs = (published or {}).get("build_inputs")
    if not inputs or not published.get("landing_sha256"):
        return None
    if inputs.get("project_sha256") != project_digest() or published["landing_sha256"] != landing_digest():
        return None
    from orchestration import ingest

    last_batch = ingest.ingest_head(settings.warehouse_path())
    if last_batch is not None and last_batch != inputs.get("last_batch_id"):
        return None  # batches logged since the build, outside a run (recon ingest, --again)
    store = actions.ActionStore.existing()
    seq, head = store.head() if store else (0, "")
    if seq != inputs.get("last_action_seq") or (seq and head != inputs.get("last_action_hash")):
        if not only_pipeline_events_since(store, inputs):
            return None
    return published


def only_pipeline_events_since(store, inputs: dict) -> bool:
    """Whether the action log is the one the build read, plus only the events the exception
    catalog appended after it (auto_resolve, reopen). Those mirror what that build's marts
    show, and the marts leave them out, so building again for them alone would change
    nothing but the staged copy of the log: the night after a data night would rebuild
    everything (docs/operations.md, "Nights with nothing new")."""
    from orchestration.actions import is_pipeline_event

    if store is None:
        return False
    built_seq, built_hash = inputs.get("last_action_seq"), inputs.get("last_action_hash")
    if not isinstance(built_seq, int) or built_seq < 0:
        return False
    if built_seq:
        built = store.entry(built_seq)
        if built is None or built["entry_hash"] != built_hash:
            return False  # the log the build read is not there as it was
    later = store.all_actions(after_seq=built_seq)
    return bool(later) and all(is_pipeline_event(entry) for entry in later)


def unchanged_since(published: dict | None, inputs: dict) -> bool:
    """True when the publication ``published`` was built from exactly ``inputs``."""
    return bool(published) and published.get("build_inputs") == inputs


def describe_skip(published: dict) -> str:
    return (
        f"nothing new since publication {published['publication']} (run {published['run_id'][:8]}): the same "
        "landing batches, operator actions, project and business clock. The dbt build, the exception catalog "
        "and the publication are skipped, and the serving copy stays as it is; `recon run --full-refresh` "
        "builds anyway."
    )
