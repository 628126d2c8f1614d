"""A real `attninspect serve` process for the tests: a free port (``--port 0``), the URL read from
its first line of output, and always ended by its process id (SIGTERM, then SIGKILL)."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
START_SECONDS = 180  # loading the model on a busy machine
ENV = {
    **os.environ,
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
}
ENV.pop("ATTNINSPECT_SERVER", None)
ENV.pop("ATTNINSPECT_TOKEN", None)


@dataclass
class Served:
    process: subprocess.Popen
    url: str  # as printed (with ?token= when there is one)
    token: str | None

    @property
    def base(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or 80

    def connection(self, timeout: float = 120) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def request(
        self,
        method: str,
        path: str,
        body: object = None,
        headers: dict[str, str] | None = None,
        token: bool = True,
    ) -> tuple[int, dict[str, str], bytes]:
        """One request on a fresh connection: (status, headers, body)."""
        sent = dict(headers or {})
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
            sent.setdefault("Content-Type", "application/json")
        if token and self.token:
            sent.setdefault("Authorization", f"Bearer {self.token}")
        connection = self.connection()
        try:
            connection.request(method, path, body=data, headers=sent)
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def rss_kib(self) -> int:
        """The server's resident memory (VmRSS), in KiB."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(
            next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1]
        )


def _first_line(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM, wait: float = 20) -> int:
    """End ``process`` by its id: ``sig`` first, SIGKILL if it lingers; its exit status."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, sig)
        try:
            process.wait(wait)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
            process.wait(10)
    return process.returncode


@contextlib.contextmanager
def serve(*options: str, token: str | None = None) -> Iterator[Served]:
    """`attninspect serve --port 0 OPTIONS` until the block ends; its stderr is kept in a file."""
    command = [sys.executable, "-m", "attninspect", "serve", "--port", "0", *options]
    if token:
        command += ["--token", token]
    process = subprocess.Popen(
        command, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=_first_line, args=(process.stdout, lines), daemon=True).start()
        try:
            url = lines.get(timeout=START_SECONDS)
        except queue.Empty:
            raise AssertionError(f"no URL within {START_SECONDS} s") from None
        assert url, f"the server ended before printing its URL (exit {process.poll()})"
        yield Served(process, url.strip(), token)
    finally:
        stop(process)
