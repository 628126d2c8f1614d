"""Rank every layer x head by the attention one token gives another (as the inspection's
measure measures it: weights, scores or norms)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from attninspect.analysis.inspection import Inspection
from attninspect.analysis.pipeline import ViewOptions, analyse, shown_tokens
from attninspect.errors import InputError
from attninspect.safe_text import printable


@dataclass(frozen=True)
class HeadScore:
    """The weight that head (layer, head) puts from the query token on the key token (or, for
    another measure, its score or norm; NaN where the head masks the key)."""

    layer: int
    head: int
    weight: float

    def as_json(self) -> dict[str, float | int | None]:
        weight = None if self.weight != self.weight else self.weight  # NaN: masked, null
        return {"layer": self.layer, "head": self.head, "weight": weight}


def rank_heads(attention: np.ndarray, source: int, target: int) -> list[HeadScore]:
    """Every head of (L, H, Tq, Tk) by ``attention[l, h, source, target]``, largest first.

    Ties keep layer-then-head order.
    """
    return rank_grid(attention[:, :, source, target])  # (L, H)


def rank_grid(grid: np.ndarray) -> list[HeadScore]:
    """Every head of the (L, H) grid of weights, largest first; ties in layer-then-head order,
    masked heads (NaN) last."""
    order = np.argsort(-grid, axis=None, kind="stable")
    layers, heads = np.unravel_index(order, grid.shape)
    return [
        HeadScore(int(layer), int(head), float(grid[layer, head]))
        for layer, head in zip(layers, heads, strict=True)
    ]


@dataclass(frozen=True)
class HeadSearch:
    """The answer to "which heads link FROM to TO?" for one text."""

    inspection: Inspection
    source: int
    target: int
    scores: list[HeadScore]

    def as_json(self) -> dict[str, object]:
        inspection = self.inspection
        return {
            "text": inspection.text,
            "model": inspection.model,
            "engine": inspection.engine,
            "device": inspection.device,
            "tokens": inspection.tokens,
            "from": {"token": inspection.query_tokens[self.source], "index": self.source},
            "to": {"token": inspection.key_tokens[self.target], "index": self.target},
            **({} if self.measure == "weights" else {"measure": self.measure}),
            "heads": [score.as_json() for score in self.scores],
        }

    @property
    def measure(self) -> str:
        """What the heads are ranked by: weights, scores or norms (`analysis.measures`)."""
        return self.inspection.measure


def check_linked(grid: np.ndarray, inspection: Inspection, source: int, target: int) -> None:
    """Refuse a ranking in which every head masks ``target`` from ``source`` (a score: NaN), as
    a causal model masks a later key: there is nothing to rank."""
    if not grid.size or not np.isnan(grid).all():
        return
    query = f"--from {printable(inspection.query_tokens[source])} (@{source})"
    key = f"--to {printable(inspection.key_tokens[target])} (@{target})"
    why = "every head masks that key"
    if inspection.causal and target > source:
        why = "it comes after --from, and a causal model's query sees only the keys up to itself"
    raise InputError(
        f"{key} has no {inspection.measure[:-1]} from {query}: {why}; choose a --to at or before "
        "--from, or rank by --measure weights"
    )


@dataclass
class HeadDigest:
    """One text's consumer for `heads`: `add` each layer's (H, Tq, Tk) in order and keep only the
    (H,) weights ``source`` gives ``target`` (after the pipeline's ``options``), then `finish`.
    The layers come as ``options.measure`` measures them (each head's own scores or norms).

    ``base`` has the text's tokens and an empty (0, H, Tq, Tk) attention; ``source`` indexes its
    query tokens and ``target`` its key tokens (their words, with ``options.words``).
    """

    base: Inspection
    source: int
    target: int
    options: ViewOptions
    columns: list[np.ndarray] = field(default_factory=list)  # L x (H,)

    def add(self, layer: int, attention: np.ndarray) -> None:
        """Take layer ``layer``'s (H, Tq, Tk) through the pipeline; keep its (H,) from -> to."""
        piece = dataclasses.replace(self.base, attention=attention[None])  # (1, H, Tq, Tk)
        shown = analyse(piece, self.options, first_layer=layer).inspection.attention[0]
        self.columns.append(np.array(shown[:, self.source, self.target]))  # (H,)

    def finish(self, seconds: float) -> HeadSearch:
        grid = np.stack(self.columns)  # (L, H)
        layers, heads = grid.shape
        shown = shown_tokens(self.base, self.options)
        shapes = {**shown.shapes, "attention": [layers, *shown.shapes["attention"][1:]]}
        inspection = dataclasses.replace(
            shown, shapes=shapes, seconds=seconds, model_layers=layers, model_heads=heads,
            measure=self.options.measure,
        )  # fmt: skip
        check_linked(grid, inspection, self.source, self.target)
        return HeadSearch(inspection, self.source, self.target, rank_grid(grid))
