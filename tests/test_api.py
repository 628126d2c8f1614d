"""The Python API: one load, many texts, exact numbers, and nothing printed."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from attninspect import AttnInspectError, InputError, Inspection, Inspector, OutOfRangeError
from tests.conftest import CAT


@pytest.fixture(scope="module")
def inspector() -> Inspector:
    return Inspector(device="cpu")


def test_run_equals_transformers_to_1e6(
    inspector: Inspector, default_model_path: str, reference_attention, capfd
) -> None:
    result = inspector.run(CAT)
    assert isinstance(result, Inspection)
    assert result.attention.dtype == np.float32 and result.attention.shape == (6, 12, 13, 13)
    expected = reference_attention(default_model_path, CAT).numpy()
    np.testing.assert_allclose(result.attention, expected, atol=1e-6)
    assert result.tokens[:3] == ["[CLS]", "the", "cat"]
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""  # the API never prints


def test_several_texts_come_back_in_order(inspector: Inspector) -> None:
    texts = ["Hello there.", CAT, "A much longer sentence than the first one here."]
    results = inspector.run(texts)
    assert [r.text for r in results] == texts
    alone = inspector.run(texts[1])
    np.testing.assert_allclose(results[1].attention, alone.attention, atol=2e-6)


def test_view_selects_and_labels(inspector: Inspector) -> None:
    result = inspector.run(CAT)
    view = result.view(layer=-1, head="mean")
    np.testing.assert_allclose(view.matrix, result.attention[5].mean(0), atol=1e-7)
    assert view.tokens == result.tokens and view.layer == 5
    one = result.view(layer=2, head=3)
    np.testing.assert_array_equal(one.matrix, result.attention[2, 3])


def test_view_transforms_change_the_labels(inspector: Inspector) -> None:
    result = inspector.run("Tokenization is unbelievable.")
    words = result.view(words=True)
    assert "Tokenization" in words.tokens and len(words.tokens) < len(result.tokens)
    hidden = result.view(hide_special=True)
    assert "[CLS]" not in hidden.tokens and hidden.matrix.shape == (len(hidden.tokens),) * 2
    np.testing.assert_allclose(hidden.matrix.sum(-1), 1.0, atol=1e-5)
    rolled = result.view(rollout=True, layer=0)
    assert rolled.kind == "rollout"


def test_view_focus_ranks_the_row(inspector: Inspector) -> None:
    view = inspector.run(CAT).view(focus="it", top=3)
    assert view.focus == 8 and len(view.focus_top) == 3
    row = view.matrix[8]
    assert view.focus_top[0].weight == pytest.approx(float(row.max()))


def test_errors_are_attninspect_errors(inspector: Inspector) -> None:
    result = inspector.run(CAT)
    with pytest.raises(OutOfRangeError) as error:
        result.view(layer=6)
    assert error.value.what == "layer"
    with pytest.raises(InputError, match="not a token"):
        result.view(focus="zebra")
    with pytest.raises(InputError, match=r"text 1: .*empty"):
        inspector.run(["fine", ""])
    with pytest.raises(AttnInspectError):
        Inspector("/no/such/model/dir")
    with pytest.raises(AttnInspectError, match="rollout"):
        result.view(rollout=True, head=2)


def test_truncation_is_a_warning_not_a_print(capfd) -> None:
    short = Inspector(device="cpu", truncate=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = short.run("word " * 600)
    assert result.length == 512 and result.truncated_from is not None
    assert any("truncated" in str(w.message) for w in caught)
    assert capfd.readouterr().err == ""


def test_heads_and_diff(inspector: Inspector) -> None:
    search = inspector.heads(CAT, source="it", target="mat")
    assert (search.source, search.target) == (8, 6) and len(search.scores) == 72
    best = search.scores[0]
    attention = inspector.run(CAT).attention
    assert best.weight == pytest.approx(float(attention[:, :, 8, 6].max()))
    comparison = inspector.diff(CAT, CAT.replace("warm", "tired"), layer=1, head=0)
    assert comparison.same_length and comparison.paired.shape == (13, 13)


def test_scratch_inspector() -> None:
    scratch = Inspector("scratch", dim=16, heads=2, causal=True)
    result = scratch.run("hello world")
    assert result.attention.shape == (1, 2, 4, 4) and result.causal
    assert np.allclose(np.triu(result.attention[0, 0], 1), 0.0)
