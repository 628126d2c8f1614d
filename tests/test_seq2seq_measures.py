"""Scores and norms of every kind of an encoder–decoder model's attention (encoder, decoder,
cross) and of generation, through the Python API: for every layer and head, to 1e-5, against
what the test computes from an independent eager copy of the model (hooks on its own projection
modules, T5's position bias, the mask worked out from the padding and causality, and Kobayashi
et al.'s formula written in `test_attention_tap.kobayashi`), weights unchanged (1e-6), on padded
batches (sources and targets of different lengths) and on the rows of generated tokens."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attninspect import Inspector
from attninspect.analysis.digest import WholeLayers
from attninspect.analysis.pipeline import ViewOptions
from attninspect.api.batching import _view_kinds, encode_items
from attninspect.api.seq2seq import Request
from attninspect.files.sources import SourceText
from tests.test_attention_tap import _expected_qkv, _masked, _reference, kobayashi

KINDS = ("encoder", "decoder", "cross")
PAIRS = [  # sources and targets of different lengths: both sides padded in one batch
    ("The cat sat on the mat because it was warm.", "Le chat"),
    ("A dog ran.", "Le chat dort sur le tapis parce que il faisait chaud."),
]


def _inputs(encodings: list) -> dict[str, torch.Tensor]:
    """The model's inputs for encodings (with targets), right-padded, built here: source ids and
    mask, the decoder's ids (the target encoding, start token first) and mask."""
    width = max(len(e) for e in encodings)
    target_width = max(len(e.target) for e in encodings)

    def padded(ids: list[int], size: int) -> tuple[list[int], list[int]]:
        return ids + [0] * (size - len(ids)), [1] * len(ids) + [0] * (size - len(ids))

    sources = [padded(e.ids, width) for e in encodings]
    targets = [padded(e.target.ids, target_width) for e in encodings]
    return {
        "input_ids": torch.tensor([ids for ids, _ in sources]),  # (B, S)
        "attention_mask": torch.tensor([mask for _, mask in sources]),  # (B, S)
        "decoder_input_ids": torch.tensor([ids for ids, _ in targets]),  # (B, T)
        "decoder_attention_mask": torch.tensor([mask for _, mask in targets]),  # (B, T)
    }


def _expected(path: str, name: str, inputs: dict[str, torch.Tensor]) -> dict:
    """Per (kind, layer): the weights (B, H, Tq, Tk), the scores q·kᵀ·scale (+ T5's bias),
    NaN where masked, the per-head norms and the norm of the sum over heads (B, Tq, Tk)."""
    found = _reference(path, name, inputs)
    expected = {}
    for key in found.weights:
        size = found.states[key]["q"].shape[-1] // found.weights[key].shape[1]
        q, k, v = _expected_qkv(found, name, key, size)  # (B, H, Tq, d), (B, H, Tk, d) x 2
        logits = q @ k.transpose(-1, -2) * (1.0 if name == "t5" else size**-0.5)
        if key in found.bias:
            logits = logits + found.bias[key]  # T5's relative position bias
        masked = _masked(name, key[0], inputs, q.shape[2])[:, None]  # (B, 1, Tq, Tk)
        scores = logits.masked_fill(masked.expand_as(logits), float("nan"))
        per_head, summed = kobayashi(found.weights[key], v, found.projections[key])
        expected[key] = (found.weights[key], scores, per_head, summed, (q, k, v))
    return expected


def _sizes(source: int, target: int) -> dict[str, tuple[int, int]]:
    return {"encoder": (source, source), "decoder": (target, target), "cross": (target, source)}


def _check(results: dict, expected: dict, row: int, source: int, target: int) -> int:
    """Every layer and head of every kind of text ``row`` (``results``: measure -> its
    inspection), against the reference; how many (kind, layer) pairs were checked."""
    checked = 0
    for kind, (rows, columns) in _sizes(source, target).items():
        layers = results["weights"].of_kind(kind).attention.shape[0]
        for layer in range(layers):
            weights, scores, per_head, summed, qkv = expected[(kind, layer)]
            cut = (row, slice(None), slice(rows), slice(columns))
            plain = results["weights"].of_kind(kind)
            np.testing.assert_allclose(plain.attention[layer], weights[cut], atol=1e-6, rtol=0)
            got = results["scores"].of_kind(kind)
            assert got.measure == "scores" and got.attention.shape == plain.attention.shape
            np.testing.assert_allclose(got.attention[layer], scores[cut], atol=1e-5, rtol=0)
            assert np.isnan(got.attention[layer]).any() == (kind == "decoder" and rows > 1)
            normed = results["norms"].of_kind(kind)
            np.testing.assert_allclose(normed.attention[layer], per_head[cut], atol=1e-5, rtol=0)
            for head in range(weights.shape[1]):
                one = normed.view(layer=layer, head=head).matrix
                np.testing.assert_allclose(one, per_head[cut][head], atol=1e-5, rtol=0)
            mean = normed.view(layer=layer, head="mean").matrix  # ‖Σ_h α f_h(x)‖
            np.testing.assert_allclose(mean, summed[row, :rows, :columns], atol=1e-5, rtol=0)
            q, k, v = qkv
            np.testing.assert_allclose(plain.queries(layer), q[row, :, :rows], atol=1e-5)
            np.testing.assert_allclose(plain.keys(layer), k[row, :, :columns], atol=1e-5)
            np.testing.assert_allclose(plain.values(layer), v[row, :, :columns], atol=1e-5)
            checked += 1
    return checked


@pytest.mark.parametrize("name", ["t5", "bart", "marian"])
def test_every_kind_layer_and_head_in_a_padded_batch(seq2seq_models, name: str) -> None:
    """Two texts in one padded pass, sources and targets of different lengths."""
    path = str(seq2seq_models[name])
    engine = Inspector(path).engine
    pending = []
    for index, (source, target) in enumerate(PAIRS):
        item = SourceText(text=source, index=index)
        pending += encode_items(engine, [item], False, None, Request(target=target))[1]
    encodings = [encoding for _, _, encoding in pending]
    assert len({len(e) for e in encodings}) == len({len(e.target) for e in encodings}) == 2
    keep = WholeLayers(wanted=True)
    results = {
        measure: _view_kinds(
            engine, pending, ViewOptions(measure=measure), keep, "cross", Request(), whole=True
        )
        for measure in ("weights", "scores", "norms")
    }
    expected = _expected(path, name, _inputs(encodings))
    layers = sum(engine.layers_of(kind)[0] for kind in KINDS)
    for row, encoding in enumerate(encodings):
        texts = {measure: found[row][0] for measure, found in results.items()}
        assert _check(texts, expected, row, len(encoding), len(encoding.target)) == layers


@pytest.mark.parametrize("name", ["t5", "bart"])
def test_inspector_run_with_a_target_and_each_kind(seq2seq_models, name: str) -> None:
    """`Inspector.run(texts, target=, kind=, measure=)`: two sources padded in one batch, each
    kind chosen, every kind exact."""
    path = str(seq2seq_models[name])
    inspector = Inspector(path)
    sources, target = [source for source, _ in PAIRS], PAIRS[1][1]
    for kind in KINDS:
        results = {
            measure: inspector.run(sources, target=target, kind=kind, measure=measure)
            for measure in ("weights", "scores", "norms")
        }
        assert all(found[0].kind == kind for found in results.values())
        for row, source in enumerate(sources):
            texts = {measure: found[row] for measure, found in results.items()}
            encoder = texts["weights"].of_kind("encoder")
            cross = texts["weights"].of_kind("cross")
            alone = _inputs_of(encoder.token_ids, cross.token_ids)
            assert _check(texts, _expected(path, name, alone), 0, len(encoder.tokens),
                          len(cross.tokens)) > 0  # fmt: skip
            assert texts["norms"].input_text == source


def _inputs_of(source: list[int], target: list[int]) -> dict[str, torch.Tensor]:
    return {
        "input_ids": torch.tensor([source]),
        "attention_mask": torch.ones(1, len(source), dtype=torch.long),
        "decoder_input_ids": torch.tensor([target]),
        "decoder_attention_mask": torch.ones(1, len(target), dtype=torch.long),
    }


@pytest.mark.parametrize("name", ["t5", "marian", "demo-translate"])
def test_generated_rows_are_exact(seq2seq_models, name: str) -> None:
    """`generate=`: the decoder's and cross attention's rows of the new tokens, as the model
    computes them on the sequence it generated (the tiny BART says only ``</s>``; the shipped
    demo translator, a BART, translates)."""
    from attninspect.model.demo_models import demo_model_path

    path = demo_model_path(name) or str(seq2seq_models.get(name))
    inspector = Inspector(path)
    source = "2026-12-06" if name.startswith("demo") else PAIRS[0][0]
    results = {m: inspector.run(source, generate=4, measure=m) for m in ("weights", "scores",
                                                                           "norms")}  # fmt: skip
    cross = results["norms"]
    assert cross.kind == "cross" and cross.prompt_length == 1 and cross.generated
    assert len(cross.tokens) == 1 + len(cross.generated) > 2  # new tokens' rows are there
    encoder = cross.of_kind("encoder")
    family = "bart" if name.startswith("demo") else name
    expected = _expected(path, family, _inputs_of(encoder.token_ids, cross.token_ids))
    assert _check(results, expected, 0, len(encoder.tokens), len(cross.tokens)) > 0


@pytest.mark.parametrize("name", ["gpt2", "llama"])
def test_decoder_generation_rows_are_exact(causal_lms, name: str) -> None:
    """A decoder's `generate=`: scores and norms of the prompt's and the new tokens' rows."""
    path = str(causal_lms[name])
    inspector = Inspector(path)
    prompt = "The cat sat on the mat"
    runs = {m: inspector.run(prompt, generate=3, measure=m) for m in ("scores", "norms")}
    shown = runs["norms"]
    assert shown.generated and len(shown.tokens) == shown.prompt_length + len(shown.generated)
    ids = torch.tensor([shown.token_ids])
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    found = _reference(path, name, inputs)
    for layer in range(shown.num_layers):
        key = ("self", layer)
        size = runs["scores"].queries(layer).shape[-1]
        q, k, v = _expected_qkv(found, name, key, size)
        groups = q.shape[1] // k.shape[1]
        logits = q @ k.repeat_interleave(groups, 1).transpose(-1, -2) * size**-0.5
        future = torch.ones(q.shape[2], q.shape[2], dtype=torch.bool).triu(1)
        want = logits[0].masked_fill(future, float("nan")).numpy()  # (H, T, T)
        np.testing.assert_allclose(runs["scores"].attention[layer], want, atol=1e-5, rtol=0)
        per_head, summed = kobayashi(
            found.weights[key], v.repeat_interleave(groups, 1), found.projections[key]
        )
        np.testing.assert_allclose(shown.attention[layer], per_head[0], atol=1e-5, rtol=0)
        mean = shown.view(layer=layer, head="mean").matrix
        np.testing.assert_allclose(mean, summed[0], atol=1e-5, rtol=0)
        new = slice(shown.prompt_length, None)  # the generated tokens' rows, said twice
        np.testing.assert_allclose(mean[new], summed[0, new], atol=1e-5, rtol=0)
