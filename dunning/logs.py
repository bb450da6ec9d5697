"""How the long-running processes (`serve`, `worker`) log: text for a person at a terminal, or
one JSON object per line for a log collector (`DUNNING_LOG_FORMAT=json`, or `--json`).

One dictConfig serves both our loggers and uvicorn's (handed to uvicorn as its `log_config`), so
the access log and the jobs' lines come out in the same format on the same stream.
"""

from __future__ import annotations

import logging
import logging.config
from typing import Any

from dunning.config import Settings, masked_url

FORMATS = ("text", "json")
TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JSON_FIELDS = ["asctime", "levelname", "name", "message"]
# uvicorn adds a colourised copy of some messages; the plain one is enough
NOT_LOGGED = ["color_message"]

QUIET = ("apscheduler", "alembic")

log = logging.getLogger("dunning")


def config(fmt: str = "text", level: str = "INFO") -> dict[str, Any]:
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if fmt == "json":
        from pythonjsonlogger.core import RESERVED_ATTRS

        formatter = {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": JSON_FIELDS,
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            "reserved_attrs": [*RESERVED_ATTRS, *NOT_LOGGED],
        }
    else:
        formatter = {"format": TEXT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {
            "default": {"class": "logging.StreamHandler", "formatter": "default", "stream": "ext://sys.stderr"}
        },
        "root": {"handlers": ["default"], "level": level},
        # uvicorn's loggers carry no handlers of their own here: they reach the root's
        "loggers": {
            **{
                name: {"handlers": [], "propagate": True, "level": level}
                for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
            },
            # a line per job run every few seconds, and Alembic's set-up chatter: our own
            # lines say what the jobs did
            **{name: {"level": "WARNING"} for name in QUIET},
        },
    }


def configure(fmt: str = "text", level: str = "INFO") -> dict[str, Any]:
    settled = config(fmt, level)
    logging.config.dictConfig(settled)
    return settled


def startup(settings: Settings, worker: str) -> dict[str, Any]:
    """What this process will do, as one block: where the data is, where links point, how each
    channel sends, who runs the jobs. `worker` says who runs them, in words."""
    from dunning.channels.transports import describe_transports

    facts = {
        "database": masked_url(settings.database_url),
        "public_url": settings.public_url
        + (
            ""
            if not settings.public_url_derived
            else " (follows DUNNING_HOST and DUNNING_PORT; set DUNNING_PUBLIC_URL to the address customers reach)"
        ),
        "transports": describe_transports(settings),
        "worker": worker,
        "demo": settings.demo,
    }
    lines = [f"  database    {facts['database']}", f"  public URL  {facts['public_url']}"]
    lines += [f"  {channel:<11} {how}" for channel, how in facts["transports"].items()]
    lines.append(f"  worker      {worker}")
    if settings.demo:
        lines.append("  demo        on: the made-up portfolio is loaded when the database has no customers")
    log.info("starting:\n%s", "\n".join(lines), extra={"startup": facts})
    return facts


def embedded_worker(settings: Settings, embedded: bool) -> str:
    if not embedded:
        return "none in this process (DUNNING_EMBEDDED_WORKER=false): `main.py worker` runs the jobs"
    return (
        f"embedded: cycle every {settings.cycle_interval_seconds} s, dispatch every "
        f"{settings.dispatch_interval_seconds} s, arrangements every {settings.arrangements_interval_seconds} s"
    )
