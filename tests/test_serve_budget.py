"""Answers have a size budget (issue 28, item 17): the weights one request's answer holds are
capped, counted a batch at a time so that a request stops as soon as it passes the cap, and an
answer whose serialisation (the command line's estimate) does not fit in the memory free is
refused with the command line's advice; every refusal is a 413 JSON line."""

from __future__ import annotations

import pytest
from conftest import CAT

from attninspect.server.app import create_app
from attninspect.server.service import ModelService

starlette_testclient = pytest.importorskip("starlette.testclient")


@pytest.fixture(scope="module")
def inspector():
    from attninspect import Inspector

    return Inspector()


def _client(inspector, **service):
    app = create_app(ModelService(inspector, **service))
    return starlette_testclient.TestClient(app, base_url="http://127.0.0.1")


def test_an_answer_over_the_cap_is_refused_with_advice(inspector) -> None:
    whole = inspector.run(CAT).attention.size  # (L, H, T, T)
    with _client(inspector, max_values=whole) as client:
        answer = client.post("/api/run", json={"text": CAT, "all_layers": True})
        assert answer.status_code == 413, answer.text
        error = answer.json()["error"]
        assert f"over the server's {whole:,} a request" in error
        assert 'keep fewer layers with "layers" (or "heads")' in error
        narrow = {"text": CAT, "all_layers": True, "layers": "0", "heads": "0"}
        assert client.post("/api/run", json=narrow).status_code == 200
        assert client.post("/api/run", json={"text": CAT}).status_code == 200
        assert client.post("/api/page", json={"text": CAT}).status_code == 413
        whole_diff = {"a": CAT, "b": "The dog sat.", "whole": True}
        assert client.post("/api/diff", json=whole_diff).status_code == 413
        assert client.post("/api/diff", json={"a": CAT, "b": "The dog sat."}).status_code == 200


def test_a_request_stops_at_the_batch_that_passes_the_cap(inspector, monkeypatch) -> None:
    calls = []
    real = inspector.view_batch

    def counted(batch, *args, **kwargs):
        calls.append(len(batch))
        return real(batch, *args, **kwargs)

    monkeypatch.setattr(inspector, "view_batch", counted)
    monkeypatch.setattr(inspector, "batch_size", 2)
    one = inspector.run(CAT).attention.size
    texts = [{"text": CAT, "index": i} for i in range(10)]
    body = {"texts": texts, "all_layers": True}
    with _client(inspector, max_values=3 * one) as client:
        answer = client.post("/api/wire/run", json=body)
    assert answer.status_code == 413, answer.text
    assert "--layers (or --heads)" in answer.json()["error"]
    assert calls == [2, 2]  # 4 texts pass the cap: the other 6 never run


def test_an_answer_that_cannot_be_written_in_the_memory_free_is_refused(
    inspector, monkeypatch
) -> None:
    from attninspect.model.estimate import serialised_bytes
    from attninspect.server import service

    values = inspector.run(CAT).attention.size
    needed = serialised_bytes(values)
    monkeypatch.setattr(service, "host_available_bytes", lambda: needed // 2)
    with _client(inspector) as client:
        answer = client.post("/api/run", json={"text": CAT, "all_layers": True})
    assert answer.status_code == 413, answer.text
    assert "weights as text), but" in answer.json()["error"]
    assert "is available" in answer.json()["error"]
