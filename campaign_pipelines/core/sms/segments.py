"""How many SMS segments a text costs: the GSM 03.38 rules as operators and Twilio bill them.

- A text is GSM-7 when every character is in the GSM 03.38 default alphabet or its extension
  table; the extension characters (``^ { } \\ [ ~ ] | €`` and form feed) are sent as an escape
  plus the character, so each counts 2. One GSM-7 message holds 160 units; a longer text is
  sent in parts of 153 (the rest carries the concatenation header), and an escaped character
  is never split across two parts, so such a part may hold 152.
- Any other character (Cyrillic, the Kazakh letters Ә Ғ Қ Ң Ө Ұ Ү Һ І, a curly apostrophe ’,
  an emoji) makes the whole text UCS-2: 70 UTF-16 units in one message, 67 per part. A
  character outside the Basic Multilingual Plane (most emoji) is a surrogate pair, 2 units, and
  is never split across parts either.
- No national language shift tables: Kazakh and Russian are not covered by any, and providers
  do not use them by default.
- An empty text still costs one message; templates refuse an empty result before that matters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€\x0c")

Encoding = Literal["GSM-7", "UCS-2"]
SINGLE = {"GSM-7": 160, "UCS-2": 70}
PER_PART = {"GSM-7": 153, "UCS-2": 67}


@dataclass(frozen=True)
class SegmentCount:
    encoding: Encoding
    units: int  # GSM-7 septets or UTF-16 code units
    segments: int
    # The first character that made the text UCS-2, to tell a person what to replace.
    first_non_gsm: str | None = None

    @property
    def describe(self) -> str:
        why = f" (because of {self.first_non_gsm!r})" if self.first_non_gsm else ""
        return f"{self.segments} segment(s) of {self.encoding}{why}, {self.units} units"


def _first_non_gsm(text: str) -> str | None:
    return next((c for c in text if c not in GSM7_BASIC and c not in GSM7_EXTENDED), None)


def _widths(text: str, encoding: Encoding) -> list[int]:
    if encoding == "GSM-7":
        return [2 if c in GSM7_EXTENDED else 1 for c in text]
    return [2 if ord(c) > 0xFFFF else 1 for c in text]


def count_segments(text: str) -> SegmentCount:
    """The encoding, units and segments ``text`` costs (module docstring)."""
    odd = _first_non_gsm(text)
    encoding: Encoding = "GSM-7" if odd is None else "UCS-2"
    widths = _widths(text, encoding)
    units = sum(widths)
    if units <= SINGLE[encoding]:
        return SegmentCount(encoding, units, 1, odd)
    parts, used = 1, 0
    for width in widths:  # a character never straddles two parts
        if used + width > PER_PART[encoding]:
            parts, used = parts + 1, 0
        used += width
    return SegmentCount(encoding, units, parts, odd)
