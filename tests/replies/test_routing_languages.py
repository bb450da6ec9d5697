"""The phrasing tables of German, Spanish, Italian and Dutch (routing_<lang>.yaml), read and routed
as the service does. A wrong automatic action or a missed opt-out fails outright; the rest is
measured and printed per language (`pytest tests/replies/test_routing_languages.py -s`)."""

from __future__ import annotations

import pytest

from dunning import languages
from dunning.replies import intents
from tests.replies.routing_table import rows, run

LANGUAGES = ("de", "es", "it", "nl")
# Written before the lexicons were tuned to them; what the first runs taught went into the lexicons
# and what is left is printed below. A language under this fraction fails.
ACCURACY_FLOOR = 0.9

RESULTS = {lang: [run(row) for row in rows(f"routing_{lang}.yaml")] for lang in LANGUAGES}


def test_every_supported_language_has_a_table():
    assert set(languages.supported()) - {"en", "fr"} == set(LANGUAGES)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_table_is_big_varied_and_in_its_language(lang):
    table = RESULTS[lang]
    texts = {r.row["text"].strip().lower() for r in table}
    assert len(texts) == len(table) >= 60
    assert {r.row["lang"] for r in table} == {lang}
    assert {r.row["intent"] for r in table} >= set(intents.INTENTS) - {"out_of_office"}
    assert {r.row["route"] for r in table} >= {"acts", "task", "opt-out"}
    assert any(r.row["channel"] == "email" for r in table) and any("condition" in r.row for r in table)
    assert any("installments" in r.row for r in table) and any("months" in r.row for r in table)
    assert any(r.row.get("customer_lang") not in (None, lang) for r in table)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_no_wrong_automatic_action_and_no_missed_opt_out(lang):
    wrong = [f"{r.row['text'][:70]!r}: {r.wrong_action}" for r in RESULTS[lang] if r.wrong_action]
    assert not wrong, "\n".join(wrong)


def test_accuracy_per_language():
    print()
    for lang in LANGUAGES:
        table = RESULTS[lang]
        right = sum(not r.misread for r in table)
        print(f"routing_{lang}.yaml: {right}/{len(table)} = {right / len(table):.1%} read and routed right")
        for r in table:
            if r.misread:
                print(f"  MISS {r.row['text'][:60]!r}: {'; '.join(r.misread)}")
    low = {
        lang: f"{sum(not r.misread for r in t)}/{len(t)}"
        for lang, t in RESULTS.items()
        if sum(not r.misread for r in t) / len(t) < ACCURACY_FLOOR
    }
    assert not low, low
