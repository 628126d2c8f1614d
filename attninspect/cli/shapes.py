"""`attninspect shapes`: the self-attention module's stages on random input, with real shapes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from attninspect.cli.options import (
    COUNT,
    INPUT,
    MODEL,
    SEED,
    DeviceOption,
    NoColorOption,
    OldHeadCountOption,
    OutputOption,
    ShapesFormat,
    ShapesFormatOption,
    usage_error,
)
from attninspect.cli.output import write_one

if TYPE_CHECKING:
    from rich.console import Console

    from attninspect.files.writers import Writer
    from attninspect.model.shape_report import ShapeReport


def _count_option(name: str, help: str, panel: str) -> typer.models.OptionInfo:
    return typer.Option(name, metavar="N", callback=COUNT, help=help, rich_help_panel=panel)


def shapes(
    text: Annotated[
        str | None,
        typer.Argument(help="With --model: the text (a default sentence).", show_default=False),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            metavar="NAME",
            help="A real model's stages for TEXT, from one forward pass.",
            rich_help_panel=MODEL,
        ),
    ] = None,
    layer: Annotated[
        int,
        typer.Option(
            "--layer",
            "-l",
            metavar="N",
            help="With --model: the layer (-1: the last).",
            rich_help_panel=MODEL,
        ),
    ] = -1,
    length: Annotated[int, _count_option("--len", "Sequence length T.", INPUT)] = 5,
    batch: Annotated[int, _count_option("--batch", "Batch size B.", INPUT)] = 1,
    dim: Annotated[int, _count_option("--dim", "Embedding size D.", MODEL)] = 8,
    num_heads: Annotated[
        int, _count_option("--num-heads", "Heads H; must divide D (was --heads).", MODEL)
    ] = 1,
    causal: Annotated[
        bool, typer.Option("--causal", help="Mask keys after each query.", rich_help_panel=MODEL)
    ] = False,
    seed: Annotated[
        int,
        typer.Option(
            "--seed",
            metavar="N",
            callback=SEED,
            help="Seed of weights and input.",
            rich_help_panel=MODEL,
        ),
    ] = 0,
    device: DeviceOption = "auto",
    old_heads: OldHeadCountOption = None,
    output_format: ShapesFormatOption = ShapesFormat.table,
    output: OutputOption = None,
    no_color: NoColorOption = False,
) -> None:
    """Run the self-attention module on torch.rand(B, T, D) or --model on TEXT: every shape."""
    if model == "scratch":
        raise usage_error("the scratch module is what shapes runs without --model", "'--model'")
    if model is not None:
        return model_shapes(text, model, layer, device, output_format, output, no_color)
    if text is not None:
        raise usage_error("TEXT goes with --model NAME (the module runs on random input)", "TEXT")
    spelling = "--num-heads" if old_heads is None else "--heads"
    if old_heads is not None and num_heads != 1:
        raise usage_error("--heads is the old spelling of --num-heads: give one", "'--heads'")
    heads = num_heads if old_heads is None else old_heads
    if dim % heads:
        raise usage_error(
            f"{spelling} {heads} must divide --dim {dim} (each head gets D / H features)",
            f"'{spelling}'",
        )
    from attninspect.files.records import PlainRecord
    from attninspect.model.shape_report import ShapeSettings, inspect_shapes

    settings = ShapeSettings(
        dim=dim, length=length, heads=heads, batch=batch, causal=causal, seed=seed, device=device
    )
    report = inspect_shapes(settings)
    write_one(PlainRecord(report.as_json()), output_format.value, output, shapes_table(report),
              no_color)  # fmt: skip


DEFAULT_SENTENCE = "The cat sat on the mat because it was warm."


def model_shapes(
    text: str | None,
    model: str,
    layer: int,
    device: str,
    output_format: ShapesFormat,
    output: Path | None,
    no_color: bool,
) -> None:
    """``shapes [TEXT] --model NAME``: a real model's stages for one text and layer."""
    from attninspect.cli import feedback
    from attninspect.files.records import PlainRecord

    inspector = feedback.load_inspector(no_color, False, 1, model=model, device=device)
    shown = DEFAULT_SENTENCE if text is None else text
    stages = inspector.stage_shapes(shown, layer)
    number = layer % inspector.num_layers

    def make(console: Console) -> Writer:
        from attninspect.render.shapes_table import model_shapes_table
        from attninspect.render.table import TableWriter

        table = model_shapes_table(inspector.model_name, number, stages)
        return TableWriter(console, lambda _result, _console: table)

    record = {"text": shown, "model": inspector.model_name, "layer": number, **stages}
    write_one(PlainRecord(record), output_format.value, output, make, no_color)


def shapes_table(report: ShapeReport) -> Callable[[Console], Writer]:
    """The table writer's factory for `shapes`."""

    def make(console: Console) -> Writer:
        from attninspect.render.shapes_table import shapes_table as render
        from attninspect.render.table import TableWriter

        return TableWriter(console, lambda _result, _console: render(report))

    return make
