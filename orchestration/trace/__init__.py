"""``recon trace ID``: the lineage of one exception, match or record, end to end.

An auditor who asks "why is this order flagged, and who touched it?" needs one chain,
not six queries: the landing files and rows the records came from (with the file's
checksum and whether a restatement superseded it) → the staged, normalised values the
engine compared → the match pass, rule version and score components → the exceptions
raised on those records → what operators did about them → the run that built it all.

Both stores are opened read-only: DuckDB with ``read_only=True`` (a trace never takes
the writer lock a run needs) and the SQLite action store with ``mode=ro``. Table and
column names come from the constants below; every value is a ``?`` parameter.
"""

from __future__ import annotations

from orchestration.trace.kinds import (  # noqa: F401
    HEX,
    JSON_COLUMNS,
    KIND,
    KINDS,
    MAX_CANDIDATES_SHOWN,
    MAX_ROW_NUMBERS_SHOWN,
    MIN_PREFIX,
    MODEL_KIND,
    NORMALISED_PAIRS,
    SHOWN_COLUMNS,
    WHAT_TO_TYPE,
    AmbiguousIdentifier,
    Kind,
    Trace,
    TracedRecord,
    TraceError,
)
from orchestration.trace.render import render  # noqa: F401
from orchestration.trace.resolve import trace  # noqa: F401
