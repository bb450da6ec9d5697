"""What mail clients and robots write around a message, compiled from mailwords/*.yaml.

The data says, per language, how clients introduce a quoted message ("On ... wrote:", "Am ...
schrieb ...:", "W dniu ... napisał:"), the header block Outlook puts above it (From/Von/De/Od...),
the separators ("-----Original Message-----", "---------- Forwarded message ---------"), phone
footers, sign-offs, and what out-of-office robots say. This module turns that into regular
expressions once per process; see mailwords/README.md for the template syntax.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

DIRECTORY = Path(__file__).parent / "mailwords"
FLAGS = re.IGNORECASE | re.UNICODE

# Placeholders. Every repetition is bounded and there is one lazy span per template at most
# ("{date} {who}" becomes one span), so a failing match costs time linear in the line's length.
_SLOTS = {
    "email": r"[^\s<>()@]{1,64}@[^\s<>()]{1,253}",
    "device": r"[\w'’.&+-]{1,30}(?: [\w'’.&+-]{1,30}){0,4}",
    "who": r"[^\n]{1,200}?",
    "date": r"(?=[^\n]{0,40}?\d)[^\n]{1,120}?",
    "datewho": r"(?=[^\n]{0,60}?\d)[^\n]{1,300}?",
}
# A date or a time starting a line ("2014-10-17 11:28 ...", "Thu, 26 Jun 2014 ...", "26.06.2014, 14:41").
_LEADING_DATE = r"(?=[^\n]{0,25}?\d)[^\n]{1,300}?"


@dataclass(frozen=True)
class Template:
    lang: str
    pattern: re.Pattern[str]  # matches a whole (joined) line
    lead: str | None  # the literal word it starts with, if any: such a line may also start mid-line
    needles: tuple[str, ...]  # lowercased words a matching line contains: checked before the regex

    def matches(self, line: str, lowered: str) -> bool:
        return all(n in lowered for n in self.needles) and self.pattern.match(line) is not None


@dataclass(frozen=True)
class Words:
    attributions: tuple[Template, ...]
    before_quote: tuple[Template, ...]  # attributions that count only when quoted lines follow
    lead_start: re.Pattern[str]  # where an attribution may start in the middle of a line
    lead_at_start: re.Pattern[str]  # a line that starts like an attribution ("On ...", "Le ...")
    header_line: re.Pattern[str]  # "From: ...", "*Von:* ...": group "key"
    header_kinds: dict[str, str]  # lowercased key -> from | sent | date | to | cc | subject
    header_langs: dict[str, frozenset[str]]  # lowercased key -> the languages that use it
    original: re.Pattern[str]  # "-----Original Message-----" and its translations: group "lang" via lookup
    forwarded: re.Pattern[str]
    separator_langs: dict[str, str]  # lowercased phrase -> language
    device: re.Pattern[str]
    sign_off: re.Pattern[str]
    autoreply_subject: re.Pattern[str]
    bounce_subject: re.Pattern[str]
    returns: tuple[Template, ...]

    def language_of_headers(self, keys: list[str]) -> str | None:
        """The one language whose header names include all of these ("De", "Envoyé" -> fr)."""
        common: set[str] | None = None
        for key in keys:
            langs = self.header_langs.get(key.lower(), frozenset())
            common = set(langs) if common is None else common & langs
        return next(iter(common)) if common and len(common) == 1 else None


def _literal(text: str) -> str:
    """Literal template text: a space matches any run of spaces (or none next to punctuation), a
    run of dashes any run of two or more."""
    out: list[str] = []
    pieces = [p for p in re.split(r"(\s+|-{2,})", text) if p]
    for i, piece in enumerate(pieces):
        if piece.isspace():
            before = pieces[i - 1][-1] if i else " "
            after = pieces[i + 1][0] if i + 1 < len(pieces) else " "
            out.append(r"\s+" if before.isalnum() and after.isalnum() else r"\s*")
        elif piece.startswith("--"):
            out.append(r"-{2,}")
        else:
            out.append(re.escape(piece))
    return "".join(out)


def _compile(text: str, lang: str, slots: dict[str, str], *, whole_line: bool, tail: str = "") -> Template:
    text = text.strip().replace("{date} {who}", "{datewho}")
    ends_with_colon = text.endswith(":")
    if ends_with_colon:
        text = text[:-1].rstrip()
    parts = re.split(r"\{(\w+)\}", text)
    regex = []
    for i, part in enumerate(parts):
        if i % 2:
            slot = _LEADING_DATE if part == "datewho" and i == 1 and not parts[0].strip() else slots[part]
            regex.append(f"(?:{slot})")
        elif part:
            # Between a slot and a word, a space is required; between a slot and punctuation, not.
            regex.append(_literal(part) if part.strip() else r"\s*")
    body = "".join(regex)
    if whole_line:
        end = r"\s*(?::|-{2,})[\s*_-]*" if ends_with_colon else r"[\s*_.-]*"
        pattern = re.compile(rf"^[\s*_>-]*{body}{tail}{end}$", FLAGS)
    else:
        pattern = re.compile(rf"(?<!\w){body}(?!\w)", FLAGS)
    lead = re.match(r"([^\W\d_][\w ]*?)\s*(?:\{|$)", text)
    literal = re.sub(r"\{\w+\}", " ", text).lower()
    needles = tuple(re.findall(r"[^\W\d_]{3,}", literal)) + (("@",) if "{email}" in text else ())
    return Template(lang, pattern, lead.group(1).split()[0] if lead else None, needles)


def _alternatives(phrases: list[str]) -> str:
    # Longest first, so that "Mit freundlichen Grüßen" wins over "Grüßen".
    return "|".join(_literal(p) for p in sorted(set(phrases), key=len, reverse=True))


def _when(lang: str) -> str:
    """A date as people write it in that language: "12 January", "January 12th", "12. Januar",
    "le 12 janvier 2026", "12/01", "Monday 12 January", "Monday"."""
    from babel import Locale, UnknownLocaleError

    try:
        locale = Locale.parse(lang)
    except (UnknownLocaleError, ValueError):
        locale = Locale.parse("en")
    months: set[str] = set()
    for context in ("format", "stand-alone"):
        for width in ("wide", "abbreviated"):
            months.update(locale.months[context][width].values())
    days: set[str] = set()
    for width in ("wide", "abbreviated"):
        days.update(locale.days["format"][width].values())
    month = "|".join(re.escape(m.rstrip(".")) for m in sorted(months, key=len, reverse=True))
    day = "|".join(re.escape(d.rstrip(".")) for d in sorted(days, key=len, reverse=True))
    number = r"\d{1,2}(?:st|nd|rd|th|er|e|\.|º|ª|-?го)?"
    year = r"(?:,?\s+(?:de\s+)?\d{4})?"
    dated = (
        rf"(?:{number}\s+(?:de\s+)?(?:{month})\.?{year}"
        rf"|(?:{month})\.?\s+{number}{year}"
        rf"|\d{{1,2}}[./]\d{{1,2}}(?:[./]\d{{2,4}})?"
        rf"|\d{{4}}-\d{{2}}-\d{{2}})"
    )
    return rf"(?:(?:{day})\.?,?\s+(?:the\s+)?)?(?:{dated}|(?:{day})\b)"


@functools.cache
def words() -> Words:
    attributions: list[Template] = []
    before_quote: list[Template] = []
    returns: list[Template] = []
    header_kinds: dict[str, str] = {}
    header_langs: dict[str, frozenset[str]] = {}
    originals: dict[str, str] = {}
    forwardeds: dict[str, str] = {}
    forward_lines: list[str] = []
    devices, sign_offs, subjects, bounce_subjects = [], [], [], []
    # Languages first, the shapes common to all last: a match then names the client's language.
    for path in sorted(DIRECTORY.glob("*.yaml"), key=lambda p: (p.stem == "common", p.stem)):
        lang = path.stem
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for text in data.get("attribution", []):
            attributions.append(_compile(text, lang, _SLOTS, whole_line=True))
        for text in data.get("attribution_before_quote", []):
            before_quote.append(_compile(text, lang, _SLOTS, whole_line=True))
        for kind, keys in (data.get("headers") or {}).items():
            for key in keys:
                header_kinds.setdefault(key.lower(), kind)
                header_langs[key.lower()] = header_langs.get(key.lower(), frozenset()) | {lang}
        for phrase in data.get("original", []):
            originals.setdefault(phrase.lower(), lang)
        for phrase in data.get("forwarded", []):
            forwardeds.setdefault(phrase.lower(), lang)
        forward_lines += data.get("forwarded_lines", [])
        # Outlook for iOS writes its link right after: "Get Outlook for iOS<https://aka.ms/o0ukef>".
        devices += [
            _compile(t, lang, _SLOTS, whole_line=True, tail=r"(?:\s*<[^\s<>]{1,200}>)?").pattern.pattern
            for t in data.get("device", [])
        ]
        sign_offs += data.get("sign_off", [])
        bounce_subjects += (data.get("bounce") or {}).get("subject", [])
        autoreply = data.get("autoreply") or {}
        subjects += autoreply.get("subject", [])
        if autoreply.get("return"):
            slots = {**_SLOTS, "when": _when(lang)}
            returns += [_compile(t, lang, slots, whole_line=False) for t in autoreply["return"]]

    leads = sorted({t.lead for t in attributions if t.lead}, key=len, reverse=True)
    keys = sorted(header_kinds, key=len, reverse=True)
    separator = r"^[\s>]*[-_=*]{2,}\s*(?:%s)\s*:?\s*[-_=*]{2,}\s*$"
    return Words(
        attributions=tuple(attributions),
        before_quote=tuple(before_quote),
        # Case as written: "reply On Wed, 4 Apr..." starts one, "call me on 4 April" does not.
        lead_start=re.compile(rf"(?:(?<=\s)|(?<=-))(?:{'|'.join(map(re.escape, leads))})\s+(?=[^\n]{{0,25}}?\d)"),
        lead_at_start=re.compile(rf"[-\s]*(?:{'|'.join(map(re.escape, leads))})\s", FLAGS),
        header_line=re.compile(rf"^[\s>]*[*_]{{0,2}}(?P<key>{'|'.join(map(re.escape, keys))})[*_]{{0,2}}\s*:", FLAGS),
        header_kinds=header_kinds,
        header_langs=header_langs,
        original=re.compile(separator % _alternatives(list(originals)), FLAGS),
        forwarded=re.compile(
            (separator % _alternatives(list(forwardeds)))
            + "|"
            + "|".join(rf"^\s*{_literal(line.rstrip(':'))}\s*:?\s*$" for line in forward_lines),
            FLAGS,
        ),
        separator_langs={**originals, **forwardeds},
        device=re.compile("|".join(f"(?:{d})" for d in devices), FLAGS),
        sign_off=re.compile(rf"^(?:{_alternatives(sign_offs)})(?!\w)[\s,.!]*(?:\S.{{0,40}})?$", FLAGS),
        autoreply_subject=re.compile(rf"(?<!\w)(?:{_alternatives(subjects)})(?!\w)", FLAGS),
        bounce_subject=re.compile(rf"(?<!\w)(?:{_alternatives(bounce_subjects)})(?!\w)", FLAGS),
        returns=tuple(returns),
    )
