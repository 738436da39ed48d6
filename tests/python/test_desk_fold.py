"""The desk's inbox folds the action log incrementally; these run on a catalog of two exceptions, no warehouse."""

from __future__ import annotations

from pathlib import Path

from test_actions import FIN, T0, Clock, make_store  # noqa: E402

from orchestration.desk.service import Desk


def test_an_action_on_a_store_whose_log_was_empty_shows_in_the_inbox(tmp_path: Path, recon_home: Path) -> None:
    """The first inbox of a new store folds an empty log (head 0); what is done next must show in it."""
    path = tmp_path / "actions.sqlite"
    make_store(path)
    desk = Desk(actions_path=path, serving=tmp_path / "no-serving.duckdb", clock=Clock(T0))
    assert {r["exception_id"]: r["status"] for r in desk.rows("alice")}[FIN] == "open"
    desk.store("alice").act("claim", FIN[:8], None)
    row = {r["exception_id"]: r for r in desk.rows("alice")}[FIN]
    assert (row["status"], row["claimed_by"]) == ("claimed", "alice")
    desk.store("alice").act("resolve", FIN[:8], None, reason="billed_late")
    row = {r["exception_id"]: r for r in desk.rows("alice")}[FIN]
    assert (row["status"], row["claimed_by"]) == ("resolved", None)


def test_fold_all_leaves_the_callers_states_as_they_were(tmp_path: Path) -> None:
    store = make_store(tmp_path / "actions.sqlite")
    head, before = store.fold_all()
    assert head == 0
    store.act("claim", FIN[:8], "alice")
    _, after = store.fold_all(head, before, catalog_unchanged=True)
    assert before[FIN].status == "open" and after[FIN].status == "claimed"
