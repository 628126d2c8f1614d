"""Render a `ShapeReport` as a rich table or as JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from attninspect.units import format_bytes

if TYPE_CHECKING:
    from attninspect.model.shape_report import ShapeReport


def _explanations(report: ShapeReport) -> dict[str, tuple[str, str]]:
    """Stage -> (axis names, what the stage is)."""
    multi = report.settings.heads > 1
    per_head = "B, H, T, d_head" if multi else "B, T, D"
    pairs = "B, H, T, T" if multi else "B, T, T"
    split = f", {report.settings.heads} heads" if multi else ""
    masks = ", future masked" if report.settings.causal else ""
    output = "(weights · V, heads joined) · W_o" if multi else "weights · V"
    return {
        "input": ("B, T, D", "x = torch.rand(B, T, D)"),
        "query": (per_head, f"Q = x · W_q{split}"),
        "key": (per_head, f"K = x · W_k{split}"),
        "value": (per_head, f"V = x · W_v{split}"),
        "scores": (pairs, f"Q · Kᵀ / √{report.head_dim}{masks}"),
        "weights": (pairs, "softmax over keys: rows sum to 1"),
        "output": ("B, T, D", output),
    }


def shapes_table(report: ShapeReport) -> Group:
    """The stages, in order, with their shapes and a one-line explanation each."""
    explanations = _explanations(report)
    table = Table(box=box.SIMPLE_HEAD, title="Self-attention, stage by stage", title_justify="left")
    table.add_column("stage", style="bold")
    table.add_column("shape", style="cyan", no_wrap=True)
    table.add_column("axes", style="dim", no_wrap=True)
    table.add_column("what it is")
    for stage, shape in report.stages.items():
        axes, meaning = explanations.get(stage, ("", ""))
        table.add_row(stage, "(" + ", ".join(str(n) for n in shape) + ")", axes, meaning)
    projections = "W_q, W_k, W_v" + (", W_o" if report.has_output_projection else "")
    d = report.settings.dim
    footer = Text.assemble(
        ("parameters ", "bold"),
        f"{report.parameters:,} ({projections}: {d}×{d} each)\n",
        ("weights tensor ", "bold"),
        f"{report.weights_bytes:,} bytes ({format_bytes(report.weights_bytes)}, float32)\n",
        ("device ", "bold"),
        report.device,
        ("   seed ", "bold"),
        str(report.settings.seed),
    )
    return Group(table, footer)


MODEL_STAGES = {
    "input_ids": ("B, T", "the tokenizer's ids"),
    "embeddings": ("B, T, D", "token (and position) embeddings"),
    "query": ("B, H, T, d", "Q, as the attention function receives it (after rotary)"),
    "key": ("B, KV, T, d", "K: KV key heads (fewer than H with grouped keys)"),
    "value": ("B, KV, T, d", "V, one per key head"),
    "key_repeated": ("B, H, T, d", "K repeated so that each query head has one"),
    "scores": ("B, H, T, T", "Q · Kᵀ scaled, with the mask (and the model's bias)"),
    "weights": ("B, H, T, T", "softmax over keys: rows sum to 1"),
    "head_outputs": ("B, H, T, d", "weights · V, per head"),
    "output": ("B, T, D", "heads joined, through W_o, then the layer's rest"),
}


def model_shapes_table(model: str, layer: int, stages: dict[str, list[int]]) -> Group:
    """A real model's stages for one text and layer, from one forward pass."""
    table = Table(
        box=box.SIMPLE_HEAD,
        title=f"{model}: layer {layer}, stage by stage (one real forward pass)",
        title_justify="left",
    )
    table.add_column("stage", style="bold")
    table.add_column("shape", style="cyan", no_wrap=True)
    table.add_column("axes", style="dim", no_wrap=True)
    table.add_column("what it is")
    for stage, shape in stages.items():
        axes, meaning = MODEL_STAGES.get(stage, ("", ""))
        table.add_row(stage, "(" + ", ".join(str(n) for n in shape) + ")", axes, meaning)
    return Group(table)
