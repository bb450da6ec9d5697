"""A seeded, synthetic portfolio of customers and invoices, for the demo, tests and benchmarks.

Same seed, same portfolio. Everything is drawn with numpy in whole-array operations, so 100,000
customers and a million invoices take a few seconds.

Assumptions (all of them made up, chosen to be plausible and to give a model something to find):

Customers
- country GB 35 %, US 30 %, FR 20 %, DE 15 %; currency GBP / USD / EUR; language fr for French
  customers, en otherwise; time zone of the country (US spread over four zones).
- kind business 65 % (invoices around 2,000, terms mostly 30 days, some 14/45/60),
  consumer 35 % (around 150, terms 14 or 30 days). Each customer has a usual amount; each invoice
  varies around it (log-normal, sigma 0.35), with 8 % of invoices two to four times larger.
- a third are customers at `start`, the rest join uniformly over the first 80 % of the window;
  a customer's invoices (Poisson, mean `invoices_per_customer`, at least one) are spread
  uniformly between joining and `end`.
- phone numbers are in ranges reserved for fiction (Ofcom 07700 900xxx, ARCEP 06 39 98 xx xx,
  US 555-01xx, Bundesnetzagentur 030 23125 xxx), e-mail addresses on example.com/.org/.net.

Payer types and their days late (payment date minus due date; negative is early)
- prompt 50 %: Normal(-3, 4); 3 % of invoices slip by Uniform(5, 25) extra days.
- slow 20 %: Normal(8, 7).
- chronic 10 %: 5 + Gamma(3, 12), about 41 days late on average.
- deteriorating 9 %: prompt until a turning point between 30 % and 80 % of its active window,
  then later by 0.25 day per day since (a month after the turn: about 5 days late; four
  months after: about 30), plus Normal(0, 5). The plain late rate lags this; the trend and the
  latest payments show it.
- amount-sensitive 8 %: prompt, except invoices above 1.6 times its usual amount, which come
  Normal(30, 10) days late. The late rate cannot see which invoice is the large one.
- defaulter 3 %: slow until a default day between 50 % and 90 % of its active window; invoices
  due after it are never paid.

Everyone
- season: invoices due in August or December are paid Exponential(`seasonal_delay`) days later.
- disputes: 2 % of invoices (8 % for chronic payers) are disputed Uniform(5, 30) days after
  issue and paid 20 days later than they would have been.
- reminders: at due + 7 and due + 21 days a reminder goes to every unpaid invoice; each one makes
  a payer who was going to pay later than that pay within 1 to 5 days with probability
  `reminder_effect` (defaulters ignore them).
- replies and promises: an invoice more than 20 days late gets a reply 30 % of the time,
  Uniform(8, 20) days after due, with a promise to pay within 7 days; the promise is kept when
  the payment came by then.
- payments are never before the issue date; payments on or after `end` are not in the data: the
  invoice is open (paid_on None, balance = total).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

PAYER_TYPES = {
    "prompt": 0.50,
    "slow": 0.20,
    "chronic": 0.10,
    "deteriorating": 0.09,
    "amount_sensitive": 0.08,
    "defaulter": 0.03,
}
COUNTRIES = {"GB": 0.35, "US": 0.30, "FR": 0.20, "DE": 0.15}
CURRENCY = {"GB": "GBP", "US": "USD", "FR": "EUR", "DE": "EUR"}
TIMEZONES = {
    "GB": ["Europe/London"],
    "FR": ["Europe/Paris"],
    "DE": ["Europe/Berlin"],
    "US": ["America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"],
}
_PHONE = {"GB": ("+447700900", 3), "FR": ("+3363998", 4), "DE": ("+493023125", 3)}
_US_AREAS = np.array(["202", "212", "312", "415", "617", "713"])
_FIRST = {
    "en": ["Olivia", "James", "Amelia", "Oliver", "Emily", "Harry", "Grace", "Jack", "Sophie", "Noah"],
    "fr": ["Camille", "Louis", "Léa", "Hugo", "Chloé", "Jules", "Manon", "Arthur", "Inès", "Lucas"],
    "de": ["Mia", "Ben", "Emma", "Paul", "Hannah", "Leon", "Lena", "Finn", "Marie", "Jonas"],
}
_LAST = {
    "GB": ["Smith", "Jones", "Taylor", "Brown", "Evans", "Walker", "Wright", "Hughes"],
    "US": ["Johnson", "Miller", "Davis", "Garcia", "Wilson", "Moore", "Clark", "Lewis"],
    "FR": ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand"],
    "DE": ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker"],
}
_SUFFIX = {"GB": "Ltd", "US": "Inc.", "FR": "SARL", "DE": "GmbH"}
_TRADE = ["Trading", "Logistics", "Design", "Foods", "Engineering", "Print", "Media", "Supplies"]


@dataclass
class Portfolio:
    customers: pd.DataFrame  # external_id, name, email, phone, language, country, timezone, kind, payer_type
    invoices: (
        pd.DataFrame
    )  # external_id, customer_external_id, number, currency, total_minor, issued_on, due_on, paid_on, balance_minor
    events: dict[str, pd.DataFrame] = field(default_factory=dict)  # disputes, replies, promises by customer_external_id
    start: date | None = None
    end: date | None = None

    def ledger(self) -> pd.DataFrame:
        """The invoices in the scoring input format (dunning.scoring.features)."""
        inv = self.invoices
        return pd.DataFrame(
            {
                "customer_id": self._customer_codes(inv["customer_external_id"]),
                "invoice_id": np.arange(len(inv), dtype=np.int64),
                "issued_on": inv["issued_on"],
                "due_on": inv["due_on"],
                "paid_on": inv["paid_on"],
                "amount": inv["total_minor"].to_numpy() / 100.0,
                "currency": inv["currency"],
            }
        )

    def scoring_events(self) -> dict[str, pd.DataFrame]:
        out = {}
        for name, table in self.events.items():
            t = table.drop(columns=["customer_external_id"])
            t.insert(0, "customer_id", self._customer_codes(table["customer_external_id"]))
            out[name] = t
        return out

    def invoice_records(self) -> list[dict]:
        """Plain dicts with python dates and None, the shape an accounting system would push."""
        recs = self.invoices.to_dict("records")
        for r in recs:
            for k in ("issued_on", "due_on", "paid_on"):
                r[k] = None if pd.isna(r[k]) else r[k].date()
        return recs

    def _customer_codes(self, external_ids: pd.Series) -> np.ndarray:
        return pd.Index(self.customers["external_id"]).get_indexer(external_ids).astype(np.int64)


def generate_portfolio(
    n_customers: int,
    invoices_per_customer: float,
    start: date,
    end: date,
    seed: int = 0,
    *,
    reminder_effect: float = 0.3,
    seasonal_delay: float = 5.0,
    payer_types: dict[str, float] | None = None,
) -> Portfolio:
    rng = np.random.default_rng(seed)
    d0 = int(np.datetime64(start, "D").astype(np.int64))
    d1 = int(np.datetime64(end, "D").astype(np.int64))
    if d1 <= d0:
        raise ValueError("end must be after start")
    customers, cust = _customers(rng, n_customers, d0, d1, payer_types or PAYER_TYPES)
    invoices, events = _invoices(rng, cust, invoices_per_customer, d1, reminder_effect, seasonal_delay)
    return Portfolio(customers, invoices, events, start, end)


def _ascii(text: str) -> str:
    # "chloé" -> "chloe": plenty of mail servers still refuse non-ASCII addresses (no SMTPUTF8)
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _pick(rng, options: dict[str, float], n: int) -> np.ndarray:
    keys = np.array(list(options))
    p = np.array(list(options.values()), dtype=np.float64)
    return keys[rng.choice(len(keys), size=n, p=p / p.sum())]


def _customers(rng, n: int, d0: int, d1: int, payer_types: dict[str, float]):
    country = _pick(rng, COUNTRIES, n)
    kind = np.where(rng.random(n) < 0.65, "business", "consumer")
    payer = _pick(rng, payer_types, n)
    language = np.where(country == "FR", "fr", "en")
    business = kind == "business"

    tz = np.empty(n, dtype=object)
    phone = np.empty(n, dtype=object)
    for c in COUNTRIES:
        at = np.flatnonzero(country == c)
        tz[at] = np.array(TIMEZONES[c])[rng.integers(0, len(TIMEZONES[c]), len(at))]
        if c == "US":
            area = _US_AREAS[rng.integers(0, len(_US_AREAS), len(at))]
            phone[at] = [f"+1{a}55501{x:02d}" for a, x in zip(area, rng.integers(0, 100, len(at)))]
        else:
            prefix, digits = _PHONE[c]
            phone[at] = [f"{prefix}{x:0{digits}d}" for x in rng.integers(0, 10**digits, len(at))]

    first_lang = np.where(country == "DE", "de", language)
    firsts = {k: np.array(v) for k, v in _FIRST.items()}
    lasts = {k: np.array(v) for k, v in _LAST.items()}
    first = np.empty(n, dtype=object)
    last = np.empty(n, dtype=object)
    for lang, names in firsts.items():
        at = np.flatnonzero(first_lang == lang)
        first[at] = names[rng.integers(0, len(names), len(at))]
    for c, names in lasts.items():
        at = np.flatnonzero(country == c)
        last[at] = names[rng.integers(0, len(names), len(at))]
    trade = np.array(_TRADE)[rng.integers(0, len(_TRADE), n)]
    domain = np.array(["example.com", "example.org", "example.net"])[rng.integers(0, 3, n)]
    name = [
        f"{surname} {t} {_SUFFIX[c]}" if b else f"{f} {surname}"
        for f, surname, t, c, b in zip(first, last, trade, country, business)
    ]
    email = [
        f"{'accounts' if b else _ascii(f.lower())}.{i}@{dom}"
        for i, (f, b, dom) in enumerate(zip(first, business, domain))
    ]

    # Latent traits the invoice generator needs (not part of the customer table).
    joined = np.where(rng.random(n) < 1 / 3, d0, d0 + (rng.random(n) * 0.8 * (d1 - d0)).astype(np.int64))
    usual = np.where(business, rng.lognormal(np.log(2000), 0.8, n), rng.lognormal(np.log(150), 0.6, n))
    frac_turn = rng.uniform(0.3, 0.8, n)
    frac_default = rng.uniform(0.5, 0.9, n)
    turn = joined + (frac_turn * (d1 - joined)).astype(np.int64)
    default = joined + (frac_default * (d1 - joined)).astype(np.int64)
    customers = pd.DataFrame(
        {
            "external_id": [f"CUST-{i:07d}" for i in range(n)],
            "name": name,
            "email": email,
            "phone": phone,
            "language": language,
            "country": country,
            "timezone": tz,
            "kind": kind,
            "payer_type": payer,
        }
    )
    traits = {
        "business": business,
        "payer": payer,
        "joined": joined,
        "usual": usual,
        "turn": turn,
        "default": default,
        "currency": np.vectorize(CURRENCY.get)(country),
        "external_id": customers["external_id"].to_numpy(),
    }
    return customers, traits


def _invoices(rng, cust: dict, mean_count: float, d1: int, reminder_effect: float, seasonal_delay: float):
    n_cust = len(cust["payer"])
    count = np.maximum(1, rng.poisson(mean_count, n_cust))
    owner = np.repeat(np.arange(n_cust), count)
    n = len(owner)
    joined = cust["joined"][owner]
    issued = joined + (rng.random(n) * (d1 - joined)).astype(np.int64)
    order = np.lexsort((issued, owner))  # each customer's invoices in date order
    owner, issued = owner[order], issued[order]

    business = cust["business"][owner]
    term = np.where(
        business,
        np.array([30, 30, 30, 30, 14, 45, 60])[rng.integers(0, 7, n)],
        np.array([14, 30])[rng.integers(0, 2, n)],
    )
    due = issued + term
    big = rng.random(n) < 0.08
    amount = cust["usual"][owner] * rng.lognormal(0, 0.35, n) * np.where(big, rng.uniform(2, 4, n), 1.0)
    total_minor = np.maximum(100, np.rint(amount * 100)).astype(np.int64)

    payer = cust["payer"][owner]
    late = rng.normal(-3, 4, n) + np.where(rng.random(n) < 0.03, rng.uniform(5, 25, n), 0)
    late = np.where(payer == "slow", rng.normal(8, 7, n), late)
    late = np.where(payer == "chronic", 5 + rng.gamma(3, 12, n), late)
    since_turn = np.maximum(0, due - cust["turn"][owner])
    late = np.where(payer == "deteriorating", late + 0.25 * since_turn + rng.normal(0, 5, n) * (since_turn > 0), late)
    large = amount > 1.6 * cust["usual"][owner]
    late = np.where((payer == "amount_sensitive") & large, rng.normal(30, 10, n), late)
    defaulter = payer == "defaulter"
    late = np.where(defaulter, rng.normal(8, 7, n), late)

    month = due.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) % 12 + 1
    late += np.where((month == 8) | (month == 12), rng.exponential(seasonal_delay, n), 0)

    disputed = rng.random(n) < np.where(payer == "chronic", 0.08, 0.02)
    late += 20 * disputed

    # Reminders pull some of the payments that would have come later forward.
    for day in (7, 21):
        acts = (late > day) & (rng.random(n) < reminder_effect) & ~defaulter
        late = np.where(acts, np.minimum(late, day + rng.integers(1, 6, n)), late)

    paid = due + np.rint(late).astype(np.int64)
    paid = np.maximum(paid, issued)
    never = defaulter & (due > cust["default"][owner])
    open_ = never | (paid >= d1)
    paid_days = np.where(open_, 0, paid)

    def as_dates(days):
        return pd.Series(days.astype("datetime64[D]").astype("datetime64[ns]"))

    paid_on = as_dates(paid_days)
    paid_on[open_] = pd.NaT
    year = issued.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
    ext = cust["external_id"][owner]
    invoices = pd.DataFrame(
        {
            "external_id": [f"INV-{i:08d}" for i in range(n)],
            "customer_external_id": ext,
            "number": [f"{y}-{i:07d}" for y, i in zip(year, range(1, n + 1))],
            "currency": cust["currency"][owner],
            "total_minor": total_minor,
            "issued_on": as_dates(issued),
            "due_on": as_dates(due),
            "paid_on": paid_on,
            "balance_minor": np.where(open_, total_minor, 0),
        }
    )

    # Conversations, dated; only the ones inside the window exist yet.
    d_at = issued + rng.integers(5, 31, n)
    d_keep = disputed & (d_at < d1)
    disputes = pd.DataFrame(
        {
            "customer_external_id": ext[d_keep],
            "at": as_dates(d_at[d_keep]),
            "invoice_external_id": invoices["external_id"].to_numpy()[d_keep],
        }
    )
    actual_late = np.where(open_, d1 - due, paid - due)
    r_at = due + rng.integers(8, 21, n)
    replied = (actual_late > 20) & (rng.random(n) < 0.3) & (r_at < d1)
    replies = pd.DataFrame({"customer_external_id": ext[replied], "at": as_dates(r_at[replied])})
    p_due = r_at + 7
    kept = pd.array(np.where(open_, False, paid <= p_due), dtype="boolean")
    kept[(p_due >= d1) & (open_ | (paid >= p_due))] = pd.NA  # not decided yet at the end
    promises = pd.DataFrame(
        {
            "customer_external_id": ext[replied],
            "at": as_dates(r_at[replied]),
            "due": as_dates(p_due[replied]),
            "kept": kept[replied],
        }
    )
    events = {"disputes": disputes, "replies": replies, "promises": promises}
    return invoices, {k: t.reset_index(drop=True) for k, t in events.items()}
