"""The portal's words, in the customer's language (the `portal` section of
templates/strings/<lang>.yaml); a customer in a language we do not write reads English."""

from __future__ import annotations

from dunning import languages

REASONS = ("not_received", "wrong_amount", "already_paid", "not_ordered", "quality", "other")


def language(customer_language: str | None) -> str:
    lang = languages.base(customer_language)
    return lang if lang in languages.supported() else languages.FALLBACK


def locale(lang: str, country: str | None) -> str:
    """The babel locale for money and dates (languages.locale_for decides it)."""
    return str(languages.locale_for(lang, country))


class Words:
    def __init__(self, lang: str):
        self.lang = lang
        strings = languages.strings(lang)
        self._table = {
            **strings["portal"],
            "email_ch": strings["channels"]["email"],
            "sms_ch": strings["channels"]["sms"],
        }

    def __call__(self, key: str, **values: object) -> str:
        return self._table[key].format(**values) if values else self._table[key]
