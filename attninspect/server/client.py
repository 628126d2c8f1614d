"""`--server URL`: the command line's client of a running `attninspect serve`.

`RemoteInspector` has the methods of `Inspector` that the commands call, and answers with the
very objects a local `Inspector` makes (rebuilt from the wire format), so every format, table,
``-o`` and ``--save`` comes out as a local run's. It imports neither torch nor transformers nor
Starlette: only the standard library's http.client, NumPy and the analysis dataclasses.
"""

from __future__ import annotations

import http.client
import json
import os
import warnings
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

from attninspect.analysis.alignment import TextDiff
from attninspect.analysis.digest import WholeLayers
from attninspect.analysis.inspection import Inspection
from attninspect.analysis.pipeline import ViewOptions
from attninspect.analysis.selection import resolve_head, resolve_indices, resolve_layer
from attninspect.api.seq2seq import Request
from attninspect.errors import AttnInspectError, InputError
from attninspect.server import wire

SERVER_VARIABLE = "ATTNINSPECT_SERVER"
TOKEN_VARIABLE = "ATTNINSPECT_TOKEN"
TIMEOUT = 600.0


class ServerError(AttnInspectError):
    """The server could not be reached, or refused the request."""


def not_ours(shown: str, detail: str) -> ServerError:
    """The one error for an answer that is not what `attninspect serve` sends."""
    return ServerError(
        f"the server at {shown} did not answer as `attninspect serve` does ({detail}): check "
        "--server (or ATTNINSPECT_SERVER)"
    )


class Connection:
    """Where the server is and how to talk to it: one keep-alive HTTP connection."""

    def __init__(self, url: str, token: str | None = None) -> None:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ServerError(f"--server {url!r}: give a URL such as http://127.0.0.1:8765")
        self.url = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
        self.shown = shown_url(url)
        self.prefix = parts.path.rstrip("/")
        query_token = parse_qs(parts.query).get("token", [None])[0]
        self.token = token or query_token or os.environ.get(TOKEN_VARIABLE) or None
        kind = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        try:
            port = parts.port
        except ValueError:
            raise ServerError(f"--server {url!r}: the port is not a number") from None
        self.http = kind(parts.hostname, port, timeout=TIMEOUT)

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> bytes:
        """The answer's body; a refused connection or an error answer raises one clear error."""
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            self.http.request(method, self.prefix + path, body=data, headers=headers)
            response = self.http.getresponse()
            payload = response.read()
        except ConnectionRefusedError:
            raise ServerError(
                f"cannot reach the server at {self.shown}: connection refused "
                "(start it with `attninspect serve`, or drop --server)"
            ) from None
        except (OSError, http.client.HTTPException) as error:
            reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
            raise ServerError(f"cannot reach the server at {self.shown}: {reason}") from None
        if response.status != 200:
            raise self._refusal(response.status, payload)
        return payload

    def _refusal(self, status: int, payload: bytes) -> AttnInspectError:
        try:
            answer = json.loads(payload)
        except (ValueError, RecursionError):
            answer = None
        if not isinstance(answer, dict) or "error" not in answer:
            return ServerError(f"the server at {self.shown} answered HTTP {status}")
        if isinstance(answer.get("wire"), dict):
            try:
                return wire.error_of(answer["wire"])  # the error a local run raises, exactly
            except wire.DECODING_ERRORS:
                return not_ours(self.shown, f"HTTP {status} with an odd error")
        return ServerError(f"the server at {self.shown} refused: {answer['error']}")

    def close(self) -> None:
        self.http.close()


def _spec(value: int | slice | None) -> str | int | None:
    """An index or slice as the API takes it (``2:4``, ``::2``)."""
    if value is None or isinstance(value, int):
        return value
    parts = ["" if part is None else str(part) for part in (value.start, value.stop, value.step)]
    return ":".join(parts)


def view_fields(options: ViewOptions) -> dict[str, Any]:
    """The view options as the API's fields; ``measure`` only where it is not weights (so a
    plain run asks a server from before the measures exactly what it asked then)."""
    fields: dict[str, Any] = {
        "layer": options.layer,
        "head": options.head,
        "words": options.words,
        "hide_special": options.hide_special,
        "rollout": options.rollout,
        "focus": options.focus.raw if options.focus is not None else None,
        "top": options.top,
    }
    return fields | measure_field(options.measure)


def measure_field(measure: str) -> dict[str, str]:
    """``{"measure": ...}`` where it is not weights, else nothing: a request of weights stays
    what a server from before the measures understands."""
    return {} if measure == "weights" else {"measure": measure}


class RemoteInspector:
    """The `Inspector` methods the commands use, answered by a server's loaded model."""

    def __init__(self, url: str, truncate: bool = False, batch_size: int = 16) -> None:
        self.connection = Connection(url)
        self.truncate = truncate
        self.batch_size = max(1, batch_size)
        try:
            health = json.loads(self.connection.request("GET", "/api/health"))
            model, layers, heads = health["model"], health["layers"], health["heads"]
        except (*wire.DECODING_ERRORS, UnicodeDecodeError):
            raise not_ours(self.connection.shown, "GET /api/health") from None
        if not isinstance(model, str) or not all(_count(n) for n in (layers, heads)):
            raise not_ours(self.connection.shown, "GET /api/health")
        self.model_name, self.num_layers, self.num_heads = model, layers, heads
        self.shapes = _kinds(health.get("kinds"), layers, heads, self.connection.shown)
        self.request = Request()  # what every text is asked besides itself (`Inspector.request`)

    @property
    def kinds(self) -> list[str]:
        return list(self.shapes)

    def layers_of(self, kind: str | None = None) -> tuple[int, int]:
        """Layers and heads of one attention kind (default: the model's default kind)."""
        return self.shapes.get(kind or self.kinds[-1], (self.num_layers, self.num_heads))

    def _post(self, path: str, body: dict[str, Any], expected: type | tuple[type, ...]) -> Any:
        """The answer's ``result`` (or ``results``), checked to be what ``expected`` says."""
        ask = self.request
        asked = {"target": ask.target, "generate": ask.generate, "pair": ask.pair,
                 "attention": ask.kind}  # fmt: skip
        body = {**body, "truncate": self.truncate, **asked}
        payload = self.connection.request("POST", path, body)
        try:
            answer = wire.loads(payload)
        except wire.WireError:
            raise not_ours(self.connection.shown, f"POST {path}") from None
        many = path == "/api/wire/run"
        found = answer.get("results" if many else "result") if isinstance(answer, dict) else None
        every = found if many else [found]
        fits = isinstance(every, list) and all(isinstance(each, expected) for each in every)
        if not fits or not isinstance(answer.get("warnings", []), list):
            raise not_ours(self.connection.shown, f"POST {path}")
        return answer

    def check(
        self, options: ViewOptions, keep: WholeLayers | None = None, request: Any = None
    ) -> None:
        """Refuse a layer or head the server's model does not have, as `Inspector.check` (what
        the model cannot be asked, the server refuses with the same line)."""
        kind = (request or self.request).kind
        if kind is not None and kind not in self.shapes:
            return  # the server's error says which kinds this model has
        layers, heads = self.layers_of(kind)
        if options.rollout and (kind or self.kinds[-1]) == "cross":
            return  # the server's error names rollout
        resolve_layer(options.layer, layers)
        resolve_head(options.head, heads)
        if keep is not None:
            resolve_indices(keep.layers, layers, "layers")
            if not options.rollout:
                resolve_indices(keep.heads, heads, "heads")

    def view_batch(
        self, batch: Sequence[Any], options: ViewOptions, keep: WholeLayers | None = None
    ):
        """`Inspector.view_batch`, one request per batch; read errors stay in their place."""
        keep = keep or WholeLayers()
        texts = [item for item in batch if not isinstance(item, InputError)]
        results: list[Any] = []
        if texts:
            body = {
                "texts": [{"text": t.text, "index": t.index, "line": t.line} for t in texts],
                **view_fields(options),
                "stats": options.stats,
                "all_layers": keep.wanted,
                "layers": _spec(keep.layers) if keep.wanted else None,
                "heads": _spec(keep.heads) if keep.wanted else None,
            }
            results = self._post("/api/wire/run", body, (tuple, InputError))["results"]
            if len(results) != len(texts) or not all(map(_viewed, results)):
                raise not_ours(self.connection.shown, "POST /api/wire/run")
        computed = iter(results)
        return [item if isinstance(item, InputError) else next(computed) for item in batch]

    def heads(
        self, text: str, source: str, target: str, words: bool = False, whole: bool = False,
        measure: str = "weights",
    ):  # fmt: skip
        """`Inspector.heads` on the server's model; ``measure`` sent where it is not weights."""
        from attninspect.analysis.head_ranking import HeadSearch

        body = {"text": text, "from": source, "to": target, "words": words, "whole": whole}
        body |= measure_field(measure)
        return _warned(self._post("/api/wire/heads", body, HeadSearch))

    def diff(self, text_a: str, text_b: str, options: ViewOptions, keep: WholeLayers | None = None):
        self.check(options)
        body = {
            "a": text_a,
            "b": text_b,
            **view_fields(options),
            "whole": bool(keep and keep.wanted),
        }
        return _warned(self._post("/api/wire/diff", body, TextDiff))

    def run(self, text: str, measure: str = "weights"):
        """`Inspector.run` of one text, every layer whole (`grid`); ``measure`` sent where it is
        not weights, so that a server from before the measures is asked what it was asked."""
        body = {"text": text} | measure_field(measure)
        return _warned(self._post("/api/wire/inspect", body, Inspection))

    def neurons(self, text: str, focus: str, layer: int = -1, head: int = 0):
        """`Inspector.neurons`: one head's neuron view, from the server's model."""
        from attninspect.analysis.neurons import Neurons

        body = {"text": text, "focus": focus, "layer": layer, "head": head}
        return _warned(self._post("/api/wire/neurons", body, Neurons))

    def neuron_layer(self, text: str, layer: int = -1):
        """`Inspector.neuron_layer`: one layer's vectors (a saved page's neuron view)."""
        from attninspect.analysis.neurons import LayerNeurons

        body = {"text": text, "layer": layer}
        return _warned(self._post("/api/wire/neuron_layer", body, LayerNeurons))


def _kinds(sent: Any, layers: int, heads: int, shown: str) -> dict[str, tuple[int, int]]:
    """Each attention kind's (layers, heads) from the health answer (a server before the kinds:
    self-attention with the model's counts)."""
    if sent is None:
        return {"self": (layers, heads)}
    kinds = ("self", "encoder", "decoder", "cross")
    if (
        not isinstance(sent, dict)
        or not sent
        or not all(
            kind in kinds and isinstance(pair, list) and len(pair) == 2 and all(map(_count, pair))
            for kind, pair in sent.items()
        )
    ):
        raise not_ours(shown, "GET /api/health")
    return {kind: (pair[0], pair[1]) for kind, pair in sent.items()}


def _count(value: Any) -> bool:
    """Whether ``value`` is a count of layers or heads as a server sends it."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**31


def _viewed(result: Any) -> bool:
    """Whether one of ``results`` is a text's error or its (inspection, view)."""
    from attninspect.analysis.selection import View

    if isinstance(result, InputError):
        return True
    return len(result) == 2 and isinstance(result[0], Inspection) and isinstance(result[1], View)


def _warned(answer: dict[str, Any]) -> Any:
    """The result, after re-raising the server's warnings here (truncation), as a local run."""
    from attninspect.api.inspector import TruncationWarning

    for message in answer.get("warnings", []):
        warnings.warn(str(message), TruncationWarning, stacklevel=3)
    return answer["result"]


def shown_url(url: str) -> str:
    """``url`` as messages show it: without its query (``?token=``) or user and password."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    return f"{parts.scheme}://{parts.netloc.split('@')[-1]}{parts.path.rstrip('/')}"


def resolve_server(value: str | None) -> str | None:
    """``--server``, else ``ATTNINSPECT_SERVER`` (blank: none)."""
    value = value if value is not None else os.environ.get(SERVER_VARIABLE)
    return value.strip() or None if value is not None else None


__all__ = ["RemoteInspector", "ServerError", "resolve_server"]
