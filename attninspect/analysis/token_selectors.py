"""Pick a token by its text (``it``, ``it#2``) or position (``@8``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from attninspect.errors import BadValueError, InputError
from attninspect.safe_text import printable

SUBWORD_MARKERS = ("##", "Ġ", "▁", "Ċ")
# ``it#2``; a text of '#' alone is a token's (WordPiece's ``##2``), not an occurrence's.
OCCURRENCE = re.compile(r"^(?P<text>#*[^#].*?)#(?P<n>\d+)$", re.ASCII)
POSITION = re.compile(r"^@(?P<n>-?\d+)$", re.ASCII)
# ``@²``, ``it#١``: a number written with other digits, refused rather than read as text.
OTHER_DIGITS = re.compile(r"^(?:@-?|.+#)(?P<n>\w+)$")


@dataclass(frozen=True)
class TokenSelector:
    """What the user typed: a token text and which occurrence, or a position."""

    raw: str
    text: str | None = None
    occurrence: int = 1
    position: int | None = None


def parse_selector(raw: str) -> TokenSelector:
    """``it`` -> first ``it``; ``it#2`` -> second; ``@8`` -> position 8; raises ValueError."""
    if not isinstance(raw, str):
        raise BadValueError(
            f"{raw!r} is not a token selector: give a token's text ('it'), 'it#2' or '@8' (a str)"
        )
    if not raw.strip():
        raise BadValueError("a token selector cannot be empty")
    position = POSITION.match(raw)
    if position:
        return TokenSelector(raw=raw, position=int(position["n"]))
    other = OTHER_DIGITS.match(raw)
    if other and all(char.isdigit() for char in other["n"]) and not other["n"].isascii():
        raise BadValueError(f"{raw!r}: write the number with the digits 0-9")
    occurrence = OCCURRENCE.match(raw)
    if occurrence:
        n = int(occurrence["n"])
        if n < 1:
            raise BadValueError(f"{raw!r}: occurrences are numbered from 1")
        return TokenSelector(raw=raw, text=occurrence["text"], occurrence=n)
    return TokenSelector(raw=raw, text=raw)


def normalise(token: str) -> str:
    """Token text without subword markers, case-folded, for matching."""
    for marker in SUBWORD_MARKERS:
        if token.startswith(marker):
            token = token[len(marker) :]
    return token.strip().casefold()


def resolve_selector(selector: TokenSelector, tokens: list[str], option: str = "--focus") -> int:
    """The position that ``selector`` names in ``tokens``, or an error listing the tokens."""
    length = len(tokens)
    if selector.position is not None:
        if not -length <= selector.position < length:
            raise InputError(
                f"{option} {printable(selector.raw)}: position out of range; the text has "
                f"{length} tokens (@0..@{length - 1})"
            )
        return selector.position % length
    wanted = selector.text.casefold() if selector.text else ""
    marked = wanted.startswith(SUBWORD_MARKERS)  # ``##2``: that token itself, not ``2``
    matches = [
        i
        for i, token in enumerate(tokens)
        if token.casefold() == wanted or (not marked and normalise(token) == normalise(wanted))
    ]
    if len(matches) >= selector.occurrence:
        return matches[selector.occurrence - 1]
    listing = " ".join(f"{i}:{printable(token)}" for i, token in enumerate(tokens))
    if matches:
        times = f"{len(matches)} time{'s' if len(matches) != 1 else ''}"
        problem = f"occurs {times}, not {selector.occurrence}"
    else:
        problem = "is not a token of this text"
    raise InputError(f"{option} {printable(selector.raw)} {problem}; the tokens are: {listing}")
