"""What a reading leads to: an action taken by itself, a task for a person, channels silenced.

Pure (no database), so the service, the command line and the phrasing table use the same rules.
The service acts only on `Route.action`; anything else it does is open the task `Route.task`
names. Fail safe both ways: a reply that MAY withdraw consent silences those channels at once,
and a promise that depends on something, covers only part of the debt, or comes from mail we
cannot trust is never recorded, it is proposed to a person.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from dunning.replies.intents import Understanding

# What the service does by itself on a confident reading.
ACTIONS = {
    "promise_to_pay": "promise",
    "already_paid": "payment_check",
    "dispute": "dispute",
    "callback_request": "callback",
    "help": "help",
    "opt_in": "opt_in",
}
# An out-of-office reply holds contact until its return date, within this horizon; a longer
# absence (parental leave) is for a person to weigh against the debt.
AWAY_MAX_DAYS = 31


@dataclass(frozen=True)
class Route:
    action: str | None  # promise | payment_check | dispute | callback | help | opt_in | away | None
    opt_out: tuple[str, ...] = ()  # channels to silence now
    task: str | None = None  # why a person reads it; None: no task

    @property
    def label(self) -> str:
        """acts | task | opt-out | opt-out+task | none: the table's vocabulary."""
        if self.opt_out:
            return "opt-out+task" if self.task else "opt-out"
        if self.action is not None:
            return "acts"
        return "task" if self.task else "none"


def route(
    u: Understanding,
    *,
    trusted: bool = True,
    untrusted_why: str | None = None,
    balance: Decimal | None = None,
    today: date | None = None,
) -> Route:
    """`balance`: what the case owes, to tell a partial promise; `today`: the customer's today."""
    if u.opt_out_channels or u.intent == "opt_out":
        return _opt_out(u, trusted, untrusted_why)
    if u.intent == "out_of_office":
        if u.also:
            return Route(None, task="an out-of-office reply that also says something")
        if u.return_on is None:
            return Route(None)  # an autoreply without a date: nothing to do, nobody to bother
        if today is not None and (u.return_on - today) > timedelta(days=AWAY_MAX_DAYS):
            return Route(None, task=f"away until {u.return_on.isoformat()}, longer than {AWAY_MAX_DAYS} days")
        return Route(None, task=untrusted_why) if not trusted else Route("away")
    if not trusted:
        return Route(None, task=untrusted_why or "mail we cannot trust")
    if u.intent == "promise_to_pay":
        why = _promise_doubt(u, balance)
        if why:
            return Route(None, task=why)
    if not u.confident:
        return Route(None, task="not sure what the customer means")
    action = ACTIONS.get(u.intent)
    if action is None:
        return Route(
            None,
            task={
                "installment_request": "asks for an installment plan",
                "hardship": "tells of hardship",
                "complaint": "an angry reply",
                "question": "asks a question",
            }.get(u.intent, "nothing we act on by ourselves"),
        )
    return Route(action)


def _opt_out(u: Understanding, trusted: bool, untrusted_why: str | None) -> Route:
    channels = u.opt_out_channels
    if not channels:
        return Route(None, task="asks not to be called" if u.intent == "opt_out" else "may ask to stop contact")
    if not trusted:
        # An opt-out is honoured whoever sent it (fail safe), and the team sees it.
        return Route(None, channels, f"opt-out from mail we cannot trust ({untrusted_why or 'unverified'})")
    if u.intent != "opt_out":
        return Route(None, channels, f"may withdraw consent and also reads as {u.intent}")
    if u.also:
        return Route(None, channels, "an opt-out that also reads as " + ", ".join(u.also))
    if not u.confident:
        return Route(None, channels, "may be an opt-out: contact stopped, a person confirms")
    return Route(None, channels)


def _promise_doubt(u: Understanding, balance: Decimal | None) -> str | None:
    if u.condition:
        return f"a promise on a condition: {u.condition}"
    if u.partial:
        return "a promise of part of the debt"
    if balance is not None and u.amount is not None and u.amount < balance:
        return f"a promise of {u.amount}, less than the {balance} owed"
    return None
