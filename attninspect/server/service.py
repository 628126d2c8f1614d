"""The loaded model behind the server: one forward at a time, in one worker thread.

`Inspector` is not thread-safe, so every call on it runs in a single worker thread, one after
another (a queue, bounded so that a flood is refused instead of piling up). Each request waits at
most `time_limit` seconds for its answer; when the server stops, the requests still waiting are
answered 503 at once, work nobody waits for any more is dropped, and a forward already running
is left behind (`busy`: the runner then exits without waiting for it). The answers are bytes,
made in the worker too: the public API's JSON (what `--format json` prints) or the command
line's wire format.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import sys
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from attninspect.analysis.digest import WholeLayers
from attninspect.api.seq2seq import Request
from attninspect.errors import AttnInspectError, InputError, OutOfRangeError
from attninspect.files.records import DiffResult, HeadsResult, RunResult, dump_json
from attninspect.model.estimate import serialised_bytes
from attninspect.model.memory import host_available_bytes
from attninspect.server import wire
from attninspect.server.requests import (
    BadRequest,
    DiffRequest,
    HeadsRequest,
    InspectRequest,
    NeuronsRequest,
    RunRequest,
)
from attninspect.units import format_bytes

MAX_QUEUE = 256
TIME_LIMIT = 60.0
# What one answer may hold: attention weights over all its texts (texts x tokens^2 x layers x
# heads), 256 MiB as float32; one 512-token text with every layer of a 12 x 12 model holds 38 M.
MAX_ANSWER_VALUES = 2**26
WIRE_BYTES = 16  # a weight in the command line's transport: float32, base64 text, the bytes


Job = tuple["concurrent.futures.Future[Answer]", Callable[[], "Answer"]]


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
        self,
        inspector: Any,
        time_limit: float = TIME_LIMIT,
        max_queue: int = MAX_QUEUE,
        max_values: int = MAX_ANSWER_VALUES,
    ) -> None:
        self.inspector = inspector
        self.max_values = max_values
        self.default_truncate = bool(inspector.truncate)
        self.time_limit = time_limit
        self.max_queue = max_queue
        self.pending = 0
        self.lock = threading.Lock()  # guards `pending`; the worker serialises the model
        self.jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self.closed = False
        self.stopping = False
        self.waiting: set[asyncio.Future[None]] = set()  # one per call, set when stopping
        self.running = False  # the worker is inside a job
        self.worker = threading.Thread(target=self._work, name="model", daemon=True)
        self.worker.start()

    @property
    def health(self) -> dict[str, Any]:
        kinds = getattr(self.inspector, "kinds", ["self"])
        return {
            "status": "ok",
            "model": self.inspector.model_name,
            "layers": self.inspector.num_layers,
            "heads": self.inspector.num_heads,
            # each attention kind's [layers, heads] (an encoder-decoder model's three differ)
            "kinds": {kind: list(self._layers_of(kind)) for kind in kinds},
        }

    @property
    def asks(self) -> dict[str, Any]:
        """What the live page may ask this model besides a text: its attention ``kinds``, and
        whether it ``generates`` (a decoder, or an encoder-decoder model)."""
        kinds = list(getattr(self.inspector, "kinds", ["self"]))
        engine = getattr(self.inspector, "engine", None)
        pretrained = getattr(engine, "kind", "") == "pretrained"  # with a language-model head
        causal = bool(getattr(engine, "causal", False)) and pretrained
        return {"kinds": kinds, "generates": "cross" in kinds or causal}

    def _layers_of(self, kind: str) -> tuple[int, int]:
        layers_of = getattr(self.inspector, "layers_of", None)
        if layers_of is None:
            return self.inspector.num_layers, self.inspector.num_heads
        layers, heads = layers_of(kind)
        return layers, heads

    def close(self) -> None:
        """No more work: what is queued is dropped, and the worker ends after its current one
        (nobody waits for it)."""
        self.closed = True
        self.jobs.put(None)

    def stop(self) -> int:
        """The server is stopping: every call still waiting answers 503 now (one log line says
        how many); the number of them."""
        self.stopping = True
        waiting = [each for each in self.waiting if not each.done()]
        for each in waiting:
            each.set_result(None)
        if waiting:
            print(f"attninspect serve: stopping: {len(waiting)} request(s) in flight answered 503",
                  file=sys.stderr, flush=True)  # fmt: skip
        return len(waiting)

    def _work(self) -> None:
        """The worker thread: each job in turn, unless nobody waits for it any more."""
        while (job := self.jobs.get()) is not None and not self.closed:
            future, run = job
            if not future.set_running_or_notify_cancel():
                continue  # its caller gave up (gone, timed out, or the server stopped)
            self.running = True
            try:
                future.set_result(run())
            except BaseException as error:  # the caller's to answer (a bug is a JSON 500)
                future.set_exception(error)
            finally:
                self.running = False

    @property
    def busy(self) -> bool:
        """Whether a forward is still running (after `stop`, nobody waits for it)."""
        return self.running

    async def call(self, work: Callable[[], Answer], transport: bool = False) -> Answer:
        """Run ``work`` in the worker thread after those before it; refuse when too many wait,
        when no answer comes within the time limit, or when the server stops meanwhile.
        ``transport``: errors carry the error itself for the command line's client."""
        if self.stopping or self.closed:
            raise Busy("the server is stopping: try again when it is back")
        with self.lock:
            if self.pending >= self.max_queue:
                raise Busy(f"the server is busy ({self.pending} requests waiting): try again")
            self.pending += 1
        future: concurrent.futures.Future[Answer] = concurrent.futures.Future()
        future.add_done_callback(lambda _: self._done())
        self.jobs.put((future, lambda: self._guarded(work, transport)))
        answer = asyncio.wrap_future(future)
        stopped = asyncio.get_running_loop().create_future()
        self.waiting.add(stopped)
        try:
            done, _ = await asyncio.wait(
                {answer, stopped}, timeout=self.time_limit, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            self.waiting.discard(stopped)
            if not answer.done():
                answer.cancel()  # cancels the job too, unless it is already running
        if answer in done:
            return answer.result()
        if stopped in done:
            raise Busy("the server is stopping: try again when it is back")
        raise Busy(f"no answer within {self.time_limit:g} s: try a shorter text")

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

    def _truncating(self, truncate: bool | None, ask: Request | None = None) -> None:
        """Set the per-request truncation and what the request asks besides its texts (a
        target, generation, a pair, the kind): the worker is the only thread that reads them."""
        self.inspector.truncate = self.default_truncate if truncate is None else truncate
        self.inspector.request = ask or Request()

    # The work itself: each runs in the worker thread.

    def budget(self, values: int, transport: bool, advice: str) -> None:
        """Refuse (413) an answer of ``values`` weights over `max_values`, or one whose
        serialisation (the command line's estimate for JSON) needs more memory than is free."""
        if values > self.max_values:
            raise BadRequest(
                413, f"the answer would hold {values:,} attention weights, over the server's "
                     f"{self.max_values:,} a request: {advice}")  # fmt: skip
        needed = values * WIRE_BYTES if transport else serialised_bytes(values)
        available = host_available_bytes()
        if needed > available:
            raise BadRequest(
                413, f"the answer needs about {format_bytes(needed)} ({values:,} weights as "
                     f"text), but {format_bytes(available)} is available: {advice}")  # fmt: skip

    def _viewed(self, request: RunRequest, transport: bool) -> list[Any]:
        """`Inspector.view_batch` a batch at a time, refused (413) as soon as what the texts
        viewed so far hold passes the budget: no request holds more than that and one batch."""
        step = max(1, int(getattr(self.inspector, "batch_size", len(request.items))))
        results: list[Any] = []
        values = 0
        advice = BUDGET_ADVICE[transport]
        for start in range(0, len(request.items), step):
            part = self.inspector.view_batch(
                request.items[start : start + step], request.options, request.keep
            )
            results += part
            values += sum(_held(each, request.all_layers) for each in part)
            if values > self.max_values:
                break
        self.budget(values, transport, advice)
        return results

    def run(self, request: RunRequest, transport: bool) -> Callable[[], Answer]:
        def work() -> Answer:
            self._truncating(request.truncate, request.ask)
            self.inspector.check(request.options, request.keep, request.ask)
            results = self._viewed(request, transport)
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
            self._truncating(request.truncate, request.ask)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                search = self.inspector.heads(
                    request.text,
                    request.source,
                    request.target,
                    request.words,
                    request.whole,
                    measure=request.measure,
                )
            if request.whole:
                self.budget(_layers_held(search.inspection), transport, BUDGET_ADVICE[transport])
            if transport:
                return _transported(search, caught)
            return json_answer(HeadsResult(search).record())

        return work

    def diff(self, request: DiffRequest, transport: bool) -> Callable[[], Answer]:
        def work() -> Answer:
            self._truncating(request.truncate, request.ask)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                comparison = self.inspector.diff(
                    request.a, request.b, request.options, WholeLayers(wanted=request.whole)
                )
            if request.whole:
                held = _layers_held(comparison.a) + _layers_held(comparison.b)
                self.budget(held, transport, BUDGET_ADVICE[transport])
            if transport:
                return _transported(comparison, caught)
            return json_answer(DiffResult(comparison).record())

        return work

    def inspect(self, request: InspectRequest) -> Callable[[], Answer]:
        def work() -> Answer:
            self._truncating(request.truncate, request.ask)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                inspection = self.inspector.run(request.text, measure=request.measure)
            self.budget(_layers_held(inspection), True, BUDGET_ADVICE[True])
            return _transported(inspection, caught)

        return work

    def neurons(self, request: NeuronsRequest) -> Callable[[], Answer]:
        """The transport's neuron view of one head (``focus``), or one layer's vectors."""

        def work() -> Answer:
            self._truncating(request.truncate, request.ask)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                if request.focus is None:
                    found = self.inspector.neuron_layer(request.text, request.layer)
                else:
                    found = self.inspector.neurons(
                        request.text, request.focus, request.layer, request.head
                    )
            return _transported(found, caught)

        return work


BUDGET_ADVICE = {
    False: 'keep fewer layers with "layers" (or "heads"), or send a shorter text',
    True: "keep fewer layers with --layers (or --heads), or send fewer texts at once "
    "(--batch-size)",
}


def _held(result: Any, all_layers: bool) -> int:
    """The attention weights one text's answer holds (its view, and its layers if kept)."""
    if isinstance(result, InputError):
        return 0
    shown, view = result
    return int(view.matrix.size) + (_layers_held(shown) if all_layers else 0)


def _layers_held(inspection: Any) -> int:
    """The weights of every layer an inspection holds, of every attention kind."""
    return sum(int(each.attention.size) for each in (inspection, *inspection.others.values()))


def _transported(result: Any, caught: list[warnings.WarningMessage]) -> Answer:
    messages = [str(warning.message) for warning in caught]
    return Answer(200, wire.dumps({"result": result, "warnings": messages}))


PAGE_TEXT = "The cat sat on the mat because it was warm."


def page_work(service: ModelService, request: RunRequest) -> Callable[[], Answer]:
    """The live page's inspection: every layer of the analysed text as the request measures
    it, the vectors of the viewed layer (the page's neuron view), and its run record."""
    from attninspect.api.neuron_pages import page_neurons
    from attninspect.server.page import run_page_data

    def work() -> Answer:
        service._truncating(request.truncate, request.ask)
        keep = WholeLayers(wanted=True)
        service.inspector.check(request.options, keep, request.ask)
        (result,) = service.inspector.view_batch(request.items, request.options, keep)
        if isinstance(result, InputError):
            raise result
        service.budget(_held(result, True), False, BUDGET_ADVICE[False])
        shown, view = result
        vectors = page_neurons(service.inspector, shown, view)
        record = RunResult(shown, view, False, False).record()
        return json_answer({"page": run_page_data(shown, view, vectors), "record": record})

    return work


def page_diff_work(service: ModelService, request: DiffRequest) -> Callable[[], Answer]:
    """The live page's diff: both texts as the page's documents, the diff record, and the
    largest differences over the paired tokens."""
    import numpy as np

    from attninspect.server.page import diff_page_data

    def work() -> Answer:
        service._truncating(request.truncate, request.ask)
        comparison = service.inspector.diff(
            request.a, request.b, request.options, WholeLayers(wanted=True)
        )
        held = _layers_held(comparison.a) + _layers_held(comparison.b)
        service.budget(held, False, BUDGET_ADVICE[False])
        paired = comparison.paired  # (P, Pk): rows pair the queries, columns the keys
        rows, columns = comparison.alignment.pairs, comparison.keys.pairs
        order = np.argsort(-np.abs(paired), axis=None, kind="stable")[:8]
        largest = []
        for flat in order:
            row, column = divmod(int(flat), paired.shape[1])
            largest.append({
                "query": comparison.a.query_tokens[rows[row][0]],
                "key": comparison.a.key_tokens[columns[column][0]],
                "delta": float(paired[row, column]),
            })  # fmt: skip
        record = DiffResult(comparison).record()
        return json_answer({"page": diff_page_data(comparison), "record": record,
                            "largest": largest})  # fmt: skip

    return work


def first_page_work(service: ModelService, limits: dict[str, Any]) -> Callable[[], Answer]:
    """`GET /`: the live page, first showing the cat sentence (with the vectors of its layer)."""
    from attninspect.analysis.pipeline import ViewOptions
    from attninspect.api.neuron_pages import page_neurons
    from attninspect.files.sources import SourceText
    from attninspect.server.page import live_page

    def work() -> Answer:
        service._truncating(True)
        item = SourceText(text=PAGE_TEXT, index=0)
        (result,) = service.inspector.view_batch([item], ViewOptions(), WholeLayers(wanted=True))
        if isinstance(result, InputError):
            raise result
        shown, view = result
        vectors = page_neurons(service.inspector, shown, view)
        return Answer(200, live_page(shown, view, limits, vectors).encode("utf-8"))

    return work
