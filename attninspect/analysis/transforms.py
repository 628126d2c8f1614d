"""Analysis views over a finished inspection: words, special tokens, rollout and head statistics.

Each transform returns a new inspection of the class it was given, so every renderer and format
works on its result.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from attninspect.analysis.record import Data, InspectionData, TokenAxis
from attninspect.analysis.selection import HeadChoice, heads_view
from attninspect.analysis.token_selectors import SUBWORD_MARKERS
from attninspect.errors import BadValueError, InputError


def word_groups(axis: TokenAxis) -> list[list[int]]:
    """Token positions grouped into words by the tokenizer's word ids, in order.

    Special tokens stay as their own entries. A token without a word id (a slow tokenizer's, or
    a generated one) is grouped by its marker: ``##`` continues a word, ``▁`` and ``Ġ`` start
    one, and a bare piece continues a word where the tokenizer marks word starts (▁, Ġ).
    """
    prefixed = any(token.startswith(WORD_STARTS) for token in axis.tokens)
    groups: list[list[int]] = []
    previous: int | None = None
    open_word = False  # whether the last group is a word that a marked piece may continue
    for position, word in enumerate(axis.word_ids):
        token = axis.tokens[position]
        if axis.special[position]:
            groups.append([position])
            previous, open_word = None, False
            continue
        by_marker = word is None and open_word and _continues(token, prefixed)
        if by_marker or (word is not None and word == previous):
            groups[-1].append(position)
        else:
            groups.append([position])
        previous, open_word = word, True
    return groups


WORD_STARTS = ("▁", "Ġ")


def _continues(token: str, prefixed: bool) -> bool:
    """Whether a token without a word id continues the word before it."""
    if token.startswith("##"):
        return True
    if token.startswith(WORD_STARTS):
        return False
    return prefixed


def _moved_marks(inspection: InspectionData, firsts: list[int]) -> dict[str, int | None]:
    """``pair_start`` and ``prompt_length`` where they fall among the rows that remain
    (``firsts``: the first old position of each new row)."""
    import bisect

    found: dict[str, int | None] = {}
    for name in ("pair_start", "prompt_length"):
        value = getattr(inspection, name)
        found[name] = None if value is None else bisect.bisect_left(firsts, value)
    return found


def _word_text(axis: TokenAxis, group: list[int]) -> str:
    """The word as written in the text (from offsets), or its pieces joined without markers."""
    offsets = axis.offsets
    if offsets is not None and not axis.special[group[0]]:
        start, end = offsets[group[0]][0], offsets[group[-1]][1]
        if end > start:
            return axis.text[start:end].strip() or axis.text[start:end]
    pieces = []
    for position in group:
        piece = axis.tokens[position]
        for marker in SUBWORD_MARKERS:
            piece = piece.removeprefix(marker)
        pieces.append(piece)
    return "".join(pieces) if len(group) > 1 else axis.tokens[group[0]]


def _word_axis(axis: TokenAxis, groups: list[list[int]]) -> TokenAxis:
    """The axis with one entry per word."""
    return TokenAxis(
        text=axis.text,
        tokens=[_word_text(axis, group) for group in groups],
        token_ids=[axis.token_ids[group[0]] for group in groups],
        special=[axis.special[group[0]] for group in groups],
        word_ids=list(range(len(groups))),
        offsets=None,
    )


def merge_words(inspection: Data) -> Data:
    """Word-level attention: *to* a word sums its pieces, *from* a word averages them.

    With P (Wq, Tq) averaging the rows of each query word and M (Tk, Wk) summing the columns of
    each key word, the word matrix is P · A · M; rows still sum to 1.
    """
    query_groups = word_groups(inspection.query_axis)
    key_groups = query_groups if inspection.square else word_groups(inspection.keys)
    averaging = np.zeros((len(query_groups), inspection.query_length))  # (Wq, Tq)
    for word, group in enumerate(query_groups):
        averaging[word, group] = 1.0 / len(group)
    summing = np.zeros((inspection.key_length, len(key_groups)))  # (Tk, Wk)
    for word, group in enumerate(key_groups):
        summing[group, word] = 1.0
    attention = averaging @ inspection.attention.astype(np.float64) @ summing  # (L, H, Wq, Wk)
    queries = _word_axis(inspection.query_axis, query_groups)
    keys = None if inspection.square else _word_axis(inspection.keys, key_groups)
    return inspection.with_axes(
        queries,
        keys,
        attention=np.ascontiguousarray(attention, dtype=np.float32),
        shapes={
            **inspection.shapes,
            "words": [len(query_groups)] if keys is None else [len(query_groups), len(key_groups)],
            "attention": list(attention.shape),
        },
        **_moved_marks(inspection, [group[0] for group in query_groups]),
    )


def _kept_axis(axis: TokenAxis, keep: list[int]) -> TokenAxis:
    return TokenAxis(
        text=axis.text,
        tokens=[axis.tokens[p] for p in keep],
        token_ids=[axis.token_ids[p] for p in keep],
        special=[False] * len(keep),
        word_ids=[axis.word_ids[p] for p in keep],
        offsets=[axis.offsets[p] for p in keep] if axis.offsets else None,
    )


def _not_special(axis: TokenAxis, line: int | None) -> list[int]:
    keep = [position for position, special in enumerate(axis.special) if not special]
    if not keep:
        raise InputError(
            "--hide-special would hide every token: this text is only special tokens "
            f"({' '.join(axis.tokens)}); drop --hide-special",
            line,
        )
    return keep


def hide_special(inspection: Data) -> Data:
    """Drop special tokens from rows and columns and renormalise every row to sum to 1."""
    rows = _not_special(inspection.query_axis, inspection.line)
    columns = rows if inspection.square else _not_special(inspection.keys, inspection.line)
    kept = inspection.attention[:, :, rows][:, :, :, columns]  # (L, H, Tq', Tk')
    totals = kept.sum(axis=-1, keepdims=True)
    kept = np.divide(kept, totals, out=np.zeros_like(kept), where=totals > 0)
    return inspection.with_axes(
        _kept_axis(inspection.query_axis, rows),
        None if inspection.square else _kept_axis(inspection.keys, columns),
        attention=np.ascontiguousarray(kept, dtype=np.float32),
        shapes={**inspection.shapes, "shown": [len(rows), len(columns)]},
        **_moved_marks(inspection, rows),
    )


def rollout_step(product: np.ndarray | None, layer_attention: np.ndarray) -> np.ndarray:
    """The rollout up to this layer from the rollout below it (None for layer 0): (T, T) float64.

    ``layer_attention`` is (H, T, T); its head mean A becomes 0.5·A + 0.5·I, rows renormalised.
    """
    identity = np.eye(layer_attention.shape[-1], dtype=np.float64)
    mixed = 0.5 * layer_attention.mean(axis=0, dtype=np.float64) + 0.5 * identity
    mixed /= mixed.sum(axis=-1, keepdims=True)
    return mixed if product is None else mixed @ product


def check_rollout(inspection: InspectionData) -> None:
    """Rollout multiplies a stack of self-attention layers; refuse it for cross-attention."""
    if not inspection.square:
        raise BadValueError(
            f"rollout is defined for self-attention stacks, not for {inspection.kind} attention "
            "(its queries and keys are different tokens); drop rollout or choose another kind"
        )


def sink_share(inspection: InspectionData, head: HeadChoice) -> list[float]:
    """Per layer, the mean share of each query's attention on special tokens (selected heads)."""
    special = np.array(inspection.keys.special, dtype=bool)
    return special_share(inspection.attention, special, head)


def special_share(attention: np.ndarray, special: np.ndarray, head: HeadChoice) -> list[float]:
    """`sink_share` of a bare (L, H, Tq, Tk) array and its keys' (Tk,) special flags."""
    if not special.any():
        return [0.0] * int(attention.shape[0])
    per_layer = heads_view(attention, head)  # (L, Tq, Tk)
    return [float(value) for value in per_layer[:, :, special].sum(axis=-1).mean(axis=-1)]


def padded_special_share(shown: np.ndarray, special: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """`special_share` of one layer for a whole padded batch at once: ``shown`` is the chosen
    heads' (B, T, T) view, ``special`` the (B, T) keys' flags (False on padding), ``lengths``
    each text's (B,) token count. Padded query rows are left out; padded keys carry no flag."""
    mass = np.where(special[:, None, :], shown, np.float32(0)).sum(axis=-1)  # (B, T)
    real = np.arange(shown.shape[-2])[None, :] < lengths[:, None]  # (B, T)
    per_text = np.where(real, mass, np.float32(0)).sum(axis=-1, dtype=np.float32)  # (B,)
    return per_text / lengths.astype(np.float32)


@dataclass(frozen=True)
class HeadStats:
    """How one head spreads its attention, averaged over query rows. The positional shares
    (previous, same, next) need one token list: they are None for cross-attention."""

    layer: int
    head: int
    entropy: float  # bits
    previous: float | None
    same: float | None
    next: float | None
    special: float

    def as_json(self) -> dict[str, float | int | None]:
        return dataclasses.asdict(self)


def head_stats(inspection: InspectionData, layers: list[int]) -> list[HeadStats]:
    """Entropy and positional / special-token shares for every head of ``layers``."""
    attention = inspection.attention.astype(np.float64)
    special = np.array(inspection.keys.special, dtype=bool)
    stats = []
    for layer in layers:
        for head in range(int(attention.shape[1])):
            matrix = attention[layer, head]  # (Tq, Tk)
            logs = np.log2(matrix, out=np.zeros_like(matrix), where=matrix > 0)
            previous, same, following = (
                _positional(matrix) if inspection.square else (None, None, None)
            )
            stats.append(
                HeadStats(
                    layer=layer,
                    head=head,
                    entropy=float((-(matrix * logs).sum(axis=-1)).mean()),
                    previous=previous,
                    same=same,
                    next=following,
                    special=float(matrix[:, special].sum(axis=-1).mean()) if special.any() else 0.0,
                )
            )
    return stats


def _positional(matrix: np.ndarray) -> tuple[float, float, float]:
    """Mean attention to the previous token, the token itself and the next one: (T, T)."""
    length = matrix.shape[0]
    rows = np.arange(length)
    previous = float(matrix[rows[1:], rows[1:] - 1].mean()) if length > 1 else 0.0
    following = float(matrix[rows[:-1], rows[:-1] + 1].mean()) if length > 1 else 0.0
    return previous, float(matrix[rows, rows].mean()), following
