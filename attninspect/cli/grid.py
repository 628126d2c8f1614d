"""`attninspect grid`: every layer x head at once, as small heatmaps (the model view)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from attninspect.cli import feedback
from attninspect.cli.app import app
from attninspect.cli.options import (
    VIEW,
    ChatOption,
    DeviceOption,
    DpiOption,
    DType,
    DTypeOption,
    HideSpecialOption,
    ModelOption,
    NoColorOption,
    RolloutOption,
    SaveOption,
    SystemOption,
    TruncateOption,
    TrustOption,
    VerboseOption,
    WordsOption,
    chat_options,
    engine_options,
    index_spec,
    usage_error,
)
from attninspect.cli.pictures import check_save, write_picture
from attninspect.cli.remote import ServerOption, inspector_for  # --server

RangeHelp = "An index or a Python slice (2:4 = 2 and 3; -2: = the last two)."


@app.command()
def grid(
    text: Annotated[str, typer.Argument(help="The text to inspect.")],
    layers: Annotated[
        str | None,
        typer.Option(
            "--layers", callback=index_spec, help=f"Layers. {RangeHelp}", rich_help_panel=VIEW
        ),
    ] = None,
    heads: Annotated[
        str | None,
        typer.Option(
            "--heads", callback=index_spec, help=f"Heads. {RangeHelp}", rich_help_panel=VIEW
        ),
    ] = None,
    words: WordsOption = False,
    hide_special: HideSpecialOption = False,
    rollout: RolloutOption = False,
    model: ModelOption = None,
    device: DeviceOption = "auto",
    dtype: DTypeOption = DType.float32,
    truncate: TruncateOption = False,
    chat: ChatOption = False,
    system: SystemOption = None,
    trust_remote_code: TrustOption = False,
    verbose: VerboseOption = False,
    save: SaveOption = None,
    dpi: DpiOption = 150,
    no_color: NoColorOption = False,
    server: ServerOption = None,
) -> None:
    """Every layer x head (and each layer's head mean) as a small heatmap, labelled L3 H7."""
    from attninspect.analysis.views import ViewOptions, analyse

    if rollout and heads is not None:
        raise usage_error("--rollout shows one panel per layer; drop --heads", "'--heads'")
    kind = check_save(save)
    engine = engine_options(model, device, dtype, trust_remote_code, verbose)
    engine |= chat_options(chat, system)
    inspector = inspector_for(server, no_color, truncate, **engine)
    with feedback.warnings_to(feedback.errors(no_color)):
        inspection = inspector.run(text)
    options = ViewOptions(words=words, hide_special=hide_special, rollout=rollout)
    shown = analyse(inspection, options).inspection
    chosen = choose(shown, layers, heads)
    note = _note(options)
    from attninspect.render.console import make_console
    from attninspect.render.grid import write_grid

    console = make_console(no_color=no_color)

    write_grid(console, shown, chosen, console.color_system is not None, note, rollout)
    if save is not None and kind is not None:
        _save(save, kind, dpi, shown, chosen, note, no_color)


def choose(inspection: Any, layers: Any, heads: Any) -> tuple[list[int], list[int]]:
    """The layer and head numbers that --layers and --heads name, or a usage error."""
    from attninspect.analysis.ranges import pick

    try:
        chosen_layers = pick(layers, inspection.num_layers, "layers")
    except ValueError as error:
        raise usage_error(str(error), "'--layers'") from None
    try:
        chosen_heads = pick(heads, inspection.num_heads, "heads")
    except ValueError as error:
        raise usage_error(str(error), "'--heads'") from None
    return chosen_layers, chosen_heads


def _note(options: Any) -> str:
    parts = [
        " · words" if options.words else "",
        " · rollout (one panel per layer)" if options.rollout else "",
        " · special tokens hidden" if options.hide_special else "",
    ]
    return "".join(parts)


def _save(path: Path, kind: str, dpi: int, shown: Any, chosen: Any, note: str, no_color: bool):
    from attninspect.render.pictures import grid_picture

    title = f"{shown.model} · every layer × head{note}"
    write_picture(path, grid_picture(kind, dpi, shown, chosen, title), no_color)
