"""How `serve` holds its socket and its connections (issue 28, items 17, 18, 24 and 26): the port
is taken before the model loads, a request's headers have a deadline, a reader that stops
reading is dropped, and stopping with a request in flight answers 503 and exits at once."""

from __future__ import annotations

import contextlib
import http.client
import json
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit

import pytest
from serve_helpers import ENV, ROOT, START_SECONDS, stop

from attninspect.errors import AttnInspectError, InputError
from attninspect.server.runner import bind


def test_a_second_server_on_the_port_fails_at_once_while_the_first_loads() -> None:
    first = bind("127.0.0.1", 0)  # what `serve` holds while its model loads
    try:
        port = first.getsockname()[1]
        with pytest.raises(AttnInspectError) as caught:
            bind("127.0.0.1", port).close()
        assert str(caught.value) == (
            f"cannot listen on 127.0.0.1:{port}: port {port} is in use; choose another --port"
        )
    finally:
        first.close()


@contextlib.contextmanager
def fake_server(header_seconds: float = 60, send_seconds: float = 60, connections: int = 512):
    """tests/fake_server.py until the block ends: (process, its lines, host, port)."""
    command = [sys.executable, str(ROOT / "tests" / "fake_server.py"),
               str(header_seconds), str(send_seconds), str(connections)]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=_lines, args=(process.stdout, lines), daemon=True).start()
        url = _next(lines)
        parts = urlsplit(url.strip())
        yield process, lines, parts.hostname, parts.port
    finally:
        stop(process)


def _lines(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line.strip())
    lines.put(None)


def _next(lines: queue.Queue, seconds: float = START_SECONDS) -> str:
    try:
        line = lines.get(timeout=seconds)
    except queue.Empty:
        raise AssertionError(f"nothing within {seconds} s") from None
    assert line is not None, "the server ended"
    return line


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the server closes ``sock`` (without answering) within ``seconds``."""
    sock.settimeout(seconds)
    try:
        return sock.recv(1024) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def _answer(sock: socket.socket) -> bytes:
    """One whole answer (headers and a Content-Length body) read from ``sock``."""
    sock.settimeout(60)
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:")).split(b":")[1])  # fmt: skip
    while len(body) < length:
        body += sock.recv(65536)
    return data


def test_half_sent_and_idle_connections_are_closed_at_the_header_deadline() -> None:
    with fake_server(header_seconds=1) as (process, _, host, port):
        with socket.create_connection((host, port)) as idle, \
                socket.create_connection((host, port)) as half:  # fmt: skip
            half.sendall(b"GET /api/hea")
            assert _closed_within(half, 60)  # 1 s, on any machine well within 60
            assert _closed_within(idle, 60)
        with socket.create_connection((host, port)) as kept:  # a second request, half-sent
            kept.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert _answer(kept).startswith(b"HTTP/1.1 200")
            kept.sendall(b"GET /api/health HTTP/1.1\r\nHo")
            assert _closed_within(kept, 60)
        assert process.poll() is None


def test_connections_beyond_the_limit_are_closed_at_once() -> None:
    with fake_server(connections=3) as (_, _, host, port):
        held = [socket.create_connection((host, port)) for _ in range(3)]
        try:
            with socket.create_connection((host, port)) as extra:
                assert _closed_within(extra, 60)  # the header deadline is 60 s here
        finally:
            for sock in held:
                sock.close()
        for _ in range(600):  # the server sees the three go: a new one is served again
            with socket.create_connection((host, port)) as again:
                again.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                again.settimeout(60)
                try:
                    answer = again.recv(65536)
                except ConnectionResetError:
                    answer = b""
            if answer:
                break
            time.sleep(0.1)
        assert answer.startswith(b"HTTP/1.1 200")


def test_a_client_that_stops_reading_its_answer_is_dropped() -> None:
    """The server's side: an endless answer to a client that reads nothing fills every buffer
    whatever their sizes, the send deadline (1 s) drops the connection (the server's line), and
    the one connection the server allows is free again: a new client is answered."""
    with fake_server(send_seconds=1, connections=1) as (process, lines, host, port):
        reader = socket.socket()
        reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        reader.connect((host, port))
        with reader:
            reader.sendall(b"GET /endless HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            # without reading a byte, and still connected: the server drops it, not the client
            assert _next(lines, 120) == "endless dropped: http.disconnect"
            with socket.create_connection((host, port)) as after:
                after.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                assert _answer(after).startswith(b"HTTP/1.1 200")
        assert process.poll() is None


def test_stopping_with_a_request_in_flight_answers_503_and_exits_at_once() -> None:
    with fake_server() as (process, lines, host, port):
        connection = http.client.HTTPConnection(host, port, timeout=120)
        body = json.dumps({"text": "a text"})
        connection.request("POST", "/api/run", body, {"Content-Type": "application/json"})
        assert _next(lines, 120) == "forward started"
        process.send_signal(signal.SIGINT)
        response = connection.getresponse()
        answer = response.read()
        assert response.status == 503, answer
        assert "stopping" in json.loads(answer)["error"]
        assert process.wait(60) == 0  # not after the forward, which never ends
        logged = process.stderr.read().strip().splitlines()
        assert logged == ["attninspect serve: stopping: 1 request(s) in flight answered 503"]


def test_a_second_ctrl_c_exits_at_once_whatever_is_in_flight() -> None:
    with fake_server() as (process, lines, host, port):
        connection = http.client.HTTPConnection(host, port, timeout=120)
        body = json.dumps({"text": "a text"})
        connection.request("POST", "/api/run", body, {"Content-Type": "application/json"})
        assert _next(lines, 120) == "forward started"
        process.send_signal(signal.SIGINT)
        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 0


class Recorded:
    """An inspector whose first forward waits for ``release``; it records every text it runs."""

    truncate = False
    model_name, num_layers, num_heads = "recorded", 1, 1

    def __init__(self) -> None:
        self.release, self.ran = threading.Event(), []

    def check(self, *_args: object) -> None:
        pass

    def view_batch(self, items, *_args: object) -> list:
        self.ran += [item.text for item in items]
        self.release.wait(60)
        return [InputError("a stand-in")] * len(items)


def test_work_whose_client_left_is_dropped_not_run() -> None:
    import asyncio

    from attninspect.server.app import create_app
    from attninspect.server.service import ModelService

    inspector = Recorded()
    app = create_app(ModelService(inspector))

    async def request(text: str, leaves: asyncio.Event) -> list[dict]:
        headers = [(b"host", b"127.0.0.1"), (b"content-type", b"application/json")]
        scope = {"type": "http", "method": "POST", "path": "/api/run", "query_string": b"",
                 "headers": headers}  # fmt: skip
        body = json.dumps({"text": text}).encode()
        messages = [{"type": "http.request", "body": body, "more_body": False}]
        sent: list[dict] = []

        async def receive() -> dict:
            if messages:
                return messages.pop()
            await leaves.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            sent.append(message)

        await app(scope, receive, send)
        return sent

    async def scenario() -> None:
        stays, leaves = asyncio.Event(), asyncio.Event()
        first = asyncio.ensure_future(request("first", stays))
        while not inspector.ran:
            await asyncio.sleep(0.01)
        second = asyncio.ensure_future(request("second", leaves))
        await asyncio.sleep(0.2)
        leaves.set()  # the second client goes while the first forward runs
        await asyncio.wait_for(second, 60)  # answered (to nobody) before the first is done
        assert not first.done()
        inspector.release.set()
        await asyncio.wait_for(first, 60)

    asyncio.run(scenario())
    assert inspector.ran == ["first"]
