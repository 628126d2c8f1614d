"""The explorer's own widgets: the windowed matrix and the model view (layer x head heatmaps)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from attninspect.explorer.panels import (
    GridLayout,
    MatrixWindow,
    Segments,
    grid_layout,
    grid_text,
    model_panels,
)


class Panel(Widget):
    """A fixed-size piece of text: updating it repaints only itself (`Static.update` may lay out
    the whole screen again, which a key press cannot afford)."""

    def __init__(self, id: str) -> None:
        super().__init__(id=id)
        self.text = Text()

    def show(self, text: Text, layout: bool = False) -> None:
        """Show ``text``; ``layout`` when its height may change."""
        self.text = text
        self.refresh(layout=layout)

    def render(self) -> Text:
        return self.text


class MatrixView(Widget):
    """The coloured matrix; the app decides what it shows, the widget reports clicks and wheel."""

    DEFAULT_CSS = "MatrixView { height: 1fr; min-height: 5; }"  # no padding: the line API

    class RowClicked(Message):
        """A click on the row of query token ``index``."""

        def __init__(self, index: int) -> None:
            self.index = index
            super().__init__()

    class Scrolled(Message):
        """The mouse wheel: move the row cursor by ``step``."""

        def __init__(self, step: int) -> None:
            self.step = step
            super().__init__()

    class Resized(Message):
        """The matrix has a new size: the window needs fitting again."""

    def __init__(self) -> None:
        super().__init__(id="matrix")
        self.lines: list[Strip] = []
        self.plain = ""
        self.window: MatrixWindow | None = None

    def show(self, segments: Segments, window: MatrixWindow) -> None:
        self.lines = [Strip(line) for line in segments.lines]
        self.plain, self.window = segments.plain, window
        self.refresh()

    def render_line(self, y: int) -> Strip:
        """Textual's line API: each line is ready, only cut or padded to the width."""
        if y >= len(self.lines):
            return Strip.blank(self.size.width, self.rich_style)
        return self.lines[y].crop_extend(0, self.size.width, self.rich_style)

    def on_resize(self, event: events.Resize) -> None:
        self.post_message(self.Resized())

    def on_click(self, event: events.Click) -> None:
        row = self.window.row_at(event.y) if self.window else None
        if row is not None:
            self.post_message(self.RowClicked(row))

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        self.post_message(self.Scrolled(3))

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self.post_message(self.Scrolled(-3))


class ModelGrid(Widget, can_focus=True):
    """Every layer x head as a small heatmap; arrows move, Enter or a click opens one."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "move(-1, 0)", "layer −", show=False),
        Binding("down", "move(1, 0)", "layer +", show=False),
        Binding("left", "move(0, -1)", "head −", show=False),
        Binding("right", "move(0, 1)", "head +", show=False),
        Binding("enter", "open", "open this head"),
    ]
    DEFAULT_CSS = "ModelGrid { height: auto; width: auto; }"

    class Opened(Message):
        """Show ``layer``/``head`` in the matrix."""

        def __init__(self, layer: int, head: int) -> None:
            self.layer, self.head = layer, head
            super().__init__()

    def __init__(
        self, attention: np.ndarray, special: list[bool], selected: tuple[int, int], width: int
    ) -> None:
        super().__init__(id="model-grid")
        self.bands = model_panels(attention, special)  # (L, H, Tq, Tk), as `attninspect grid`
        self.selected = selected
        self.geometry: GridLayout = grid_layout(self.bands, max(attention.shape[-2:]), width)
        self.shape = attention.shape[:2]
        self.text = grid_text(self.bands, self.geometry, selected)

    def render(self) -> Text:
        return self.text

    def action_move(self, layers: int, heads: int) -> None:
        layer = min(max(self.selected[0] + layers, 0), self.shape[0] - 1)
        head = min(max(self.selected[1] + heads, 0), self.shape[1] - 1)
        self.selected = (layer, head)
        self.text = grid_text(self.bands, self.geometry, self.selected)
        self.refresh()
        self.show_selected()

    def show_selected(self) -> None:
        """Scroll the container this grid is in so that the selected panel is in sight."""
        region = self._panel_region().translate(self.virtual_region.offset)
        parent = self.parent
        if isinstance(parent, Widget):
            parent.scroll_to_region(region, animate=False, immediate=True)

    def _panel_region(self):
        from textual.geometry import Region

        x, y = self.geometry.origin(*self.selected)
        return Region(x, y, self.geometry.width, self.geometry.height)

    def action_open(self) -> None:
        self.post_message(self.Opened(*self.selected))

    def on_click(self, event: events.Click) -> None:
        panel = self.geometry.panel_at(event.x, event.y)
        if panel is not None:
            self.post_message(self.Opened(*panel))
