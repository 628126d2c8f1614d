"""`heads` streamed: only the (L, H) grid of from -> to weights is kept, and the ranking equals
the one made from the whole (L, H, T, T) tensor."""

from __future__ import annotations

import numpy as np
import pytest

from attninspect import Inspector
from attninspect.analysis import head_ranking
from attninspect.api import batching
from attninspect.api.flows import search_heads
from tests.conftest import CAT

WORDY = "The unbelievably warm cat sat on the mat because it was tired."
CASES = [
    ("it", "mat", False),
    ("cat", "@1", False),
    ("it", "mat", True),
    ("unbelievably", "it", True),
]


def _same(inspector: Inspector, text: str, source: str, target: str, words: bool) -> None:
    old = search_heads(inspector.run(text), source, target, words)  # the whole-tensor path
    new = inspector.heads(text, source, target, words)
    assert new.as_json() == old.as_json()
    assert (new.inspection.num_layers, new.inspection.num_heads) == (
        old.inspection.num_layers,
        old.inspection.num_heads,
    )


@pytest.mark.parametrize(("source", "target", "words"), CASES)
def test_streamed_heads_equal_the_whole_tensor_default(source, target, words) -> None:
    inspector = Inspector(device="cpu")
    _same(inspector, WORDY, source, target, words)
    if source != "unbelievably":
        _same(inspector, CAT, source, target, words)


def test_streamed_heads_errors_read_as_before() -> None:
    inspector = Inspector(device="cpu")
    for source, target in (("dog", "mat"), ("it", "@99"), ("it#3", "mat")):
        with pytest.raises(Exception) as old:
            search_heads(inspector.run(CAT), source, target, False)
        with pytest.raises(type(old.value)) as new:
            inspector.heads(CAT, source, target)
        assert str(getattr(new.value, "original", new.value)) == str(old.value)  # CLI words
    with pytest.raises(Exception) as empty:
        inspector.heads("", "it", "mat")
    assert str(empty.value).startswith("the text: ")


@pytest.mark.parametrize("name", ["gpt2", "llama"])
def test_streamed_heads_equal_the_whole_tensor_decoders(tiny_models, name) -> None:
    inspector = Inspector(str(tiny_models[name]), device="cpu")
    for source, target, words in CASES:
        _same(inspector, WORDY, source, target, words)


@pytest.mark.parametrize("words", [False, True])
def test_heads_keeps_only_per_head_weights(monkeypatch, tiny_models, words) -> None:
    """No whole-layer collection, and each layer leaves only an (H,) slice behind."""
    inspector = Inspector(str(tiny_models["llama"]), device="cpu")

    def refuse(*args, **kwargs):
        raise AssertionError("heads must not collect whole layers")

    monkeypatch.setattr(batching, "collect", refuse)
    kept: list[list[tuple[int, ...]]] = []
    finish = head_ranking.HeadDigest.finish

    def spy(self, seconds):
        kept.append([column.shape for column in self.columns])
        assert self.base.attention.shape[0] == 0  # the base never holds a layer
        return finish(self, seconds)

    monkeypatch.setattr(head_ranking.HeadDigest, "finish", spy)
    search = inspector.heads(WORDY, "it", "mat", words)
    heads = inspector.num_heads
    assert kept == [[(heads,)] * inspector.num_layers]
    assert search.inspection.attention.shape[0] == 0
    assert len(search.scores) == inspector.num_layers * heads
    assert np.isfinite([score.weight for score in search.scores]).all()


def test_heads_html_page_keeps_every_layer(runner, tmp_path) -> None:
    """An HTML page shows the text's attention, so `heads --save page.html` keeps it whole."""
    from attninspect.cli.app import app

    inspector = Inspector(device="cpu")
    whole = inspector.heads(CAT, "it", "mat", whole=True)
    assert whole.inspection.attention.shape == (6, 12, 13, 13)
    assert whole.as_json() == inspector.heads(CAT, "it", "mat").as_json()
    page = tmp_path / "page.html"
    result = runner.invoke(app, ["heads", CAT, "--from", "it", "--to", "mat", "--save", str(page)])
    assert result.exit_code == 0, result.stderr
    streamed = tmp_path / "streamed.html"
    # --rollout: run's page without the viewed layer's q and k (the neuron view's vectors)
    runner.invoke(app, ["run", CAT, "--rollout", "--save", str(streamed)])
    assert page.stat().st_size > 0.8 * streamed.stat().st_size  # every layer on the page
