"""Options that several commands share: one definition, one parser, one default each.

Each option is declared here once, as an ``Annotated[..., typer.Option(...)]`` alias with its
panel; the shared ones are listed once more, with their defaults, as the fields of the option
groups of `cli.choices` (`ModelChoice`, `ViewChoice`, `OutputChoice`, `TextsChoice`), which a
command takes as one parameter each (`cli.groups`; `cli.choices` says how to add an option to
every model command). Help panels come in `PANELS` order, whatever order a command lists its
options in (see `app.AttnInspectCommand`).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from attninspect.model.devices import DEVICE_HELP, is_device_spec

# Bounds that make an absurd number a usage error (exit 2) instead of an overflow deep inside:
# the ranges the `Inspector` checks too, defined once in model/limits.py.
from attninspect.model.limits import SEED_MAX, SEED_MIN, SIZE_MAX

if TYPE_CHECKING:
    from attninspect.analysis.selection import HeadChoice, IndexSpec
    from attninspect.analysis.token_selectors import TokenSelector

INPUT, MODEL, VIEW, OUTPUT = "Input", "Model", "View", "Output"
PANELS = (INPUT, MODEL, VIEW, OUTPUT)  # the order of the help panels of every command
TOP = 5  # --top: how many entries a ranking lists, in every command


class DType(str, Enum):
    float32 = "float32"
    bfloat16 = "bfloat16"
    float16 = "float16"


class MeasureName(str, Enum):
    weights = "weights"
    scores = "scores"
    norms = "norms"


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


def default(value: object) -> str:
    """A default that typer cannot show itself (the option's own default is None), written the way
    typer writes the others; the backslash keeps rich from reading ``[...]`` as markup."""
    return f"\\[default: {value}]"


def usage_error(message: str, option: str) -> typer.BadParameter:
    """A usage error (exit 2) that names the option."""
    return typer.BadParameter(message, param_hint=option)


def within(low: int, high: int) -> Callable[[int | None], int | None]:
    """A callback that refuses a number outside ``low..high`` (a usage error, as click's ranges,
    but without the range squeezing the help's type column)."""

    def check(value: int | None) -> int | None:
        if value is not None and not low <= value <= high:
            raise typer.BadParameter(f"{value} is not in the range {low}<=x<={high}.")
        return value

    return check


COUNT = within(1, SIZE_MAX)
SEED = within(SEED_MIN, SEED_MAX)


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


def selector(value: str | None):  # typer evaluates a callback's annotations: none for the result
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


def writable(option: str) -> Callable[[Path | None], Path | None]:
    """A callback that refuses, while the options are read (before any model loads), an output
    path that cannot be written: `files.atomic.check_output_path`, naming ``option``."""

    def check(value: Path | None) -> Path | None:
        if value is not None:
            from attninspect.files.atomic import check_output_path

            check_output_path(value, option)
        return value

    return check


def _model(value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise typer.BadParameter("is empty: give a model directory, a hub id or scratch")
    return value


# ------------------------------------------------------------------ Input (model-loading commands)

TruncateOption = Annotated[
    bool,
    typer.Option(
        "--truncate", help="Cut texts over the model's limit (warns).", rich_help_panel=INPUT
    ),
]
ChatOption = Annotated[
    bool,
    typer.Option(
        "--chat", help="Wrap the text in the tokenizer's chat template.", rich_help_panel=INPUT
    ),
]
SystemOption = Annotated[
    str | None,
    typer.Option(
        "--system", metavar="TEXT", help="With --chat: a system message.", rich_help_panel=INPUT
    ),
]

TextsArgument = Annotated[
    str | None,
    typer.Argument(help="The text; - reads texts from stdin, one a line.", show_default=False),
]
FileOption = Annotated[
    Path | None,
    typer.Option(
        "--file",
        "-f",
        metavar="FILE",
        help="Read texts from FILE, one a line.",
        rich_help_panel=INPUT,
    ),
]
SkipErrorsOption = Annotated[
    bool,
    typer.Option("--skip-errors", help="Report a bad text and go on.", rich_help_panel=INPUT),
]

BatchSizeOption = Annotated[
    int,
    typer.Option(
        "--batch-size",
        metavar="N",
        callback=COUNT,
        help="Texts per forward pass, at most.",
        rich_help_panel=INPUT,
    ),
]
TextArgument = Annotated[str, typer.Argument(help="The text to inspect.")]

# ------------------------------------------------------------------ Model (model-loading commands)

ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        metavar="NAME",
        callback=_model,
        help="Model directory, hub id or scratch. " + default("all-MiniLM-L6-v2"),
        rich_help_panel=MODEL,
    ),
]
DeviceOption = Annotated[
    str,
    typer.Option(
        "--device",
        metavar="DEVICE",
        callback=_device,
        help="auto, cpu, cuda, cuda:N or mps.",
        rich_help_panel=MODEL,
    ),
]
DTypeOption = Annotated[
    DType,
    typer.Option(
        "--dtype",
        metavar="DTYPE",
        help="float32, bfloat16 or float16 weights.",
        rich_help_panel=MODEL,
    ),
]
TrustOption = Annotated[
    bool,
    typer.Option("--trust-remote-code", help="Let a model's own code run.", rich_help_panel=MODEL),
]
DownloadOption = Annotated[
    bool,
    typer.Option(
        "--download", help="Fetch a hub id missing from the cache.", rich_help_panel=MODEL
    ),
]
EagerOption = Annotated[
    bool,
    typer.Option(
        "--eager",
        help="Every layer eager, bitwise as transformers computes it (slower on long texts).",
        rich_help_panel=MODEL,
    ),
]
ThreadsOption = Annotated[
    int | None,
    typer.Option(
        "--threads",
        metavar="N",
        callback=within(1, 1024),
        help="CPU threads of torch (fewer can be faster on a busy machine). "
        + default("torch's choice"),
        rich_help_panel=MODEL,
    ),
]
VerboseOption = Annotated[
    bool,
    typer.Option(
        "--verbose", "-v", help="Let transformers print its messages.", rich_help_panel=MODEL
    ),
]
TokenizerOption = Annotated[
    str | None,
    typer.Option(
        "--tokenizer",
        metavar="DIR",
        help="scratch: tokenizer. " + default("model's"),
        rich_help_panel=MODEL,
    ),
]
DimOption = Annotated[
    int | None,
    typer.Option(
        "--dim",
        metavar="N",
        callback=COUNT,
        help="scratch: embedding size. " + default(64),
        rich_help_panel=MODEL,
    ),
]
NumHeadsOption = Annotated[
    int | None,
    typer.Option(
        "--num-heads",
        metavar="N",
        callback=COUNT,
        help="scratch: heads (old: --heads). " + default(1),
        rich_help_panel=MODEL,
    ),
]
CausalOption = Annotated[
    bool,
    typer.Option("--causal", help="scratch: mask keys after each query.", rich_help_panel=MODEL),
]
SeedOption = Annotated[
    int | None,
    typer.Option(
        "--seed",
        metavar="N",
        callback=SEED,
        help="scratch: weights' seed. " + default(0),
        rich_help_panel=MODEL,
    ),
]
OldHeadCountOption = Annotated[
    int | None,
    typer.Option("--heads", callback=COUNT, hidden=True, help="Old spelling of --num-heads."),
]
ServerOption = Annotated[
    str | None,
    typer.Option(
        "--server",
        envvar="ATTNINSPECT_SERVER",
        show_envvar=False,
        metavar="URL",
        help="A running attninspect serve (or $ATTNINSPECT_SERVER).",
        rich_help_panel=MODEL,
    ),
]


def chat_options(chat: bool, system: str | None) -> dict[str, object]:
    """The `Inspector` keywords of --chat / --system; --system alone is a usage error."""
    if system is not None and not chat:
        raise usage_error("--system adds a system message to --chat: add --chat", "'--system'")
    return {"chat": chat, "system": system} if chat else {}


# ------------------------------------------------------------------ View

LayerOption = Annotated[
    int,
    typer.Option(
        "--layer",
        "-l",
        metavar="N",
        help="Layer (-1: the last).",
        rich_help_panel=VIEW,
    ),
]
if TYPE_CHECKING:  # what the callback hands the command, parsed once
    HeadOption = HeadChoice
else:
    HeadOption = Annotated[
        str,
        typer.Option(
            "--head",
            metavar="H",
            callback=_head,
            help="Head index, mean or max.",
            rich_help_panel=VIEW,
        ),
    ]
if TYPE_CHECKING:  # what the callback hands the command, parsed once
    FocusOption = TokenSelector | None
else:
    FocusOption = Annotated[
        str | None,
        typer.Option(
            "--focus",
            metavar="TOKEN",
            callback=selector,
            help="Query token: its text, it#2 (2nd one) or @8.",
            rich_help_panel=VIEW,
        ),
    ]
TopOption = Annotated[
    int | None,
    typer.Option(
        "--top",
        "-k",
        metavar="K",
        callback=COUNT,
        help="Keys per layer for --focus. " + default(TOP),
        rich_help_panel=VIEW,
    ),
]
WordsOption = Annotated[
    bool,
    typer.Option("--words", help="Merge subword pieces into words.", rich_help_panel=VIEW),
]
HideSpecialOption = Annotated[
    bool,
    typer.Option(
        "--hide-special", help="Drop special tokens, renormalise rows.", rich_help_panel=VIEW
    ),
]
RolloutOption = Annotated[
    bool,
    typer.Option("--rollout", help="Attention rollout (head mean).", rich_help_panel=VIEW),
]
MeasureOption = Annotated[
    MeasureName,
    typer.Option(
        "--measure",
        metavar="M",
        help="weights (default), scores or norms.",
        show_default=False,
        rich_help_panel=VIEW,
    ),
]


def top_of(top: int | None, focus: object) -> int:
    """``--top`` lists what ``--focus`` attends to: alone it is a usage error."""
    if top is not None and focus is None:
        raise usage_error("--top lists what --focus attends to: add --focus TOKEN", "'--top'")
    return TOP if top is None else top


# ------------------------------------------------------------------ Output

OutputOption = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        metavar="FILE",
        callback=writable("--output"),
        help="Write there (atomically), not to stdout.",
        rich_help_panel=OUTPUT,
    ),
]
RunFormatOption = Annotated[
    RunFormat,
    typer.Option(
        "--format", metavar="FORMAT", help="table, json, jsonl, csv or npz.", rich_help_panel=OUTPUT
    ),
]
CompareFormatOption = Annotated[
    CompareFormat,
    typer.Option(
        "--format", metavar="FORMAT", help="table, json, jsonl or csv.", rich_help_panel=OUTPUT
    ),
]
ShapesFormatOption = Annotated[
    ShapesFormat,
    typer.Option(
        "--format", metavar="FORMAT", help="table, json or jsonl.", rich_help_panel=OUTPUT
    ),
]
if TYPE_CHECKING:  # what the callback hands the command, parsed once
    LayersOption = IndexSpec | None
else:
    LayersOption = Annotated[
        str | None,
        typer.Option(
            "--layers",
            metavar="SLICE",
            callback=index_spec,
            help="Layers kept, e.g. 3 or 2:4. " + default("all"),
            rich_help_panel=OUTPUT,
        ),
    ]
if TYPE_CHECKING:  # what the callback hands the command, parsed once
    HeadsOption = IndexSpec | None
else:
    HeadsOption = Annotated[
        str | None,
        typer.Option(
            "--heads",
            metavar="SLICE",
            callback=index_spec,
            help="Heads kept, e.g. 3 or 0:4. " + default("all"),
            rich_help_panel=OUTPUT,
        ),
    ]
PrecisionOption = Annotated[
    int,
    typer.Option(
        "--precision",
        metavar="N",
        callback=within(0, 8),
        help="Digits per weight (0-8).",
        rich_help_panel=OUTPUT,
    ),
]
FullOption = Annotated[
    bool,
    typer.Option("--full", help="The whole matrix, however wide.", rich_help_panel=OUTPUT),
]
SaveOption = Annotated[
    Path | None,
    typer.Option(
        "--save",
        metavar="FILE",
        callback=writable("--save"),
        help="Save a picture too: .png, .svg, .pdf, .html.",
        rich_help_panel=OUTPUT,
    ),
]
DpiOption = Annotated[
    int | None,
    typer.Option(
        "--dpi",
        metavar="N",
        callback=within(20, 1200),
        help="Resolution of a .png (20-1200). " + default(150),
        rich_help_panel=OUTPUT,
    ),
]
NoColorOption = Annotated[
    bool,
    typer.Option("--no-color", help="No colour (NO_COLOR works too).", rich_help_panel=OUTPUT),
]
AllLayersOption = Annotated[
    bool,
    typer.Option(
        "--all-layers", help="Every layer and head, not just the view.", rich_help_panel=OUTPUT
    ),
]
WindowOption = Annotated[
    int | None,
    typer.Option(
        "--window",
        metavar="N",
        callback=COUNT,
        help="Tokens per axis at most. " + default("what fits"),
        rich_help_panel=OUTPUT,
    ),
]


class Convention(str, Enum):
    attninspect = "attninspect"
    clark = "clark"
    transformerlens = "transformerlens"


ConventionOption = Annotated[
    Convention,
    typer.Option(
        "--convention",
        metavar="NAME",
        help="How stats averages: attninspect (over the rows where each is defined), clark "
        "(Clark et al. 2019: per text, then over texts) or transformerlens (detect_head scores).",
        rich_help_panel=OUTPUT,
    ),
]


# ------------------------------------------------------------ Input: targets, generation, pairs


class AttentionChoice(str, Enum):
    self_ = "self"
    encoder = "encoder"
    decoder = "decoder"
    cross = "cross"


TargetOption = Annotated[
    str | None,
    typer.Option(
        "--target",
        metavar="TEXT",
        help="Seq2seq: the decoder's text (teacher forcing).",
        rich_help_panel=INPUT,
    ),
]
GenerateOption = Annotated[
    int | None,
    typer.Option(
        "--generate",
        metavar="N",
        callback=COUNT,
        help="Greedy new tokens (seq2seq: 20 by default).",
        rich_help_panel=INPUT,
    ),
]
PairOption = Annotated[
    str | None,
    typer.Option(
        "--pair",
        metavar="TEXT",
        help="Encoder: a second text (sentence pair).",
        rich_help_panel=INPUT,
    ),
]
AttentionOption = Annotated[
    AttentionChoice | None,
    typer.Option(
        "--attention",
        metavar="KIND",
        help="Seq2seq: encoder, decoder or cross (default).",
        rich_help_panel=VIEW,
    ),
]


def request_of(
    target: str | None,
    generate: int | None,
    pair: str | None,
    attention: AttentionChoice | None,
    rollout: bool = False,
) -> Any:
    """The `Request` these options make (None when none is given); usage errors for options
    that never go together, checked before any model loads."""
    from attninspect.api.seq2seq import Request

    if target is not None and generate is not None:
        raise usage_error("--target gives the decoder's text; --generate makes it: not both",
                          "'--generate'")  # fmt: skip
    if pair is not None and (target is not None or generate is not None):
        raise usage_error("--pair is for encoders; --target and --generate for models that "
                          "decode", "'--pair'")  # fmt: skip
    if rollout and attention is AttentionChoice.cross:
        raise usage_error(
            "rollout is defined for self-attention stacks, not for cross attention; choose "
            "--attention encoder or decoder",
            "'--rollout'",
        )
    kind = attention.value if attention is not None else None
    request = Request(target=target, generate=generate, pair=pair, kind=kind)  # type: ignore[arg-type]
    return None if request.plain else request


def asking(inspector: Any, request: Any) -> Any:
    """The inspector, set to ask ``request`` of every text (where there is one)."""
    if request is not None:
        inspector.request = request
    return inspector
