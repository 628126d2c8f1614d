"""`attninspect explore`: the Textual explorer (Textual is imported only here, when it runs)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Annotated, Any

import typer

from attninspect.cli.app import app
from attninspect.cli.options import (
    MODEL,
    SCRATCH_HELP,
    ChatOption,
    DeviceOption,
    DownloadOption,
    DType,
    DTypeOption,
    ModelOption,
    SystemOption,
    TruncateOption,
    TrustOption,
    chat_options,
    engine_options,
    usage_error,
)
from attninspect.cli.run import scratch_options
from attninspect.errors import AttnInspectError


@app.command()
def explore(
    text: Annotated[
        str | None, typer.Argument(help="The sentence to start with (default: type one).")
    ] = None,
    model: ModelOption = None,
    device: DeviceOption = "auto",
    dtype: DTypeOption = DType.float32,
    tokenizer: Annotated[
        str | None,
        typer.Option(
            "--tokenizer", help=SCRATCH_HELP + "tokenizer directory.", rich_help_panel=MODEL
        ),
    ] = None,
    dim: Annotated[
        int | None,
        typer.Option(
            "--dim", min=1, help=SCRATCH_HELP + "embedding size [64].", rich_help_panel=MODEL
        ),
    ] = None,
    heads: Annotated[
        str | None,
        typer.Option("--heads", help=SCRATCH_HELP + "heads [1].", rich_help_panel=MODEL),
    ] = None,
    causal: Annotated[
        bool,
        typer.Option("--causal", help=SCRATCH_HELP + "mask later keys.", rich_help_panel=MODEL),
    ] = False,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed", help=SCRATCH_HELP + "seed for the weights [0].", rich_help_panel=MODEL
        ),
    ] = None,
    truncate: TruncateOption = False,
    trust_remote_code: TrustOption = False,
    download: DownloadOption = False,
    chat: ChatOption = False,
    system: SystemOption = None,
) -> None:
    """Explore a sentence interactively: arrows move layer and head, ? lists the keys, q quits."""
    scratch, kept_heads = scratch_options(model, tokenizer, dim, heads, causal, seed)
    if kept_heads is not None:
        raise usage_error(
            "explore shows every head (← / → walk through them); --heads is a count for "
            "--model scratch",
            "'--heads'",
        )
    engine = engine_options(model, device, dtype, trust_remote_code, False, download) | scratch
    engine |= chat_options(chat, system)
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise AttnInspectError(
            "explore needs a terminal (standard input and output); for scripts use run"
        )

    def load():
        from attninspect.api import Inspector

        return Inspector(truncate=truncate, **engine)

    loading = load_in_background(load)
    from attninspect.explorer.app import ExplorerApp

    explorer = ExplorerApp(loading.result, text, model or "")
    explorer.run()
    if explorer.error is not None:
        raise explorer.error
    if explorer.return_code:  # Textual has shown what went wrong
        raise typer.Exit(explorer.return_code)


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
