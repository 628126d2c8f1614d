"""The table format: each result rendered with rich, as it arrives."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console, RenderableType
from rich.rule import Rule

from attninspect.analysis.matrix_window import Sight
from attninspect.render.matrix import render_run, rows_in_sight
from attninspect.safe_text import printable


class TableWriter:
    """Renders each result with ``render`` and prints it; the writer interface of the table."""

    def __init__(self, console: Console, render: Callable[[Any, Console], RenderableType]) -> None:
        self.console = console
        self.render = render

    def write(self, result: Any) -> None:
        self.console.print(self.render(result, self.console))
        self.console.file.flush()

    def close(self) -> None:
        pass


class RunTableWriter(TableWriter):
    """`run`'s tables: a rule with the text between several texts, or before a numbered line."""

    def __init__(self, console: Console, precision: int, window: int | None, full: bool) -> None:
        super().__init__(console, self._render)
        self.precision, self.window, self.full = precision, window, full
        self.count = 0

    def _render(self, result: Any, console: Console) -> RenderableType:
        return render_run(
            result.inspection, result.view, console, self.precision, self.window, self.full
        )

    def sight(self) -> Sight | None:
        """What a table of this writer shows of the selected matrix: at most how many rows,
        and whether it colours them (None: all of it, --full)."""
        console = self.console
        rows = rows_in_sight(
            console.width, console.is_terminal, self.precision, self.window, self.full
        )
        return None if rows is None else Sight(rows, console.color_system is not None)

    def write(self, result: Any) -> None:
        inspection = result.inspection
        if self.count or inspection.line is not None:
            where = f"line {inspection.line}: " if inspection.line is not None else ""
            self.console.print(Rule(where + printable(inspection.text), align="left"))
        super().write(result)
        self.count += 1
