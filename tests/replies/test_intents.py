from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from dunning.replies import intents
from dunning.replies.intents import CONFIDENT, LexiconError, classify, normalise

TABLE = yaml.safe_load((Path(__file__).parent / "phrases.yaml").read_text(encoding="utf-8"))

# Wednesday 19 March 2025, 10:15 in Paris.
WEDNESDAY = datetime(2025, 3, 19, 9, 15, tzinfo=UTC)


def read(text: str, lang: str = "en", **kwargs):
    kwargs.setdefault("received_at", WEDNESDAY)
    kwargs.setdefault("tz", "Europe/Paris")
    return classify(text, lang=lang, **kwargs)


# --------------------------------------------------------------------------- the table


def _run(entry: dict) -> tuple[intents.Understanding, list[str]]:
    case = {**TABLE["defaults"], **entry}
    got = classify(
        case["text"],
        lang=case["lang"],
        received_at=datetime.fromisoformat(case["received_at"]),
        tz=case["tz"],
        channel=case["channel"],
        currency=case["case_currency"],
    )
    wrong = []
    if got.intent != case["intent"]:
        wrong.append(f"intent {got.intent} != {case['intent']}")
    expected_date = case.get("date")
    if got.promised_date != expected_date:
        wrong.append(f"date {got.promised_date} != {expected_date}")
    expected_amount = Decimal(case["amount"]) if case.get("amount") is not None else None
    if got.amount != expected_amount:
        wrong.append(f"amount {got.amount} != {expected_amount}")
    if got.invoice_number != case.get("invoice"):
        wrong.append(f"invoice {got.invoice_number} != {case.get('invoice')}")
    if "confident" in case and got.confident != case["confident"]:
        wrong.append(f"confident {got.confident} != {case['confident']} ({got.confidence}: {got.reasons})")
    return got, wrong


def _accuracy(section: str) -> tuple[float, list[str], int]:
    """Share of entries read exactly right, the misses, and how many misses were CONFIDENT.

    A confident miss is the costly kind: the caller would have acted on it without a person.
    """
    entries = TABLE[section]
    total, right = Counter(), Counter()
    failures = []
    confident_wrong = 0
    for entry in entries:
        got, wrong = _run(entry)
        key = (entry["lang"], entry["intent"])
        total[key] += 1
        if wrong:
            confident_wrong += got.confident
            failures.append(f"{entry['text'][:60]!r} [{entry['lang']}]: {'; '.join(wrong)} matched={got.matched}")
        else:
            right[key] += 1
    overall = sum(right.values()) / len(entries)
    print(f"\n{section}: {sum(right.values())}/{len(entries)} = {overall:.1%}, confident misses: {confident_wrong}")
    for intent in intents.INTENTS:
        keys = [k for k in total if k[1] == intent]
        if keys:
            by_lang = ", ".join(f"{k[0]} {right[k]}/{total[k]}" for k in sorted(keys))
            n_right, n_total = sum(right[k] for k in keys), sum(total[k] for k in keys)
            print(f"  {intent:20} {n_right:3}/{n_total:<3} {n_right / n_total:6.1%}   ({by_lang})")
    for failure in failures:
        print("  MISS", failure)
    return overall, failures, confident_wrong


def test_table_is_big_and_covers_every_intent_in_both_languages():
    phrases = TABLE["phrases"]
    assert len(phrases) >= 80
    # The intents issue 12 added are covered by the newer table, routing.yaml (test_routing.py).
    newer = yaml.safe_load((Path(__file__).parent / "routing.yaml").read_text(encoding="utf-8"))["rows"]
    for lang in ("en", "fr"):
        seen = {p["intent"] for p in [*phrases, *newer] if p["lang"] == lang}
        assert seen == set(intents.INTENTS), (lang, set(intents.INTENTS) - seen)


def test_table_accuracy():
    overall, failures, _ = _accuracy("phrases")
    # The rules were written against this table: every entry must hold.
    assert overall == 1.0, failures


# Measured on the seventh held-out set, the first time it was run (see phrases.yaml for the earlier
# rounds: 56% to 77.5%). Below the 80% we aimed for: hand-written rules do not reach it on phrasings
# they have never seen. These are floors against regressions, not targets.
HELD_OUT_FLOOR = 0.75
# "Je peux payer la moitié maintenant ?" reads as a confident promise for today; left as measured.
HELD_OUT_CONFIDENT_MISSES = 1


def test_held_out_accuracy():
    assert len(TABLE["held_out"]) >= 10
    overall, failures, confident_wrong = _accuracy("held_out")
    assert overall >= HELD_OUT_FLOOR, failures
    # Misses must fail safe: a phrasing the rules do not know should go to a person.
    assert confident_wrong <= HELD_OUT_CONFIDENT_MISSES, failures


# --------------------------------------------------------------------------- keywords and confidence


@pytest.mark.parametrize(
    "text, lang, intent",
    [
        ("STOP", "en", "opt_out"),
        ("  stop!! ", "en", "opt_out"),
        ("Quit", "en", "opt_out"),
        ("ARRÊT", "fr", "opt_out"),
        ("arret", "fr", "opt_out"),
        ("UNSUBSCRIBE", "fr", "opt_out"),  # the carrier's keywords do not depend on the language
        ("Aide", "fr", "help"),
        ("START", "fr", "opt_in"),
        ("unstop", "en", "opt_in"),
    ],
)
def test_bare_sms_keywords_are_exact(text, lang, intent):
    got = read(text, lang)
    assert (got.intent, got.confidence) == (intent, 1.0)
    assert got.matched[0].startswith(f"{lang}/keyword/sms/")


def test_keywords_belong_to_their_channel():
    # YES re-subscribes by SMS (carrier practice); in an email it is just a word.
    assert read("Yes", channel="sms").intent == "opt_in"
    assert read("Yes", channel="email").intent == "unknown"


def test_courtesy_around_an_opt_out_keyword_keeps_it_a_keyword():
    for text, lang in [("Stop please", "en"), ("stop svp", "fr"), ("stop svp", "en"), ("STOP merci !", "fr")]:
        got = read(text, lang)
        assert (got.intent, got.confident, got.opt_out_channels) == ("opt_out", True, ("sms",)), text
    assert read("Yes please").intent != "opt_in"  # only opt-outs are read generously


def test_a_loose_opt_out_is_not_exact_but_still_stops_the_channel():
    got = read("pls leave me alone")
    assert got.intent == "opt_out" and not got.confident
    assert got.opt_out_channels == ("email", "sms")


def test_two_intents_share_the_confidence():
    got = read("Stop texting me, I already paid last week")
    assert got.intent == "opt_out"  # the protective reading leads
    assert got.confidence <= 0.5
    assert "also reads as already_paid" in got.reasons


def test_negation_is_never_a_promise():
    for text, lang in [
        ("I can't pay on Friday", "en"),
        ("I will not pay on Friday", "en"),
        ("je ne peux pas payer vendredi", "fr"),
        ("je vais pas payer vendredi", "fr"),
        ("Je ne paierai pas", "fr"),
    ]:
        assert read(text, lang).intent != "promise_to_pay", text


def test_not_before_a_date_is_a_soft_promise():
    for text, lang in [("I won't be able to pay until Friday", "en"), ("pas possible de payer avant vendredi", "fr")]:
        got = read(text, lang)
        assert (got.intent, got.promised_date) == ("promise_to_pay", date(2025, 3, 21)), text
        assert not got.confident


def test_negation_leaves_other_intents_alone():
    assert read("I can't pay it all, can we agree a payment plan?").intent == "installment_request"
    assert read("je ne peux pas payer, rappelez-moi", "fr").intent == "callback_request"
    assert read("Please don't call me, I will pay on Friday").intent == "promise_to_pay"


def test_promise_with_a_date_is_confident_and_without_one_is_not():
    dated = read("I'll pay on Friday")
    assert (dated.promised_date, dated.confidence) == (date(2025, 3, 21), CONFIDENT)
    undated = read("I'll pay soon")
    assert undated.intent == "promise_to_pay" and undated.promised_date is None
    assert undated.confidence < CONFIDENT and "promise without a date" in undated.reasons


def test_unknown_has_zero_confidence():
    got = read("ok")
    assert (got.intent, got.confidence, got.matched) == ("unknown", 0.0, ())


def test_to_dict_is_json():
    got = read("Je paierai 250,50 € vendredi pour la facture F-2024-0042", "fr")
    data = json.loads(json.dumps(got.to_dict()))
    assert data == {
        "intent": "promise_to_pay",
        "confidence": 1.0,
        "confident": True,
        "promised_date": "2025-03-21",
        "amount": "250.50",
        "currency": "EUR",
        "invoice_number": "F-2024-0042",
        "condition": None,
        "partial": False,
        "installments": None,
        "months": None,
        "return_on": None,
        "opt_out_channels": [],
        "also": [],
        "matched": data["matched"],
        "reasons": [],
    }
    assert "fr/promise_to_pay/je_paierai" in data["matched"]
    assert "fr/dates/jour" in data["matched"]


# --------------------------------------------------------------------------- dates


def promised(text: str, lang: str = "en", **kwargs) -> date | None:
    got = read(text, lang, **kwargs)
    assert got.intent == "promise_to_pay", (text, got)
    return got.promised_date


def test_weekday_is_always_the_next_one():
    # Received on a Wednesday: every weekday lies within the coming week, never in the past.
    expected = {"lundi": 24, "mardi": 25, "jeudi": 20, "vendredi": 21, "samedi": 22, "dimanche": 23}
    for day, dom in expected.items():
        assert promised(f"je paierai {day}", "fr") == date(2025, 3, dom)


def test_same_weekday_means_next_week_and_is_flagged():
    got = read("I'll pay on Wednesday")
    assert got.promised_date == date(2025, 3, 26)
    assert not got.confident


def test_weekday_abbreviations_dateparser_misses():
    assert promised("will pay thurs") == date(2025, 3, 20)
    assert promised("will pay on tues") == date(2025, 3, 25)


def test_day_of_month_rolls_over_instead_of_going_back():
    # dateparser alone returns 15 March (past) for "le 15" and a January date for "the 1st".
    assert promised("je paierai le 15", "fr") == date(2025, 4, 15)
    assert promised("je paierai le 25", "fr") == date(2025, 3, 25)
    assert promised("I'll pay on the 1st") == date(2025, 4, 1)
    assert promised("je paierai le 1er", "fr") == date(2025, 4, 1)
    assert promised("I'll pay on the 19th") == date(2025, 3, 19)  # today counts


def test_day_31_in_a_short_month_is_its_last_day_and_approximate():
    got = read("I'll pay on the 31st", received_at=datetime(2025, 4, 5, 9, tzinfo=UTC))
    assert got.promised_date == date(2025, 4, 30)
    assert not got.confident


def test_month_ends():
    assert promised("je paierai à la fin du mois", "fr") == date(2025, 3, 31)
    assert promised("je paierai fin du mois prochain", "fr") == date(2025, 4, 30)
    assert promised("I'll pay at the end of next month") == date(2025, 4, 30)
    assert promised("je paierai fin février", "fr") == date(2026, 2, 28)
    feb = datetime(2024, 2, 10, 9, tzinfo=UTC)
    assert promised("I'll pay end of month", received_at=feb) == date(2024, 2, 29)


def test_relative_days():
    assert promised("je paierai après-demain", "fr") == date(2025, 3, 21)
    assert promised("je paierai apres demain", "fr") == date(2025, 3, 21)  # dateparser says tomorrow
    assert promised("je paierai dans quinze jours", "fr") == date(2025, 4, 2)  # dateparser: nothing
    assert promised("je paierai dans huit jours", "fr") == date(2025, 3, 26)
    assert promised("je paierai d'ici 3 jours", "fr") == date(2025, 3, 22)
    assert promised("I'll pay within 2 weeks") == date(2025, 4, 2)
    assert promised("I'll pay in two days") == date(2025, 3, 21)
    assert promised("Je paierai aujourdhui", "fr") == date(2025, 3, 19)


def test_vague_periods_are_approximate():
    for text, lang, day in [
        ("I'll pay next week", "en", date(2025, 3, 28)),
        ("je paierai le mois prochain", "fr", date(2025, 4, 30)),
        ("je paierai cette semaine", "fr", date(2025, 3, 21)),
    ]:
        got = read(text, lang)
        assert got.promised_date == day, text
        assert "approximate date" in got.reasons and not got.confident


def test_explicit_dates_and_date_order():
    assert promised("I'll pay on 04/05") == date(2025, 5, 4)  # day first
    assert promised("je paierai le 12 août", "fr") == date(2025, 8, 12)
    assert promised("I'll pay on 2025-04-15") == date(2025, 4, 15)


def test_past_and_far_dates_are_not_trusted():
    past = read("I'll pay on 10/03/2025")
    assert past.promised_date is None and not past.confident
    # "15/03" four days after the 15th: dateparser moves it a year ahead; nobody means that.
    far = read("I'll pay on 15/03")
    assert far.promised_date == date(2026, 3, 15)
    assert not far.confident and any("far ahead" in r for r in far.reasons)


def test_two_different_dates_are_ambiguous():
    got = read("I'll pay on Friday or Monday")
    assert got.promised_date == date(2025, 3, 21) and not got.confident
    assert "several dates: 2025-03-21, 2025-03-24" in got.reasons


def test_a_weekday_next_to_a_date_must_fit_it():
    same = read("I'll pay on Friday 21st")
    assert same.confident and same.promised_date == date(2025, 3, 21)
    # A week ahead, named in full: the date decides, the weekday confirms it.
    assert read("I'll pay on Friday 28th March").promised_date == date(2025, 3, 28)
    assert read("je paierai vendredi 28", "fr").promised_date == date(2025, 3, 28)
    wrong = read("I'll pay on Friday 22nd")  # the 22nd is a Saturday
    assert wrong.promised_date == date(2025, 3, 22) and not wrong.confident
    assert "friday is not 2025-03-22" in wrong.reasons


def test_the_customers_day_not_utc():
    late = datetime(2025, 3, 19, 23, 30, tzinfo=UTC)  # Thursday 00:30 in Paris
    assert promised("je paierai demain", "fr", received_at=late) == date(2025, 3, 21)
    assert promised("je paierai demain", "fr", received_at=late, tz="UTC") == date(2025, 3, 20)
    # Thursday 00:30 in Paris: "jeudi" is today there, so a week later; in New York it is tomorrow.
    assert promised("je paierai jeudi", "fr", received_at=late) == date(2025, 3, 27)
    assert promised("je paierai jeudi", "fr", received_at=late, tz="America/New_York") == date(2025, 3, 20)


def test_received_at_must_be_aware():
    with pytest.raises(ValueError):
        classify("STOP", lang="en", received_at=datetime(2025, 3, 19), tz="Europe/Paris")


# --------------------------------------------------------------------------- amounts and invoices


@pytest.mark.parametrize(
    "text, lang, amount, currency",
    [
        ("I'll pay 250 EUR on Friday", "en", "250", "EUR"),
        ("I'll pay €1,250.50 on Friday", "en", "1250.50", "EUR"),
        ("je paierai 250,50 € vendredi", "fr", "250.50", "EUR"),
        ("je paierai 1 250,50€ vendredi", "fr", "1250.50", "EUR"),
        ("je paierai 1\u202f250,50\u00a0€ vendredi", "fr", "1250.50", "EUR"),  # narrow no-break space
        ("je paierai 1.250 € vendredi", "fr", "1250", "EUR"),
        ("je paierai 250.50€ vendredi", "fr", "250.50", "EUR"),  # a decimal point from an English keyboard
        ("je paierai 250 vendredi", "fr", "250", "EUR"),  # no currency: the case's
        ("I'll pay £40 on Friday", "en", "40", "GBP"),
    ],
)
def test_amounts(text, lang, amount, currency):
    got = read(text, lang, currency="EUR")
    assert (got.amount, got.currency) == (Decimal(amount), currency)


def test_dollar_sign_reads_as_the_case_currency():
    assert read("I'll pay $300 on Friday", currency="CAD").currency == "CAD"
    assert read("I'll pay $300 on Friday", currency="EUR").currency == "USD"


def test_amount_in_another_currency_is_not_trusted():
    got = read("I'll pay £300 on Friday", currency="EUR")
    assert not got.confident
    assert "amount in GBP, case in EUR" in got.reasons


def test_numbers_that_are_not_amounts():
    for text in [
        "I'll pay in 3 instalments",
        "Call me on 06 12 34 56 78",
        "I'll pay invoice 1001 on Friday",
        "I'll pay on the 15th",
        "I'll pay 2 times",
    ]:
        assert read(text).amount is None, text


@pytest.mark.parametrize(
    "text, lang, number",
    [
        ("I paid invoice 42", "en", "42"),
        ("I paid invoice no. 1001", "en", "1001"),
        ("I paid inv #1001", "en", "1001"),
        ("Ref #INV-1001 is paid", "en", "INV-1001"),
        ("INV-1001 was paid", "en", "INV-1001"),
        ("j'ai payé la facture F-2024-0042", "fr", "F-2024-0042"),
        ("j'ai payé la facture n° 42", "fr", "42"),
        ("j'ai payé la facture numéro 42", "fr", "42"),
        ("j'ai payé la facture nº 42", "fr", "42"),
    ],
)
def test_invoice_numbers(text, lang, number):
    assert read(text, lang).invoice_number == number


def test_no_invoice_number_in_ordinary_words():
    for text, lang in [("The invoice of March is paid", "en"), ("la facture de 250 € est réglée", "fr")]:
        assert read(text, lang).invoice_number is None


# --------------------------------------------------------------------------- lexicons


def test_normalise_keeps_a_map_back_to_the_original():
    text = "Je paierai le 15 Août, ÇA MARCHE"
    norm, index = normalise(text)
    assert norm == "je paierai le 15 aout, ca marche"
    start = norm.index("15 aout")
    assert text[index[start] : index[start + len("15 aout") - 1] + 1] == "15 Août"
    assert normalise("I’ll  pay")[0] == "i ll pay"


def test_language_tags_fall_back_to_the_base_language():
    assert read("STOP", "fr-CA").intent == "opt_out"
    with pytest.raises(LexiconError):
        read("STOP", "xx")


def test_every_lexicon_loads_and_has_the_same_sections():
    langs = intents.available_languages()
    assert {"en", "fr"} <= set(langs)
    for lang in langs:
        lex = intents.load_lexicon(lang)
        assert {r.intent for r in lex.rules} == set(intents.INTENTS) - {"unknown"}, lang
        assert set(lex.keywords) == set(intents.CHANNELS)


def test_a_broken_lexicon_says_where(tmp_path, monkeypatch):
    src = (intents.LEXICON_DIR / "en.yaml").read_text(encoding="utf-8")
    (tmp_path / "xx.yaml").write_text(src.replace("language: en", "language: xx").replace("{i_will}", "{i_wil}"))
    monkeypatch.setattr(intents, "LEXICON_DIR", tmp_path)
    with pytest.raises(LexiconError, match=r"xx.yaml .*i_wil"):
        intents.load_lexicon("xx")


def test_a_new_language_is_only_a_file(tmp_path, monkeypatch):
    (tmp_path / "es.yaml").write_text(
        """
language: es
keywords: {sms: {opt_out: [stop, baja]}, email: {}}
intents:
  promise_to_pay: {rules: [{id: pagare, weight: 1.0, re: '\\bpagare\\b'}]}
dates:
  - {id: dia, resolve: weekday, re: '\\b(?P<weekday>{weekday})\\b'}
  - {id: manana, resolve: dateparser, re: '\\bmanana\\b'}
weekdays: [[lunes], [martes], [miercoles], [jueves], [viernes], [sabado], [domingo]]
months: [[enero], [febrero], [marzo], [abril], [mayo], [junio], [julio], [agosto], [septiembre], [octubre], [noviembre], [diciembre]]
currencies: {EUR: ["€", euros]}
invoice_numbers: ['\\bfactura (?P<number>{ref})']
""",
        encoding="utf-8",
    )
    monkeypatch.setattr(intents, "LEXICON_DIR", tmp_path)
    assert read("BAJA", "es").intent == "opt_out"
    got = read("Pagaré el viernes la factura 7", "es")
    assert (got.intent, got.promised_date, got.invoice_number) == ("promise_to_pay", date(2025, 3, 21), "7")
    assert read("pagaré mañana", "es").promised_date == date(2025, 3, 20)


# --------------------------------------------------------------------------- properties


@settings(max_examples=150, deadline=None)
@given(
    text=st.text(max_size=80),
    lang=st.sampled_from(["en", "fr"]),
    channel=st.sampled_from(["sms", "email"]),
)
def test_any_text_gets_a_reading(text, lang, channel):
    got = read(text, lang, channel=channel)
    assert got.intent in intents.INTENTS
    assert 0.0 <= got.confidence <= 1.0
    # A runner-up promise keeps its date, for the person who reads the task.
    assert got.promised_date is None or "promise_to_pay" in (got.intent, *got.also)
    assert got.return_on is None or got.intent == "out_of_office"
    json.dumps(got.to_dict())


@settings(max_examples=60, deadline=None)
@given(
    words=st.lists(
        st.sampled_from(
            "I'll pay je paierai vendredi friday the 15th le 15 250 € facture F-1 invoice 42 "
            "can't ne peux pas STOP call me rappelez-moi already paid déjà payé in 3 instalments "
            "en 3 fois demain tomorrow next week fin du mois 15/04 # , . ! ?".split()
        ),
        max_size=12,
    ),
    lang=st.sampled_from(["en", "fr"]),
    hours=st.integers(0, 24 * 60),
)
def test_promised_dates_are_never_before_the_customers_today(words, lang, hours):
    received = WEDNESDAY + timedelta(hours=hours)
    got = read(" ".join(words), lang, received_at=received, tz="America/New_York")
    if got.promised_date is not None:
        assert got.promised_date >= received.astimezone(ZoneInfo("America/New_York")).date()
