"""The part of an email the customer wrote in it.

A reply carries the history it answers: quoted with "> ", or below an attribution line ("On ...
wrote:", "Le ... a écrit :", "Am ... schrieb ...:"), a header block ("From:/Sent:/To:",
"Von:/Gesendet:", "De :/Envoyé :"), or a separator ("-----Original Message-----"). Those, in the
languages of mailwords/, end what the customer wrote; phone footers ("Sent from my iPhone") go too.
What is kept:
- text above the history, and text written between or below quoted lines (inline answers and
  bottom posting), but not unquoted text right below an attribution: that is the earlier message
  itself, which some clients do not quote;
- a forwarded message ("---------- Forwarded message ----------", "Begin forwarded message:", or a
  header block when the subject says FW:) together with the note above it, the forwarded part
  being reported apart: it is what the customer sent, but not what they wrote;
- the sign-off and the signature: a person reads them. `own_text` drops them, and the forwarded
  part, for the rules that read intents: a street address or a phone number is not a date or an
  amount the customer promised.

When in doubt the text is kept: a person reads what the rules could not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dunning.replies.htmltext import tidy
from dunning.replies.mailwords import Words, words

MAX_CHARS = 100_000  # a reply is read from its first 100,000 characters: nobody writes more above a quote
_WINDOW = 6  # an attribution wraps over at most this many lines
_MAX_SIGNATURE_LINES = 8

_SEPARATOR = re.compile(r"^\s*[-_=~*]{5,}\s*$")
_SIGNATURE_DELIMITER = re.compile(r"^--\s?$")
_SENTENCE_END = re.compile(r"[.!?]$")
# The end of an attribution that a client broke after the address, looking like a quote: "> wrote:"
_TAIL = re.compile(r">\s*\w{1,20}(?:\(\w+\))?\s*:")
# A link broken over two lines by a client's wrapping, inside a quote: "(http://...) >"
_LINK_LINE = re.compile(r"[(<]?\s*(?:https?://|www\.)\S+\s*[)>]?\s*>?")


@dataclass(frozen=True)
class Reply:
    text: str  # what the customer sent: history and phone footers out, a forwarded message in
    forwarded: str | None  # the forwarded message at the end of `text`, from its separator line
    own_text: str  # `text` without the forwarded message, the sign-off and the signature
    languages: tuple[str, ...]  # languages of the attribution lines and header blocks found


@dataclass(frozen=True)
class _Split:
    kind: str  # attribution | header | original | forwarded
    length: int  # lines it spans
    prefix: str = ""  # the answer written on the same line before it
    lang: str | None = None


def split_reply(text: str, *, forward: bool = False) -> Reply:
    """`forward`: the subject says the message is a forward, so a header block starts a forwarded
    message rather than the history of a reply."""
    w = words()
    lines = tidy(text[:MAX_CHARS]).split("\n")
    kept: list[str] = []
    languages: list[str] = []
    forwarded: str | None = None
    history = False  # an attribution, header block or separator has been passed
    quoted_since = False  # quoted lines came after it: text below them is an answer
    last_quoted: str | None = None
    i = 0
    while i < len(lines):
        line, s = lines[i], lines[i].strip()
        if not s:
            kept.append("")
            i += 1
            continue
        if _quoted(s):
            quoted_since, last_quoted = True, s
            i += 1
            continue
        split = _splitter(lines, i, w)
        if split is not None:
            if split.lang:
                languages.append(split.lang)
            if not history and (split.kind == "forwarded" or (forward and split.kind == "header")):
                forwarded = tidy("\n".join(lines[i:]))
                kept += lines[i:]
                break
            if split.prefix:
                kept.append(split.prefix)
            _drop_trailing_rules(kept)
            history, quoted_since, last_quoted = True, False, None
            i += split.length
            continue
        if w.device.match(s):
            i += 1
            continue
        if history:
            if not quoted_since or _SEPARATOR.match(s) or _SIGNATURE_DELIMITER.match(s):
                break  # the earlier message unquoted, a list footer, or a signature under the quote
            if last_quoted is not None and _continues_quote(last_quoted, s):
                i += 1
                continue
        last_quoted = None
        kept.append(line)
        i += 1
    _drop_trailing_rules(kept)
    reply = tidy("\n".join(kept))
    own = reply[: len(reply) - len(forwarded)] if forwarded and reply.endswith(forwarded) else reply
    return Reply(reply, forwarded, _without_signature(own, w), tuple(dict.fromkeys(languages)))


def _quoted(s: str) -> bool:
    # ">>> http://example.com <<<" is decoration, not a quote.
    return s.startswith(">") and not re.search(r"<{2,}\s*$", s)


def _continues_quote(previous: str, s: str) -> bool:
    if _LINK_LINE.fullmatch(s):
        return True
    # "> View ticket (http://example.com/action" + "_nonce=3dd518)"
    return previous.count("(") > previous.count(")") and s.endswith(")") and " " not in s and len(s) < 100


def _drop_trailing_rules(kept: list[str]) -> None:
    while kept and (not kept[-1].strip() or _SEPARATOR.match(kept[-1])):
        kept.pop()


# --------------------------------------------------------------------------- where history starts


def _splitter(lines: list[str], i: int, w: Words) -> _Split | None:
    s = lines[i].strip()
    if w.forwarded.match(s):
        return _Split("forwarded", 1, lang=_separator_lang(s, w))
    if w.original.match(s):
        return _Split("original", 1, lang=_separator_lang(s, w))
    block = _header_block(lines, i, w)
    if block is not None:
        return block
    if _SEPARATOR.match(s):
        # Outlook's rule (or an HTML <hr>) right above a From/Date line, even a one-line block.
        j = _next_nonblank(lines, i + 1, limit=2)
        if j is not None:
            m = w.header_line.match(lines[j])
            if m and w.header_kinds[m.group("key").lower()] in ("from", "date", "sent"):
                block = _header_block(lines, j, w)
                return _Split("header", j - i + (block.length if block else 1), lang=block.lang if block else None)
        return None
    return _attribution(lines, i, w)


def _next_nonblank(lines: list[str], start: int, limit: int) -> int | None:
    for j in range(start, min(len(lines), start + limit + 1)):
        if lines[j].strip():
            return j
    return None


def _separator_lang(s: str, w: Words) -> str | None:
    phrase = re.sub(r"[-_=*:\s]+", " ", s).strip().lower()
    return w.separator_langs.get(phrase)


def _header_block(lines: list[str], i: int, w: Words) -> _Split | None:
    """At least two kinds of header among From, Sent, Date, To, Cc, Subject, one of them From, Sent
    or Date; values may wrap over a line or two ("[mailto:" + "bob@example.com]")."""
    m = w.header_line.match(lines[i])
    if m is None:
        return None
    keys = [m.group("key")]
    j, wrapped = i + 1, 0
    while j < len(lines) and j < i + 12 and lines[j].strip():
        m = w.header_line.match(lines[j])
        if m:
            keys.append(m.group("key"))
            wrapped = 0
        else:
            wrapped += 1
            if wrapped > 2:
                break
        j += 1
    kinds = {w.header_kinds[k.lower()] for k in keys}
    if len(kinds) < 2 or not kinds & {"from", "sent", "date"}:
        return None
    return _Split("header", j - i, lang=w.language_of_headers(keys))


def _attribution(lines: list[str], i: int, w: Words) -> _Split | None:
    """An attribution line, possibly wrapped over a few lines, possibly after the answer on the
    same line ("Sure. On Wed, Apr 4, 2012 at 3:59 PM, Bob <bob@example.com> wrote:")."""
    first = lines[i].strip()
    window = first
    for extra in range(_WINDOW):
        if extra:
            j = i + extra
            if j >= len(lines) or not _may_wrap(first):
                return None
            following = lines[j].strip()
            # A quoted line can only be the tail of an attribution broken around an address ("> wrote:").
            if following.startswith(">") and not _TAIL.fullmatch(following):
                return None
            # Clients wrap inside the address: "Postmaster <" + "postmaster@example.org>:".
            glue = "" if window.endswith("<") or following.startswith(("@", ">")) else " "
            window = f"{window}{glue}{following}".strip() if following else window
            if len(window) > 600:
                return None
        if not window.endswith((":", "-", ">")):
            continue
        lowered = window.lower()
        langs = {t.lang for t in w.attributions if t.matches(window, lowered)}
        if langs:
            # "Den ... skrev ...:" is Swedish, Danish or Norwegian: a hint only when one language says it.
            named = langs - {"common"}
            return _Split("attribution", extra + 1, lang=named.pop() if len(named) == 1 else None)
        if window.endswith(">") and _quote_follows(lines, i + extra + 1):
            for template in w.before_quote:
                if template.matches(window, lowered):
                    return _Split("attribution", extra + 1)
        for start in w.lead_start.finditer(first):
            rest = window[start.start() :]
            for template in w.attributions:
                if template.lead and template.matches(rest, rest.lower()):
                    prefix = first[: start.start()].rstrip(" -")
                    return _Split("attribution", extra + 1, prefix=prefix, lang=template.lang)
    return None


def _may_wrap(first: str) -> bool:
    """Whether an attribution may start on this line and go on below it: it starts with a lead
    word ("On", "Le", "Am"), a date or dashes, or breaks inside a name and address; a sentence
    ("Test reply", "Thanks,") does not."""
    if _SENTENCE_END.search(first):
        return False
    w = words()
    return bool(
        re.match(r"[-\s]*(?=[^\n]{0,25}\d)", first)
        or w.lead_at_start.match(first)
        or first.endswith(("<", "("))
        or "@" in first
    )


def _quote_follows(lines: list[str], start: int) -> bool:
    j = _next_nonblank(lines, start, limit=2)
    return j is not None and lines[j].lstrip().startswith(">") and not _TAIL.fullmatch(lines[j].strip())


# --------------------------------------------------------------------------- sign-off and signature


def _without_signature(text: str, w: Words) -> str:
    lines = text.split("\n")
    for k, line in enumerate(lines):
        if _SIGNATURE_DELIMITER.match(line.strip()) and k:
            lines = lines[:k]
            break
    # Cut at the last sign-off that has content above it and only a short signature below it
    # (name, title, company, phone). "Thanks" alone, with nothing above, is the message itself.
    for k in range(len(lines) - 1, 0, -1):
        if not w.sign_off.match(lines[k].strip()):
            continue
        above = [s for s in lines[:k] if s.strip()]
        below = [s for s in lines[k + 1 :] if s.strip()]
        if above and len(below) <= _MAX_SIGNATURE_LINES and all(len(s.strip()) <= 60 for s in below):
            lines = lines[:k]
            break
    return tidy("\n".join(lines))
