"""`diff` streamed: each layer digested as it is computed, the comparison equal to the one made
from the whole (L, H, T, T) tensors."""

from __future__ import annotations

import numpy as np
import pytest

from attninspect import Inspector
from attninspect.analysis.digest import WholeLayers
from attninspect.analysis.pipeline import ViewOptions
from attninspect.api import batching
from attninspect.files.records import diff_record, diff_rows
from tests.conftest import CAT
from tests.oracles import compare_texts

OTHER = CAT.replace("warm", "unbelievably tired")
VIEWS = [
    {},
    {"layer": 1, "head": 0, "focus": "it"},
    {"layer": 0, "focus": "mat", "words": True, "top": 4},
    {"focus": "cat", "hide_special": True, "head": "max"},
    {"rollout": True, "focus": "it", "words": True, "hide_special": True},
]


def _record(comparison) -> dict:
    record = diff_record(comparison)
    for side in ("a", "b"):
        record[side].pop("seconds")
    return record


def _same(inspector: Inspector, text_a: str, text_b: str, view: dict) -> None:
    options = ViewOptions.parse(**view)
    a, b = inspector.run([text_a, text_b])
    old = compare_texts(a, b, options)  # the whole-tensor path
    new = inspector.diff(text_a, text_b, options)
    assert _record(new) == _record(old)
    assert list(diff_rows(new)) == list(diff_rows(old))
    whole = inspector.diff(text_a, text_b, options, WholeLayers(wanted=True))
    np.testing.assert_array_equal(whole.a.attention, old.a.attention)
    np.testing.assert_array_equal(whole.b.attention, old.b.attention)


@pytest.mark.parametrize("view", VIEWS)
def test_streamed_diff_equals_the_whole_tensor_default(view) -> None:
    _same(Inspector(device="cpu"), CAT, OTHER, view)


@pytest.mark.parametrize("name", ["gpt2", "llama"])
def test_streamed_diff_equals_the_whole_tensor_decoders(tiny_models, name) -> None:
    inspector = Inspector(str(tiny_models[name]), device="cpu")
    for view in VIEWS:
        _same(inspector, CAT, OTHER, view)


def test_diff_never_collects_whole_layers(monkeypatch) -> None:
    inspector = Inspector(device="cpu")

    def refuse(*args, **kwargs):
        raise AssertionError("diff must not collect whole layers")

    monkeypatch.setattr(batching, "collect", refuse)
    comparison = inspector.diff(CAT, OTHER, layer=2, focus="it")
    assert comparison.a.attention.shape[0] == 0 and comparison.b.attention.shape[0] == 0
    assert len(comparison.changes) == inspector.num_layers


def test_streamed_diff_errors_read_as_before() -> None:
    inspector = Inspector(device="cpu")
    for view in ({"focus": "dog"}, {"focus": "warm"}, {"focus": "@40"}):
        options = ViewOptions.parse(**view)
        with pytest.raises(Exception) as old:
            compare_texts(*inspector.run([CAT, OTHER]), options)
        with pytest.raises(type(old.value)) as new:
            inspector.diff(CAT, OTHER, options)
        assert str(getattr(new.value, "original", new.value)) == str(old.value)  # CLI words
    with pytest.raises(Exception) as empty:
        inspector.diff(CAT, "")
    assert str(empty.value).startswith("text B: ")


def test_diff_html_page_keeps_every_layer(runner, tmp_path) -> None:
    """An HTML page shows both texts' attention, so `diff --save page.html` keeps them whole."""
    from attninspect.cli.app import app
    from attninspect.cli.pictures import diff_picture

    inspector = Inspector(device="cpu")
    old = compare_texts(*inspector.run([CAT, OTHER]), ViewOptions.parse(layer=1))
    page = tmp_path / "page.html"
    result = runner.invoke(app, ["diff", CAT, OTHER, "--layer", "1", "--save", str(page)])
    assert result.exit_code == 0, result.stderr
    expected = diff_picture("html", 150, old)
    assert abs(page.stat().st_size - len(expected)) < 0.01 * len(expected)
