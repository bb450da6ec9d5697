"""The Typer application; each sub-module adds its commands."""

from dunning.cli import admin, demo, fees, ledger, model, operations, replies, replies_read, templates, users  # noqa: F401  (registers commands)
from dunning.cli.base import app

__all__ = ["app"]
