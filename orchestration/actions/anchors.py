"""The chain's head anchored outside the store (warehouse and publication), and the check against it."""

from __future__ import annotations

from pathlib import Path

from orchestration.actions.core import wall_clock
from orchestration.actions.store import ActionStore

# ------------------------------------------------------------ anchors


def anchor_record(store: ActionStore) -> dict:
    """The head of the chain now, and the catalog's recorded digest: what a run writes to
    raw.audit_anchors and current.json (``recon audit verify`` checks the store against both)."""
    seq, head = store.head()
    record = {"seq": seq, "entry_hash": head, "store": str(store.path), "anchored_at": wall_clock().isoformat()}
    catalog = store.recorded_catalog_digest()
    if catalog:  # none before the first refresh of this version
        record.update(catalog_digest=catalog["digest"], catalog_rows=catalog["catalog_rows"])
    return record


def record_anchor(con, store: ActionStore, run_id: str | None, step: str) -> dict:
    """Append the store's head to raw.audit_anchors (the warehouse's memory of the log)."""
    from orchestration.ingest import ensure_raw_schema

    ensure_raw_schema(con)
    anchor = anchor_record(store)
    con.execute(
        "insert into raw.audit_anchors (anchor_id, anchored_at, run_id, step, seq, entry_hash, store_path, "
        "catalog_digest) "
        "select coalesce(max(anchor_id), 0) + 1, cast(? as timestamptz), ?, ?, ?, ?, ?, ? from raw.audit_anchors",
        [
            anchor["anchored_at"],
            run_id,
            step,
            anchor["seq"],
            anchor["entry_hash"],
            anchor["store"],
            anchor.get("catalog_digest"),
        ],
    )
    return anchor


def check_anchor(entries: list[dict] | None, anchor: dict | None, path: Path, source: str) -> list[str]:
    """Problems of a log (None: file or table missing) against an anchored head.

    A log may have grown since the anchor; it may not have fewer entries, nor another
    entry at the anchored seq.
    """
    if not anchor:
        return []
    seq, anchored = int(anchor["seq"]), anchor["entry_hash"]
    where = f"{source} anchored seq {seq} (hash {anchored[:12]}) at {anchor.get('anchored_at')}"
    if entries is None:
        if not Path(path).exists():
            return [f"the action store {path} is missing, but {where}: restore the file from a backup"]
        if seq == 0:
            return []
        return [f"the action store {path} has 0 entries, but {where}; its actions table is missing (dropped?)"]
    if seq == 0:
        return []
    at = next((e for e in entries if e["seq"] == seq), None)
    if at is None:
        return [
            f"the action store {path} has {len(entries)} entries, but {where}: the newest entries were deleted, "
            "or the store was replaced by an older copy"
        ]
    if at["entry_hash"] != anchored:
        return [
            f"entry seq {seq} has hash {at['entry_hash'][:12]}, but {where}: the log was rewritten from there "
            "on, or restored and then written to (a fork)"
        ]
    return []
