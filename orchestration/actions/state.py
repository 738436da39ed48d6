"""An exception's operator state, folded from its actions in order."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

# -------------------------------------------------------------------- state

LINK_APPROVAL_PREFIX = "LNK-"


def link_approval_id(target: str | None) -> str | None:
    """The id (LNK-…) a match's target names when the link waits for a checker, else None.

    The link is JSON (orchestration.links.Link.target); a link that needs an approver carries
    ``awaits_approval``, and the engine (int_operator_links) applies it only once an
    ``approve`` names that id.
    """
    if not target or "awaits_approval" not in target:
        return None
    try:
        doc = json.loads(target)
    except ValueError:
        return None
    value = doc.get("awaits_approval") if isinstance(doc, dict) else None
    return value if isinstance(value, str) and value else None


# Every status an exception's state can have; auto_resolved: closed by later data (no longer found).
STATUSES = ("open", "claimed", "resolved", "auto_resolved")


@dataclass
class ExceptionState:
    """An exception's operator state, folded from its actions in order."""

    exception_id: str
    owner_team: str
    severity: str | None = None
    status: str = "open"  # open | claimed | resolved | auto_resolved
    claimed_by: str | None = None
    escalated_to: str | None = None
    reopened_at: str | None = None
    sla_due_at: datetime | None = None
    is_breached: bool = False
    attempts: int = 0
    pending_adjustments: dict[str, dict] = field(default_factory=dict)
    # Manual links waiting for a checker (LNK-…): recorded, not applied by the engine until approved.
    pending_links: dict[str, dict] = field(default_factory=dict)
    applied_adjustments: list[dict] = field(default_factory=list)
    resolution: str | None = None
    last_action: str | None = None
    last_action_at: str | None = None
    closed_at: str | None = None  # when it last became resolved or auto_resolved; None while open
    resolution_seq: int | None = None  # the log entry of the resolution in force, if resolved

    def snapshot(self) -> dict:
        out = {
            "status": self.status,
            "owner_team": self.owner_team,
            "claimed_by": self.claimed_by,
            "escalated_to": self.escalated_to,
            "pending_adjustments": sorted(self.pending_adjustments),
        }
        if self.pending_links:  # only when there are: the snapshots of every other entry read as before
            out["pending_links"] = sorted(self.pending_links)
        return out

    def apply(self, row: dict) -> None:
        action, actor = row["action"], row["actor"]
        # When it took effect on the exception's timeline: the business clock (RECON_AS_OF in a
        # replay), recorded beside the real acted_at; entries from before effective_at use acted_at.
        at = row.get("effective_at") or row["acted_at"]
        if action == "claim":
            self.status, self.claimed_by = "claimed", actor
            self.attempts += 1
        elif action == "release":
            self.status, self.claimed_by = "open", None
        elif action == "resolve":
            self.status, self.claimed_by, self.resolution = "resolved", None, row["reason_code"]
            self.resolution_seq = row.get("seq")
        elif action == "adjust":
            entry = {
                "adjustment_id": row["target"],
                "amount": row["amount"],
                "maker": actor,
                "reason": row["reason_code"],
            }
            needs_approval = json.loads(row["state_after"]).get("pending_adjustments", [])
            if row["target"] in needs_approval:
                self.pending_adjustments[row["target"]] = entry
            else:
                self.applied_adjustments.append(entry)
        elif action == "match":
            # A link that waits for a checker names its id in its target (ActionStore._check).
            approval = link_approval_id(row.get("target"))
            if approval is not None:
                self.pending_links[approval] = {"link_id": approval, "maker": actor, "seq": row.get("seq")}
        elif action == "approve":
            if row["target"] in self.pending_links:
                self.pending_links.pop(row["target"])
            else:
                self.applied_adjustments.append({**self.pending_adjustments.pop(row["target"]), "approved_by": actor})
        elif action == "reject":
            self.pending_adjustments.pop(row["target"], None)
            self.pending_links.pop(row["target"], None)
        elif action == "reassign":
            self.owner_team, self.status, self.claimed_by = row["target"], "open", None
        elif action == "escalate":
            self.escalated_to = row["target"]
        elif action == "auto_resolve":
            # Closed by the data: later data reconciled it, or (reason record_withdrawn) its
            # record was withdrawn from its source.
            self.status, self.claimed_by = "auto_resolved", None
            self.resolution = row["reason_code"] or "reconciled_by_later_data"
        elif action == "reopen":
            self.status, self.claimed_by, self.resolution, self.resolution_seq = "open", None, None, None
            # A break that came back restarts its SLA; a person taking back a resolution made in
            # error keeps its SLA and escalation (the break never went away), as
            # fct_exception_current folds the operator's last state.
            if actor == "pipeline":
                self.escalated_to, self.reopened_at = None, at
        if not self.is_closed:
            self.closed_at = None
        elif self.closed_at is None:
            self.closed_at = at
        self.last_action, self.last_action_at = action, at

    @property
    def is_closed(self) -> bool:
        return self.status in ("resolved", "auto_resolved")
