"""The desk's logins: password hashes, sessions and failed-login counts, in ``$RECON_HOME/desk.sqlite``.

Who a person is, their team and their roles stay in the governed roster
(``config/operators.yml``); this store only holds how they prove it to the desk. A desk
account can be made only for a user of the roster, so a password grants nothing the
roster does not.

* Passwords are hashed with argon2id (``argon2-cffi``); the plain text is never stored,
  and a hash made under weaker parameters is rehashed at the next login.
* A session is a random id kept here with its expiry and CSRF token; the cookie carries
  it signed (``itsdangerous``), so a forged or altered cookie is refused before the
  store is asked. Logging out, disabling an account or changing its password ends its
  sessions.
* Failed logins are counted per account and address, per address and per account
  (``LIMITS`` within ``FAILURE_WINDOW``); past a limit the desk refuses further attempts,
  right or wrong, until the window has passed. A disabled account, or a name no longer in
  the roster, fails like a wrong password.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from orchestration.settings import recon_home

MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_CHARS = 256  # argon2 takes any length; a bound keeps a request's cost bounded
# Failed logins allowed within FAILURE_WINDOW before further attempts are refused, per
# subject: one account from one address (guessing), one address for any account (spraying),
# one account from anywhere. The last two are higher, so that a stranger cannot lock a
# person out with five wrong guesses, and a shared address (a proxy, the machine itself)
# is not locked by one person's typos.
MAX_FAILURES = 5
LIMITS = {"pair": MAX_FAILURES, "client": 20, "account": 50}
FAILURE_WINDOW = timedelta(minutes=15)
SESSION_LIFETIME = timedelta(hours=8)
SESSION_IDLE = timedelta(hours=1)

SCHEMA = """
create table if not exists accounts (
    name text primary key,
    password_hash text not null,
    created_at text not null,
    created_by text not null,
    password_changed_at text not null,
    disabled_at text
);
create table if not exists sessions (
    session_id text primary key,
    name text not null,
    csrf_token text not null,
    created_at text not null,
    last_seen_at text not null,
    expires_at text not null,
    ended_at text
);
create index if not exists sessions_by_name on sessions (name);
create table if not exists login_failures (
    subject text not null,   -- 'account:NAME' or 'client:ADDRESS'
    failed_at text not null
);
create index if not exists login_failures_by_subject on login_failures (subject, failed_at);
"""


class AccountError(Exception):
    """A desk account could not be made or changed; the message says what to do."""


class LoginRefused(Exception):
    """Wrong name or password, or too many failures; ``retry_after`` seconds when throttled."""

    def __init__(self, message: str, retry_after: int | None = None):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Session:
    session_id: str
    name: str
    csrf_token: str
    expires_at: datetime


def desk_store_path() -> Path:
    return recon_home() / "desk.sqlite"


def check_password(name: str, password: str) -> str:
    if not isinstance(password, str) or not (MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS):
        raise AccountError(f"a password has {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters; choose another")
    if password.strip().lower() == name.lower() or len(set(password)) < 4:
        raise AccountError("that password is too easy to guess (the user's name, or under 4 distinct characters)")
    return password


class Accounts:
    def __init__(self, path: Path | None = None, clock=None, hasher: PasswordHasher | None = None):
        self.path = Path(path or desk_store_path())
        self.clock = clock or (lambda: datetime.now(UTC))
        self.hasher = hasher or PasswordHasher()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.executescript(SCHEMA)
        self.path.chmod(0o600)  # hashes are not passwords, but nobody else needs to read them
        # Verified against when the name is unknown, so a wrong name costs what a wrong password does.
        self._decoy = self.hasher.hash(secrets.token_urlsafe(16))

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        con.row_factory = sqlite3.Row
        try:
            con.execute("pragma journal_mode = wal")
            yield con
        finally:
            con.close()

    def _now(self) -> datetime:
        return self.clock().astimezone(UTC).replace(microsecond=0)

    # ------------------------------------------------------------------ accounts

    def add(self, name: str, password: str, by: str) -> None:
        check_password(name, password)
        now = self._now().isoformat()
        with self._connect() as con:
            try:
                con.execute(
                    "insert into accounts values (?, ?, ?, ?, ?, null)",
                    [name, self.hasher.hash(password), now, by, now],
                )
            except sqlite3.IntegrityError as exc:
                raise AccountError(
                    f"{name} already has a desk login: `recon users passwd {name}` sets a new password"
                ) from exc

    def set_password(self, name: str, password: str) -> None:
        check_password(name, password)
        now = self._now().isoformat()
        with self._connect() as con:
            done = con.execute(
                "update accounts set password_hash = ?, password_changed_at = ? where name = ?",
                [self.hasher.hash(password), now, name],
            ).rowcount
            if not done:
                raise AccountError(f"{name} has no desk login: `recon users add {name}` makes one")
            con.execute("update sessions set ended_at = ? where name = ? and ended_at is null", [now, name])

    def enable(self, name: str) -> None:
        """Lift ``disable`` (an ops lead's decision; a new password alone does not)."""
        with self._connect() as con:
            if not con.execute("update accounts set disabled_at = null where name = ?", [name]).rowcount:
                raise AccountError(f"{name} has no desk login")

    def disable(self, name: str) -> None:
        now = self._now().isoformat()
        with self._connect() as con:
            if not con.execute("update accounts set disabled_at = ? where name = ?", [now, name]).rowcount:
                raise AccountError(f"{name} has no desk login")
            con.execute("update sessions set ended_at = ? where name = ? and ended_at is null", [now, name])

    def list(self) -> list[dict]:
        with self._connect() as con:
            return [
                dict(r)
                for r in con.execute(
                    "select name, created_at, created_by, password_changed_at, disabled_at from accounts order by name"
                )
            ]

    # ------------------------------------------------------------------- logins

    def _failures(self, con: sqlite3.Connection, subject: str, since: datetime) -> list[str]:
        return [
            r[0]
            for r in con.execute(
                "select failed_at from login_failures where subject = ? and failed_at > ? order by failed_at",
                [subject, since.isoformat()],
            )
        ]

    def authenticate(self, name: str, password: str, client: str, allowed=None) -> Session:
        """A new session for ``name`` if the password is right, nothing is throttled, and ``allowed(name)``.

        ``allowed`` (the roster check) failing counts and answers as a wrong password, so the
        answer never tells that the password was right.
        """
        now = self._now()
        since = now - FAILURE_WINDOW
        name = (name or "")[:64]
        subjects = {"pair": f"pair:{name}@{client}", "client": f"client:{client}", "account": f"account:{name}"}
        with self._connect() as con:
            for kind, subject in subjects.items():
                failures = self._failures(con, subject, since)
                limit = LIMITS[kind]
                if len(failures) >= limit:
                    free_at = datetime.fromisoformat(failures[-limit]) + FAILURE_WINDOW
                    wait = max(1, int((free_at - now).total_seconds()))
                    raise LoginRefused(
                        f"too many failed logins; try again in {(wait + 59) // 60} minute(s)", retry_after=wait
                    )
            row = con.execute("select password_hash, disabled_at from accounts where name = ?", [name]).fetchone()
        ok = False
        if password and len(password) <= MAX_PASSWORD_CHARS:
            try:
                ok = self.hasher.verify(row["password_hash"] if row else self._decoy, password) and row is not None
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                ok = False
        if not ok or row["disabled_at"] or (allowed is not None and not allowed(name)):
            with self._connect() as con:
                for subject in subjects.values():
                    con.execute("insert into login_failures values (?, ?)", [subject, now.isoformat()])
                con.execute("delete from login_failures where failed_at < ?", [(now - 4 * FAILURE_WINDOW).isoformat()])
            raise LoginRefused("wrong name or password")
        if self.hasher.check_needs_rehash(row["password_hash"]):
            with self._connect() as con:
                con.execute("update accounts set password_hash = ? where name = ?", [self.hasher.hash(password), name])
        return self._open_session(name, now)

    def _open_session(self, name: str, now: datetime) -> Session:
        session = Session(secrets.token_urlsafe(32), name, secrets.token_urlsafe(32), now + SESSION_LIFETIME)
        with self._connect() as con:
            con.execute(
                "insert into sessions values (?, ?, ?, ?, ?, ?, null)",
                [
                    session.session_id,
                    name,
                    session.csrf_token,
                    now.isoformat(),
                    now.isoformat(),
                    session.expires_at.isoformat(),
                ],
            )
        return session

    def session(self, session_id: str) -> Session | None:
        """The live session with this id: not ended, not expired, not idle too long, account enabled."""
        now = self._now()
        with self._connect() as con:
            row = con.execute(
                "select s.*, a.disabled_at from sessions s join accounts a using (name) where session_id = ?",
                [session_id],
            ).fetchone()
            if row is None or row["ended_at"] or row["disabled_at"]:
                return None
            expires = datetime.fromisoformat(row["expires_at"])
            if now >= expires or now - datetime.fromisoformat(row["last_seen_at"]) > SESSION_IDLE:
                return None
            con.execute("update sessions set last_seen_at = ? where session_id = ?", [now.isoformat(), session_id])
        return Session(row["session_id"], row["name"], row["csrf_token"], expires)

    def end(self, session_id: str) -> None:
        with self._connect() as con:
            con.execute(
                "update sessions set ended_at = ? where session_id = ? and ended_at is null",
                [self._now().isoformat(), session_id],
            )
