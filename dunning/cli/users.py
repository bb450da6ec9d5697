from __future__ import annotations

from typing import Annotated

import typer

from dunning.cli.base import app, console, domain_errors, open_database

user_app = typer.Typer(help="People who sign in to the collections desk (/desk).", no_args_is_help=True)
app.add_typer(user_app, name="user")


@user_app.command("create")
@domain_errors
def user_create(
    email: Annotated[str, typer.Option(metavar="EMAIL", help="what they sign in with")],
    role: Annotated[str, typer.Option(metavar="ROLE", help="agent, manager or admin")] = "agent",
    name: Annotated[
        str | None, typer.Option(metavar="NAME", help="shown in the desk; default: the email's name")
    ] = None,
    password: Annotated[
        str | None,
        typer.Option(metavar="PASSWORD", help="for scripts; without it the password is asked for (and not echoed)"),
    ] = None,
) -> None:
    """Create a desk account (the first admin too)."""
    from dunning.clock import SystemClock
    from dunning.web.auth import users

    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with open_database().session() as session:
        user = users.create(session, SystemClock(), email=email, role=role, password=password, name=name, actor="cli")
    console.print(f"{user.email} can sign in to /desk as {user.role}")


@user_app.command("list")
def user_list() -> None:
    """List who can sign in: role, state, last sign-in."""
    from rich.table import Table

    from dunning.web.auth import users

    with open_database().session() as session:
        rows = users.list_all(session)
    table = Table("id", "email", "name", "role", "active", "locked until", "last sign-in")
    for u in rows:
        table.add_row(
            str(u.id),
            u.email,
            u.name,
            u.role,
            "yes" if u.active else "no",
            f"{u.locked_until:%Y-%m-%d %H:%M}" if u.locked_until else "",
            f"{u.last_login_at:%Y-%m-%d %H:%M}" if u.last_login_at else "",
        )
    console.print(table)


@user_app.command("unlock")
@domain_errors
def user_unlock(email: Annotated[str, typer.Argument(metavar="EMAIL", help="the account's email")]) -> None:
    """Lift a lock-out after too many wrong passwords."""
    from dunning.clock import SystemClock
    from dunning.errors import NotFound
    from dunning.web.auth import users

    with open_database().session() as session:
        user = users.by_email(session, email)
        if user is None:
            raise NotFound(f"no desk user {email}")
        users.unlock(session, SystemClock(), user.id, "cli")
    console.print(f"{email} unlocked")
