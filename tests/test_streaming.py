"""The pretrained engine streams: each layer's attention is handed over as that layer finishes,
with exactly the numbers of transformers' ``output_attentions=True``, padded batches included."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attninspect.model.engines.base import collect
from attninspect.model.engines.factory import EngineSettings, open_engine
from attninspect.model.tokenization import encode
from tests.conftest import CAT

TEXTS = [CAT, "Hi there", "one two three four five six seven eight nine ten eleven twelve"]


def _engine(path: str):
    return open_engine(EngineSettings(model=path))


def _encodings(engine, texts: list[str]):
    return [encode(engine.tokenizer, text, engine.max_length, False, None) for text in texts]


def _reference(engine, encodings) -> tuple[torch.Tensor, ...]:
    """transformers' own output_attentions on the same padded batch."""
    with torch.inference_mode():
        outputs = engine.model(**engine._model_inputs(encodings), output_attentions=True)
    return outputs.attentions


@pytest.mark.parametrize("name", ["bert", "gpt2", "llama"])
def test_streamed_layers_equal_output_attentions(tiny_models, name: str) -> None:
    engine = _engine(str(tiny_models[name]))
    assert len(engine.tapped) == engine.num_layers  # hooks, not the fallback
    encodings = _encodings(engine, TEXTS)
    got: dict[int, np.ndarray] = {}
    engine.stream_batch(encodings, lambda layer, weights: got.__setitem__(layer, weights.copy()))
    expected = _reference(engine, encodings)
    assert sorted(got) == list(range(len(expected)))
    for layer, weights in got.items():
        assert weights.shape == tuple(expected[layer].shape)  # (B, H, T, T)
        np.testing.assert_allclose(weights, expected[layer].numpy(), atol=1e-6, rtol=0)


def test_default_model_streams_exactly(default_model_path: str) -> None:
    engine = _engine(default_model_path)
    encodings = _encodings(engine, TEXTS)
    results = collect(engine, encodings)
    expected = _reference(engine, encodings)
    for row, (encoding, result) in enumerate(zip(encodings, results, strict=True)):
        n = len(encoding)
        want = torch.stack([a[row, :, :n, :n] for a in expected]).numpy()  # (L, H, T, T)
        np.testing.assert_allclose(result.attention, want, atol=1e-6, rtol=0)


def test_each_layer_is_handed_over_before_the_next_runs(tiny_models) -> None:
    engine = _engine(str(tiny_models["llama"]))
    events: list[str] = []
    handles = [
        module.register_forward_pre_hook(lambda *_, n=n: events.append(f"start {n}"))
        for n, (module, _index) in enumerate(engine.tapped)
    ]
    try:
        engine.stream_batch(
            _encodings(engine, [CAT]), lambda layer, _w: events.append(f"got {layer}")
        )
    finally:
        for handle in handles:
            handle.remove()
    assert events == ["start 0", "got 0", "start 1", "got 1", "start 2", "got 2"]


def test_only_the_layers_asked_for_are_kept(tiny_models) -> None:
    engine = _engine(str(tiny_models["gpt2"]))
    encodings = _encodings(engine, [CAT, "Hi"])
    whole = collect(engine, encodings)
    second = collect(engine, encodings, layers=[1])
    for full, kept in zip(whole, second, strict=True):
        assert kept.attention.shape[0] == 1
        np.testing.assert_array_equal(kept.attention[0], full.attention[1])
