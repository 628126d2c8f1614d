"""`attninspect diff`: how the attention of two texts differs."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from attninspect.cli import feedback
from attninspect.cli.options import (
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
    FocusOption,
    FullOption,
    GenerateOption,
    HeadOption,
    HideSpecialOption,
    LayerOption,
    ModelChoice,
    ModelOption,
    NoColorOption,
    NumHeadsOption,
    OutputOption,
    PairOption,
    PrecisionOption,
    RolloutOption,
    SaveOption,
    SeedOption,
    SystemOption,
    TargetOption,
    TokenizerOption,
    TopOption,
    TruncateOption,
    TrustOption,
    VerboseOption,
    WordsOption,
    asking,
    chat_options,
    local_only,
    request_of,
    top_of,
)
from attninspect.cli.output import write_one
from attninspect.cli.pictures import check_save, diff_picture, dpi_of, write_picture
from attninspect.cli.remote import ServerOption, inspector_for  # --server
from attninspect.cli.run import check_view

if TYPE_CHECKING:
    from rich.console import Console

    from attninspect.files.writers import Writer


def diff(
    text_a: Annotated[str, typer.Argument(help="The first text (A).")],
    text_b: Annotated[str, typer.Argument(help="The second text (B).")],
    truncate: TruncateOption = False,
    chat: ChatOption = False,
    system: SystemOption = None,
    target: TargetOption = None,
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
    layer: LayerOption = -1,
    head: HeadOption = "mean",
    focus: FocusOption = None,
    top: TopOption = None,
    words: WordsOption = False,
    hide_special: HideSpecialOption = False,
    rollout: RolloutOption = False,
    attention: AttentionOption = None,
    output_format: CompareFormatOption = CompareFormat.table,
    output: OutputOption = None,
    precision: PrecisionOption = 2,
    full: FullOption = False,
    save: SaveOption = None,
    dpi: DpiOption = None,
    no_color: NoColorOption = False,
    server: ServerOption = None,
) -> None:
    """Compare two texts: the difference A − B of their attention, and what --focus attends to."""
    from attninspect.analysis.digest import WholeLayers
    from attninspect.analysis.pipeline import ViewOptions
    from attninspect.files.records import DiffResult

    check_view(rollout, head)
    dpi = dpi_of(dpi, save)
    kind = check_save(save, output, dpi)
    request = request_of(target, generate, pair, attention, rollout)
    options = ViewOptions(layer, head, words, hide_special, rollout, focus, top_of(top, focus))
    choice = ModelChoice(model, device, dtype, trust_remote_code, download, verbose, tokenizer,
                         dim, num_heads, causal, seed)  # fmt: skip
    engine = choice.engine() | chat_options(chat, system)
    inspector = asking(inspector_for(local_only(server, request), no_color, truncate, **engine),
                       request)  # fmt: skip
    with feedback.warnings_to(feedback.stderr_console(no_color)):
        comparison = inspector.diff(text_a, text_b, options, WholeLayers(wanted=kind == "html"))
    write_one(DiffResult(comparison), output_format.value, output, diff_table(precision, full),
              no_color)  # fmt: skip
    if save is not None and kind is not None:
        write_picture(save, diff_picture(kind, dpi, comparison), no_color)


def diff_table(precision: int, full: bool) -> Callable[[Console], Writer]:
    """The table writer's factory for `diff`."""

    def make(console: Console) -> Writer:
        from attninspect.render.diff_table import diff_table as render
        from attninspect.render.table import TableWriter

        return TableWriter(console, lambda result, con: render(result.diff, con, precision, full))

    return make
