"""The explorer's pop-up screens: a one-line prompt, help, a scrollable result, the model view."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from rich.console import RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Label, Static

from attninspect.explorer.widgets import ModelGrid
from attninspect.render.grid import pooling_note

KEYS = (
    ("↑ / ↓", "previous / next layer"),
    ("← / →", "previous / next head: mean, max, 0 .. H−1"),
    ("j / k", "move the row cursor down / up (PgDn / PgUp: a page)"),
    ("Enter, click", "make the cursor's (or clicked) row the focus token"),
    ("Esc", "clear the focus"),
    ("r", "rollout: attention accumulated up to the layer (mean of heads)"),
    ("w", "words: merge subword pieces into words"),
    ("s", "hide special tokens ([CLS], [SEP], ...) and renormalise rows"),
    ("m", "measure: weights → scores before the softmax → norms ‖αf(x)‖ → weights"),
    ("n", "neuron view of the cursor row in this head: q, each k, q⊙k, q·k, weight"),
    ("/", "which heads link one token to another (as `attninspect heads`)"),
    ("g", "model view: every layer × head; Enter or a click opens one"),
    ("t", "edit the sentence (Enter runs it, Esc cancels)"),
    ("d", "compare with a second sentence (as `attninspect diff`)"),
    ("e", "export the current view: .json, or a picture (.png .svg .pdf .html)"),
    ("a", "encoder–decoder models: the next kind of attention (encoder, decoder, cross)"),
    ("?", "this help"),
    ("q", "quit"),
)

RESULT_WIDTH = 90  # a pop-up box's width, in % of the screen
RESULT_FRAME = 6  # its border (2), padding (2) and vertical scroll bar (2)
MODAL_CSS = f"""
$screen {{ align: center middle; }}
$screen > Vertical {{ width: {RESULT_WIDTH}%; height: auto; max-height: 90%; border: round $accent;
    background: $surface; padding: 0 1; }}
$screen VerticalScroll {{ height: auto; max-height: 100%; }}
"""


def modal_css(screen: str, extra: str = "") -> str:
    """The pop-up box style for the screen class ``screen``."""
    return MODAL_CSS.replace("$screen", screen) + extra


class PromptScreen(ModalScreen[str | None]):
    """Ask for one line of text: Enter gives it, Escape gives None."""

    DEFAULT_CSS = modal_css("PromptScreen")
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "cancel")]

    def __init__(self, question: str, value: str = "", placeholder: str = "") -> None:
        super().__init__()
        self.question, self.value, self.placeholder = question, value, placeholder

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(self.question, style="bold"))
            yield Input(value=self.value, placeholder=self.placeholder, id="prompt")
            yield Label(Text("Enter: run · Esc: cancel", style="dim"))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ResultScreen(ModalScreen[None]):
    """A finished result (help, the head ranking, a diff) in a scrollable box; any of
    Escape, q or ? closes it."""

    DEFAULT_CSS = modal_css("ResultScreen")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "close"),
        Binding("q", "close", "close", show=False),
        Binding("question_mark", "close", "close", show=False),
    ]

    def __init__(self, title: str, body: RenderableType) -> None:
        super().__init__()
        self.title_text, self.body = title, body

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(self.title_text, style="bold"))
            with VerticalScroll():
                yield Static(self.body)
            yield Label(Text("Esc: back to the matrix", style="dim"))

    def action_close(self) -> None:
        self.dismiss(None)


def help_screen() -> ResultScreen:
    """The keys, one a line."""
    body = Text()
    for keys, meaning in KEYS:
        body.append(f"{keys:>14}  ", style="bold")
        body.append(meaning + "\n")
    body.append("\nRows are queries (from), columns keys (to); every row sums to 1 ", style="dim")
    body.append(
        "(max over heads: they need not). Colours: viridis, dark = low, yellow = high.", style="dim"
    )
    return ResultScreen("attninspect explore — keys", body)


class GridScreen(ModalScreen[tuple[int, int] | None]):
    """The model view; gives the opened (layer, head), or None on Escape."""

    DEFAULT_CSS = modal_css("GridScreen", "GridScreen > Vertical { width: 100%; }")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "back"),
        Binding("g", "close", "back", show=False),
    ]

    def __init__(
        self, attention: np.ndarray, special: list[bool], selected: tuple[int, int], width: int
    ) -> None:
        super().__init__()
        self.attention, self.special = attention, special
        self.selected, self.width = selected, width

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text("model view: every layer × head, as `attninspect grid`", style="bold"))
            grid = ModelGrid(self.attention, self.special, self.selected, self.width)
            rows, columns = self.attention.shape[-2:]  # (L, H, Tq, Tk)
            keys = None if rows == columns else columns
            yield Label(Text(pooling_note(rows, grid.geometry.size, True, keys), style="dim"))
            with VerticalScroll():
                yield grid
            yield Label(Text("arrows: move · Enter or click: open · Esc: back", style="dim"))
        yield Footer()

    def on_mount(self) -> None:
        grid = self.query_one(ModelGrid)
        grid.focus()
        # open where the cursor is: the current layer may be far below the first screenful
        self.call_after_refresh(grid.show_selected)

    def on_model_grid_opened(self, message: ModelGrid.Opened) -> None:
        self.dismiss((message.layer, message.head))

    def action_close(self) -> None:
        self.dismiss(None)
