"""`attninspect explore`: the Textual explorer (Textual is imported only here, when it runs)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import replace
from typing import Annotated, Any

import typer

from attninspect.cli.choices import LocalModel, ViewChoice
from attninspect.cli.groups import grouped, only
from attninspect.cli.options import OldHeadCountOption, asking, usage_error
from attninspect.errors import AttnInspectError


@grouped
def explore(
    text: Annotated[
        str | None, typer.Argument(help="The sentence to start with (default: type one).")
    ] = None,
    *,
    view: Annotated[ViewChoice, only("measure")],
    model: LocalModel,
    old_heads: OldHeadCountOption = None,
) -> None:
    """Explore a sentence interactively: arrows move layer and head, ? lists the keys, q quits."""
    measure = view.measure.value
    if old_heads is not None and model.num_heads is not None:
        raise usage_error("--heads is the old spelling of --num-heads: give one", "'--heads'")
    if old_heads is not None:
        model = replace(model, num_heads=old_heads)
    spelling = "--heads" if old_heads is not None else "--num-heads"
    if old_heads is not None and model.model != "scratch":
        raise usage_error(
            "explore shows every head (← / → walk through them); --heads is a count for "
            "--model scratch",
            "'--heads'",
        )
    engine = model.settings(spelling)
    request = model.request()
    check_terminal()

    def load():
        from attninspect.analysis.pipeline import ViewOptions
        from attninspect.api import Inspector

        inspector = asking(Inspector(truncate=model.truncate, **engine), request)
        if measure != "weights":  # a model that cannot make it is refused before any sentence
            inspector.check(ViewOptions(measure=measure))
        return inspector

    loading = load_in_background(load)
    from attninspect.explorer.app import ExplorerApp

    explorer = ExplorerApp(loading.result, text, model.model or "", measure)
    exit_on_hangup()
    explorer.run()
    if explorer.error is not None:
        raise explorer.error
    if explorer.return_code:  # Ctrl+C (130, "Error: interrupted"), or Textual's own error
        raise typer.Exit(explorer.return_code)


def exit_on_hangup() -> None:
    """The terminal went away (its window closed, tmux killed): exit 129 at once. Raised inside
    Textual's event loop, the usual Terminated would be swallowed by a callback and the app would
    go on, reading a dead terminal; there is no screen left to restore. nohup (ignored) stays."""
    import os
    import signal

    hangup = getattr(signal, "SIGHUP", None)
    if hangup is not None and signal.getsignal(hangup) is not signal.SIG_IGN:
        signal.signal(hangup, lambda _number, _frame: os._exit(128 + hangup))


def check_terminal() -> None:
    """Textual reads keys from standard input and draws on standard error: both must be the
    terminal (``2>log`` would fill the log with the screen's escape codes)."""
    streams = {"input": sys.stdin, "output": sys.stdout, "error": sys.stderr}
    redirected = [name for name, stream in streams.items() if not _is_terminal(stream)]
    if redirected:
        names = ", ".join(redirected[:-1]) + " and " * (len(redirected) > 1) + redirected[-1]
        verb = "is not one" if len(redirected) == 1 else "are not terminals"
        raise AttnInspectError(
            f"explore needs a terminal: standard {names} {verb} (it reads keys from standard "
            "input and draws on standard error); for scripts use run"
        )


def _is_terminal(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def load_in_background(load: Callable[[], Any]) -> Future:
    """Start loading the model now, while Textual starts: the first frame waits for whichever is
    slower. A daemon thread, so that q during the load quits at once."""
    loading: Future = Future()

    def target() -> None:
        try:
            loading.set_result(load())
        except BaseException as error:
            loading.set_exception(error)

    threading.Thread(target=target, name="attninspect-load", daemon=True).start()
    return loading
