"""Statutory fee lines in the customer's words: "du 1er juillet 2025 au 14 octobre 2025 :
10 000,00 € × 12,15 % × 106/365 jours = 352,85 € (taux BCE 2,15 % au 1er juillet 2025 + 10 points)".

The wording is data, one file per language under templates/fees/<lang>.yaml; money, percentages
and dates are babel's for the customer's locale (language and country, as the templates use).
A customer whose language has a wording file reads the fee lines in it even where the surrounding
template falls back to English, so that nothing in a legal claim is half translated; a language
without one reads English.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from babel import Locale
from babel.dates import format_date
from babel.numbers import format_decimal, format_percent

from dunning import languages
from dunning.channels import moneyfmt
from dunning.channels.render import FeeLine
from dunning.policies import fees

WORDING_DIR = languages.TEMPLATES_DIR / "fees"


@lru_cache(maxsize=16)
def _wording(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def wording_language(language: str | None) -> str:
    lang = languages.base(language)
    return lang if (WORDING_DIR / f"{lang}.yaml").is_file() else languages.FALLBACK


@dataclass(frozen=True)
class Writer:
    """Formats the lines of one statement for one reader."""

    words: dict[str, Any]
    locale: Locale
    currency: str

    @classmethod
    def of(cls, language: str | None, country: str | None, currency: str) -> Writer:
        lang = wording_language(language)
        return cls(_wording(WORDING_DIR / f"{lang}.yaml"), languages.locale_for(lang, country), currency)

    def money(self, minor: int) -> str:
        return moneyfmt.formatter(str(self.locale), self.currency)(minor)

    def percent(self, value: Decimal) -> str:
        # the locale's own pattern ("12,15 %" in French), keeping every decimal of a legal rate
        return format_percent(value / 100, locale=self.locale, decimal_quantization=False)

    def date(self, day: date) -> str:
        pattern = self.words.get("first_of_month") if day.day == 1 else None
        return format_date(day, pattern or self.words["date"], locale=self.locale)

    def label(self, line: fees.FeeLine) -> str:
        return self.words["label"][line.kind].format(invoice=line.invoice)

    def calculation(self, line: fees.FeeLine, rule_code: str) -> str:
        law = self.words["law"][rule_code]
        if line.kind == "compensation":
            form = "banded" if rule_code == "GB" else "flat"
            return self.words["compensation"][form].format(
                amount=self.money(line.amount_minor), debt=self.money(line.debt_minor), law=law
            )
        period = line.period
        reference = self.words["reference"].format(
            series=self.words["series"][period.reference.series],
            percent=self.percent(period.reference.percent),
            on=self.date(period.reference.on),
            margin=format_decimal(period.margin, locale=self.locale),
        )
        if period.rounded_up_to is not None:
            reference += self.words["rounded_up"]
        return self.words["interest"].format(
            start=self.date(line.start),
            end=self.date(line.end),
            principal=self.money(line.principal_minor),
            rate=self.percent(period.rate),
            days=line.days,
            year=fees.DAYS_IN_YEAR,
            amount=self.money(line.amount_minor),
            reference=reference,
        )


def notice_lines(statement: fees.FeeStatement, language: str | None, country: str | None) -> list[FeeLine]:
    """The statement as the templates list it, in the reader's language."""
    if statement.rule is None:
        return []
    writer = Writer.of(language, country, statement.currency)
    return [
        FeeLine(
            writer.label(line),
            line.amount_minor,
            writer.calculation(line, statement.rule.code),
            line.kind,
            line.invoice,
        )
        for line in statement.lines
    ]
