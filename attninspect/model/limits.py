"""The ranges of the numbers that choose an engine, in one place for every front end: the
`Inspector` refuses a value outside them with `BadValueError`, the command line with a usage
error (exit 2), before anything loads."""

from __future__ import annotations

import operator

SIZE_MAX = 2**31 - 1  # dim, heads, batch size and other counts
SEED_MIN, SEED_MAX = 0, 2**63 - 1  # what torch.manual_seed and torch.Generator accept
RANGES = {"dim": (1, SIZE_MAX), "heads": (1, SIZE_MAX), "seed": (SEED_MIN, SEED_MAX),
          "batch_size": (1, SIZE_MAX), "threads": (1, 1024)}  # fmt: skip


def whole_number(value: object) -> int | None:
    """``value`` as an int (Python's or numpy's integers; never a bool), else None."""
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        return None


def out_of_range(name: str, value: int) -> str | None:
    """Why ``value`` cannot be the ``name`` setting (a key of `RANGES`), or None if it can."""
    low, high = RANGES[name]
    if low <= value <= high:
        return None
    return f"{value} is not in the range {low}<=x<={high}"
