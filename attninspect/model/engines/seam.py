"""What an engine hands over besides the weights, torch-free: the plan going down (which
layers of which kind, which parts) and one record per kept layer coming up, as numpy.

Parts, named as TransformerLens names its hook points:

- ``queries`` (B, H, Tq, d): the model's query states as its attention function receives them
  (after rotary embeddings);
- ``keys`` and ``values`` (B, KV, Tk, d): before grouped keys are repeated (KV < H on Llama-style
  models with grouped-query attention; head h reads key and value head h // (H / KV));
- ``scores`` (B, H, Tq, Tk): the logits the model's own softmax receives (scaled, with the mask
  and whatever the model adds, such as a relative position bias); masked cells are NaN;
- ``transformed`` (B, H, Tk, D): f_h(x_j) of Kobayashi et al. (2020), each key's value vector
  through the head's slice of the output projection (its bias excluded); ‖α_ij f_h(x_j)‖ is the
  norm-based attention (`analysis.measures`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from attninspect.errors import AttnInspectError

PARTS = ("queries", "keys", "values", "scores", "transformed")
NO_PARTS: frozenset[str] = frozenset()
VECTOR_PARTS = frozenset({"queries", "keys", "values"})
PART_WORDS = {"transformed": "norms (value vectors through the output projection)"}


@dataclass(frozen=True)
class LayerParts:
    """One kept layer of one kind, for the padded batch (only the parts asked for)."""

    kind: str
    layer: int
    queries: np.ndarray | None = None  # (B, H, Tq, d)
    keys: np.ndarray | None = None  # (B, KV, Tk, d)
    values: np.ndarray | None = None  # (B, KV, Tk, d)
    scores: np.ndarray | None = None  # (B, H, Tq, Tk), NaN where masked
    transformed: np.ndarray | None = None  # (B, H, Tk, D)

    def cut(self, row: int, rows: int, columns: int) -> LayerParts:
        """Text ``row`` of the batch, without padding: ``rows`` queries, ``columns`` keys."""

        def of(array: np.ndarray | None, length: int) -> np.ndarray | None:
            if array is None:
                return None
            return np.ascontiguousarray(array[row, :, :length])

        scores = None
        if self.scores is not None:
            scores = np.ascontiguousarray(self.scores[row, :, :rows, :columns])  # (H, Tq, Tk)
        return LayerParts(
            self.kind,
            self.layer,
            queries=of(self.queries, rows),  # (H, Tq, d)
            keys=of(self.keys, columns),  # (KV, Tk, d)
            values=of(self.values, columns),  # (KV, Tk, d)
            scores=scores,
            transformed=of(self.transformed, columns),  # (H, Tk, D)
        )


PartsSink = Callable[[LayerParts], None]


@dataclass(frozen=True)
class TapRequest:
    """Which parts of which layers an engine hands to ``sink`` during one forward pass.

    ``layers`` maps an attention kind (``self``, or ``encoder``, ``decoder``, ``cross``) to the
    layer numbers whose parts are wanted; a kind or layer not named costs nothing more than a
    plain pass.
    """

    parts: frozenset[str]
    layers: Mapping[str, frozenset[int]]
    sink: PartsSink = field(compare=False)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.parts) - set(PARTS))
        if unknown:
            raise ValueError(f"unknown parts {unknown}; the parts are {', '.join(PARTS)}")

    def wants(self, kind: str, layer: int) -> bool:
        return bool(self.parts) and layer in self.layers.get(kind, NO_PARTS)


def check_captures(engine: object, tap: TapRequest | None) -> None:
    """Refuse a tap asking for parts that ``engine`` cannot hand over, naming the model class."""
    if tap is None or not tap.parts:
        return
    missing = sorted(set(tap.parts) - set(getattr(engine, "captures", ())))
    if missing:
        raise AttnInspectError(capture_refusal(engine, missing))


def capture_refusal(engine: object, missing: list[str], wanted: str | None = None) -> str:
    """One line: why ``engine`` cannot hand over ``missing`` parts (``wanted``: what was asked,
    in the caller's words)."""
    model = getattr(engine, "model", None)
    name = type(model).__name__ if model is not None else "the from-scratch module"
    wanted = wanted or ", ".join(PART_WORDS.get(part, part) for part in missing)
    if getattr(engine, "captures", ()):
        reason = "attninspect found no output projection for its attention"
    else:
        reason = "its attention does not pass through transformers' attention interface"
    return (
        f"model {getattr(engine, 'model_name', '?')!r} ({name}) cannot give {wanted}: "
        f"{reason}; only attention weights are available for it"
    )


# A block of one layer's weights for some query rows of a padded batch: (layer, the rows'
# positions (c,), their weights (B, H, c, Tk) float32).
BlockSink = Callable[[int, np.ndarray, np.ndarray], None]


@dataclass(frozen=True)
class RowRequest:
    """The layers whose whole weights no output needs (kind ``self``): the engine runs them with
    the model's fast attention (SDPA) and hands over only the weights of the query rows named
    in ``rows``, a block of rows at a time, computed from q and k with a bounded buffer.

    ``rows`` maps a layer to its wanted query positions (sorted), or to None for every row; a
    layer in ``layers`` but not in ``rows`` wants none. ``columns`` maps a layer to key columns
    wanted of every row (given to ``column_sink`` at once, before the rows; on a CPU they come
    from SDPA's own log-sum-exp, so the layer's rows are never computed whole). ``done`` is
    called once a layer's blocks are all handed over (also for a layer that wants none)."""

    layers: frozenset[int]
    rows: Mapping[int, tuple[int, ...] | None]
    block: BlockSink = field(compare=False)
    done: Callable[[int], None] = field(compare=False)
    # Per layer, key columns wanted of every query row (the special tokens, for the sink share)
    # and their sink: (layer, the columns (S,), their weights (B, H, Tq, S) float32).
    columns: Mapping[int, tuple[int, ...]] = field(default_factory=dict)
    column_sink: BlockSink | None = field(default=None, compare=False)

    def runs(self, kind: str, layer: int) -> bool:
        """Whether layer ``layer`` of attention ``kind`` runs fast (only self-attention does)."""
        return kind == "self" and layer in self.layers

    def wanted(self, layer: int) -> tuple[bool, tuple[int, ...] | None]:
        """(any rows wanted?, which: None for all)."""
        if layer not in self.rows:
            return False, ()
        found = self.rows[layer]
        return (found is None or bool(found)), found
