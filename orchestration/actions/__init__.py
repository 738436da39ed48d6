"""The action store: what operators do to exceptions, and the rules they do it under.

Operators act while the pipeline may hold the DuckDB write lock, so actions live in
their own transactional store: a SQLite file in WAL mode under RECON_HOME. Every
interface (CLI, future UI) calls :class:`ActionStore`, the one place the rules are
enforced. Each action is one row of an append-only log: triggers refuse UPDATE and
DELETE, and every row carries the hash of the previous one, so ``verify`` finds an
entry that was edited, deleted or reordered behind the store's back.

A rule write happens inside ``BEGIN IMMEDIATE``: the check (who holds the claim?) and
the append are one transaction, so of many concurrent claims exactly one wins.

What an operator types is bounded before it is logged (:func:`check_inputs`): the log is
append-only, so a value the warehouse cannot hold would otherwise be there for good. The
chain's head is anchored outside the store at every run (``raw.audit_anchors`` in the
warehouse, ``audit_anchor`` in the publication's ``current.json``), so deleting the newest
entries, the table or the file is found (:func:`check_anchor`), and a store restored from
an older backup cannot fork the log silently (:func:`check_continuity`).
"""

from __future__ import annotations

from orchestration.actions.anchors import anchor_record, check_anchor, record_anchor  # noqa: F401
from orchestration.actions.bounds import amount_text, check_id_prefix, check_inputs, check_text, parse_amount  # noqa: F401
from orchestration.actions.bridge import (  # noqa: F401
    ACTION_COLUMN_TYPES,
    WAREHOUSE_MAX_AMOUNT,
    ActionCopy,
    accept_fork,
    accepted_forks,
    catalog_from_warehouse,
    check_continuity,
    copy_to_warehouse,
    superseded_by_fork,
    warehouse_row,
)
from orchestration.actions.core import (  # noqa: F401
    ACTIONS,
    AMOUNT_PLACES,
    AS_OF_AHEAD_ENV,
    CONTROL_CHARS,
    CONTROL_CHARS_BUT_LINES,
    FUTURE_CLOCK_SLACK,
    GENESIS,
    HASHED_FIELDS,
    ID_PREFIX,
    MAX_ABS_AMOUNT,
    MAX_CODE_CHARS,
    MAX_TEXT_CHARS,
    OPTIONAL_HASHED_FIELDS,
    PIPELINE_ACTIONS,
    PIPELINE_ACTOR,
    STORED_FIELDS,
    ActionError,
    Conflict,
    ForkError,
    IdentityRefused,
    InvalidInput,
    NotFound,
    StoreMissing,
    ahead_of_real_time,
    as_of_pinned,
    check_store_file,
    is_pipeline_event,
    run_clock_ahead_allowed,
    store_path,
    utc_now,
    wall_clock,
)
from orchestration.actions.policy import Operator, Policy  # noqa: F401
from orchestration.actions.state import LINK_APPROVAL_PREFIX, STATUSES, ExceptionState, link_approval_id  # noqa: F401
from orchestration.actions.store import (  # noqa: F401
    SCHEMA,
    ActionStore,
    catalog_digest,
    catalog_disagreements,
    check_catalog,
    check_run_store,
    entry_hash,
    read_log,
    store_expected_because,
    verify_chain,
)
