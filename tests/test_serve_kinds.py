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
