"""The languages the service writes and reads, and the locale a customer's texts are formatted in.

A language is supported when it has a folder of customer templates (templates/emails/<lang>/,
sms/<lang>/ or letters/<lang>/); nothing in the code names one. `templates check` then insists
that it has everything a customer can meet: every template, the fee wording
(templates/fees/<lang>.yaml), the short texts (templates/strings/<lang>.yaml: portal, unsubscribe
page, SMS answers, the opt-out line), the reply lexicon (replies/lexicon/<lang>.yaml) and the mail
words (replies/mailwords/<lang>.yaml). The same list validates a customer's `language`, picks the
portal's words and the languages reply detection tells apart.

The locale is decided here and only here: the customer's language with their country
(de + CH -> de_CH, nl + BE -> nl_BE, en + FR -> en_FR), or the region the language was given
with when there is no country.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from babel import Locale, UnknownLocaleError

TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "templates"
FALLBACK = "en"
CHANNEL_FOLDERS = {"email": "emails", "sms": "sms", "letter": "letters"}
STRINGS_DIR = TEMPLATES_DIR / "strings"


def base(language: str | None) -> str:
    """ "de-CH", "de_ch", " DE " -> "de"; nothing -> English."""
    return re.split(r"[-_]", (language or FALLBACK).strip().lower() or FALLBACK)[0]


@lru_cache(maxsize=8)
def supported(root: Path = TEMPLATES_DIR) -> tuple[str, ...]:
    """Every language with a template folder under `root`, English first."""
    found = {
        p.name
        for folder in CHANNEL_FOLDERS.values()
        if (root / folder).is_dir()
        for p in (root / folder).iterdir()
        if p.is_dir()
    }
    return (FALLBACK, *sorted(found - {FALLBACK}))


def is_supported(language: str | None) -> bool:
    return base(language) in supported()


def locale_for(language: str | None, country: str | None) -> Locale:
    """The babel locale of a customer's texts: language and country when babel knows the pair,
    else the language's own region ("fr_CA"), else the language alone."""
    lang = base(language)
    region = re.split(r"[-_]", (language or "").strip())[1:2]
    for candidate in (country, region[0] if region else None):
        if candidate:
            try:
                return Locale.parse(f"{lang}_{candidate.upper()}")
            except (UnknownLocaleError, ValueError):
                pass
    return Locale.parse(lang)


@lru_cache(maxsize=16)
def _strings(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def strings(language: str | None) -> dict[str, Any]:
    """The short texts of one language (templates/strings/<lang>.yaml), English when it has none."""
    lang = base(language)
    path = STRINGS_DIR / f"{lang}.yaml"
    return _strings(path if path.is_file() else STRINGS_DIR / f"{FALLBACK}.yaml")
