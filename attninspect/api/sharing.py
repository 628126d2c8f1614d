"""One engine, many threads: its forward passes (and the tokenizing before them) one at a time.

An engine streams attention through forward hooks on the model's modules; two passes at once
would each hand their layers to both sinks. Engines are cached per settings, so two `Inspector`
objects may share one: the lock belongs to the engine, not to the `Inspector`.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any, cast

from attninspect.model.engines.base import Engine, LayerSink
from attninspect.model.engines.seam import RowRequest, TapRequest
from attninspect.model.tokenization import Encoding

_LOCKS: weakref.WeakKeyDictionary[Any, threading.RLock] = weakref.WeakKeyDictionary()
_GUARD = threading.Lock()


def lock_of(engine: Engine) -> threading.RLock:
    """The one lock of ``engine`` (made on first use)."""
    with _GUARD:
        lock = _LOCKS.get(engine)
        if lock is None:
            lock = _LOCKS[engine] = threading.RLock()
        return lock


class SharedEngine:
    """``engine`` with its forward pass under the engine's lock; everything else passes through."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.lock = lock_of(engine)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    @property
    def device_name(self) -> str:
        return self._engine.device_name

    def stream_batch(
        self,
        encodings: list[Encoding],
        sink: LayerSink,
        tap: TapRequest | None = None,
        rows: RowRequest | None = None,
    ) -> list[dict[str, list[int]]]:
        with self.lock:
            if rows is None:
                return self._engine.stream_batch(encodings, sink, tap)
            return self._engine.stream_batch(encodings, sink, tap, rows)


def shared(engine: Engine) -> Engine:
    """``engine`` safe to use from several threads at once."""
    return cast(Engine, SharedEngine(engine))
