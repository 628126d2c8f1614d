"""Serve the application with uvicorn until SIGINT or SIGTERM, then return (exit 0).

The socket is bound and listening here before the model loads (``--port 0`` picks a free port),
the URL is printed only once uvicorn accepts connections, and the signals end the server
gracefully instead of being re-raised: the requests in flight are answered 503 at once (the
``on_stop`` hook), and a second Ctrl-C exits without waiting for anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Protocol
from urllib.parse import quote

import uvicorn
from starlette.types import ASGIApp

from attninspect.errors import AttnInspectError
from attninspect.server.connections import Limits, protocol

GRACE_SECONDS = 3
BACKLOG = 2048  # uvicorn's own


class Work(Protocol):
    """What the runner needs of the work behind the application (`ModelService`)."""

    def stop(self) -> object: ...

    @property
    def busy(self) -> bool: ...


class Server(uvicorn.Server):
    """uvicorn's server, but a stop signal only stops it (uvicorn re-raises it afterwards), and
    ``on_stop`` runs as soon as it begins to stop."""

    def __init__(self, config: uvicorn.Config, on_stop: Callable[[], object] | None) -> None:
        super().__init__(config)
        self.on_stop = on_stop

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.on_stop is not None:
            self.on_stop()
        await super().shutdown(sockets)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def stop(number: int, _frame: object) -> None:
            if self.should_exit and number == signal.SIGINT:
                self.force_exit = True
            self.should_exit = True

        numbers = [signal.SIGINT, signal.SIGTERM]
        previous = {number: signal.signal(number, stop) for number in numbers}
        try:
            yield
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)


def bind(host: str, port: int) -> socket.socket:
    """A listening-ready socket on ``host``:``port``, or one clear error."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise AttnInspectError(f"--host {host!r}: {error.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        # Listen at once: two sockets with SO_REUSEADDR may both bind a port nobody listens on
        # yet, so a second server started while the first loads its model would bind too.
        sock.listen(BACKLOG)
    except OSError as error:
        sock.close()
        reason = f"port {port} is in use" if error.errno == errno.EADDRINUSE else error.strerror
        raise AttnInspectError(
            f"cannot listen on {host}:{port}: {reason}; choose another --port"
        ) from None
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket, host: str, token: str | None) -> str:
    """The URL to open: the bound address and port, with the token when there is one."""
    port = sock.getsockname()[1]
    shown = host if host not in {"0.0.0.0", "::", ""} else "127.0.0.1"
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    url = f"http://{shown}:{port}/"
    return f"{url}?token={quote(token, safe='')}" if token else url


def serve(
    app: ASGIApp,
    sock: socket.socket,
    announce: Callable[[], None],
    limits: Limits | None = None,
    work: Work | None = None,
) -> None:
    """Serve ``app`` on ``sock`` until a stop signal; ``announce`` once connections are taken;
    connections held to ``limits``. ``work`` stops as soon as a stop signal comes, and when a
    forward is still running at the end the process exits at once (status 0): nobody waits for
    that forward, and a thread inside torch must not outlive the interpreter."""
    config = uvicorn.Config(
        app,
        http=protocol(limits or Limits()),
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=GRACE_SECONDS,
        timeout_keep_alive=5,
        server_header=False,
        backlog=BACKLOG,
    )
    server = Server(config, work.stop if work is not None else None)

    async def main() -> None:
        task = asyncio.ensure_future(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.02)
        if server.started:
            announce()
        await task

    asyncio.run(main())
    sys.stdout.flush()
    if work is not None and work.busy:
        sys.stderr.flush()
        os._exit(0)
