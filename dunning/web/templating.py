"""The Jinja2 environment of the desk and the portal (templates/web), with autoescape always on."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.dates import format_date
from babel.numbers import format_compact_currency, format_currency, format_decimal, format_percent
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from dunning.inputs import segment
from dunning.money import from_minor
from dunning.words import plural, weekday

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates" / "web"
STATIC = ROOT / "static"


def money(minor: int | None, currency: str | None, locale: str = "en") -> str:
    if minor is None or currency is None:
        return "—"
    return format_currency(from_minor(minor, currency), currency, locale=locale)


def amount(text: str, currency: str, locale: str = "en") -> str:
    """An amount the API writes as a decimal string ("2048.71"), as people read it ("€2,048.71")."""
    return format_currency(Decimal(text), currency, locale=locale)


def day(value: date | datetime | None, locale: str = "en", style: str = "medium") -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        value = value.date()
    return format_date(value, style, locale=locale)


def when(value: datetime | None) -> str:
    """Desk timestamps are shown in UTC and say so: the team may sit in several time zones."""
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%-d %b %Y %H:%M UTC")


def compact(minor: int, currency: str) -> str:
    """Chart labels: "€12K" rather than "€12,345.67"."""
    return format_compact_currency(from_minor(minor, currency), currency, locale="en", fraction_digits=1)


def csrf_input(token: str) -> Markup:
    return Markup('<input type="hidden" name="csrf_token" value="{}">').format(token)


def percent(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "—"
    return format_percent(Decimal(str(value)) / 100, f"#,##0{'.' + '0' * digits if digits else ''}%", locale="en")


def number(value: float | int | None, digits: int = 0) -> str:
    if value is None:
        return "—"
    return format_decimal(value, f"#,##0{'.' + '0' * digits if digits else ''}", locale="en")


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        money=money,
        day=day,
        when=when,
        percent=percent,
        number=number,
        compact=compact,
        weekday=weekday,
        plural=plural,
        amount=amount,
        segment=segment,
    )  # an id in a link: /desk/customers/{{ id|segment }}
    env.globals.update(csrf_input=csrf_input)
    return env


def page(
    template: str, *, status_code: int = 200, headers: dict[str, str] | None = None, **context: Any
) -> HTMLResponse:
    html = environment().get_template(template).render(**context)
    return HTMLResponse(html, status_code=status_code, headers=headers)
