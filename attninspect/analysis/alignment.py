"""Compare the attention of two texts: same-length difference, or an alignment of their tokens."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import numpy as np

from attninspect.analysis.inspection import Inspection
from attninspect.analysis.selection import View


@dataclass(frozen=True)
class Alignment:
    """Which token of A pairs with which token of B (longest common token subsequence)."""

    pairs: list[tuple[int, int]]
    only_a: list[int]
    only_b: list[int]

    def as_json(self) -> dict[str, list]:
        return {
            "pairs": [list(pair) for pair in self.pairs],
            "only_a": self.only_a,
            "only_b": self.only_b,
        }


def align_tokens(tokens_a: list[str], tokens_b: list[str]) -> Alignment:
    """Pair equal tokens along their longest common subsequence (same length: by position)."""
    if len(tokens_a) == len(tokens_b):
        return Alignment([(i, i) for i in range(len(tokens_a))], [], [])
    matcher = difflib.SequenceMatcher(a=tokens_a, b=tokens_b, autojunk=False)
    pairs = [
        (block.a + offset, block.b + offset)
        for block in matcher.get_matching_blocks()
        for offset in range(block.size)
    ]
    paired_a = {a for a, _ in pairs}
    paired_b = {b for _, b in pairs}
    return Alignment(
        pairs=pairs,
        only_a=[i for i in range(len(tokens_a)) if i not in paired_a],
        only_b=[j for j in range(len(tokens_b)) if j not in paired_b],
    )


def key_alignment(a: Inspection, b: Inspection) -> Alignment | None:
    """How the key tokens of two texts pair, where they are not the query tokens (cross
    attention); None for self-attention, whose keys pair as its queries do."""
    if a.square and b.square:
        return None
    return align_tokens(a.key_tokens, b.key_tokens)


def paired_delta(
    matrix_a: np.ndarray,
    matrix_b: np.ndarray,
    alignment: Alignment,
    keys: Alignment | None = None,
) -> np.ndarray:
    """A − B over the paired tokens: (P, Pk), rows and columns in A's order; ``keys`` pairs the
    columns (None: as ``alignment`` pairs the rows)."""
    keys = alignment if keys is None else keys
    rows_a = [a for a, _ in alignment.pairs]
    rows_b = [b for _, b in alignment.pairs]
    columns_a = [a for a, _ in keys.pairs]
    columns_b = [b for _, b in keys.pairs]
    return matrix_a[np.ix_(rows_a, columns_a)] - matrix_b[np.ix_(rows_b, columns_b)]


@dataclass(frozen=True)
class FocusChange:
    """How much more (or less) the focus token attends to one paired key in A than in B."""

    token: str
    a_index: int
    b_index: int
    delta: float

    def as_json(self) -> dict[str, object]:
        return {
            "token": self.token,
            "a_index": self.a_index,
            "b_index": self.b_index,
            "delta": self.delta,
        }


def focus_changes(
    rows_a: np.ndarray, rows_b: np.ndarray, tokens_a: list[str], alignment: Alignment, top: int
) -> list[list[FocusChange]]:
    """Per layer, the ``top`` paired keys whose weight from the focus token changed most (a key
    masked in either text, a NaN score, has no change to rank).

    ``rows_a`` and ``rows_b`` are the focus rows per layer, (L, Tk_a) and (L, Tk_b);
    ``tokens_a`` are A's key tokens and ``alignment`` pairs the keys.
    """
    keys_a = np.array([a for a, _ in alignment.pairs], dtype=int)
    keys_b = np.array([b for _, b in alignment.pairs], dtype=int)
    changes = []
    for layer in range(rows_a.shape[0]):
        delta = rows_a[layer, keys_a] - rows_b[layer, keys_b]  # (P,)
        known = np.flatnonzero(~np.isnan(delta))  # (P',)
        order = known[np.argsort(-np.abs(delta[known]), kind="stable")][:top]
        changes.append(
            [
                FocusChange(tokens_a[keys_a[i]], int(keys_a[i]), int(keys_b[i]), float(delta[i]))
                for i in order
            ]
        )
    return changes


@dataclass(frozen=True)
class TextDiff:
    """Two inspections shown the same way, their alignment and their difference."""

    a: Inspection
    b: Inspection
    view_a: View
    view_b: View
    alignment: Alignment  # the query tokens (rows)
    paired: np.ndarray  # (P, Pk): A − B over paired tokens, in A's order
    changes: list[list[FocusChange]] | None
    key_alignment: Alignment | None = None  # the key tokens (columns); None: as the rows
    sources: tuple[str, str] | None = None  # an encoder–decoder model's texts A and B

    def shown_text(self, side: int) -> str:
        """Text A (0) or B (1) as the output names it: the text inspected, or an encoder–decoder
        model's source, whichever kind is shown (cross and decoder rows are target tokens)."""
        inspection = (self.a, self.b)[side]
        if inspection.sides is None:
            return inspection.text
        return self.sources[side] if self.sources is not None else inspection.input_text

    @property
    def keys(self) -> Alignment:
        """How the key tokens (columns) pair."""
        return self.alignment if self.key_alignment is None else self.key_alignment

    @property
    def same_length(self) -> bool:
        return self.a.length == self.b.length and self.a.key_length == self.b.key_length
