"""``recon ui`` and ``recon users …``: start the desk, manage its logins.

Imported by the CLI at start-up, so it imports nothing heavy until a command runs.
"""

from __future__ import annotations

import sys

import click

ADMIN_ROLES = ("ops_lead", "act_as")


class Refused(click.ClickException):
    """What was typed cannot be done (a name outside the roster, a team or role it does not
    give, a weak password, a login that exists or does not): exit 2, as `recon exceptions`
    refuses what was typed (README: exit codes), not click's 1, which a script reads as a
    failure of the command itself."""

    exit_code = 2


class NotPermitted(Refused):
    """The OS login may not do this (only an ops lead administers logins): exit 3, refused
    by a rule, as `recon exceptions` refuses a login the roster does not let act."""

    exit_code = 3


def _not_in_roster(policy, name: str) -> str:
    """Why a name outside the roster gets no desk login: a typo (ALICE, alcie, a trailing space)
    is answered with the user it is close to; advice to add `ALICE:` or `:` to the governed
    roster was wrong for a typo and empty for an empty name."""
    from orchestration.identity import close_match

    match = close_match(name, policy.operators)
    if match is not None:
        return f"{name!r} is not in config/operators.yml: did you mean {match!r}? (names are matched exactly)"
    if not name.strip() or name != name.strip() or not name.isprintable():
        return f"{name!r} is not a user name: type the name as config/operators.yml writes it"
    return (
        f"{name} is not in config/operators.yml: add `{name}: {{team: …, roles: [operator]}}` there and "
        "have the change approved (the roster is governed); then run this again"
    )


def _roster_and_login():
    from orchestration import identity
    from orchestration.actions import Policy

    policy = Policy.load()
    login = identity.current_login()
    me = identity.login_map(policy.users).get(login)
    return policy, login, me


def _may_administer(policy, me: str | None, login: str, name: str, what: str) -> None:
    if me is not None and (set(policy.operators[me].roles) & set(ADMIN_ROLES) or (what == "passwd" and me == name)):
        return
    raise NotPermitted(
        f"OS login {login!r} ({me or 'no operator'}) may not {what} desk logins: an ops lead does "
        "(role ops_lead in config/operators.yml); anyone may change their own password"
    )


def _read_password(name: str, from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    return click.prompt(f"password for {name}", hide_input=True, confirmation_prompt=True)


def register(recon: click.Group, help_of) -> None:
    @recon.command("ui", **help_of("the operator desk and dashboard in the browser (127.0.0.1 by default)"))
    @click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on")
    @click.option("--port", type=click.IntRange(1, 65535), default=8321, show_default=True)
    def cmd_ui(host: str, port: int) -> int:
        import uvicorn

        from orchestration import settings
        from orchestration.desk.web import create_app

        settings.apply_environment()
        if host not in ("127.0.0.1", "localhost", "::1"):
            click.echo(
                f"recon ui: listening on {host}: put TLS in front of it (a reverse proxy) before anyone logs in "
                "over a network",
                err=True,
            )
        click.echo(f"the desk: http://{host}:{port}/  (log in with a `recon users add` account)")
        # proxy_headers off: the failed-login throttle counts the connecting address, and a
        # client must not choose it with X-Forwarded-For (docs/desk.md, behind a proxy).
        uvicorn.run(create_app(), host=host, port=port, log_level="warning", server_header=False, proxy_headers=False)
        return 0

    @recon.group("alerts", **help_of("alerts: check config/alerts.yml, send a test message"))
    def alerts_group() -> None:
        pass

    @alerts_group.command("check", **help_of("read config/alerts.yml and say what it routes where (exit 2 if wrong)"))
    def cmd_alerts_check() -> int:
        from orchestration import alerts

        try:
            config = alerts.load_config()
        except alerts.AlertConfigError as exc:
            click.echo(f"recon alerts check: {exc}", err=True)
            return 2
        if not config.routes:
            click.echo(f"{alerts.config_path()}: nothing is routed (alerts are off)")
        for route in config.routes:
            teams = f" of {', '.join(route.teams)}" if route.teams else ""
            click.echo(f"{', '.join(route.events)}{teams} -> {', '.join(route.channels)}")
        click.echo(f"daily digest at cron {config.digest_cron!r} (UTC)")
        for problem in alerts.unset_secrets(config):
            click.echo(
                f"warning: {problem}: sends to it fail unless the process that runs recon (cron, the Dagster "
                "daemon) sets it",
                err=True,
            )
        return 0

    @alerts_group.command("test", **help_of("send one test message to a channel now (not recorded as an event)"))
    @click.argument("channel")
    def cmd_alerts_test(channel: str) -> int:
        from datetime import UTC, datetime

        from orchestration import alerts

        try:
            config = alerts.load_config()
        except alerts.AlertConfigError as exc:
            click.echo(f"recon alerts test: {exc}", err=True)
            return 2
        if channel not in config.channels:
            click.echo(f"recon alerts test: no channel {channel!r}; channels: {', '.join(config.channels)}", err=True)
            return 2
        event = alerts.Event("run_failed", f"test:{datetime.now(UTC).isoformat()}", None, "Test alert",
                             "a test message from `recon alerts test`: this channel works")  # fmt: skip
        try:
            alerts.send_one(config.channels[channel], [event], config.listed_per_message)
        except Exception as exc:  # noqa: BLE001 - the point is to show what failed
            click.echo(f"recon alerts test: {channel}: {type(exc).__name__}: {exc}", err=True)
            return 1
        click.echo(f"sent a test message to {channel}")
        return 0

    @recon.group("users", **help_of("desk logins: add, passwd, disable, enable, list"))
    def users() -> None:
        pass

    @users.command("add", **help_of("give a roster user a desk login; asks for the password"))
    @click.argument("name")
    @click.option("--team", help="must be the user's team in config/operators.yml")
    @click.option("--roles", help="comma-separated; must be the user's roles in config/operators.yml")
    @click.option("--password-stdin", is_flag=True, help="read the password from the first line of stdin")
    def cmd_users_add(name: str, team: str | None, roles: str | None, password_stdin: bool) -> int:
        from orchestration.desk.accounts import AccountError, Accounts

        policy, login, me = _roster_and_login()
        _may_administer(policy, me, login, name, "add")
        op = policy.operators.get(name)
        if op is None:
            raise Refused(_not_in_roster(policy, name))
        if team is not None and team != op.team:
            raise Refused(
                f"{name} is in team {op.team} in config/operators.yml, not {team}: change the roster (governed) "
                "or drop --team"
            )
        if roles is not None:
            wanted = {r.strip() for r in roles.split(",") if r.strip()}
            if wanted != set(op.roles):
                raise Refused(
                    f"{name} has roles {', '.join(sorted(op.roles))} in config/operators.yml, not "
                    f"{', '.join(sorted(wanted))}: change the roster (governed) or drop --roles"
                )
        password = _read_password(name, password_stdin)
        try:
            Accounts().add(name, password, by=me or login)
        except AccountError as exc:
            raise Refused(str(exc)) from exc
        click.echo(f"{name} ({op.team}; {', '.join(sorted(op.roles))}) may now log in to the desk: recon ui")
        return 0

    @users.command("passwd", **help_of("set a new password; ends the user's desk sessions"))
    @click.argument("name")
    @click.option("--password-stdin", is_flag=True, help="read the password from the first line of stdin")
    def cmd_users_passwd(name: str, password_stdin: bool) -> int:
        from orchestration.desk.accounts import AccountError, Accounts

        policy, login, me = _roster_and_login()
        _may_administer(policy, me, login, name, "passwd")
        if name not in policy.operators:  # "`recon users add zed` makes one" led to a second refusal
            raise Refused(_not_in_roster(policy, name))
        try:
            Accounts().set_password(name, _read_password(name, password_stdin))
        except AccountError as exc:
            raise Refused(str(exc)) from exc
        click.echo(f"new password set for {name}; their open sessions are ended")
        return 0

    @users.command("disable", **help_of("stop a desk login and end its sessions (passwd enables it again)"))
    @click.argument("name")
    def cmd_users_disable(name: str) -> int:
        from orchestration.desk.accounts import AccountError, Accounts

        policy, login, me = _roster_and_login()
        _may_administer(policy, me, login, name, "disable")
        try:
            Accounts().disable(name)
        except AccountError as exc:
            raise Refused(str(exc)) from exc
        click.echo(f"{name} may no longer log in to the desk")
        return 0

    @users.command("enable", **help_of("let a disabled desk login in again (an ops lead's decision)"))
    @click.argument("name")
    def cmd_users_enable(name: str) -> int:
        from orchestration.desk.accounts import AccountError, Accounts

        policy, login, me = _roster_and_login()
        _may_administer(policy, me, login, name, "enable")
        try:
            Accounts().enable(name)
        except AccountError as exc:
            raise Refused(str(exc)) from exc
        click.echo(f"{name} may log in to the desk again")
        return 0

    @users.command("list", **help_of("desk logins and their roster team and roles"))
    def cmd_users_list() -> int:
        from orchestration.actions import Policy
        from orchestration.desk.accounts import Accounts

        policy = Policy.load()
        for row in Accounts().list():
            op = policy.operators.get(row["name"])
            where = f"{op.team}; {', '.join(sorted(op.roles))}" if op else "NOT IN THE ROSTER: cannot log in"
            state = f"disabled {row['disabled_at']}" if row["disabled_at"] else "active"
            click.echo(f"{row['name']:<16} {where:<40} {state}  (made {row['created_at']} by {row['created_by']})")
        return 0
