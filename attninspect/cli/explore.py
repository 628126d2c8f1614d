"""`attninspect explore`: the Textual explorer (Textual is imported only here, when it runs)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Annotated, Any

import typer

from attninspect.cli.options import (
    AttentionOption,
    CausalOption,
    ChatOption,
    DeviceOption,
    DimOption,
    DownloadOption,
    DType,
    DTypeOption,
    GenerateOption,
    ModelChoice,
    ModelOption,
    NumHeadsOption,
    OldHeadCountOption,
    PairOption,
    SeedOption,
    SystemOption,
    TargetOption,
    TokenizerOption,
    TruncateOption,
    TrustOption,
    VerboseOption,
    asking,
    chat_options,
    request_of,
    usage_error,
)
from attninspect.errors import AttnInspectError


def explore(
    text: Annotated[
        str | None, typer.Argument(help="The sentence to start with (default: type one).")
    ] = None,
    truncate: TruncateOption = False,
    chat: ChatOption = False,
    system: SystemOption = None,
    target: TargetOption = None,
    generate: GenerateOption = None,
    pair: PairOption = None,
    model: ModelOption = None,
    device: DeviceOption = "auto",
    dtype: DTypeOption = DType.float32,
    trust_remote_code: TrustOption = False,
    download: DownloadOption = False,
    verbose: VerboseOption = False,
    tokenizer: TokenizerOption = None,
    dim: DimOption = None,
    num_heads: NumHeadsOption = None,
    causal: CausalOption = False,
    seed: SeedOption = None,
    attention: AttentionOption = None,
    old_heads: OldHeadCountOption = None,
) -> None:
    """Explore a sentence interactively: arrows move layer and head, ? lists the keys, q quits."""
    if old_heads is not None and num_heads is not None:
        raise usage_error("--heads is the old spelling of --num-heads: give one", "'--heads'")
    choice = ModelChoice(model, device, dtype, trust_remote_code, download, verbose, tokenizer,
                         dim, old_heads or num_heads, causal, seed)  # fmt: skip
    spelling = "--heads" if old_heads is not None else "--num-heads"
    if old_heads is not None and model != "scratch":
        raise usage_error(
            "explore shows every head (← / → walk through them); --heads is a count for "
            "--model scratch",
            "'--heads'",
        )
    engine = choice.engine(spelling) | chat_options(chat, system)
    request = request_of(target, generate, pair, attention)
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise AttnInspectError(
            "explore needs a terminal (standard input and output); for scripts use run"
        )

    def load():
        from attninspect.api import Inspector

        return asking(Inspector(truncate=truncate, **engine), request)

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
