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
from attninspect.devices import DEVICE_HELP, is_device_spec
from attninspect.errors import AttnInspectError
from attninspect.safe_text import printable

DEBUG_VARIABLE = "ATTNINSPECT_DEBUG"


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


class AttnInspectGroup(TyperGroup):
    """Runs the command and turns every failure into one line and an exit status."""

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
        except BrokenPipeError:
            _silence_stdout()
            exit_code = 141
        except Exception as error:
            if os.environ.get(DEBUG_VARIABLE):
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
    dim: Annotated[int, typer.Option("--dim", min=1, help="Embedding size D.")] = 8,
    length: Annotated[int, typer.Option("--len", min=1, help="Sequence length T.")] = 5,
    heads: Annotated[int, typer.Option("--heads", min=1, help="Heads H; must divide D.")] = 1,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Batch size B.")] = 1,
    causal: Annotated[bool, typer.Option("--causal", help="Mask keys after each query.")] = False,
    seed: Annotated[int, typer.Option("--seed", help="Seed for weights and input.")] = 0,
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
    from attninspect.render.console import make_console
    from attninspect.render.shapes_view import print_shapes
    from attninspect.shapes import ShapeSettings, inspect_shapes

    settings = ShapeSettings(
        dim=dim, length=length, heads=heads, batch=batch, causal=causal, seed=seed, device=device
    )
    report = inspect_shapes(settings)
    print_shapes(report, make_console(no_color=no_color), output_format.value)


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = ["app", "main", "Path"]
