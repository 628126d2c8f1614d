"""The loaded model behind the server: one forward at a time, in one worker thread.

`Inspector` is not thread-safe, so every call on it runs in a single worker thread, one after
another (a queue, bounded so that a flood is refused instead of piling up). Each request waits at
most `time_limit` seconds for its answer. The answers are bytes, made in the worker too: the
public API's JSON (what `--format json` prints) or the command line's wire format.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from attninspect.analysis.digest import WholeLayers
from attninspect.errors import AttnInspectError, InputError, OutOfRangeError
from attninspect.files.records import DiffResult, HeadsResult, RunResult, dump_json
from attninspect.server import wire
from attninspect.server.requests import (
    BadRequest,
    DiffRequest,
    HeadsRequest,
    InspectRequest,
    RunRequest,
)

MAX_QUEUE = 256
TIME_LIMIT = 60.0


class Busy(Exception):
    """The queue is full, or the answer did not come within the time limit (503)."""


@dataclass(frozen=True)
class Answer:
    """An HTTP answer the worker made: a status and JSON bytes."""

    status: int
    body: bytes


def json_answer(record: Any, status: int = 200) -> Answer:
    return Answer(status, (dump_json(record) + "\n").encode("utf-8"))


def error_answer(status: int, message: str, error: Exception | None = None) -> Answer:
    """``{"error": message}``; for the command line's transport, also the error itself (``wire``),
    so that the client raises exactly what a local run raises."""
    record: dict[str, Any] = {"error": message}
    if error is not None and isinstance(error, AttnInspectError):
        record["wire"] = wire.encode(error)
    return json_answer(record, status)


class ModelService:
    """One `Inspector`, and the single worker thread that may touch it."""

    def __init__(
        self, inspector: Any, time_limit: float = TIME_LIMIT, max_queue: int = MAX_QUEUE
    ) -> None:
        self.inspector = inspector
        self.default_truncate = bool(inspector.truncate)
        self.time_limit = time_limit
        self.max_queue = max_queue
        self.pending = 0
        self.lock = threading.Lock()  # guards `pending`; the worker serialises the model
        self.executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="model")

    @property
    def health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "model": self.inspector.model_name,
            "layers": self.inspector.num_layers,
            "heads": self.inspector.num_heads,
        }

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def call(self, work: Callable[[], Answer], transport: bool = False) -> Answer:
        """Run ``work`` in the worker thread after those before it; refuse when too many wait.
        ``transport``: errors carry the error itself for the command line's client."""
        with self.lock:
            if self.pending >= self.max_queue:
                raise Busy(f"the server is busy ({self.pending} requests waiting): try again")
            self.pending += 1
        try:
            future = self.executor.submit(self._guarded, work, transport)
        except RuntimeError:  # shutting down
            self._done()
            raise Busy("the server is shutting down") from None
        future.add_done_callback(lambda _: self._done())
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self.time_limit)
        except asyncio.TimeoutError:
            future.cancel()
            raise Busy(f"no answer within {self.time_limit:g} s: try a shorter text") from None

    def _done(self) -> None:
        with self.lock:
            self.pending -= 1

    @staticmethod
    def _guarded(work: Callable[[], Answer], transport: bool) -> Answer:
        try:
            return work()
        except BadRequest as error:
            return error_answer(error.status, str(error))
        except AttnInspectError as caught:
            said: AttnInspectError = getattr(caught, "original", caught)  # as the CLI says it
            if isinstance(said, OutOfRangeError):
                return error_answer(400, f"{said.what}: {said}", said if transport else None)
            return error_answer(400, str(said), said if transport else None)

    def _truncating(self, truncate: bool | None) -> None:
        """Set the per-request truncation (the worker is the only thread that reads it)."""
        self.inspector.truncate = self.default_truncate if truncate is None else truncate

    # The work itself: each runs in the worker thread.

    def run(self, request: RunRequest, transport: bool) -> Callable[[], Answer]:
        def work() -> Answer:
            self._truncating(request.truncate)
            self.inspector.check(request.options, request.keep)
            results = self.inspector.view_batch(request.items, request.options, request.keep)
            if transport:
                return Answer(200, wire.dumps({"results": results}))
            (result,) = results
            if isinstance(result, InputError):
                raise result
            shown, view = result
            record = RunResult(shown, view, request.all_layers, request.options.stats).record()
            return json_answer(record)

        return work

    def heads(self, request: HeadsRequest, transport: bool) -> Callable[[], Answer]:
        def work() -> Answer:
            self._truncating(request.truncate)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                search = self.inspector.heads(
                    request.text, request.source, request.target, request.words, request.whole
                )
            if transport:
                return _transported(search, caught)
            return json_answer(HeadsResult(search).record())

        return work

    def diff(self, request: DiffRequest, transport: bool) -> Callable[[], Answer]:
        def work() -> Answer:
            self._truncating(request.truncate)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                comparison = self.inspector.diff(
                    request.a, request.b, request.options, WholeLayers(wanted=request.whole)
                )
            if transport:
                return _transported(comparison, caught)
            return json_answer(DiffResult(comparison).record())

        return work

    def inspect(self, request: InspectRequest) -> Callable[[], Answer]:
        def work() -> Answer:
            self._truncating(request.truncate)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                inspection = self.inspector.run(request.text)
            return _transported(inspection, caught)

        return work


def _transported(result: Any, caught: list[warnings.WarningMessage]) -> Answer:
    messages = [str(warning.message) for warning in caught]
    return Answer(200, wire.dumps({"result": result, "warnings": messages}))


PAGE_TEXT = "The cat sat on the mat because it was warm."


def page_work(service: ModelService, request: RunRequest) -> Callable[[], Answer]:
    """The live page's inspection: every layer of the analysed text, and its run record."""
    from attninspect.server.page import run_page_data

    def work() -> Answer:
        service._truncating(request.truncate)
        keep = WholeLayers(wanted=True)
        service.inspector.check(request.options, keep)
        (result,) = service.inspector.view_batch(request.items, request.options, keep)
        if isinstance(result, InputError):
            raise result
        shown, view = result
        record = RunResult(shown, view, False, False).record()
        return json_answer({"page": run_page_data(shown, view), "record": record})

    return work


def page_diff_work(service: ModelService, request: DiffRequest) -> Callable[[], Answer]:
    """The live page's diff: both texts as the page's documents, the diff record, and the
    largest differences over the paired tokens."""
    import numpy as np

    from attninspect.server.page import diff_page_data

    def work() -> Answer:
        service._truncating(request.truncate)
        comparison = service.inspector.diff(
            request.a, request.b, request.options, WholeLayers(wanted=True)
        )
        paired, pairs = comparison.paired, comparison.alignment.pairs
        order = np.argsort(-np.abs(paired), axis=None, kind="stable")[:8]
        largest = []
        for flat in order:
            row, column = divmod(int(flat), paired.shape[1])
            largest.append({
                "query": comparison.a.tokens[pairs[row][0]],
                "key": comparison.a.tokens[pairs[column][0]],
                "delta": float(paired[row, column]),
            })  # fmt: skip
        record = DiffResult(comparison).record()
        return json_answer({"page": diff_page_data(comparison), "record": record,
                            "largest": largest})  # fmt: skip

    return work


def first_page_work(service: ModelService, limits: dict[str, Any]) -> Callable[[], Answer]:
    """`GET /`: the live page, first showing the cat sentence."""
    from attninspect.analysis.pipeline import ViewOptions
    from attninspect.files.sources import SourceText
    from attninspect.server.page import live_page

    def work() -> Answer:
        service._truncating(True)
        item = SourceText(text=PAGE_TEXT, index=0)
        (result,) = service.inspector.view_batch([item], ViewOptions(), WholeLayers(wanted=True))
        if isinstance(result, InputError):
            raise result
        shown, view = result
        return Answer(200, live_page(shown, view, limits).encode("utf-8"))

    return work
