"""User text is data: make it safe to show on a terminal without changing what it says."""

from __future__ import annotations

import unicodedata

# Control, format (bidi overrides, zero-width joiners), separator, surrogate and private-use
# characters: shown as escapes so they can neither drive the terminal nor upset column widths.
ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})
SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str) -> str:
    """Return ``text`` with every control or invisible formatting character visibly escaped."""
    if text.isprintable() and text.isascii():
        return text
    return "".join(_escape(char) for char in text)


def _escape(char: str) -> str:
    if char in SHORT_ESCAPES:
        return SHORT_ESCAPES[char]
    if unicodedata.category(char) not in ESCAPED_CATEGORIES:
        return char
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"
