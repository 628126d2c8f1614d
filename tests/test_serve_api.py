"""The JSON API in-process (Starlette's TestClient): answers equal `--format json`, errors are
JSON with a 4xx status, the request checks, Host and token rules, and the page's endpoints."""

from __future__ import annotations

import json

import pytest
from conftest import CAT

from attninspect.server.app import Settings, create_app, is_loopback
from attninspect.server.requests import MAX_TEXT_BYTES
from attninspect.server.service import ModelService

starlette_testclient = pytest.importorskip("starlette.testclient")
TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def inspector():
    from attninspect import Inspector

    return Inspector()


@pytest.fixture(scope="module")
def client(inspector):
    app = create_app(ModelService(inspector))
    with starlette_testclient.TestClient(app, base_url="http://127.0.0.1:8765") as test_client:
        yield test_client


@pytest.fixture(scope="module")
def guarded(inspector):
    app = create_app(ModelService(inspector), Settings(host="127.0.0.1", token=TOKEN))
    with starlette_testclient.TestClient(app, base_url="http://localhost:8765") as test_client:
        yield test_client


def cli_json(runner, *args: str) -> dict:
    from attninspect.cli import app

    result = runner.invoke(app, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _timeless(record):
    """A record without its timings (the only field two runs of one text may differ in)."""
    if isinstance(record, dict):
        return {k: _timeless(v) for k, v in record.items() if k != "seconds"}
    if isinstance(record, list):
        return [_timeless(v) for v in record]
    return record


def test_health_names_the_model(client) -> None:
    answer = client.get("/api/health")
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "ok"
    assert body["model"] == "sentence-transformers/all-MiniLM-L6-v2"


@pytest.mark.parametrize(
    ("body", "args"),
    [
        ({"text": CAT}, ["run", CAT]),
        (
            {"text": CAT, "layer": 2, "head": 3, "focus": "it", "top": 3},
            ["run", CAT, "--layer", "2", "--head", "3", "--focus", "it", "--top", "3"],
        ),
        (
            {"text": CAT, "words": True, "hide_special": True, "rollout": True, "all_layers": True},
            ["run", CAT, "--words", "--hide-special", "--rollout", "--all-layers"],
        ),
    ],
)
def test_run_answers_what_the_command_line_prints(client, runner, body, args) -> None:
    answer = client.post("/api/run", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    assert _timeless(answer.json()) == _timeless(cli_json(runner, *args))


def test_heads_and_diff_answer_what_the_command_line_prints(client, runner) -> None:
    answer = client.post("/api/heads", json={"text": CAT, "from": "it", "to": "mat"})
    assert answer.status_code == 200, answer.text
    expected = cli_json(runner, "heads", CAT, "--from", "it", "--to", "mat")
    assert _timeless(answer.json()) == _timeless(expected)
    body = {"a": CAT, "b": "The dog sat on the mat because it was cold.", "focus": "it"}
    answer = client.post("/api/diff", json=body)
    assert answer.status_code == 200, answer.text
    expected = cli_json(runner, "diff", body["a"], body["b"], "--focus", "it")
    assert _timeless(answer.json()) == _timeless(expected)


@pytest.mark.parametrize(
    ("path", "body", "status", "says"),
    [
        ("/api/run", {"text": CAT, "layer": 6}, 400, "layer: 6 is out of range"),
        ("/api/run", {"text": CAT, "head": "median"}, 400, "head:"),
        ("/api/run", {"text": CAT, "head": 1, "rollout": True}, 400, "rollout"),
        ("/api/run", {"text": CAT, "focus": "dog"}, 400, "is not a token of this text"),
        ("/api/run", {"text": CAT, "top": 0}, 400, "top"),
        ("/api/run", {"text": CAT, "words": "yes"}, 400, "words"),
        ("/api/run", {"text": CAT, "model": "gpt2"}, 400, "unknown field 'model'"),
        ("/api/run", {"text": CAT, "device": "cuda"}, 400, "unknown field 'device'"),
        ("/api/run", {"text": CAT, "output": "/etc/passwd"}, 400, "unknown field 'output'"),
        ("/api/run", {"layer": 1}, 400, "'text' is missing"),
        ("/api/run", {"text": 5}, 400, "text: give a string"),
        ("/api/run", {"text": ""}, 400, "empty"),
        ("/api/run", [CAT], 422, "JSON object"),
        ("/api/run", {"text": "x" * (MAX_TEXT_BYTES + 1)}, 413, "over"),
        ("/api/heads", {"text": CAT, "from": "it"}, 400, "'to' is missing"),
        ("/api/heads", {"text": CAT, "from": "it", "to": "dog"}, 400, "--to"),
        ("/api/diff", {"a": CAT}, 400, "'b' is missing"),
    ],
)
def test_bad_requests_are_one_json_error_with_a_4xx(client, path, body, status, says) -> None:
    answer = client.post(path, json=body)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert says in error
    assert "Traceback" not in answer.text


def test_malformed_bodies_and_methods(client) -> None:
    answer = client.post(
        "/api/run", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert (answer.status_code, "error" in answer.json()) == (422, True)
    answer = client.post("/api/run", content=b"text=cat", headers={"content-type": "text/plain"})
    assert answer.status_code == 415
    deep = b"[" * 100_000 + b"]" * 100_000
    answer = client.post("/api/run", content=deep, headers={"content-type": "application/json"})
    assert answer.status_code in (413, 422)
    assert client.get("/api/run").status_code == 405
    assert client.get("/nowhere").json()["error"].startswith("no such page")


def test_a_huge_text_is_refused_before_tokenising(client, inspector, monkeypatch) -> None:
    def never(*_args, **_kwargs):
        raise AssertionError("tokenised")

    monkeypatch.setattr(inspector, "view_batch", never)
    answer = client.post("/api/run", json={"text": "é" * (MAX_TEXT_BYTES // 2 + 1)})
    assert answer.status_code == 413


def test_no_cors_and_security_headers(client) -> None:
    headers = {"Origin": "http://evil.example"}
    answer = client.post("/api/run", json={"text": CAT}, headers=headers)
    assert not any(name.lower().startswith("access-control") for name in answer.headers)
    preflight = client.options(
        "/api/run", headers={**headers, "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 405
    assert not any(name.lower().startswith("access-control") for name in preflight.headers)
    assert answer.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8765", "127.0.0.1.nip.io", ""])
def test_a_foreign_host_header_gets_403(client, host) -> None:
    answer = client.get("/api/health", headers={"host": host})
    assert answer.status_code == 403
    assert "Host" in answer.json()["error"]


@pytest.mark.parametrize("host", ["localhost:1", "127.0.0.1:8765", "[::1]:8765", "LOCALHOST"])
def test_loopback_host_headers_pass(client, host) -> None:
    assert client.get("/api/health", headers={"host": host}).status_code == 200


def test_the_token_is_needed_everywhere(guarded) -> None:
    for method, path in (("GET", "/api/health"), ("POST", "/api/run"), ("GET", "/")):
        answer = guarded.request(method, path, json={"text": CAT} if method == "POST" else None)
        assert answer.status_code == 401, path
        assert "token" in answer.json()["error"]
    wrong = {"Authorization": "Bearer not-the-token"}
    assert guarded.get("/api/health", headers=wrong).status_code == 401
    assert guarded.get("/api/health", headers={"Authorization": TOKEN}).status_code == 401
    right = {"Authorization": f"Bearer {TOKEN}"}
    assert guarded.get("/api/health", headers=right).status_code == 200
    assert guarded.post("/api/run", json={"text": CAT}, headers=right).status_code == 200


def test_the_page_takes_the_token_once_then_a_cookie(guarded) -> None:
    guarded.cookies.clear()
    assert guarded.get("/?token=wrong", follow_redirects=False).status_code == 401
    answer = guarded.get(f"/?token={TOKEN}", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/"
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    page = guarded.get("/")  # the cookie, not the URL
    assert page.status_code == 200
    assert guarded.post("/api/page", json={"text": CAT}).status_code == 200
    guarded.cookies.clear()
    assert guarded.get("/").status_code == 401


def test_the_token_is_compared_in_constant_time(monkeypatch) -> None:
    import hmac

    calls = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: calls.append((a, b)) or real(a, b))
    settings = Settings(token=TOKEN)
    assert settings.token_ok(TOKEN) and not settings.token_ok("x")
    assert len(calls) == 2


def test_loopback_rule() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.2", "example.com"))


def test_the_live_page(client) -> None:
    answer = client.get("/")
    assert answer.status_code == 200
    csp = answer.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp
    page = answer.text
    for needle in ('id="text"', 'id="state"', 'id="opt-words"', 'id="opt-hide-special"',
                   'id="opt-rollout"', 'id="opt-focus"', 'id="heads-form"', 'id="diff-form"',
                   "head-view", "model-view", "attninspectPage"):  # fmt: skip
        assert needle in page, needle
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in page


def test_page_endpoints_keep_user_text_as_data(client) -> None:
    hostile = "</script><img src=x onerror=alert(1)> it"
    answer = client.post("/api/page", json={"text": hostile, "focus": "it", "words": True})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["record"]["text"] == hostile
    assert body["page"]["documents"][0]["label"] == hostile
    assert body["record"]["focus"]["token"] == "it"
    diff = client.post("/api/page/diff", json={"a": CAT, "b": "The dog sat on the mat."})
    assert diff.status_code == 200
    assert len(diff.json()["page"]["documents"]) == 2


def test_a_bug_is_a_json_500_without_traceback(inspector, monkeypatch) -> None:
    app = create_app(ModelService(inspector))
    with starlette_testclient.TestClient(
        app, base_url="http://127.0.0.1", raise_server_exceptions=False
    ) as test_client:
        monkeypatch.setattr(inspector, "view_batch", lambda *a, **k: 1 / 0)
        answer = test_client.post("/api/run", json={"text": CAT})
    assert answer.status_code == 500
    assert answer.json()["error"].startswith("internal error (ZeroDivisionError)")
    assert "Traceback" not in answer.text


def test_a_slow_answer_is_refused_in_time(inspector, monkeypatch) -> None:
    import threading

    release = threading.Event()
    monkeypatch.setattr(inspector, "view_batch", lambda *a, **k: release.wait(30) and [])
    service = ModelService(inspector, time_limit=0.2)
    app = create_app(service)
    try:
        with starlette_testclient.TestClient(app, base_url="http://127.0.0.1") as test_client:
            answer = test_client.post("/api/run", json={"text": CAT})
    finally:
        release.set()
    assert answer.status_code == 503
    assert "no answer within" in answer.json()["error"]


def test_one_forward_at_a_time_whatever_the_concurrency(inspector, monkeypatch) -> None:
    import asyncio
    import threading
    import time

    httpx = pytest.importorskip("httpx")
    active, peak, lock = [0], [0], threading.Lock()
    real = inspector.view_batch

    def counted(*args, **kwargs):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        try:
            time.sleep(0.01)  # widen the window in which an overlap would show
            return real(*args, **kwargs)
        finally:
            with lock:
                active[0] -= 1

    monkeypatch.setattr(inspector, "view_batch", counted)
    app = create_app(ModelService(inspector))

    async def many() -> list:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            texts = [f"text number {i} is here." for i in range(12)]
            answers = await asyncio.gather(
                *(http.post("/api/run", json={"text": t}) for t in texts)
            )
            return [(t, a) for t, a in zip(texts, answers, strict=True)]

    for text, answer in asyncio.run(many()):
        assert answer.status_code == 200
        assert answer.json()["text"] == text
    assert peak[0] == 1


def test_public_errors_are_only_the_error_line(client) -> None:
    answer = client.post("/api/run", json={"text": CAT, "layer": 9})
    assert answer.json() == {
        "error": "layer: 9 is out of range: this model has 6 layers (use 0..5, or -6..-1)"
    }
