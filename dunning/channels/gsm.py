"""SMS segment counting, the way carriers bill it.

A text made only of GSM 03.38 characters travels as 7-bit septets: 160 in a single SMS, 153 per
part once it has to be split (the concatenation header eats the rest). Characters of the
extension table (€, [, ], {, }, ~, ^, |, \\ and form feed) take two septets, an escape plus
the character, and a part never ends between the two. One character outside the alphabet (ê, ç,
an emoji, a non-breaking space from a number formatter) switches the whole message to UCS-2:
70 UTF-16 code units, 67 per part, and a surrogate pair is never split either.
"""

from __future__ import annotations

from dataclasses import dataclass

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67


@dataclass(frozen=True)
class SegmentCount:
    encoding: str  # "GSM-7" or "UCS-2"
    segments: int
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def count_segments(text: str) -> SegmentCount:
    if is_gsm7(text):
        widths = [2 if ch in GSM7_EXTENSION else 1 for ch in text]
        return SegmentCount("GSM-7", _pack(widths, GSM7_SINGLE, GSM7_PART), sum(widths))
    widths = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
    return SegmentCount("UCS-2", _pack(widths, UCS2_SINGLE, UCS2_PART), sum(widths))


def _pack(widths: list[int], single: int, part: int) -> int:
    total = sum(widths)
    if total == 0:
        return 0
    if total <= single:
        return 1
    # Fill parts greedily; a two-unit character that does not fit moves whole to the next part,
    # which is why the count can exceed ceil(total / part).
    parts, used = 1, 0
    for width in widths:
        if used + width > part:
            parts, used = parts + 1, 0
        used += width
    return parts
