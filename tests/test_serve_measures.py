"""`serve` and `--measure`: the JSON API takes a ``measure`` and answers the numbers a local
`Inspector.run(..., measure=)` gives, the measure named and masked scores ``null``; a bad value
or a step defined on weights is one 400; the live page's own calls carry the measure and the
neuron vectors of the viewed layer."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from conftest import CAT, measured_matrix

from attninspect import Inspector
from attninspect.server.app import create_app
from attninspect.server.service import ModelService

starlette_testclient = pytest.importorskip("starlette.testclient")


@pytest.fixture(scope="module")
def inspectors(tiny_models) -> dict[str, Inspector]:
    return {"default": Inspector(), "gpt2": Inspector(str(tiny_models["gpt2"]))}


@pytest.fixture(scope="module")
def clients(inspectors):
    """A test client of the API for each model: the default one, and a tiny GPT-2 (causal)."""
    opened = {}
    with (
        starlette_testclient.TestClient(
            create_app(ModelService(inspectors["default"])), base_url="http://127.0.0.1:8765"
        ) as default,
        starlette_testclient.TestClient(
            create_app(ModelService(inspectors["gpt2"])), base_url="http://127.0.0.1:8765"
        ) as gpt2,
    ):
        opened = {"default": default, "gpt2": gpt2}
        yield opened


def _timeless(record: dict) -> dict:
    return {key: value for key, value in record.items() if key != "seconds"}


@pytest.mark.parametrize(
    ("model", "body"),
    [
        ("default", {"measure": "scores", "layer": 2, "head": 3, "focus": "it"}),
        ("default", {"measure": "norms"}),
        ("default", {"measure": "norms", "head": "max", "all_layers": True, "layers": "1:3"}),
        ("gpt2", {"measure": "scores", "layer": 1, "head": "mean", "focus": "cat"}),
        ("gpt2", {"measure": "scores", "head": 2, "all_layers": True}),
        ("gpt2", {"measure": "norms", "head": 1}),
    ],
)
def test_run_answers_the_measured_numbers_of_a_local_run(clients, inspectors, model, body) -> None:
    answer = clients[model].post("/api/run", json={"text": CAT, **body})
    assert answer.status_code == 200, answer.text
    record = answer.json()
    measure = body["measure"]
    assert record["measure"] == measure
    local = inspectors[model].run(CAT, measure=measure)
    view = local.view(layer=body.get("layer", -1), head=body.get("head", "mean"),
                      focus=body.get("focus"))  # fmt: skip
    got = measured_matrix(record["attention"])
    np.testing.assert_array_equal(got, view.matrix)  # exactly; NaN (masked) where NaN
    masked = np.isnan(view.matrix)
    assert masked.any() == (model == "gpt2" and measure == "scores")
    if masked.any():  # masked scores are JSON null
        row, column = np.argwhere(masked)[0]
        assert record["attention"][row][column] is None
    if body.get("focus"):
        top = [(entry["index"], entry["weight"]) for entry in record["focus"]["top"]]
        assert top == [(entry.index, entry.weight) for entry in view.focus_top]
    if body.get("all_layers"):  # every head of the kept layers, as measured
        kept = local.attention if "layers" not in body else local.attention[1:3]
        every = np.array([[measured_matrix(m) for m in layer] for layer in record["all_attention"]])
        np.testing.assert_array_equal(every, kept)


def test_the_answer_is_what_run_format_json_prints(clients, runner) -> None:
    from attninspect.cli import app

    answer = clients["default"].post("/api/run", json={"text": CAT, "measure": "norms",
                                                       "focus": "it"})  # fmt: skip
    assert answer.status_code == 200, answer.text
    printed = runner.invoke(app, ["run", CAT, "--measure", "norms", "--focus", "it",
                                  "--format", "json"])  # fmt: skip
    assert printed.exit_code == 0, printed.output
    assert _timeless(answer.json()) == _timeless(json.loads(printed.stdout))


def test_weights_stay_as_they_were(clients) -> None:
    plain = clients["default"].post("/api/run", json={"text": CAT}).json()
    weights = clients["default"].post("/api/run", json={"text": CAT, "measure": "weights"}).json()
    assert "measure" not in plain
    assert _timeless(plain) == _timeless(weights)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"measure": "logits"}, "measure: give one of weights, scores, norms, not 'logits'"),
        ({"measure": 3}, "measure: give one of weights, scores, norms, not 3"),
        ({"measure": None}, "measure: give one of weights, scores, norms, not None"),
        ({"measure": "norms", "rollout": True},
         "measure: rollout multiplies attention weights layer by layer; it does not take "
         "--measure norms (rollout keeps using weights: drop --measure)"),
        ({"measure": "scores", "words": True},
         "measure: --words merges the weights of a word's tokens; it does not take --measure "
         "scores"),
        ({"measure": "scores", "hide_special": True},
         "measure: --hide-special renormalises rows of weights; it does not take --measure "
         "scores"),
        ({"measure": "norms", "stats": True},
         "measure: --stats measures attention weights; it does not take --measure norms"),
        ({"measure": "norms", "all_layers": True, "heads": "0:2"},
         "heads: with measure norms the head mean is one matrix per layer (the norm of the sum "
         "over heads): give head N or max"),
    ],
)  # fmt: skip
def test_bad_measures_are_one_400(clients, body, says) -> None:
    for path in ("/api/run", "/api/page"):
        answer = clients["default"].post(path, json={"text": CAT, **body})
        assert answer.status_code == 400, answer.text
        assert answer.json() == {"error": says}


@pytest.mark.parametrize("model", ["default", "gpt2"])
def test_diff_answers_the_measured_numbers_of_a_local_diff(clients, inspectors, model) -> None:
    """diff takes a measure (issue 25's heads/diff work): the answer is a local diff's record,
    masked scores null."""
    from attninspect.files.records import DiffResult

    body = {"a": CAT, "b": "The dog sat.", "measure": "scores", "focus": "sat"}
    local = inspectors[model].diff(CAT, "The dog sat.", measure="scores", focus="sat")
    expected = json.loads(json.dumps(DiffResult(local).record(), default=list))
    for path in ("/api/diff", "/api/page/diff"):
        answer = clients[model].post(path, json=body)
        assert answer.status_code == 200, answer.text
        record = answer.json() if path == "/api/diff" else answer.json()["record"]
        assert record["measure"] == "scores"
        for side in ("a", "b"):
            assert _timeless(record[side]) == _timeless(expected[side])


def _neurons(page: dict) -> dict:
    return page["documents"][0]["neurons"]


def test_the_live_page_gets_the_measure_and_the_neuron_vectors(clients, inspectors) -> None:
    from attninspect.render.html_page import neuron_json

    answer = clients["default"].post("/api/page", json={"text": CAT, "layer": 2, "head": 3,
                                                        "measure": "scores"})  # fmt: skip
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["record"]["measure"] == "scores"
    assert "scores before the softmax (blank: masked)" in body["page"]["note"]
    expected = neuron_json(inspectors["default"].neuron_layer(CAT, 2))
    assert _neurons(body["page"]) == json.loads(json.dumps(expected))
    plain = clients["default"].post("/api/page", json={"text": CAT}).json()
    assert _neurons(plain["page"])["layer"] == 5 and plain["page"]["note"] == "attention"
    norms = clients["default"].post("/api/page", json={"text": CAT, "measure": "norms"}).json()
    assert norms["page"]["note"] == (
        "attention · norms ‖α f(x)‖ (Kobayashi et al. 2020), head mean ‖Σ_h α f(x)‖"
    )
    # the page's tokens are not the model's own with words: no vectors, as a saved page
    words = clients["default"].post("/api/page", json={"text": CAT, "words": True}).json()
    assert "neurons" not in words["page"]["documents"][0]


def test_the_first_page_holds_the_vectors_of_its_layer(clients, inspectors) -> None:
    from attninspect.render.html_page import neuron_json
    from attninspect.server.service import PAGE_TEXT

    page = clients["gpt2"].get("/").text
    data = json.loads(re.search(r'id="attention-data">(.*?)</script>', page, re.S)[1])  # type: ignore[index]
    expected = neuron_json(inspectors["gpt2"].neuron_layer(PAGE_TEXT, -1))
    assert _neurons(data) == json.loads(json.dumps(expected))
    assert 'id="opt-measure"' in page


def test_heads_take_the_measure(clients, inspectors) -> None:
    """``POST /api/heads`` ranks by ``measure`` as `Inspector.heads` does; with ``words`` it is
    one 400 (words merge weights alone)."""
    body = {"text": CAT, "from": "it", "to": "mat"}
    answer = clients["default"].post("/api/heads", json={**body, "measure": "norms"})
    assert answer.status_code == 200, answer.text
    local = inspectors["default"].heads(CAT, "it", "mat", measure="norms").as_json()
    assert answer.json()["heads"] == local["heads"] and answer.json()["measure"] == "norms"
    answer = clients["default"].post("/api/heads", json={**body, "measure": "norms", "words": True})
    assert answer.status_code == 400 and answer.json()["error"].startswith("measure: --words")
