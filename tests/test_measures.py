"""`Inspector.run(..., measure=)` and the vectors of an inspection, through the Python API:
query, key and value vectors, scores and norm-based attention equal to what the test computes
from an independent eager copy of each model (to 1e-5), and the headline of Kobayashi et al.
(2020) on the default model: [CLS] and [SEP] take a large share of the weights of the middle
layers but a small share of the norms."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attninspect import Inspector
from attninspect.errors import AttnInspectError, InputError, OutOfRangeError
from tests.conftest import CAT
from tests.test_attention_tap import _expected_qkv, _reference, kobayashi

HEADLINE_TEXTS = [
    CAT,
    "A dog ran across the park to fetch the ball.",
    "She said that the results were surprising, but the data was clean.",
    "Attention is not only a weight.",
]


def _inputs(inspector: Inspector, text: str) -> dict[str, torch.Tensor]:
    """What `model(**tokenizer(text))` takes, as the engine passes it (token types included
    where the model's forward takes them: GPT-2 adds their embeddings)."""
    encoded = inspector.engine.tokenizer(text, return_tensors="pt")
    names = ["input_ids", "attention_mask"]
    if inspector.engine.takes_token_types and "token_type_ids" in encoded:
        names.append("token_type_ids")
    return {name: encoded[name] for name in names}


@pytest.mark.parametrize("name", ["bert", "gpt2", "llama"])
def test_vectors_scores_and_norms_are_the_models_own(tiny_models, name: str) -> None:
    path = str(tiny_models[name])
    inspector = Inspector(path)
    weights = inspector.run(CAT)
    scores = inspector.run(CAT, measure="scores")
    norms = inspector.run(CAT, measure="norms")
    found = _reference(path, name, _inputs(inspector, CAT))
    assert (weights.measure, scores.measure, norms.measure) == ("weights", "scores", "norms")
    assert weights.keys.tokens == weights.tokens  # the key side is still a token axis
    for layer in range(weights.num_layers):
        key = ("self", layer)
        alpha = found.weights[key]  # (1, H, T, T)
        np.testing.assert_allclose(weights.attention[layer], alpha[0].numpy(), atol=1e-6, rtol=0)
        size = weights.queries(layer).shape[-1]
        q, k, v = _expected_qkv(found, name, key, size)  # (1, H, T, d), (1, KV, T, d) x 2
        for got, want in ((weights.queries(layer), q), (weights.keys(layer), k),
                          (weights.values(layer), v)):  # fmt: skip
            np.testing.assert_allclose(got, want[0].numpy(), atol=1e-5, rtol=0)
        groups = q.shape[1] // k.shape[1]
        logits = q @ k.repeat_interleave(groups, dim=1).transpose(-1, -2) * size**-0.5
        future = torch.ones(q.shape[2], q.shape[2], dtype=torch.bool).triu(1)
        masked = future if name != "bert" else torch.zeros_like(future)
        want = logits[0].masked_fill(masked, float("nan")).numpy()  # (H, T, T)
        np.testing.assert_allclose(scores.attention[layer], want, atol=1e-5, rtol=0)
        per_head, summed = kobayashi(alpha, v.repeat_interleave(groups, dim=1),
                                     found.projections[key])  # fmt: skip
        np.testing.assert_allclose(norms.attention[layer], per_head[0], atol=1e-5, rtol=0)
        mean = norms.view(layer=layer, head="mean").matrix  # the norm of the sum over heads
        np.testing.assert_allclose(mean, summed[0].numpy(), atol=1e-5, rtol=0)
        one = norms.view(layer=layer, head=1).matrix
        np.testing.assert_allclose(one, per_head[0, 1].numpy(), atol=1e-5, rtol=0)
    assert weights.keys(-1).shape == weights.values(-1).shape  # negative layers count back


def test_norms_headline_on_the_default_model() -> None:
    """In the middle layers, [CLS] and [SEP] take more than half of the weights but a small
    share of the norm-based attention ‖Σ_h α f(x)‖ (each query row's share, averaged)."""
    inspector = Inspector()
    weights = inspector.run(HEADLINE_TEXTS)
    norms = inspector.run(HEADLINE_TEXTS, measure="norms")
    for layer in range(1, 5):
        by_weight, by_norm = [], []
        for plain, normed in zip(weights, norms, strict=True):
            special = np.array(plain.special)
            mean = plain.view(layer=layer, head="mean").matrix  # (T, T), rows sum to 1
            by_weight.append(mean[:, special].sum(-1).mean())
            summed = normed.view(layer=layer, head="mean").matrix  # (T, T)
            by_norm.append((summed[:, special].sum(-1) / summed.sum(-1)).mean())
        share_weights, share_norms = float(np.mean(by_weight)), float(np.mean(by_norm))
        assert share_weights > 0.5, (layer, share_weights)
        assert share_norms < 0.3 * share_weights, (layer, share_weights, share_norms)


def test_hooks_only_model_refuses_measures_before_running(hooks_only_model) -> None:

    tmp_path = hooks_only_model  # MPNet: its attention does not pass the tap
    inspector = Inspector(str(tmp_path))
    plain = inspector.run(CAT)  # weights as before
    assert plain.attention.shape[0] == 2
    with pytest.raises(InputError, match="holds no queries"):
        plain.queries(0)

    def never(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a text ran")

    inspector.engine._engine.stream_batch = never  # type: ignore[attr-defined]
    for measure in ("scores", "norms"):
        with pytest.raises(AttnInspectError, match=r"\(MPNetModel\) cannot give measure=") as err:
            inspector.run(CAT, measure=measure)
        assert "\n" not in str(err.value)


def test_views_defined_on_weights_refuse_other_measures(tiny_models) -> None:
    inspector = Inspector(str(tiny_models["bert"]))
    norms = inspector.run(CAT, measure="norms")
    with pytest.raises(AttnInspectError, match=r"rollout .* does not take measure=norms"):
        norms.view(rollout=True)
    with pytest.raises(AttnInspectError, match=r"^words=True merges .* measure=norms$"):
        norms.view(words=True)  # in the API's words, not the command line's
    with pytest.raises(AttnInspectError, match=r"^hide_special=True .* measure=norms$"):
        norms.view(hide_special=True)
    assert norms.view(head="mean").sink_share is None  # the sink share is a share of weights
    with pytest.raises(AttnInspectError, match="not a measure"):
        inspector.run(CAT, measure="probabilities")
    with pytest.raises(OutOfRangeError, match="9 is out of range: there are 2 layers"):
        norms.queries(9)


def test_encoder_decoder_norms_refused_where_no_output_projection_is_found(
    seq2seq_models, monkeypatch
) -> None:
    """A family whose output projection attninspect cannot find (here BART's ``out_proj``,
    hidden from the search) refuses norms in one line naming the model class, before any text
    runs; its scores and weights are still given."""
    from attninspect.model.engines import attention_tap, factory

    names = tuple(name for name in attention_tap.OWN_PROJECTIONS if name != "out_proj")
    monkeypatch.setattr(attention_tap, "OWN_PROJECTIONS", names)
    factory.open_engine.cache_clear()
    try:
        inspector = Inspector(str(seq2seq_models["bart"]))
        with pytest.raises(AttnInspectError, match="no output projection") as error:
            inspector.run("A dog ran.", target="Un chien", measure="norms")
        assert "(BartForConditionalGeneration) cannot give measure=norms" in str(error.value)
        assert "\n" not in str(error.value)
        scores = inspector.run("A dog ran.", target="Un chien", measure="scores", kind="encoder")
        assert scores.measure == "scores" and scores.kind == "encoder"
    finally:
        factory.open_engine.cache_clear()  # the next test opens the model with its projections
