"""`python tests/fake_server.py HEADER_SECONDS SEND_SECONDS CONNECTIONS`: the real application,
service and runner of `attninspect serve`, over a stand-in inspector whose every forward takes
forever (no model: it starts in a second), with the connection limits given. It prints its URL,
then ``forward started`` when a forward begins and ``big sent`` when the ``GET /big`` answer
(64 MiB, outside the token check) has been handed over or dropped. For tests/test_serve_runner.py.
"""

from __future__ import annotations

import inspect
import sys
import threading

from attninspect.server.app import create_app
from attninspect.server.runner import bind, serve, url_of
from attninspect.server.service import ModelService

BIG = 64 * 1024 * 1024


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


def main() -> None:
    header_seconds, send_seconds, connections = sys.argv[1:4]
    service = ModelService(Stalled(), time_limit=600)
    guarded = create_app(service)

    async def app(scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"] == "/big":
            headers = [(b"content-length", str(BIG).encode())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b"x" * BIG})
            print("big sent", flush=True)
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
