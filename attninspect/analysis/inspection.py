"""The one object that carries a finished inspection from the compute side to the output side."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from attninspect.analysis.selection import HeadChoice, View


@dataclass(frozen=True)
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

    def view(
        self,
        layer: int = -1,
        head: HeadChoice | str = "mean",
        words: bool = False,
        hide_special: bool = False,
        rollout: bool = False,
        focus: str | None = None,
        top: int = 5,
    ) -> View:
        """The (T', T') matrix of one layer and head (or the mean / max over heads), after the
        chosen transforms, with its token labels; ``focus`` ranks what that token attends to.

        Raises ``OutOfRangeError`` for a layer or head the model does not have, ``InputError``
        for a focus token the text does not hold, ``ValueError`` for a malformed head or focus.
        """
        from attninspect.analysis.views import ViewOptions, view_of

        options = ViewOptions.parse(
            head=head,
            focus=focus,
            layer=layer,
            words=words,
            hide_special=hide_special,
            rollout=rollout,
            top=top,
        )
        return view_of(self, options)[1]
