"""``--layers`` / ``--heads``: an index or a Python-style slice, negatives counting from the end."""

from __future__ import annotations

import re

from attninspect.model.limits import whole_number

SLICE = re.compile(r"^\s*(-?\d+)?\s*:\s*(-?\d+)?\s*(?::\s*(-?\d+)?\s*)?$", re.ASCII)


def parse_range(text: str) -> int | slice:
    """``"3"`` -> 3, ``"2:4"`` -> slice(2, 4), ``"::2"`` -> every second; else ValueError."""
    text = text.strip()
    if re.fullmatch(r"-?\d+", text, re.ASCII):
        return int(text)
    if any(char.isdigit() and not char.isascii() for char in text):
        raise ValueError(f"{text!r}: write the numbers with the digits 0-9")
    match = SLICE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not an index or a slice like 2:4, -2: or ::2")
    start, stop, step = (int(part) if part else None for part in match.groups())
    if step == 0:
        raise ValueError(f"{text!r}: a slice step cannot be zero")
    return slice(start, stop, step)


def pick(spec: int | slice | None, count: int, what: str) -> list[int]:
    """The indices out of ``count`` that ``spec`` names (all without one); ValueError if none."""
    if spec is None:
        return list(range(count))
    if not isinstance(spec, slice):
        number = whole_number(spec)
        if number is None:
            raise ValueError(f"{spec!r}: give an index (int), a slice or None")
        spec = number
    if isinstance(spec, int):
        if not -count <= spec < count:
            raise ValueError(f"{spec} is out of range: there are {count} {what} (0..{count - 1})")
        return [spec % count]
    chosen = list(range(count))[spec]
    if not chosen:
        raise ValueError(f"the slice selects none of the {count} {what}")
    return chosen
