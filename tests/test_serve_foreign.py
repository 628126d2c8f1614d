"""`--server` pointed at something that is not `attninspect serve` (issue 28, item 27): whatever
it answers (HTML, bad JSON, numbers out of range, odd wire objects, deep nesting), the command
line prints one line that says so, never "unexpected ... please report it"."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from attninspect.cli import app

HEALTH = json.dumps({"status": "ok", "model": "m", "layers": 2, "heads": 2}).encode()
DEEP = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"results": ' + DEEP + b"}"


class Canned(BaseHTTPRequestHandler):
    answers: ClassVar[dict[str, tuple[int, bytes]]] = {}

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        status, body = self.answers.get(self.path, (404, b"<html>no</html>"))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def foreign() -> Iterator[tuple[str, dict]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Canned)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    answers: ClassVar[dict[str, tuple[int, bytes]]] = {}
    Canned.answers = answers
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", answers
    finally:
        server.shutdown()
        server.server_close()


def _tuple(*items: object) -> dict:
    return {"__wire__": "tuple", "items": list(items)}


HEALTH_ANSWERS = [
    b"<!doctype html><html><body>Jupyter</body></html>",
    b'{"model": "m", "layers": 1e400, "heads": 2}',
    b'{"model": "m", "layers": -3, "heads": 2}',
    b'{"model": ["m"], "layers": 2, "heads": 2}',
    b'["model", "layers"]',
    DEEP,
    b"\xff\xfe not text",
]
RUN_ANSWERS = [
    b"<html>login</html>",
    b'{"results": "nope"}',
    b'{"results": []}',
    b'{"result": 1}',
    json.dumps({"results": [_tuple(1, 2)]}).encode(),
    json.dumps({"results": [{"__wire__": "object", "class": "os:system", "fields": {}}]}).encode(),
    json.dumps(
        {"results": [{"__wire__": "array", "dtype": "float32", "shape": [1e400], "data": ""}]}
    ).encode(),
    json.dumps(
        {"results": [{"__wire__": "error", "type": "InputError", "message": 5}], "warnings": 7}
    ).encode(),
    json.dumps({"results": [{"__wire__": "slice", "items": [1]}]}).encode(),
    json.dumps(
        {
            "results": [
                {
                    "__wire__": "object",
                    "class": "attninspect.analysis.inspection:Inspection",
                    "fields": {"nope": 1},
                }
            ]
        }
    ).encode(),
    DEEP_OBJECT,
]


def _one_line(result, url: str) -> None:
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"Error: the server at {url} did not answer as `attninspect serve`")
    assert "unexpected" not in result.output and "report" not in result.output


@pytest.mark.parametrize("health", HEALTH_ANSWERS)
def test_a_health_answer_that_is_not_ours_is_one_line(runner, foreign, health: bytes) -> None:
    url, answers = foreign
    answers["/api/health"] = (200, health)
    _one_line(runner.invoke(app, ["run", "a cat", "--server", url]), url)


@pytest.mark.parametrize("answer", RUN_ANSWERS)
def test_a_run_answer_that_is_not_ours_is_one_line(runner, foreign, answer: bytes) -> None:
    url, answers = foreign
    answers["/api/health"] = (200, HEALTH)
    answers["/api/wire/run"] = (200, answer)
    _one_line(runner.invoke(app, ["run", "a cat", "--server", url]), url)


@pytest.mark.parametrize(
    ("command", "path"),
    [(["heads", "a cat", "--from", "a", "--to", "cat"], "/api/wire/heads"),
     (["diff", "a cat", "a dog"], "/api/wire/diff")],
)  # fmt: skip
@pytest.mark.parametrize("answer", [b"<html/>", b'{"result": [1, 2]}', b'{"result": null}'])
def test_other_commands_too(runner, foreign, command, path, answer: bytes) -> None:
    url, answers = foreign
    answers["/api/health"] = (200, HEALTH)
    answers[path] = (200, answer)
    _one_line(runner.invoke(app, [*command, "--server", url]), url)


def test_an_odd_error_answer_is_one_line_too(runner, foreign) -> None:
    url, answers = foreign
    answers["/api/health"] = (200, HEALTH)
    answers["/api/wire/run"] = (400, json.dumps({"error": "x", "wire": {"type": 5}}).encode())
    result = runner.invoke(app, ["run", "a cat", "--server", url])
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1, result.output
    assert "unexpected" not in result.output
    answers["/api/wire/run"] = (500, DEEP)
    result = runner.invoke(app, ["run", "a cat", "--server", url])
    assert result.output.strip() == f"Error: the server at {url} answered HTTP 500"
