"""`attninspect heads`: which heads link one token to another?"""

from __future__ import annotations

from typing import Annotated

import typer

from attninspect.cli import feedback
from attninspect.cli.app import app
from attninspect.cli.options import (
    SIZE_MAX,
    VIEW,
    ChatOption,
    CompareFormat,
    CompareFormatOption,
    DeviceOption,
    DownloadOption,
    DpiOption,
    DType,
    DTypeOption,
    ModelOption,
    NoColorOption,
    OutputOption,
    SaveOption,
    SystemOption,
    TruncateOption,
    TrustOption,
    VerboseOption,
    WordsOption,
    _selector,
    chat_options,
    engine_options,
)
from attninspect.cli.output import write_one
from attninspect.cli.pictures import check_save, heads_picture, write_picture


@app.command()
def heads(
    text: Annotated[str, typer.Argument(help="The text to inspect.")],
    source: Annotated[
        str,
        typer.Option(
            "--from", callback=_selector, help="Query token: text, it#2 or @8 (as --focus)."
        ),
    ],
    target: Annotated[
        str, typer.Option("--to", callback=_selector, help="Key token, same syntax.")
    ],
    top: Annotated[
        int,
        typer.Option(
            "--top", "-k", min=1, max=SIZE_MAX, help="Heads in the ranking.", rich_help_panel=VIEW
        ),
    ] = 10,
    words: WordsOption = False,
    model: ModelOption = None,
    device: DeviceOption = "auto",
    dtype: DTypeOption = DType.float32,
    output_format: CompareFormatOption = CompareFormat.table,
    output: OutputOption = None,
    save: SaveOption = None,
    dpi: DpiOption = 150,
    truncate: TruncateOption = False,
    chat: ChatOption = False,
    system: SystemOption = None,
    trust_remote_code: TrustOption = False,
    download: DownloadOption = False,
    verbose: VerboseOption = False,
    no_color: NoColorOption = False,
) -> None:
    """Rank every layer x head by the attention --from gives --to (which heads link it to mat?)."""
    from attninspect.files.records import HeadsResult

    kind = check_save(save, output)
    engine = engine_options(model, device, dtype, trust_remote_code, verbose, download)
    engine |= chat_options(chat, system)
    inspector = feedback.load_inspector(no_color, truncate, **engine)
    with feedback.warnings_to(feedback.errors(no_color)):
        search = inspector.heads(text, source.raw, target.raw, words, whole=kind == "html")  # type: ignore[attr-defined]
    write_one(HeadsResult(search), output_format.value, output, heads_table(top), no_color)
    if save is not None and kind is not None:
        write_picture(save, heads_picture(kind, dpi, search), no_color)


def heads_table(top: int):
    """The table writer's factory for `heads`."""

    def make(console):
        from attninspect.render.heads_table import heads_table as render
        from attninspect.render.table import TableWriter

        color = console.color_system is not None
        return TableWriter(console, lambda result, _: render(result.search, top, color))

    return make
