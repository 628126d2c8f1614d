"""What each measure is called on pictures, pages and the grid: one wording everywhere, and the
range its colour scale spans (0 to the largest weight; the smallest to the largest value of
another measure, masked cells, NaN, left out)."""

from __future__ import annotations

import numpy as np

# A cell's value, as a colour bar or a legend names it.
VALUE_LABELS = {
    "weights": "attention weight",
    "scores": "attention score (pre-softmax logit)",
    "norms": "norm ‖αf(x)‖",
}
# The norms' head mean is not a mean: Kobayashi et al. take the norm of the sum over heads.
HEAD_SUM = "norm of the sum over heads ‖Σₕ αₕfₕ(x)‖"
# What a picture's title says is shown.
TITLE_PARTS = {
    "weights": "attention",
    "scores": "attention scores (pre-softmax logits)",
    "norms": "norms ‖αf(x)‖ (Kobayashi et al. 2020)",
}
MASKED_NOTE = "blank = masked"


def value_label(measure: str, summed: bool = False) -> str:
    """``attention weight``, ``attention score (pre-softmax logit)`` or ``norm ‖αf(x)‖``; for
    the norms' head mean (``summed``), the norm of the sum over heads."""
    if measure == "norms" and summed:
        return HEAD_SUM
    return VALUE_LABELS.get(measure, measure)


def title_part(measure: str, summed: bool = False) -> str:
    """The title's name of what is shown: ``attention`` for weights, the measure otherwise
    (and for the norms' head mean, that it is the norm of the sum over heads)."""
    part = TITLE_PARTS.get(measure, measure)
    if measure == "norms" and summed:  # a line of its own: the title stays narrow
        part += "\nhead mean = the " + HEAD_SUM
    return part


def value_range(matrix: np.ndarray, measure: str) -> tuple[float, float]:
    """The colour scale's ends: 0 to the largest weight (1 when all are 0); for another measure
    the smallest to the largest finite value (masked cells left out; an even matrix or one with
    no value at all gets a scale one wide, so that nothing divides by zero)."""
    finite = matrix[np.isfinite(matrix)]
    if measure == "weights":
        return 0.0, (float(finite.max()) if finite.size else 0.0) or 1.0
    if not finite.size:
        return 0.0, 1.0
    low, high = float(finite.min()), float(finite.max())
    return low, high if high > low else low + 1.0


def has_masked(matrix: np.ndarray) -> bool:
    """Whether any cell has no value (a score the mask removed: NaN)."""
    return bool(np.isnan(matrix).any())
