"""Turning "N monthly payments from this date" (what a person picks in a form) into the rows
arrangements.plans.create takes; the rules themselves stay in arrangements.plans."""

from __future__ import annotations

from datetime import date

from dunning.arrangements.plans import Proposed, add_months, check
from dunning.policies.document import PlanRules

MAX_OFFERED = 12  # the portal offers up to this many payments; beyond the policy, the team decides


def monthly(total_minor: int, count: int, first_due: date) -> list[Proposed]:
    """Equal payments a month apart; the odd cents go on the first ones, so the total is exact."""
    base, rest = divmod(total_minor, count)
    return [Proposed(add_months(first_due, i), base + (1 if i < rest else 0)) for i in range(count)]


def policy_problems(
    total_minor: int, count: int, first_due: date, *, currency: str, today: date, rules: PlanRules
) -> list[dict]:
    """The problems that keep this plan from being granted at once (empty: it is within the bounds)."""
    return check(
        monthly(total_minor, count, first_due),
        covered_minor=total_minor,
        currency=currency,
        today=today,
        rules=rules,
        within_policy=True,
    )


def blocking_problems(
    total_minor: int, count: int, first_due: date, *, currency: str, today: date, rules: PlanRules
) -> list[dict]:
    """The problems no one could set aside (a date in the past...): outside them, a person may agree."""
    return check(
        monthly(total_minor, count, first_due),
        covered_minor=total_minor,
        currency=currency,
        today=today,
        rules=rules,
        within_policy=False,
    )
