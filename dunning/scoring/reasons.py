"""Reasons a collector can read: the strongest contributions, in words, with the row's numbers.

A contribution says a feature pushed the score up; the sentence says what about this customer
did it ("paid 4 of the last 5 invoices more than 15 days late"), not the feature's name.
"""

from __future__ import annotations

import calendar
import math

import pandas as pd

from dunning.scoring.features import RECENT, SHORT
from dunning.words import plural

NEW_CUSTOMER = "new customer: no payment history yet"

# Features that only exist once something has been paid: for a customer with no history their
# contribution is "we know nothing", and that is what the sentence should say.
_HISTORY = {
    "late_rate",
    "paid_after_due_rate",
    "mean_days_late",
    "max_days_late",
    "last_days_late",
    "mean_days_to_pay",
    "recent_late_rate",
    "late_trend",
    "recent_days_late",
    "days_late_trend",
    "std_days_late",
    "ewm_days_late",
    "days_since_payment",
    "n_settled",
}


# What a sentence reads besides its own feature.
CONTEXT = {"n_settled", "recent_late_rate", "recent_days_late"}


def _n(x: float) -> int:
    return int(round(x))


def _days(x: float) -> str:
    d = _n(x)
    if d > 0:
        return f"{plural(d, 'day')} late"
    if d < 0:
        return f"{plural(-d, 'day')} early"
    return "on the due date"


def sentence(feature: str, row, late_days: int = 15) -> str:
    """`row` is a mapping of feature values (a dict or a Series)."""
    v = row.get(feature, math.nan)
    settled = _n(row.get("n_settled", 0) or 0)
    if feature in _HISTORY and settled == 0:
        return NEW_CUSTOMER
    if isinstance(v, float) and math.isnan(v) and feature not in ("late_trend", "days_late_trend"):
        return NEW_CUSTOMER  # features are only missing where there is no history to compute them from
    late = f"more than {plural(late_days, 'day')} late" if late_days else "after the due date"

    if feature == "n_settled":
        return f"{plural(settled, 'invoice')} paid so far"
    if feature == "late_rate":
        return f"paid {_n(v * settled)} of {plural(settled, 'earlier invoice')} {late}"
    if feature == "recent_late_rate":
        k = min(settled, RECENT)
        return f"paid {_n(v * k)} of the last {plural(k, 'invoice')} {late}"
    if feature == "paid_after_due_rate":
        return f"paid {_n(v * settled)} of {plural(settled, 'earlier invoice')} after the due date"
    if feature == "mean_days_late":
        return f"pays {_days(v)} on average"
    if feature == "max_days_late":
        return f"has paid as much as {_days(v)}"
    if feature == "last_days_late":
        return f"paid the last invoice {_days(v)}"
    if feature == "std_days_late":
        return f"irregular payer: payment dates vary by about {plural(_n(v), 'day')}"
    if feature == "ewm_days_late":
        return f"latest payments {_days(v)} on average"
    if feature == "mean_days_to_pay":
        return f"takes {plural(_n(v), 'day')} to pay on average"
    if feature == "late_trend":
        recent = row.get("recent_late_rate", math.nan)
        if math.isnan(v):
            return f"paid {_n(recent * min(settled, RECENT))} of the last {min(settled, RECENT)} invoices {late}"
        return (
            f"paying later lately: {recent:.0%} of the last {RECENT} invoices {late}, against {recent - v:.0%} before"
        )
    if feature == "recent_days_late":
        return f"paid the last {min(settled, SHORT)} invoices {_days(v)} on average"
    if feature == "days_late_trend":
        recent = row.get("recent_days_late", math.nan)
        if math.isnan(v):
            return f"paid the last {min(settled, SHORT)} invoices {_days(recent)} on average"
        return (
            f"paying {plural(abs(_n(v)), 'day')} {'later' if v > 0 else 'earlier'} than before (last {SHORT} invoices)"
        )
    if feature == "days_since_payment":
        return f"no payment for {plural(_n(v), 'day')}"
    if feature == "open_count":
        return f"{plural(_n(v), 'other invoice')} open"
    if feature == "open_balance_ratio":
        return f"open balance {v:.1f}x the usual invoice"
    if feature == "overdue_count":
        return f"{plural(_n(v), 'other invoice')} already overdue"
    if feature == "overdue_balance_ratio":
        return f"overdue balance {v:.1f}x the usual invoice"
    if feature == "amount":
        return f"invoice amount {v:,.2f}"
    if feature == "amount_ratio":
        return f"invoice {v:.1f}x the customer's usual amount"
    if feature == "term_days":
        return f"{plural(_n(v), 'day')} payment terms"
    if feature == "due_month":
        return f"due in {calendar.month_name[_n(v)]}, when payments tend to slow"
    if feature == "n_invoices":
        n = _n(v)
        return "first invoice to this customer" if n == 0 else f"{plural(n, 'earlier invoice')} on record"
    if feature == "tenure_days":
        return f"customer for {plural(_n(v), 'day')}"
    if feature == "disputes":
        return f"{plural(_n(v), 'dispute')} raised before"
    if feature == "promises_kept":
        return f"needed {plural(_n(v), 'promise')} to pay before"
    if feature == "promises_broken":
        return f"broke {plural(_n(v), 'promise')} to pay"
    if feature == "replies":
        return f"{plural(_n(v), 'reply', 'replies')} to reminders so far"
    return feature


def describe(X: pd.DataFrame, explanations: list[list[tuple[str, float]]], late_days: int = 15) -> list[list[str]]:
    """Sentences for each row's explanation (as from TrainedModel.explain), duplicates merged."""
    used = {feature for expl in explanations for feature, _ in expl}
    # Each row as a small dict of what its sentences read: a whole record per row (to_dict) cost
    # more than all the sentences.
    values = {name: X[name].tolist() for name in X.columns if name in used or name in CONTEXT}
    context = [name for name in CONTEXT if name in values]
    out = []
    for i, expl in enumerate(explanations):
        row = {name: values[name][i] for name in context}
        for feature, _weight in expl:
            row[feature] = values[feature][i]
        seen: list[str] = []
        for feature, _weight in expl:
            text = sentence(feature, row, late_days)
            if text not in seen:
                seen.append(text)
        out.append(seen)
    return out
