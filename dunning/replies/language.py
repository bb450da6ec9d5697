"""Which lexicon reads a reply: the language it is written in when that is clear, else the
customer's.

Detection is lingua's, built for short text, with only the languages the service supports
loaded (dunning.languages; `templates check` makes sure each has a lexicon). A detector of all
lingua's 75 languages takes seconds and a gigabyte; six take a fraction of that, and each
language's model is only read the first time a reply is detected. lingua is imported on first
use, so the command line and the server start without it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from dunning import languages as langs
from dunning.replies.intents import (
    LEXICON_DIR,
    LexiconError,
    Understanding,
    available_languages,
    classify,
    load_lexicon,
    normalise,
)
from dunning.replies.mailwords import DIRECTORY as MAILWORDS_DIR

if TYPE_CHECKING:
    from dunning.channels.render import Problem

# Below these, a detector's guess on "ok" or "STOP" is noise: the customer's language reads it.
# lingua's confidences add up to 1 over the languages loaded, so a fixed floor would fall as
# languages are added; the leader must be this many times as likely as the next (0.8 against
# 0.2 when there were two).
MIN_LETTERS = 12
MIN_MARGIN = 4.0


@lru_cache(maxsize=1)
def _detector() -> tuple[Any, dict[Any, str]]:
    from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

    languages = {}
    for code in (lang for lang in langs.supported() if lang in available_languages()):
        try:
            languages[Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper()))] = code
        except (AttributeError, ValueError):
            continue  # a lexicon for a language lingua does not know: read by the customer's language only
    if len(languages) < 2:
        return None, languages
    return LanguageDetectorBuilder.from_languages(*languages).build(), languages


def detect(text: str) -> str | None:
    """The lexicon language `text` is written in, or None when too short or unclear to say."""
    if len(re.findall(r"[^\W\d_]", text)) < MIN_LETTERS:
        return None
    detector, codes = _detector()
    if detector is None:
        return None
    values = detector.compute_language_confidence_values(text[:2000])
    if not values or (len(values) > 1 and values[0].value < MIN_MARGIN * values[1].value):
        return None
    return codes.get(values[0].language)


def reading_language(text: str, customer_language: str | None) -> str:
    """The written language when detected, else the customer's (when we have its lexicon), else English."""
    found = detect(text)
    if found is not None:
        return found
    base = langs.base(customer_language)
    return base if base in available_languages() else langs.FALLBACK


def read_reply(
    text: str, *, customer_language: str | None, received_at: datetime, tz: str, channel: str, currency: str | None
) -> tuple[str, Understanding]:
    """Classify in the language the reply is written in. An opt-out is looked for in every
    lexicon as well (fail safe): "stop texting me" from a French customer is still an opt-out."""
    lang = reading_language(text, customer_language)
    u = classify(text, lang=lang, received_at=received_at, tz=tz, channel=channel, currency=currency)
    if u.opt_out_channels or u.intent == "opt_out" or _explains_its_stop(text, lang):
        return lang, u
    for other in available_languages():
        if other == lang:
            continue
        alt = classify(text, lang=other, received_at=received_at, tz=tz, channel=channel, currency=currency)
        if alt.opt_out_channels:
            return lang, replace(
                u,
                opt_out_channels=alt.opt_out_channels,
                confidence=0.0,
                matched=u.matched + alt.matched,
                reasons=u.reasons + (f"reads as an opt-out in {other}",),
            )
    return lang, u


def _explains_its_stop(text: str, lang: str) -> bool:
    """The reply's own language explains its "stop" ("Stop al RID", "Stoppen Sie die Lastschrift":
    its lexicon's `not_revocation`), so the other lexicons, which do not know the phrase and would
    read a bare "stop", are not asked. An opt-out its own lexicon reads is still acted on."""
    norm = normalise(text)[0]
    return any(p.search(norm) for p in load_lexicon(lang).opt_out.not_revocation)


def reading_problems(languages: Iterable[str]) -> list[Problem]:
    """What each language needs for its replies to be read: a lexicon that compiles and mail
    words (`templates check` asks, beside the templates' own checks)."""
    from dunning.channels.render import Problem  # Jinja2 and babel: not for reading a reply

    problems = []
    for language in languages:
        if not (MAILWORDS_DIR / f"{language}.yaml").is_file():
            problems.append(Problem("replies", "mailwords", language, "missing: quoted mail is not cut"))
        if not (LEXICON_DIR / f"{language}.yaml").is_file():
            problems.append(Problem("replies", "lexicon", language, "missing: replies are read in English"))
            continue
        try:
            load_lexicon(language)
        except LexiconError as exc:
            problems.append(Problem("replies", "lexicon", language, str(exc)))
    return problems
