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
    every row sums to 1. When only some layers or heads were kept (``--layers``, ``--heads``, or a
    streamed run that needed none whole), ``layers`` / ``heads`` name the model's indices that
    ``attention`` holds and ``model_layers`` / ``model_heads`` count the model's own.
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
    layers: list[int] | None = None
    heads: list[int] | None = None
    model_layers: int | None = None
    model_heads: int | None = None

    @property
    def num_layers(self) -> int:
        """The model's layers (not only those ``attention`` holds)."""
        return self.model_layers or int(self.attention.shape[0])

    @property
    def num_heads(self) -> int:
        """The model's heads per layer (not only those ``attention`` holds)."""
        return self.model_heads or int(self.attention.shape[1])

    @property
    def length(self) -> int:
        return int(self.attention.shape[-1])

    @property
    def layer_ids(self) -> list[int]:
        """The model's layer number of each entry of ``attention``."""
        return self.layers if self.layers is not None else list(range(self.attention.shape[0]))

    @property
    def head_ids(self) -> list[int]:
        """The model's head number of each head of ``attention``."""
        return self.heads if self.heads is not None else list(range(self.attention.shape[1]))

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
