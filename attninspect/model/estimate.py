"""Peak-memory estimates for a run, so that one that cannot fit is refused before it starts.

A streamed forward pass holds the weights, a few (B, T, D) activations, and the layer being
computed: eager attention makes the scores, the masked scores and the float32 softmax of one
layer, (B, H, T, T) each, and the engine hands over a float32 copy. On top of that, the output
keeps what it asks for (whole layers for every-layer outputs, a T x T view otherwise) and the
per-layer analysis works on one text's (H, T, T) in float64.

Where the layers no output needs whole run fast attention (`fast_estimate`), no (B, H, T, T)
is made unless whole layers are kept: a layer costs a block of query rows (at most
`BLOCK_FLOATS` floats, or one row of every head where a row is longer) and, for a padded batch,
SDPA's boolean mask; the output keeps the selected (T, T) matrix (for the terminal table alone,
only its rows in sight) and one focus row per layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from attninspect.errors import AttnInspectError
from attninspect.units import format_bytes

FLOAT32 = 4
FLOAT64 = 8
LAYER_COPIES = 4  # scores, masked scores, float32 softmax, the copy handed over
ACTIVATIONS = 8  # (B, T, D) tensors alive at once, generously
# Floats one block of a fast layer's rows holds at most: (B, H, c, Tk), 4 MiB in float32;
# scores, softmax, the text's cut and the chosen heads' view live at once.
BLOCK_FLOATS = 1 << 20
BLOCK_COPIES = 4
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


@dataclass(frozen=True)
class Sizes:
    """What the estimate needs of a model: its layers and heads, hidden size and weights."""

    layers: int
    heads: int
    hidden: int
    weights: int  # bytes


@dataclass(frozen=True)
class Estimate:
    """The peak of one padded batch, in bytes, and what it is made of."""

    weights: int
    layer: int
    kept: int
    analysis: int

    @property
    def beyond_weights(self) -> int:
        """What the run needs once the weights are loaded."""
        return self.layer + self.kept + self.analysis

    def describe(self) -> str:
        return (
            f"about {format_bytes(self.beyond_weights)} besides the weights (the layer being "
            f"computed {format_bytes(self.layer)}, what the output keeps "
            f"{format_bytes(self.kept)}, analysis {format_bytes(self.analysis)})"
        )


def estimate_batch(
    sizes: Sizes,
    lengths: list[int],
    kept_layers: int,
    kept_heads: int,
    sight: int = 0,
    *,
    targets: list[int] | None = None,
    fast: bool = False,
) -> Estimate:
    """The peak of running texts of ``lengths`` tokens in one padded batch, keeping
    ``kept_layers`` x ``kept_heads`` whole layers per text (0 for a single view). With
    ``targets`` (an encoder–decoder model's decoder lengths), all three kinds are counted.
    ``fast``: only the kept layers are computed whole (`fast_estimate`), and of the selected
    matrix only ``sight`` rows where the terminal table shows no more (0: all of it)."""
    if targets is not None:
        return _estimate_pairs(sizes, lengths, targets, kept_layers, kept_heads)
    if fast:
        return fast_estimate(sizes, lengths, kept_layers, kept_heads, sight)
    batch, longest = len(lengths), max(lengths, default=0)
    one_layer = batch * sizes.heads * longest * longest * FLOAT32  # (B, H, T, T)
    activations = ACTIVATIONS * batch * longest * max(sizes.hidden, 1) * FLOAT32  # (B, T, D)
    views = sum(n * n for n in lengths) * FLOAT32 * 2  # the view and focus rows, per text
    kept = sum(kept_layers * kept_heads * n * n * FLOAT32 for n in lengths)
    analysis = sizes.heads * longest * longest * FLOAT64  # one text's layer, in float64
    return Estimate(sizes.weights, LAYER_COPIES * one_layer + activations, kept + views, analysis)


def fast_estimate(
    sizes: Sizes, lengths: list[int], kept_layers: int, kept_heads: int, sight: int = 0
) -> Estimate:
    """`estimate_batch` where the layers no output needs whole run SDPA and only the rows shown
    are computed: a layer is computed whole (eager, (B, H, T, T) four times) only where whole
    layers are kept; otherwise SDPA's boolean mask of a padded batch (B, T, T) and a block of
    rows (`BLOCK_FLOATS`, a few copies, the analysis' float64 among them). The output keeps the
    selected (T, T) matrix (only its ``sight`` rows in sight and a column mean where the
    terminal table shows no more: a `MatrixWindow`), one focus row per layer of each text, and
    the kept layers."""
    batch, longest = len(lengths), max(lengths, default=0)
    whole = batch * sizes.heads * longest * longest  # (B, H, T, T)
    block = min(whole, max(BLOCK_FLOATS, batch * sizes.heads * longest))  # (B, H, c, T)
    if kept_layers:
        layer = LAYER_COPIES * whole * FLOAT32
    else:
        mask = batch * longest * longest if batch > 1 else 0  # (B, 1, T, T) bool, padded only
        layer = mask + BLOCK_COPIES * block * FLOAT32
    activations = ACTIVATIONS * batch * longest * max(sizes.hidden, 1) * FLOAT32  # (B, T, D)
    # the selected matrix (its rows in sight), a column mean and one focus row per layer
    views = sum(((min(sight, n) if sight else n) + sizes.layers + 1) * n * FLOAT32 for n in lengths)
    kept = sum(kept_layers * kept_heads * n * n * FLOAT32 for n in lengths)
    analysis = block * FLOAT64  # a block of rows, words summed in float64
    return Estimate(sizes.weights, layer + activations, kept + views, analysis)


def _estimate_pairs(
    sizes: Sizes, sources: list[int], targets: list[int], kept_layers: int, kept_heads: int
) -> Estimate:
    """`estimate_batch` of an encoder–decoder model: the largest of the encoder (S x S), decoder
    (T x T) and cross (T x S) layers is computed at a time; every-layer outputs keep all three."""
    batch, source, target = len(sources), max(sources, default=0), max(targets, default=0)
    widest = max(source * source, target * target, target * source)
    one_layer = batch * sizes.heads * widest * FLOAT32  # (B, H, Tq, Tk)
    activations = ACTIVATIONS * batch * (source + target) * max(sizes.hidden, 1) * FLOAT32
    areas = [s * s + t * t + t * s for s, t in zip(sources, targets, strict=True)]
    views = sum(areas) * FLOAT32 * 2  # each kind's view and focus rows, per text
    kept = sum(kept_layers * kept_heads * area * FLOAT32 for area in areas)
    analysis = sizes.heads * widest * FLOAT64  # one text's layer, in float64
    return Estimate(sizes.weights, LAYER_COPIES * one_layer + activations, kept + views, analysis)


# Writing weights as JSON: each becomes a Python float in a list (24 + 8 bytes) and then about
# 20 characters of text; a JSON array of several texts holds each text's text until the end.
PYTHON_FLOAT = 24 + 8
JSON_CHARACTERS = 20


def serialised_bytes(values: int, held: int = 0) -> int:
    """The peak of writing ``values`` weights as JSON text, with ``held`` bytes of earlier
    records already kept (`--format json` writes them all at the end)."""
    return values * (PYTHON_FLOAT + JSON_CHARACTERS) + held


class DoesNotFit(AttnInspectError):
    """A batch (or a single text) whose estimated peak exceeds the memory available."""

    def __init__(self, estimate: Estimate, available: int, where: str, tokens: int) -> None:
        self.estimate, self.available, self.tokens = estimate, available, tokens
        super().__init__(
            f"{tokens} tokens need {estimate.describe()}, but {where} has "
            f"{format_bytes(available)} available; keep fewer layers with --layers (or --heads), "
            "use a smaller --batch-size, or cut long texts with --truncate"
        )


def weights_on_disk(location: str) -> int:
    """The size of a local model directory's weight files (0 for a hub id or no such files)."""
    folder = Path(location)
    if not folder.is_dir():
        return 0
    by_kind = {suffix: 0 for suffix in WEIGHT_SUFFIXES}
    for path in folder.iterdir():
        for suffix in WEIGHT_SUFFIXES:
            if path.is_file() and path.name.endswith(suffix):
                by_kind[suffix] += path.stat().st_size
    return max(by_kind.values())  # one format's files: a folder may hold the same weights twice


def refuse_heavy_weights(location: str, name: str, available: int) -> None:
    """Refuse, before loading, a local model whose weight files alone exceed the memory free."""
    on_disk = weights_on_disk(location)
    if on_disk > available:
        raise AttnInspectError(
            f"model {name!r} has {format_bytes(on_disk)} of weights but only "
            f"{format_bytes(available)} is available; choose a smaller model, or free memory"
        )
