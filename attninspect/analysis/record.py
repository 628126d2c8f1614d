"""The data of one inspection, and the types its parts are made of.

The analysis steps (`transforms`, `pipeline`) work on `InspectionData`; `inspection.Inspection`,
the class every inspection is made as, adds the views on top, so the steps never import it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, TypeVar, cast

import numpy as np

from attninspect.errors import InputError, OutOfRangeError

AttentionKind = Literal["self", "encoder", "decoder", "cross"]
ATTENTION_KINDS: tuple[AttentionKind, ...] = ("self", "encoder", "decoder", "cross")
# Which text each axis of an encoder–decoder kind holds: (rows / queries, columns / keys).
AXIS_SIDES: dict[str, tuple[str, str]] = {
    "encoder": ("source", "source"),
    "decoder": ("target", "target"),
    "cross": ("target", "source"),
}


@dataclass(frozen=True)
class TokenAxis:
    """One side of an attention matrix: the tokens and what the tokenizer said of each."""

    text: str
    tokens: list[str]
    token_ids: list[int]
    special: list[bool]
    word_ids: list[int | None]
    offsets: list[tuple[int, int]] | None = None

    def __len__(self) -> int:
        return len(self.tokens)


@dataclass(frozen=True)
class HeadVectors:
    """The query, key and value states of the layers a run kept, as the model's attention
    function received them: per layer, queries (H, Tq, d), keys and values (KV, Tk, d) (before
    grouped keys are repeated: head h reads key head h // (H / KV))."""

    layers: list[int]
    queries: list[np.ndarray]
    keys: list[np.ndarray]
    values: list[np.ndarray]

    def of(self, part: str, layer: int, num_layers: int) -> np.ndarray:
        """One part of one layer (negative layers count from the end)."""
        if not -num_layers <= layer < num_layers:
            raise OutOfRangeError(
                "layer", f"{layer} is out of range: there are {num_layers} layers"
            )
        number = layer % num_layers
        if number not in self.layers:
            kept = ", ".join(str(each) for each in self.layers) or "none"
            raise InputError(f"layer {number} was not kept (kept: {kept})")
        found: list[np.ndarray] = getattr(self, part)
        return found[self.layers.index(number)]


@dataclass(frozen=True)
class KeySide(TokenAxis):
    """The key side of an inspection (a `TokenAxis`) that, called with a layer, also gives that
    layer's key vectors (KV, Tk, d): ``inspection.keys.tokens``, ``inspection.keys(3)``."""

    lookup: Callable[[int], np.ndarray] | None = field(default=None, compare=False, repr=False)

    def __call__(self, layer: int) -> np.ndarray:
        if self.lookup is None:
            raise InputError("this inspection holds no key vectors")
        return self.lookup(layer)


Data = TypeVar("Data", bound="InspectionData")


@dataclass(frozen=True)
class InspectionData:
    """What an `inspection.Inspection` holds (its fields, described there) and reads off them."""

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
    kind: AttentionKind = "self"
    key_axis: TokenAxis | None = None
    others: dict[AttentionKind, InspectionData] = field(default_factory=dict)
    head_mean: np.ndarray | None = None  # (L', Tq, Tk) where ``heads`` narrows: every head's mean
    pair_start: int | None = None  # the first query token of the second text of a pair
    prompt_length: int | None = None  # query tokens before the generated ones
    generated: list[str] | None = None  # the generated tokens, as strings
    measure: str = "weights"  # what ``attention`` holds: weights, scores or norms (`measures`)
    head_sum: np.ndarray | None = None  # (L', Tq, Tk) for norms: ‖Σ_h α f_h‖, the head mean
    vectors: HeadVectors | None = None  # q, k, v of the kept layers, where the model gives them

    @property
    def input_text(self) -> str:
        """The text that was inspected: an encoder–decoder model's source, whatever the kind."""
        for each in (self, *self.others.values()):
            if each.kind == "encoder":
                return each.text
            if each.kind == "cross":
                return each.keys.text
        return self.text

    @property
    def target_text(self) -> str | None:
        """An encoder–decoder model's target text (None for other models)."""
        for each in (self, *self.others.values()):
            if each.kind in ("decoder", "cross"):
                return each.text
        return None

    @property
    def query_axis(self) -> TokenAxis:
        """The query ("from") side: the rows of every matrix."""
        return TokenAxis(
            self.text, self.tokens, self.token_ids, self.special, self.word_ids, self.offsets
        )

    @property
    def keys(self) -> KeySide:
        """The key ("to") side: the columns of every matrix (the queries for self-attention);
        called with a layer, that layer's key vectors (KV, Tk, d) as `queries` gives queries."""
        axis = self.key_axis if self.key_axis is not None else self.query_axis
        fields = {each.name: getattr(axis, each.name) for each in dataclasses.fields(TokenAxis)}
        return KeySide(**fields, lookup=lambda layer: self._vectors("keys", layer))

    def queries(self, layer: int) -> np.ndarray:
        """Layer ``layer``'s query vectors (H, Tq, d), as the attention function received them
        (after rotary embeddings), for a layer the run kept."""
        return self._vectors("queries", layer)

    def values(self, layer: int) -> np.ndarray:
        """Layer ``layer``'s value vectors (KV, Tk, d), for a layer the run kept."""
        return self._vectors("values", layer)

    def _vectors(self, part: str, layer: int) -> np.ndarray:
        if self.vectors is None:
            raise InputError(
                f"this inspection holds no {part}: the model ({self.model}) does not hand them "
                "over, or they were not kept"
            )
        return self.vectors.of(part, layer, self.num_layers)

    @property
    def query_tokens(self) -> list[str]:
        return self.tokens

    @property
    def key_tokens(self) -> list[str]:
        return self.keys.tokens

    @property
    def square(self) -> bool:
        """Whether queries and keys are one token list (self-attention)."""
        return self.key_axis is None

    @property
    def sides(self) -> tuple[str, str] | None:
        """The text of the rows and of the columns ("source", "target"); None for self."""
        return AXIS_SIDES.get(self.kind)

    def side_tokens(self) -> dict[str, list[str]]:
        """The tokens of each side this text's kinds show: ``{"source": [...], "target": [...]}``
        (empty for self-attention)."""
        found: dict[str, list[str]] = {}
        for each in (self, *self.others.values()):
            if each.sides is not None:
                found.setdefault(each.sides[0], each.query_tokens)
                found.setdefault(each.sides[1], each.key_tokens)
        return dict(sorted(found.items()))

    @property
    def kinds(self) -> list[AttentionKind]:
        """The attention kinds this text has: this one first, then the others."""
        return [self.kind, *self.others]

    def of_kind(self: Data, kind: AttentionKind) -> Data:
        """The inspection of one attention kind of this text (``InputError`` if it has none)."""
        if kind == self.kind:
            return self
        if kind in self.others:
            other = dataclasses.replace(
                self.others[kind],
                others={k: v for k, v in self._all().items() if k != kind},
            )
            return cast(Data, other)  # the others are made as this text's own class
        raise InputError(
            f"this text has no {kind} attention; its kinds are: {', '.join(self.kinds)}"
        )

    def _all(self) -> dict[AttentionKind, InspectionData]:
        own = dataclasses.replace(self, others={})
        return {self.kind: own, **self.others}

    def with_axes(
        self: Data, queries: TokenAxis, keys: TokenAxis | None, **changes: object
    ) -> Data:
        """A copy whose query side is ``queries`` and key side ``keys`` (None: the queries)."""
        return dataclasses.replace(
            self,
            text=queries.text,
            tokens=queries.tokens,
            token_ids=queries.token_ids,
            special=queries.special,
            word_ids=queries.word_ids,
            offsets=queries.offsets,
            key_axis=keys,
            **changes,  # type: ignore[arg-type]
        )

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
        """The query tokens (rows); for self-attention, every token."""
        return self.query_length

    @property
    def query_length(self) -> int:
        return int(self.attention.shape[-2])

    @property
    def key_length(self) -> int:
        return int(self.attention.shape[-1])

    @property
    def layer_ids(self) -> list[int]:
        """The model's layer number of each entry of ``attention``."""
        return self.layers if self.layers is not None else list(range(self.attention.shape[0]))

    @property
    def head_ids(self) -> list[int]:
        """The model's head number of each head of ``attention``."""
        return self.heads if self.heads is not None else list(range(self.attention.shape[1]))
