"""``--server URL`` (or ``ATTNINSPECT_SERVER``) on `run`, `heads`, `diff` and `grid`: the model of
a running `attninspect serve` answers instead of a local one; everything else stays local."""

from __future__ import annotations

from typing import Any

from attninspect.cli import feedback
from attninspect.cli.options import usage_error

# The options that choose or load a local model, and the value each has when not given.
LOCAL_MODEL_OPTIONS = {
    "model": ("--model", None),
    "device": ("--device", "auto"),
    "dtype": ("--dtype", "float32"),
    "trust_remote_code": ("--trust-remote-code", False),
    "download": ("--download", False),
    "threads": ("--threads", None),
    "eager": ("--eager", False),
    "tokenizer": ("--tokenizer", None),
    "dim": ("--dim", None),
    "heads": ("--heads", None),
    "causal": ("--causal", False),
    "seed": ("--seed", None),
    "chat": ("--chat", False),
    "system": ("--system", None),
}


def inspector_for(
    server: str | None, no_color: bool, truncate: bool = False, batch_size: int = 16, **engine: Any
):
    """A local `Inspector` (the model loads here), or the client of the server at ``server``."""
    from attninspect.server.client import RemoteInspector, resolve_server, shown_url

    url = resolve_server(server)
    if url is None:
        return feedback.load_inspector(no_color, truncate, batch_size, **engine)
    for name, (option, default) in LOCAL_MODEL_OPTIONS.items():
        if name in engine and engine[name] != default:
            raise usage_error(
                f"the server at {shown_url(url)} has its own model: drop {option}, or --server "
                "(and ATTNINSPECT_SERVER)",
                f"'{option}'",
            )
    return RemoteInspector(url, truncate=truncate, batch_size=batch_size)
