"""`serve`, `db upgrade` and `apikey`: running the service and letting systems in."""

from __future__ import annotations

import errno
import socket
from typing import TYPE_CHECKING, Annotated

import typer

from dunning.cli.base import JsonLogs, app, console, domain_errors, fail, open_database

if TYPE_CHECKING:
    from dunning.config import Settings

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
key_app = typer.Typer(help="API keys for accounting systems and scripts.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(key_app, name="apikey")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(metavar="ADDRESS", help="default: DUNNING_HOST")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, metavar="PORT", help="default: DUNNING_PORT")] = None,
    json_logs: JsonLogs = False,
) -> None:
    """Start the API and the embedded worker.

    Migrates the database first; with DUNNING_EMBEDDED_WORKER=false the jobs are left to `worker`
    processes."""
    import gc

    import uvicorn

    from dunning import logs
    from dunning.app import create_app

    settings = listening_settings(host, port)
    # The port first: a second `serve` on it says so before it migrates or starts anything.
    sock = listen_socket(settings.host, settings.port)
    log_format = "json" if json_logs else settings.log_format
    log_config = logs.configure(log_format)
    database = open_database(settings)
    app = create_app(settings, database=database)
    # Everything imported so far lives as long as the process: keep it out of the collector's
    # full passes, which otherwise walk it again and again while a large batch allocates rows.
    gc.freeze()
    if log_format == "text":  # a JSON log's reader expects nothing else on the terminal
        console.print(f"API on {settings.public_url}  (docs at /docs, the desk at /desk)")
    uvicorn.Server(uvicorn.Config(app, log_config=log_config)).run(sockets=[sock])


def listening_settings(host: str | None, port: int | None) -> Settings:
    """The settings, with --host/--port in place of DUNNING_HOST/DUNNING_PORT (the public URL,
    when not set, follows them)."""
    from dunning.config import Settings, get_settings

    if host is None and port is None:
        return get_settings()
    return Settings(**{k: v for k, v in (("host", host), ("port", port)) if v is not None})


def listen_socket(host: str, port: int) -> socket.socket:
    """The server's socket, bound here so a taken port is one clear message and exit code 1."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror as e:
        fail(f"cannot listen on {host!r}: {e.strerror}; set DUNNING_HOST", code=1)
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            fail(f"port {port} is in use on {host} (another `serve`?); set DUNNING_PORT or --port", code=1)
        fail(f"cannot listen on {host}:{port}: {e.strerror}; set DUNNING_HOST / DUNNING_PORT", code=1)
    return sock


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration."""
    open_database()
    console.print("database is up to date")


@key_app.command("create")
@domain_errors
def key_create(
    name: Annotated[str, typer.Option(metavar="NAME", help="who uses it, e.g. erp")],
    scopes: Annotated[
        str, typer.Option(metavar="SCOPES", help="comma-separated: ingest,read,manage,admin")
    ] = "ingest,read",
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="print the secret alone (for `export KEY=$(...)`)")
    ] = False,
) -> None:
    """Create a key; its secret is shown once."""
    from dunning import api_keys
    from dunning.clock import SystemClock

    with open_database().session() as session:
        key, secret = api_keys.create_key(session, SystemClock(), name, api_keys.parse_scopes(scopes))
    if quiet:
        typer.echo(secret)
        return
    console.print(f"key {key.id} '{name}' scopes={','.join(key.scopes)}")
    console.print(secret, markup=False, highlight=False)
    console.print("[dim]store it now: it is not shown again[/dim]")


@key_app.command("list")
def key_list() -> None:
    """List the keys (never their secrets).

    Id, name, the secret's first characters, scopes, when created and revoked."""
    from rich.table import Table
    from sqlmodel import select

    from dunning import api_keys

    with open_database().session() as session:
        keys = session.exec(select(api_keys.ApiKey).order_by(api_keys.ApiKey.id)).all()
    table = Table("id", "name", "hint", "scopes", "created", "revoked")
    for k in keys:
        table.add_row(
            str(k.id),
            k.name,
            k.hint + "…",
            ",".join(k.scopes),
            f"{k.created_at:%Y-%m-%d}",
            f"{k.revoked_at:%Y-%m-%d}" if k.revoked_at else "",
        )
    console.print(table)


@key_app.command("revoke")
@domain_errors
def key_revoke(
    key_id: Annotated[int, typer.Argument(metavar="ID", help="the key's id, as `apikey list` shows it")],
) -> None:
    """Revoke a key: it is refused from now on."""
    from dunning import api_keys
    from dunning.clock import SystemClock

    with open_database().session() as session:
        api_keys.revoke_key(session, SystemClock(), key_id)
    console.print(f"key {key_id} revoked")
