"""`attninspect shapes`: the self-attention module's stages on random input, with real shapes."""

from __future__ import annotations

from typing import Annotated

import typer

from attninspect.cli.app import app
from attninspect.cli.options import (
    SEED_MAX,
    SEED_MIN,
    SIZE_MAX,
    DeviceOption,
    NoColorOption,
    OutputOption,
    ShapesFormat,
    usage_error,
)
from attninspect.cli.output import write_one


@app.command()
def shapes(
    dim: Annotated[int, typer.Option("--dim", min=1, max=SIZE_MAX, help="Embedding size D.")] = 8,
    length: Annotated[
        int, typer.Option("--len", min=1, max=SIZE_MAX, help="Sequence length T.")
    ] = 5,
    heads: Annotated[
        int, typer.Option("--heads", min=1, max=SIZE_MAX, help="Heads H; must divide D.")
    ] = 1,
    batch: Annotated[int, typer.Option("--batch", min=1, max=SIZE_MAX, help="Batch size B.")] = 1,
    causal: Annotated[bool, typer.Option("--causal", help="Mask keys after each query.")] = False,
    seed: Annotated[
        int, typer.Option("--seed", min=SEED_MIN, max=SEED_MAX, help="Seed for weights and input.")
    ] = 0,
    device: DeviceOption = "auto",
    output_format: Annotated[
        ShapesFormat, typer.Option("--format", help="table for people, json or jsonl for scripts.")
    ] = ShapesFormat.table,
    output: OutputOption = None,
    no_color: NoColorOption = False,
) -> None:
    """Run the self-attention module on torch.rand(B, T, D) and show every stage's shape."""
    if dim % heads:
        raise usage_error(
            f"--heads {heads} must divide --dim {dim} (each head gets D / H features)", "'--heads'"
        )
    from attninspect.files.records import PlainRecord
    from attninspect.model.stages import ShapeSettings, inspect_shapes

    settings = ShapeSettings(
        dim=dim, length=length, heads=heads, batch=batch, causal=causal, seed=seed, device=device
    )
    report = inspect_shapes(settings)
    write_one(PlainRecord(report.as_json()), output_format.value, output, shapes_table(report),
              no_color)  # fmt: skip


def shapes_table(report):
    """The table writer's factory for `shapes`."""

    def make(console):
        from attninspect.render.shapes_table import shapes_table as render
        from attninspect.render.table import TableWriter

        return TableWriter(console, lambda _result, _console: render(report))

    return make
