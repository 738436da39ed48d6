"""The lab: code that measures the product, never part of a run.

generate, dialect_b, dialect_c  generated agency worlds in three dialects, with ground truth
evaluate, evaluate_exceptions   precision and recall of matches and exceptions against it
simulate                        kill -9 fault injection: a killed run's rerun converges

The operating code (ingest, the dbt project, gates, publication, actions) never imports
it; the CLI's lab commands and the tests do.
"""
