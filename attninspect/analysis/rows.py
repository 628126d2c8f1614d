"""What a streamed view takes from a layer that no output needs whole: its weights a block of
query rows at a time (the engine computes only the rows asked for), each block taken through
the same steps as a whole layer (`pipeline.analyse`): words, sink share, hide special, then the
chosen heads. What is kept: the layer's sink share, the focus row and, for the selected layer,
its (Tq', Tk') matrix, filled row by row.

Rows are grouped as the steps group them: a word's rows are averaged once all of them have come
(`--words`), and each shown row is renormalised over the keys that stay (`--hide-special`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from attninspect.analysis.pipeline import ViewOptions, shown_positions
from attninspect.analysis.record import InspectionData
from attninspect.analysis.selection import HeadChoice, heads_view
from attninspect.analysis.transforms import word_groups


@dataclass
class RowSteps:
    """The analysis steps of one text for row blocks: which model rows make each shown row."""

    groups: list[list[int]]  # model query rows of each word (or each token), in order
    summing: np.ndarray | None  # (Tk, Wk) keys into words; None without --words
    special_words: np.ndarray  # (W,) each word's (or token's) special flag
    shown: list[int | None]  # each word's index among the shown rows (None: hidden)
    key_kept: np.ndarray  # (W,) the key words that stay after --hide-special
    head: HeadChoice
    options: ViewOptions
    group_of: np.ndarray = field(init=False)  # (T,) each model row's word

    def __post_init__(self) -> None:
        self.group_of = np.zeros(sum(len(group) for group in self.groups), np.int64)
        for word, group in enumerate(self.groups):
            self.group_of[group] = word

    @classmethod
    def of(cls, base: InspectionData, options: ViewOptions, head: HeadChoice) -> RowSteps:
        """The steps for ``base`` (a text before any layer; self-attention)."""
        axis = base.query_axis
        groups = word_groups(axis) if options.words else [[p] for p in range(len(axis))]
        summing = None
        if options.words:
            summing = np.zeros((len(axis), len(groups)))  # (Tk, Wk)
            for word, group in enumerate(groups):
                summing[group, word] = 1.0
        special = np.array([axis.special[group[0]] for group in groups], dtype=bool)  # (W,)
        mapping = shown_positions(axis, options)
        shown = [mapping[group[0]] for group in groups]
        kept = ~special if options.hide_special else np.ones(len(groups), bool)
        return cls(groups, summing, special, shown, kept, head, options)

    def rows_of(self, shown_index: int) -> tuple[int, ...]:
        """The model rows that make the shown row ``shown_index``."""
        word = self.shown.index(shown_index)
        return tuple(self.groups[word])


@dataclass
class RowLayer:
    """One layer's rows as they come: complete words go through the steps at once."""

    steps: RowSteps
    focus: int | None  # the shown focus row
    matrix: np.ndarray | None  # (Tq', Tk') to fill: the selected layer only
    carry_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # (r,)
    carry: np.ndarray | None = None  # (H, r, Wk) float64: rows of words not yet complete
    sink_sum: float = 0.0
    sink_rows: int = 0
    focus_row: np.ndarray | None = None  # (Tk',)

    def add(self, positions: np.ndarray, block: np.ndarray) -> None:
        """Rows ``positions`` (c,) of this text's layer (ascending), their weights (H, c, Tk)."""
        steps = self.steps
        if steps.summing is None:  # every row is its own shown row
            self._rows(positions, block)
            return
        keyed = block.astype(np.float64) @ steps.summing  # (H, c, Wk): keys summed into words
        rows = np.concatenate([self.carry_rows, positions.astype(np.int64)])  # (r + c,)
        if self.carry is not None:
            keyed = np.concatenate([self.carry, keyed], axis=1)
        words = steps.group_of[rows]  # (r + c,)
        sizes = np.array([len(steps.groups[word]) for word in words])
        present = np.bincount(words, minlength=len(steps.groups))  # rows of each word here
        complete = present[words] == sizes  # (r + c,)
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
        """Shown rows ``words`` (W',) before hiding, their weights (H, W', K)."""
        steps = self.steps
        if steps.special_words.any():  # the sink share, before special tokens are hidden
            view = heads_view(rows, steps.head)  # (W', K)
            self.sink_sum += float(view[:, steps.special_words].sum(axis=-1).sum(dtype=np.float64))
        self.sink_rows += len(words)
        shown = [steps.shown[int(word)] for word in words]
        keep = [index for index, position in enumerate(shown) if position is not None]
        if not keep:
            return
        if steps.options.hide_special:  # special keys dropped, each row renormalised
            kept = rows[:, keep][:, :, steps.key_kept]  # (H, W'', K')
            totals = kept.sum(axis=-1, keepdims=True)
            rows = np.divide(kept, totals, out=np.zeros_like(kept), where=totals > 0)
        elif len(keep) < len(shown):
            rows = rows[:, keep]
        positions = [int(shown[index] or 0) for index in keep]  # none is None: kept
        view = heads_view(rows, steps.head)  # (W'', K')
        if self.focus is not None and self.focus in positions:
            self.focus_row = np.array(view[positions.index(self.focus)])  # (K',)
        if self.matrix is not None:
            self.matrix[positions] = view

    def sink_share(self) -> float:
        """The mean share of each shown row on special keys (0 where there are none)."""
        if not self.steps.special_words.any() or not self.sink_rows:
            return 0.0
        return float(np.float32(self.sink_sum / self.sink_rows))
