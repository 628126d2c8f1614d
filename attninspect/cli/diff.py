"""`attninspect diff`: how the attention of two texts differs."""

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
    FocusOption,
    FullOption,
    HeadOption,
    HideSpecialOption,
    LayerOption,
    ModelOption,
    NoColorOption,
    OutputOption,
    PrecisionOption,
    SaveOption,
    SystemOption,
    TruncateOption,
    TrustOption,
    VerboseOption,
    WordsOption,
    chat_options,
    engine_options,
)
from attninspect.cli.output import write_one
from attninspect.cli.pictures import check_save, diff_picture, write_picture
from attninspect.cli.run import check_view


@app.command()
def diff(
    text_a: Annotated[str, typer.Argument(help="The first text (A).")],
    text_b: Annotated[str, typer.Argument(help="The second text (B).")],
    layer: LayerOption = -1,
    head: HeadOption = "mean",
    focus: FocusOption = None,
    top: Annotated[
        int,
        typer.Option(
            "--top",
            "-k",
            min=1,
            max=SIZE_MAX,
            help="Keys per layer for --focus.",
            rich_help_panel=VIEW,
        ),
    ] = 3,
    words: WordsOption = False,
    hide_special: HideSpecialOption = False,
    rollout: Annotated[
        bool, typer.Option("--rollout", help="Compare rollouts.", rich_help_panel=VIEW)
    ] = False,
    precision: PrecisionOption = 2,
    full: FullOption = False,
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
    """Compare two texts: the difference A − B of their attention, and what --focus attends to."""
    from attninspect.analysis.digest import Keep
    from attninspect.analysis.pipeline import ViewOptions
    from attninspect.files.records import DiffResult

    check_view(rollout, head)
    kind = check_save(save, output)
    options = ViewOptions(layer, head, words, hide_special, rollout, focus, top)  # type: ignore[arg-type]
    engine = engine_options(model, device, dtype, trust_remote_code, verbose, download)
    engine |= chat_options(chat, system)
    inspector = feedback.load_inspector(no_color, truncate, **engine)
    with feedback.warnings_to(feedback.errors(no_color)):
        comparison = inspector.diff(text_a, text_b, options, Keep(whole=kind == "html"))
    write_one(DiffResult(comparison), output_format.value, output, diff_table(precision, full),
              no_color)  # fmt: skip
    if save is not None and kind is not None:
        write_picture(save, diff_picture(kind, dpi, comparison), no_color)


def diff_table(precision: int, full: bool):
    """The table writer's factory for `diff`."""

    def make(console):
        from attninspect.render.diff_table import diff_table as render
        from attninspect.render.table import TableWriter

        return TableWriter(console, lambda result, con: render(result.diff, con, precision, full))

    return make
