"""The one object that carries a finished inspection from the compute side to the output side."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Inspection:
    """Tokens, stage shapes, the full attention tensor and where it came from, for one text.

    ``attention`` is (L, H, T, T) float32: rows are queries ("from"), columns keys ("to"), and
    every row sums to 1.
    """

    text: str
    tokens: list[str]
    token_ids: list[int]
    special: list[bool]
    word_ids: list[int | None]
    attention: np.ndarray
    shapes: dict[str, list[int]]
    model: str
    engine: str
    device: str
    dtype: str
    seconds: float
    causal: bool = False
    offsets: list[tuple[int, int]] | None = None
    truncated_from: int | None = None
    index: int = 0
    line: int | None = None

    @property
    def num_layers(self) -> int:
        return int(self.attention.shape[0])

    @property
    def num_heads(self) -> int:
        return int(self.attention.shape[1])

    @property
    def length(self) -> int:
        return int(self.attention.shape[-1])
