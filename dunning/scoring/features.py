"""Feature rows built "as of" a moment, the same way for training and for scoring.

A row describes one invoice at one moment using only what was dated strictly before that
moment. Training rows look at each invoice on its own issue date; scoring rows look at each open
invoice at `as_of`. Sharing one builder is what keeps the model honest: if training could see
anything scoring cannot, backtests would flatter it.

Moments are days. A plain date means the start of that day, so nothing dated that day is known
yet (payments and invoices of the same day have no order in a ledger of dates). A timestamp with
a time of day means "during that day": everything dated up to and including that day is known.
So `scoring_rows(inv, as_of=clock.now())` sees today's payments, and a training row for an
invoice issued on D sees nothing dated D.

The history belongs to an *account*: a customer in one currency. Balances in different
currencies cannot be added, and the service runs one case per customer and currency anyway.

Everything is vectorized: each kind of dated event (issue, payment, due date, ...) is sorted
once per account, with running sums, and "how much happened to this account before day m" is
two binary searches and a subtraction. A million invoices take about a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pandas as pd
from scipy.signal import lfilter

FEATURES = [
    # settled history: invoices of the account paid before the moment
    "n_settled",
    "late_rate",  # share paid more than late_days after due
    "paid_after_due_rate",  # share paid after due at all
    "mean_days_late",  # signed: early payment counts as negative
    "max_days_late",
    "last_days_late",
    "std_days_late",
    "ewm_days_late",  # exponentially weighted towards the latest payments
    "mean_days_to_pay",
    "recent_late_rate",  # over the last RECENT settled invoices
    "late_trend",  # recent late rate minus the rate before them
    "recent_days_late",  # mean days late of the last 3
    "days_late_trend",  # that minus the mean days late before them
    "days_since_payment",
    # exposure at the moment, excluding the invoice being described
    "open_count",
    "open_balance_ratio",  # open balance / usual invoice amount
    "overdue_count",
    "overdue_balance_ratio",
    # the invoice itself and the relationship
    "amount",
    "amount_ratio",  # amount / mean of the account's earlier invoices
    "term_days",
    "due_month",
    "n_invoices",
    "tenure_days",
    # conversations
    "disputes",
    "promises_kept",
    "promises_broken",
    "replies",
]

# What the payment-date model reads besides FEATURES (scoring/paydate.py). Built with them, so
# both models describe an invoice at the same moment from the same history.
PAY_FEATURES = [
    "pos_mean_days_late",  # mean of max(0, days late): early payment does not offset a late one
    "pos_recent_days_late",  # the same over the last SHORT settled
    "q10_days_late",  # signed quantiles of the latest HISTORY_WINDOW settled: the customer's own spread
    "median_days_late",
    "q90_days_late",
    "median_days_to_pay",
    "issue_dow",  # weekday raised (0 = Monday): payment runs are weekly
    "due_dow",
]

RECENT = 5  # "paid 4 of the last 5 invoices late" reads well and reacts within a quarter or two
SHORT = 3
HISTORY_WINDOW = 48  # settled invoices the quantiles look back over: four years of monthly invoices
EWM_DECAY = 0.7  # weight of each older payment relative to the next: half-life of about 2 invoices

# Days are int64 days since 1970. Keys are account * _SPAN + (day + _OFFSET), so one sorted array
# holds every account's timeline and a search never crosses into a neighbour's.
_OFFSET = 10_000_000
_SPAN = 3 * _OFFSET
_NEVER = _OFFSET  # the "day" of a payment that has not happened (year ~29000)
_NAT = np.iinfo(np.int64).min


def training_rows(
    invoices: pd.DataFrame,
    *,
    late_days: int = 15,
    events: dict[str, pd.DataFrame] | None = None,
    as_of=None,
    matured_only: bool = True,
) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    """Every invoice as of its own issue date, labelled late or not as far as known at `as_of`.

    Late means paid more than `late_days` after the due date, or still unpaid once `late_days`
    have passed since it (as of `as_of`, default: the day after the newest date in the data).

    An invoice is *matured* once its due date plus `late_days` lies before `as_of`: both outcomes
    could have shown by then, so its label is final. By default only matured invoices are rows.
    Counting young invoices that happen to be paid already would keep the early payers and drop
    the rest, biasing the newest slice (the one calibration and holdout use) towards "on time".
    With matured_only=False, any invoice whose outcome is already known is a row (paid, or
    already too late), which is what a test period at the end of a data set wants.
    """
    led = _Ledger.of(invoices)
    end = _moment_day(as_of) if as_of is not None else led.last_day() + 1
    paid_by_end = led.paid < end
    known_late = led.due + late_days < end
    keep = led.issued < end
    keep &= known_late if matured_only else (paid_by_end | known_late)
    rows = np.flatnonzero(keep)

    days_late = np.where(paid_by_end, led.paid - led.due, np.nan)[rows]
    y = np.where(paid_by_end[rows], days_late > late_days, True).astype(np.int8)
    X = _build(led, rows, led.issued[rows], late_days, events)
    meta = _meta(led, rows, led.issued[rows])
    meta["days_late"] = days_late
    meta["late"] = y
    return X, y, meta


def payment_rows(
    invoices: pd.DataFrame,
    *,
    as_of=None,
    late_days: int = 15,
    events: dict[str, pd.DataFrame] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every invoice issued before `as_of`, as of its own issue date, with what `as_of` knows of
    its payment: `days_late` (signed) once paid, else NaN and `late_so_far`, the days late it
    has already reached (it cannot be paid before `as_of`). Still-open invoices are rows too: the
    payment-date model treats them as censored, since dropping them would keep only the early payers.
    """
    led = _Ledger.of(invoices)
    end = _moment_day(as_of) if as_of is not None else led.last_day() + 1
    rows = np.flatnonzero(led.issued < end)
    paid = led.paid[rows] < end
    X = _build(led, rows, led.issued[rows], late_days, events)
    meta = _meta(led, rows, led.issued[rows])
    meta["days_late"] = np.where(paid, led.paid[rows] - led.due[rows], np.nan)
    meta["late_so_far"] = np.where(paid, np.nan, end - led.due[rows])
    return X, meta


def settled_days_late(invoices: pd.DataFrame, as_of) -> np.ndarray:
    """Signed days late of every invoice paid before `as_of`: the history the baseline reads."""
    paid, due = _days(invoices["paid_on"]), _days(invoices["due_on"])
    known = (paid != _NAT) & (paid < _moment_day(as_of))  # no _Ledger: its grouping costs more than this
    return (paid - due)[known]


def scoring_rows(
    invoices: pd.DataFrame,
    as_of,
    *,
    late_days: int = 15,
    events: dict[str, pd.DataFrame] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The invoices open at `as_of` (issued before it, not paid before it), described as of then."""
    led = _Ledger.of(invoices)
    m = _moment_day(as_of)
    rows = np.flatnonzero((led.issued < m) & (led.paid >= m))
    moments = np.full(len(rows), m, dtype=np.int64)
    return _build(led, rows, moments, late_days, events), _meta(led, rows, moments)


def features_at(
    invoices: pd.DataFrame,
    moments,
    *,
    late_days: int = 15,
    events: dict[str, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """Each invoice described as of its own moment (a sequence aligned with `invoices`).

    The general form behind the two above, for tests and ad-hoc questions. An invoice's own
    payment must not lie before its moment: that would describe it with its own answer.
    """
    led = _Ledger.of(invoices)
    ms = _moment_days(moments)
    if np.any(led.paid < ms):
        raise ValueError("an invoice cannot be described after its own payment")
    return _build(led, np.arange(len(ms)), ms, late_days, events)


# --- input normalisation ---------------------------------------------------------------------


def _days(values) -> np.ndarray:
    s = values if isinstance(values, pd.Series) else pd.Series(values)
    if not pd.api.types.is_datetime64_any_dtype(s):
        s = pd.to_datetime(s)
    if getattr(s.dt, "tz", None) is not None:
        s = s.dt.tz_convert("UTC").dt.tz_localize(None)
    return s.to_numpy().astype("datetime64[D]").astype(np.int64)


def _moment_day(at) -> int:
    """A date is the start of its day; a timestamp inside a day means that day is known."""
    if isinstance(at, (int, np.integer)):
        return int(at)
    if isinstance(at, date) and not isinstance(at, datetime):
        return int(np.datetime64(at, "D").astype(np.int64))
    ts = pd.Timestamp(at)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    day = int(np.datetime64(ts.normalize().date(), "D").astype(np.int64))
    return day + (1 if ts != ts.normalize() else 0)


def _moment_days(moments) -> np.ndarray:
    """_moment_day for a whole sequence, without a Python loop when it holds datetimes."""
    arr = np.asarray(moments)
    if np.issubdtype(arr.dtype, np.datetime64):
        ns = arr.astype("datetime64[ns]")
        day = ns.astype("datetime64[D]")
        return day.astype(np.int64) + (ns != day.astype("datetime64[ns]"))
    return np.array([_moment_day(m) for m in arr], dtype=np.int64)


def _day_to_timestamp(days: np.ndarray) -> np.ndarray:
    out = np.asarray(days, dtype=np.int64).astype("datetime64[D]").astype("datetime64[ns]")
    out[np.asarray(days) >= _NEVER] = np.datetime64("NaT")
    return out


@dataclass
class _Ledger:
    frame: pd.DataFrame
    account: np.ndarray
    invoice_id: np.ndarray
    issued: np.ndarray
    due: np.ndarray
    paid: np.ndarray  # _NEVER while open
    cents: np.ndarray  # amounts as integers, so running sums are exact whatever the order (below 2^53)

    @classmethod
    def of(cls, invoices: pd.DataFrame) -> _Ledger:
        issued = _days(invoices["issued_on"])
        due = _days(invoices["due_on"])
        paid = _days(invoices["paid_on"])
        if (issued == _NAT).any() or (due == _NAT).any():
            raise ValueError("every invoice needs issued_on and due_on")
        # A ledger can hold a due date before the issue date or a payment before it (prepaid):
        # clamp, so the interval arithmetic below never sees a negative interval.
        due = np.maximum(due, issued)
        paid = np.where(paid == _NAT, _NEVER, np.maximum(paid, issued))
        currency = invoices["currency"] if "currency" in invoices else pd.Series("", index=invoices.index)
        account = (
            invoices.groupby([invoices["customer_id"], currency], sort=False, dropna=False).ngroup().to_numpy(np.int64)
        )
        return cls(
            frame=invoices,
            account=account,
            invoice_id=invoices["invoice_id"].to_numpy(np.int64),
            issued=issued,
            due=due,
            paid=paid,
            cents=np.rint(invoices["amount"].to_numpy(np.float64) * 100).astype(np.int64),
        )

    def last_day(self) -> int:
        dates = np.concatenate((self.issued, self.paid[self.paid < _NEVER]))
        return int(dates.max()) if len(dates) else 0


# --- timelines -------------------------------------------------------------------------------


def _key(account: np.ndarray, day: np.ndarray) -> np.ndarray:
    return account * _SPAN + (np.minimum(day, _NEVER) + _OFFSET)


class _Timeline:
    """One kind of dated event per account, sorted, with running sums of some values."""

    def __init__(self, account, day, tiebreak, **values):
        key = _key(account, day)
        self.order = np.lexsort((tiebreak, key))
        self.key = key[self.order]
        self.day = day[self.order]
        self.sums = {n: _running_halves(v[self.order]) for n, v in values.items()}

    def span(self, account, day):
        """[lo, hi): positions of the account's events dated strictly before `day`."""
        lo = np.searchsorted(self.key, account * _SPAN, "left")
        hi = np.searchsorted(self.key, _key(account, day), "left")
        return lo, hi

    def total(self, name, lo, hi):
        high, low = self.sums[name]
        return (high[hi] - high[lo]) * 4294967296.0 + (low[hi] - low[lo])

    def running_max(self, values, account):
        """Per-account running maximum along the timeline, by lifting each account above the last."""
        v = values[self.order].astype(np.int64)
        lift = (v.max() - v.min() + 1) if len(v) else 0
        acc = account[self.order]
        return np.maximum.accumulate(v + acc * lift) - acc * lift if len(v) else v


def _running_halves(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Running sums of the high and the low 32 bits of each value, kept apart: each fits 64 bits
    for fewer than 2^31 events whatever the values are (a customer's history of invoice amounts has
    no bound, and one running sum in int64 would wrap around silently); total() joins them."""
    v = values.astype(np.int64)
    return np.concatenate(([0], np.cumsum(v >> 32))), np.concatenate(([0], np.cumsum(v & 0xFFFFFFFF)))


def _ewm(values: np.ndarray, lo: np.ndarray, hi: np.ndarray, decay: float = EWM_DECAY) -> np.ndarray:
    """Exponentially weighted mean of values[lo:hi] for each query, all at once.

    One recursive filter (s_k = x_k + decay * s_(k-1)) runs over every account's timeline laid
    end to end; a query then removes what leaked in from the accounts before it, which is the
    filter state just before `lo` decayed over the query's length. Exact up to float rounding."""
    out = np.full(len(lo), np.nan)
    ok = hi > lo
    if not ok.any():
        return out
    state = lfilter([1.0], [1.0, -decay], values.astype(np.float64))
    lo, hi = lo[ok], hi[ok]
    length = (hi - lo).astype(np.float64)
    leak = np.where(lo > 0, state[np.maximum(lo - 1, 0)], 0.0) * decay**length
    out[ok] = (state[hi - 1] - leak) * (1 - decay) / (1 - decay**length)
    return out


def _window_quantiles(values, lo, hi, qs, chunk: int = 65_536) -> list[np.ndarray]:
    """Quantiles (numpy's linear rule) of values[max(lo, hi - HISTORY_WINDOW):hi] for each query,
    NaN when empty. The windows are laid out as rows of a matrix, padded with +inf, and sorted
    together; chunks bound the matrix to a few tens of megabytes."""
    width = HISTORY_WINDOW
    out = [np.full(len(lo), np.nan) for _ in qs]
    if len(values) == 0:
        return out
    start = np.maximum(lo, hi - width)
    count = hi - start
    offsets = np.arange(width)
    for a in range(0, len(lo), chunk):
        s, k = start[a : a + chunk], count[a : a + chunk]
        idx = np.minimum(s[:, None] + offsets, len(values) - 1)
        window = np.where(offsets < k[:, None], values[idx].astype(np.float64), np.inf)
        window.sort(axis=1)
        has = k > 0
        for q, o in zip(qs, out):
            pos = q * np.maximum(k - 1, 0)
            below = np.floor(pos).astype(np.int64)
            above = np.minimum(below + 1, np.maximum(k - 1, 0))
            low = np.take_along_axis(window, below[:, None], axis=1)[:, 0]
            high = np.take_along_axis(window, above[:, None], axis=1)[:, 0]
            with np.errstate(invalid="ignore"):
                o[a : a + chunk] = np.where(has, low + (pos - below) * (high - low), np.nan)
    return out


def _ratio(num, den):
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _build(led: _Ledger, rows: np.ndarray, moments: np.ndarray, late_days: int, events) -> pd.DataFrame:
    acc, m = led.account[rows], moments
    tb = led.invoice_id
    f: dict[str, np.ndarray] = {}

    # Settled history, ordered by payment day.
    settled = led.paid < _NEVER
    s_acc, s_paid = led.account[settled], led.paid[settled]
    s_late = (led.paid - led.due)[settled]
    pay = _Timeline(
        s_acc,
        s_paid,
        tb[settled],
        one=np.ones(len(s_acc), np.int64),
        late=(s_late > late_days).astype(np.int64),
        after_due=(s_late > 0).astype(np.int64),
        days_late=s_late,
        days_late_sq=s_late * s_late,
        days_to_pay=(led.paid - led.issued)[settled],
        pos_late=np.maximum(s_late, 0),
        cents=led.cents[settled],
    )
    lo, hi = pay.span(acc, m)
    n = hi - lo
    has = n > 0
    last = np.where(has, hi - 1, 0)
    late_by_pay = s_late[pay.order]
    f["n_settled"] = n
    f["late_rate"] = _ratio(pay.total("late", lo, hi), n)
    f["paid_after_due_rate"] = _ratio(pay.total("after_due", lo, hi), n)
    f["mean_days_late"] = _ratio(pay.total("days_late", lo, hi), n)
    running_max = pay.running_max(s_late, s_acc)
    f["max_days_late"] = np.where(has, running_max[last] if len(running_max) else 0, np.nan)
    f["last_days_late"] = np.where(has, late_by_pay[last] if len(late_by_pay) else 0, np.nan)
    mean_sq = _ratio(pay.total("days_late_sq", lo, hi), n)
    f["std_days_late"] = np.sqrt(np.maximum(mean_sq - f["mean_days_late"] ** 2, 0.0))
    f["ewm_days_late"] = _ewm(late_by_pay, lo, hi)
    f["mean_days_to_pay"] = _ratio(pay.total("days_to_pay", lo, hi), n)

    r_lo = np.maximum(lo, hi - RECENT)
    recent_rate = _ratio(pay.total("late", r_lo, hi), hi - r_lo)
    older_rate = _ratio(pay.total("late", lo, r_lo), r_lo - lo)
    f["recent_late_rate"] = recent_rate
    f["late_trend"] = recent_rate - older_rate  # NaN until there is an "older"
    sh_lo = np.maximum(lo, hi - SHORT)
    recent_days = _ratio(pay.total("days_late", sh_lo, hi), hi - sh_lo)
    f["recent_days_late"] = recent_days
    f["days_late_trend"] = recent_days - _ratio(pay.total("days_late", lo, sh_lo), sh_lo - lo)
    f["days_since_payment"] = np.where(has, m - (pay.day[last] if len(pay.day) else 0), np.nan)
    f["pos_mean_days_late"] = _ratio(pay.total("pos_late", lo, hi), n)
    f["pos_recent_days_late"] = _ratio(pay.total("pos_late", sh_lo, hi), hi - sh_lo)
    f["q10_days_late"], f["median_days_late"], f["q90_days_late"] = _window_quantiles(
        late_by_pay, lo, hi, (0.1, 0.5, 0.9)
    )
    (f["median_days_to_pay"],) = _window_quantiles((led.paid - led.issued)[settled][pay.order], lo, hi, (0.5,))

    # Invoices issued before the moment: relationship and usual amount.
    issue = _Timeline(led.account, led.issued, tb, one=np.ones(len(tb), np.int64), cents=led.cents)
    i_lo, i_hi = issue.span(acc, m)
    own_in = (led.issued[rows] < m).astype(np.int64)  # scoring: the invoice itself is issued already
    own_cents = led.cents[rows]
    n_inv = i_hi - i_lo - own_in
    usual = _ratio(issue.total("cents", i_lo, i_hi) - own_in * own_cents, n_inv)
    f["n_invoices"] = n_inv
    f["tenure_days"] = np.where(i_hi > i_lo, m - issue.day[np.minimum(i_lo, len(issue.day) - 1)], 0)

    # Open at m: issued before m and not paid before m. Counting "issued before" minus "paid
    # before" works because a payment never precedes its invoice (clamped above).
    own_open = own_in * (led.paid[rows] >= m)
    open_n = i_hi - i_lo - n - own_open
    open_cents = issue.total("cents", i_lo, i_hi) - pay.total("cents", lo, hi) - own_open * own_cents
    f["open_count"] = open_n
    f["open_balance_ratio"] = _ratio(open_cents, usual)

    # Overdue at m: due before m and not paid before m. Same trick on the interval (due, paid],
    # with the end clamped to the due date so early payers cancel out.
    overdue_end = np.maximum(led.paid, led.due)
    due_tl = _Timeline(led.account, led.due, tb, one=np.ones(len(tb), np.int64), cents=led.cents)
    end_mask = overdue_end < _NEVER
    end_tl = _Timeline(
        led.account[end_mask],
        overdue_end[end_mask],
        tb[end_mask],
        one=np.ones(int(end_mask.sum()), np.int64),
        cents=led.cents[end_mask],
    )
    d_lo, d_hi = due_tl.span(acc, m)
    e_lo, e_hi = end_tl.span(acc, m)
    own_overdue = (led.due[rows] < m) & (led.paid[rows] >= m)
    f["overdue_count"] = d_hi - d_lo - (e_hi - e_lo) - own_overdue
    f["overdue_balance_ratio"] = _ratio(
        due_tl.total("cents", d_lo, d_hi) - end_tl.total("cents", e_lo, e_hi) - own_overdue * own_cents, usual
    )

    f["amount"] = own_cents / 100.0
    f["amount_ratio"] = _ratio(own_cents, usual)
    f["term_days"] = led.due[rows] - led.issued[rows]
    f["due_month"] = led.due[rows].astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) % 12 + 1
    f["issue_dow"] = (led.issued[rows] + 3) % 7  # day 0, 1970-01-01, was a Thursday
    f["due_dow"] = (led.due[rows] + 3) % 7

    f.update(_event_counts(led, acc, m, events or {}))
    X = pd.DataFrame({name: np.asarray(f[name], dtype=np.float64) for name in FEATURES + PAY_FEATURES})
    X.index = led.frame.index[rows]
    return X


def _event_counts(led: _Ledger, acc: np.ndarray, m: np.ndarray, events: dict) -> dict[str, np.ndarray]:
    """Counts of conversations before the moment. Events carry a customer, not a currency, so
    they count for every account of that customer."""
    out = {k: np.zeros(len(acc)) for k in ("disputes", "promises_kept", "promises_broken", "replies")}
    customers = pd.Index(pd.unique(led.frame["customer_id"]))
    # account -> customer position, to translate event customers into the accounts that ask
    acc_customer = np.empty(led.account.max() + 1 if len(led.account) else 0, dtype=np.int64)
    acc_customer[led.account] = customers.get_indexer(led.frame["customer_id"])
    q_cust = acc_customer[acc] if len(acc) else acc

    def count(table: pd.DataFrame | None, day_col: str, mask=None) -> np.ndarray:
        if table is None or len(table) == 0:
            return np.zeros(len(acc))
        if mask is not None:
            table = table[np.asarray(mask, dtype=bool)]
        cust = customers.get_indexer(table["customer_id"])
        days = _days(table[day_col])
        ok = (cust >= 0) & (days != _NAT)
        days = days[ok]
        tl = _Timeline(cust[ok].astype(np.int64), days, np.arange(int(ok.sum())))
        lo, hi = tl.span(q_cust, m)
        return (hi - lo).astype(np.float64)

    out["disputes"] = count(events.get("disputes"), "at")
    out["replies"] = count(events.get("replies"), "at")
    promises = events.get("promises")
    if promises is not None and len(promises):
        kept = promises["kept"].astype("boolean")
        # A promise is known kept or broken once its date has passed, not when it was made.
        resolved_col = "due" if "due" in promises else "at"
        resolved = promises.assign(_resolved=promises[resolved_col].fillna(promises["at"]))
        out["promises_kept"] = count(resolved, "_resolved", kept.eq(True).fillna(False))
        out["promises_broken"] = count(resolved, "_resolved", kept.eq(False).fillna(False))
    return out


def _meta(led: _Ledger, rows: np.ndarray, moments: np.ndarray) -> pd.DataFrame:
    src = led.frame
    meta = pd.DataFrame(
        {
            "invoice_id": led.invoice_id[rows],
            "customer_id": src["customer_id"].to_numpy()[rows],
            "moment": _day_to_timestamp(moments),
            "issued_on": _day_to_timestamp(led.issued[rows]),
            "due_on": _day_to_timestamp(led.due[rows]),
            "paid_on": _day_to_timestamp(led.paid[rows]),
            "amount": led.cents[rows] / 100.0,
        },
        index=src.index[rows],
    )
    if "currency" in src:
        meta["currency"] = src["currency"].to_numpy()[rows]
    return meta
