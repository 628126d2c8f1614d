"""What a matrix cell measures: the attention weight, the score before the softmax, or the
norm-based attention of Kobayashi et al. (EMNLP 2020, "Attention is Not Only a Weight").

- ``weights``: α_ij, the softmax of each row (every row sums to 1);
- ``scores``: the logits the model's softmax received (scaled, with the mask and what the model
  adds, such as T5's position bias); a masked cell has no score: NaN;
- ``norms``: ‖α_ij f_h(x_j)‖ with f_h(x_j) = (x_j W_V + b_V) W_O restricted to head h (the
  output projection's bias excluded), so a key that moves a small vector counts for little
  however large its weight. The head mean of norms is ‖Σ_h α_hij f_h(x_j)‖, the norm of the sum
  over heads, as the paper's code computes it (not a mean of the per-head norms).

Rollout and corpus statistics are defined on weights and keep using them.
"""

from __future__ import annotations

import dataclasses
from typing import Literal, TypeVar

import numpy as np

from attninspect.analysis.record import InspectionData
from attninspect.errors import AttnInspectError, BadValueError
from attninspect.model.engines.seam import LayerParts

Measure = Literal["weights", "scores", "norms"]
MEASURES: tuple[Measure, ...] = ("weights", "scores", "norms")
# The parts of the tap (`model.engines.seam.PARTS`) each measure is made from, besides weights.
MEASURE_PARTS: dict[str, frozenset[str]] = {
    "weights": frozenset(),
    "scores": frozenset({"scores"}),
    "norms": frozenset({"transformed"}),
}
Data = TypeVar("Data", bound=InspectionData)
# Floats a chunk of `norm_of_sum` holds at most: (B, rows, Tk, D).
SUM_CHUNK = 1 << 22


def parse_measure(value: object) -> Measure:
    """``weights``, ``scores`` or ``norms``; anything else raises BadValueError."""
    text = value.strip().lower() if isinstance(value, str) else None
    for measure in MEASURES:
        if text == measure:
            return measure
    raise BadValueError(f"{value!r} is not a measure: use {', '.join(MEASURES)}")


def norms(weights: np.ndarray, transformed: np.ndarray) -> np.ndarray:
    """‖α_ij f_h(x_j)‖ = α_ij ‖f_h(x_j)‖ per head (α ≥ 0): (..., H, Tq, Tk) from the weights
    (..., H, Tq, Tk) and the transformed vectors (..., H, Tk, D)."""
    lengths = np.linalg.norm(transformed, axis=-1)  # (..., H, Tk)
    return (weights * lengths[..., None, :]).astype(np.float32)  # (..., H, Tq, Tk)


def norm_of_sum(weights: np.ndarray, transformed: np.ndarray) -> np.ndarray:
    """‖Σ_h α_hij f_h(x_j)‖: (..., Tq, Tk) from weights (..., H, Tq, Tk) and transformed vectors
    (..., H, Tk, D), a few query rows at a time so that no (Tq, Tk, D) array is built whole."""
    *lead, _heads, rows, columns = weights.shape
    size = int(transformed.shape[-1])
    found = np.empty((*lead, rows, columns), np.float32)  # (..., Tq, Tk)
    batch = int(np.prod(lead)) if lead else 1
    step = max(1, SUM_CHUNK // max(1, batch * columns * size))
    for start in range(0, rows, step):
        part = weights[..., start : start + step, :]  # (..., H, c, Tk)
        summed = np.einsum("...hqk,...hkd->...qkd", part, transformed)  # (..., c, Tk, D)
        found[..., start : start + step, :] = np.linalg.norm(summed, axis=-1)
    return found


def layer_measured(
    measure: str, weights: np.ndarray, parts: LayerParts, head_sum: bool = False
) -> np.ndarray:
    """One layer of a padded batch as ``measure`` measures it, from its weights (B, H, Tq, Tk)
    and tapped parts: the scores (B, H, Tq, Tk), the norms per head (B, H, Tq, Tk), or with
    ``head_sum`` (a view of the head mean) the norm of the sum over heads as one head
    (B, 1, Tq, Tk); the weights themselves for ``weights``."""
    if measure == "weights":
        return weights
    if measure == "scores":
        assert parts.scores is not None  # asked for by MEASURE_PARTS["scores"]
        return parts.scores
    assert parts.transformed is not None  # asked for by MEASURE_PARTS["norms"]
    if head_sum:
        return norm_of_sum(weights, parts.transformed)[:, None]
    return norms(weights, parts.transformed)


def measured(
    measure: str, weights: np.ndarray, parts: list[LayerParts]
) -> tuple[np.ndarray, np.ndarray | None]:
    """One text's kept layers as ``measure`` measures them, from their weights (L', H, Tq, Tk)
    and tapped parts (one per kept layer, in order): (L', H, Tq, Tk), and for norms the head
    mean (L', Tq, Tk), ‖Σ_h α f_h‖; None for the other measures."""
    if measure == "weights":
        return weights, None
    if measure == "scores":
        found = [each.scores for each in parts if each.scores is not None]
        return np.stack(found).astype(np.float32), None  # (L', H, Tq, Tk)
    vectors = [each.transformed for each in parts if each.transformed is not None]
    transformed = np.stack(vectors)  # (L', H, Tk, D)
    return norms(weights, transformed), norm_of_sum(weights, transformed)


def check_steps(
    measure: str, rollout: bool, words: bool, stats: bool, hide_special: bool = False
) -> None:
    """Refuse the steps defined on weights alone for another measure, in one line."""
    if measure == "weights":
        return
    if hide_special:
        raise AttnInspectError(
            f"--hide-special renormalises rows of weights; it does not take --measure {measure}"
        )
    if rollout:
        raise AttnInspectError(
            f"rollout multiplies attention weights layer by layer; it does not take --measure "
            f"{measure} (rollout keeps using weights: drop --measure)"
        )
    if stats:
        raise AttnInspectError(
            f"--stats measures attention weights; it does not take --measure {measure}"
        )
    if words:
        raise AttnInspectError(
            f"--words merges the weights of a word's tokens; it does not take --measure {measure}"
        )


def for_heads(inspection: Data, head: object) -> Data:
    """The inspection whose heads a view of ``head`` reads: for norms and the head mean, the
    norm of the sum over heads (`norm_of_sum`) as a single head; otherwise as it is."""
    if inspection.measure != "norms" or head != "mean" or inspection.head_sum is None:
        return inspection
    summed = inspection.head_sum[:, None]  # (L', 1, Tq, Tk)
    return dataclasses.replace(
        inspection, attention=summed, heads=None, head_sum=None, model_heads=inspection.num_heads
    )
