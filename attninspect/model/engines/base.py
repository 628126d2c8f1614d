"""The engine seam: what every engine offers, and how its attention is handed over.

An engine hands each layer's attention to a sink as soon as that layer is computed, as a
(B, H, T, T) float32 array for the padded batch; what to keep is the caller's choice. The
`collect` helper keeps whole layers and cuts them per text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

from attninspect.model.engines.seam import NO_PARTS, LayerParts, RowRequest, TapRequest
from attninspect.model.estimate import Sizes
from attninspect.model.tokenization import Encoding

EngineKind = Literal["pretrained", "scratch"]
LayerSink = Callable[[int, np.ndarray], None]  # (layer, (B, H, T, T) float32)


@dataclass(frozen=True)
class TextResult:
    """One text's attention (L', H, T, T) for the layers kept, and the shape of every stage."""

    attention: np.ndarray
    shapes: dict[str, list[int]]
    parts: list[LayerParts] = field(default_factory=list)  # per kept layer, in layer order


class Engine(Protocol):
    """A loaded model (or the scratch module) with its tokenizer."""

    kind: EngineKind
    model_name: str
    dtype: str
    causal: bool
    tokenizer: Any
    max_length: int | None
    num_layers: int
    num_heads: int
    device: Any  # torch.device
    sizes: Sizes  # for memory estimates
    captures: frozenset[str]  # the parts (`seam.PARTS`) it hands over besides weights
    fast: bool  # whether layers no output needs whole can run SDPA (`stream_batch`'s rows)

    @property
    def device_name(self) -> str: ...

    def stream_batch(
        self,
        encodings: list[Encoding],
        sink: LayerSink,
        tap: TapRequest | None = None,
        rows: RowRequest | None = None,
    ) -> list[dict[str, list[int]]]:
        """Run one padded batch, call ``sink`` once per layer in order; each text's shapes.
        ``tap``: the parts of the layers it names, to its own sink (`seam`); ``rows``: the
        layers no output needs whole, as rows to its own sinks where the engine is ``fast``
        (elsewhere ignored: every layer goes to ``sink``)."""
        ...


def collect(
    engine: Engine,
    encodings: list[Encoding],
    layers: Sequence[int] | None = None,
    parts: frozenset[str] = NO_PARTS,
) -> list[TextResult]:
    """Run a batch and keep ``layers`` (default: all) whole: (L', H, T, T) per text, and
    ``parts`` of the same layers (`seam`), each cut to its text."""
    wanted = set(range(engine.num_layers) if layers is None else layers)
    kept: list[np.ndarray] = []
    tapped: list[LayerParts] = []

    def keep(layer: int, weights: np.ndarray) -> None:
        if layer in wanted:
            kept.append(weights)  # (B, H, T, T)

    tap = TapRequest(parts, {"self": frozenset(wanted)}, tapped.append) if parts else None
    shapes = engine.stream_batch(encodings, keep, tap)
    results = []
    for row, (encoding, stages) in enumerate(zip(encodings, shapes, strict=True)):
        n = len(encoding)
        per_text = [weights[row, :, :n, :n] for weights in kept]  # L' x (H, T, T)
        attention = np.ascontiguousarray(np.stack(per_text))  # (L', H, T, T)
        own = [found.cut(row, n, n) for found in tapped]
        shapes_of = {**stages, "attention": list(attention.shape)}
        results.append(TextResult(attention, shapes_of, own))
    return results
