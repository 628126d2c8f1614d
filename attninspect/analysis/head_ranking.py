"""Rank every layer x head by the attention one token gives another."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attninspect.analysis.inspection import Inspection


@dataclass(frozen=True)
class HeadScore:
    """The weight that head (layer, head) puts from the query token on the key token."""

    layer: int
    head: int
    weight: float

    def as_json(self) -> dict[str, float | int]:
        return {"layer": self.layer, "head": self.head, "weight": self.weight}


def rank_heads(attention: np.ndarray, source: int, target: int) -> list[HeadScore]:
    """Every head of (L, H, T, T) by ``attention[l, h, source, target]``, largest first.

    Ties keep layer-then-head order.
    """
    grid = attention[:, :, source, target]  # (L, H)
    order = np.argsort(-grid, axis=None, kind="stable")
    layers, heads = np.unravel_index(order, grid.shape)
    return [
        HeadScore(int(layer), int(head), float(grid[layer, head]))
        for layer, head in zip(layers, heads, strict=True)
    ]


@dataclass(frozen=True)
class HeadSearch:
    """The answer to "which heads link FROM to TO?" for one text."""

    inspection: Inspection
    source: int
    target: int
    scores: list[HeadScore]

    def as_json(self) -> dict[str, object]:
        inspection = self.inspection
        return {
            "text": inspection.text,
            "model": inspection.model,
            "engine": inspection.engine,
            "device": inspection.device,
            "tokens": inspection.tokens,
            "from": {"token": inspection.tokens[self.source], "index": self.source},
            "to": {"token": inspection.tokens[self.target], "index": self.target},
            "heads": [score.as_json() for score in self.scores],
        }
