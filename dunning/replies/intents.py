"""What a customer meant by their reply: intent, promised date, amount, invoice number.

The rules are data (lexicon/<lang>.yaml); this module only knows how to apply them. Adding a
language means adding a YAML file.

Confidence is deliberately stingy. The caller acts automatically only at CONFIDENT and hands
everything else to a person, because a wrong automatic action (pausing a case on a promise nobody
made, opting out someone who asked a question) costs more than a task in the team's list.
A reading reaches CONFIDENT only when one intent fired on an unambiguous rule, nothing competes
with it, and whatever the action needs (the date of a promise) was read without doubt.

Time is never taken from the system clock: relative dates ("vendredi", "next week") are read from
the moment the message arrived, in the customer's time zone.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import dateparser
import yaml

INTENTS = (
    "promise_to_pay",
    "already_paid",
    "dispute",
    "installment_request",
    "opt_out",
    "opt_in",
    "help",
    "callback_request",
    "hardship",
    "out_of_office",
    "complaint",
    "question",
    "unknown",
)
CHANNELS = ("sms", "email")

CONFIDENT = 1.0

# When two intents score the same, the reading that protects the customer wins the label
# (the confidence is low anyway, so a person decides).
PRECEDENCE = (
    "opt_out",
    "out_of_office",
    "hardship",
    "dispute",
    "already_paid",
    "installment_request",
    "callback_request",
    "promise_to_pay",
    "complaint",
    "question",
    "help",
    "opt_in",
)

# Readings that contain another one without contradicting it: "I'll pay in 3 instalments" fires a
# promise rule, but what the customer asks for is a plan. These hold in every language.
# A question about who we are ("what is this? I already paid") gives way to anything more specific.
SUBSUMES = {
    "installment_request": {"promise_to_pay", "help"},
    "callback_request": {"installment_request", "help"},
    "dispute": {"help"},
    "already_paid": {"help"},
    "promise_to_pay": {"help"},
    "opt_out": {"help", "complaint"},
    # An autoreply's words are a machine's ("for urgent matters call ..."), not the customer's.
    "out_of_office": set(INTENTS) - {"opt_out", "out_of_office"},
    "hardship": {"help", "complaint", "question"},
    # "How can I pay?" reads "I can pay" too: the question is what a person answers.
    "question": {"help", "promise_to_pay"},
    "complaint": {"help"},
}

# Caps applied when the reading is incomplete or doubtful. Anything below CONFIDENT goes to a person;
# the exact values only order the task list.
CAP_PROMISE_WITHOUT_DATE = 0.6
CAP_PAST_DATE = 0.5
CAP_SEVERAL_DATES = 0.7
CAP_AMBIGUOUS_DATE = 0.8
CAP_APPROXIMATE_DATE = 0.9
CAP_FAR_DATE = 0.7
CAP_CURRENCY_MISMATCH = 0.7
CAP_SEVERAL_AMOUNTS = 0.9
CAP_SEVERAL_INVOICES = 0.9
CAP_HEDGED = 0.8
CAP_SOFTENED_NEGATION = 0.8
# "Remove the late fee and I'll pay today": a promise that depends on us is an offer, not a commitment.
CAP_CONDITIONAL = 0.5
# "I can only pay 100": part of the debt; a person agrees to it or not.
CAP_PARTIAL = 0.6
# Weight of a lexicon's `fallbacks` keywords: a suggestion for the person, never an action.
FALLBACK_KEYWORD_WEIGHT = 0.5
# A promise further out than this is more likely a misreading ("15/03" read as next year) than a plan.
FAR_DATE_DAYS = 92
# Intents where the customer states a commitment or a fact that is acted on as such: a hedge
# ("I'll try to pay Friday", "je pense avoir payé") or a doubtful amount matters for these.
COMMITMENTS = {"promise_to_pay", "already_paid"}

LEXICON_DIR = Path(__file__).parent / "lexicon"

# Amount digits, language independent: "250", "250,50", "1 250,00", "1,250.50", "1.250".
_NUMBER = r"(?<![\w.,])(?:\d{1,3}(?:[ .,']\d{3})+|\d+)(?:[.,]\d{1,2})?(?![\w]|[.,]\d)"
# A reference with at least one digit, starting and ending with a letter or digit: "42", "f-2024-0042".
_REF = r"(?=[a-z0-9/-]*\d)[a-z0-9](?:[a-z0-9/-]*[a-z0-9])?"
# Phone numbers (9+ digits) are masked so their pieces are not read as days or amounts.
_PHONE = re.compile(r"(?<![\w/])\+?\d(?:[ .-]?\d){8,}(?![\w/])")

_RESOLVERS = frozenset(
    {
        "dateparser",
        "offset",
        "weekday",
        "weekday_next_week",
        "day_of_month",
        "end_of_month",
        "end_of_next_month",
        "end_of_named_month",
        "start_of_named_month",
        "middle_of_named_month",
        "start_of_next_week",
        "start_of_next_month",
        "this_week",
        "weekend",
        "next_week",
        "next_month",
    }
)


class LexiconError(ValueError):
    pass


@dataclass(frozen=True)
class Understanding:
    intent: str
    confidence: float
    promised_date: date | None = None
    amount: Decimal | None = None
    currency: str | None = None
    invoice_number: str | None = None
    # What a promise depends on, in the customer's words ("remove the late fee"): never acted on.
    condition: str | None = None
    # The customer offers part of the debt ("half", "only 100").
    partial: bool = False
    # What an installment request asks for, when said: "in 3 instalments", "over 6 months".
    installments: int | None = None
    months: int | None = None
    # An out-of-office reply's return date: the day contact may resume after.
    return_on: date | None = None
    # Channels the reply MAY withdraw consent for. Not empty means: stop that channel now, whatever
    # else the reply says (fail safe); the label may still be another intent.
    opt_out_channels: tuple[str, ...] = ()
    # Every other intent that was read, for the person who gets the task.
    also: tuple[str, ...] = ()
    # Rule ids that fired, "<lang>/<section>/<id>", for the audit trail.
    matched: tuple[str, ...] = ()
    # Why the confidence is below CONFIDENT, in words a person can check.
    reasons: tuple[str, ...] = ()

    @property
    def confident(self) -> bool:
        return self.confidence >= CONFIDENT

    def to_dict(self) -> dict[str, Any]:
        return {
            "intent": self.intent,
            "confidence": self.confidence,
            "confident": self.confident,
            "promised_date": self.promised_date.isoformat() if self.promised_date else None,
            "amount": str(self.amount) if self.amount is not None else None,
            "currency": self.currency,
            "invoice_number": self.invoice_number,
            "condition": self.condition,
            "partial": self.partial,
            "installments": self.installments,
            "months": self.months,
            "return_on": self.return_on.isoformat() if self.return_on else None,
            "opt_out_channels": list(self.opt_out_channels),
            "also": list(self.also),
            "matched": list(self.matched),
            "reasons": list(self.reasons),
        }


# --------------------------------------------------------------------------- lexicon


@dataclass(frozen=True)
class _Rule:
    id: str
    intent: str
    regex: re.Pattern[str]
    weight: float
    # A fallback rule only counts when no ordinary rule of any intent fired: it catches phrasings
    # the precise rules miss ("money's going in on Friday") without muddying clear readings.
    fallback: bool = False


@dataclass(frozen=True)
class _Negation:
    id: str
    regex: re.Pattern[str]
    cancels: frozenset[str]
    # "I can't pay until Friday" is a promise for Friday: when `unless` also matches, the negation
    # does not cancel, it only keeps the reading below full confidence.
    unless: re.Pattern[str] | None = None


@dataclass(frozen=True)
class _DateRule:
    id: str
    regex: re.Pattern[str]
    resolve: str
    days: int = 0
    approximate: bool = False
    ambiguous: bool = False


@dataclass(frozen=True)
class Lexicon:
    language: str
    dateparser_languages: tuple[str, ...]
    date_order: str
    keywords: dict[str, dict[str, str]]  # channel -> normalised keyword -> intent
    boilerplate: tuple[re.Pattern[str], ...]
    rules: tuple[_Rule, ...]
    negations: tuple[_Negation, ...]
    hedges: tuple[re.Pattern[str], ...]
    dates: tuple[_DateRule, ...]
    dateparser_rewrites: tuple[tuple[re.Pattern[str], str], ...]
    weekdays: dict[str, int]
    months: dict[str, int]
    currency_markers: dict[str, tuple[str, ...]]  # normalised marker -> ISO codes
    amount_regex: re.Pattern[str]
    bare_amounts: tuple[re.Pattern[str], ...]
    invoice_numbers: tuple[re.Pattern[str], ...]
    opt_out: _OptOutWords
    conditions: tuple[re.Pattern[str], ...]
    partial: tuple[re.Pattern[str], ...]
    installment_counts: tuple[re.Pattern[str], ...]
    installment_months: tuple[re.Pattern[str], ...]
    numbers: dict[str, int]


@dataclass(frozen=True)
class _OptOutWords:
    """How a lexicon recognises a withdrawal of consent beyond its rules (see `opt_out` in en.yaml)."""

    fillers: re.Pattern[str] | None  # words that keep a bare keyword a keyword: "stop svp"
    revocation: re.Pattern[str] | None  # in an SMS, these words revoke consent wherever they stand
    not_revocation: tuple[re.Pattern[str], ...]  # phrases that only look like it: "end of the month"
    channels: dict[str, re.Pattern[str]]  # sms | email | calls | all -> words naming it


def available_languages() -> list[str]:
    return sorted(p.stem for p in LEXICON_DIR.glob("*.yaml"))


def load_lexicon(lang: str) -> Lexicon:
    base = re.split(r"[-_]", lang.strip().lower())[0]
    if base not in available_languages():
        raise LexiconError(f"no lexicon for language {lang!r}; have {available_languages()}")
    return _load(LEXICON_DIR / f"{base}.yaml")


@cache
def _load(path: Path) -> Lexicon:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        return _build(doc, path.stem)
    except (KeyError, TypeError, re.error, yaml.YAMLError) as exc:
        raise LexiconError(f"{path.name}: {exc}") from exc


def _build(doc: dict[str, Any], stem: str) -> Lexicon:
    lang = doc["language"]
    if lang != stem:
        raise LexiconError(f"{stem}.yaml declares language {lang!r}")

    weekdays = _name_table(doc["weekdays"], 7, "weekdays")
    months = _name_table(doc["months"], 12, "months")
    fragments = {
        "number": _NUMBER,
        "ref": _REF,
        "weekday": _alternation(weekdays),
        "month": _alternation(months),
        **{name: f"(?:{value})" for name, value in (doc.get("vocab") or {}).items()},
    }
    # {count}: a small number in digits or words ("3", "three", "trois"), for installment counts.
    numbers = {normalise(str(word))[0]: int(value) for word, value in (doc.get("numbers") or {}).items()}
    fragments["count"] = (
        "(?:" + "|".join([r"\d{1,2}", *(re.escape(w) for w in sorted(numbers, key=len, reverse=True))]) + ")"
    )

    def compile_(pattern: str, where: str) -> re.Pattern[str]:
        def expand(m: re.Match[str]) -> str:
            if m.group(1) not in fragments:
                raise LexiconError(f"{stem}.yaml {where}: unknown fragment {{{m.group(1)}}}")
            return fragments[m.group(1)]

        return re.compile(re.sub(r"\{([a-z_]+)\}", expand, pattern))

    dates = []
    for rule in doc["dates"]:
        _check(rule["resolve"] in _RESOLVERS, f"{stem}.yaml date {rule['id']}: unknown resolver")
        regex = compile_(rule["re"], f"dates/{rule['id']}")
        needs = {"weekday": "weekday", "weekday_next_week": "weekday", "day_of_month": "day"}.get(rule["resolve"])
        if rule["resolve"].endswith("_named_month"):
            needs = "month"
        _check(needs is None or needs in regex.groupindex, f"{stem}.yaml date {rule['id']}: needs (?P<{needs}>...)")
        dates.append(
            _DateRule(
                rule["id"],
                regex,
                rule["resolve"],
                days=int(rule.get("days", 0)),
                approximate=bool(rule.get("approximate", False)),
                ambiguous=bool(rule.get("ambiguous", False)),
            )
        )

    # {when}: any date phrase, for rules that need "a payment word near a date" (named groups dropped,
    # since several date patterns use the same names).
    fragments["when"] = "(?:" + "|".join(re.sub(r"\(\?P<\w+>", "(?:", d.regex.pattern) for d in dates) + ")"

    keywords: dict[str, dict[str, str]] = {}
    for channel, by_intent in doc["keywords"].items():
        _check(channel in CHANNELS, f"{stem}.yaml keywords: unknown channel {channel!r}")
        keywords[channel] = {}
        for intent, words in by_intent.items():
            _check(intent in INTENTS, f"{stem}.yaml keywords: unknown intent {intent!r}")
            for word in words:
                # YAML reads an unquoted yes/no/on as a boolean: insist on strings.
                _check(isinstance(word, str), f"{stem}.yaml keywords: {word!r} is not a string, quote it")
                keywords[channel][_bare(normalise(word)[0])] = intent

    rules = []
    for intent, spec in doc["intents"].items():
        _check(intent in INTENTS and intent != "unknown", f"{stem}.yaml: unknown intent {intent!r}")
        for rule in spec["rules"]:
            weight = float(rule["weight"])
            _check(0 < weight <= 1, f"{stem}.yaml {intent}/{rule['id']}: weight must be in (0, 1]")
            regex = compile_(rule["re"], f"{intent}/{rule['id']}")
            rules.append(_Rule(rule["id"], intent, regex, weight, bool(rule.get("fallback", False))))

    for intent, pattern in (doc.get("fallbacks") or {}).items():
        _check(intent in INTENTS and intent != "unknown", f"{stem}.yaml fallbacks: unknown intent {intent!r}")
        regex = compile_(pattern, f"fallbacks/{intent}")
        rules.append(_Rule("keyword", intent, regex, FALLBACK_KEYWORD_WEIGHT, fallback=True))

    negations = []
    for neg in doc.get("negations") or []:
        cancels = frozenset(neg["cancels"])
        _check(cancels <= set(INTENTS), f"{stem}.yaml negation {neg['id']}: unknown intent in cancels")
        unless = compile_(neg["unless"], f"negation/{neg['id']}/unless") if neg.get("unless") else None
        negations.append(_Negation(neg["id"], compile_(neg["re"], f"negation/{neg['id']}"), cancels, unless))

    markers: dict[str, tuple[str, ...]] = {}
    for code, spellings in doc["currencies"].items():
        for spelling in spellings:
            key = normalise(str(spelling))[0]
            markers[key] = markers.get(key, ()) + (code,)
    marker_alt = "|".join(
        re.escape(m) + (r"\b" if m[-1].isalnum() else "") for m in sorted(markers, key=len, reverse=True)
    )
    amount_regex = re.compile(
        rf"(?:(?P<pre>{marker_alt})\s?(?P<n1>{_NUMBER})|(?P<n2>{_NUMBER})\s?(?P<post>{marker_alt}))"
    )

    spec = doc.get("opt_out") or {}
    opt_out_words = _OptOutWords(
        fillers=compile_(spec["fillers"], "opt_out/fillers") if spec.get("fillers") else None,
        revocation=compile_(spec["revocation"], "opt_out/revocation") if spec.get("revocation") else None,
        not_revocation=tuple(compile_(p, "opt_out/not_revocation") for p in spec.get("not_revocation") or []),
        channels={name: compile_(p, f"opt_out/channels/{name}") for name, p in (spec.get("channels") or {}).items()},
    )
    _check(
        set(opt_out_words.channels) <= {"sms", "email", "calls", "all"},
        f"{stem}.yaml opt_out/channels: only sms, email, calls, all",
    )
    conditions = tuple(compile_(p, "conditions") for p in doc.get("conditions") or [])
    for pattern in conditions:
        _check("condition" in pattern.groupindex, f"{stem}.yaml conditions: needs (?P<condition>...)")
    plans = doc.get("installments") or {}
    counts = tuple(compile_(p, "installments/count") for p in plans.get("count") or [])
    months_re = tuple(compile_(p, "installments/months") for p in plans.get("months") or [])
    for pattern in counts + months_re:
        _check("n" in pattern.groupindex, f"{stem}.yaml installments: needs (?P<n>...)")

    bare_amounts = tuple(compile_(p, "bare_amounts") for p in doc.get("bare_amounts") or [])
    invoice_numbers = tuple(compile_(p, "invoice_numbers") for p in doc["invoice_numbers"])
    for pattern in bare_amounts:
        _check("amount" in pattern.groupindex, f"{stem}.yaml bare_amounts: needs (?P<amount>...)")
    for pattern in invoice_numbers:
        _check("number" in pattern.groupindex, f"{stem}.yaml invoice_numbers: needs (?P<number>...)")

    return Lexicon(
        language=lang,
        dateparser_languages=tuple(doc.get("dateparser_languages") or [lang]),
        date_order=doc.get("date_order", "DMY"),
        keywords=keywords,
        boilerplate=tuple(compile_(p, "boilerplate") for p in doc.get("boilerplate") or []),
        rules=tuple(rules),
        negations=tuple(negations),
        hedges=tuple(compile_(p, "hedges") for p in doc.get("hedges") or []),
        dates=tuple(dates),
        dateparser_rewrites=tuple(
            (re.compile(pattern, re.IGNORECASE), replacement)
            for pattern, replacement in doc.get("dateparser_rewrites") or []
        ),
        weekdays=weekdays,
        months=months,
        currency_markers=markers,
        amount_regex=amount_regex,
        bare_amounts=bare_amounts,
        invoice_numbers=invoice_numbers,
        opt_out=opt_out_words,
        conditions=conditions,
        partial=tuple(compile_(p, "partial") for p in doc.get("partial") or []),
        installment_counts=counts,
        installment_months=months_re,
        numbers=numbers,
    )


def _name_table(entries: list[list[str]], size: int, what: str) -> dict[str, int]:
    _check(len(entries) == size, f"{what}: expected {size} entries, got {len(entries)}")
    return {normalise(str(name))[0]: index for index, names in enumerate(entries) for name in names}


def _alternation(names: dict[str, int]) -> str:
    # Longest first, so "thursday" is preferred to "thu".
    return "(?:" + "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)) + ")"


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise LexiconError(message)


# --------------------------------------------------------------------------- text


# Apostrophes become spaces, so "i'll" reads "i ll" and "j'ai" reads "j ai": patterns then need no
# quote characters, and write "i ?ll" to also catch the "ill" / "jai" typed on phones.
_FOLD = {
    "'": " ",
    "\u2019": " ",
    "\u2018": " ",
    "\u02bc": " ",
    "`": " ",
    "\u00b4": " ",
    "\u201c": '"',
    "\u201d": '"',
    "\u00ab": '"',
    "\u00bb": '"',
    "\u2010": "-",
    "\u2011": "-",
    "\u2013": "-",
    "\u2014": "-",
    "\u0153": "oe",
    "\u0152": "oe",
    "\u00e6": "ae",
    "\u00c6": "ae",
}


def normalise(text: str) -> tuple[str, list[int]]:
    """Lower case, accents folded, apostrophes turned into spaces, whitespace collapsed.

    Also returns, for each character of the result, the index of the character of `text` it came
    from, so a match on the folded text can be cut out of the original (dates are parsed from the
    original, where "août" still has its accent).
    """
    out: list[str] = []
    index: list[int] = []
    for i, ch in enumerate(text):
        folded = _FOLD.get(ch)
        if folded is None:
            decomposed = unicodedata.normalize("NFKD", ch)
            folded = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
        for c in folded:
            if c.isspace():
                if not out or out[-1] == " ":
                    continue
                c = " "
            out.append(c)
            index.append(i)
    while out and out[-1] == " ":
        out.pop()
        index.pop()
    return "".join(out), index


def _bare(normalised: str) -> str:
    # A whole-message keyword survives punctuation and emojis around it: "Stop.", "STOP 🛑".
    return re.sub(r"^[\W_]+|[\W_]+$", "", normalised)


def _mask(text: str, start: int, end: int) -> str:
    return text[:start] + " " * (end - start) + text[end:]


# --------------------------------------------------------------------------- classify


def classify(
    text: str,
    *,
    lang: str,
    received_at: datetime,
    tz: str,
    channel: str = "sms",
    currency: str | None = None,
) -> Understanding:
    if received_at.tzinfo is None or received_at.utcoffset() is None:
        raise ValueError("received_at must be timezone-aware")
    if channel not in CHANNELS:
        raise ValueError(f"channel must be one of {CHANNELS}, not {channel!r}")
    lex = load_lexicon(lang)
    norm, index = normalise(text)
    for pattern in lex.boilerplate:
        for m in pattern.finditer(norm):
            norm = _mask(norm, m.start(), m.end())

    keyword_intent, bare = _keyword(lex, norm, channel)
    if keyword_intent:
        channels = _named_channels(lex, norm, channel) if keyword_intent == "opt_out" else ()
        return Understanding(
            keyword_intent, 1.0, opt_out_channels=channels, matched=(f"{lex.language}/keyword/{channel}/{bare}",)
        )

    scores, matched, softened = _score(lex, norm)
    opt_out_channels = _withdrawn_channels(lex, norm, channel, scores, matched)
    ranked = sorted(scores, key=lambda i: (-scores[i], PRECEDENCE.index(i)))
    # Nothing recognised is "unknown" at zero confidence; amounts and invoice numbers are still read
    # for the person who gets the task.
    intent = ranked[0] if ranked else "unknown"
    confidence = scores.get(intent, 0.0)
    reasons: list[str] = []
    if len(ranked) > 1:
        runner_up = ranked[1]
        # A competing reading takes up to half the confidence away.
        confidence *= 1 - scores[runner_up] / 2
        reasons.append(f"also reads as {runner_up}")
    elif 0 < confidence < CONFIDENT:
        reasons.append("only a loose match")

    work = norm
    caps: list[float] = []
    if intent in softened:
        caps.append(CAP_SOFTENED_NEGATION)
        reasons.append('read through a negation ("not before ...")')

    amounts, work = _find_amounts(lex, work, currency)
    invoices, work = _find_invoices(lex, work, text, index)
    for m in _PHONE.finditer(work):
        work = _mask(work, m.start(), m.end())

    promised: date | None = None
    return_on: date | None = None
    local = received_at.astimezone(ZoneInfo(tz))
    if "promise_to_pay" in ranked:
        # Read for a runner-up promise too: the person who gets the task starts from its date.
        hits, work = _find_dates(lex, work, text, index, local)
        matched.extend(f"{lex.language}/dates/{h.rule}" for h in hits)
        promised = _judge_dates(hits, local.date(), caps if intent == "promise_to_pay" else [], reasons)
    elif intent == "out_of_office":
        hits, work = _find_dates(lex, work, text, index, local)
        matched.extend(f"{lex.language}/dates/{h.rule}" for h in hits)
        return_on = _return_date(hits, local.date())

    if not amounts:
        amounts = _find_bare_amounts(lex, work, currency)
        if amounts:
            matched.append(f"{lex.language}/bare_amounts")
    amount, amount_currency = amounts[0] if amounts else (None, None)
    if intent in COMMITMENTS and amounts:
        if len({a for a, _ in amounts}) > 1:
            caps.append(CAP_SEVERAL_AMOUNTS)
            reasons.append("several amounts mentioned")
        if currency and amount_currency and amount_currency != currency.upper():
            caps.append(CAP_CURRENCY_MISMATCH)
            reasons.append(f"amount in {amount_currency}, case in {currency.upper()}")
    if intent in COMMITMENTS:
        hedges = [m.group(0) for m in (h.search(norm) for h in lex.hedges) if m]
        if hedges:
            caps.append(CAP_HEDGED)
            reasons.append("hedged: " + ", ".join(repr(h) for h in hedges))
    condition = partial = None
    if "promise_to_pay" in ranked:
        condition = _condition(lex, norm, text, index)
        if condition:
            caps.append(CAP_CONDITIONAL)
            reasons.append(f"on a condition: {condition!r}")
        partial = next((m.group(0) for m in (p.search(norm) for p in lex.partial) if m), None)
        if partial:
            caps.append(CAP_PARTIAL)
            reasons.append(f"part of the debt: {partial!r}")
    installments = months = None
    if intent in ("installment_request", "hardship"):
        installments = _count(lex, lex.installment_counts, norm)
        months = _count(lex, lex.installment_months, norm)
    if len(set(invoices)) > 1:
        caps.append(CAP_SEVERAL_INVOICES)
        reasons.append("several invoice numbers mentioned")
    if opt_out_channels and intent != "opt_out":
        caps.append(0.0)  # whatever else it says, a person reads a reply that may be an opt-out
        reasons.append("may also withdraw consent for " + ", ".join(opt_out_channels))

    confidence = round(min([confidence, *caps]), 2)
    return Understanding(
        intent=intent,
        confidence=confidence,
        promised_date=promised,
        amount=amount,
        currency=amount_currency,
        invoice_number=invoices[0] if invoices else None,
        condition=condition,
        partial=bool(partial),
        installments=installments,
        months=months,
        return_on=return_on,
        opt_out_channels=opt_out_channels,
        also=tuple(ranked[1:]),
        matched=tuple(matched),
        reasons=tuple(reasons),
    )


def out_of_office(
    is_autoreply: bool, date_text: str | None, *, lang: str, received_at: datetime, tz: str
) -> Understanding | None:
    """An autoreply (told by its headers) read for its return date only: its words are a
    machine's, so nothing else in it is acted on. None when it is not an autoreply."""
    if not is_autoreply:
        return None
    lex = load_lexicon(lang)
    text = date_text or ""
    norm, index = normalise(text)
    for m in _PHONE.finditer(norm):  # "call 06 12 34 56 78" holds no day
        norm = _mask(norm, m.start(), m.end())
    hits, _ = _find_dates(lex, norm, text, index, received_at.astimezone(ZoneInfo(tz)))
    back = _return_date(hits, received_at.astimezone(ZoneInfo(tz)).date())
    return Understanding(
        "out_of_office", 1.0, return_on=back, matched=("autoreply", *(f"{lex.language}/dates/{h.rule}" for h in hits))
    )


def _keyword(lex: Lexicon, norm: str, channel: str) -> tuple[str | None, str]:
    """A whole-message keyword. Courtesy words around an opt-out keyword keep it one: "stop svp",
    "STOP please!!" are as clear as "STOP" (the carrier only knows the bare word, we know both)."""
    keywords = lex.keywords.get(channel, {})
    bare = _bare(norm)
    if bare in keywords:
        return keywords[bare], bare
    fillers = lex.opt_out.fillers
    if fillers is not None:
        stripped = _bare(re.sub(r"\s+", " ", fillers.sub(" ", norm)).strip())
        if keywords.get(stripped) == "opt_out":
            return "opt_out", stripped
    return None, bare


def _withdrawn_channels(
    lex: Lexicon, norm: str, channel: str, scores: dict[str, float], matched: list[str]
) -> tuple[str, ...]:
    """The channels a reply may opt out of, read generously (fail safe): any opt-out rule, the
    fallback words even when another intent fired, and in an SMS the revocation words of FCC 24-24
    anywhere in the message. The channels are the ones named ("stop texting me" by email is SMS),
    both for "stop contacting me", else the one the reply came by."""
    words = lex.opt_out
    text = norm
    for pattern in words.not_revocation:
        text = pattern.sub(lambda m: " " * len(m.group(0)), text)
    found = "opt_out" in scores or any(r.intent == "opt_out" and r.regex.search(text) for r in lex.rules)
    if not found and channel == "sms" and words.revocation is not None and words.revocation.search(text):
        found = True
        matched.append(f"{lex.language}/opt_out/revocation")
    if not found:
        return ()
    if "opt_out" not in scores:
        scores["opt_out"] = FALLBACK_KEYWORD_WEIGHT
    return _named_channels(lex, text, channel)


def _named_channels(lex: Lexicon, text: str, channel: str) -> tuple[str, ...]:
    words = lex.opt_out.channels
    named = tuple(c for c in ("email", "sms") if c in words and words[c].search(text))
    if named:
        return named
    if "all" in words and words["all"].search(text):
        return ("email", "sms")
    if "calls" in words and words["calls"].search(text):
        return ()  # "stop calling me": calls are made by people, who read the task
    return (channel,)


def _condition(lex: Lexicon, norm: str, text: str, index: list[int]) -> str | None:
    for pattern in lex.conditions:
        m = pattern.search(norm)
        if m and m.group("condition").strip():
            start, end = m.span("condition")
            return _original(text, index, start, end).strip(" ,.;!?")
    return None


def _count(lex: Lexicon, patterns: tuple[re.Pattern[str], ...], norm: str) -> int | None:
    for pattern in patterns:
        m = pattern.search(norm)
        if m:
            word = m.group("n")
            value = int(word) if word.isdigit() else lex.numbers.get(word)
            if value and 1 < value <= 60:
                return value
    return None


def _score(lex: Lexicon, norm: str) -> tuple[dict[str, float], list[str], set[str]]:
    matched: list[str] = []
    cancelled: set[str] = set()
    softened: set[str] = set()
    for neg in lex.negations:
        if neg.regex.search(norm):
            if neg.unless is not None and neg.unless.search(norm):
                softened |= neg.cancels
                matched.append(f"{lex.language}/negations/{neg.id}/unless")
            else:
                cancelled |= neg.cancels
                matched.append(f"{lex.language}/negations/{neg.id}")
    scores: dict[str, float] = {}
    for fallback in (False, True):
        for rule in lex.rules:
            if rule.fallback != fallback or rule.intent in cancelled or not rule.regex.search(norm):
                continue
            matched.append(f"{lex.language}/{rule.intent}/{rule.id}")
            scores[rule.intent] = max(scores.get(rule.intent, 0.0), rule.weight)
        if scores:
            break
    for intent in list(scores):
        if any(intent in SUBSUMES.get(other, ()) for other in scores):
            del scores[intent]
    return scores, matched, softened - cancelled


def _original(text: str, index: list[int], start: int, end: int) -> str:
    return text[index[start] : index[end - 1] + 1]


def _parse_decimal(digits: str) -> Decimal | None:
    # Currencies have at most two decimals, so a separator followed by one or two digits at the end
    # is the decimal point whatever the language ("250.50 €" from a French phone is common), and
    # any other separator groups thousands.
    digits = digits.replace(" ", "").replace("'", "")
    m = re.fullmatch(r"([\d.,]*?)(?:[.,](\d{1,2}))?", digits)
    if not m:
        return None
    whole = re.sub(r"[.,]", "", m.group(1)) or "0"
    try:
        return Decimal(f"{whole}.{m.group(2)}" if m.group(2) else whole)
    except InvalidOperation:
        return None


def _find_amounts(lex: Lexicon, work: str, currency: str | None) -> tuple[list[tuple[Decimal, str | None]], str]:
    found = []
    for m in lex.amount_regex.finditer(work):
        marker = m.group("pre") or m.group("post")
        number = m.group("n1") or m.group("n2")
        value = _parse_decimal(number)
        if value is None:
            continue
        codes = lex.currency_markers[marker]
        # "$" and "dollars" name several currencies; the case's own one is the likely reading.
        code = currency.upper() if currency and currency.upper() in codes else codes[0]
        found.append((value, code))
        work = _mask(work, m.start(), m.end())
    return found, work


def _find_bare_amounts(lex: Lexicon, work: str, currency: str | None) -> list[tuple[Decimal, str | None]]:
    found = []
    for pattern in lex.bare_amounts:
        for m in pattern.finditer(work):
            value = _parse_decimal(m.group("amount"))
            if value is not None:
                found.append((m.start("amount"), value))
    return [(value, currency.upper() if currency else None) for _, value in sorted(found)]


def _find_invoices(lex: Lexicon, work: str, text: str, index: list[int]) -> tuple[list[str], str]:
    spans = []
    for pattern in lex.invoice_numbers:
        for m in pattern.finditer(work):
            spans.append((m.start("number"), m.end("number")))
    chosen = _non_overlapping(spans)
    numbers = [_original(text, index, s, e) for s, e in chosen]
    for s, e in chosen:
        work = _mask(work, s, e)
    return numbers, work


def _non_overlapping(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    chosen: list[tuple[int, int]] = []
    for s, e in sorted(set(spans), key=lambda se: (se[0], -(se[1] - se[0]))):
        if not chosen or s >= chosen[-1][1]:
            chosen.append((s, e))
    return chosen


# --------------------------------------------------------------------------- dates


@dataclass(frozen=True)
class _DateHit:
    rule: str
    day: date | None
    approximate: bool = False
    ambiguous: bool = False
    note: str | None = None


def _find_dates(lex: Lexicon, work: str, text: str, index: list[int], local: datetime) -> tuple[list[_DateHit], str]:
    candidates = []
    for order, rule in enumerate(lex.dates):
        for m in rule.regex.finditer(work):
            if m.end() > m.start():
                candidates.append((m.start(), -(m.end() - m.start()), order, rule, m))
    # Longest match wins where phrases overlap: "24th March" over "24th", "fin du mois prochain"
    # over "mois prochain"; the earlier rule in the file breaks ties.
    taken: list[tuple[int, int]] = []
    hits = []
    for start, neg_len, _, rule, m in sorted(candidates, key=lambda c: (c[1], c[2], c[0])):
        end = start - neg_len
        if any(start < e and s < end for s, e in taken):
            continue
        taken.append((start, end))
        hit = _resolve(lex, rule, m, _original(text, index, start, end), local)
        named = m.groupdict().get("weekday")
        if named and hit.day and hit.day.weekday() != lex.weekdays[named]:
            hit = _DateHit(hit.rule, hit.day, hit.approximate, True, f"{named} is not {hit.day.isoformat()}")
        hits.append((start, hit))
    for s, e in taken:
        work = _mask(work, s, e)
    return [hit for _, hit in sorted(hits, key=lambda h: h[0])], work


def _resolve(lex: Lexicon, rule: _DateRule, m: re.Match[str], original: str, local: datetime) -> _DateHit:
    today = local.date()

    def hit(day: date | None, note: str | None = None) -> _DateHit:
        return _DateHit(rule.id, day, approximate=rule.approximate, ambiguous=rule.ambiguous, note=note)

    kind = rule.resolve
    if kind == "offset":
        return hit(today + timedelta(days=rule.days))
    if kind == "weekday":
        # Never handed to dateparser: it misses abbreviations ("thurs") and "vendredi prochain".
        # A weekday always means the next such day; said on that very day it means a week later,
        # which is a guess, so it is flagged.
        target = lex.weekdays[m.group("weekday")]
        ahead = (target - today.weekday()) % 7
        if ahead == 0:
            return _DateHit(rule.id, today + timedelta(days=7), ambiguous=True, note="weekday named is today")
        return hit(today + timedelta(days=ahead))
    if kind == "weekday_next_week":
        # "Next Thursday" said on a Wednesday: most people mean the Thursday of next week, since
        # tomorrow would be "tomorrow". Read as that day in the next Monday-to-Sunday week.
        target = lex.weekdays[m.group("weekday")]
        return hit(today - timedelta(days=today.weekday()) + timedelta(days=7 + target))
    if kind == "day_of_month":
        # dateparser returns a past day for "le 15" on the 19th despite PREFER_DATES_FROM=future, and
        # reads "the 1st" as a day in January: the next such day of the month is computed here.
        day = int(re.sub(r"\D", "", m.group("day")))
        if not 1 <= day <= 31:
            return hit(None, note=f"no day {day}")
        year, month = today.year, today.month
        if day < today.day:
            year, month = _next_month(year, month)
        last = calendar.monthrange(year, month)[1]
        if day > last:
            return _DateHit(rule.id, date(year, month, last), approximate=True, note=f"no day {day} in that month")
        return hit(date(year, month, day))
    if kind == "end_of_month":
        return hit(_month_end(today.year, today.month))
    if kind == "end_of_next_month":
        return hit(_month_end(*_next_month(today.year, today.month)))
    if kind.endswith("_named_month"):
        # The first such day on or after today: "fin avril" in December is next April.
        month = lex.months[m.group("month")] + 1
        for year in (today.year, today.year + 1):
            day = {"start": 1, "middle": 15, "end": calendar.monthrange(year, month)[1]}[kind.split("_")[0]]
            if date(year, month, day) >= today:
                return hit(date(year, month, day))
    # A week is read as a working week: "next week" means by its Friday, "early next week" its Monday.
    monday = today - timedelta(days=today.weekday())
    if kind == "this_week":
        return hit(max(monday + timedelta(days=4), today))
    if kind == "next_week":
        return hit(monday + timedelta(days=7 + 4))
    if kind == "weekend":
        return hit(monday + timedelta(days=6))
    if kind == "start_of_next_week":
        return hit(monday + timedelta(days=7))
    if kind == "next_month":
        return hit(_month_end(*_next_month(today.year, today.month)))
    if kind == "start_of_next_month":
        return hit(date(*_next_month(today.year, today.month), 1))
    return _dateparser(lex, rule, original, local)


def _dateparser(lex: Lexicon, rule: _DateRule, original: str, local: datetime) -> _DateHit:
    phrase = original
    for pattern, replacement in lex.dateparser_rewrites:
        phrase = pattern.sub(replacement, phrase)
    parsed = dateparser.parse(
        phrase,
        languages=list(lex.dateparser_languages),
        settings={
            "PREFER_DATES_FROM": "future",
            # dateparser reads RELATIVE_BASE as wall-clock time and ignores its tzinfo: an aware UTC
            # base at 23:30 makes "aujourd'hui" the UTC day, not the customer's. So it gets the
            # customer's local wall clock, naive.
            "RELATIVE_BASE": local.replace(tzinfo=None),
            "TIMEZONE": str(local.tzinfo),
            "RETURN_AS_TIMEZONE_AWARE": False,
            "DATE_ORDER": lex.date_order,
        },
    )
    if parsed is None:
        return _DateHit(rule.id, None, note=f"could not read {original!r}")
    return _DateHit(rule.id, parsed.date(), approximate=rule.approximate, ambiguous=rule.ambiguous)


def _judge_dates(hits: list[_DateHit], today: date, caps: list[float], reasons: list[str]) -> date | None:
    days = sorted({h.day for h in hits if h.day is not None})
    for h in hits:
        if h.note:
            reasons.append(h.note)
    if not days:
        caps.append(CAP_PROMISE_WITHOUT_DATE)
        reasons.append("promise without a date")
        return None
    if len(days) > 1:
        caps.append(CAP_SEVERAL_DATES)
        reasons.append("several dates: " + ", ".join(d.isoformat() for d in days))
    chosen = next(h.day for h in hits if h.day is not None)
    if chosen < today:
        # A promise cannot be in the past; most often an explicit year that already went by.
        caps.append(CAP_PAST_DATE)
        reasons.append(f"date {chosen.isoformat()} is in the past")
        return None
    if any(h.ambiguous for h in hits):
        caps.append(CAP_AMBIGUOUS_DATE)
        reasons.append("date could mean another week")
    if any(h.approximate for h in hits):
        caps.append(CAP_APPROXIMATE_DATE)
        reasons.append("approximate date")
    if (chosen - today).days > FAR_DATE_DAYS:
        caps.append(CAP_FAR_DATE)
        reasons.append(f"date {chosen.isoformat()} is far ahead")
    return chosen


def _return_date(hits: list[_DateHit], today: date) -> date | None:
    """An out-of-office reply's return: the last day it names ("away from 17 to 27 March", "until
    11 January, back on the 12th"), if it is not in the past."""
    days = [h.day for h in hits if h.day is not None]
    return days[-1] if days and days[-1] >= today else None


def _next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])
