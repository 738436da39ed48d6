"""The Dagster code location, one module per concern; ``orchestration.definitions`` loads it.

resources      the warehouse writer (lock for the whole run) and the dbt project, cached
ingestion      landing files → raw tables, operator actions → warehouse
landing_files  each landing file a partition; a backfill reads chosen files again
dbt            the dbt project as assets (models, seeds, snapshots; tests as checks)
quality_gates  Great Expectations suites as blocking asset checks, before and after dbt
operations     current exceptions → the operators' action store
publication    write-audit-publish of the marts to the read-only serving copy
automation     the jobs, the nightly schedule, the landing sensor, the build after reprocessing

Importing these writes nothing: no dagster.yaml, no git call, no dbt parse (entry points
such as ``recon run`` prepare the environment and the manifest first).
"""
