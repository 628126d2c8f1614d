"""Options that several commands share: one definition, one parser, one default each."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from attninspect.model.devices import DEVICE_HELP, is_device_spec

INPUT, MODEL, VIEW, OUTPUT = "Input", "Model", "View", "Output"
# Bounds that make an absurd number a usage error (exit 2) instead of an overflow deep inside.
SIZE_MAX = 2**31 - 1
SEED_MIN, SEED_MAX = 0, 2**63 - 1  # what torch.manual_seed and torch.Generator accept
SCRATCH_HELP = "With --model scratch: "


class DType(str, Enum):
    float32 = "float32"
    bfloat16 = "bfloat16"
    float16 = "float16"


class RunFormat(str, Enum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"
    npz = "npz"


class CompareFormat(str, Enum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"


class ShapesFormat(str, Enum):
    table = "table"
    json = "json"
    jsonl = "jsonl"


def _device(value: str) -> str:
    if not is_device_spec(value):
        raise typer.BadParameter(f"{value!r} is not a device; use {DEVICE_HELP}")
    return value


def _head(value: str):
    """Parsed once, here: an index, "mean" or "max"."""
    from attninspect.analysis.selection import parse_head

    try:
        return parse_head(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a head: use an index, mean or max") from None


def _selector(value: str | None):
    """Parsed once, here: a TokenSelector (text, text#n or @position)."""
    from attninspect.analysis.token_selectors import parse_selector

    if value is None:
        return None
    try:
        return parse_selector(value)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


def index_spec(value: str | None) -> int | slice | None:
    """Parsed once, here: an index or a Python-style slice (``3``, ``-1``, ``2:4``, ``::2``)."""
    from attninspect.analysis.ranges import parse_range

    if value is None:
        return None
    try:
        return parse_range(value)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


LayersOption = Annotated[
    str | None,
    typer.Option(
        "--layers",
        callback=index_spec,
        help="Layers that every-layer outputs (--all-layers, npz) keep: an index or a slice "
        "such as 2:4 or -4: (default: all).",
        rich_help_panel=OUTPUT,
    ),
]
ChatOption = Annotated[
    bool,
    typer.Option(
        "--chat",
        help="Wrap the text as a user message with the tokenizer's chat template.",
        rich_help_panel=INPUT,
    ),
]
SystemOption = Annotated[
    str | None,
    typer.Option(
        "--system", help="With --chat: a system message before the text.", rich_help_panel=INPUT
    ),
]


def chat_options(chat: bool, system: str | None) -> dict[str, object]:
    """The `Inspector` keywords of --chat / --system; --system alone is a usage error."""
    if system is not None and not chat:
        raise usage_error("--system adds a system message to --chat: add --chat", "'--system'")
    return {"chat": chat, "system": system} if chat else {}


DeviceOption = Annotated[
    str,
    typer.Option(
        "--device",
        callback=_device,
        help=f"Where to compute: {DEVICE_HELP}.",
        rich_help_panel=MODEL,
    ),
]
NoColorOption = Annotated[
    bool,
    typer.Option(
        "--no-color",
        help="No colour, even on a terminal (NO_COLOR works too).",
        rich_help_panel=OUTPUT,
    ),
]


def _model(value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise typer.BadParameter("is empty: give a model directory, a hub id or scratch")
    return value


ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        callback=_model,
        help="A local model directory, a Hugging Face hub id, or scratch. "
        "Default: the bundled all-MiniLM-L6-v2.",
        rich_help_panel=MODEL,
    ),
]
DTypeOption = Annotated[
    DType,
    typer.Option(
        "--dtype",
        help="Weights' precision (attention is reported as float32).",
        rich_help_panel=MODEL,
    ),
]
TrustOption = Annotated[
    bool,
    typer.Option(
        "--trust-remote-code", help="Allow a model's own Python code to run.", rich_help_panel=MODEL
    ),
]
DownloadOption = Annotated[
    bool,
    typer.Option(
        "--download",
        help="Fetch a hub id that is not in the local cache (default: the cache only).",
        rich_help_panel=MODEL,
    ),
]
VerboseOption = Annotated[
    bool,
    typer.Option(
        "--verbose", "-v", help="Let transformers print its own messages.", rich_help_panel=MODEL
    ),
]
TruncateOption = Annotated[
    bool,
    typer.Option(
        "--truncate", help="Cut texts longer than the model's limit (warns).", rich_help_panel=INPUT
    ),
]
LayerOption = Annotated[
    int,
    typer.Option(
        "--layer", "-l", help="Layer to show; negative counts from the end.", rich_help_panel=VIEW
    ),
]
HeadOption = Annotated[
    str,
    typer.Option(
        "--head", callback=_head, help="Head index, or mean / max over heads.", rich_help_panel=VIEW
    ),
]
FocusOption = Annotated[
    str | None,
    typer.Option(
        "--focus",
        callback=_selector,
        help="Query token to highlight: its text (case-insensitive), it#2 for the second "
        "occurrence, @8 for position 8.",
        rich_help_panel=VIEW,
    ),
]
WordsOption = Annotated[
    bool,
    typer.Option(
        "--words",
        help="Merge subword pieces into words (to: sum of pieces, from: their mean).",
        rich_help_panel=VIEW,
    ),
]
HideSpecialOption = Annotated[
    bool,
    typer.Option(
        "--hide-special",
        help="Drop special tokens (CLS, SEP, BOS, ...) and renormalise rows.",
        rich_help_panel=VIEW,
    ),
]
RolloutOption = Annotated[
    bool,
    typer.Option(
        "--rollout",
        help="Attention rollout (Abnar & Zuidema) up to the layer, head mean.",
        rich_help_panel=VIEW,
    ),
]
PrecisionOption = Annotated[
    int,
    typer.Option(
        "--precision",
        min=0,
        max=8,
        help="Digits of each weight in the table.",
        rich_help_panel=OUTPUT,
    ),
]
FullOption = Annotated[
    bool,
    typer.Option("--full", help="Show the whole matrix, however wide.", rich_help_panel=OUTPUT),
]
OutputOption = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        help="Write to this file (atomically) instead of stdout.",
        rich_help_panel=OUTPUT,
    ),
]
CompareFormatOption = Annotated[
    CompareFormat,
    typer.Option("--format", help="table, json, jsonl or csv.", rich_help_panel=OUTPUT),
]


def engine_options(
    model: str | None,
    device: str,
    dtype: DType,
    trust_remote_code: bool,
    verbose: bool,
    download: bool = False,
) -> dict[str, object]:
    """The `Inspector` keywords that every model-loading command shares."""
    return {
        "model": model,
        "device": device,
        "dtype": dtype.value,
        "trust_remote_code": trust_remote_code,
        "verbose": verbose,
        "download": download,
    }


def usage_error(message: str, option: str) -> typer.BadParameter:
    """A usage error (exit 2) that names the option."""
    return typer.BadParameter(message, param_hint=option)


SaveOption = Annotated[
    Path | None,
    typer.Option(
        "--save",
        help="Also save a picture: .png, .svg or .pdf (a figure) or .html (an interactive page).",
        rich_help_panel=OUTPUT,
    ),
]
DpiOption = Annotated[
    int,
    typer.Option(
        "--dpi", min=20, max=1200, help="Resolution of a --save .png.", rich_help_panel=OUTPUT
    ),
]
