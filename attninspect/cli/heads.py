"""`attninspect heads`: which heads link one token to another?"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from attninspect.cli import feedback
from attninspect.cli.options import (
    COUNT,
    TOP,
    VIEW,
    AttentionOption,
    CausalOption,
    ChatOption,
    CompareFormat,
    CompareFormatOption,
    DeviceOption,
    DimOption,
    DownloadOption,
    DpiOption,
    DType,
    DTypeOption,
    GenerateOption,
    ModelChoice,
    ModelOption,
    NoColorOption,
    NumHeadsOption,
    OutputOption,
    PairOption,
    SaveOption,
    SeedOption,
    SystemOption,
    TargetOption,
    TokenizerOption,
    TruncateOption,
    TrustOption,
    VerboseOption,
    WordsOption,
    asking,
    chat_options,
    local_only,
    request_of,
    selector,
)
from attninspect.cli.output import write_one
from attninspect.cli.pictures import check_save, dpi_of, heads_picture, write_picture
from attninspect.cli.remote import ServerOption, inspector_for  # --server

if TYPE_CHECKING:
    from rich.console import Console

    from attninspect.files.writers import Writer


def heads(
    text: Annotated[str, typer.Argument(help="The text to inspect.")],
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
    target: Annotated[
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
    words: WordsOption = False,
    attention: AttentionOption = None,
    truncate: TruncateOption = False,
    chat: ChatOption = False,
    system: SystemOption = None,
    decoder_text: TargetOption = None,
    generate: GenerateOption = None,
    pair: PairOption = None,
    model: ModelOption = None,
    device: DeviceOption = "auto",
    dtype: DTypeOption = DType.float32,
    trust_remote_code: TrustOption = False,
    download: DownloadOption = False,
    verbose: VerboseOption = False,
    tokenizer: TokenizerOption = None,
    dim: DimOption = None,
    num_heads: NumHeadsOption = None,
    causal: CausalOption = False,
    seed: SeedOption = None,
    output_format: CompareFormatOption = CompareFormat.table,
    output: OutputOption = None,
    save: SaveOption = None,
    dpi: DpiOption = None,
    no_color: NoColorOption = False,
    server: ServerOption = None,
) -> None:
    """Rank every layer x head by the attention --from gives --to (which heads link it to mat?)."""
    from attninspect.files.records import HeadsResult

    dpi = dpi_of(dpi, save)
    kind = check_save(save, output, dpi)
    request = request_of(decoder_text, generate, pair, attention)
    choice = ModelChoice(model, device, dtype, trust_remote_code, download, verbose, tokenizer,
                         dim, num_heads, causal, seed)  # fmt: skip
    engine = choice.engine() | chat_options(chat, system)
    inspector = asking(inspector_for(local_only(server, request), no_color, truncate, **engine),
                       request)  # fmt: skip
    with feedback.warnings_to(feedback.stderr_console(no_color)):
        search = inspector.heads(text, source.raw, target.raw, words, whole=kind == "html")  # type: ignore[attr-defined]
    write_one(HeadsResult(search), output_format.value, output, heads_table(top), no_color)
    if save is not None and kind is not None:
        write_picture(save, heads_picture(kind, dpi, search), no_color)


def heads_table(top: int) -> Callable[[Console], Writer]:
    """The table writer's factory for `heads`."""

    def make(console: Console) -> Writer:
        from attninspect.render.heads_table import heads_table as render
        from attninspect.render.table import TableWriter

        color = console.color_system is not None
        return TableWriter(console, lambda result, _: render(result.search, top, color))

    return make
