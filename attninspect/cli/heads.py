"""`attninspect heads`: which heads link one token to another?"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from attninspect.cli import feedback
from attninspect.cli.choices import ModelChoice, OutputChoice, ViewChoice
from attninspect.cli.groups import grouped, only
from attninspect.cli.options import (
    COUNT,
    TOP,
    VIEW,
    CompareFormat,
    CompareFormatOption,
    TextArgument,
    selector,
)
from attninspect.cli.output import write_one
from attninspect.cli.pictures import heads_picture, write_picture
from attninspect.cli.run import check_measure

if TYPE_CHECKING:
    from rich.console import Console

    from attninspect.files.writers import Writer


Written = Annotated[OutputChoice, only("output", "save", "dpi", "no_color")]


@grouped
def heads(
    text: TextArgument,
    source: Annotated[
        str,
        typer.Option(
            "--from",
            metavar="TOKEN",
            callback=selector,
            help="Query token (as --focus).",
            rich_help_panel=VIEW,
        ),
    ],
    key: Annotated[
        str,
        typer.Option(
            "--to",
            metavar="TOKEN",
            callback=selector,
            help="Key token, same syntax.",
            rich_help_panel=VIEW,
        ),
    ],
    top: Annotated[
        int,
        typer.Option(
            "--top",
            "-k",
            metavar="K",
            callback=COUNT,
            help="Heads in the table's ranking.",
            rich_help_panel=VIEW,
        ),
    ] = TOP,
    *,
    view: Annotated[ViewChoice, only("words", "measure")],
    model: ModelChoice,
    output_format: CompareFormatOption = CompareFormat.table,
    out: Written,
) -> None:
    """Rank every layer x head by the attention --from gives --to (which heads link it to mat?)."""
    from attninspect.files.records import HeadsResult

    check_measure(view, False)
    kind, dpi = out.picture()
    request = model.request()
    inspector = model.inspector(model.settings(), request, out.no_color)
    measured = {} if view.measure.value == "weights" else {"measure": view.measure.value}
    with feedback.warnings_to(feedback.stderr_console(out.no_color)):
        found = (source.raw, key.raw)  # type: ignore[attr-defined]  # TokenSelectors (callback)
        search = inspector.heads(text, *found, view.words, whole=kind == "html", **measured)
    write_one(HeadsResult(search), output_format.value, out.output, heads_table(top), out.no_color)
    if out.save is not None and kind is not None:
        write_picture(out.save, heads_picture(kind, dpi, search), out.no_color)


def heads_table(top: int) -> Callable[[Console], Writer]:
    """The table writer's factory for `heads`."""

    def make(console: Console) -> Writer:
        from attninspect.render.heads_table import heads_table as render
        from attninspect.render.table import TableWriter

        color = console.color_system is not None
        return TableWriter(console, lambda result, _: render(result.search, top, color))

    return make
