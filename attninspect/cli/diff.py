"""`attninspect diff`: how the attention of two texts differs."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from attninspect.cli import feedback
from attninspect.cli.choices import ModelChoice, OutputChoice, ViewChoice
from attninspect.cli.groups import grouped, only
from attninspect.cli.options import CompareFormat, CompareFormatOption
from attninspect.cli.output import write_one
from attninspect.cli.pictures import diff_picture, write_picture
from attninspect.cli.run import check_measure, check_view

if TYPE_CHECKING:
    from rich.console import Console

    from attninspect.files.writers import Writer


Written = Annotated[OutputChoice, only("output", "precision", "full", "save", "dpi", "no_color")]


@grouped
def diff(
    text_a: Annotated[str, typer.Argument(help="The first text (A).")],
    text_b: Annotated[str, typer.Argument(help="The second text (B).")],
    *,
    view: ViewChoice,
    model: ModelChoice,
    output_format: CompareFormatOption = CompareFormat.table,
    out: Written,
) -> None:
    """Compare two texts: the difference A − B of their attention, and what --focus attends to."""
    from attninspect.analysis.digest import WholeLayers
    from attninspect.files.records import DiffResult

    check_view(view.rollout, view.head)
    check_measure(view, False)
    kind, dpi = out.picture()
    request = model.request(view.rollout)
    options = view.options()
    inspector = model.inspector(model.settings(), request, out.no_color)
    with feedback.warnings_to(feedback.stderr_console(out.no_color)):
        comparison = inspector.diff(text_a, text_b, options, WholeLayers(wanted=kind == "html"))
    write_one(DiffResult(comparison), output_format.value, out.output,
              diff_table(out.precision, out.full), out.no_color)  # fmt: skip
    if out.save is not None and kind is not None:
        write_picture(out.save, diff_picture(kind, dpi, comparison), out.no_color)


def diff_table(precision: int, full: bool) -> Callable[[Console], Writer]:
    """The table writer's factory for `diff`."""

    def make(console: Console) -> Writer:
        from attninspect.render.diff_table import diff_table as render
        from attninspect.render.table import TableWriter

        return TableWriter(console, lambda result, con: render(result.diff, con, precision, full))

    return make
