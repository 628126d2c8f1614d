"""What a streamed view takes from a layer that no output needs whole: its weights a block of
query rows at a time (the engine computes only the rows asked for), each block taken through
the same steps as a whole layer (`pipeline.analyse`): words, sink share, hide special, then the
chosen heads. What is kept: the layer's sink share, the focus row and, for the selected layer,
its (Tq', Tk') matrix, filled row by row (for the terminal table alone, only its rows in sight,
a `WindowRows`).

Rows are grouped as the steps group them: a word's rows are averaged once all of them have come
(`--words`), and each shown row is renormalised over the keys that stay (`--hide-special`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from attninspect.analysis.matrix_window import WindowRows
from attninspect.analysis.pipeline import ViewOptions, shown_positions
from attninspect.analysis.record import InspectionData
from attninspect.analysis.selection import HeadChoice, heads_view
from attninspect.analysis.transforms import word_groups


@dataclass
class RowSteps:
    """The analysis steps of one text for row blocks: which model rows make each shown row."""

    groups: list[list[int]]  # model query rows of each word (or each token), in order
    starts: np.ndarray | None  # (W,) each word's first key column; None without --words
    special_words: np.ndarray  # (W,) each word's (or token's) special flag
    shown: np.ndarray  # (W,) each word's index among the shown rows (-1: hidden)
    key_kept: np.ndarray  # (W,) the key words that stay after --hide-special
    head: HeadChoice
    options: ViewOptions
    group_of: np.ndarray = field(init=False)  # (T,) each model row's word
    sizes: np.ndarray = field(init=False)  # (W,) each word's rows

    def __post_init__(self) -> None:
        self.sizes = np.array([len(group) for group in self.groups], np.int64)
        self.group_of = np.repeat(np.arange(len(self.groups)), self.sizes)  # groups are runs

    @classmethod
    def of(cls, base: InspectionData, options: ViewOptions, head: HeadChoice) -> RowSteps:
        """The steps for ``base`` (a text before any layer; self-attention)."""
        axis = base.query_axis
        groups = word_groups(axis) if options.words else [[p] for p in range(len(axis))]
        starts = np.array([group[0] for group in groups], np.int64) if options.words else None
        special = np.array([axis.special[group[0]] for group in groups], dtype=bool)  # (W,)
        mapping = shown_positions(axis, options)
        shown = np.array([-1 if mapping[g[0]] is None else mapping[g[0]] for g in groups])
        kept = ~special if options.hide_special else np.ones(len(groups), bool)
        return cls(groups, starts, special, shown, kept, head, options)

    def rows_of(self, shown_index: int) -> tuple[int, ...]:
        """The model rows that make the shown row ``shown_index``."""
        word = int(np.flatnonzero(self.shown == shown_index)[0])
        return tuple(self.groups[word])


@dataclass
class RowLayer:
    """One layer's rows as they come: complete words go through the steps at once."""

    steps: RowSteps
    focus: int | None  # the shown focus row
    matrix: np.ndarray | None  # (Tq', Tk') to fill: the selected layer only
    window: WindowRows | None = None  # or its rows in sight, for the terminal table alone
    carry_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # (r,)
    carry: np.ndarray | None = None  # (H, r, Wk) float64: rows of words not yet complete
    sink_sum: float = 0.0
    sink_rows: int = 0
    focus_row: np.ndarray | None = None  # (Tk',)
    from_columns: bool = False  # the sink share came from the special keys' columns

    def add_columns(self, columns: np.ndarray) -> None:
        """The weights of the special keys' columns in every row of this text (H, T, S): the
        sink share, with rows averaged into words as `add` averages them."""
        steps = self.steps
        self.from_columns = True
        if steps.starts is not None:  # special tokens are words of their own: columns stay
            summed = np.add.reduceat(columns.astype(np.float64), steps.starts, axis=1)
            columns = (summed / steps.sizes[None, :, None]).astype(np.float32)  # (H, W, S)
        view = heads_view(columns, steps.head)  # (W, S)
        self.sink_sum = float(view.sum(axis=-1).sum(dtype=np.float64))
        self.sink_rows = int(view.shape[0])
        if self.window is not None and not steps.options.hide_special:  # key columns stay
            self.window.add_columns(np.flatnonzero(steps.special_words), view)

    def add(self, positions: np.ndarray, block: np.ndarray) -> None:
        """Rows ``positions`` (c,) of this text's layer (ascending), their weights (H, c, Tk)."""
        steps = self.steps
        if steps.starts is None:  # every row is its own shown row
            self._rows(positions, block)
            return
        keyed = np.add.reduceat(block.astype(np.float64), steps.starts, axis=-1)  # (H, c, Wk)
        rows = np.concatenate([self.carry_rows, positions.astype(np.int64)])  # (r + c,)
        if self.carry is not None:
            keyed = np.concatenate([self.carry, keyed], axis=1)
        words = steps.group_of[rows]  # (r + c,)
        present = np.bincount(words, minlength=len(steps.groups))  # rows of each word here
        complete = present[words] == steps.sizes[words]  # (r + c,)
        self.carry_rows, self.carry = rows[~complete], keyed[:, ~complete]
        if not complete.any():
            return
        done = keyed[:, complete]  # (H, r', Wk), each word's rows together, in order
        done_words = words[complete]
        starts = np.flatnonzero(np.r_[True, done_words[1:] != done_words[:-1]])
        counts = np.diff(np.r_[starts, len(done_words)])
        averaged = np.add.reduceat(done, starts, axis=1) / counts[None, :, None]  # (H, W', Wk)
        self._rows(done_words[starts], averaged.astype(np.float32))

    def _rows(self, words: np.ndarray, rows: np.ndarray) -> None:
        """Shown rows ``words`` (W',) before hiding, their weights (H, W', K): the sink share
        from the special keys' columns alone, the rest only where the focus row or the
        selected matrix needs it."""
        steps = self.steps
        if steps.special_words.any() and not self.from_columns:  # before special tokens hide
            view = heads_view(rows[:, :, steps.special_words], steps.head)  # (W', S)
            self.sink_sum += float(view.sum(axis=-1).sum(dtype=np.float64))
        if not self.from_columns:
            self.sink_rows += len(words)
        shown = steps.shown[words]  # (W',)
        if self.matrix is not None or self.window is not None:
            chosen = np.flatnonzero(shown >= 0)
        elif self.focus is not None:
            chosen = np.flatnonzero(shown == self.focus)
        else:
            return
        if not chosen.size:
            return
        every = len(chosen) == rows.shape[1]  # every row is shown: no copy
        picked = rows if every else rows[:, chosen]  # (H, r, K)
        if steps.options.hide_special:  # special keys dropped, each row renormalised
            kept = picked[:, :, steps.key_kept]  # (H, r, K')
            totals = kept.sum(axis=-1, keepdims=True)
            picked = np.divide(kept, totals, out=np.zeros_like(kept), where=totals > 0)
        view = heads_view(picked, steps.head)  # (r, K')
        positions = shown[chosen]
        if self.focus is not None:
            hit = np.flatnonzero(positions == self.focus)
            if hit.size:
                self.focus_row = np.array(view[hit[0]])  # (K',)
        if self.matrix is not None:
            self.matrix[positions] = view
        if self.window is not None:
            self.window.add(positions, view)

    def row_sink_share(self) -> float:
        """The mean share of each shown row on special keys (0 where there are none)."""
        if not self.steps.special_words.any() or not self.sink_rows:
            return 0.0
        return float(np.float32(self.sink_sum / self.sink_rows))
