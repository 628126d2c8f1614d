"""Measures of an encoder–decoder model's three kinds of attention: one tap over the layers of
the kinds measured, each layer handed on as ``--measure`` measures it (`measures.layer_measured`:
scores, or norms through the kind's own output projection), and, for the Python API's whole
inspections, each text's head sums (the head mean of norms) and query, key and value vectors.

Cross attention's keys and values are the encoder's states, so its norms are ‖α_ij f_h(x_j)‖
with x_j the source tokens' encoder outputs through the cross attention's value and output
projections; its scores carry the source's padding mask (NaN where masked).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from attninspect.analysis.measures import MEASURE_PARTS, layer_measured, norm_of_sum
from attninspect.analysis.record import AttentionKind, HeadVectors, InspectionData
from attninspect.errors import InputError
from attninspect.model.engines.seam import NO_PARTS, VECTOR_PARTS, LayerParts, TapRequest

Key = tuple[str, int]  # (kind, layer)
Sizes = Mapping[str, tuple[int, int]]  # kind -> one text's real (rows, columns)
Data = TypeVar("Data", bound=InspectionData)


@dataclass
class KindTap:
    """What one padded pass of an encoder–decoder model taps, and how each layer is measured.

    ``layers``: per kind, how many layers are measured (a kind not named is handed on as
    weights); ``head_sum``: norms are fed as the norm of the sum over heads, one head (a view of
    the head mean), instead of per head; ``whole``: the Python API's inspections, which keep
    per-head norms with their head sums and the query, key and value vectors of every layer
    (``vector_parts``: those the engine hands over)."""

    measure: str  # `measures.Measure`
    layers: Mapping[str, int]
    head_sum: bool = False
    whole: bool = False
    vector_parts: frozenset[str] = NO_PARTS
    waiting: dict[Key, LayerParts] = field(default_factory=dict)  # parts before their weights
    sums: dict[Key, np.ndarray] = field(default_factory=dict)  # (B, Tq, Tk) norms' head sums
    vectors: dict[Key, LayerParts] = field(default_factory=dict)  # q, k, v of the batch

    @property
    def parts(self) -> frozenset[str]:
        return MEASURE_PARTS[self.measure] | (self.vector_parts if self.whole else NO_PARTS)

    def request(self) -> TapRequest | None:
        """The tap for one pass; None where nothing is tapped (weights, no vectors wanted)."""
        if not self.parts:
            return None
        wanted = {kind: frozenset(range(count)) for kind, count in self.layers.items()}
        return TapRequest(self.parts, wanted, self._arrived)

    def _arrived(self, parts: LayerParts) -> None:  # a layer's parts come just before its weights
        self.waiting[(parts.kind, parts.layer)] = parts

    def measured(self, kind: str, layer: int, weights: np.ndarray) -> np.ndarray:
        """Layer ``layer`` of ``kind`` of the padded batch, (B, H, Tq, Tk) weights, as the
        measure measures it ((B, 1, Tq, Tk) for the norms' head sum); kept for `attach`."""
        parts = self.waiting.pop((kind, layer), None)
        if parts is None:  # a kind not measured: its weights
            return weights
        if self.whole:
            vectors = {name: getattr(parts, name) for name in VECTOR_PARTS}
            self.vectors[(kind, layer)] = LayerParts(kind, layer, **vectors)
            if self.measure == "norms":
                assert parts.transformed is not None  # asked for by MEASURE_PARTS["norms"]
                self.sums[(kind, layer)] = norm_of_sum(weights, parts.transformed)
        return layer_measured(self.measure, weights, parts, self.head_sum and not self.whole)

    def attach(self, row: int, sizes: Sizes, result: Any) -> Any:
        """Text ``row`` of the batch (its shown inspection and view, or its InputError) with
        its head sums and vectors, on every kind (`whole` taps only)."""
        if not self.whole or isinstance(result, InputError):
            return result
        shown, view = result
        others: dict[AttentionKind, InspectionData] = {
            kind: self._of(row, sizes, each) for kind, each in shown.others.items()
        }
        return dataclasses.replace(self._of(row, sizes, shown), others=others), view

    def _of(self, row: int, sizes: Sizes, inspection: Data) -> Data:
        kind = inspection.kind
        rows, columns = sizes[kind]
        count = self.layers.get(kind, 0)
        head_sum = None
        if self.measure == "norms" and count:
            found = [self.sums[(kind, layer)][row, :rows, :columns] for layer in range(count)]
            head_sum = np.ascontiguousarray(np.stack(found))  # (L, Tq, Tk)
        vectors = None
        if self.vector_parts >= VECTOR_PARTS and count:
            cut = [self.vectors[(kind, layer)].cut(row, rows, columns) for layer in range(count)]
            vectors = HeadVectors(
                layers=list(range(count)),
                queries=[each.queries for each in cut if each.queries is not None],
                keys=[each.keys for each in cut if each.keys is not None],
                values=[each.values for each in cut if each.values is not None],
            )
        return dataclasses.replace(inspection, head_sum=head_sum, vectors=vectors)


def kind_tap(
    engine: Any, measure: str, head: object, chosen: str, every_kind: bool, whole: bool
) -> KindTap | None:
    """The tap of an encoder–decoder pass: the ``chosen`` kind measured, and every kind where
    ``every_kind`` (their whole layers are kept); ``whole`` for the Python API's inspections
    (`KindTap`). None where the weights alone are wanted."""
    if measure == "weights" and not whole:
        return None
    kinds = ("encoder", "decoder", "cross") if every_kind or whole else (chosen,)
    layers = {kind: int(engine.layers_of(kind)[0]) for kind in kinds}
    captures = frozenset(getattr(engine, "captures", NO_PARTS))
    return KindTap(measure, layers, head == "mean", whole, VECTOR_PARTS & captures)
