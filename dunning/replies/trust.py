"""Whether an inbound email may act by itself.

A `From:` line costs a forger nothing, so the sender's address alone never lets a mail record a
promise or pause a case: it must answer a message of ours (the reply token of our plus address,
or In-Reply-To / References naming a Message-ID we sent), and no verdict its providers wrote may
be a failure. Verdicts are read from every `Authentication-Results` header (RFC 8601) and from
`ARC-Authentication-Results` (RFC 8617): a dmarc, spf, dkim, arc or compauth (Microsoft's
composite) result of `fail` makes the mail one a person reads. A `pass` proves nothing on its own
(a sender can write such a header himself); a failure can only have been added on the way in, or
by a sender harming himself.

Autoreplies are told by their headers (RFC 3834 Auto-Submitted, the common X- headers) and by the
subject prefixes mail clients put on them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32

THREAD_MATCHES = frozenset({"reply_token", "in_reply_to", "references"})
FAILING = frozenset({"fail"})
CHECKED = ("dmarc", "spf", "dkim", "arc", "compauth")
RESULT_HEADERS = ("Authentication-Results", "ARC-Authentication-Results")
# Headers are all we read: a bound on what is parsed, whatever the body holds.
MAX_HEADER_BYTES = 256 * 1024

_RESULT = re.compile(r"(?:^|[;\s])(?P<method>[a-z][a-z0-9-]*)\s*=\s*(?P<result>[a-z]+)", re.IGNORECASE)
_COMMENT = re.compile(r"\([^()]*\)")


@dataclass(frozen=True)
class Verdict:
    method: str  # dmarc | spf | dkim | arc | compauth
    result: str  # pass | fail | none | softfail | ...
    header: str  # which header said so, for the person who reads the task


@dataclass(frozen=True)
class Trust:
    trusted: bool
    why: str | None  # None when trusted


@dataclass(frozen=True)
class MailHeaders:
    verdicts: tuple[Verdict, ...]


def read_headers(raw: bytes) -> MailHeaders:
    end = raw.find(b"\n\n", 0, MAX_HEADER_BYTES)
    if end < 0:
        end = raw.find(b"\r\n\r\n", 0, MAX_HEADER_BYTES)
    head = raw[: end if end >= 0 else MAX_HEADER_BYTES]
    msg = BytesHeaderParser(policy=compat32).parsebytes(head)
    verdicts = tuple(
        v for name in RESULT_HEADERS for value in msg.get_all(name) or [] for v in _verdicts(name, str(value))
    )
    return MailHeaders(verdicts)


def _verdicts(header: str, value: str) -> list[Verdict]:
    """`method=result` pairs of one results header, comments removed. The authserv-id comes first
    (Gmail: "mx.google.com;"); Outlook leaves it out and starts with "spf=pass"; ARC's starts with
    "i=1;". Property values (header.from=..., smtp.mailfrom=...) have a dot and are not methods."""
    text = _COMMENT.sub(" ", " ".join(value.split()))
    found = []
    for m in _RESULT.finditer(text):
        method = m.group("method").lower()
        if method in CHECKED:
            found.append(Verdict(method, m.group("result").lower(), header))
    return found


def judge(matched_by: str, headers: MailHeaders) -> Trust:
    failed = [v for v in headers.verdicts if v.result in FAILING]
    if failed:
        return Trust(False, "authentication failed: " + ", ".join(sorted({f"{v.method}={v.result}" for v in failed})))
    if matched_by not in THREAD_MATCHES:
        return Trust(False, "matched by the sender's address only, not by a message of ours")
    return Trust(True, None)
