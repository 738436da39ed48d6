"""The dbt project as assets: models, seeds and snapshots; its tests as asset checks."""

import hashlib
import json
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from orchestration import build_inputs, lifecycle_checkpoint, pipeline, publish, settings, warehouse
from orchestration.defs.resources import RAW_GROUP, WarehouseWriter, dbt_project


class ReconDbtTranslator(DagsterDbtTranslator):
    """Groups from the dbt folder layer, owners from ``meta.owner`` — never from model lists."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "source":
            return RAW_GROUP
        if dbt_resource_props["resource_type"] == "seed":
            return "reference"
        fqn = dbt_resource_props.get("fqn", [])
        return fqn[1] if len(fqn) > 2 else "default"

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str] | None:
        owner = (dbt_resource_props.get("meta") or {}).get("owner") or (
            dbt_resource_props.get("config", {}).get("meta") or {}
        ).get("owner")
        return [f"team:{owner}"] if owner else None


def dbt_build_args(full_refresh: bool = False) -> list[str]:
    """CLI arguments of the dbt step: build models, seeds and snapshots with their data tests.

    Unit tests check the SQL, not the data: the same fixtures give the same answer every
    night, so a run leaves them out (as dbt's docs advise for production) and `make test`
    runs them once (tests/python/test_pipeline.py). They had grown to a third of a small
    run's dbt time (the demo's build: 17.1 s with them, 11 s without).
    """
    args = ["build", "--exclude-resource-type", "unit_test"]
    return [*args, "--full-refresh"] if full_refresh else args


def parse_state_path() -> Path:
    """Where this home keeps dbt's parse of the project between runs.

    dbt reuses a parse only when the profile is the same, and the profile holds the
    warehouse path, so the project's own ``target/partial_parse.msgpack`` (written by
    ``recon prepare``) fits one home at most. Each home keeps its own, named after the
    project directory: a clone elsewhere writes its own, and seeds are found where they are.
    """
    project_key = hashlib.sha256(str(settings.PROJECT_DIR.resolve()).encode()).hexdigest()[:12]
    return settings.recon_home() / "dbt-state" / f"partial_parse-{project_key}.msgpack"


# A var read in a macro's text (macro staging_digest_var_pattern).
STAGING_DIGEST_VAR = re.compile(r"""var[(][ \n]*['"]([A-Za-z0-9_]+)['"]""")


def staging_digests(manifest: dict, project_vars: dict) -> dict[str, str]:
    """Each incremental model's staging digest, as dbt computes it (macro staging_digest).

    md5 of the model's code, every macro of the project (name and text, in name order) and
    the value of every var those texts read, joined as the macro joins them. The manifest
    must be the one the next build parses to (``recon run`` prepares it first) and
    ``project_vars`` the ``vars:`` of dbt_project.yml; a dbt build with ``--vars`` records
    another digest, and the next run rebuilds staging whole (never too little).
    """
    project = manifest["metadata"].get("project_name") or "recon"
    macros = sorted(
        (macro["name"], macro["macro_sql"]) for macro in manifest["macros"].values() if macro["package_name"] == project
    )
    scoped = project_vars.get(project)
    merged = {**project_vars, **(scoped if isinstance(scoped, dict) else {})}
    digests = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] != "model" or node["config"].get("materialized") != "incremental":
            continue
        parts = [node["unique_id"], node["raw_code"], *(f"{name}\n{sql}" for name, sql in macros)]
        names = sorted(set(STAGING_DIGEST_VAR.findall("\n".join(parts))))
        parts += [f"var {name}={json.dumps(merged.get(name), sort_keys=True)}" for name in names]
        digests[node.get("alias") or node["name"]] = hashlib.md5("\x00".join(parts).encode()).hexdigest()
    return digests


def project_vars() -> dict:
    """The ``vars:`` of dbt_project.yml."""
    import yaml

    return yaml.safe_load((settings.PROJECT_DIR / "dbt_project.yml").read_text()).get("vars") or {}


def staged_by_another_version(con) -> list[str]:
    """The incremental models in the warehouse that another version of the project built.

    Each build of an incremental staging model, by a run or by hand, records its last batch
    with the digest of what staging it depends on (raw.staged_batches, staging_digest in
    macros/staging_incremental.sql). Listed: such a model whose table exists and whose last
    record has another digest than this project's (``staging_digests``), or none (a release
    before the records, or one that built it as a plain table). Not listed: a model not
    built yet (its first build is whole), a table the project no longer has, and a model
    that a full refresh must not rebuild (``full_refresh=false``: the exception sightings).
    A change outside what staging reads (the Python, the configs, a mart) lists nothing.
    """
    manifest = json.loads(pipeline.manifest_path().read_text())
    models = sorted(
        (node["schema"], node.get("alias") or node["name"])
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
        and node["config"].get("materialized") == "incremental"
        and node["config"].get("full_refresh") is not False
    )
    built = [name for schema, name in models if warehouse.table_exists(con, schema, name)]
    if not built:
        return []
    current = set()
    recorded = con.execute(
        "select count(*) from information_schema.columns "
        "where table_schema = 'raw' and table_name = 'staged_batches' and column_name = 'staging_digest'"
    ).fetchone()[0]
    # A manifest older than a project file (definitions loaded before an edit, no `recon
    # prepare` since) would give the digests of the old files: every model is taken as built
    # by another version, as before the digests.
    if recorded and not pipeline._project_changed_since(pipeline.manifest_path().stat().st_mtime):
        digests = staging_digests(manifest, project_vars())
        last = con.execute(
            "select model, staging_digest from raw.staged_batches where list_contains(?, model) "
            "qualify row_number() over (partition by model order by staged_at desc, batch_id desc) = 1",
            [built],
        ).fetchall()
        current = {model for model, digest in last if digest is not None and digest == digests.get(model)}
    return [name for name in built if name not in current]


# A build's dbt artifacts (run_results.json, compiled and run SQL, the manifest, dbt.log
# at debug level) take about 20 MB for this project, whatever the data size; kept for the
# last few runs only. They lived in the project's target/, which every home shared and
# nothing pruned: 248 runs had left 5.1 GB there.
KEEP_DBT_RUNS = 5


def dbt_runs_root() -> Path:
    """Where this home's builds write dbt's target directory, one per run (the newest kept)."""
    return settings.recon_home() / "dbt-runs"


def prune_dbt_runs(keep: int = KEEP_DBT_RUNS) -> list[Path]:
    """Delete all but the ``keep`` newest run directories of this home; return those deleted.

    Called by a run holding the warehouse lock, so no build of this home writes meanwhile.
    Newest by modification time (a directory's dbt.log changes while it builds).
    """
    root = dbt_runs_root()
    if not root.is_dir():
        return []
    runs = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    deleted = runs[max(keep, 0) :]
    for old in deleted:
        shutil.rmtree(old, ignore_errors=True)
    return deleted


@contextmanager
def reused_parse(target_path: Path) -> Iterator[None]:
    """Start dbt from the home's last parse and keep the one this build leaves.

    dbt checks every file's hash, its version, vars and env vars against the saved parse
    and re-parses what changed (all of it, if the profile differs), so a stale or foreign
    file costs a full parse and nothing else. Saved after a failed build too: the parse
    does not depend on the data. Measured: docs/benchmarks.md "CI time".
    """
    saved = parse_state_path()
    if saved.exists():
        target_path.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(saved, target_path / pipeline.PARTIAL_PARSE)
    try:
        yield
    finally:
        fresh = target_path / pipeline.PARTIAL_PARSE
        if fresh.exists():
            saved.parent.mkdir(parents=True, exist_ok=True)
            handle, partial = tempfile.mkstemp(dir=saved.parent, suffix=".partial")
            os.close(handle)
            shutil.copyfile(fresh, partial)
            os.replace(partial, saved)


@dbt_assets(
    manifest=dbt_project().manifest_path,
    project=dbt_project(),
    dagster_dbt_translator=ReconDbtTranslator(),
)
def recon_dbt_assets(context: AssetExecutionContext, dbt: DbtCliResource, warehouse_writer: WarehouseWriter):
    # Models stamp the Dagster run id on what they build (env_var RECON_RUN_ID), so every
    # match and reconciled row says which run produced it.
    os.environ["RECON_RUN_ID"] = context.run.run_id
    # Production runs only approved rules, however the run was started (UI, schedule, sensor).
    from orchestration.rules import governance

    try:
        context.log.info(governance.require_approved().message())
    except governance.GovernanceError as exc:
        raise dg.Failure(description=str(exc)) from exc
    # A night with nothing new: the published marts are what this build would make. No
    # output is yielded, so Dagster skips the catalog and the publication after it.
    run_id = context.run.run_id
    full_refresh = context.run.tags.get(build_inputs.FULL_REFRESH_TAG) == "true"
    con = warehouse.open_writer(settings.warehouse_path())
    try:
        inputs = build_inputs.current(con)
        published = publish.current()
        if not full_refresh and build_inputs.unchanged_since(published, inputs):
            reason = build_inputs.describe_skip(published)
            build_inputs.record(con, run_id, inputs, "skipped", reason)
            context.log.info(reason)
            return
        # The exception lifecycle as at the last publication: a build whose gates blocked
        # it leaves no sighting or snapshot version behind (orchestration/lifecycle_checkpoint.py).
        context.log.info(lifecycle_checkpoint.hold(con, published["publication"] if published else None, run_id))
        restaged = staged_by_another_version(con)
    finally:
        con.close()
    reason = "full refresh" if full_refresh else None
    if restaged and not full_refresh:
        # Another version restages every key anyway, and may stage other columns: an upgrade
        # whose staging model gained a column failed here with dbt's "schemas are out of sync".
        context.log.info(
            f"staging was built by another version of the project ({', '.join(restaged[:3])}"
            f"{' and more' if len(restaged) > 3 else ''}): this build rebuilds dbt's incremental "
            "models whole, as `recon run --full-refresh` does (first sightings are kept)"
        )
        full_refresh, reason = True, "full refresh: staging was built by another version of the project"
    # Incremental staging models stage only what arrived since their last build by this
    # version of what they depend on (macros/staging_incremental.sql); another restages all.
    # The project digest goes with each record, to say which run staged it.
    os.environ["RECON_PROJECT_SHA"] = inputs["project_sha256"]
    # dagster-dbt's naming for a run's target directory, in this home (dbt_run_dirs). Not
    # through dbt_project(): under `dagster dev` that parses the whole project again.
    run_dir = f"{context.op_execution_context.op.name}-{run_id[:7]}-{uuid.uuid4().hex[:7]}"
    target_path = dbt_runs_root() / run_dir
    prune_dbt_runs(keep=KEEP_DBT_RUNS - 1)  # this run's makes KEEP_DBT_RUNS
    with reused_parse(target_path):
        yield from dbt.cli(dbt_build_args(full_refresh), context=context, target_path=target_path).stream()
    con = warehouse.open_writer(settings.warehouse_path())
    try:
        build_inputs.record(con, run_id, inputs, "built", reason)
    finally:
        con.close()
