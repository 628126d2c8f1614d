"""Analysis views over a finished inspection: words, special tokens, rollout and head statistics.

Each transform returns a new `Inspection`, so every renderer and format works on its result.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from attninspect.analysis.inspection import Inspection
from attninspect.analysis.selection import HeadChoice, heads_view
from attninspect.analysis.selectors import SUBWORD_MARKERS
from attninspect.errors import InputError


def word_groups(inspection: Inspection) -> list[list[int]]:
    """Token positions grouped into words by the tokenizer's word ids, in order.

    Special tokens (and any token without a word id) stay as their own entries.
    """
    groups: list[list[int]] = []
    previous: int | None = None
    for position, word in enumerate(inspection.word_ids):
        if word is None or inspection.special[position]:
            groups.append([position])
            previous = None
        elif word == previous:
            groups[-1].append(position)
        else:
            groups.append([position])
            previous = word
    return groups


def _word_text(inspection: Inspection, group: list[int]) -> str:
    """The word as written in the text (from offsets), or its pieces joined without markers."""
    offsets = inspection.offsets
    if offsets is not None and not inspection.special[group[0]]:
        start, end = offsets[group[0]][0], offsets[group[-1]][1]
        if end > start:
            return inspection.text[start:end].strip() or inspection.text[start:end]
    pieces = []
    for position in group:
        piece = inspection.tokens[position]
        for marker in SUBWORD_MARKERS:
            piece = piece.removeprefix(marker)
        pieces.append(piece)
    return "".join(pieces) if len(group) > 1 else inspection.tokens[group[0]]


def merge_words(inspection: Inspection) -> Inspection:
    """Word-level attention: *to* a word sums its pieces, *from* a word averages them.

    With P (W, T) averaging the rows of each word and M (T, W) summing its columns, the word
    matrix is P · A · M; rows still sum to 1.
    """
    groups = word_groups(inspection)
    length, words = inspection.length, len(groups)
    summing = np.zeros((length, words))  # (T, W)
    averaging = np.zeros((words, length))  # (W, T)
    for word, group in enumerate(groups):
        summing[group, word] = 1.0
        averaging[word, group] = 1.0 / len(group)
    attention = averaging @ inspection.attention.astype(np.float64) @ summing  # (L, H, W, W)
    return dataclasses.replace(
        inspection,
        tokens=[_word_text(inspection, group) for group in groups],
        token_ids=[inspection.token_ids[group[0]] for group in groups],
        special=[inspection.special[group[0]] for group in groups],
        word_ids=list(range(words)),
        offsets=None,
        attention=np.ascontiguousarray(attention, dtype=np.float32),
        shapes={**inspection.shapes, "words": [words], "attention": list(attention.shape)},
    )


def hide_special(inspection: Inspection) -> Inspection:
    """Drop special tokens from rows and columns and renormalise every row to sum to 1."""
    keep = [position for position, special in enumerate(inspection.special) if not special]
    if not keep:
        raise InputError(
            "--hide-special would hide every token: this text is only special tokens "
            f"({' '.join(inspection.tokens)}); drop --hide-special",
            inspection.line,
        )
    kept = inspection.attention[:, :, keep][:, :, :, keep]  # (L, H, T', T')
    totals = kept.sum(axis=-1, keepdims=True)
    kept = np.divide(kept, totals, out=np.zeros_like(kept), where=totals > 0)
    return dataclasses.replace(
        inspection,
        tokens=[inspection.tokens[p] for p in keep],
        token_ids=[inspection.token_ids[p] for p in keep],
        special=[False] * len(keep),
        word_ids=[inspection.word_ids[p] for p in keep],
        offsets=[inspection.offsets[p] for p in keep] if inspection.offsets else None,
        attention=np.ascontiguousarray(kept, dtype=np.float32),
        shapes={**inspection.shapes, "shown": [len(keep), len(keep)]},
    )


def rollout(attention: np.ndarray) -> np.ndarray:
    """Attention rollout (Abnar & Zuidema, 2020) up to every layer: (L, H, T, T) -> (L, 1, T, T).

    Each layer's head mean A becomes 0.5·A + 0.5·I, rows renormalised; the rollout up to layer l
    is that layer's matrix times the rollout of the layers below it.
    """
    layers, _, length, _ = attention.shape
    result = np.empty((layers, 1, length, length), dtype=np.float32)
    product = None
    for layer in range(layers):
        product = rollout_step(product, attention[layer])
        result[layer, 0] = product
    return result


def rollout_step(product: np.ndarray | None, layer_attention: np.ndarray) -> np.ndarray:
    """The rollout up to this layer from the rollout below it (None for layer 0): (T, T) float64.

    ``layer_attention`` is (H, T, T); its head mean A becomes 0.5·A + 0.5·I, rows renormalised.
    """
    identity = np.eye(layer_attention.shape[-1], dtype=np.float64)
    mixed = 0.5 * layer_attention.mean(axis=0, dtype=np.float64) + 0.5 * identity
    mixed /= mixed.sum(axis=-1, keepdims=True)
    return mixed if product is None else mixed @ product


def with_rollout(inspection: Inspection) -> Inspection:
    """The inspection with its attention replaced by the rollout up to each layer."""
    rolled = rollout(inspection.attention)
    return dataclasses.replace(
        inspection, attention=rolled, shapes={**inspection.shapes, "rollout": list(rolled.shape)}
    )


def sink_share(inspection: Inspection, head: HeadChoice) -> list[float]:
    """Per layer, the mean share of each query's attention on special tokens (selected heads)."""
    special = np.array(inspection.special, dtype=bool)
    if not special.any():
        return [0.0] * inspection.num_layers
    per_layer = heads_view(inspection.attention, head)  # (L, T, T)
    return [float(value) for value in per_layer[:, :, special].sum(axis=-1).mean(axis=-1)]


@dataclass(frozen=True)
class HeadStats:
    """How one head spreads its attention, averaged over query rows."""

    layer: int
    head: int
    entropy: float  # bits
    previous: float
    same: float
    next: float
    special: float

    def as_json(self) -> dict[str, float | int]:
        return dataclasses.asdict(self)


def head_stats(inspection: Inspection, layers: list[int]) -> list[HeadStats]:
    """Entropy and positional / special-token shares for every head of ``layers``."""
    attention = inspection.attention.astype(np.float64)
    length = inspection.length
    special = np.array(inspection.special, dtype=bool)
    rows = np.arange(length)
    stats = []
    for layer in layers:
        for head in range(inspection.num_heads):
            matrix = attention[layer, head]  # (T, T)
            logs = np.log2(matrix, out=np.zeros_like(matrix), where=matrix > 0)
            entropy = float((-(matrix * logs).sum(axis=-1)).mean())
            stats.append(
                HeadStats(
                    layer=layer,
                    head=head,
                    entropy=entropy,
                    previous=float(matrix[rows[1:], rows[1:] - 1].mean()) if length > 1 else 0.0,
                    same=float(matrix[rows, rows].mean()),
                    next=float(matrix[rows[:-1], rows[:-1] + 1].mean()) if length > 1 else 0.0,
                    special=float(matrix[:, special].sum(axis=-1).mean()) if special.any() else 0.0,
                )
            )
    return stats
