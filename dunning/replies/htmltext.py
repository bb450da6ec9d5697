"""HTML mail as the text a mail client shows, with quoted parts marked the way plain text marks them.

Line breaks follow the rendering (a <div> or <li> starts a line, a paragraph is set off by a blank
line unless it is one of Outlook's margin-less MsoNormal paragraphs, <br> always breaks). With
`mark_quotes`, every line inside a <blockquote> starts with "> " (one per level), a horizontal rule
becomes Outlook's line of underscores, the header of Outlook's reply (divRplyFwdMsg and its
relatives) is preceded by that line, and a signature block (gmail_signature, moz-signature) by the
"-- " delimiter: the plain-text rules of replytext.py then read an HTML reply like a plain one.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

RULE = "_" * 32  # how Outlook writes <hr> in its plain-text part
SIGNATURE = "-- "

_SKIP = {"script", "style", "head", "title", "template", "xml"}
_LINE = {"div", "li", "tr", "ul", "ol", "section", "article", "header", "footer", "hr", "pre", "dt", "dd", "center"}
_PARAGRAPH = {"p", "blockquote", "table", "h1", "h2", "h3", "h4", "h5", "h6"}
_VOID = {"br", "hr", "img", "meta", "link", "input", "wbr", "col", "area", "base", "source"}
# Where clients put the header block of the message being answered, outside any blockquote.
_HISTORY_IDS = {"divrplyfwdmsg", "x_divrplyfwdmsg", "olk_src_body_section", "mail-editor-reference-message-container"}
_HISTORY_CLASSES = {"outlookmessageheader", "yahoo_quoted"}
_SIGNATURE_CLASSES = {"gmail_signature", "moz-signature"}
_SIGNATURE_IDS = {"signature"}


class _HTMLToText(HTMLParser):
    def __init__(self, mark_quotes: bool):
        super().__init__(convert_charrefs=True)
        self.mark_quotes = mark_quotes
        self.lines: list[tuple[int, str]] = []  # (quote depth, text) of finished lines
        self.line: list[str] = []
        self.line_depth: int | None = None
        self.stack: list[tuple[str, bool, bool]] = []  # (tag, hides its content, quotes its content)
        self.hidden = 0
        self.depth = 0

    # -- structure --------------------------------------------------------------------------------

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        classes = {c.lower() for c in a.get("class", "").split()}
        ident = a.get("id", "").lower()
        if self.mark_quotes and (ident in _HISTORY_IDS or classes & _HISTORY_CLASSES or tag == "hr"):
            self._marker(RULE)
        if self.mark_quotes and (classes & _SIGNATURE_CLASSES or ident in _SIGNATURE_IDS):
            self._marker(SIGNATURE)
        quotes = self.mark_quotes and tag == "blockquote"
        hides = tag in _SKIP
        # Outlook writes every line as a paragraph without margins: it shows as a line.
        breaks = 1 if tag in _LINE or "msonormal" in classes else 2 if tag in _PARAGRAPH else 0
        if tag not in _VOID:
            self.stack.append((tag, hides, quotes, breaks))
            self.hidden += hides
            self.depth += quotes
        if tag == "br":
            self._newline()
        else:
            self._break(breaks)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        # Tolerate unclosed tags: pop up to the matching one.
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                breaks = self.stack[i][3]
                if self.stack[i][2]:
                    self._break(breaks)  # the quote's last line ends inside the quote
                for _, hides, quotes, _ in self.stack[i:]:
                    self.hidden -= hides
                    self.depth -= quotes
                del self.stack[i:]
                self._break(breaks)
                return

    def handle_data(self, data: str) -> None:
        if self.hidden:
            return
        # Only ASCII whitespace collapses: a paragraph holding just &nbsp; shows as an empty line.
        text = re.sub(r"[ \t\r\n\f\v]+", " ", data)
        if not _shows(self.line):
            text = text.lstrip(" ")
        if text:
            if self.line_depth is None:
                self.line_depth = self.depth
            self.line.append(text)

    # -- lines ------------------------------------------------------------------------------------

    def _newline(self) -> None:
        self.lines.append((self.line_depth if self.line_depth is not None else self.depth, "".join(self.line)))
        self.line, self.line_depth = [], None

    def _marker(self, text: str) -> None:
        """A line of its own (a rule, a signature delimiter), set off from the text above, once."""
        if self.hidden:
            return
        last = next((t for _, t in reversed(self.lines) if t.strip()), None)
        if _shows(self.line) or last is None or last.strip() != text.strip():
            self._break(2)
            self.line, self.line_depth = [text], self.depth
            self._newline()

    def _break(self, wanted: int) -> None:
        """End the current line and make sure `wanted` line breaks separate it from what follows."""
        if not wanted or self.hidden:
            return
        if _shows(self.line):
            self._newline()
        blanks = 0
        for _, text in reversed(self.lines):
            if text.strip():
                break
            blanks += 1
        if self.lines and wanted == 2 and blanks == 0:
            self.lines.append((self.depth, ""))
        self.line, self.line_depth = [], None

    def text(self) -> str:
        if _shows(self.line):
            self._newline()
        out = []
        for depth, text in self.lines:
            text = text.strip()
            out.append(("> " * depth + text).rstrip() if text else "")
        return "\n".join(out)


def _shows(line: list[str]) -> bool:
    return any(c not in " \t\r\n" for part in line for c in part)


def html_to_text(html: str, *, mark_quotes: bool = False) -> str:
    parser = _HTMLToText(mark_quotes)
    parser.feed(html)
    parser.close()
    return tidy(parser.text())


def tidy(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    # Direction marks and zero-width characters (Windows Mail puts them around every word of a date).
    text = re.sub(r"[\u200b-\u200f\u202a-\u202e\u2060\ufeff]", "", text)
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
