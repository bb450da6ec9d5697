"""A lean MIME writer for the messages we send.

The standard library's EmailMessage parses every header it is given into a tree and refolds it on
output: about 2 ms for one reminder, more than the SMTP exchange that carries it. Our messages are
always the same few shapes (text, text + HTML, either with a PDF), so they are written here
directly: the same structure and encodings EmailMessage would produce (quoted-printable UTF-8
bodies, RFC 2047 words for non-ASCII header text, 78-column folding, CRLF line ends), in a
tenth of the time. tests/channels/test_mime.py parses the output back with the standard library.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from email.utils import encode_rfc2231

MAX_LINE = 78
WORD_BYTES = 42


class HeaderError(ValueError):
    pass


def header(name: str, value: str) -> bytes:
    if "\r" in value or "\n" in value:
        # A line break in a value would let it add headers of its own.
        raise HeaderError(f"line break in the {name} header")
    if value.isascii():
        return _fold(f"{name}: {value}")
    return f"{name}: {encoded_words(value)}\r\n".encode("ascii")


def encoded_words(text: str) -> str:
    """Non-ASCII text as RFC 2047 base64 words, one per folded line, never splitting a character.
    42 bytes of UTF-8 make 56 characters of base64, a 68-character word: with "Subject: " or a
    leading space it stays within 78 columns (and within RFC 2047's 75 for the word itself)."""
    words, chunk, size = [], [], 0
    for ch in text:
        n = len(ch.encode("utf-8"))
        if size + n > WORD_BYTES:
            words.append("".join(chunk))
            chunk, size = [], 0
        chunk.append(ch)
        size += n
    words.append("".join(chunk))
    return "\r\n ".join(f"=?utf-8?b?{base64.b64encode(w.encode('utf-8')).decode('ascii')}?=" for w in words)


def _fold(line: str) -> bytes:
    """Fold at spaces so that lines stay within 78 columns; a longer word (a URL) keeps its own line."""
    if len(line) <= MAX_LINE:
        return f"{line}\r\n".encode("ascii")
    lines: list[str] = []
    current = ""
    for word in line.split(" "):
        if current and len(current) + 1 + len(word) > MAX_LINE:
            lines.append(current)
            current = " " + word  # the continuation starts with the space it was folded at
        else:
            current = f"{current} {word}" if current else word
    lines.append(current)
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def _text(subtype: str, text: str) -> bytes:
    # b2a_qp (C) keeps lines under 76 columns with soft breaks and escapes "=", trailing blanks
    # and everything outside printable ASCII: the result is 7-bit whatever the relay offers.
    body = binascii.b2a_qp(text.replace("\r\n", "\n").encode("utf-8"), istext=True).replace(b"\n", b"\r\n")
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
    ).encode("ascii") + body


def _attachment(data: bytes, filename: str, content_type: str) -> bytes:
    if filename.isascii() and '"' not in filename and "\\" not in filename:
        disposition = f'attachment; filename="{filename}"'
    else:
        disposition = f"attachment; filename*={encode_rfc2231(filename, 'utf-8')}"
    return (
        f"Content-Type: {content_type}\r\nContent-Transfer-Encoding: base64\r\n"
        f"Content-Disposition: {disposition}\r\n\r\n"
    ).encode("ascii") + base64.encodebytes(data).replace(b"\n", b"\r\n")


def _multipart(subtype: str, parts: list[bytes]) -> bytes:
    # "=" cannot start a line of quoted-printable or base64 text, so a boundary made of "=" and
    # hex digits can never appear inside a part.
    boundary = f"===={secrets.token_hex(8)}=="
    out = [_fold(f'Content-Type: multipart/{subtype}; boundary="{boundary}"') + b"\r\n"]
    for part in parts:
        # The CRLF before "--boundary" belongs to the delimiter, not to the part: without its
        # own, a part's last line break would be lost.
        out += [f"--{boundary}\r\n".encode("ascii"), part, b"\r\n"]
    out.append(f"--{boundary}--\r\n".encode("ascii"))
    return b"".join(out)


def message(
    headers: list[tuple[str, str]], text: str, html: str | None = None, attachment: tuple[bytes, str, str] | None = None
) -> bytes:
    """headers in order, already final (addresses formatted); attachment: (data, filename, type)."""
    body = _text("plain", text)
    if html is not None:
        body = _multipart("alternative", [body, _text("html", html)])
    if attachment is not None:
        body = _multipart("mixed", [body, _attachment(*attachment)])
    return b"".join(header(name, value) for name, value in headers) + b"MIME-Version: 1.0\r\n" + body
