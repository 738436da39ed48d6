"""Who is acting: the OS login, mapped to an operator in the governed roster.

``--as NAME`` and ``RECON_USER`` used to *be* the identity; anyone could act as anyone.
Now the identity is the login of the process (:func:`os_login`, the one seam tests
replace) looked up in ``config/operators.yml``: a user's ``logins:`` list, or by default
a login equal to the user's name. ``--as`` (and ``RECON_USER``, which is only a default
for ``--as``) names the operator to act as; a login may name another operator only if
its own roster entry holds the ``act_as`` role (service accounts, the desk, the
development runner). Every action records both.

The roster is the governed file ``config/operators.yml``: it is part of the rule hash, so
a change to who may do what needs the three approvals like any rule change.
``RECON_OPERATORS`` may point at a copy of that file (same bytes, e.g. a deployed copy)
and at nothing else: a self-made roster grants nothing.
"""

from __future__ import annotations

import difflib
import os
import pwd
from collections.abc import Iterable
from pathlib import Path

from orchestration.settings import PROJECT_DIR

ACT_AS_ROLE = "act_as"
# The login the desk (orchestration/desk) records for a user it authenticated by password:
# ``desk:NAME``. Only the desk process makes one, after checking the password; it acts as
# that user and nobody else.
DESK_LOGIN_PREFIX = "desk:"
ROSTER = Path("config") / "operators.yml"


class IdentityError(Exception):
    """The login is unknown, or may not act as the operator it named; exit 3 like any refusal."""

    exit_code = 3


def close_match(word: str | None, choices: Iterable[str]) -> str | None:
    """The one of ``choices`` that ``word`` is most likely a typo of (alcie for alice), or None.

    Case and surrounding spaces are no part of the likeness: difflib compares characters, so
    BILLED_LATE was like no reason code and FINANCE like no team, while the operator meant
    billed_late and finance (both are refused all the same: a name is matched exactly)."""
    if not word:
        return None
    by_folded: dict[str, str] = {}
    for choice in sorted(choices):
        by_folded.setdefault(choice.strip().casefold(), choice)
    folded = word.strip().casefold()
    if folded in by_folded:
        return by_folded[folded]
    found = difflib.get_close_matches(folded, list(by_folded), n=1)
    return by_folded[found[0]] if found else None


def unknown_operator(name: str, roster: Iterable[str]) -> str:
    """Why ``name`` is refused: a typo is answered with the name it is close to before the
    roster advice (adding a user to the governed roster needs three approvals)."""
    match = close_match(name, roster)
    if match is not None:
        return f"unknown operator {name!r}: did you mean {match!r}? If not, add them to config/operators.yml"
    return f"unknown operator {name!r}: add them to config/operators.yml"


def os_login() -> str:
    """The login name of this process's real user (``uid:N`` when the uid has no passwd entry).

    The real uid, not ``$USER`` or ``$LOGNAME``: those are environment, set by whoever
    starts the process.
    """
    uid = os.getuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:  # containers run arbitrary uids without a passwd entry
        return f"uid:{uid}"


def current_login() -> str:
    """The authenticated login: looked up at call time so tests can replace :func:`os_login`."""
    return os_login()


def governed_roster(root: Path = PROJECT_DIR) -> Path:
    return Path(root) / ROSTER


def roster_path(root: Path = PROJECT_DIR) -> Path:
    """The roster to read: the governed one; ``RECON_OPERATORS`` only if it is a byte-identical copy."""
    governed = governed_roster(root)
    override = os.environ.get("RECON_OPERATORS", "").strip()
    if not override:
        return governed
    path = Path(override)
    same = path.exists() and (path.resolve() == governed.resolve() or path.read_bytes() == governed.read_bytes())
    if not same:
        raise IdentityError(
            f"RECON_OPERATORS={override} is not the governed roster {governed}: people, roles and keys come "
            "only from that file (it is part of the rule hash). Unset RECON_OPERATORS, or change "
            "config/operators.yml and have the change approved"
        )
    return path


def load_users(path: Path, root: Path = PROJECT_DIR) -> dict[str, dict]:
    """The roster's users. A key written twice (a second `alice:` granting other roles), a file
    that is not YAML, users that are not a mapping, a user whose team is not in ``teams:``, or
    a team of ``root``'s seeds that is not (:func:`known_teams`) is refused naming the file."""
    from orchestration import strict_yaml

    try:
        doc = strict_yaml.load_mapping(path)
    except strict_yaml.StrictYamlError as exc:
        raise IdentityError(f"{exc} (the operator roster)") from None
    users = doc.get("users") or {}
    if not isinstance(users, dict) or not all(isinstance(spec, dict | None) for spec in users.values()):
        raise IdentityError(f"{path}: users must map each name to its team, roles and logins")
    out = {str(name): (spec or {}) for name, spec in users.items()}
    teams = known_teams(path, doc, root)
    for name, spec in out.items():
        check_user(path, name, spec, teams)
    return out


# The seeds that route work to a team (column): exception types to their owner, clients to
# theirs, and SLA breaches to the team a severity escalates to.
ROUTING_SEEDS = (
    ("exception_policy.csv", "owner_team"),
    ("client_owners.csv", "owner_team"),
    ("severity_policy.csv", "escalate_to"),
)


def routed_teams(root: Path = PROJECT_DIR) -> dict[str, tuple[str, str]]:
    """Every team the seeds give exceptions to, with the first seed file and column naming it."""
    import csv

    teams: dict[str, tuple[str, str]] = {}
    for name, column in ROUTING_SEEDS:
        with open(Path(root) / "seeds" / name, newline="") as fh:
            for row in csv.DictReader(fh):
                team = (row.get(column) or "").strip()
                if team:
                    teams.setdefault(team, (name, column))
    return teams


def known_teams(path: Path, doc: dict, root: Path = PROJECT_DIR) -> set[str]:
    """The roster's ``teams:``: the one list of teams. Each user's team is one of them, and so
    is every team the seeds route exceptions to (:data:`ROUTING_SEEDS`); the list also holds
    teams that own no exceptions (data, governance: approvers of rule changes).

    Before, ``teams:`` was read by nothing, and ``team: finanse`` loaded: that user had an
    empty queue and could claim nothing, and nothing said why. A team misspelt in a seed gave
    its exceptions to a queue nobody is in."""
    listed = doc.get("teams")
    if not isinstance(listed, list) or not listed or not all(isinstance(t, str) and t.strip() for t in listed):
        raise IdentityError(
            f"{path}: teams must list every team, e.g. teams: [finance, operations, data]; got {listed!r}"
        )
    teams = {team.strip() for team in listed}
    for team, (seed, column) in sorted(routed_teams(root).items()):
        if team not in teams:
            hint = close_match(team, teams)
            raise IdentityError(
                f"seeds/{seed}: {column} {team!r} is not in teams: of {path}"
                f"{f' (did you mean {hint!r}?)' if hint else ''}; correct the seed, or add the team to teams:"
            )
    return teams


# What a user of the roster may carry, and the roles the code grants anything to
# (orchestration/actions/store.py, rules/governance.py, desk/commands.py).
USER_KEYS = ("team", "roles", "logins", "public_key", "dev_only")
ROLES = ("operator", "approver", "ops_lead", "data_owner", "governance_reviewer", ACT_AS_ROLE)


def check_user(path: Path, name: str, spec: dict, teams: set[str] | None = None) -> None:
    """One roster user as the code reads it, or a refusal naming the file, the user and the key.

    Before, a user without ``team`` stopped every command and every run with a KeyError, and
    ``roles: operator`` (no brackets) or ``role: [operator]`` or ``roles: [operater]`` loaded
    as a user with no role at all: the refusals then said "has no operator role"."""
    where = f"{path}: user {name}"
    unknown = sorted(str(key) for key in spec if key not in USER_KEYS)
    if unknown:
        hint = close_match(unknown[0], USER_KEYS)
        raise IdentityError(
            f"{where}: unknown key {unknown[0]!r}{f' (did you mean {hint!r}?)' if hint else ''}; "
            f"a user has {', '.join(USER_KEYS)}"
        )
    team = spec.get("team")
    if not isinstance(team, str) or not team.strip():
        raise IdentityError(f"{where}: needs a team, e.g. {{team: finance, roles: [operator]}}; got {team!r}")
    if teams is not None and team not in teams:
        hint = close_match(team, teams)
        raise IdentityError(
            f"{where}: unknown team {team!r}{f' (did you mean {hint!r}?)' if hint else ''}; teams: in that file "
            f"lists {', '.join(sorted(teams))} (a new team is added there first)"
        )
    roles = spec.get("roles", [])
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise IdentityError(
            f"{where}: roles must be a list in brackets, e.g. roles: [operator, approver]; got {roles!r}"
        )
    for role in roles:
        if role not in ROLES:
            hint = close_match(role, ROLES)
            raise IdentityError(
                f"{where}: unknown role {role!r}{f' (did you mean {hint!r}?)' if hint else ''}; "
                f"roles are {', '.join(ROLES)}"
            )
    logins = spec.get("logins")
    if logins is not None and not (
        isinstance(logins, str | int)
        and not isinstance(logins, bool)
        and str(logins)
        or isinstance(logins, list)
        and all(isinstance(x, str | int) and not isinstance(x, bool) and str(x) for x in logins)
    ):
        raise IdentityError(f"{where}: logins must be a list of OS login names, e.g. logins: [alice]; got {logins!r}")
    if "dev_only" in spec and not isinstance(spec["dev_only"], bool):
        raise IdentityError(f"{where}: dev_only is true or false; got {spec['dev_only']!r}")


def logins_of(name: str, spec: dict) -> tuple[str, ...]:
    """A user's OS logins: ``logins:`` when given, else the user's own name."""
    logins = spec.get("logins")
    if logins is None:
        return (name,)
    if isinstance(logins, str):
        logins = [logins]
    return tuple(str(login) for login in logins)


def login_map(users: dict[str, dict]) -> dict[str, str]:
    """login -> operator name; a login claimed by two users is a roster error."""
    out: dict[str, str] = {}
    for name, spec in users.items():
        for login in logins_of(name, spec):
            if login in out and out[login] != name:
                raise IdentityError(
                    f"config/operators.yml maps the login {login!r} to both {out[login]} and {name}: "
                    "give each login to one user"
                )
            out[login] = name
    return out


def acting_name(users: dict[str, dict], login: str, requested: str | None, what: str = "act") -> str:
    """The operator ``login`` acts as: itself, or ``requested`` if its role allows acting for others."""
    if login.startswith(DESK_LOGIN_PREFIX):
        me = login[len(DESK_LOGIN_PREFIX) :]
        if me not in users:
            raise IdentityError(f"{me!r} is no longer an operator in config/operators.yml, so it may not {what}")
        if requested not in (None, me):
            raise IdentityError(f"a desk login acts only as its own user ({me}), not as {requested}")
        return me
    by_login = login_map(users)
    me = by_login.get(login)
    if me is None:
        raise IdentityError(
            f"OS login {login!r} is not an operator in config/operators.yml, so it may not {what}: "
            f"ask an ops lead to add `logins: [{login}]` to your user there (--as and RECON_USER do not "
            "identify you)"
        )
    if requested is None or requested == me:
        return me
    if ACT_AS_ROLE not in (users[me].get("roles") or []):
        raise IdentityError(
            f"{login} (operator {me}) may not {what} as {requested}: only a user with the {ACT_AS_ROLE} role "
            f"may act for someone else. Drop --as (and unset RECON_USER) to act as {me}, or ask {requested} "
            "to do it"
        )
    if requested not in users:
        raise IdentityError(unknown_operator(requested, users))
    return requested
