"""What the explorer shows, as a value: layer, head, transforms, focus and measure, with the key
moves."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from attninspect.analysis.measures import MEASURES
from attninspect.analysis.pipeline import ViewOptions
from attninspect.analysis.selection import HeadChoice
from attninspect.analysis.token_selectors import parse_selector, resolve_selector
from attninspect.errors import InputError


def head_cycle(num_heads: int) -> list[HeadChoice]:
    """The order Left/Right walk through: mean, max, 0..H-1."""
    return ["mean", "max", *range(num_heads)]


@dataclass(frozen=True)
class ExplorerState:
    """One screenful's choices; `view_options` is what `Inspection.view` takes for it (of an
    inspection of ``measure``: weights, scores or norms), `options` the pipeline's options.

    ``focus`` is a token selector (``it#1`` or ``@8``), so it survives word merging and hiding
    special tokens wherever the token does.
    """

    layer: int = -1
    head: HeadChoice = "mean"
    words: bool = False
    hide_special: bool = False
    rollout: bool = False
    focus: str | None = None
    top: int = 5
    measure: str = "weights"

    def options(self) -> ViewOptions:
        """The analysis' `ViewOptions` of this state, its measure included."""
        return ViewOptions.parse(**self.view_options(), measure=self.measure)

    def next_measure(self) -> ExplorerState:
        """The next of weights → scores → norms, wrapping around; the steps defined on weights
        alone (words, rollout, hidden special tokens) turned off for another measure."""
        following = MEASURES[(MEASURES.index(self.measure) + 1) % len(MEASURES)]
        if following == "weights":
            return replace(self, measure=following)
        return replace(self, measure=following, words=False, rollout=False, hide_special=False)

    def view_options(self) -> dict[str, Any]:
        """Keywords for `Inspection.view`."""
        return {
            "layer": self.layer,
            "head": self.head,
            "words": self.words,
            "hide_special": self.hide_special,
            "rollout": self.rollout,
            "focus": self.focus,
            "top": self.top,
        }

    def move_layer(self, step: int, num_layers: int) -> ExplorerState:
        """The next (``step`` 1) or previous (-1) layer, stopping at the first and the last."""
        layer = self.layer % num_layers
        return replace(self, layer=min(max(layer + step, 0), num_layers - 1))

    def move_head(self, step: int, num_heads: int) -> ExplorerState:
        """The next or previous entry of mean, max, 0..H-1, wrapping around."""
        cycle = head_cycle(num_heads)
        index = cycle.index(self.head) if self.head in cycle else 0
        return replace(self, head=cycle[(index + step) % len(cycle)])

    def toggle(self, name: str) -> ExplorerState:
        """Flip ``words``, ``hide_special`` or ``rollout`` (rollout averages the heads)."""
        flipped = replace(self, **{name: not getattr(self, name)})  # type: ignore[arg-type]
        return replace(flipped, head="mean") if name == "rollout" and flipped.rollout else flipped

    def with_focus(self, tokens: list[str], index: int | None) -> ExplorerState:
        """Focus on ``tokens[index]`` (None: no focus), named so that other views find it."""
        return replace(self, focus=None if index is None else selector_for(tokens, index))

    def transforms(self) -> list[str]:
        """The active transforms, in the order they are applied."""
        names = [("words", self.words), ("rollout", self.rollout)]
        names.append(("special hidden", self.hide_special))
        return [name for name, active in names if active]

    def status(self, num_layers: int, num_heads: int) -> str:
        """The status line: ``layer N`` and ``head X`` always, then the active transforms (or
        the measure, where not weights)."""
        layer = self.layer % num_layers
        head = "mean (rollout)" if self.rollout else str(self.head)
        parts = [f"layer {layer} of 0..{num_layers - 1}", f"head {head} of {num_heads}"]
        if self.measure != "weights":  # no transform applies to another measure
            parts.append(MEASURE_STATUS.get(self.measure, self.measure) + " (m: next)")
        else:
            parts.append(" + ".join(self.transforms()) or "raw attention")
        parts.append(f"focus {self.focus}" if self.focus else "no focus")
        return "  │  ".join(parts)


MEASURE_STATUS = {"scores": "scores before the softmax", "norms": "norms ‖αf(x)‖"}


def selector_for(tokens: list[str], index: int) -> str:
    """A selector for ``tokens[index]`` by its text (``it#2``), or by position where text fails."""
    text = tokens[index]
    try:
        for occurrence in range(1, index + 2):
            raw = f"{text}#{occurrence}"
            found = resolve_selector(parse_selector(raw), tokens)
            if found == index:
                return raw
            if found > index:
                break
    except (InputError, ValueError):
        pass
    return f"@{index}"
