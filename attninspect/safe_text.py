"""User text is data: make it safe to show on a terminal without changing what it says."""

from __future__ import annotations

import unicodedata

# Control, format (bidi overrides, zero-width joiners), separator, surrogate, private-use and
# unassigned characters: shown as escapes so they can neither drive the terminal nor shift columns.
ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})
# Characters whose width terminals disagree on once combined: variation selectors and emoji
# skin-tone modifiers (a terminal may merge them into the previous glyph, or not).
AMBIGUOUS_RANGES = ((0xFE00, 0xFE0F), (0xE0100, 0xE01EF), (0x1F3FB, 0x1F3FF))
COMBINING_CATEGORIES = frozenset({"Mn", "Me"})
SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str) -> str:
    """Return ``text`` with every control or invisible formatting character visibly escaped.

    A combining mark with nothing to combine with (at the start, or after an escape) is escaped
    too, so it cannot merge into the character printed before it.
    """
    if text.isascii() and text.isprintable():
        return text
    pieces: list[str] = []
    attached = False  # whether the previous output character can carry a combining mark
    for char in text:
        category = unicodedata.category(char)
        if _must_escape(char, category) or (category in COMBINING_CATEGORIES and not attached):
            pieces.append(_escape(char))
            attached = False
        else:
            pieces.append(char)
            attached = True
    return "".join(pieces)


def _must_escape(char: str, category: str) -> bool:
    if char in SHORT_ESCAPES or category in ESCAPED_CATEGORIES:
        return True
    code = ord(char)
    return any(low <= code <= high for low, high in AMBIGUOUS_RANGES)


def _escape(char: str) -> str:
    if char in SHORT_ESCAPES:
        return SHORT_ESCAPES[char]
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"
