"""The server's door, without a model: the token cookie (named with host and port, read
leniently, percent-encoded), the token's rules and its URL, the body's Content-Length, and
one-line errors (issue 28, items 14, 20-23, 25 and the Content-Length check)."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from attninspect.server.app import Guard, Settings
from attninspect.server.runner import url_of

starlette_testclient = pytest.importorskip("starlette.testclient")
TOKEN = "s3cret"


async def _hello(_: Request) -> JSONResponse:
    return JSONResponse({"hello": True})


def _client(settings: Settings) -> starlette_testclient.TestClient:
    app = Starlette(routes=[Route("/", _hello), Route("/api/health", _hello)])
    base = f"http://127.0.0.1:{settings.port}"
    return starlette_testclient.TestClient(Guard(app, settings), base_url=base)


def test_the_cookie_is_named_with_the_host_and_port() -> None:
    client = _client(Settings(host="127.0.0.1", token=TOKEN, port=8765))
    answer = client.get(f"/?token={TOKEN}", follow_redirects=False)
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"attninspect-token-127-0-0-1-8765={TOKEN};")
    lowered = cookie.lower()
    assert "httponly" in lowered and "samesite=strict" in lowered and "path=/" in lowered
    assert client.get("/").status_code == 200  # the cookie it set lets the page in


def test_two_servers_on_one_host_keep_their_own_cookies() -> None:
    first = _client(Settings(token="first", port=8765))
    second = _client(Settings(token="second", port=8766))
    names = []
    for client, token in ((first, "first"), (second, "second")):
        answer = client.get(f"/?token={token}", follow_redirects=False)
        names.append(answer.headers["set-cookie"].split("=")[0])
    assert names[0] != names[1]
    both = f"{names[0]}=first; {names[1]}=second"  # what a browser sends to either port
    for client in (first, second):
        client.cookies.clear()
        assert client.get("/", headers={"cookie": both}).status_code == 200
    # Another server's cookie (another port), even with the same token, lets nobody in.
    same = _client(Settings(token="first", port=8767))
    assert same.get("/", headers={"cookie": f"{names[0]}=first"}).status_code == 401
    assert same.get("/", headers={"cookie": "attninspect_token=first"}).status_code == 401


def test_an_unparseable_cookie_of_another_app_hides_nothing() -> None:
    client = _client(Settings(token=TOKEN, port=8765))
    name = "attninspect-token-127-0-0-1-8765"
    for header in (
        f'prefs={{"theme":"dark"}}; {name}={TOKEN}',
        f'{name}={TOKEN}; prefs={{"theme":"dark"}}',
        f'a=b; broken; c="d; {name}={TOKEN}',
        f'{name}="{TOKEN}"',
    ):
        assert client.get("/", headers={"cookie": header}).status_code == 200, header
    assert client.get("/", headers={"cookie": f'prefs={{"x":1}}; {name}=no'}).status_code == 401


@pytest.mark.parametrize("token", ["a+b", "a&b=c", "a#b", "100%", "two words", "x;y,z\"'\\"])
def test_the_printed_url_lets_in_whatever_the_token(token: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = url_of(sock, "127.0.0.1", token)
        port = sock.getsockname()[1]
    parts = urlsplit(url)
    assert " " not in url and "#" not in parts.query + parts.path and not parts.fragment
    client = _client(Settings(token=token, port=port))
    answer = client.get(f"{parts.path}?{parts.query}", follow_redirects=False)
    assert answer.status_code == 303, url
    assert client.get("/").status_code == 200  # and the cookie it set works too
    assert client.get("/", headers={"authorization": f"Bearer {token}"}).status_code == 200


@pytest.mark.parametrize(
    ("token", "says"),
    [("tök", "printable ASCII"), ("tab\there", "printable ASCII"), ("  ", "empty"),
     (" lead", "space"), ("€", "printable ASCII")],
)  # fmt: skip
def test_tokens_that_no_client_can_send_are_refused(token: str, says: str) -> None:
    from attninspect.server.app import token_problem

    problem = token_problem(token)
    assert problem is not None and says in problem
    assert token_problem("good-Token_1 ~!") is None


def test_serve_refuses_such_a_token_with_exit_2_before_binding(runner, monkeypatch) -> None:
    from attninspect.cli import app
    from attninspect.server import runner as server_runner

    def never(*_args: object) -> None:
        raise AssertionError("bound a port for a token nobody can send")

    monkeypatch.setattr(server_runner, "bind", never)
    result = runner.invoke(app, ["serve", "--port", "0", "--token", "tök"])
    assert result.exit_code == 2, result.output
    assert "printable ASCII" in result.output
    assert "Traceback" not in result.output


def _lengths_request(length: str) -> Request:
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/run",
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", length.encode("latin-1")),
        ],
    }

    async def receive() -> dict:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    return Request(scope, receive)


@pytest.mark.parametrize("length", ["\u00b2", "1\u00b3", "\u00b9\u00b2"])
def test_content_length_takes_ascii_digits_only(length: str) -> None:
    import asyncio

    from attninspect.server.app import read_json
    from attninspect.server.requests import BadRequest

    with pytest.raises(BadRequest) as caught:
        asyncio.run(read_json(_lengths_request(length)))
    assert 400 <= caught.value.status < 500
    assert asyncio.run(read_json(_lengths_request("2"))) == {}


def test_a_layers_spec_over_the_limit_is_refused_not_cut() -> None:
    from attninspect.server.requests import BadRequest, run_request

    long = "0:" + " " * 200 + "2"
    with pytest.raises(BadRequest) as caught:
        run_request({"text": "x", "all_layers": True, "layers": long})
    assert caught.value.status == 400 and "layers" in str(caught.value)
    with pytest.raises(BadRequest):
        run_request({"text": "x", "all_layers": True, "heads": "1" + ":" * 150})
    keep = run_request({"text": "x", "all_layers": True, "layers": "0:2"}).keep
    assert keep.layers == slice(0, 2)


def test_usage_errors_show_the_server_url_without_its_token(runner) -> None:
    from attninspect.cli import app

    url = "http://127.0.0.1:9/?token=very-secret"
    result = runner.invoke(app, ["run", "cat", "--model", "scratch", "--server", url])
    assert result.exit_code == 2, result.output
    assert "very-secret" not in result.output and "token=" not in result.output
    assert "127.0.0.1:9" in result.output


class Broken:
    """An inspector whose every forward is a bug."""

    truncate = False
    model_name, num_layers, num_heads = "broken", 1, 1

    def check(self, *_args: object) -> None:
        pass

    def view_batch(self, *_args: object) -> list:
        raise ZeroDivisionError("boom")


def test_an_internal_error_is_one_json_line_and_is_not_raised_again(capfd) -> None:
    from attninspect.server.app import create_app
    from attninspect.server.service import ModelService

    app = create_app(ModelService(Broken()))
    with starlette_testclient.TestClient(app, base_url="http://127.0.0.1") as client:
        answer = client.post("/api/run", json={"text": "x"})  # a re-raise would fail here
    assert answer.status_code == 500
    expected = {"error": "internal error (ZeroDivisionError); see the server log"}
    assert json.loads(answer.text) == expected
    logged = capfd.readouterr().err
    assert logged.strip().splitlines() == ["attninspect serve: ZeroDivisionError: boom"]
