"""`stats --engine ray`: the local engine's per-window function (`corpus.stats_window`) as a Ray
Data ``map_batches`` over an actor pool, one model load per actor; the partial sums come back
to the driver and are added exactly (float64 sums and integer row counts).

The driver cuts the input into the same windows as the local engine (one Ray row per window),
so each window is batched by length exactly as it is locally. Imported only for
``--engine ray``; Ray itself is an optional extra (``pip install attninspect[ray]``).
"""

from __future__ import annotations

import json
import os
import pickle
import socket
from collections.abc import Iterable
from typing import Any

import numpy as np

from attninspect.analysis.corpus import CorpusSums
from attninspect.api.corpus import StatsPlan, WindowStats
from attninspect.errors import AttnInspectError, InputError
from attninspect.files.sources import Item, SourceText, chunks

# How long a cluster's address may take to accept a connection before `stats` gives up on it
# (Ray itself waits over 2 minutes where nothing listens).
CONNECT_SECONDS = 10.0
RAY_CLIENT_PORT = 10001  # Ray Client's port where a ray:// address names none


class StatsActor:
    """One Ray actor: loads the model once, then measures window after window."""

    def __init__(self, settings: dict[str, Any], plan: StatsPlan) -> None:
        from attninspect.api.inspector import Inspector

        self.plan = plan
        self.inspector = Inspector(truncate=plan.truncate, batch_size=plan.batch_size, **settings)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """A batch of windows (usually one) -> one row each: its number and its packed stats."""
        from attninspect.api.corpus import stats_window

        packed = []
        for encoded in batch["items"]:
            items = _decode_items(str(encoded))
            part = stats_window(self.inspector.engine, items, self.plan, self.inspector.chat)
            kind = self.plan.kind_of(self.inspector.engine)
            packed.append(pack(part, f"{kind}\t{self.inspector.model_name}"))
        return {"window": np.asarray(batch["window"]), "stats": np.array(packed, dtype=object)}


def pack(part: WindowStats, model: str) -> bytes:
    """A window's stats as bytes: plain arrays and (message, line) pairs, nothing of ours."""
    return pickle.dumps(
        {
            "sums": part.sums.to_arrays(),
            "failures": [_error_pair(error) for error in part.failures],
            "truncated": [_error_pair(note) for note in part.truncated],
            "model": model,
        }
    )


def unpack(data: bytes) -> tuple[WindowStats, str]:
    found = pickle.loads(data)  # written by our own actors, in this run
    part = WindowStats(
        CorpusSums.from_arrays(found["sums"]),
        [InputError(message, line) for message, line in found["failures"]],
        [InputError(message, line) for message, line in found["truncated"]],
    )
    return part, found["model"]


def _error_pair(error: InputError) -> tuple[str, int | None]:
    line = getattr(error, "line", None)
    message = str(error)
    prefix = f"line {line}: "
    return (message.removeprefix(prefix) if line is not None else message), line


def _encode_items(items: list[Item]) -> str:
    """A window's items as one JSON string (a text, or a read error, with its place)."""
    return json.dumps(
        [
            {"text": item.text, "index": item.index, "line": item.line}
            if isinstance(item, SourceText)
            else {"error": _error_pair(item)}
            for item in items
        ]
    )


def _decode_items(encoded: str) -> list[Item]:
    items: list[Item] = []
    for entry in json.loads(encoded):
        if "error" in entry:
            message, line = entry["error"]
            items.append(InputError(message, line))
        else:
            items.append(SourceText(entry["text"], entry["index"], entry["line"]))
    return items


def run_on_ray(
    settings: dict[str, Any],
    items: Iterable[Item],
    plan: StatsPlan,
    choice: tuple[str | None, int, float | None],
    window: tuple[int, int],
) -> tuple[WindowStats, str]:
    """Every window measured on Ray; the total (failures in input order) and the model's name.
    ``choice``: the cluster address (None: RAY_ADDRESS or a new local instance), the number
    of actors and the GPUs per actor (None: 1 where the cluster has GPUs); ``window``: the
    texts and characters a window holds at most, as the local engine's. What comes back names
    the model as ``KIND<TAB>MODEL`` (the kind of attention measured)."""
    ray = _ray()
    address, actors, num_gpus = choice
    if not ray.is_initialized():
        _connect(ray, address)
    rows = [
        {"window": number, "items": _encode_items(part)}
        for number, part in enumerate(chunks(items, *window))
    ]
    if not rows:
        raise AttnInspectError("nothing to measure: the input had no text")
    gpus = num_gpus if num_gpus is not None else float(ray.cluster_resources().get("GPU", 0) > 0)
    return _merged(ray, rows, settings, plan, (actors, gpus))


def _merged(
    ray: Any, rows: list[dict], settings: dict, plan: StatsPlan, width: tuple[int, float]
) -> tuple[WindowStats, str]:
    actors, gpus = width
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    measured = ray.data.from_items(rows).map_batches(
        StatsActor,
        fn_constructor_kwargs={"settings": settings, "plan": plan},
        batch_size=1,
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=1,
        num_gpus=gpus,
    )
    parts: list[tuple[int, WindowStats]] = []
    model = ""
    try:
        for row in measured.iter_rows():
            part, model = unpack(row["stats"])
            parts.append((int(row["window"]), part))
    except ray.exceptions.RayError as error:
        raise AttnInspectError(f"the Ray engine failed: {_first_line(error)}") from error
    parts.sort(key=lambda entry: entry[0])
    total = parts[0][1]
    for _, part in parts[1:]:
        total.add(part)
    return total, model


def _connect(ray: Any, address: str | None) -> None:
    """`ray.init` for ``address`` (None: RAY_ADDRESS, else a new local instance), after checking
    that Ray Client is installed for a ray:// address and that the address accepts a connection
    within `CONNECT_SECONDS`: one clear error instead of a hang or a bare ValueError."""
    given = address or os.environ.get("RAY_ADDRESS") or None
    if given is not None and given != "auto":
        check_client(given)
        probe(given)
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    except (ConnectionError, ValueError) as error:
        message = f"cannot reach the Ray cluster at {given}: {_first_line(error)}"
        raise AttnInspectError(message) from error


def check_client(address: str) -> None:
    """A ray:// address needs Ray Client (grpcio, from ``ray[client]``)."""
    if not address.startswith("ray://"):
        return
    try:
        import grpc  # noqa: F401  (what ray[client] adds to ray[data])
    except ImportError as error:
        raise AttnInspectError(
            f"the Ray address {address} needs Ray Client: pip install 'attninspect[ray]' "
            "(or pip install 'ray[client]')"
        ) from error


def probe(address: str, seconds: float = CONNECT_SECONDS) -> None:
    """Refuse an address where nothing accepts a TCP connection within ``seconds``."""
    host, port = host_port(address)
    try:
        with socket.create_connection((host, port), timeout=seconds):
            pass
    except OSError as error:
        timed_out = isinstance(error, TimeoutError)
        reason = f"no answer within {seconds:g} s" if timed_out else (error.strerror or error)
        raise AttnInspectError(
            f"nothing answers at the Ray address {address} ({reason}): "
            "start the cluster (ray start --head) or check --ray-address / RAY_ADDRESS"
        ) from error


def host_port(address: str) -> tuple[str, int]:
    """(host, port) of ``host:port``, ``[v6]:port`` or ``ray://host[:port]``."""
    rest = address.removeprefix("ray://")
    default = RAY_CLIENT_PORT if rest != address else None
    host, colon, port = rest.rpartition(":")
    if not colon or "]" in port:  # no port given
        host, port = rest, ""
    host = host.strip("[]")
    if not port and default is not None:
        return host, default
    if not host or not port.isascii() or not port.isdigit() or not 0 < int(port) < 65536:
        raise AttnInspectError(f"the Ray address {address!r} is not HOST:PORT or ray://HOST[:PORT]")
    return host, int(port)


def _first_line(error: BaseException) -> str:
    """What an actor's failure says (its own error's message where Ray kept it), on one line."""
    cause = getattr(error, "cause", None) or error
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    return (lines[-1] if lines else type(cause).__name__)[:300]


def _ray() -> Any:
    """Ray, or one clear error saying how to get it."""
    try:
        import ray
        import ray.data
        import ray.exceptions
    except ImportError as error:
        raise AttnInspectError(
            "--engine ray needs Ray: pip install 'attninspect[ray]' "
            "(or pip install 'ray[data,client]')"
        ) from error
    return ray
