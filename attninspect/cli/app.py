"""The Typer app and the one place where failures become an `Error: ...` line and an exit status.

Nothing here imports torch or transformers at module level, so `attninspect --help` starts fast.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable
from errno import EPIPE
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from attninspect import __version__
from attninspect.cli.options import PANELS
from attninspect.errors import AttnInspectError, OutOfRangeError
from attninspect.safe_text import printable

DEBUG_VARIABLE = "ATTNINSPECT_DEBUG"
INTERRUPTED, BROKEN_PIPE, USAGE = 130, 141, 2


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


WRITE_FAILURES = frozenset({errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EFBIG, errno.EROFS})


def exit_status(error: BaseException) -> int:
    """The exception-to-exit table: report the error (where there is something to say)."""
    error = getattr(error, "original", error)  # the API's Python wording -> the option names
    if isinstance(error, _click_exception_type()):
        message = error.format_message()  # type: ignore[attr-defined]
        if message:  # no arguments at all: the help was the answer
            report_error(message)
        return int(error.exit_code)  # type: ignore[attr-defined]
    if isinstance(error, OutOfRangeError):
        report_error(f"Invalid value for '--{error.what}': {error}")
        return USAGE
    if isinstance(error, AttnInspectError):
        report_error(str(error))
        return error.exit_code
    if isinstance(error, KeyboardInterrupt | typer.Abort):
        report_error("interrupted")
        return INTERRUPTED
    if isinstance(error, BrokenPipeError | StdoutClosed) or getattr(error, "errno", None) == EPIPE:
        _silence_stdout()
        return BROKEN_PIPE
    if isinstance(error, OSError) and error.errno in WRITE_FAILURES:
        report_error(f"cannot write the output: {error.strerror or error}")
        return 1
    if isinstance(error, MemoryError):  # past the estimates (another process took the memory)
        report_error(
            "ran out of memory: free some, or ask for less (fewer or shorter texts, "
            "--layers/--heads, --format npz instead of json, a smaller --batch-size)"
        )
        return 1
    report_error(
        f"unexpected {type(error).__name__}: {error} "
        f"(set {DEBUG_VARIABLE}=1 to see the traceback, and please report it)"
    )
    return 1


class AttnInspectGroup(TyperGroup):
    """Runs the command and turns every failure into one line and an exit status."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _plain_flags(self.params)

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        _plain_flags([option] if option is not None else [])
        _plain_flags(self.params)  # typer adds the completion options after __init__
        return option

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        """``--show-completion SHELL`` / ``--install-completion SHELL`` use the shell named (typer's
        flags would ignore it and detect the parent shell)."""
        named = _named_completion_shell(args, self.list_commands(ctx))
        if named is not None:
            from typer import completion

            option, shell = named
            callback = completion.show_callback if option == "--show-completion" else None
            (callback or completion.install_callback)(ctx, None, shell)  # type: ignore[arg-type]
        return super().parse_args(ctx, args)

    def invoke(self, ctx: Any) -> Any:
        """Run the command; a broken pipe leaves as StdoutClosed, past click's own EPIPE handler
        (which would exit 1)."""
        try:
            return super().invoke(ctx)
        except OSError as error:
            if error.errno == EPIPE:
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
        try:
            exit_code = super().main(
                args=args, prog_name=prog_name, complete_var=complete_var,
                standalone_mode=False, **extra,
            )  # fmt: skip
            if exit_code == INTERRUPTED:
                report_error("interrupted")
        except (Exception, KeyboardInterrupt) as error:
            if debug_enabled() and not _expected(error):
                raise
            exit_code = exit_status(error)
        if standalone_mode:
            sys.exit(exit_code or 0)
        return exit_code


COMPLETION_OPTIONS = ("--show-completion", "--install-completion")
SHELLS = ("bash", "zsh", "fish", "powershell", "pwsh")


def _named_completion_shell(args: list[str], commands: list[str]) -> tuple[str, str] | None:
    """``(option, shell)`` when the first argument is a completion option with a shell named after
    it (``--show-completion zsh`` or ``--show-completion=zsh``); a word that is neither a shell
    nor a command is a usage error."""
    if not args:
        return None
    option, _, value = args[0].partition("=")
    if option not in COMPLETION_OPTIONS:
        return None
    if not value:
        if len(args) < 2 or args[1].startswith("-") or args[1] in commands:
            return None  # the plain flag: the current shell, as typer detects it
        value = args[1]
    if value not in SHELLS:
        raise typer.BadParameter(
            f"unknown shell {value!r}: choose one of {', '.join(SHELLS)}", param_hint=f"'{option}'"
        )
    return option, value


def _expected(error: BaseException) -> bool:
    """Failures with a message of their own (not bugs)."""
    expected = (
        _click_exception_type(), AttnInspectError, KeyboardInterrupt, typer.Abort, StdoutClosed
    )  # fmt: skip
    return isinstance(error, expected) or getattr(error, "errno", None) == EPIPE


app = typer.Typer(
    cls=AttnInspectGroup,
    name="attninspect",
    help="See which token attends to which: tokens, shapes and attention, in the terminal.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish, pwsh)
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=(
        'Examples:  attninspect run "The cat sat on the mat because it was warm." --focus it  ·  '
        "attninspect shapes --dim 8 --len 5  ·  "
        'attninspect heads "..." --from it --to mat  ·  '
        "attninspect run - --format jsonl < texts.txt"
    ),
)


class AttnInspectCommand(TyperCommand):
    """Every command's help in one shape: the panels in `options.PANELS` order, whatever order the
    command lists its options in, and no type column for flags (``--causal``, not ``--causal
    <bool>``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.sort(key=_panel_rank)  # stable: a panel keeps its options' own order
        _plain_flags(self.params)

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        _plain_flags([option] if option is not None else [])
        return option


def _plain_flags(params: list[Any]) -> None:
    """A flag's type column stays empty (typer would show ``<bool>``)."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""


def _panel_rank(param: Any) -> int:
    """Arguments and panel-less options first, then Input, Model, View, Output."""
    panel = getattr(param, "rich_help_panel", None)
    return PANELS.index(panel) + 1 if panel in PANELS else 0


def register(command: Callable[..., None]) -> None:
    """Add one command to the app (`attninspect.cli` lists them all, in help order)."""
    app.command(cls=AttnInspectCommand)(command)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"attninspect {__version__}")
        raise typer.Exit()


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
