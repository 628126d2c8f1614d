"""A real `attninspect serve` process: its lifecycle, the security rules over real HTTP, load
from 32 concurrent clients, flat memory over 1,000 requests, and faults that must not hurt."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from conftest import CAT
from serve_helpers import ENV, ROOT, serve, stop

URL = re.compile(r"^http://127\.0\.0\.1:(\d+)/(\?token=\S+)?$")


def _timeless(record):
    if isinstance(record, dict):
        return {k: _timeless(v) for k, v in record.items() if k != "seconds"}
    if isinstance(record, list):
        return [_timeless(v) for v in record]
    return record


def test_start_print_the_url_serve_and_stop_on_sigterm_with_0() -> None:
    with serve("--model", "scratch") as server:
        assert URL.match(server.url), server.url
        assert int(URL.match(server.url)[1]) > 0
        status, _, body = server.request("GET", "/api/health")
        assert status == 200 and json.loads(body)["model"] == "scratch"
        started = time.monotonic()
        assert stop(server.process, signal.SIGTERM, wait=15) == 0
        assert time.monotonic() - started < 15


def test_sigint_stops_it_with_0_too() -> None:
    with serve("--model", "scratch", token="tok") as server:
        assert server.url.endswith("/?token=tok")
        assert stop(server.process, signal.SIGINT, wait=15) == 0


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1", "::"])
def test_a_reachable_host_without_a_token_is_refused_at_start(host: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "attninspect", "serve", "--host", host, "--port", "0"],
        cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and "--token" in lines[0]
    assert result.stdout == ""


def test_a_busy_port_is_one_error_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "attninspect", "serve", "-m", "scratch", "--port", str(port)],
            cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip().startswith("Error: cannot listen on 127.0.0.1:")


def test_the_token_and_host_rules_over_http(served) -> None:
    assert served.url.endswith(f"/?token={served.token}")
    assert served.request("GET", "/api/health", token=False)[0] == 401
    wrong = {"Authorization": "Bearer wrong"}
    assert served.request("GET", "/api/health", headers=wrong, token=False)[0] == 401
    body = {"text": CAT}
    assert served.request("POST", "/api/run", body, token=False)[0] == 401
    assert served.request("GET", "/api/health")[0] == 200
    for host in ("evil.example", f"attacker.example:{served.port}"):
        status, _, answer = served.request("GET", "/api/health", headers={"Host": host})
        assert status == 403 and "Host" in json.loads(answer)["error"]
    status, headers, _ = served.request(
        "POST", "/api/run", body, headers={"Origin": "http://x.example"}
    )
    assert status == 200
    assert not any(name.lower().startswith("access-control") for name in headers)
    status, _, answer = served.request("POST", "/api/run", {"text": "x" * 70_000})
    assert status == 413
    big = b'{"text": "' + b"x" * (3 * 1024 * 1024) + b'"}'
    assert served.request("POST", "/api/run", big)[0] == 413
    assert served.request("POST", "/api/run", b"{oops")[0] == 422


def _requests(count: int) -> list[dict]:
    """``count`` different requests: each its own text and view."""
    words = ["cat", "dog", "bird", "fish", "horse", "mouse", "lion", "bear"]
    made = []
    for i in range(count):
        animal = words[i % len(words)]
        made.append({
            "text": f"The {animal} number {i} sat on the mat because it was warm.",
            "layer": i % 6, "head": ["mean", "max", i % 12][i % 3], "focus": "it",
            "words": i % 2 == 0, "top": 1 + i % 4,
        })  # fmt: skip
    return made


def test_32_concurrent_clients_get_their_own_answers(served) -> None:
    clients, each = 32, 10
    requests = _requests(clients)
    alone = []
    for body in requests:
        status, _, answer = served.request("POST", "/api/run", body)
        assert status == 200
        alone.append(_timeless(json.loads(answer)))
    failures: list[str] = []
    timings: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(clients)

    def client(index: int) -> None:
        connection = served.connection(timeout=300)
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {served.token}"}
        start.wait(60)
        try:
            for _ in range(each):
                began = time.perf_counter()
                connection.request("POST", "/api/run", json.dumps(requests[index]), headers)
                response = connection.getresponse()
                answer = response.read()
                with lock:
                    timings.append(time.perf_counter() - began)
                    if response.status != 200:
                        failures.append(f"client {index}: {response.status} {answer[:200]!r}")
                    elif _timeless(json.loads(answer)) != alone[index]:
                        failures.append(
                            f"client {index}: an answer differs from the same request alone"
                        )
        except Exception as error:
            with lock:
                failures.append(f"client {index}: {type(error).__name__}: {error}")
        finally:
            connection.close()

    began = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(600)
    elapsed = time.perf_counter() - began
    assert not failures, failures[:5]
    assert len(timings) == clients * each
    timings.sort()
    print(
        f"\nload: {clients} clients x {each} requests: {len(timings)} answers, all 200 and equal "
        f"to the request alone, in {elapsed:.1f} s ({len(timings) / elapsed:.1f} req/s); "
        f"latency median {timings[len(timings) // 2] * 1000:.0f} ms, "
        f"p95 {timings[int(len(timings) * 0.95)] * 1000:.0f} ms"
    )


@pytest.mark.slow
def test_resident_memory_stays_flat_over_1000_requests(served) -> None:
    connection = served.connection()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {served.token}"}
    bodies = [json.dumps(body) for body in _requests(8)]

    def burst(count: int) -> None:
        for i in range(count):
            connection.request("POST", "/api/run", bodies[i % len(bodies)], headers)
            response = connection.getresponse()
            response.read()
            assert response.status == 200

    burst(100)  # warm: caches, allocator pools
    before = served.rss_kib()
    burst(1000)
    after = served.rss_kib()
    connection.close()
    change = (after - before) / before
    print(f"\nmemory: {before / 1024:.1f} MiB before, {after / 1024:.1f} MiB after 1,000 requests "
          f"({change:+.1%})")  # fmt: skip
    assert abs(change) <= 0.10


def test_faults_do_not_disturb_other_clients(served) -> None:
    body = json.dumps({"text": CAT}).encode()
    head = (
        f"POST /api/run HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {served.token}\r\n"
        "Content-Type: application/json\r\n"
    )
    # A client that sends a whole request and leaves before the answer.
    for _ in range(5):
        gone = socket.create_connection((served.host, served.port))
        gone.sendall(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        gone.close()
    # A client that sends half its body and stays.
    half = socket.create_connection((served.host, served.port))
    half.sendall(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body[:10])
    # Garbage that is not HTTP at all.
    junk = socket.create_connection((served.host, served.port))
    junk.sendall(b"\x00\xffGARBAGE\r\n\r\n")
    try:
        status, _, answer = served.request("POST", "/api/run", {"text": CAT, "focus": "it"})
        assert status == 200 and json.loads(answer)["focus"]["token"] == "it"
    finally:
        half.close()
        junk.close()
    for bad in ({"text": 1}, {"nope": True}, [1, 2], {"text": CAT, "layer": 99}):
        assert 400 <= served.request("POST", "/api/run", bad)[0] < 500
    assert served.request("POST", "/api/run", b"\xff\xfe")[0] == 422
    assert served.request("GET", "/api/health")[0] == 200
    assert served.process.poll() is None
