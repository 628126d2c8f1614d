"""The server on encoder–decoder and decoder models: the live page's diff labels its rows with
query tokens and its columns with key tokens (issue 28, item 15)."""

from __future__ import annotations

import pytest

from attninspect.analysis.digest import WholeLayers
from attninspect.analysis.pipeline import ViewOptions
from attninspect.server.app import create_app
from attninspect.server.service import ModelService

starlette_testclient = pytest.importorskip("starlette.testclient")
SOURCES = ("the cat sat on the mat", "the dog ran on the mat because it was warm")


@pytest.fixture(scope="module")
def bart(seq2seq_models):
    from attninspect import Inspector

    return Inspector(str(seq2seq_models["bart"]))


@pytest.fixture(scope="module")
def bart_client(bart):
    app = create_app(ModelService(bart))
    with starlette_testclient.TestClient(app, base_url="http://127.0.0.1") as client:
        yield client


def test_the_page_diff_labels_key_columns_with_key_tokens(bart, bart_client) -> None:
    answer = bart_client.post("/api/page/diff", json={"a": SOURCES[0], "b": SOURCES[1]})
    assert answer.status_code == 200, answer.text
    largest = answer.json()["largest"]
    comparison = bart.diff(*SOURCES, ViewOptions(), WholeLayers(wanted=True))
    assert comparison.a.query_tokens != comparison.a.key_tokens  # cross: target x source
    rows, columns = comparison.alignment.pairs, comparison.keys.pairs
    expected = {}
    for row, (query, _) in enumerate(rows):
        for column, (key, _) in enumerate(columns):
            expected[(row, column)] = (
                comparison.a.query_tokens[query],
                comparison.a.key_tokens[key],
                float(comparison.paired[row, column]),
            )
    assert len(largest) == min(8, len(expected))
    by_size = sorted(expected.values(), key=lambda entry: -abs(entry[2]))
    assert [abs(cell["delta"]) for cell in largest] == [abs(e[2]) for e in by_size[: len(largest)]]
    for cell in largest:
        assert (cell["query"], cell["key"], cell["delta"]) in expected.values()
        assert cell["key"] in comparison.a.key_tokens


# Item 1: the JSON API and --server take target, generate, pair and attention.

TARGET = "le chat dort sur le tapis"


def _timeless(record):
    if isinstance(record, dict):
        return {k: _timeless(v) for k, v in record.items() if k != "seconds"}
    if isinstance(record, list):
        return [_timeless(v) for v in record]
    return record


def _local_json(runner, *args: str) -> dict:
    import json

    from attninspect.cli import app

    result = runner.invoke(app, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    ("fields", "options"),
    [
        ({"target": TARGET}, ["--target", TARGET]),
        ({"target": TARGET, "attention": "encoder"},
         ["--target", TARGET, "--attention", "encoder"]),
        ({"target": TARGET, "attention": "decoder", "focus": "@1"},
         ["--target", TARGET, "--attention", "decoder", "--focus", "@1"]),
        ({"generate": 3, "attention": "cross", "all_layers": True},
         ["--generate", "3", "--attention", "cross", "--all-layers"]),
    ],
)  # fmt: skip
def test_run_on_bart_answers_what_the_command_line_prints(
    runner, seq2seq_models, bart_client, fields, options
) -> None:
    answer = bart_client.post("/api/run", json={"text": SOURCES[0], **fields})
    assert answer.status_code == 200, answer.text
    path = str(seq2seq_models["bart"])
    expected = _local_json(runner, "run", SOURCES[0], "--model", path, *options)
    assert _timeless(answer.json()) == _timeless(expected)


def test_heads_and_diff_on_bart_answer_what_the_command_line_prints(
    runner, seq2seq_models, bart_client
) -> None:
    path = str(seq2seq_models["bart"])
    body = {"text": SOURCES[0], "from": "@1", "to": "@0", "target": TARGET}
    answer = bart_client.post("/api/heads", json=body)
    assert answer.status_code == 200, answer.text
    expected = _local_json(runner, "heads", SOURCES[0], "--from", "@1", "--to", "@0",
                           "--target", TARGET, "--model", path)  # fmt: skip
    assert _timeless(answer.json()) == _timeless(expected)
    body = {"a": SOURCES[0], "b": SOURCES[1], "target": TARGET, "attention": "encoder"}
    answer = bart_client.post("/api/diff", json=body)
    assert answer.status_code == 200, answer.text
    expected = _local_json(runner, "diff", *SOURCES, "--target", TARGET, "--attention",
                           "encoder", "--model", path)  # fmt: skip
    assert _timeless(answer.json()) == _timeless(expected)


def test_generate_on_gpt2_and_pair_on_an_encoder(runner, causal_lms) -> None:
    from attninspect import Inspector

    path = str(causal_lms["gpt2"])
    app = create_app(ModelService(Inspector(path)))
    with starlette_testclient.TestClient(app, base_url="http://127.0.0.1") as client:
        answer = client.post("/api/run", json={"text": "the cat sat", "generate": 4})
        assert answer.status_code == 200, answer.text
        expected = _local_json(runner, "run", "the cat sat", "--generate", "4", "--model", path)
        assert _timeless(answer.json()) == _timeless(expected)
        refused = client.post("/api/run", json={"text": "the cat", "pair": "a dog"})
        assert refused.status_code == 400 and "--pair encodes two texts" in refused.text
    app = create_app(ModelService(Inspector()))
    with starlette_testclient.TestClient(app, base_url="http://127.0.0.1") as client:
        body = {"text": "The cat sat.", "pair": "It was warm.", "focus": "it"}
        answer = client.post("/api/run", json=body)
        assert answer.status_code == 200, answer.text
        expected = _local_json(runner, "run", "The cat sat.", "--pair", "It was warm.",
                               "--focus", "it")  # fmt: skip
        assert _timeless(answer.json()) == _timeless(expected)
        plain = client.post("/api/run", json={"text": "The cat sat."})  # nothing left over
        assert plain.json()["tokens"] == ["[CLS]", "the", "cat", "sat", ".", "[SEP]"]


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"target": TARGET, "generate": 2}, "not both"),
        ({"pair": "x", "target": TARGET}, "pair is for encoders"),
        ({"attention": "sideways"}, "attention: give one of"),
        ({"generate": 0}, "generate: 0 is out of range"),
        ({"target": 5}, "target: give a string"),
        ({"rollout": True, "attention": "cross"}, "rollout: rollout is defined for self-attention"),
        ({"attention": "self"}, "its attention is encoder or decoder or cross, not self"),
    ],
)
def test_what_cannot_go_together_is_a_400(bart_client, fields, says) -> None:
    answer = bart_client.post("/api/run", json={"text": SOURCES[0], **fields})
    assert answer.status_code == 400, answer.text
    assert says in answer.json()["error"]


def test_health_lists_each_kind(bart, bart_client) -> None:
    kinds = bart_client.get("/api/health").json()["kinds"]
    assert kinds == {kind: list(bart.layers_of(kind)) for kind in ("encoder", "decoder", "cross")}


@pytest.fixture(scope="module")
def served_bart(seq2seq_models):
    from serve_helpers import serve

    # torch's own thread count, as the local runs: --threads 1 changes the last bits of BART's sums
    with serve("--model", str(seq2seq_models["bart"]), token="t-1") as server:
        yield server


@pytest.mark.parametrize(
    "args",
    [
        ["run", SOURCES[0], "--target", TARGET],
        ["run", SOURCES[0], "--target", TARGET, "--attention", "encoder", "--format", "json"],
        ["run", SOURCES[0], "--generate", "3", "--attention", "decoder", "--focus", "@1"],
        ["run", SOURCES[0], "--target", TARGET, "--all-layers", "--layers", "0",
         "--format", "json"],
        ["heads", SOURCES[0], "--from", "@1", "--to", "@0", "--target", TARGET],
        ["diff", *SOURCES, "--target", TARGET, "--attention", "encoder"],
        ["run", SOURCES[0], "--target", TARGET, "--layer", "2", "--attention", "encoder"],
        ["run", SOURCES[0], "--attention", "self"],
    ],
)  # fmt: skip
def test_the_server_answers_every_kind_as_a_local_run(runner, seq2seq_models, served_bart, args):
    import re

    from attninspect.cli import app

    timing = re.compile(r"\d+\.\d+ s\b|\"seconds\": [0-9.e-]+")
    path = str(seq2seq_models["bart"])
    here = runner.invoke(app, [*args, "--model", path])
    there = runner.invoke(app, [*args, "--server", served_bart.url])
    assert there.exit_code == here.exit_code, (here.output, there.output)
    assert timing.sub("S", there.stdout) == timing.sub("S", here.stdout)
    if here.exit_code:
        assert there.output == here.output


@pytest.mark.browser
def test_the_live_page_asks_a_target_a_count_and_a_kind(browser, bart, served_bart) -> None:
    wait = 120_000
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(served_bart.url)
        page.wait_for_selector("#text")
        kinds = page.eval_on_selector_all("#opt-attention option", "os => os.map(o => o.value)")
        assert kinds == ["", "encoder", "decoder", "cross"]
        assert page.is_visible("#opt-target") and page.is_visible("#opt-generate")

        def inspect(kind: str) -> list[str]:
            page.select_option("#opt-attention", kind)
            page.fill("#text", SOURCES[0])
            page.press("#text", "Enter")
            page.wait_for_function(
                "t => document.body.dataset.text === t && document.body.dataset.busy === '0'",
                arg=SOURCES[0], timeout=wait,
            )  # fmt: skip
            assert not page.locator("#live-status.error").count(), page.text_content("#live-status")
            return page.eval_on_selector_all(
                "#head-view text[data-side=from]", "ns => ns.map(n => n.firstChild.textContent)"
            )

        page.fill("#opt-target", TARGET)
        inspection = bart.run(SOURCES[0], target=TARGET, kind="cross")
        assert inspect("cross") == inspection.query_tokens  # the target's tokens ask
        assert (
            inspect("encoder") == bart.run(SOURCES[0], target=TARGET, kind="encoder").query_tokens
        )
        page.fill("#opt-target", "")
        page.fill("#opt-generate", "3")
        generated = bart.run(SOURCES[0], generate=3, kind="decoder")
        assert inspect("decoder") == generated.query_tokens
        assert not errors, errors
    finally:
        context.close()
