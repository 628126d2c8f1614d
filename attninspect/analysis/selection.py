"""Select and aggregate what to show from the full (L, H, T, T) attention tensor."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import numpy as np

from attninspect.analysis.matrix_window import MatrixWindow
from attninspect.analysis.ranges import pick
from attninspect.analysis.record import AttentionKind
from attninspect.errors import BadValueError, OutOfRangeError
from attninspect.model.limits import whole_number

Aggregate = Literal["mean", "max"]
AGGREGATES: tuple[Aggregate, ...] = ("mean", "max")
HeadChoice = int | Aggregate
ViewKind = Literal["attention", "rollout"]


def parse_head(value: str | int) -> HeadChoice:
    """``"mean"``, ``"max"`` or a head index; anything else raises BadValueError."""
    number = whole_number(value)
    if number is not None:
        return number
    text = value.strip().lower() if isinstance(value, str) else ""
    if text == "mean":
        return "mean"
    if text == "max":
        return "max"
    if re.fullmatch(r"-?[0-9]+", text):
        return int(text)
    raise BadValueError(f"{value!r} is not a head: use an index (digits 0-9), mean or max")


def resolve_layer(layer: int, num_layers: int) -> int:
    """Negative layers count from the end; return the non-negative index or refuse."""
    if not -num_layers <= layer < num_layers:
        raise OutOfRangeError(
            "layer",
            f"{layer} is out of range: this model has {num_layers} layer"
            f"{'s' if num_layers != 1 else ''} (use 0..{num_layers - 1}, or -{num_layers}..-1)",
        )
    return layer % num_layers


def resolve_head(head: HeadChoice, num_heads: int) -> HeadChoice:
    """Check a head index against the model (negative counts from the end)."""
    if isinstance(head, str):
        return head
    if not -num_heads <= head < num_heads:
        raise OutOfRangeError(
            "head",
            f"{head} is out of range: each layer has {num_heads} head"
            f"{'s' if num_heads != 1 else ''} (use 0..{num_heads - 1}, mean or max)",
        )
    return head % num_heads


IndexSpec = int | slice  # one index, or a Python slice (negatives count from the end)


def resolve_indices(spec: IndexSpec | None, count: int, what: str = "layers") -> list[int]:
    """The non-negative indices ``spec`` names out of ``count`` (``what``: "layers" or "heads"):
    all for None, one for an index, a slice's as Python takes them; none at all is refused."""
    try:
        return pick(spec, count, what)
    except ValueError as error:
        raise OutOfRangeError(what, str(error)) from None


def heads_view(layer_attention: np.ndarray, head: HeadChoice) -> np.ndarray:
    """(..., H, Tq, Tk) -> (..., Tq, Tk): one head, or the mean or max over heads."""
    if head == "mean":
        return layer_attention.mean(axis=-3, dtype=np.float32)
    if head == "max":
        return layer_attention.max(axis=-3)
    return layer_attention[..., head, :, :]


def focus_rows(attention: np.ndarray, focus: int, head: HeadChoice) -> np.ndarray:
    """(L, H, Tq, Tk) -> (L, Tk): the focus token's row in every layer, for the chosen heads."""
    return heads_view(attention[:, :, focus : focus + 1, :], head)[:, 0, :]


@dataclass(frozen=True)
class Ranked:
    """One entry of a top-K list."""

    index: int
    weight: float


def top_k(row: np.ndarray, k: int) -> list[Ranked]:
    """The ``k`` largest weights of ``row``, largest first; ties keep token order. A cell with
    no value (a masked score, NaN) is never ranked."""
    order = np.argsort(-row, kind="stable")  # NaN sorts last
    order = order[~np.isnan(row[order])][: max(k, 0)]
    return [Ranked(int(i), float(row[i])) for i in order]


def window(length: int, size: int, center: int | None) -> range:
    """A contiguous range of ``size`` positions out of ``length``, centred on ``center``."""
    size = max(1, min(size, length))
    if center is None:
        return range(0, size)
    start = min(max(center - size // 2, 0), length - size)
    return range(start, start + size)


@dataclass(frozen=True)
class View:
    """What is shown of one inspection: the selected T x T matrix, its token labels and the focus
    token's top-K (for the selected matrix, and per layer)."""

    layer: int
    head: HeadChoice
    matrix: np.ndarray  # (Tq, Tk); (0, 0) where only ``window`` of it was computed
    tokens: list[str]  # the query tokens (rows)
    key_tokens: list[str]  # the columns; equal to ``tokens`` for self-attention
    focus: int | None
    focus_top: list[Ranked]
    focus_by_layer: list[list[Ranked]]
    kind: ViewKind = "attention"
    words: bool = False
    hidden_special: bool = False
    sink_share: list[float] | None = None  # per layer, before special tokens were hidden
    stats: list | None = None  # HeadStats for every layer and head, with --stats
    attention_kind: AttentionKind = "self"
    # The terminal table's rows of the selected matrix, where only they were computed
    # (`WholeLayers.sight`); ``matrix`` is then empty.
    window: MatrixWindow | None = None

    @property
    def query_tokens(self) -> list[str]:
        return self.tokens


def build_view(
    attention: np.ndarray,
    tokens: list[str],
    key_tokens: list[str],
    layer: int,
    head: HeadChoice,
    focus: int | None,
    top: int,
    **details: object,
) -> View:
    """Select ``layer``/``head`` (already resolved) and rank what ``focus`` attends to per layer."""
    matrix = heads_view(attention[layer], head)  # (Tq, Tk)
    rows = focus_rows(attention, focus, head) if focus is not None else None  # (L, Tk)
    return assemble_view(matrix, tokens, key_tokens, layer, head, focus, rows, top, **details)


def assemble_view(
    matrix: np.ndarray,
    tokens: list[str],
    key_tokens: list[str],
    layer: int,
    head: HeadChoice,
    focus: int | None,
    rows: np.ndarray | None,
    top: int,
    **details: object,
) -> View:
    """A View from the selected (Tq, Tk) matrix (or the `MatrixWindow` of it in ``details``)
    and the focus token's row in every layer (L, Tk)."""
    shown = details.get("window")
    focus_row = None
    if focus is not None:
        focus_row = shown.row(focus) if isinstance(shown, MatrixWindow) else matrix[focus]
    by_layer = [top_k(row, top) for row in rows] if rows is not None and focus is not None else []
    return View(
        layer=layer,
        head=head,
        matrix=matrix,
        tokens=tokens,
        key_tokens=key_tokens,
        focus=focus,
        focus_top=top_k(focus_row, top) if focus_row is not None else [],
        focus_by_layer=by_layer,
        **details,  # type: ignore[arg-type]
    )
