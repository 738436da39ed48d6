"""Constants of the action log, its errors, where the store lives, and the clock actions are stamped with."""

from __future__ import annotations

import os
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from orchestration.settings import recon_home

GENESIS = "0" * 64
ACTIONS = (
    "claim", "release", "comment", "resolve", "adjust", "approve", "reject", "reassign", "escalate", "match", "unmatch",
    "reopen",
)  # fmt: skip
# Appended by the pipeline: the break disappeared (later data reconciled it) or came back
# after it had disappeared. A person may reopen too (a resolution made in error): actor tells.
PIPELINE_ACTIONS = ("auto_resolve", "reopen")
# Reason codes only the pipeline gives (seed reason_codes: "never given by an operator").
PIPELINE_REASONS = ("amount_grew", "record_withdrawn")
PIPELINE_ACTOR = "pipeline"


def is_pipeline_event(entry: dict) -> bool:
    """An entry the exception catalog appended after a build (auto_resolve, reopen): it
    mirrors what that build's marts already show, and the marts leave it out."""
    return entry.get("actor") == PIPELINE_ACTOR and entry.get("action") in PIPELINE_ACTIONS


HASHED_FIELDS = (
    "seq",
    "action_id",
    "exception_id",
    "action",
    "actor",
    "acted_at",
    "reason_code",
    "comment",
    "amount",
    "target",
    "state_before",
    "state_after",
)
# Hashed when present: entries written before a field existed keep their hash. ``login`` is
# the authenticated OS login that wrote the entry; ``actor`` the operator it acted as.
OPTIONAL_HASHED_FIELDS = ("effective_at", "login")
STORED_FIELDS = (*HASHED_FIELDS, *OPTIONAL_HASHED_FIELDS, "prev_hash", "entry_hash")

# Bounds on what an operator may enter. raw.operator_actions holds amounts as DECIMAL(18, 4)
# (up to about 1e14); 1e12 leaves a factor of 100 for sums of adjustments.
MAX_ABS_AMOUNT = Decimal("1000000000000")
AMOUNT_PLACES = 4
MAX_TEXT_CHARS = 2000  # --text (comments)
MAX_CODE_CHARS = 64  # --reason, --team, --adjustment, exception id prefixes
ID_PREFIX = re.compile(r"[0-9A-Za-z_-]{1,64}")
# C0 and C1 controls (a carriage return rewrites the line it is printed on; \x9b is an
# 8-bit escape), bidirectional overrides and isolates (they reorder what a reader sees),
# the Unicode line and paragraph separators, and lone surrogates (bytes that were not UTF-8).
# (The marks LRM, RLM and ALM stay allowed: Hebrew and Arabic input methods insert them.)
_SPOOFING = "\x80-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff"
# Invisible characters: every format character (Unicode category Cf: a zero-width space, a
# soft hyphen, a byte order mark, word joiners, invisible operators, the tag characters that
# can spell a hidden text) and the Hangul fillers, which render as nothing. A note holding one
# reads the same as one without it, yet is another text (another hash, another search hit).
# Kept: ZWNJ and ZWJ (Persian and Indic spelling, emoji such as 👩‍💻), LRM, RLM and ALM
# (above), and the prepended concatenation marks (U+0600-0605 etc.: visible Arabic signs).
# tests/python/test_actions.py checks this against Python's Unicode database.
_INVISIBLE = (
    "\xad\u115f\u1160\u180e\u200b\u2060-\u2064\u206a-\u206f\u3164\ufeff\uffa0\ufff9-\ufffb"
    "\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f"
)
# Refused in what an operator types, and spelled out wherever a value is printed
# (orchestration/terminal.py one_line).
CONTROL_CHARS = re.compile(f"[\x00-\x1f\x7f{_SPOOFING}{_INVISIBLE}]")
# Line feeds are fine in a comment; a tab is not (it is blank, of a width each reader picks).
CONTROL_CHARS_BUT_LINES = re.compile(f"[\x00-\x09\x0b-\x1f\x7f{_SPOOFING}{_INVISIBLE}]")


def spelled_out(text: str, keep_lines: bool = False) -> str:
    """``text`` with each character :data:`CONTROL_CHARS` holds written as its escape
    (``\\x09``, ``\\u200b``): how the CLI and the desk show a value, so a log entry written
    before these were refused shows what it holds. ``keep_lines`` leaves line feeds be."""
    return (CONTROL_CHARS_BUT_LINES if keep_lines else CONTROL_CHARS).sub(_escaped, text)


def _escaped(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def char_named(ch: str) -> str:
    """A character a reader cannot see, named: "a tab (U+0009)", "ZERO WIDTH SPACE (U+200B)"."""
    import unicodedata

    code = f"U+{ord(ch):04X}"
    if "\ud800" <= ch <= "\udfff":
        return f"bytes that are not UTF-8 ({code})"
    special = {"\t": "a tab", "\r": "a carriage return", "\x1b": "an escape", "\n": "a line feed"}
    name = special.get(ch) or unicodedata.name(ch, "") or "a control character"
    return f"{name} ({code})"


class ActionError(Exception):
    """An action was refused; ``exit_code`` is what the CLI exits with."""

    exit_code = 3


class InvalidInput(ActionError):
    """What was typed is out of bounds (orchestration/actions/bounds.py): a bad value, not a rule's refusal."""


class NotFound(ActionError):
    exit_code = 4


class Conflict(ActionError):
    exit_code = 5


class IdentityRefused(ActionError):
    """The OS login is not in the roster, or may not act as the operator named (--as / RECON_USER)."""


class ForkError(ActionError):
    """The action store and the warehouse disagree about the log: restored, truncated or forked."""

    exit_code = 6


class StoreMissing(NotFound):
    """No action store where the command looks for it; nothing was created in its place."""


def store_path() -> Path:
    return Path(os.environ.get("RECON_ACTIONS_PATH", recon_home() / "actions.sqlite")).resolve()


def store_path_source() -> str:
    """Which setting named :func:`store_path`, for a message that must say what to correct."""
    if "RECON_ACTIONS_PATH" in os.environ:
        return f"RECON_ACTIONS_PATH={os.environ['RECON_ACTIONS_PATH']!r}"
    return f"RECON_HOME={recon_home()}, whose actions.sqlite it is"


def check_store_file(path: Path) -> None:
    """Refuse a store path that names a directory: SQLite would fail with "unable to open database file"."""
    if path.is_dir():
        raise ActionError(
            f"the action store path {path} ({store_path_source()}) is a directory; it names the store's file "
            f"itself, e.g. {path / 'actions.sqlite'}"
        )


def missing_store(path: Path, expected_because: str | None) -> StoreMissing:
    """The refusal for a store file that is not there. ``expected_because`` says why one
    should be (published runs, actions the warehouse copied); None in a home where nothing ran."""
    variable = "RECON_ACTIONS_PATH" if "RECON_ACTIONS_PATH" in os.environ else "RECON_HOME"
    if expected_because is None:
        return StoreMissing(
            f"no action store at {path} ({store_path_source()}): nothing has run under this home yet (the first "
            f"`recon run` makes it). Check {variable} if you expected one; nothing was created"
        )
    unset = " or unset it to use RECON_HOME/actions.sqlite" if variable == "RECON_ACTIONS_PATH" else ""
    return StoreMissing(
        f"no action store at {path} ({store_path_source()}), but {expected_because}, so one is expected there. "
        f"If {variable} is mistyped, correct it{unset}; if the file was lost, restore actions.sqlite from a backup "
        "and run `recon audit verify`. Nothing was created"
    )


def wall_clock() -> datetime:
    """The real time: what ``acted_at`` records. RECON_AS_OF never changes it."""
    return datetime.now(UTC).replace(microsecond=0)


AS_OF_RANGE = (date(2000, 1, 1), date(2099, 12, 31))


def as_of_pinned() -> str | None:
    """RECON_AS_OF when set: the run replays that time (tests, demos, replays)."""
    return os.environ.get("RECON_AS_OF", "").strip() or None


# How far a pinned business clock may run ahead of the real time (clock skew). Beyond it, an
# operator action or a run is refused: what took effect then holds every later action on the
# exception (and every later run of the home) until that date.
FUTURE_CLOCK_SLACK = timedelta(minutes=5)
# Set to "allow" for a run that must be built ahead of the real time on purpose (a what-if on a
# throwaway home): its publication then holds every later run of that home until that date.
AS_OF_AHEAD_ENV = "RECON_AS_OF_AHEAD"


def ahead_of_real_time(now: datetime, real: datetime | None = None) -> bool:
    """Whether the business clock ``now`` runs more than FUTURE_CLOCK_SLACK ahead of the real time."""
    return now > (real or wall_clock()) + FUTURE_CLOCK_SLACK


def run_clock_ahead_allowed() -> bool:
    """A run may be pinned ahead of the real time only when RECON_AS_OF_AHEAD=allow says so."""
    return os.environ.get(AS_OF_AHEAD_ENV, "").strip().lower() == "allow"


def utc_now() -> datetime:
    """The business clock: the real time, or the time RECON_AS_OF pins (the variable the dbt build reads).

    It decides SLA clocks, escalation and when an action takes effect on an exception's
    timeline (``effective_at``), never the audit timestamp ``acted_at``.
    """
    as_of = os.environ.get("RECON_AS_OF", "").strip()
    if as_of:
        try:
            pinned = datetime.fromisoformat(as_of)
        except ValueError as exc:
            raise ActionError(f"RECON_AS_OF={as_of} is not an ISO timestamp; use e.g. 2026-11-30T09:00:00Z") from exc
        pinned = pinned if pinned.tzinfo else pinned.replace(tzinfo=UTC)
        # The range every date of the landing contract has (2000-01-01 to 2099-12-31): a
        # clock of 9999-12-31 would make every SLA breached and every action the newest.
        if not AS_OF_RANGE[0] <= pinned.astimezone(UTC).date() <= AS_OF_RANGE[1]:
            raise ActionError(
                f"RECON_AS_OF={as_of} is outside {AS_OF_RANGE[0]} to {AS_OF_RANGE[1]}; unset it, or pin a date "
                "within that range"
            )
        return pinned
    return datetime.now(UTC).replace(microsecond=0)
