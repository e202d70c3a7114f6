"""`duban serve` (the console) and `duban user add|passwd|disable|enable|list` (who may log in to it).

Passwords are typed at a hidden prompt (twice), or read from standard input with ``--password-stdin``
for scripts; never from the command line, where `ps` and the shell history would keep them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import getpass
import sys

import typer

from duban.workflows.cli_common import app, console, day_option, emit_json, engine

user_app = typer.Typer(help="Console users: who may log in to `duban serve`, and with which role.", no_args_is_help=True)


def _password(stdin: bool) -> str:
    if stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        console(stderr=True).print("duban: error: the two passwords differ; nothing changed", markup=False)
        raise typer.Exit(1)
    return first


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


@user_app.command("add")
def user_add(
    name: str = typer.Argument(..., help="Login name (letters, digits, . _ - @)."),
    role: str = typer.Option(..., "--role", help="office (works the console), supervisor (also approves reports) or viewer (reads only)."),
    office: list[str] = typer.Option([], "--office", help="An office whose plans the user sees (the office unit's name, as in the plan's directory); repeat for several. None: every office."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from standard input (one line)."),
) -> None:
    """Add a console user. There is no default user: this is how the first one is made."""
    from duban.workflows.user_service import add_user

    user = add_user(engine(), name=name, password=_password(password_stdin), role=role, offices=office,
                    now=app().clock(), actor=_actor())
    offices = "、".join(user["offices"]) or "every office"
    console().print(f"user {user['name']} added: {user['role']}, sees {offices}", markup=False)


@user_app.command("passwd")
def user_passwd(name: str = typer.Argument(...),
                password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from standard input.")) -> None:
    """Set a user's password (and lift a lock-out after failed logins)."""
    from duban.workflows.user_service import set_password

    set_password(engine(), name=name, password=_password(password_stdin), now=app().clock(), actor=_actor())
    console().print(f"password of {name} set", markup=False)


@user_app.command("disable")
def user_disable(name: str = typer.Argument(...)) -> None:
    """Stop a user from logging in; their open sessions end at their next request."""
    from duban.workflows.user_service import set_disabled

    set_disabled(engine(), name=name, disabled=True, now=app().clock(), actor=_actor())
    console().print(f"user {name} disabled", markup=False)


@user_app.command("enable")
def user_enable(name: str = typer.Argument(...)) -> None:
    """Let a disabled user log in again."""
    from duban.workflows.user_service import set_disabled

    set_disabled(engine(), name=name, disabled=False, now=app().clock(), actor=_actor())
    console().print(f"user {name} enabled", markup=False)


@user_app.command("list")
def user_list(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """The console's users, their roles and offices."""
    from duban.workflows.user_service import list_users

    users = list_users(engine())
    if as_json:
        emit_json(users)
        return
    out = console()
    for u in users:
        state = "disabled" if u["disabled"] else "active"
        out.print(f"{u['name']}  {u['role']}  {'、'.join(u['offices']) or 'every office'}  {state}", markup=False)
    if not users:
        out.print("no users yet: duban user add NAME --role office", markup=False)


def serve_command(
    host: str = typer.Option("127.0.0.1", help="Address to listen on (loopback by default: put the office's HTTPS reverse proxy in front)."),
    port: int = typer.Option(8000, help="Port to listen on."),
    secure_cookies: bool = typer.Option(False, "--secure-cookies", help="Send the session cookie over HTTPS only (behind an HTTPS proxy)."),
    forwarded_allow_ips: str = typer.Option("", help="Proxy addresses whose X-Forwarded-For/-Proto are trusted (the client address of logs and events), e.g. 127.0.0.1."),
    as_of: dt.datetime | None = day_option("--as-of", "Show and act as of this day (YYYY-MM-DD), as a replay's commands do: to open a replayed database (the demo's) as it was that day. Every page says so."),
    workers: int = typer.Option(1, min=1, max=64, help="Processes serving pages side by side (one per core is a good start; sessions and lights are in the database, so any process answers any request)."),
) -> None:
    """The supervision console in a browser, on the same database as every command."""
    from duban.workflows.serve_service import serve

    processes = f", {workers} processes" if workers > 1 else ""
    console(stderr=True).print(f"duban console on http://{host}:{port}/{processes} — Ctrl-C to stop", markup=False)
    wiring = app() if as_of is None else dataclasses.replace(app(), as_of_day=as_of.date())
    if as_of is not None:
        console(stderr=True).print(f"as of {as_of.date().isoformat()}: pages show and actions are recorded as of that day",
                                   markup=False)
    serve(wiring, host=host, port=port, secure_cookies=secure_cookies, forwarded_allow_ips=forwarded_allow_ips,
          workers=workers)
