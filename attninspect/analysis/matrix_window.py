"""The selected matrix as the terminal table needs it, where only a window of it is shown: the
query rows in sight whole, and of the rest only what the table reads (its colour scale's ends,
and without a focus each special key column's mean, which orders the columns kept in sight),
so that a long text's (Tq, Tk) matrix never exists.

The scale's largest value needs every row (gathered as the rows stream in, a block at a time);
without colour there is no scale, and only the rows in sight (and the special keys' columns)
are computed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Sight:
    """What the terminal table, the only output, shows of the selected matrix: at most ``rows``
    query rows around the focus; ``scale``: whether it colours them (the colour scale's end is
    the largest value of the whole matrix, so every row is computed)."""

    rows: int
    scale: bool = True


@dataclass(frozen=True)
class MatrixWindow:
    """Rows ``rows`` of a (Tq, Tk) matrix, and what the table reads of all of it."""

    shape: tuple[int, int]  # (Tq, Tk) of the whole matrix
    rows: range  # the query rows held
    values: np.ndarray  # (len(rows), Tk)
    low: float  # the smallest finite value of the whole matrix (nan: none)
    high: float  # the largest finite value of the whole matrix (nan: none)
    # (Tk,) each column's mean absolute value, as np.abs(m).mean(axis=0); without the scale,
    # the special keys' columns only (the others 0), all that the table reads of it.
    key_means: np.ndarray

    def row(self, query: int) -> np.ndarray:
        """Row ``query`` (Tk,); IndexError for a row not held."""
        if query not in self.rows:
            raise IndexError(f"row {query} is outside the rows held, {self.rows}")
        return self.values[query - self.rows.start]

    def __getitem__(self, cell: tuple[int, int]) -> float:
        query, key = cell
        return float(self.row(query)[key])


@dataclass
class WindowRows:
    """A `MatrixWindow` filled as rows come (ascending, each shown row once): every row where
    ``every`` (the scale and column means gathered from them), else only those in sight, and
    the special keys' columns of every row (`add_columns`)."""

    shape: tuple[int, int]  # (Tq, Tk)
    rows: range
    every: bool = True
    values: np.ndarray = field(init=False)  # (len(rows), Tk)
    sums: np.ndarray = field(init=False)  # (Tk,) float32, added row after row
    low: float = float("inf")
    high: float = float("-inf")
    seen: int = 0

    def __post_init__(self) -> None:
        self.values = np.zeros((len(self.rows), self.shape[1]), np.float32)
        self.sums = np.zeros(self.shape[1], np.float32)

    def add(self, positions: np.ndarray, block: np.ndarray) -> None:
        """Rows ``positions`` (r,), ascending, and their values (r, Tk)."""
        if not len(positions):
            return
        inside = (positions >= self.rows.start) & (positions < self.rows.stop)  # (r,)
        self.values[positions[inside] - self.rows.start] = block[inside]
        if not self.every:
            return
        self._ends(block)
        # One row after another into the running sums, the order of np.mean over axis 0.
        stacked = np.concatenate([self.sums[None], np.abs(block, dtype=np.float32)])
        self.sums = np.add.reduce(stacked, axis=0)  # (Tk,)
        self.seen += len(positions)

    def _ends(self, block: np.ndarray) -> None:
        """The smallest and largest finite values so far, with ``block``'s (r, Tk)."""
        if not block.size:
            return
        low, high = float(block.min()), float(block.max())
        if not (np.isfinite(low) and np.isfinite(high)):  # a NaN or infinity: left out
            finite = block[np.isfinite(block)]
            if not finite.size:
                return
            low, high = float(finite.min()), float(finite.max())
        self.low, self.high = min(self.low, low), max(self.high, high)

    def add_columns(self, keys: np.ndarray, columns: np.ndarray) -> None:
        """The key columns ``keys`` (S,) in every row, (Tq, S): their means."""
        if self.every or not len(keys):
            return
        self.sums[keys] = np.abs(columns, dtype=np.float32).sum(axis=0)
        self.seen = self.shape[0]

    def done(self) -> MatrixWindow:
        if self.seen != self.shape[0] and self.every:
            raise RuntimeError(f"{self.seen} of the matrix's {self.shape[0]} rows came")
        means = np.true_divide(self.sums, np.intp(max(self.seen, 1)), casting="unsafe")
        finite = self.low <= self.high
        return MatrixWindow(
            self.shape,
            self.rows,
            self.values,
            self.low if finite else float("nan"),
            self.high if finite else float("nan"),
            means.astype(np.float32),  # (Tk,)
        )
