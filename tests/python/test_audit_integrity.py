"""Issue 10: what an operator types is bounded, a logged action never stops a run, the
audit chain is anchored outside the store, a restored store cannot fork silently.

Real SQLite action stores and real DuckDB warehouses in a temp dir; the publication is
written by orchestration.publish as a run writes it.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

# The store with two published exceptions, as test_actions builds it.
from test_actions import FIN, MEDIA, T0, make_store  # noqa: E402

from orchestration import actions, cli, publish
from orchestration.actions import (
    GENESIS,
    HASHED_FIELDS,
    ActionError,
    ActionStore,
    NotFound,
    copy_to_warehouse,
    entry_hash,
)


@pytest.fixture
def store(tmp_path: Path) -> ActionStore:
    return make_store(tmp_path / "actions.sqlite")


@pytest.fixture
def home_store(recon_home: Path, monkeypatch: pytest.MonkeyPatch) -> ActionStore:
    """A store where the CLI looks for it (RECON_HOME/actions.sqlite)."""
    monkeypatch.delenv("RECON_ACTIONS_PATH", raising=False)
    monkeypatch.delenv("RECON_AS_OF", raising=False)
    return make_store(recon_home / "actions.sqlite")


def warehouse(path: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(path))


def legacy_append(path: Path, **fields) -> dict:
    """Append an entry the way an older version did: no bounds, a valid hash chain."""
    con = sqlite3.connect(path)
    try:
        last = con.execute("select seq, entry_hash from actions order by seq desc limit 1").fetchone()
        seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
        state = json.dumps({"status": "claimed", "owner_team": "finance", "claimed_by": "alice",
                            "escalated_to": None, "pending_adjustments": []}, sort_keys=True)  # fmt: skip
        row = {k: None for k in HASHED_FIELDS}
        row.update(
            {"seq": seq, "action_id": f"legacy{seq}", "exception_id": FIN, "action": "comment", "actor": "alice",
             "acted_at": T0.isoformat(), "state_before": state, "state_after": state}
        )  # fmt: skip
        row.update(fields)
        row["prev_hash"], row["entry_hash"] = prev, entry_hash(prev, row)
        columns = (*HASHED_FIELDS, "prev_hash", "entry_hash")
        con.execute(
            f"insert into actions ({', '.join(columns)}) values ({', '.join('?' for _ in columns)})",
            [row[k] for k in columns],
        )
        con.commit()
    finally:
        con.close()
    return row


# ------------------------------------------------------------ 1. bounded inputs


@pytest.mark.parametrize(
    "amount",
    ["1e20", "123456789012345678", "1000000000000.01", "nan", "NaN", "inf", "-Infinity", "-0", "0", "12.34567",
     "1" * 500, "12,50", ""],
)  # fmt: skip
def test_adjust_refuses_amounts_the_warehouse_could_not_hold(store: ActionStore, amount: str) -> None:
    store.act("claim", FIN, "bob")
    with pytest.raises(ActionError, match=r"--amount") as refused:
        store.act("adjust", FIN, "bob", amount=amount, reason="rounding")
    assert "1,000,000,000,000" in str(refused.value) or "decimal number" in str(refused.value)
    assert [a["action"] for a in store.all_actions()] == ["claim"]  # nothing was logged


# The exception is in USD: its range is the landing contract's for one USD amount, below 10^10
# (test_actions: an adjustment is bounded by its currency's range).
@pytest.mark.parametrize(("amount", "stored"), [("12.50", "12.50"), ("-9999999999.9999", "-9999999999.9999"),
                                                 ("1000", "1000"), ("0.0001", "0.0001"), (" 7 ", "7")])  # fmt: skip
def test_adjust_accepts_amounts_in_range_and_stores_them_plainly(store: ActionStore, amount: str, stored: str) -> None:
    store.act("claim", FIN, "bob")
    entry = store.act("adjust", FIN, "bob", amount=amount, reason="rounding")
    assert entry["amount"] == stored


@pytest.mark.parametrize(
    ("amount", "says"),
    [
        ("1e3", "write 1000.00"),
        ("1E+3", "write 1000.00"),
        ("-2.5e2", "write -250.00"),
        ("1e-9", "write it in plain digits"),
        ("NaN", "not a finite number"),
        ("-Infinity", "not a finite number"),
    ],
)
def test_adjust_refuses_exponents_and_non_numbers_as_ingestion_does(store: ActionStore, amount: str, says: str) -> None:
    # A tryout: a landing file's amount written 1e3 is quarantined (money is plain digits),
    # while `recon exceptions adjust --amount 1e3` recorded 1000. Now both refuse it.
    store.act("claim", FIN, "bob")
    with pytest.raises(ActionError, match=r"--amount") as refused:
        store.act("adjust", FIN, "bob", amount=amount, reason="rounding")
    assert says in str(refused.value), str(refused.value)
    assert [a["action"] for a in store.all_actions()] == ["claim"]


@pytest.mark.parametrize(
    ("action", "kw", "message"),
    [
        ("comment", {"comment": "x" * 2001}, "--text is 2001 characters; at most 2000"),
        ("adjust", {"amount": "١٢٣", "reason": "rounding"}, "ASCII digits"),
        ("adjust", {"amount": "1_000", "reason": "rounding"}, "a decimal number"),
        ("comment", {"comment": "ok\x00hidden"}, "--text contains a control character"),
        # A tryout's spoofing: a carriage return rewrites the printed line, \x9b is an
        # 8-bit escape, U+202E reverses what follows; lone surrogates are not UTF-8.
        ("comment", {"comment": "cr\roverwrite"}, "--text contains a carriage return"),
        ("comment", {"comment": "c1 \x9b31mRED"}, "--text contains a control character"),
        ("comment", {"comment": "paid \u202eDIOV"}, "direction-changing"),
        ("comment", {"comment": "bad \udcff"}, "not UTF-8"),
        ("claim", {"reason": "ok\u2066"}, "--reason contains LEFT-TO-RIGHT ISOLATE"),
        ("claim", {"reason": "billed_late"}, "reason code 'billed_late' is not valid for claim"),
        ("comment", {"comment": "fine", "reason": "x" * 100}, "--reason"),
        ("approve", {"adjustment": "ADJ-" + "0" * 300}, "--adjustment"),
        ("reassign", {"team": "t" * 300, "reason": "wrong_team"}, "--team"),
    ],
)
def test_free_text_and_codes_are_bounded(store: ActionStore, action: str, kw: dict, message: str) -> None:
    with pytest.raises(ActionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        store.act(action, FIN, "olga", **kw)
    assert store.all_actions() == []


def test_cli_refuses_a_huge_amount_naming_the_argument_and_the_range(home_store: ActionStore, capsys) -> None:
    assert cli.main(["exceptions", "claim", FIN[:8], "--as", "bob"]) == 0
    code = cli.main(["exceptions", "adjust", FIN[:8], "--as", "bob", "--amount", "1e20", "--reason", "rounding"])
    err = capsys.readouterr().err
    assert code == 3
    assert "--amount" in err and "1,000,000,000,000" in err and "4 decimal places" in err
    assert [a["action"] for a in home_store.all_actions()] == ["claim"]


# ------------------------------------------- 1b. the copy never fails on a logged entry


def test_copy_to_warehouse_flags_legacy_entries_it_cannot_cast_and_keeps_going(store: ActionStore, tmp_path) -> None:
    store.act("claim", FIN, "bob")
    for bad in ("1e20", "123456789012345678", "nan", "inf", "1.234567"):
        legacy_append(store.path, action="adjust", amount=bad, reason_code="rounding", target=f"ADJ-{bad}")
    legacy_append(store.path, acted_at="yesterday-ish", comment="legacy clock")
    assert store.verify() == []  # a valid chain: older versions wrote these
    con = warehouse(tmp_path / "warehouse.duckdb")
    try:
        report = copy_to_warehouse(store, con)
        assert report.copied == 7 and len(report.flagged) == 6
        rows = con.execute(
            "select seq, amount, amount_text, acted_at is null, copy_problem from raw.operator_actions order by seq"
        ).fetchall()
        assert rows[0][1:] == (None, None, False, None)
        by_text = {r[2]: r for r in rows[1:6]}
        assert by_text["1e20"][1] is None and "outside" in by_text["1e20"][4]
        assert by_text["nan"][1] is None and "not a finite number" in by_text["nan"][4]
        assert by_text["1.234567"][1] is None and "4 decimal places" in by_text["1.234567"][4]
        assert rows[6][3] and "acted_at" in rows[6][4]
        # The next run carries new actions as before: the log is not stuck.
        store.act("comment", FIN, "bob", comment="after the legacy entries")
        assert copy_to_warehouse(store, con).copied == 1
        assert con.execute("select max(seq), count(*) from raw.operator_actions").fetchone() == (8, 8)
    finally:
        con.close()


# --------------------------------------------------------------- 2. anchored chain


def _three_actions(store: ActionStore) -> None:
    store.act("comment", FIN, "alice", comment="looking")
    store.act("claim", FIN, "alice")
    store.act("comment", FIN, "alice", comment="invoice found")


def _publish_with_anchor(home: Path, store: ActionStore) -> dict:
    """Publish a (tiny) warehouse the way serving_copy does, with the store's anchor."""
    path = home / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    con.execute("create schema if not exists marts")
    con.execute("create or replace table marts.fct_dummy as select 1 as x")
    con.close()
    return publish.publish(path, "run-0001-anchor", {"audit_anchor": actions.anchor_record(store)})


def _drop_guards(path: Path, sql: str) -> None:
    con = sqlite3.connect(path)
    con.execute("drop trigger if exists actions_no_update")
    con.execute("drop trigger if exists actions_no_delete")
    con.executescript(sql)
    con.commit()
    con.close()


def test_a_run_anchors_the_head_of_the_chain_in_current_json(recon_home: Path, home_store: ActionStore) -> None:
    _three_actions(home_store)
    record = _publish_with_anchor(recon_home, home_store)
    anchor = json.loads((recon_home / "publications" / "current.json").read_text())["audit_anchor"]
    assert anchor == record["audit_anchor"]
    assert anchor["seq"] == 3 and anchor["entry_hash"] == home_store.all_actions()[-1]["entry_hash"]


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        ("delete newest", "has 2 entries, but the publication"),
        ("drop table", "has 0 entries, but the publication"),
        ("remove file", "is missing"),
        ("rewrite newest", "entry seq 3 has hash"),
    ],
)
def test_audit_verify_fails_against_the_anchor(
    recon_home: Path, home_store: ActionStore, capsys, tamper: str, expected: str
) -> None:
    _three_actions(home_store)
    _publish_with_anchor(recon_home, home_store)
    assert cli.main(["audit", "verify"]) == 0
    assert "anchored" in capsys.readouterr().out
    path = home_store.path
    if tamper == "delete newest":
        _drop_guards(path, "delete from actions where seq = 3")
    elif tamper == "drop table":
        _drop_guards(path, "drop table actions")
    elif tamper == "remove file":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    else:  # delete the newest entry and write a different one with a valid chain
        _drop_guards(path, "delete from actions where seq = 3")
        legacy_append(path, comment="nothing happened here")
    code = cli.main(["audit", "verify"])
    out, err = capsys.readouterr()
    assert code == 6, out
    assert "audit FAILED" in out and expected in out
    assert "Restore it from a backup" in err  # and what to do
    if tamper == "remove file":
        assert not path.exists()  # verify does not quietly create an empty store


def test_a_rewritten_log_does_not_verify_by_editing_current_json(
    recon_home: Path, home_store: ActionStore, capsys
) -> None:
    # A helper's tryout: rewrite the newest entry with a valid chain, then set
    # current.json's anchor to the new head; verify said "ok".
    _three_actions(home_store)
    _publish_with_anchor(recon_home, home_store)
    _drop_guards(home_store.path, "delete from actions where seq = 3")
    legacy_append(home_store.path, comment="nothing happened here")
    current = recon_home / "publications" / "current.json"
    doc = json.loads(current.read_text())
    doc["audit_anchor"]["entry_hash"] = home_store.all_actions()[-1]["entry_hash"]
    current.write_text(json.dumps(doc))
    assert cli.main(["audit", "verify"]) == 6
    out = capsys.readouterr().out
    assert "current.json's audit anchor differs from the one archived" in out
    assert "the archived publication" in out and "entry seq 3 has hash" in out


def test_audit_verify_without_any_publication_says_there_is_no_anchor(home_store: ActionStore, capsys) -> None:
    _three_actions(home_store)
    assert cli.main(["audit", "verify"]) == 0
    assert "no anchor yet" in capsys.readouterr().out


# -------------------------------------------------------------- 3. forks by hash


def _backup(src: Path, dst: Path) -> None:
    a, b = sqlite3.connect(src), sqlite3.connect(dst)
    try:
        a.backup(b)
    finally:
        a.close()
        b.close()


def test_a_store_restored_from_an_older_backup_is_refused(store: ActionStore, tmp_path: Path) -> None:
    _three_actions(store)
    backup = tmp_path / "backup.sqlite"
    _backup(store.path, backup)
    store.act("release", FIN, "alice")
    store.act("claim", FIN, "bob")
    con = warehouse(tmp_path / "warehouse.duckdb")
    try:
        assert copy_to_warehouse(store, con).copied == 5
        shutil.copy(backup, store.path)  # the store is restored: it ends at seq 3
        for suffix in ("-wal", "-shm"):
            Path(f"{store.path}{suffix}").unlink(missing_ok=True)
        restored = ActionStore(store.path, clock=lambda: T0)
        with pytest.raises(actions.ForkError, match="ends at seq 3, but the warehouse already holds seq 5") as refused:
            copy_to_warehouse(restored, con)
        assert "Restore the newer" in str(refused.value)
        # New actions on the restored store reuse seq 4 and 5: a fork, found by hash.
        restored.act("comment", FIN, "alice", comment="after the restore")
        restored.act("comment", FIN, "alice", comment="and again")
        with pytest.raises(actions.ForkError, match="forked at seq 4") as refused:
            copy_to_warehouse(restored, con)
        assert "accept-fork" in str(refused.value)
        assert con.execute("select count(*) from raw.operator_actions").fetchone()[0] == 5  # nothing half-copied
    finally:
        con.close()


def test_fork_after_the_anchored_head_is_found_by_the_anchor(store: ActionStore, tmp_path: Path) -> None:
    """Entries appended after the copy (pipeline events) are anchored; a restore that loses them forks."""
    _three_actions(store)
    con = warehouse(tmp_path / "warehouse.duckdb")
    try:
        copy_to_warehouse(store, con)
        backup = tmp_path / "backup.sqlite"
        _backup(store.path, backup)
        store.act("release", FIN, "alice")  # seq 4, after the copy
        actions.record_anchor(con, store, run_id="run-1", step="exception_catalog")
        shutil.copy(backup, store.path)
        for suffix in ("-wal", "-shm"):
            Path(f"{store.path}{suffix}").unlink(missing_ok=True)
        restored = ActionStore(store.path, clock=lambda: T0)
        restored.act("comment", FIN, "alice", comment="seq 4 again")
        with pytest.raises(actions.ForkError, match="forked at seq 4"):
            copy_to_warehouse(restored, con)
    finally:
        con.close()


def _rewrite_in_place(path: Path, seq: int, comment: str) -> None:
    """Change one entry and recompute the hash chain from it on, as a careful forger would."""
    from orchestration.actions.store import entry_hash

    con = sqlite3.connect(path)
    con.row_factory = sqlite3.Row
    con.execute("drop trigger if exists actions_no_update")
    con.execute("drop trigger if exists actions_no_delete")
    con.execute("update actions set comment = ? where seq = ?", [comment, seq])
    prev = con.execute("select prev_hash from actions where seq = ?", [seq]).fetchone()[0]
    for row in con.execute("select * from actions where seq >= ? order by seq", [seq]).fetchall():
        digest = entry_hash(prev, {**dict(row), "prev_hash": prev})
        con.execute("update actions set prev_hash = ?, entry_hash = ? where seq = ?", [prev, digest, row["seq"]])
        prev = digest
    con.commit()
    con.close()


def test_an_entry_edited_in_place_is_tampering_not_a_fork(store: ActionStore, tmp_path: Path) -> None:
    _three_actions(store)
    con = warehouse(tmp_path / "warehouse.duckdb")
    try:
        copy_to_warehouse(store, con)
        _rewrite_in_place(store.path, 1, "never looked")
        edited = ActionStore(store.path, clock=lambda: T0)
        assert edited.verify() == []  # the chain itself is consistent again
        with pytest.raises(actions.ForkError, match="was edited") as refused:
            copy_to_warehouse(edited, con)
        assert "comment differ" in str(refused.value) and "accept-fork" not in str(refused.value)
        with pytest.raises(ActionError, match="not a fork"):
            actions.accept_fork(edited, con, actor="olga", reason="it is what it is")
        assert con.execute("select comment from raw.operator_actions where seq = 1").fetchone()[0] == "looking"
    finally:
        con.close()


def test_an_edit_that_also_changes_the_action_id_is_still_tampering(store: ActionStore, tmp_path: Path) -> None:
    # The review: the first differing entry alone, keyed by its id, missed a forger who also
    # gives the edited entry a new id; the entries after it keep theirs with other hashes.
    _three_actions(store)
    con = warehouse(tmp_path / "warehouse.duckdb")
    try:
        copy_to_warehouse(store, con)
        _drop_guards(store.path, "update actions set action_id = 'forged-id' where seq = 1")
        _rewrite_in_place(store.path, 1, "never looked")
        edited = ActionStore(store.path, clock=lambda: T0)
        with pytest.raises(actions.ForkError, match="was edited"):
            copy_to_warehouse(edited, con)
        with pytest.raises(ActionError, match="not a fork"):
            actions.accept_fork(edited, con, actor="olga", reason="it is what it is")
    finally:
        con.close()


def test_accept_fork_sets_the_warehouse_copy_aside_and_copies_the_store(store: ActionStore, tmp_path: Path) -> None:
    _three_actions(store)
    backup = tmp_path / "backup.sqlite"
    _backup(store.path, backup)
    con = warehouse(tmp_path / "warehouse.duckdb")
    try:
        store.act("release", FIN, "alice")
        copy_to_warehouse(store, con)
        shutil.copy(backup, store.path)
        for suffix in ("-wal", "-shm"):
            Path(f"{store.path}{suffix}").unlink(missing_ok=True)
        restored = ActionStore(store.path, clock=lambda: T0)
        restored.act("comment", FIN, "alice", comment="seq 4 again")
        with pytest.raises(ActionError, match="ops lead"):
            actions.accept_fork(restored, con, actor="alice", reason="restored after disk failure")
        moved = actions.accept_fork(restored, con, actor="olga", reason="restored after disk failure")
        assert moved == 1
        assert copy_to_warehouse(restored, con).copied == 1
        rows = con.execute("select seq, comment from raw.operator_actions order by seq").fetchall()
        assert rows[-1] == (4, "seq 4 again")
        kept = con.execute("select seq, action, accepted_by, accept_reason from raw.operator_actions_forked").fetchall()
        assert kept == [(4, "release", "olga", "restored after disk failure")]
    finally:
        con.close()


# ---------------------------------------------------------------- 4. id prefixes


@pytest.mark.parametrize("prefix", ["%", "_", "_" * 32, "a%", "a_a", "%a"])
def test_like_wildcards_in_an_id_prefix_match_nothing(store: ActionStore, prefix: str) -> None:
    with pytest.raises(NotFound):
        store.resolve_id(prefix)


def test_an_exact_prefix_still_resolves(store: ActionStore) -> None:
    assert store.resolve_id("aaaa") == FIN and store.resolve_id(MEDIA) == MEDIA


# ------------------------------------------------------------------ 5. the clock


def test_recon_as_of_does_not_backdate_the_audit_timestamp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECON_AS_OF", "2020-01-01T00:00:00Z")
    store = ActionStore(tmp_path / "a.sqlite")
    store.refresh_catalog([{"exception_id": FIN, "exception_type": "unbilled_order", "owner_team": "finance",
                    "severity": "manual_review", "sla_hours": 72}])  # fmt: skip
    entry = store.act("claim", FIN, "alice")
    acted = datetime.fromisoformat(entry["acted_at"])
    assert abs(acted - datetime.now(UTC)) < timedelta(minutes=5)  # the real clock
    assert entry["effective_at"] == "2020-01-01T00:00:00+00:00"  # the replayed business time, recorded beside it
    assert store.verify() == []
    con = warehouse(tmp_path / "warehouse.duckdb")
    try:
        copy_to_warehouse(store, con)
        real, effective = con.execute(
            "select acted_at, effective_at from raw.operator_actions where action = 'claim'"
        ).fetchone()
    finally:
        con.close()
    assert real.year >= 2026 and effective.year == 2020


def test_entries_written_before_effective_at_existed_still_verify(store: ActionStore) -> None:
    legacy_append(store.path, comment="old entry, no effective_at")
    store.act("comment", FIN, "alice", comment="new entry")
    assert store.verify() == []


def test_cli_accept_fork_needs_an_ops_lead_and_a_reason(recon_home: Path, home_store: ActionStore, capsys) -> None:
    _three_actions(home_store)
    backup = recon_home / "backup.sqlite"
    _backup(home_store.path, backup)
    home_store.act("release", FIN, "alice")
    con = warehouse(recon_home / "warehouse.duckdb")
    copy_to_warehouse(home_store, con)
    con.close()
    shutil.copy(backup, home_store.path)
    for suffix in ("-wal", "-shm"):
        Path(f"{home_store.path}{suffix}").unlink(missing_ok=True)
    assert cli.main(["audit", "accept-fork", "--as", "alice", "--reason", "restored"]) == 3
    assert "needs an ops lead" in capsys.readouterr().err
    assert cli.main(["audit", "accept-fork", "--as", "olga", "--reason", "restored the 02:00 backup"]) == 0
    assert "1 warehouse entry set aside" in capsys.readouterr().out
    con = warehouse(recon_home / "warehouse.duckdb")
    try:
        assert copy_to_warehouse(ActionStore(home_store.path), con).copied == 0  # continues from seq 3
        assert con.execute("select max(seq) from raw.operator_actions").fetchone() == (3,)
    finally:
        con.close()


def test_a_comment_keeps_line_breaks_and_any_script(store: ActionStore) -> None:
    # Accents, CJK, Arabic, emoji (👩‍💻 joins two with a ZWJ; 🇩🇪 is two regional letters), a
    # Persian word with its ZWNJ, the RLM/LRM marks Hebrew input inserts.
    text = "Zeile eins: Zoë\r\n二行目 سلام 😀 👩‍💻 🇩🇪 می‌خواهم \u200fשלום\u200e"
    entry = store.act("comment", FIN, "olga", comment=text)
    assert entry["comment"] == text.replace("\r\n", "\n")  # CRLF kept as LF


@pytest.mark.parametrize(
    ("kw", "named"),
    [
        # Each was logged, and `recon exceptions show` printed it as nothing at all (a tab as
        # \x09): the note a reader saw was not the one recorded.
        ({"comment": "pay\tlater"}, "--text contains a tab (U+0009) at character 4: "),
        ({"comment": "pay later\u200b"}, "--text contains ZERO WIDTH SPACE (U+200B) at character 10: "),
        ({"comment": "in\xadvoice \ufeffpaid"}, "--text contains SOFT HYPHEN (U+00AD) at character 3 and 1 more"),
        ({"comment": "ok\U000e0069\U000e0067"}, "--text contains TAG LATIN SMALL LETTER I (U+E0069) at character 3"),
        ({"comment": "\u2060joined"}, "--text contains WORD JOINER (U+2060) at character 1: "),
        ({"reason": "billed_late\u200b"}, "--reason contains ZERO WIDTH SPACE (U+200B) at character 12: "),
        ({"reason": "billed_late\t"}, "--reason contains a tab (U+0009) at character 12: "),
    ],
)
def test_invisible_and_control_characters_in_a_note_are_refused_naming_them(
    store: ActionStore, kw: dict, named: str
) -> None:
    action = "resolve" if "reason" in kw else "comment"
    if action == "resolve":
        store.act("claim", FIN, "alice")
    before = len(store.all_actions())
    with pytest.raises(actions.InvalidInput, match="invisible and direction-changing characters are refused") as no:
        store.act(action, FIN, "alice", **kw)
    assert named in str(no.value), str(no.value)
    assert len(store.all_actions()) == before


def test_the_refused_characters_are_every_invisible_format_character_of_unicode() -> None:
    """The list in orchestration/actions/core.py against Python's Unicode database: every
    format character (Cf) is refused except those real text needs (about 0.4 s)."""
    import sys
    import unicodedata

    kept = {0x200C, 0x200D, 0x200E, 0x200F, 0x061C}  # ZWNJ, ZWJ, LRM, RLM, ALM
    kept |= {*range(0x600, 0x606), 0x6DD, 0x70F, 0x890, 0x891, 0x8E2, 0x110BD, 0x110CD}  # visible signs
    bidi = {*range(0x202A, 0x202F), *range(0x2066, 0x206A)}  # refused already, as spoofing
    for code in range(sys.maxunicode + 1):
        ch = chr(code)
        if unicodedata.category(ch) == "Cf":
            refused = bool(actions.CONTROL_CHARS_BUT_LINES.match(ch))
            assert refused == (code not in kept), f"U+{code:04X} {unicodedata.name(ch, '')}"
    assert bidi <= {code for code in range(0x2000, 0x2100) if actions.CONTROL_CHARS.match(chr(code))}
    assert not actions.CONTROL_CHARS_BUT_LINES.match("\n") and actions.CONTROL_CHARS.match("\n")


def test_show_spells_out_what_an_older_version_logged(home_store: ActionStore, capsys) -> None:
    legacy_append(home_store.path, comment="pay\u200b later\tnow\nZoë 👩‍💻", reason_code="billed\u00adlate")
    assert cli.main(["exceptions", "show", FIN[:8]]) == 0
    out = capsys.readouterr().out
    assert "comment=pay\\u200b later\\x09now\\x0aZoë 👩‍💻" in out, out
    assert "billed\\xadlate" in out, out


def test_cli_refuses_arguments_that_are_not_utf8(home_store: ActionStore, capsys) -> None:
    bad = b"\xff\xfe bad".decode("utf-8", "surrogateescape")  # what Python makes of such bytes in argv
    assert cli.main(["exceptions", "comment", FIN[:8], "--as", "bob", "--text", bad]) == 2
    assert "argument 7" in capsys.readouterr().err and home_store.all_actions() == []


def test_cli_refuses_an_empty_as(home_store: ActionStore, capsys) -> None:
    # An unset shell variable (--as "$WHO") must not fall back to RECON_USER or the login.
    assert cli.main(["exceptions", "claim", FIN[:8], "--as", ""]) == 2
    assert "--as" in capsys.readouterr().err and home_store.all_actions() == []


def test_cli_refuses_options_the_action_does_not_take(home_store: ActionStore, capsys) -> None:
    for argv, option in (
        (["claim", FIN[:8], "--as", "alice", "--amount", "500"], "--amount"),
        (["resolve", FIN[:8], "--as", "alice", "--reason", "billed_late", "--team", "media_ops"], "--team"),
        (["comment", FIN[:8], "--as", "alice", "--text", "x", "--adjustment", "ADJ-1"], "--adjustment"),
    ):
        assert cli.main(["exceptions", *argv]) == 2
        assert f"{option} does not apply to {argv[0]}" in capsys.readouterr().err
    assert home_store.all_actions() == []


def test_cli_list_refuses_a_team_or_owner_that_does_not_exist(home_store: ActionStore, capsys) -> None:
    # A typo would list nothing, which reads as "no exceptions for that team".
    assert cli.main(["exceptions", "list", "--team", "finanse"]) == 2
    assert "'finanse' is no team" in capsys.readouterr().err
    assert cli.main(["exceptions", "list", "--owner", "alise"]) == 2
    assert "'alise' is no operator" in capsys.readouterr().err
    assert cli.main(["exceptions", "list", "--team", "finance", "--owner", "alice"]) == 0


@pytest.mark.parametrize("as_of", ["9999-12-31T23:59:59+14:00", "1900-01-01"])
def test_a_business_clock_outside_the_contract_range_is_refused(
    home_store: ActionStore, monkeypatch: pytest.MonkeyPatch, capsys, as_of: str
) -> None:
    monkeypatch.setenv("RECON_AS_OF", as_of)
    argv = ["exceptions", "comment", FIN[:8], "--as", "alice", "--text", "from the far future"]
    assert cli.main(argv) == 3
    assert "outside 2000-01-01 to 2099-12-31" in capsys.readouterr().err
    assert home_store.all_actions() == []
    monkeypatch.setenv("RECON_AS_OF", "2026-11-30T09:00:00Z")
    assert cli.main(argv) == 0
    assert home_store.all_actions()[-1]["effective_at"].startswith("2026-11-30")


def test_an_action_pinned_ahead_of_the_real_time_is_refused(
    home_store: ActionStore, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """A tryout: RECON_AS_OF=2029-06-01 left in an operator's shell resolved an exception in
    2029; every later action on it, by anyone, was refused until then ("before its latest
    action") and the marts counted 21,745 hours to resolution."""
    ahead = (datetime.now(UTC) + timedelta(days=400)).strftime("%Y-%m-%dT%H:%M:%SZ")
    monkeypatch.setenv("RECON_AS_OF", ahead)
    assert cli.main(["exceptions", "claim", FIN[:8], "--as", "alice"]) == 3
    err = capsys.readouterr().err
    assert f"RECON_AS_OF={ahead} is ahead of the real time" in err and "Nothing recorded" in err
    assert home_store.all_actions() == []
    monkeypatch.setenv("RECON_AS_OF", "2026-11-30T09:00:00Z")  # a replay of the past still acts
    assert cli.main(["exceptions", "claim", FIN[:8], "--as", "alice"]) == 0


def test_an_exception_already_dated_ahead_takes_actions_at_the_real_time(
    home_store: ActionStore, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """A resolution recorded before the rule above with RECON_AS_OF=2029-… held the exception:
    `recon exceptions reopen ID --reason resolved_in_error` at the real time was refused (exit 3)
    with "set RECON_AS_OF to 2029-… or later", which the rule above refuses in turn."""
    ahead = datetime.now(UTC).replace(microsecond=0) + timedelta(days=400)
    monkeypatch.setenv("RECON_AS_OF", ahead.isoformat())
    # The log as an older version left it: its "real time" was not checked against the pinned clock.
    then = ActionStore(home_store.path, wall_clock=lambda: ahead)
    then.act("claim", FIN[:8], "alice")
    then.act("resolve", FIN[:8], "alice", reason="billed_late")
    assert home_store.state(FIN).status == "resolved"
    monkeypatch.delenv("RECON_AS_OF")
    argv = ["exceptions", "reopen", FIN[:8], "--as", "alice", "--reason", "resolved_in_error"]
    assert cli.main(argv) == 0, capsys.readouterr().err
    reopened = home_store.all_actions()[-1]
    assert reopened["action"] == "reopen" and home_store.state(FIN).status == "open"
    assert datetime.fromisoformat(reopened["effective_at"]) <= datetime.now(UTC)  # now, not held until 2029
    assert home_store.verify() == []


def test_a_backdated_action_is_refused_with_what_to_do(
    home_store: ActionStore, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """`RECON_AS_OF=<before the first sighting> recon exceptions resolve` was recorded with a warning."""
    monkeypatch.setenv("RECON_AS_OF", "2026-11-02T09:00:00Z")  # when the run found it
    assert cli.main(["exceptions", "claim", FIN[:8], "--as", "alice"]) == 0
    monkeypatch.setenv("RECON_AS_OF", "2026-10-10T09:00:00Z")
    assert cli.main(["exceptions", "resolve", FIN[:8], "--reason", "billed_late", "--as", "alice"]) == 3
    err = capsys.readouterr().err
    assert f"exception {FIN[:8]} was first seen at 2026-11-02T09:00:00+00:00" in err
    assert "RECON_AS_OF=2026-10-10T09:00:00Z" in err and "set it to 2026-11-02T09:00:00+00:00 or later" in err
    assert [e["action"] for e in home_store.all_actions()] == ["claim"]
    monkeypatch.setenv("RECON_AS_OF", "2026-11-03T09:00:00Z")
    assert cli.main(["exceptions", "resolve", FIN[:8], "--reason", "billed_late", "--as", "alice"]) == 0


def test_a_refused_action_prints_no_warning_or_note_that_reads_as_recorded(
    recon_home: Path, home_store: ActionStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A review: the pinned-clock warning ("this action is recorded at the real time ...") and a
    match's note ("the next run moves it here") came before the store's refusal."""
    from click.testing import CliRunner

    item = "c" * 32  # an orphan invoice item, and a published rule match of it to another order
    home_store.refresh_catalog(
        [
            {"exception_id": FIN, "exception_type": "unbilled_order", "owner_team": "finance",
             "severity": "manual_review", "sla_hours": 72, "currency": "USD", "amount_at_risk": "1200.00",
             "amount_at_risk_reporting": "1200.00"},
            {"exception_id": item, "exception_type": "orphan_invoice", "owner_team": "finance",
             "severity": "manual_review", "sla_hours": 72, "record_entity": "int_invoice_billing_items",
             "record_id": "I1#", "currency": "USD", "amount_at_risk": "80.00", "amount_at_risk_reporting": "80.00",
             "details": {"domain": "billing"}},
        ]
    )  # fmt: skip
    serving = publish.serving_path()
    serving.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(serving))
    con.execute("create schema marts")
    con.execute(
        "create table marts.fct_reconciliation_records as select * from (values"
        " ('orders_invoices', 'left', 'O1', 'f1'), ('orders_invoices', 'left', 'O2', 'f2'),"
        " ('orders_invoices', 'right', 'I1#', 'f3')) as t(reconciliation, side, record_key, record_fingerprint)"
    )
    con.execute(
        "create table marts.fct_reconciliation_matches as select 'orders_invoices' as reconciliation,"
        " 'O1' as left_key, 'I1#' as right_key, 'reference:v1' as rule_version, 'reference' as pass_name"
    )
    con.close()

    def recon(*argv: str):
        return CliRunner().invoke(cli.recon, list(argv), obj={})

    warning = "pins the business clock"
    monkeypatch.setenv("RECON_AS_OF", "2026-11-02T09:00:00Z")  # when the run found them
    assert recon("exceptions", "claim", FIN[:8], "--as", "alice").exit_code == 0
    # Backdated: refused, and nothing before the refusal says it was recorded.
    monkeypatch.setenv("RECON_AS_OF", "2026-10-10T09:00:00Z")
    refused = recon("exceptions", "resolve", FIN[:8], "--reason", "billed_late", "--as", "alice")
    assert isinstance(refused.exception, ActionError) and "was first seen at" in str(refused.exception)
    assert warning not in refused.output and "recorded" not in refused.output
    # A match refused (no claim yet) says nothing about what the link would move.
    monkeypatch.setenv("RECON_AS_OF", "2026-11-03T09:00:00Z")
    unclaimed = recon("exceptions", "match", item[:8], "--as", "alice", "--reason", "confirmed_by_document",
                      "--with", "O2")  # fmt: skip
    assert isinstance(unclaimed.exception, ActionError) and "match needs a claim" in str(unclaimed.exception)
    assert unclaimed.output == ""
    assert [e["action"] for e in home_store.all_actions() if e["exception_id"] in (FIN, item)] == ["claim"]
    # Accepted: the warning and the note follow the store's record of it.
    accepted = recon("exceptions", "resolve", FIN[:8], "--reason", "billed_late", "--as", "alice")
    assert accepted.exit_code == 0 and warning in accepted.stderr
    assert accepted.stdout.startswith("resolve recorded as #")
    assert recon("exceptions", "claim", item[:8], "--as", "alice").exit_code == 0
    matched = recon("exceptions", "match", item[:8], "--as", "alice", "--reason", "confirmed_by_document",
                    "--with", "O2")  # fmt: skip
    assert matched.exit_code == 0, matched.output
    assert "note: I1# is matched to O1 now" in matched.stderr and warning in matched.stderr
    assert "match" in matched.stdout and "recorded as #" in matched.stdout


def test_a_link_in_the_wrong_reconciliation_says_where_the_record_is() -> None:
    from orchestration import links

    entry = {"exception_id": "0123456789", "record_entity": "stg_crm__orders", "record_id": "O1"}
    with pytest.raises(links.LinkError, match="lead_forms_leads does not match; it is in orders_invoices"):
        links.build(entry, ["I1#"], "lead_forms_leads")


def test_one_match_cannot_tie_a_campaign_to_two_orders() -> None:
    # A review found a campaign's spend counted for each order it was linked to by hand.
    from orchestration import links, specs

    campaigns = specs.load_spec("delivery_orders")["right"]["model"]
    entry = {"exception_id": "0123456789", "record_entity": campaigns, "record_id": "K1"}
    with pytest.raises(links.LinkError, match="belongs to one .* record: name one"):
        links.build(entry, ["O1", "O2"], "delivery_orders")
    assert links.build(entry, ["O1"], "delivery_orders").left == ("O1",)
    item = {"exception_id": "0123456789", "record_entity": "int_invoice_billing_items", "record_id": "I1#"}
    assert links.build(item, ["O1", "O2"], "orders_invoices").left == ("O1", "O2")  # split by booking


def test_audit_verify_holds_no_abandoned_branch_against_an_accepted_fork(
    recon_home: Path, home_store: ActionStore, tmp_path: Path, capsys
) -> None:
    # The review: after a restore and an ops lead's accept-fork, the publications anchored
    # on the abandoned branch made verify fail until they were pruned.
    home_store.act("comment", FIN, "alice", comment="looking")
    home_store.act("claim", FIN, "alice")
    backup = tmp_path / "backup.sqlite"
    _backup(home_store.path, backup)
    home_store.act("comment", FIN, "alice", comment="invoice found")  # seq 3, lost below
    con = warehouse(recon_home / "warehouse.duckdb")
    copy_to_warehouse(home_store, con)
    con.close()
    _publish_with_anchor(recon_home, home_store)  # anchors seq 3 of the old branch
    shutil.copy(backup, home_store.path)
    for suffix in ("-wal", "-shm"):
        Path(f"{home_store.path}{suffix}").unlink(missing_ok=True)
    restored = ActionStore(home_store.path)
    restored.act("comment", FIN, "alice", comment="seq 3 again")
    con = warehouse(recon_home / "warehouse.duckdb")
    try:
        assert actions.accept_fork(restored, con, actor="olga", reason="restored after disk failure") == 1
        copy_to_warehouse(restored, con)
    finally:
        con.close()
    assert cli.main(["audit", "verify"]) == 6  # current.json still anchors the old branch
    capsys.readouterr()
    _publish_with_anchor(recon_home, restored)  # the next run's publication
    assert cli.main(["audit", "verify"]) == 0, capsys.readouterr().out


def test_audit_verify_finds_an_owner_edited_in_the_catalog(recon_home: Path, home_store: ActionStore, capsys) -> None:
    # A tryout: the catalog (who owns an exception) is outside the chain; setting its owner
    # team let alice claim and resolve what media_ops owns, and verify said ok.
    path = recon_home / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    con.execute("create schema if not exists marts")
    con.execute(
        "create or replace table marts.fct_reconciliation_exceptions as select * from (values "
        f"('{FIN}', 'unbilled_order', 'finance', 'manual_review', 72), "
        f"('{MEDIA}', 'over_delivery', 'media_ops', 'manual_review', 24)"
        ") as t(exception_id, exception_type, owner_team, severity, sla_hours)"
    )
    con.close()
    publish.publish(path, "run-0001-anchor", {"audit_anchor": actions.anchor_record(home_store)})
    assert cli.main(["audit", "verify"]) == 0, capsys.readouterr().out
    _drop_guards(home_store.path, f"update exception_catalog set owner_team = 'finance' where exception_id = '{MEDIA}'")
    assert cli.main(["audit", "verify"]) == 6
    out = capsys.readouterr().out
    assert f"exception {MEDIA[:8]} in the store's catalog: owner_team 'finance' (published 'media_ops')" in out


def _publish_catalog(home: Path, store: ActionStore, run_id: str, rows: list[dict]) -> None:
    """A run's end: the exceptions mart the catalog was written from, published with the store's anchor."""
    path = home / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    con.execute("create schema if not exists marts")
    con.execute(
        "create or replace table marts.fct_reconciliation_exceptions (exception_id varchar, exception_type varchar,"
        " owner_team varchar, severity varchar, sla_hours integer, currency varchar, amount_at_risk decimal(18, 4),"
        " amount_at_risk_reporting decimal(18, 4))"
    )
    for r in rows:
        con.execute(
            "insert into marts.fct_reconciliation_exceptions values (?, ?, ?, ?, ?, ?, ?, ?)",
            [r["exception_id"], r["exception_type"], r["owner_team"], r["severity"], r["sla_hours"], r["currency"],
             r["amount_at_risk"], r["amount_at_risk_reporting"]],
        )  # fmt: skip
    con.close()
    publish.publish(path, run_id, {"audit_anchor": actions.anchor_record(store)})
    (home / "last_run.json").write_text(json.dumps({"run_id": run_id, "succeeded": True}))


CATALOG = [
    {"exception_id": FIN, "exception_type": "unbilled_order", "owner_team": "finance", "severity": "manual_review",
     "sla_hours": 72, "currency": "EUR", "amount_at_risk": "1000.0000", "amount_at_risk_reporting": "1128.1300"},
    {"exception_id": MEDIA, "exception_type": "over_delivery", "owner_team": "media_ops", "severity": "manual_review",
     "sla_hours": 24, "currency": "USD", "amount_at_risk": "80.0000", "amount_at_risk_reporting": "80.0000"},
]  # fmt: skip
RETIRED = "d" * 32


def _home_with_a_published_catalog(recon_home: Path, home_store: ActionStore) -> None:
    home_store.refresh_catalog([*CATALOG, {**CATALOG[1], "exception_id": RETIRED}])
    home_store.refresh_catalog(CATALOG)  # RETIRED: no longer found, kept with is_current = 0
    _publish_catalog(recon_home, home_store, "run-0001", CATALOG)


def test_runs_and_operators_never_trip_the_catalog_check(recon_home: Path, home_store: ActionStore, capsys) -> None:
    _home_with_a_published_catalog(recon_home, home_store)
    assert cli.main(["audit", "verify"]) == 0, capsys.readouterr().out
    anchor = publish.current()["audit_anchor"]
    assert anchor["catalog_digest"] == home_store.recorded_catalog_digest()["digest"] and anchor["catalog_rows"] == 3
    # Operators act: the log grows, the catalog is theirs to read only.
    home_store.act("claim", FIN, "alice")
    home_store.act("adjust", FIN, "alice", amount="100", reason="fx_difference")
    home_store.act("resolve", FIN, "alice", reason="billed_late")
    assert cli.main(["audit", "verify"]) == 0, capsys.readouterr().out
    # A run rewrites the catalog; verify runs before it publishes (it holds the warehouse), and
    # after its publication failed (a gate): the catalog is ahead of the publication.
    from orchestration.lock import warehouse_lock

    changed = [CATALOG[0], {**CATALOG[1], "amount_at_risk": "90.0000", "amount_at_risk_reporting": "90.0000"}]
    with warehouse_lock("recon run (test)"):
        home_store.refresh_catalog(changed)
        assert cli.main(["audit", "verify"]) == 0, capsys.readouterr().out
    (recon_home / "last_run.json").write_text(json.dumps({"run_id": "run-0002", "succeeded": False}))
    assert cli.main(["audit", "verify"]) == 0, capsys.readouterr().out
    # The next run publishes it.
    home_store.refresh_catalog(changed)
    _publish_catalog(recon_home, home_store, "run-0003", changed)
    assert cli.main(["audit", "verify"]) == 0, capsys.readouterr().out


def _recompute_digest(path: Path) -> None:
    """What a forger who knows the scheme does after editing the catalog: record its digest anew."""
    con = sqlite3.connect(path)
    digest, rows = actions.catalog_digest(con)
    con.execute("update catalog_digest set digest = ?, catalog_rows = ?", [digest, rows])
    con.commit()
    con.close()


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        # The tryout's two edits: an open exception gone from the list and the inbox; its value at risk made small.
        (f"delete from exception_catalog where exception_id like '{MEDIA[:4]}%'",
         [f"exception {MEDIA[:8]} is published but missing from the store's catalog", "its 2 rows do not match"]),
        (f"update exception_catalog set amount_at_risk_reporting = '1.00' where exception_id = '{FIN}'",
         [f"exception {FIN[:8]} in the store's catalog: amount_at_risk_reporting '1.00' (published "
          "'1128.1300')", "edited outside a run"]),
        # What is not published: a retired exception, a first sighting, the details.
        (f"update exception_catalog set is_current = 1 where exception_id = '{RETIRED}'", ["its 3 rows do not match"]),
        (f"update exception_catalog set first_seen_at = '2020-01-01T00:00:00+00:00' where exception_id = '{FIN}'",
         ["do not match the digest the run that wrote it recorded (3 rows"]),
        # The digest recomputed after the edit, or deleted: the publication anchored the one the run wrote.
        (f"update exception_catalog set details = '{{\"domain\": \"leads\"}}' where exception_id = '{FIN}'; recompute",
         ["is not the one the publication", "anchored (3 rows, digest"]),
        ("delete from catalog_digest", ["has no recorded digest, but the publication"]),
        # The currency of a value at risk: a closed exception's value passed off as today's, or hidden.
        (f"update exception_catalog set reporting_currency = 'EUR' where exception_id = '{RETIRED}'",
         ["its 3 rows do not match", f"rows changed since the run wrote them: {RETIRED[:8]}"]),
        (f"update exception_catalog set reporting_currency = null where exception_id = '{FIN}'",
         ["its 3 rows do not match", f"rows changed since the run wrote them: {FIN[:8]}"]),
    ],
)  # fmt: skip
def test_audit_verify_finds_the_catalog_edited(
    recon_home: Path, home_store: ActionStore, capsys, sql: str, expected: list[str]
) -> None:
    _home_with_a_published_catalog(recon_home, home_store)
    assert cli.main(["audit", "verify"]) == 0, capsys.readouterr().out
    _drop_guards(home_store.path, sql.removesuffix("; recompute"))
    if sql.endswith("; recompute"):
        _recompute_digest(home_store.path)
    assert cli.main(["audit", "verify"]) == 6
    out = capsys.readouterr().out
    for text in expected:
        assert text in out, out
    assert "the catalog was edited outside a run" in out


def test_a_failed_run_that_never_wrote_the_catalog_relaxes_nothing(
    recon_home: Path, home_store: ActionStore, capsys
) -> None:
    """A reprocessing or a blocked gate fails without reaching the catalog step: the catalog is
    still the published one, and a recomputed digest after an edit is still caught."""
    _home_with_a_published_catalog(recon_home, home_store)
    (recon_home / "last_run.json").write_text(json.dumps({"run_id": "run-0002", "succeeded": False}))
    assert cli.main(["audit", "verify"]) == 0, capsys.readouterr().out
    _drop_guards(
        home_store.path, f"update exception_catalog set amount_at_risk_reporting = '1.00' where exception_id = '{FIN}'"
    )
    _recompute_digest(home_store.path)
    assert cli.main(["audit", "verify"]) == 6
    assert "is not the one the publication" in capsys.readouterr().out


def _stored(path: Path, exception_id: str, column: str):
    con = sqlite3.connect(path)
    try:
        sql = f"select {column} from exception_catalog where exception_id = ?"  # a fixed name from the test
        return con.execute(sql, [exception_id]).fetchone()[0]
    finally:
        con.close()


def test_a_refresh_writes_only_what_changed_and_an_edit_it_left_alone_stays_found(
    recon_home: Path, home_store: ActionStore, capsys
) -> None:
    """Issue 14: a night that changed 1 % of the exceptions writes 1 % of the catalog's rows.

    A current row the run did not change keeps its stored last_seen_at; readers see the last
    refresh's time (catalog_entries). A retired row was last seen by the refresh before. A row
    edited by hand that the run did not rewrite stays edited, and verify names it."""
    clock = home_store.clock
    t1, t2, t3 = (T0 + timedelta(days=d) for d in (1, 2, 3))
    clock.now = t1
    home_store.refresh_catalog([*CATALOG, {**CATALOG[1], "exception_id": RETIRED}])
    clock.now = t2
    home_store.refresh_catalog(CATALOG)
    assert _stored(home_store.path, FIN, "last_seen_at") == t1.isoformat()  # not rewritten
    assert home_store.catalog_entry(FIN)["last_seen_at"] == t2.isoformat()  # seen by this refresh
    retired = home_store.catalog_entry(RETIRED)
    assert (retired["is_current"], retired["last_seen_at"]) == (0, t1.isoformat())
    clock.now = t3
    changed = [CATALOG[0], {**CATALOG[1], "amount_at_risk": "90.0000", "amount_at_risk_reporting": "90.0000"}]
    home_store.refresh_catalog(changed)
    assert _stored(home_store.path, FIN, "last_seen_at") == t1.isoformat()
    assert _stored(home_store.path, MEDIA, "last_seen_at") == t3.isoformat()
    assert home_store.catalog_entry(MEDIA)["amount_at_risk"] == "90.0000"
    assert home_store.catalog_entry(RETIRED)["last_seen_at"] == t1.isoformat()  # retired before: kept
    ro = sqlite3.connect(home_store.path)
    assert home_store.recorded_catalog_digest()["digest"] == actions.catalog_digest(ro)[0]  # recomputed in full
    ro.close()
    _publish_catalog(recon_home, home_store, "run-0003", changed)
    assert cli.main(["audit", "verify"]) == 0, capsys.readouterr().out
    # An owner edited by hand; the next run finds the same exceptions and leaves the row alone.
    _drop_guards(home_store.path, f"update exception_catalog set owner_team = 'media_ops' where exception_id = '{FIN}'")
    home_store.refresh_catalog(changed)
    assert home_store.catalog_entry(FIN)["owner_team"] == "media_ops"
    assert cli.main(["audit", "verify"]) == 6
    out = capsys.readouterr().out
    assert f"rows changed since the run wrote them: {FIN[:8]}" in out, out


def test_a_catalog_a_release_before_wrote_verifies_and_its_next_run_writes_the_row_digests(
    recon_home: Path, home_store: ActionStore, capsys
) -> None:
    """A store from before the row digests: the older digest, no digests beside the rows."""
    _home_with_a_published_catalog(recon_home, home_store)
    con = sqlite3.connect(home_store.path)
    con.execute("update exception_catalog set content_digest = null, row_digest = null")
    old, rows = actions.catalog_digest(con, version="")
    con.execute("update catalog_digest set digest = ?", [old])
    con.commit()
    con.close()
    assert not old.startswith("v2:") and rows == 3
    _publish_catalog(recon_home, home_store, "run-0002", CATALOG)
    assert publish.current()["audit_anchor"]["catalog_digest"] == old
    assert cli.main(["audit", "verify"]) == 0, capsys.readouterr().out
    # The old digest still finds an edit.
    _drop_guards(home_store.path, f"update exception_catalog set severity = 'info' where exception_id = '{FIN}'")
    assert cli.main(["audit", "verify"]) == 6
    assert "edited outside a run" in capsys.readouterr().out
    undo = f"update exception_catalog set severity = 'manual_review' where exception_id = '{FIN}'"
    _drop_guards(home_store.path, undo)
    # The next run of this release writes every row's digests, the retired row's too.
    home_store.refresh_catalog(CATALOG)
    con = sqlite3.connect(home_store.path)
    assert con.execute("select count(*) from exception_catalog where row_digest is null").fetchone()[0] == 0
    con.close()
    assert home_store.recorded_catalog_digest()["digest"].startswith("v2:")
    _publish_catalog(recon_home, home_store, "run-0003", CATALOG)
    assert cli.main(["audit", "verify"]) == 0, capsys.readouterr().out


# -------------------------------------------------------------- where the store is


def test_a_mistyped_store_path_is_refused_naming_the_variable_and_nothing_is_created(
    recon_home: Path, home_store: ActionStore, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    _three_actions(home_store)
    name = _publish_with_anchor(recon_home, home_store)["publication"]
    typo = recon_home / "acitons" / "actions.sqlite"
    monkeypatch.setenv("RECON_ACTIONS_PATH", str(typo))
    # Before: a new empty store (and its folder) was made there, and the list read "0 exception(s)".
    for argv in (["list"], ["show", FIN[:8]], ["claim", FIN[:8], "--as", "alice"]):
        assert cli.main(["exceptions", *argv]) == 4
        err = capsys.readouterr().err
        assert f"no action store at {typo} (RECON_ACTIONS_PATH=" in err, err
        assert f"published runs (the last: {name}, which read the store at {home_store.path})" in err
        assert "correct it or unset it" in err and "Traceback" not in err
    assert not typo.parent.exists()
    # recon run refuses before it builds (its ingestion step made a store and blamed a restored backup).
    with pytest.raises(actions.StoreMissing, match="RECON_ACTIONS_PATH"):
        actions.check_run_store()
    # A directory: a sentence, not sqlite3's "unable to open database file".
    monkeypatch.setenv("RECON_ACTIONS_PATH", str(recon_home))
    for argv in (["exceptions", "list"], ["audit", "verify"]):  # verify: sqlite's "disk I/O error" before
        assert cli.main(argv) == 3
        assert f"the action store path {recon_home} (RECON_ACTIONS_PATH=" in capsys.readouterr().err
    monkeypatch.delenv("RECON_ACTIONS_PATH")
    assert cli.main(["exceptions", "list"]) == 0


def test_only_a_homes_first_run_makes_the_store(recon_home: Path, tmp_path: Path, capsys) -> None:
    path = recon_home / "actions.sqlite"
    assert cli.main(["exceptions", "list"]) == 4  # a fresh (or mistyped) RECON_HOME
    assert "nothing has run under this home yet" in capsys.readouterr().err and not path.exists()
    con = warehouse(recon_home / "warehouse.duckdb")
    try:
        store = ActionStore.for_run(con)  # the first run: made here
        _three_actions(make_store(store.path))
        copy_to_warehouse(store, con)
        actions.record_anchor(con, store, "run-1", "ingest_landing")
        elsewhere = tmp_path / "other" / "actions.sqlite"
        with pytest.raises(actions.StoreMissing, match=f"the warehouse anchored the action log .*store {path}"):
            ActionStore.for_run(con, elsewhere)  # no publication yet, but the warehouse knows the store
        assert not elsewhere.parent.exists()
    finally:
        con.close()


# The catalog_entries view of the release before reporting_currency was kept.
VIEW_BEFORE_CURRENCY = """
create view catalog_entries as
select
    exception_id, exception_type, owner_team, severity, sla_hours, record_entity, record_id, client_name,
    currency, amount_at_risk, amount_at_risk_reporting, details, first_seen_at,
    case when is_current = 1 then coalesce((select as_of from catalog_clock where id = 1), last_seen_at)
        else last_seen_at end as last_seen_at,
    is_current
from exception_catalog;
"""


def _as_the_release_before_left_it(path: Path) -> None:
    """The store as a release without exception_catalog.reporting_currency wrote it: no column,
    the older view, row and content digests without it, and the catalog's digest over them."""
    from orchestration.actions import store as store_module

    con = sqlite3.connect(path)
    con.execute("drop view catalog_entries")
    con.execute("alter table exception_catalog drop column reporting_currency")
    con.execute(VIEW_BEFORE_CURRENCY)
    columns = ", ".join(store_module.CATALOG_COLUMNS_BEFORE_CURRENCY)
    for row in con.execute(f"select {columns} from exception_catalog").fetchall():
        con.execute(
            "update exception_catalog set row_digest = ?, content_digest = ? where exception_id = ?",
            [store_module.values_digest(row), store_module.values_digest(row[1:12]), row[0]],
        )
    con.commit()
    con.close()
    con = sqlite3.connect(path)
    digest, rows = store_module.stored_catalog_digest(con)
    con.execute("update catalog_digest set digest = ?, catalog_rows = ?", [digest, rows])
    con.commit()
    con.close()


def test_a_store_written_before_the_reporting_currency_verifies_and_says_it_is_not_recorded(
    recon_home: Path, home_store: ActionStore, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    home_store.refresh_catalog([*CATALOG, {**CATALOG[1], "exception_id": RETIRED}])
    home_store.refresh_catalog(CATALOG)
    _as_the_release_before_left_it(home_store.path)
    _publish_catalog(recon_home, home_store, "run-0001", CATALOG)
    # Read-only, before this release opened it: clean (no "no such column").
    assert cli.main(["audit", "verify"]) == 0, capsys.readouterr().out
    store = ActionStore(home_store.path, clock=home_store.clock)  # migrated: the column, the view
    assert cli.main(["audit", "verify"]) == 0, capsys.readouterr().out
    for eid in (FIN, RETIRED):  # no currency recorded: not shown as today's, and said so
        entry = store.catalog_entry(eid)
        assert entry["amount_at_risk_reporting"] is None and entry["reporting_value_basis"] == "currency_not_recorded"
    assert cli.main(["exceptions", "show", RETIRED[:8]]) == 0
    assert "written before it kept the currency" in capsys.readouterr().out
    # The next run writes every row it finds again, with its currency; the closed one keeps none.
    store.refresh_catalog(CATALOG)
    _publish_catalog(recon_home, store, "run-0002", CATALOG)
    assert cli.main(["audit", "verify"]) == 0, capsys.readouterr().out
    assert store.catalog_entry(FIN)["amount_at_risk_reporting"] == "1128.1300"
    assert store.catalog_entry(RETIRED)["reporting_value_basis"] == "currency_not_recorded"


def test_audit_verify_of_a_store_with_no_catalog_table_is_no_traceback(home_store: ActionStore, capsys) -> None:
    # check_catalog gave two values where three are read: `recon audit verify` stopped with a
    # ValueError on a store whose actions table has no catalog beside it.
    con = sqlite3.connect(home_store.path)
    con.execute("drop view catalog_entries")
    con.execute("drop table exception_catalog")
    con.commit()
    con.close()
    assert actions.check_catalog(home_store.path, None, "the publication") == ([], False, False)
    assert cli.main(["audit", "verify"]) == 0, capsys.readouterr()
