"""Reading a phrasing table (routing.yaml, routing_<lang>.yaml): each row's reply read and routed
as the service does, and what differs from what the row expects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import yaml

from dunning.replies.intents import Understanding
from dunning.replies.language import read_reply
from dunning.replies.routing import Route, route


def rows(name: str) -> list[dict]:
    table = yaml.safe_load((Path(__file__).parent / name).read_text(encoding="utf-8"))
    return [{**table["defaults"], **row} for row in table["rows"]]


@dataclass
class Result:
    row: dict
    u: Understanding
    language: str
    route: Route
    misread: list[str]  # what differs from the expectation
    wrong_action: str | None  # an automatic action the table does not allow


def run(row: dict) -> Result:
    received = datetime.fromisoformat(row["received_at"])
    language, u = read_reply(
        row["text"],
        customer_language=row.get("customer_lang", row["lang"]),
        received_at=received,
        tz=row["tz"],
        channel=row["channel"],
        currency=row["case_currency"],
    )
    today = received.astimezone(UTC).date()
    r = route(u, balance=Decimal(row["balance"]), today=today)
    misread = []
    if language != row["lang"]:
        misread.append(f"language {language} != {row['lang']}")
    if u.intent != row["intent"]:
        misread.append(f"intent {u.intent} != {row['intent']}")
    if r.label != row["route"]:
        misread.append(f"route {r.label} != {row['route']} ({r.task})")
    for key, got in (
        ("date", u.promised_date),
        ("return_on", u.return_on),
        ("installments", u.installments),
        ("months", u.months),
    ):
        if key in row and got != row[key]:
            misread.append(f"{key} {got} != {row[key]}")
    if "amount" in row and u.amount != Decimal(row["amount"]):
        misread.append(f"amount {u.amount} != {row['amount']}")
    if "condition" in row and row["condition"].lower() not in (u.condition or "").lower():
        misread.append(f"condition {u.condition!r} lacks {row['condition']!r}")
    if "opt_out" in row and sorted(u.opt_out_channels) != sorted(row["opt_out"]):
        misread.append(f"opt-out {list(u.opt_out_channels)} != {row['opt_out']}")
    return Result(row, u, language, r, misread, _wrong_action(row, u, r))


def _wrong_action(row: dict, u: Understanding, r: Route) -> str | None:
    """What the service would have done by itself that the customer did not ask for, or an
    opt-out it would have missed."""
    expected_out = set(row.get("opt_out", []))
    if row["route"].startswith("opt-out") and not expected_out <= set(r.opt_out):
        return f"missed opt-out of {sorted(expected_out - set(r.opt_out))}"
    if r.opt_out and not row["route"].startswith("opt-out"):
        return f"opted out of {list(r.opt_out)} without being asked"
    if r.action is None:
        return None
    if row["route"] != "acts" or u.intent != row["intent"]:
        return f"acted ({r.action}) on {u.intent}, expected {row['intent']} / {row['route']}"
    for key, got in (("date", u.promised_date), ("return_on", u.return_on)):
        if key in row and got != row[key]:
            return f"acted with {key} {got}, meant {row[key]}"
    if "amount" in row and u.amount != Decimal(row["amount"]):
        return f"acted with amount {u.amount}, meant {row['amount']}"
    return None
