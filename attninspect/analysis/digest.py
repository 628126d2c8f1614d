"""Streamed views: each layer's attention is analysed as it arrives and only what the output needs
is kept — the selected layer's matrix, the focus row and sink share of every layer, head
statistics, rollout's running product, and whole layers only where the output asks for them.

Every layer goes through the one analysis pipeline (`pipeline.analyse`), one layer at a time, so
the results equal those of the whole tensor.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from attninspect.analysis.inspection import Inspection
from attninspect.analysis.matrix_window import MatrixWindow, Sight, WindowRows
from attninspect.analysis.pipeline import (
    Rollout,
    ViewOptions,
    analyse,
    focus_index,
    measure_bare,
    measure_bare_batch,
    needs_steps,
    shown_tokens,
)
from attninspect.analysis.rows import RowLayer, RowSteps
from attninspect.analysis.selection import (
    HeadChoice,
    IndexSpec,
    View,
    assemble_view,
    focus_rows,
    heads_view,
    resolve_head,
    resolve_indices,
    resolve_layer,
    window,
)
from attninspect.analysis.transforms import HeadStats
from attninspect.errors import InputError


@dataclass(frozen=True)
class WholeLayers:
    """Which layers and heads an every-layer output (``--all-layers``, npz) keeps whole; and
    ``sight``: where the output is the terminal table alone, what it shows of the selected
    matrix, so that a selected layer that comes as rows keeps only its rows in sight, in a
    `MatrixWindow` (None: the whole matrix)."""

    wanted: bool = False
    layers: IndexSpec | None = None
    heads: IndexSpec | None = None
    sight: Sight | None = None

    def layer_ids(self, num_layers: int) -> list[int]:
        """The model layers kept whole: none unless the output needs them."""
        return resolve_indices(self.layers, num_layers, "layers") if self.wanted else []

    def head_ids(self, num_heads: int) -> list[int]:
        return resolve_indices(self.heads, num_heads, "heads")

    @property
    def narrowed(self) -> bool:
        return self.layers is not None or self.heads is not None


# What `_digest_group` calls with each layer of a padded batch: (layer, (B, H, T, T) weights).
BatchFeed = Callable[[int, np.ndarray], None]


class TakesLayers(Protocol):
    """A text's consumer of streamed layers (`TextDigest`, `HeadDigest`, `StatsDigest`)."""

    def add(self, layer: int, attention: np.ndarray) -> None: ...


@dataclass(frozen=True)
class Measured:
    """One text's layer as measured with its whole batch (`batch_feed`): its sink share and the
    chosen heads' (T, T) view, so that `TextDigest.add` need not work them out again."""

    sink: float
    shown: np.ndarray  # (T, T)


@dataclass
class TextDigest:
    """One text's consumer: `add` each layer's (H, T, T) in order, then `finish`."""

    base: Inspection  # tokens and metadata; its attention is empty (0, H, T, T)
    options: ViewOptions
    keep: WholeLayers
    num_layers: int
    layer: int = 0
    head: HeadChoice = "mean"
    kept_layers: list[int] = field(default_factory=list)
    kept: list[np.ndarray] = field(default_factory=list)  # L' x (H', Tq', Tk')
    means: list[np.ndarray] = field(default_factory=list)  # L' x (Tq', Tk'): every head's mean
    rows: list[np.ndarray] = field(default_factory=list)  # L x (Tk',)
    sinks: list[float] = field(default_factory=list)
    stats: list[HeadStats] = field(default_factory=list)
    matrix: np.ndarray | None = None  # (Tq', Tk')
    window: MatrixWindow | None = None  # the matrix's rows in sight, instead (`keep.sight`)
    rollout: Rollout = field(default_factory=Rollout)  # the product so far
    last: Inspection | None = None
    focus: int | None = None
    error: InputError | None = None
    bare: bool = False  # no transform asked: each layer's array is used as it comes
    special: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # (Tk,) keys
    steps: RowSteps | None = None  # for the layers that come as rows (`row_needs`)
    wanted_rows: dict[int, tuple[int, ...] | None] = field(default_factory=dict)
    wanted_columns: dict[int, tuple[int, ...]] = field(default_factory=dict)  # special keys
    row_layer: RowLayer | None = None  # the layer whose rows are coming

    def __post_init__(self) -> None:
        self.layer = resolve_layer(self.options.layer, self.num_layers)
        self.head = resolve_head(self.options.head, self.base.num_heads)
        self.head = "mean" if self.options.rollout else self.head
        self.kept_layers = self.keep.layer_ids(self.num_layers)
        self.bare = not needs_steps(self.options)
        self.special = np.array(self.base.keys.special, dtype=bool)  # (Tk,)

    def add(self, layer: int, attention: np.ndarray, measured: Measured | None = None) -> None:
        """Take layer ``layer``'s (H, T, T) attention; keep only what the output needs of it.
        ``measured``: what `batch_feed` already measured of this bare text's layer."""
        if self.error is not None:
            return
        piece = None if self.bare else self._analysed(layer, attention)
        if measured is not None:
            self.sinks.append(measured.sink)
        elif self.bare:  # the pipeline would only measure the sink share: no object per layer
            self.sinks.extend(measure_bare(attention[None], self.special, self.head))
        if layer == 0 and self.options.focus is not None:
            try:
                self.focus = focus_index(
                    self.options, self.base if piece is None else piece, self.base
                )
            except InputError as error:
                self.error = error
                return
        shown = attention[None] if piece is None else piece.attention  # (1, H', T', T')
        if self.focus is not None:
            self.rows.append(np.array(focus_rows(shown, self.focus, self.head)[0]))  # (T',)
        if layer == self.layer:
            chosen = measured.shown if measured is not None else heads_view(shown[0], self.head)
            self.matrix = np.array(chosen)  # (T', T')
        if layer in self.kept_layers:
            heads = self.keep.head_ids(shown.shape[1])
            self.kept.append(np.ascontiguousarray(shown[0, heads]))  # (H', T', T')
            if len(heads) < shown.shape[1]:  # the page's "mean" is every head's, as here
                self.means.append(np.array(heads_view(shown[0], "mean")))  # (T', T')
        if piece is not None:
            empty = np.zeros((0, *shown.shape[1:]), np.float32)  # (0, H', T', T')
            self.last = dataclasses.replace(piece, attention=empty)  # not the batch's array

    def row_needs(self) -> tuple[frozenset[int], dict[int, tuple[int, ...] | None]] | None:
        """The layers this text needs whole, and the model's query rows it wants of each other
        layer (None: all of them; a layer not named: none), so that those layers can run fast
        attention; None where every layer is needed whole (rollout, head statistics)."""
        if self.options.rollout or self.options.stats:
            return None
        whole = frozenset(self.kept_layers)
        self.steps = RowSteps.of(self.base, self.options, self.head)
        if self.options.focus is not None and self.focus is None and self.error is None:
            try:
                shown = shown_tokens(self.base, self.options)
                self.focus = focus_index(self.options, shown, self.base)
            except InputError as error:
                self.error = error
        if self.error is not None:
            return whole, {}
        special = tuple(int(p) for p in np.flatnonzero(self.special))  # the sink share's keys
        focus = self.steps.rows_of(self.focus) if self.focus is not None else ()
        sight = self.keep.sight
        for layer in range(self.num_layers):
            if layer in whole:
                continue
            if layer == self.layer and (sight is None or sight.scale):
                self.wanted_rows[layer] = None  # every row: the matrix, or its scale
                continue
            if special:
                self.wanted_columns[layer] = special
            rows = tuple(sorted({*focus, *self._sight_rows()})) if layer == self.layer else focus
            if rows:
                self.wanted_rows[layer] = rows
        return whole, self.wanted_rows

    def _sight_shape(self) -> tuple[int, int]:
        """The selected matrix's (Tq', Tk') once the steps are taken."""
        assert self.steps is not None
        return int((self.steps.shown >= 0).sum()), int(self.steps.key_kept.sum())

    def _in_sight(self) -> range:
        """The shown rows the table can show (`keep.sight`) around the focus."""
        assert self.keep.sight is not None
        return window(self._sight_shape()[0], self.keep.sight.rows, self.focus)

    def _sight_rows(self) -> list[int]:
        """The model's query rows that make the shown rows in sight."""
        assert self.steps is not None
        sight = self._in_sight()
        words = np.flatnonzero((self.steps.shown >= sight.start) & (self.steps.shown < sight.stop))
        return [row for word in words for row in self.steps.groups[word]]

    def add_columns(self, layer: int, columns: np.ndarray) -> None:
        """The special keys' columns (H, T, S) of every row of layer ``layer``, for its sink
        share (before its rows, if any)."""
        if self.error is not None or self.steps is None:
            return
        if self.row_layer is None:
            self.row_layer = self._row_layer(layer)
        self.row_layer.add_columns(columns)

    def add_rows(self, layer: int, positions: np.ndarray, block: np.ndarray) -> None:
        """Rows ``positions`` (c,) of layer ``layer`` (one that `row_needs` did not need
        whole), their weights (H, c, Tk), in order; `end_rows` closes the layer."""
        if self.error is not None or self.steps is None:
            return
        if self.row_layer is None:
            self.row_layer = self._row_layer(layer)
        self.row_layer.add(positions, block)

    def _row_layer(self, layer: int) -> RowLayer:
        """The selected layer's rows fill its (Tq', Tk') matrix, or only the rows in sight
        (``keep.sight``) with what the table reads of the rest."""
        assert self.steps is not None
        if layer != self.layer:
            return RowLayer(self.steps, self.focus, None)
        shape = self._sight_shape()
        if self.keep.sight is None:
            return RowLayer(self.steps, self.focus, np.zeros(shape, np.float32))  # (Tq', Tk')
        rows = WindowRows(shape, self._in_sight(), self.keep.sight.scale)
        return RowLayer(self.steps, self.focus, None, rows)

    def end_rows(self, layer: int) -> None:
        """All of layer ``layer``'s rows have come: keep its sink share, focus row and (the
        selected layer) its matrix, as `add` keeps them of a whole layer."""
        if self.error is not None or self.steps is None:
            return
        done = self.row_layer or self._row_layer(layer)
        self.row_layer = None
        self.sinks.append(done.row_sink_share())
        if self.focus is not None:
            if done.focus_row is None:
                raise RuntimeError(f"layer {layer}: the focus row did not come")
            self.rows.append(done.focus_row)  # (T',)
        if layer == self.layer:
            self.matrix = done.matrix
            self.window = done.window.done() if done.window is not None else None
        if self.last is None and not self.bare:
            self.last = shown_tokens(self.base, self.options)

    def _analysed(self, layer: int, attention: np.ndarray) -> Inspection:
        """One layer through the analysis pipeline, its rollout carried on from the layers below."""
        piece = dataclasses.replace(self.base, attention=attention[None])  # (1, H, Tq, Tk)
        analysed = analyse(piece, self.options, self.rollout, first_layer=layer)
        self.sinks.extend(analysed.sink_share)
        self.stats.extend(analysed.stats or [])
        return analysed.inspection

    def finish(self, seconds: float) -> tuple[Inspection, View] | InputError:
        """The analysed inspection (with the layers kept whole) and its view."""
        if self.error is not None:
            return self.error
        shown = self._shown(seconds)
        options = self.options
        view = assemble_view(
            self.matrix if self.matrix is not None else np.zeros((0, 0), np.float32),
            shown.tokens,
            shown.key_tokens,
            self.layer,
            self.head,
            self.focus,
            np.stack(self.rows) if self.rows else None,  # (L, T')
            options.top,
            kind="rollout" if options.rollout else "attention",
            words=options.words,
            hidden_special=options.hide_special,
            sink_share=self.sinks if options.measure == "weights" else None,
            stats=self.stats if options.stats else None,
            attention_kind=shown.kind,
            window=self.window,
        )
        return shown, view

    def _shown(self, seconds: float) -> Inspection:
        last = self.last or self.base
        heads = int(last.attention.shape[1])
        shapes = {
            name: [self.num_layers, *shape[1:]] if name in ("attention", "rollout") else shape
            for name, shape in {**self.base.shapes, **last.shapes}.items()
        }
        if self.kept:  # arrived in model order; stored in the order (and labels) of the slice
            arrived = dict(zip(sorted(self.kept_layers), self.kept, strict=True))
            attention = np.stack([arrived[layer] for layer in self.kept_layers])  # (L', H', T', T')
        else:
            empty = (0, heads, last.query_length, last.key_length)
            attention = np.zeros(empty, np.float32)  # (0, H, Tq, Tk)
        narrowed = self.keep.narrowed and self.keep.wanted
        if narrowed:
            shapes["kept"] = list(attention.shape)
        return dataclasses.replace(
            last,
            measure=self.options.measure,
            attention=attention,
            shapes=shapes,
            seconds=seconds,
            layers=self.kept_layers if narrowed else None,
            heads=self.keep.head_ids(heads) if narrowed else None,
            model_layers=self.num_layers,
            model_heads=heads,
            head_mean=np.stack(self.means) if narrowed and self.means else None,  # (L', T', T')
        )


def per_text_feed(digests: Sequence[TakesLayers], lengths: Sequence[int]) -> BatchFeed:
    """Each text's (H, T, T) part of a padded batch's layer, to its digest in turn."""

    def feed(layer: int, weights: np.ndarray) -> None:  # (B, H, T, T)
        for row, (digest, n) in enumerate(zip(digests, lengths, strict=True)):
            digest.add(layer, weights[row, :, :n, :n])  # (H, T, T)

    return feed


def column_feed(
    digests: Sequence[TextDigest], lengths: Sequence[int]
) -> Callable[[int, np.ndarray, np.ndarray], None]:
    """What takes the special keys' columns of a padded batch's fast layer (layer, columns
    (S,), weights (B, H, T, S)): each text's own columns and rows."""

    def columns(layer: int, found: np.ndarray, weights: np.ndarray) -> None:
        for row, (digest, n) in enumerate(zip(digests, lengths, strict=True)):
            own = digest.wanted_columns.get(layer)
            if own:
                picked = np.searchsorted(found, own)  # (S_t,) where its columns are
                digest.add_columns(layer, weights[row][:, :n][:, :, picked])  # (H, T, S_t)

    return columns


def row_feed(
    digests: Sequence[TextDigest], lengths: Sequence[int]
) -> tuple[Callable[[int, np.ndarray, np.ndarray], None], Callable[[int], None]]:
    """What takes the rows of a padded batch's fast layers: each block (layer, positions (c,),
    weights (B, H, c, Tk)) cut to each text's wanted rows and keys; then each layer's end."""

    def block(layer: int, positions: np.ndarray, weights: np.ndarray) -> None:
        for row, (digest, n) in enumerate(zip(digests, lengths, strict=True)):
            if layer not in digest.wanted_rows:
                continue
            wanted = digest.wanted_rows[layer]
            if wanted is None and positions[-1] < n and weights.shape[-1] == n:
                digest.add_rows(layer, positions, weights[row])  # every row, no copy
                continue
            chosen = positions < n if wanted is None else np.isin(positions, wanted)
            if chosen.any():
                digest.add_rows(layer, positions[chosen], weights[row][:, chosen, :n])

    def done(layer: int) -> None:
        for digest in digests:
            digest.end_rows(layer)

    return block, done


def batch_feed(digests: Sequence[TextDigest], lengths: Sequence[int]) -> BatchFeed:
    """`per_text_feed`, but where every text is bare (no step but the sink share) with the same
    heads chosen, each layer's sink shares and head views are measured for the whole batch at
    once (`pipeline.measure_bare_batch`) instead of text by text."""
    heads = {digest.head for digest in digests}
    bare = all(digest.bare for digest in digests)
    square = all(len(digest.special) == n for digest, n in zip(digests, lengths, strict=True))
    if not digests or len(heads) != 1 or not bare or not square:
        return per_text_feed(digests, lengths)
    head = heads.pop()
    counts = np.array(lengths, np.int64)  # (B,)
    special = np.zeros((len(digests), int(counts.max())), bool)  # (B, T) keys' flags
    for row, digest in enumerate(digests):
        special[row, : len(digest.special)] = digest.special

    one_by_one = per_text_feed(digests, lengths)

    def feed(layer: int, weights: np.ndarray) -> None:  # (B, H, T, T)
        if weights.shape[-1] != special.shape[1] or weights.shape[-2] != special.shape[1]:
            return one_by_one(layer, weights)  # padded past the longest text
        shown, sinks = measure_bare_batch(weights, special, counts, head)  # (B, T, T), (B,)
        for row, (digest, n) in enumerate(zip(digests, lengths, strict=True)):
            measured = Measured(float(sinks[row]), shown[row, :n, :n])
            digest.add(layer, weights[row, :, :n, :n], measured)  # (H, T, T)

    return feed
