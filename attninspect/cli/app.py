"""The Typer app: commands parse options and call the core; errors become one line.

Nothing here imports torch or transformers at module level, so `attninspect --help` starts fast.
"""

from __future__ import annotations

import errno
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from attninspect import __version__
from attninspect.errors import AttnInspectError
from attninspect.model.devices import DEVICE_HELP, is_device_spec
from attninspect.safe_text import printable

DEBUG_VARIABLE = "ATTNINSPECT_DEBUG"
# Bounds that make an absurd number a usage error (exit 2) instead of an overflow deep inside.
SIZE_MAX = 2**31 - 1
SEED_MIN, SEED_MAX = 0, 2**63 - 1  # what torch.manual_seed and torch.Generator accept


def report_error(message: str) -> None:
    """Write one ``Error: ...`` line to stderr, with user text escaped."""
    sys.stderr.write(f"Error: {printable(message)}\n")
    sys.stderr.flush()


def _silence_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so the final flush cannot complain."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def _click_exception_type() -> type[Exception]:
    """Click's base exception, wherever this typer keeps click (vendored since typer 0.26)."""
    for cls in typer.BadParameter.__mro__:
        if cls.__name__ == "ClickException":
            return cls
    raise AssertionError("typer.BadParameter does not derive from ClickException")


class StdoutClosed(Exception):
    """Standard output was closed early (``| head``); not an OSError, so click cannot catch it."""


def debug_enabled() -> bool:
    """Whether ``ATTNINSPECT_DEBUG`` holds a true value (1, true, yes, on): show tracebacks."""
    return os.environ.get(DEBUG_VARIABLE, "").strip().lower() in {"1", "true", "yes", "on"}


class AttnInspectGroup(TyperGroup):
    """Runs the command and turns every failure into one line and an exit status."""

    def invoke(self, ctx: Any) -> Any:
        """Run the command; a broken pipe leaves as StdoutClosed, past click's own EPIPE handler
        (which would exit 1)."""
        try:
            return super().invoke(ctx)
        except OSError as error:
            if error.errno == errno.EPIPE:
                raise StdoutClosed() from error
            raise

    def main(  # type: ignore[override]
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        click_exception = _click_exception_type()
        try:
            exit_code = super().main(
                args=args,
                prog_name=prog_name,
                complete_var=complete_var,
                standalone_mode=False,
                **extra,
            )
            if exit_code == 130:
                report_error("interrupted")
        except click_exception as error:
            report_error(error.format_message())
            exit_code = error.exit_code
        except AttnInspectError as error:
            report_error(str(error))
            exit_code = error.exit_code
        except (KeyboardInterrupt, typer.Abort):
            report_error("interrupted")
            exit_code = 130
        except (BrokenPipeError, StdoutClosed):
            _silence_stdout()
            exit_code = 141
        except Exception as error:
            if debug_enabled():
                raise
            if isinstance(error, OSError) and error.errno == errno.EPIPE:
                _silence_stdout()
                exit_code = 141
            else:
                report_error(
                    f"unexpected {type(error).__name__}: {error} "
                    f"(set {DEBUG_VARIABLE}=1 to see the traceback, and please report it)"
                )
                exit_code = 1
        if standalone_mode:
            sys.exit(exit_code or 0)
        return exit_code


app = typer.Typer(
    cls=AttnInspectGroup,
    name="attninspect",
    help="See which token attends to which: tokens, shapes and attention, in the terminal.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=(
        'Examples:  attninspect run "The cat sat on the mat because it was warm." --focus it  ·  '
        "attninspect shapes --dim 8 --len 5  ·  "
        'attninspect heads "..." --from it --to mat  ·  '
        "attninspect run - --format jsonl < texts.txt"
    ),
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"attninspect {__version__}")
        raise typer.Exit()


def _device_callback(value: str) -> str:
    if not is_device_spec(value):
        raise typer.BadParameter(f"{value!r} is not a device; use {DEVICE_HELP}")
    return value


@app.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """See which token attends to which: tokens, shapes and attention, in the terminal."""


class ShapesFormat(str, Enum):
    table = "table"
    json = "json"


DeviceOption = Annotated[
    str,
    typer.Option("--device", callback=_device_callback, help=f"Where to compute: {DEVICE_HELP}."),
]
NoColorOption = Annotated[
    bool, typer.Option("--no-color", help="No colour, even on a terminal (NO_COLOR works too).")
]


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
        ShapesFormat, typer.Option("--format", help="table for people, json for scripts.")
    ] = ShapesFormat.table,
    no_color: NoColorOption = False,
) -> None:
    """Run the self-attention module on torch.rand(B, T, D) and show every stage's shape."""
    if dim % heads:
        raise typer.BadParameter(
            f"--heads {heads} must divide --dim {dim} (each head gets D / H features)",
            param_hint="'--heads'",
        )
    from attninspect.model.stages import ShapeSettings, inspect_shapes
    from attninspect.render.console import make_console
    from attninspect.render.shapes_view import print_shapes

    settings = ShapeSettings(
        dim=dim, length=length, heads=heads, batch=batch, causal=causal, seed=seed, device=device
    )
    report = inspect_shapes(settings)
    print_shapes(report, make_console(no_color=no_color), output_format.value)


class RunFormat(str, Enum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"
    npz = "npz"


class DType(str, Enum):
    float32 = "float32"
    bfloat16 = "bfloat16"
    float16 = "float16"


def _head_callback(value: str) -> str:
    from attninspect.analysis.selection import parse_head

    try:
        parse_head(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a head: use an index, mean or max") from None
    return value


def _focus_callback(value: str | None) -> str | None:
    from attninspect.analysis.selectors import parse_selector

    if value is None:
        return None
    try:
        parse_selector(value)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    return value


SCRATCH_HELP = "With --model scratch: "
WordsOption = Annotated[
    bool,
    typer.Option(
        "--words", help="Merge subword pieces into words (to: sum of pieces, from: their mean)."
    ),
]
HideSpecialOption = Annotated[
    bool,
    typer.Option(
        "--hide-special", help="Drop special tokens (CLS, SEP, BOS, ...) and renormalise rows."
    ),
]


class CompareFormat(str, Enum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"


ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="A local model directory, a Hugging Face hub id, or scratch. "
        "Default: the bundled all-MiniLM-L6-v2.",
    ),
]
DTypeOption = Annotated[
    DType, typer.Option("--dtype", help="Weights' precision (attention is reported as float32).")
]
TrustOption = Annotated[
    bool, typer.Option("--trust-remote-code", help="Allow a model's own Python code to run.")
]
VerboseOption = Annotated[
    bool, typer.Option("--verbose", "-v", help="Let transformers print its own messages.")
]
TruncateOption = Annotated[
    bool, typer.Option("--truncate", help="Cut texts longer than the model's limit (warns).")
]
CompareFormatOption = Annotated[
    CompareFormat, typer.Option("--format", help="table, json, jsonl or csv.")
]


@app.command()
def run(
    text: Annotated[
        str | None,
        typer.Argument(help="The text to inspect; - reads texts from standard input, one a line."),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", "-f", help="Read texts from this file, one per line."),
    ] = None,
    model: ModelOption = None,
    layer: Annotated[
        int, typer.Option("--layer", "-l", help="Layer to show; negative counts from the end.")
    ] = -1,
    head: Annotated[
        str,
        typer.Option(
            "--head", callback=_head_callback, help="Head index, or mean / max over heads."
        ),
    ] = "mean",
    focus: Annotated[
        str | None,
        typer.Option(
            "--focus",
            callback=_focus_callback,
            help="Query token to highlight: its text (case-insensitive), it#2 for the second "
            "occurrence, @8 for position 8.",
        ),
    ] = None,
    top: Annotated[
        int,
        typer.Option("--top", "-k", min=1, max=SIZE_MAX, help="How many keys to list for --focus."),
    ] = 5,
    device: DeviceOption = "auto",
    dtype: Annotated[
        DType,
        typer.Option("--dtype", help="Weights' precision (attention is reported as float32)."),
    ] = DType.float32,
    output_format: Annotated[
        RunFormat, typer.Option("--format", help="table, json, jsonl, csv or npz.")
    ] = RunFormat.table,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write to this file (atomically) instead of stdout."),
    ] = None,
    all_layers: Annotated[
        bool,
        typer.Option(
            "--all-layers", help="json/jsonl/csv: every layer and head, not just the selected view."
        ),
    ] = False,
    precision: Annotated[
        int, typer.Option("--precision", min=0, max=8, help="Digits of each weight in the table.")
    ] = 2,
    window: Annotated[
        int | None,
        typer.Option(
            "--window", min=1, help="Show at most N tokens per axis (default: what fits)."
        ),
    ] = None,
    full: Annotated[
        bool, typer.Option("--full", help="Show the whole matrix, however wide.")
    ] = False,
    truncate: TruncateOption = False,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, max=SIZE_MAX, help="Texts per forward pass.")
    ] = 16,
    skip_errors: Annotated[
        bool,
        typer.Option("--skip-errors", help="Report a bad text on stderr and go on with the rest."),
    ] = False,
    words: WordsOption = False,
    hide_special: HideSpecialOption = False,
    rollout: Annotated[
        bool,
        typer.Option(
            "--rollout", help="Attention rollout (Abnar & Zuidema) up to the layer, head mean."
        ),
    ] = False,
    stats: Annotated[
        bool,
        typer.Option(
            "--stats", help="Per head: row entropy and shares on previous/same/next/special."
        ),
    ] = False,
    tokenizer: Annotated[
        str | None,
        typer.Option("--tokenizer", help=SCRATCH_HELP + "tokenizer directory (default model's)."),
    ] = None,
    dim: Annotated[
        int | None,
        typer.Option("--dim", min=1, max=SIZE_MAX, help=SCRATCH_HELP + "embedding size [64]."),
    ] = None,
    heads: Annotated[
        int | None, typer.Option("--heads", min=1, max=SIZE_MAX, help=SCRATCH_HELP + "heads [1].")
    ] = None,
    causal: Annotated[
        bool, typer.Option("--causal", help=SCRATCH_HELP + "mask keys after each query.")
    ] = False,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed", min=SEED_MIN, max=SEED_MAX, help=SCRATCH_HELP + "seed for the weights [0]."
        ),
    ] = None,
    trust_remote_code: TrustOption = False,
    verbose: VerboseOption = False,
    no_color: NoColorOption = False,
) -> None:
    """Show which token attends to which, in a real model (default) or the scratch module."""
    from attninspect.analysis.selection import parse_head
    from attninspect.analysis.selectors import parse_selector
    from attninspect.model.engines.factory import SCRATCH

    if (text is None) == (file is None):
        raise typer.BadParameter(
            "give a TEXT (or - for standard input) or --file, not both"
            if text
            else "give a TEXT to inspect (or - for standard input, or --file FILE)",
            param_hint="TEXT",
        )
    _check_rollout(rollout, head)
    if output_format is RunFormat.npz and output is None:
        raise typer.BadParameter(
            "--format npz writes a binary file: add --output FILE.npz", param_hint="'--format'"
        )
    scratch_only = {"--dim": dim, "--heads": heads, "--seed": seed, "--causal": causal or None}
    if model != SCRATCH:
        given = [name for name, value in scratch_only.items() if value is not None]
        if given:
            raise typer.BadParameter(
                f"{', '.join(given)} apply to --model scratch only", param_hint="'--model'"
            )
    dim, heads, seed = dim or 64, heads or 1, seed or 0
    if dim % heads:
        raise typer.BadParameter(f"--heads {heads} must divide --dim {dim}", param_hint="'--heads'")
    from attninspect.cli.run_flow import RunSettings
    from attninspect.cli.run_flow import run as run_texts
    from attninspect.files.sources import from_argument, from_file, from_standard_input

    if file is not None:
        source = from_file(str(file))
    elif text == "-":
        source = from_standard_input()
    else:
        source = from_argument(text or "")
    settings = RunSettings(
        engine=_engine_settings(
            model,
            device,
            dtype,
            trust_remote_code,
            verbose,
            tokenizer=tokenizer,
            dim=dim,
            heads=heads,
            causal=causal,
            seed=seed,
        ),
        layer=layer,
        head=parse_head(head),
        focus=parse_selector(focus) if focus is not None else None,
        top=top,
        output_format=output_format.value,
        output=output,
        all_layers=all_layers,
        precision=precision,
        window=window,
        full=full,
        truncate=truncate,
        batch_size=batch_size,
        skip_errors=skip_errors,
        no_color=no_color,
        words=words,
        hide_special=hide_special,
        rollout=rollout,
        stats=stats,
    )
    run_texts(settings, source)


def _engine_settings(
    model: str | None,
    device: str,
    dtype: DType,
    trust_remote_code: bool,
    verbose: bool,
    **scratch: Any,
):
    """The engine options every command shares (scratch sizes only from `run`)."""
    from attninspect.model.engines.factory import EngineSettings

    return EngineSettings(
        model=model,
        device=device,
        dtype=dtype.value,
        trust_remote_code=trust_remote_code,
        verbose=verbose,
        **scratch,
    )


def _check_rollout(rollout: bool, head: str) -> None:
    if rollout and head != "mean":
        raise typer.BadParameter(
            "--rollout averages the heads of each layer; leave --head at mean",
            param_hint="'--head'",
        )


def _selector(value: str, option: str):
    from attninspect.analysis.selectors import parse_selector

    try:
        return parse_selector(value)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint=f"'{option}'") from None


@app.command()
def heads(
    text: Annotated[str, typer.Argument(help="The text to inspect.")],
    source: Annotated[
        str, typer.Option("--from", help="Query token: text, it#2 or @8 (as --focus).")
    ],
    target: Annotated[str, typer.Option("--to", help="Key token, same syntax.")],
    top: Annotated[int, typer.Option("--top", "-k", min=1, help="Heads in the ranking.")] = 10,
    words: WordsOption = False,
    model: ModelOption = None,
    device: DeviceOption = "auto",
    dtype: DTypeOption = DType.float32,
    output_format: CompareFormatOption = CompareFormat.table,
    truncate: TruncateOption = False,
    trust_remote_code: TrustOption = False,
    verbose: VerboseOption = False,
    no_color: NoColorOption = False,
) -> None:
    """Rank every layer x head by the attention --from gives --to (which heads link it to mat?)."""
    from attninspect.api.flows import search_heads
    from attninspect.cli.run_flow import RunSettings
    from attninspect.render.console import make_console
    from attninspect.render.heads_view import write_heads

    selectors = _selector(source, "--from"), _selector(target, "--to")
    engine = _engine_settings(model, device, dtype, trust_remote_code, verbose)
    settings = RunSettings(engine=engine, words=words, truncate=truncate, no_color=no_color)
    search = search_heads(settings, text, *selectors)
    write_heads(search, output_format.value, make_console(no_color=no_color), top)


@app.command()
def diff(
    text_a: Annotated[str, typer.Argument(help="The first text (A).")],
    text_b: Annotated[str, typer.Argument(help="The second text (B).")],
    layer: Annotated[
        int, typer.Option("--layer", "-l", help="Layer to compare; negative counts from the end.")
    ] = -1,
    head: Annotated[
        str,
        typer.Option("--head", callback=_head_callback, help="Head index, or mean / max."),
    ] = "mean",
    focus: Annotated[
        str | None,
        typer.Option(
            "--focus", callback=_focus_callback, help="Token of A to follow in both texts."
        ),
    ] = None,
    top: Annotated[int, typer.Option("--top", "-k", min=1, help="Keys per layer for --focus.")] = 3,
    words: WordsOption = False,
    hide_special: HideSpecialOption = False,
    rollout: Annotated[bool, typer.Option("--rollout", help="Compare rollouts.")] = False,
    precision: Annotated[
        int, typer.Option("--precision", min=0, max=8, help="Digits in the table.")
    ] = 2,
    full: Annotated[bool, typer.Option("--full", help="Show the whole matrix.")] = False,
    model: ModelOption = None,
    device: DeviceOption = "auto",
    dtype: DTypeOption = DType.float32,
    output_format: CompareFormatOption = CompareFormat.table,
    truncate: TruncateOption = False,
    trust_remote_code: TrustOption = False,
    verbose: VerboseOption = False,
    no_color: NoColorOption = False,
) -> None:
    """Compare two texts: the difference A − B of their attention, and what --focus attends to."""
    from attninspect.analysis.selection import parse_head
    from attninspect.analysis.selectors import parse_selector
    from attninspect.api.flows import compare_texts
    from attninspect.cli.run_flow import RunSettings
    from attninspect.render.console import make_console
    from attninspect.render.diff_view import write_diff

    _check_rollout(rollout, head)
    engine = _engine_settings(model, device, dtype, trust_remote_code, verbose)
    settings = RunSettings(
        engine=engine,
        layer=layer,
        head=parse_head(head),
        focus=parse_selector(focus) if focus is not None else None,
        top=top,
        words=words,
        hide_special=hide_special,
        rollout=rollout,
        truncate=truncate,
        no_color=no_color,
    )
    comparison = compare_texts(settings, text_a, text_b)
    console = make_console(no_color=no_color)
    write_diff(comparison, output_format.value, console, precision, full)


def main() -> None:
    """Console-script entry point."""
    app()
