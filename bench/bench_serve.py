"""`attninspect serve`: a warm `run --server` against a local `run`, and requests per second.

One server (`--port 0`, the default model) is started and warmed; then `run CAT --format json
--server URL` and the local `run CAT --format json` are timed in turn. Goal: the client's time
<= 0.25 x the local run's (the client imports neither torch nor transformers). Then requests per
second of `POST /api/run` for the 13-token CAT text: one client in a row, and 8 at once (the
server runs with `--threads 1`, which serves short texts fastest).
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import signal
import subprocess
import threading
import time
from urllib.parse import urlsplit

from common import CAT, ENV, PYTHON, ROOT, report, time_pair

SECONDS = 10.0  # of requests, per measure


def start_server() -> tuple[subprocess.Popen, str]:
    command = [PYTHON, "-m", "attninspect", "serve", "--port", "0", "--threads", "1"]
    process = subprocess.Popen(command, cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)  # fmt: skip
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: lines.put(process.stdout.readline()), daemon=True).start()
    try:
        url = lines.get(timeout=300).strip()
    except queue.Empty:
        stop(process)
        raise SystemExit("the server printed no URL within 300 s") from None
    if not url:
        stop(process)
        raise SystemExit("the server ended before printing its URL")
    return process, url


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()


def requests_per_second(url: str, clients: int) -> float:
    """Answers per second over SECONDS, each of ``clients`` on its own keep-alive connection."""
    parts = urlsplit(url)
    body = json.dumps({"text": CAT})
    headers = {"Content-Type": "application/json"}
    counts = [0] * clients
    deadline = time.perf_counter() + SECONDS

    def client(index: int) -> None:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
        while time.perf_counter() < deadline:
            connection.request("POST", "/api/run", body, headers)
            response = connection.getresponse()
            response.read()
            assert response.status == 200, response.status
            counts[index] += 1
        connection.close()

    began = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.perf_counter() - began)


def main() -> None:
    process, url = start_server()
    try:
        run = [PYTHON, "-m", "attninspect", "run", CAT, "--format", "json"]
        ours, floor = time_pair([*run, "--server", url], run, repeats=5)
        report("run CAT via a warm server vs a local run", ours, floor, "<= 0.25")
        for clients in (1, 8):
            rate = requests_per_second(url, clients)
            print(f"{'POST /api/run, 13-token text, ' + str(clients) + ' client(s)':<44} "
                  f"{rate:9.1f} requests/s", flush=True)  # fmt: skip
    finally:
        stop(process)


if __name__ == "__main__":
    main()
