"""Corpus statistics: per layer x head, sums over every query row of every text, merged exactly.

Each text adds, layer by layer as it streams, float64 sums of its values and the count of what
each statistic is averaged over; nothing per text is kept once it is added. Partial sums (a
window of texts, a Ray worker's share) merge by addition, so any split of the corpus gives the
same means to rounding. A statistic's mean is Σ sums / Σ counts.

Three conventions (``CONVENTIONS``; `DEFINITIONS` words each statistic exactly):
- ``attninspect`` (ours): each statistic averaged over the query rows where it is defined, every
  row of the corpus weighing the same (the row-weighted mean of `run --stats`'s per-text means):
  ``entropy`` in bits, unsmoothed (every row); ``previous`` / ``same`` / ``next`` the weight on
  the token before / itself / after (rows that have one; self-attention only); ``special`` the
  weight on special tokens (every row); ``duplicate`` the weight on earlier positions holding the
  row's token and ``induction`` the weight on the positions just after those (both over the rows
  whose token occurred before; TransformerLens's duplicate-token and induction patterns).
- ``clark``: Clark et al. (2019)'s averaging: per text, the weight summed over every row divided
  by its T query rows (the first row, without a previous token, counts too), then the plain mean
  over texts; entropy in nats of the smoothed 0.9999·a + 0.0001/Tk. duplicate and induction are
  not theirs (undefined).
- ``transformerlens``: TransformerLens's ``detect_head`` scores (error measure "mul", no BOS or
  current token excluded): per text Σ(a · pattern) / Σ a over every row, then the plain mean over
  texts of 2 tokens or more, for ``previous``, ``duplicate`` and ``induction``; the rest are not
  its detectors (undefined).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from attninspect.analysis.digest import BatchFeed, per_text_feed
from attninspect.analysis.inspection import Inspection
from attninspect.analysis.pipeline import ViewOptions, analyse, shown_tokens
from attninspect.errors import InputError

STATISTICS = ("entropy", "previous", "same", "next", "special", "duplicate", "induction")
# A batch is measured at once (`stats_feed`) while its cell masks take at most this many bytes
# (its work buffer, 2 x H / 6 times that): longer texts are measured one by one.
BATCH_MASK_BYTES = 4 * 1024**2
TINY = np.finfo(np.float64).tiny  # log(max(a, TINY)) is finite, and a * it is 0 where a is
POSITIONAL = frozenset({"previous", "same", "next", "duplicate", "induction"})
ATTNINSPECT, CLARK, TRANSFORMERLENS = "attninspect", "clark", "transformerlens"
CONVENTIONS = (ATTNINSPECT, CLARK, TRANSFORMERLENS)
# Clark et al.'s smoothing before the entropy: 0.9999 * a + 0.0001 / Tk.
CLARK_SMOOTHING = 1e-4
# TransformerLens's detectors; every other statistic is undefined under its convention.
DETECTORS = ("previous", "duplicate", "induction")
# What each statistic is, exactly, under each convention (the table's notes, the help, docs).
DEFINITIONS: dict[str, dict[str, str]] = {
    ATTNINSPECT: {
        "entropy": "row entropy in bits (unsmoothed), mean over every query row of the corpus",
        "previous": "weight on the token before, mean over the rows that have one",
        "same": "weight on the token itself, mean over every row",
        "next": "weight on the token after, mean over the rows that have one",
        "special": "weight on special tokens, mean over every row",
        "duplicate": "weight on earlier copies of the row's token, mean over the rows whose "
        "token occurred before (not TransformerLens's score: --convention transformerlens)",
        "induction": "weight on the tokens just after earlier copies of the row's token, mean "
        "over the same rows (not TransformerLens's score: --convention transformerlens)",
    },
    CLARK: {
        "entropy": "Clark et al.: row entropy in nats of 0.9999·a + 0.0001/T, mean over a "
        "text's rows, then over texts",
        "previous": "Clark et al.: weight on the token before summed over a text's rows / its "
        "T rows, mean over texts",
        "same": "Clark et al.: weight on the token itself / T rows, mean over texts",
        "next": "Clark et al.: weight on the token after / T rows, mean over texts",
        "special": "Clark et al.: weight on special tokens / T rows, mean over texts",
        "duplicate": "not defined by Clark et al.",
        "induction": "not defined by Clark et al.",
    },
    TRANSFORMERLENS: {
        "entropy": "not a TransformerLens detector",
        "previous": "TransformerLens previous_token_head score: Σ weight on the token before "
        "/ Σ weight of every row, mean over texts",
        "same": "not a TransformerLens detector",
        "next": "not a TransformerLens detector",
        "special": "not a TransformerLens detector",
        "duplicate": "TransformerLens duplicate_token_head score: Σ weight on earlier copies "
        "/ Σ weight of every row, mean over texts",
        "induction": "TransformerLens induction_head score: Σ weight on the tokens after "
        "earlier copies / Σ weight of every row, mean over texts",
    },
}
# What a statistic's count counts under each convention (CSV `<name>_<unit>`, JSON's key).
UNITS = {ATTNINSPECT: "rows", CLARK: "texts", TRANSFORMERLENS: "texts"}


@dataclass
class CorpusSums:
    """Sums of row values (L', H', S) and row counts (L', S) for the kept layers and heads."""

    layers: list[int]  # model layer numbers, in order
    heads: list[int]  # model head numbers, in order
    sums: np.ndarray  # (L', H', S) float64
    rows: np.ndarray  # (L', S) int64
    texts: int = 0
    tokens: int = 0  # query rows of every text (after --words / --hide-special)

    @classmethod
    def empty(cls, layers: Sequence[int], heads: Sequence[int]) -> CorpusSums:
        shape = (len(layers), len(heads), len(STATISTICS))
        return cls(
            list(layers),
            list(heads),
            np.zeros(shape, np.float64),
            np.zeros(shape[::2], np.int64),
        )

    def add(self, other: CorpusSums) -> None:
        """Add another part of the corpus (same layers and heads) into this one."""
        if other.layers != self.layers or other.heads != self.heads:
            raise ValueError("partial sums of different layers or heads cannot be merged")
        self.sums += other.sums
        self.rows += other.rows
        self.texts += other.texts
        self.tokens += other.tokens

    def means(self) -> np.ndarray:
        """(L', H', S) float64: each statistic's mean over its rows; NaN where it has none."""
        rows = self.rows[:, None, :].astype(np.float64)  # (L', 1, S)
        out = np.full(self.sums.shape, np.nan)
        return np.divide(self.sums, rows, out=out, where=rows > 0)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays (for npz, or to send between processes)."""
        return {
            "layers": np.array(self.layers, np.int64),
            "heads": np.array(self.heads, np.int64),
            "sums": self.sums,
            "rows": self.rows,
            "texts": np.array(self.texts, np.int64),
            "tokens": np.array(self.tokens, np.int64),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> CorpusSums:
        return cls(
            [int(n) for n in arrays["layers"]],
            [int(n) for n in arrays["heads"]],
            np.array(arrays["sums"], np.float64),
            np.array(arrays["rows"], np.int64),
            int(arrays["texts"]),
            int(arrays["tokens"]),
        )


@dataclass(frozen=True)
class RowMasks:
    """What the statistics need of one text's tokens, worked out once before its layers."""

    special: np.ndarray  # (Tk,) bool
    square: bool
    duplicate: np.ndarray | None = None  # (T, T) bool: earlier positions holding the same token
    induction: np.ndarray | None = None  # (T, T) bool: the positions just after those

    @classmethod
    def of(cls, shown: Inspection) -> RowMasks:
        special = np.array(shown.keys.special, dtype=bool)
        if not shown.square:
            return cls(special, False)
        return cls(special, True, *detector_masks(shown.tokens))


def detector_masks(tokens: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """TransformerLens's duplicate-token and induction patterns for ``tokens``: (T, T) bool each
    (the patterns only: how they are averaged depends on the convention).

    duplicate[i, j]: j < i and token j == token i; induction[i, j + 1] for each such j.
    """
    seen: dict[str, int] = {}
    codes = np.array([seen.setdefault(token, len(seen)) for token in tokens], np.int64)  # (T,)
    same = codes[:, None] == codes[None, :]  # (T, T)
    duplicate = np.tril(same, k=-1)
    induction = np.zeros_like(duplicate)
    induction[:, 1:] = duplicate[:, :-1]  # k = j + 1 <= i
    return duplicate, induction


def layer_sums(
    attention: np.ndarray, masks: RowMasks, convention: str = ATTNINSPECT
) -> tuple[np.ndarray, np.ndarray]:
    """One layer of one text (H, Tq, Tk): each head's sums (H, S) and what each statistic is
    averaged over (S,): its rows where it is defined (ours), or the text, once (the others)."""
    a = attention.astype(np.float64)  # (H, Tq, Tk)
    sums, rows = _row_sums(a, masks)
    if convention == CLARK:
        return _clark(a, sums, rows)
    if convention == TRANSFORMERLENS:
        return _transformerlens(a, sums, rows)
    return sums, rows


def _clark(a: np.ndarray, sums: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One text's values by Clark et al.: sums over its rows / its Tq rows, the entropy in nats
    of the smoothed weights; each counts the text once (duplicate and induction: not theirs)."""
    _, queries, keys = a.shape
    values, texts = np.zeros_like(sums), np.zeros_like(rows)
    if not queries:
        return values, texts
    smooth = (1 - CLARK_SMOOTHING) * a + CLARK_SMOOTHING / keys  # (H, Tq, Tk)
    values[:, 0] = -(smooth * np.log(smooth)).sum(axis=(1, 2)) / queries  # nats
    defined = [4] + [1, 2, 3] * bool(rows[2])  # special; previous/same/next where square
    values[:, defined] = sums[:, defined] / queries
    texts[[0, *defined]] = 1
    return values, texts


def _transformerlens(
    a: np.ndarray, sums: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One text's TransformerLens detector scores ("mul"): Σ a · pattern / Σ a over every row,
    for previous, duplicate and induction, on texts of 2 tokens or more (it refuses shorter)."""
    values, texts = np.zeros_like(sums), np.zeros_like(rows)
    _, queries, keys = a.shape
    if queries < 2 or queries != keys or not rows[2]:  # self-attention of 2 tokens or more
        return values, texts
    total = a.sum(axis=(1, 2))  # (H,)
    for column in (STATISTICS.index(name) for name in DETECTORS):
        np.divide(sums[:, column], total, out=values[:, column], where=total > 0)
        texts[column] = 1
    return values, texts


def _row_sums(a: np.ndarray, masks: RowMasks) -> tuple[np.ndarray, np.ndarray]:
    """Our sums of row values (H, S) and the rows where each statistic is defined (S,)."""
    heads, queries, _ = a.shape
    sums = np.zeros((heads, len(STATISTICS)))
    logs = np.log2(a, out=np.zeros_like(a), where=a > 0)
    sums[:, 0] = -(a * logs).sum(axis=(1, 2))
    sums[:, 4] = a[:, :, masks.special].sum(axis=(1, 2))
    if masks.duplicate is not None and masks.induction is not None and queries:  # square only
        for column, offset in ((1, -1), (2, 0), (3, 1)):
            sums[:, column] = np.diagonal(a, offset=offset, axis1=1, axis2=2).sum(axis=-1)
        for column, mask in ((5, masks.duplicate), (6, masks.induction)):
            sums[:, column] = (a * mask).sum(axis=(1, 2))
    return sums, row_counts(masks, queries)


@dataclass(frozen=True)
class BatchMasks:
    """`RowMasks` of a padded batch's texts, as the weights of `batch_layer_sums`: for each
    text, which (query, key) cells each statistic but entropy adds up."""

    queries: np.ndarray  # (B, T) bool: real query rows
    cells: np.ndarray  # (B, T * T, S - 1) float64: 1 where the statistic counts the cell
    rows: np.ndarray  # (B, T * T, 1) float64: 1 in the cells of real query rows (entropy)

    @classmethod
    def of(cls, masks: Sequence[RowMasks | None], lengths: Sequence[int]) -> BatchMasks:
        """Padded to the longest text; a text without masks (one that failed) adds nothing."""
        width = max(lengths)
        queries = np.zeros((len(masks), width), bool)  # (B, T)
        cells = np.zeros((len(masks), width, width, len(STATISTICS) - 1))  # (B, T, T, S - 1)
        diagonals = np.stack([np.eye(width, k=k) for k in (-1, 0, 1)], -1)  # previous, same, next
        for row, (found, n) in enumerate(zip(masks, lengths, strict=True)):
            if found is None or found.duplicate is None or found.induction is None:
                continue
            queries[row, :n] = True
            cells[row, :n, :n, :3] = diagonals[:n, :n]
            cells[row, :n, :n, 3] = found.special[None, :]
            cells[row, :n, :n, 4] = found.duplicate
            cells[row, :n, :n, 5] = found.induction
        rows = np.repeat(queries, width, axis=1).astype(np.float64)[:, :, None]  # (B, T * T, 1)
        return cls(queries, cells.reshape(len(masks), width * width, -1), rows)


def batch_layer_sums(
    attention: np.ndarray, masks: BatchMasks, work: np.ndarray | None = None
) -> np.ndarray:
    """`layer_sums` of one layer for a whole padded batch of self-attention (B, H, T, T): each
    text's sums of row values (B, H, S). Padded query rows add nothing (where one is not finite,
    it is zeroed first); each statistic but entropy is one masked sum, as a matrix product.
    ``work``: a (2, B, H, T, T) float64 buffer to reuse from layer to layer (two fresh arrays of
    this size cost more than the arithmetic where memory comes back page by page)."""
    if work is None:
        work = np.empty((2, *attention.shape))
    a, plogp = work  # (B, H, T, T) each
    batch, heads, width, _ = a.shape
    a[...] = attention
    if not np.isfinite(attention).all():  # only a padded row can be: the engine refuses real ones
        np.copyto(a, 0.0, where=~masks.queries[:, None, :, None])
    np.maximum(a, TINY, out=plogp)
    np.log(plogp, out=plogp)
    plogp *= a  # p log p: 0 where a weight is 0
    cells = width * width
    sums = np.empty((batch, heads, len(STATISTICS)))
    sums[..., 0] = -(plogp.reshape(batch, heads, cells) @ masks.rows)[..., 0] / np.log(2)  # bits
    sums[..., 1:] = a.reshape(batch, heads, cells) @ masks.cells  # (B, H, S - 1)
    return sums


def row_counts(masks: RowMasks, queries: int) -> np.ndarray:
    """(S,) the rows where each statistic is defined, for a text of ``queries`` query rows."""
    rows = np.zeros(len(STATISTICS), np.int64)
    rows[[0, 4]] = queries
    if masks.duplicate is not None and masks.induction is not None and queries:  # square only
        for column, offset in ((1, -1), (2, 0), (3, 1)):
            rows[column] = queries - abs(offset)
        for column, mask in ((5, masks.duplicate), (6, masks.induction)):
            rows[column] = int(mask.any(axis=1).sum())
    return rows


@dataclass
class StatsDigest:
    """One text's consumer for `stats`: `add` each layer's (H, Tq, Tk) in order, then `finish`
    (its sums, or the InputError that the text raised). The same interface as `TextDigest`."""

    base: Inspection  # tokens and metadata; its attention is empty (0, H, Tq, Tk)
    options: ViewOptions  # words and hide_special are the ones that apply
    layers: list[int]  # model layers kept
    heads: list[int]  # model heads kept
    convention: str = ATTNINSPECT
    sums: CorpusSums = field(init=False)
    masks: RowMasks | None = None
    error: InputError | None = None

    def __post_init__(self) -> None:
        self.sums = CorpusSums.empty(self.layers, self.heads)
        try:  # the tokens the statistics see: the text's own unless a step changes them
            shown = shown_tokens(self.base, self.options) if self.transformed else self.base
        except InputError as error:
            self.error = error
            return
        self.masks = RowMasks.of(shown)
        self.sums.texts, self.sums.tokens = 1, shown.query_length

    @property
    def transformed(self) -> bool:
        return self.options.words or self.options.hide_special

    def add(self, layer: int, attention: np.ndarray) -> None:
        """Take layer ``layer``'s (H, Tq, Tk) attention; add its sums where the layer is kept."""
        if self.error is not None or self.masks is None or layer not in self.layers:
            return
        if self.transformed:
            piece = dataclasses.replace(self.base, attention=attention[None])  # (1, H, Tq, Tk)
            attention = analyse(piece, self.options).inspection.attention[0]
        sums, rows = layer_sums(attention[self.heads], self.masks, self.convention)
        self.add_sums(layer, sums, rows)

    def add_sums(self, layer: int, sums: np.ndarray, rows: np.ndarray) -> None:
        """Add one kept layer's (H', S) sums and (S,) row counts, measured by the caller."""
        position = self.layers.index(layer)
        self.sums.sums[position] += sums
        self.sums.rows[position] += rows

    def finish(self, seconds: float) -> CorpusSums | InputError:
        return self.error if self.error is not None else self.sums


def statistics_options(words: bool, hide_special: bool) -> ViewOptions:
    """The analysis steps that `stats` applies before it measures."""
    return ViewOptions(words=words, hide_special=hide_special)


@dataclass(frozen=True)
class CorpusStats:
    """A finished corpus: its sums, the model and how it was looked at."""

    sums: CorpusSums
    model: str
    words: bool = False
    hide_special: bool = False
    engine: str = "local"
    skipped: int = 0  # texts that failed, under --skip-errors
    seconds: float = 0.0  # the corpus' compute time, wall clock, the model's load excluded
    convention: str = ATTNINSPECT
    kind: str = "self"  # the attention measured: self, or encoder, decoder or cross

    @property
    def unit(self) -> str:
        """What the counts count: "rows" (ours) or "texts" (the per-text conventions)."""
        return UNITS[self.convention]

    @property
    def means(self) -> np.ndarray:
        return self.sums.means()  # (L', H', S)

    def grid(self, statistic: str) -> np.ndarray:
        """(L', H') means of one statistic (NaN where no row defines it)."""
        return self.means[:, :, STATISTICS.index(statistic)]

    def heads(self) -> list[dict[str, object]]:
        """One entry per kept layer x head: every mean (None where undefined) and the counts
        (under "rows" or "texts", as `unit` says)."""
        means, rows = self.means, self.sums.rows
        entries: list[dict[str, object]] = []
        for i, layer in enumerate(self.sums.layers):
            counts = {name: int(rows[i, s]) for s, name in enumerate(STATISTICS)}
            for j, head in enumerate(self.sums.heads):
                values = {name: _number(means[i, j, s]) for s, name in enumerate(STATISTICS)}
                entries.append({"layer": layer, "head": head, **values, self.unit: counts})
        return entries


def _number(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def stats_feed(digests: Sequence[StatsDigest], lengths: Sequence[int]) -> BatchFeed:
    """`digest.per_text_feed`, but where no text's tokens are transformed (no --words or
    --hide-special) and all are self-attention, each kept layer is measured for the whole
    batch at once (`batch_layer_sums`) instead of text by text (our convention only)."""
    plain = all(not digest.transformed and digest.convention == ATTNINSPECT for digest in digests)
    square = all(digest.masks is None or digest.masks.square for digest in digests)
    width = max(lengths, default=0)
    cells = len(digests) * width * width * (len(STATISTICS) - 1) * 8  # BatchMasks.cells
    if not digests or not plain or not square or cells > BATCH_MASK_BYTES:
        return per_text_feed(digests, lengths)  # long texts: the per-text work is the smaller
    layers, heads = digests[0].layers, digests[0].heads
    masks = BatchMasks.of([digest.masks for digest in digests], lengths)
    # Every text's sums live in one (B, L', H', S) array (and its row counts in (B, L', S)),
    # so that a layer is added for the whole batch at once; a text that failed keeps its own.
    sums = np.zeros((len(digests), *digests[0].sums.sums.shape))
    rows = np.zeros((len(digests), *digests[0].sums.rows.shape), np.int64)
    counts = np.zeros((len(digests), len(STATISTICS)), np.int64)  # (B, S) rows of any layer
    for row, (digest, n) in enumerate(zip(digests, lengths, strict=True)):
        if digest.error is None and digest.masks is not None:
            digest.sums.sums, digest.sums.rows = sums[row], rows[row]
            counts[row] = row_counts(digest.masks, n)
    one_by_one = per_text_feed(digests, lengths)
    work = np.empty((2, len(digests), len(heads), width, width))  # reused by every layer

    def feed(layer: int, weights: np.ndarray) -> None:  # (B, H, T, T)
        if layer not in layers:
            return
        if weights.shape[-1] != width or weights.shape[-2] != width:
            return one_by_one(layer, weights)  # padded past the longest text
        every_head = heads == list(range(weights.shape[1]))
        kept = weights if every_head else weights[:, heads]  # (B, H', T, T)
        position = layers.index(layer)
        sums[:, position] += batch_layer_sums(kept, masks, work)  # (B, H', S)
        rows[:, position] += counts

    return feed
