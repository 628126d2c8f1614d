"""Fast layers: the layers whose whole weights no output needs run SDPA, and only the rows shown
are computed from their queries and keys. Every number a view shows (the selected matrix, each
layer's sink share, the focus row's top keys in every layer) equals eager attention to 1e-5 in
float32, on tiny BERT, GPT-2 and Llama (grouped keys) models, padded batches, --words,
--hide-special and every head choice; ``eager=True`` stays bitwise equal to transformers."""

from __future__ import annotations

import numpy as np
import pytest

from attninspect.analysis.digest import WholeLayers
from attninspect.analysis.pipeline import ViewOptions
from attninspect.api import Inspector
from attninspect.errors import InputError
from attninspect.files.sources import SourceText
from attninspect.model.engines import fast_rows

TEXTS = [
    "The cat sat on the mat because it was warm.",
    "A dog ran.",
    "Unbelievably, tokenization happens everywhere today.",
]
OPTIONS = [
    {"focus": "@2"},
    {"focus": "@3", "words": True},
    {"focus": "@2", "hide_special": True},
    {"focus": "@4", "words": True, "hide_special": True, "head": "max"},
    {"focus": "cat", "head": "1", "layer": 0},
    {"layer": 1, "head": "max"},
    {"focus": "@1", "head": "0", "words": True, "top": 50},
]


@pytest.fixture(scope="module")
def inspectors(tiny_models):
    return {
        name: (Inspector(str(path), batch_size=8), Inspector(str(path), batch_size=8, eager=True))
        for name, path in tiny_models.items()
    }


def _items(texts: list[str]) -> list[SourceText]:
    return [SourceText(text, index, None) for index, text in enumerate(texts)]


def _same_view(fast, eager) -> None:
    if isinstance(eager, InputError):  # a text the focus is not in: the same error
        assert isinstance(fast, InputError) and str(fast) == str(eager)
        return
    (shown_a, view_a), (shown_b, view_b) = fast, eager
    assert shown_a.tokens == shown_b.tokens
    assert view_a.matrix.shape == view_b.matrix.shape
    np.testing.assert_allclose(view_a.matrix, view_b.matrix, rtol=0, atol=1e-5)
    np.testing.assert_allclose(view_a.sink_share, view_b.sink_share, rtol=0, atol=1e-5)
    assert view_a.focus == view_b.focus
    assert len(view_a.focus_by_layer) == len(view_b.focus_by_layer)
    for ranks_a, ranks_b in zip(view_a.focus_by_layer, view_b.focus_by_layer, strict=True):
        weights_a = [rank.weight for rank in ranks_a]
        weights_b = [rank.weight for rank in ranks_b]
        np.testing.assert_allclose(weights_a, weights_b, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", ["bert", "gpt2", "llama"])
@pytest.mark.parametrize(
    "options", OPTIONS, ids=lambda options: "-".join(map(str, options.values()))
)
def test_fast_views_equal_eager_attention(inspectors, name, options, monkeypatch) -> None:
    fast, eager = inspectors[name]
    assert fast.engine.fast and not eager.engine.fast
    calls = []
    for hook in ("sdpa_output", "flash_output"):  # SDPA, or its CPU kernel with the lse
        original = getattr(fast_rows, hook)

        def counted(*args, original=original, **kwargs):
            calls.append(1)
            return original(*args, **kwargs)

        monkeypatch.setattr(fast_rows, hook, counted)
    view = ViewOptions.parse(**options)
    found = fast.view_batch(_items(TEXTS), view, WholeLayers())
    assert calls, "no layer ran SDPA"  # every layer is fast: no output needs one whole
    calls.clear()
    expected = eager.view_batch(_items(TEXTS), view, WholeLayers())
    assert not calls
    for each_fast, each_eager in zip(found, expected, strict=True):
        _same_view(each_fast, each_eager)


@pytest.mark.parametrize("name", ["bert", "llama"])
def test_without_sdpas_log_sum_exp_the_columns_come_from_whole_rows(inspectors, name, monkeypatch):
    """Where SDPA's CPU kernel is not there (a GPU), the special keys' columns are cut from
    rows computed a block at a time: the same numbers."""
    fast, eager = inspectors[name]
    monkeypatch.setattr(fast_rows, "flash_output", lambda *args, **kwargs: None)
    for options in ({"focus": "@2", "words": True}, {"focus": "@1", "head": "max"}):
        view = ViewOptions.parse(**options)
        found = fast.view_batch(_items(TEXTS), view, WholeLayers())
        expected = eager.view_batch(_items(TEXTS), view, WholeLayers())
        for each_fast, each_eager in zip(found, expected, strict=True):
            _same_view(each_fast, each_eager)


@pytest.mark.parametrize("name", ["bert", "gpt2", "llama"])
def test_eager_is_bitwise_transformers(inspectors, tiny_models, reference_attention, name) -> None:
    _, eager = inspectors[name]
    for text in TEXTS:
        expected = reference_attention(str(tiny_models[name]), text).numpy()  # (L, H, T, T)
        found = eager.run(text).attention
        assert np.array_equal(found, expected)


@pytest.mark.parametrize("name", ["bert", "gpt2", "llama"])
def test_kept_layers_stay_eager_and_exact(inspectors, tiny_models, reference_attention, name):
    """Whole layers (--all-layers) are computed eager, every other layer fast: layer 0 kept is
    bitwise what transformers returns, a later one equal to 1e-5 (the fast layers before it
    change the hidden states by rounding only)."""
    fast, _ = inspectors[name]
    for text in TEXTS:
        expected = reference_attention(str(tiny_models[name]), text).numpy()  # (L, H, T, T)
        for layer in (0, 1):
            keep = WholeLayers(wanted=True, layers=layer)
            ((inspection, _view),) = fast.view_batch(_items([text]), ViewOptions(), keep)
            found = inspection.attention[0]  # (H, T, T)
            if layer == 0:
                assert np.array_equal(found, expected[0])
            np.testing.assert_allclose(found, expected[layer], rtol=0, atol=1e-5)


def test_rollout_and_statistics_need_every_layer_whole(inspectors, monkeypatch) -> None:
    fast, eager = inspectors["llama"]
    monkeypatch.setattr(fast_rows, "sdpa_output", lambda *a, **k: pytest.fail("ran SDPA"))
    monkeypatch.setattr(fast_rows, "flash_output", lambda *a, **k: pytest.fail("ran SDPA"))
    for options in ({"rollout": True}, {"stats": True}):
        view = ViewOptions.parse(**options)
        found = fast.view_batch(_items(TEXTS), view, WholeLayers())
        expected = eager.view_batch(_items(TEXTS), view, WholeLayers())
        for each_fast, each_eager in zip(found, expected, strict=True):
            assert np.array_equal(each_fast[1].matrix, each_eager[1].matrix)


def test_a_model_without_plain_eager_attention_keeps_eager(tmp_path) -> None:
    """GPT-2 with reorder_and_upcast_attn computes its weights its own way: no fast layers."""
    import torch
    from transformers import AutoModel, AutoTokenizer, GPT2Config

    from attninspect.model.engines.loading import default_model_path

    tokenizer = AutoTokenizer.from_pretrained(default_model_path())
    config = GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=2, n_head=4,
                        n_positions=64, reorder_and_upcast_attn=True)  # fmt: skip
    torch.manual_seed(0)
    AutoModel.from_config(config).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    assert not Inspector(str(tmp_path)).engine.fast


def test_encoder_decoder_models_keep_every_layer_eager(seq2seq_models) -> None:
    path = str(seq2seq_models["bart"])
    fast, eager = Inspector(path), Inspector(path, eager=True)
    assert not fast.engine.fast
    text = "Dates are hard."
    for kind in ("encoder", "decoder", "cross"):
        a = fast.run(text, target="Hard.", kind=kind)
        b = eager.run(text, target="Hard.", kind=kind)
        assert np.array_equal(a.attention, b.attention)
