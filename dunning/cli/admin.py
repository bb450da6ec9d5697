from __future__ import annotations

import gc
from typing import Annotated

import typer
from rich.table import Table
from sqlmodel import select

from dunning import auth
from dunning.cli.base import app, console, domain_errors, open_database
from dunning.clock import SystemClock
from dunning.config import get_settings

db_app = typer.Typer(help="Database schema.")
key_app = typer.Typer(help="API keys for accounting systems and scripts.")
app.add_typer(db_app, name="db")
app.add_typer(key_app, name="apikey")


@app.command()
def serve(host: Annotated[str | None, typer.Option(help="default: DUNNING_HOST")] = None,
          port: Annotated[int | None, typer.Option(help="default: DUNNING_PORT")] = None) -> None:
    """Migrate the database and start the API (and the embedded worker unless DUNNING_EMBEDDED_WORKER=false)."""
    import uvicorn

    from dunning.app import create_app

    settings = get_settings()
    database = open_database(settings)
    app = create_app(settings, database=database)
    # Everything imported so far lives as long as the process: keep it out of the collector's
    # full passes, which otherwise walk it again and again while a large batch allocates rows.
    gc.freeze()
    console.print(f"API on http://{host or settings.host}:{port or settings.port}  (docs at /docs)")
    uvicorn.run(app, host=host or settings.host, port=port or settings.port, log_level="info")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration."""
    open_database()
    console.print("database is up to date")


@key_app.command("create")
@domain_errors
def key_create(name: Annotated[str, typer.Option(help="who uses it, e.g. erp")],
               scopes: Annotated[str, typer.Option(help="comma-separated: ingest,read,manage,admin")] = "ingest,read") -> None:
    """Create a key; its secret is shown once."""
    with open_database().session() as session:
        key, secret = auth.create_key(session, SystemClock(), name, auth.parse_scopes(scopes))
    console.print(f"key {key.id} '{name}' scopes={','.join(key.scopes)}")
    console.print(secret, markup=False, highlight=False)
    console.print("[dim]store it now: it is not shown again[/dim]")


@key_app.command("list")
def key_list() -> None:
    with open_database().session() as session:
        keys = session.exec(select(auth.ApiKey).order_by(auth.ApiKey.id)).all()
    table = Table("id", "name", "hint", "scopes", "created", "revoked")
    for k in keys:
        table.add_row(str(k.id), k.name, k.hint + "…", ",".join(k.scopes), f"{k.created_at:%Y-%m-%d}",
                      f"{k.revoked_at:%Y-%m-%d}" if k.revoked_at else "")
    console.print(table)


@key_app.command("revoke")
@domain_errors
def key_revoke(key_id: int) -> None:
    with open_database().session() as session:
        auth.revoke_key(session, SystemClock(), key_id)
    console.print(f"key {key_id} revoked")
