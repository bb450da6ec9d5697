"""Automatic replies: out-of-office notices and other robots answering our mail (RFC 3834).

A message is automatic when its headers say so (Auto-Submitted other than "no", X-Autoreply,
X-Autorespond, Precedence: auto_reply, Exchange's X-MS-Exchange-Inbox-Rules-Loop... ) or its
subject is an out-of-office subject in one of the languages of mailwords/. When its text gives a
return date ("back on 12 January", "de retour le 12 janvier", "ab dem 12. Januar wieder"), the
phrase is kept as written with its language: the intent reader turns it into a date.

Nothing in the body alone makes a message automatic: a person can write "I'm away until Monday".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import EmailMessage

from dunning.replies.mailwords import words


@dataclass(frozen=True)
class Autoreply:
    why: str  # the header or the subject that says so
    return_text: str | None = None  # "back on 12 January", as written
    return_lang: str | None = None  # the language of that phrase


def read_autoreply(msg: EmailMessage, *, subject: str, text: str) -> Autoreply | None:
    why = _automatic(msg) or _subject(subject)
    if why is None:
        return None
    text_, lang = return_phrase(f"{subject}\n{text}")
    return Autoreply(why, text_, lang)


def return_phrase(text: str) -> tuple[str | None, str | None]:
    """The return-date phrase in the text and its language, e.g. ("back on 12 January", "en").
    Phrases are tried in the order the data lists them, so "back on 13 January" wins over "away
    until 10 January" in the same notice."""
    for template in words().returns:
        m = template.pattern.search(text[:20_000])
        if m:
            return re.sub(r"\s+", " ", m.group(0)).strip().rstrip(".,;"), template.lang
    return None, None


def _automatic(msg: EmailMessage) -> str | None:
    submitted = str(msg.get("auto-submitted") or "").strip().lower()
    if submitted and not submitted.startswith("no"):
        return f"Auto-Submitted: {submitted[:40]}"
    for name in ("x-autoreply", "x-autorespond", "x-autoresponder", "x-ms-exchange-inbox-rules-loop"):
        if msg.get(name) is not None:
            return name
    precedence = str(msg.get("precedence") or msg.get("x-precedence") or "").strip().lower()
    if precedence == "auto_reply":
        return "Precedence: auto_reply"
    return None


def _subject(subject: str) -> str | None:
    m = words().autoreply_subject.search(subject)
    return f"subject: {m.group(0)}" if m else None
