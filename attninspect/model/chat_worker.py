"""Chat templates rendered in a helper process that can be stopped at any point.

A trace function stops a template that loops in Python, but not one slow built-in call: a string
multiplied by 10**9 or a ``replace`` on it runs in C for seconds to minutes, past any bound checked
between Python lines. So the tokenizer's own ``apply_chat_template`` runs in a helper process (one
per tokenizer and template, started on the first render, reused after); the caller waits at most
the time bound for each answer and kills the helper when it runs out (the next render starts a new
one). A tokenizer that cannot be pickled renders in this process under the line bound alone.

Run as ``python -m attninspect.model.chat_worker``: reads the pickled tokenizer, answers ``ready``,
then renders each message list it receives until its input closes.
"""

from __future__ import annotations

import atexit
import os
import pickle
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from typing import Any

# Importing transformers and unpickling a tokenizer, on a busy machine: not part of the bound.
START_SECONDS = 300.0
# A real template runs a few thousand lines for one message; these bound a runaway one.
RENDER_STEPS = 1_000_000
RENDER_SECONDS = 10.0

Outcome = tuple[str, str]  # ("ok", prompt) | ("bound", "") | ("error", message)


class RenderBound(BaseException):
    """Raised inside the render by the trace function: a BaseException, so that no
    ``except Exception`` on the way out (Jinja's, transformers') can swallow it."""


@contextmanager
def bounded(steps: int = RENDER_STEPS, seconds: float = RENDER_SECONDS) -> Iterator[None]:
    """Run the block under a bound of ``steps`` traced Python lines and calls and ``seconds``
    on this thread, raising `RenderBound` inside it when either runs out."""
    previous = sys.gettrace()  # a debugger's or coverage's tracer: put back afterwards
    deadline = time.monotonic() + seconds
    count = 0

    def trace(frame: Any, event: str, arg: Any) -> Any:
        nonlocal count
        count += 1
        if count > steps or (count % 4096 == 0 and time.monotonic() > deadline):
            raise RenderBound
        return trace

    sys.settrace(trace)
    try:
        yield
    finally:
        sys.settrace(previous)


class Unavailable(Exception):
    """The tokenizer cannot be sent to a helper (render in this process instead)."""


class TemplateWorker:
    """One helper process for one tokenizer and template, started when first needed."""

    def __init__(self, tokenizer: Any) -> None:
        try:
            self._payload = pickle.dumps(tokenizer)
        except Exception as error:  # a local class, a remote-code tokenizer holding a lock, ...
            raise Unavailable(str(error)) from error
        self.template = getattr(tokenizer, "chat_template", None)
        self._process: subprocess.Popen[bytes] | None = None
        self._send: Connection | None = None
        self._receive: Connection | None = None
        self._lock = threading.Lock()

    def render(self, messages: list[dict[str, str]], seconds: float) -> Outcome:
        """The template's prompt for ``messages``, or ("bound", "") after ``seconds``."""
        with self._lock:
            self._start()
            assert self._send is not None and self._receive is not None
            try:
                self._send.send(messages)
                if self._receive.poll(seconds):
                    outcome: Outcome = self._receive.recv()
                    return outcome
            except (EOFError, OSError):  # the helper died (out of memory, killed)
                self.close_locked()
                return ("error", "the chat template's helper process ended while rendering")
            self.close_locked()  # still rendering: stop it where it is
            return ("bound", "")

    def _start(self) -> None:
        if self._process is not None:
            return
        process = subprocess.Popen(
            [sys.executable, "-m", __name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "TOKENIZERS_PARALLELISM": "false"},
        )  # fmt: skip
        assert process.stdin is not None and process.stdout is not None
        self._process = process
        self._send = Connection(os.dup(process.stdin.fileno()), readable=False)
        self._receive = Connection(os.dup(process.stdout.fileno()), writable=False)
        process.stdin.close()
        process.stdout.close()
        try:
            self._send.send_bytes(self._payload)
            ready = self._receive.poll(START_SECONDS) and self._receive.recv() == "ready"
        except (EOFError, OSError):
            ready = False
        if not ready:
            self.close_locked()
            raise OSError("the chat template's helper process did not start")

    def close(self) -> None:
        with self._lock:
            self.close_locked()

    def close_locked(self) -> None:
        """Stop the helper (the lock is held) and wait for it, so no process is left behind."""
        for connection in (self._send, self._receive):
            if connection is not None:
                connection.close()
        self._send = self._receive = None
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None


_workers: dict[int, tuple[Any, TemplateWorker]] = {}  # id(tokenizer) -> (tokenizer, its helper)
_workers_lock = threading.Lock()


def worker_for(tokenizer: Any) -> TemplateWorker:
    """The helper for this tokenizer and its current template (raises `Unavailable`)."""
    with _workers_lock:
        known = _workers.get(id(tokenizer))
        template = getattr(tokenizer, "chat_template", None)
        if known is not None and known[0] is tokenizer and known[1].template == template:
            return known[1]
        if known is not None:
            known[1].close()
        worker = TemplateWorker(tokenizer)
        _workers[id(tokenizer)] = (tokenizer, worker)
        return worker


@atexit.register
def close_all() -> None:
    """End every helper (they also end by themselves when their input closes)."""
    with _workers_lock:
        for _, worker in _workers.values():
            worker.close()
        _workers.clear()


def _serve() -> None:
    """The helper's loop: render each message list with the tokenizer received first."""
    answer = Connection(os.dup(sys.stdout.fileno()), readable=False)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # a stray print cannot corrupt the answers
    requests = Connection(os.dup(sys.stdin.fileno()), writable=False)
    tokenizer = pickle.loads(requests.recv_bytes())  # from the parent process only
    answer.send("ready")
    while True:
        try:
            messages = requests.recv()
        except EOFError:
            return
        try:
            with bounded():
                prompt = tokenizer.apply_chat_template(
                    messages, tokenize=False, add_generation_prompt=True
                )
            answer.send(("ok", str(prompt)))
        except RenderBound:
            answer.send(("bound", ""))
        except MemoryError:
            answer.send(("error", "it asks for more memory than there is"))
        except Exception as error:  # the template's raise_exception(), a broken template
            answer.send(("error", " ".join(str(error).split())[:200]))


if __name__ == "__main__":
    _serve()
