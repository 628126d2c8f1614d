"""The one object that carries a finished inspection from the compute side to the output side."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    from attninspect.analysis.selection import HeadChoice, View

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


# Draws an inspection as HTML for Jupyter's `_repr_html_`. The page renderer lives above
# analysis, so the API layer sets this when it is imported (`api.notebook`); None: no drawing.
HTML_DRAWER: Callable[[Inspection], str | None] | None = None
REPR_TEXT = 40  # characters of the text a repr shows


@dataclass(frozen=True)
class Inspection:
    """Tokens, stage shapes, the attention tensor of one kind and where it came from, for one text.

    ``attention`` is (L, H, Tq, Tk) float32: rows are queries ("from"), columns keys ("to"), and
    every row sums to 1. The token fields (``tokens``, ``special``, ...) describe the query axis;
    ``key_axis`` describes the key axis where it differs (cross-attention, decoder tokens → source
    tokens); None means self-attention (Tq = Tk, one token list). ``others`` holds the text's
    other attention kinds (an encoder–decoder model has encoder, decoder and cross), each an
    Inspection of its own. When only some layers or heads were kept (``--layers``, ``--heads``,
    or a streamed run that needed none whole), ``layers`` / ``heads`` name the model's indices
    that ``attention`` holds and ``model_layers`` / ``model_heads`` count the model's own;
    where ``heads`` leaves some out, ``head_mean`` holds, per kept layer, the mean of every head
    (L', Tq, Tk): the "mean" the terminal shows, which pictures of the kept heads show too.
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
    kind: AttentionKind = "self"
    key_axis: TokenAxis | None = None
    others: dict[AttentionKind, Inspection] = field(default_factory=dict)
    head_mean: np.ndarray | None = None  # (L', Tq, Tk) where ``heads`` narrows: every head's mean
    pair_start: int | None = None  # the first query token of the second text of a pair
    prompt_length: int | None = None  # query tokens before the generated ones
    generated: list[str] | None = None  # the generated tokens, as strings

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
    def keys(self) -> TokenAxis:
        """The key ("to") side: the columns of every matrix (the queries for self-attention)."""
        return self.key_axis if self.key_axis is not None else self.query_axis

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

    def of_kind(self, kind: AttentionKind) -> Inspection:
        """The inspection of one attention kind of this text (``InputError`` if it has none)."""
        if kind == self.kind:
            return self
        if kind in self.others:
            return dataclasses.replace(
                self.others[kind],
                others={k: v for k, v in self._all().items() if k != kind},
            )
        from attninspect.errors import InputError

        raise InputError(
            f"this text has no {kind} attention; its kinds are: {', '.join(self.kinds)}"
        )

    def _all(self) -> dict[AttentionKind, Inspection]:
        own = dataclasses.replace(self, others={})
        return {self.kind: own, **self.others}

    def with_axes(
        self, queries: TokenAxis, keys: TokenAxis | None, **changes: object
    ) -> Inspection:
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

    def __repr__(self) -> str:
        """One line: the text (cut), the model, the kind, the token count and the shape."""
        text = self.text if len(self.text) <= REPR_TEXT else self.text[: REPR_TEXT - 1] + "…"
        return (
            f"<Inspection {text!r} model={self.model!r} kind={self.kind} "
            f"tokens={self.query_length} attention={tuple(self.attention.shape)}>"
        )

    def _repr_html_(self) -> str | None:
        """Jupyter: the attention drawn as the HTML page draws it (None: the repr is shown)."""
        return HTML_DRAWER(self) if HTML_DRAWER is not None else None

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

    def view(
        self,
        layer: int = -1,
        head: HeadChoice | str = "mean",
        words: bool = False,
        hide_special: bool = False,
        rollout: bool = False,
        focus: str | None = None,
        top: int = 5,
        kind: AttentionKind | None = None,
    ) -> View:
        """The (T', T') matrix of one layer and head (or the mean / max over heads), after the
        chosen transforms, with its token labels; ``focus`` ranks what that token attends to.

        Raises ``OutOfRangeError`` for a layer or head the model does not have, ``InputError``
        for a focus token the text does not hold, ``ValueError`` for a malformed head or focus.
        ``kind`` picks another of the text's attention kinds (``kinds``): encoder, decoder, cross.
        """
        from attninspect.analysis.pipeline import ViewOptions, view_of

        options = ViewOptions.parse(
            head=head,
            focus=focus,
            layer=layer,
            words=words,
            hide_special=hide_special,
            rollout=rollout,
            top=top,
        )
        return view_of(self if kind is None else self.of_kind(kind), options)[1]
