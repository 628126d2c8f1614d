"""`python tests/fake_server.py HEADER_SECONDS SEND_SECONDS CONNECTIONS`: the real application,
service and runner of `attninspect serve`, over a stand-in inspector whose every forward takes
forever (no model: it starts in a second), with the connection limits given. It prints its URL,
then ``forward started`` when a forward begins, and ``endless dropped`` when the server has
dropped the connection of a ``GET /endless`` answer (outside the token check: a body that never
ends, so that no socket buffer of any size can take it all and a client that stops reading
always fills them). For tests/test_serve_runner.py.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import threading

from attninspect.server.app import create_app
from attninspect.server.runner import bind, serve, url_of
from attninspect.server.service import ModelService

CHUNK = 1024 * 1024


class Stalled:
    """An inspector whose forward never ends (as a long one on a busy machine)."""

    truncate = False
    model_name, num_layers, num_heads = "stalled", 1, 1

    def check(self, *_args: object) -> None:
        pass

    def view_batch(self, *_args: object) -> list:
        print("forward started", flush=True)
        threading.Event().wait()
        return []


async def endless(receive, send) -> None:
    """A body sent chunk after chunk until the connection is gone (the server dropped it: the
    second `receive` is then ``http.disconnect``); one line says so."""
    await receive()  # the request (no body)
    gone = asyncio.ensure_future(receive())
    await send({"type": "http.response.start", "status": 200, "headers": []})
    chunk = b"x" * CHUNK
    while not gone.done():
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await asyncio.sleep(0)  # let the disconnection be seen
    print(f"endless dropped: {(await gone)['type']}", flush=True)


def main() -> None:
    header_seconds, send_seconds, connections = sys.argv[1:4]
    service = ModelService(Stalled(), time_limit=600)
    guarded = create_app(service)

    async def app(scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"] == "/endless":
            await endless(receive, send)
            return
        await guarded(scope, receive, send)

    sock = bind("127.0.0.1", 0)
    options = {}
    accepted = inspect.signature(serve).parameters
    if "limits" in accepted:
        from attninspect.server.connections import Limits

        options["limits"] = Limits(float(header_seconds), float(send_seconds), int(connections))
    if "work" in accepted:
        options["work"] = service
    url = url_of(sock, "127.0.0.1", None)
    serve(app, sock, lambda: print(url, flush=True), **options)


if __name__ == "__main__":
    main()
