"""Encoder–decoder models, generation and sentence pairs, checked against transformers itself:
every layer and head of encoder, decoder and cross attention to 1e-6 (padded batches too),
generated ids equal to ``generate()``'s, and bad requests refused with one clear line."""

from __future__ import annotations

import numpy as np
import pytest

SOURCES = ["The cat sleeps on the mat.", "A dog ran."]
TARGETS = ["Le chat dort sur le tapis.", "Il faisait chaud parce que le chien"]
KIND_FIELDS = {"encoder": "encoder_attentions", "decoder": "decoder_attentions",
               "cross": "cross_attentions"}  # fmt: skip


def reference(path, source: str, target: str):
    """transformers' own three kinds, for ``labels=`` teacher forcing: kind -> (L, H, Tq, Tk)."""
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSeq2SeqLM.from_pretrained(path, attn_implementation="eager").eval()
    inputs = tokenizer(source, return_tensors="pt")
    labels = tokenizer(text_target=target, return_tensors="pt").input_ids
    with torch.inference_mode():
        outputs = model(**inputs, labels=labels, output_attentions=True)
    decoder_ids = model.prepare_decoder_input_ids_from_labels(labels=labels)[0].tolist()
    found = {k: torch.stack(getattr(outputs, f), dim=1)[0].numpy() for k, f in KIND_FIELDS.items()}
    return found, tokenizer.convert_ids_to_tokens(decoder_ids)


@pytest.mark.parametrize("name", ["bart", "t5", "marian"])
def test_every_kind_layer_and_head_equals_transformers(seq2seq_models, name: str) -> None:
    from attninspect import Inspector

    inspector = Inspector(str(seq2seq_models[name]))
    for source, target in zip(SOURCES, TARGETS, strict=True):
        # one text per batch, and both texts in one padded batch (each with its own target)
        alone = inspector.run(source, target=target)
        expected, decoder_tokens = reference(seq2seq_models[name], source, target)
        assert alone.kind == "cross" and set(alone.kinds) == set(KIND_FIELDS)
        assert alone.tokens == decoder_tokens  # the model's start token, then labels but the last
        for kind, attention in expected.items():
            got = alone.of_kind(kind).attention
            assert got.shape == attention.shape
            np.testing.assert_allclose(got, attention, atol=1e-6, rtol=0)
    batched = inspector.run(SOURCES, target=TARGETS[1])
    for source, inspection in zip(SOURCES, batched, strict=True):
        expected, _ = reference(seq2seq_models[name], source, TARGETS[1])
        for kind, attention in expected.items():
            np.testing.assert_allclose(
                inspection.of_kind(kind).attention, attention, atol=1e-6, rtol=0
            )


def test_kinds_have_their_own_axes(seq2seq_models) -> None:
    from attninspect import Inspector

    inspection = Inspector(str(seq2seq_models["marian"])).run(SOURCES[0], target=TARGETS[0])
    cross, encoder, decoder = (inspection.of_kind(k) for k in ("cross", "encoder", "decoder"))
    assert cross.query_tokens == decoder.tokens and cross.key_tokens == encoder.tokens
    assert encoder.tokens[:3] == ["▁The", "▁cat", "▁sle"] and encoder.tokens[-1] == "</s>"
    assert decoder.causal and not encoder.causal
    assert inspection.input_text == SOURCES[0] and inspection.target_text == TARGETS[0]
    assert encoder.attention.shape[0] == 2 and decoder.attention.shape[0] == 3
    view = inspection.view(kind="encoder", layer=1, head=2)
    np.testing.assert_array_equal(view.matrix, encoder.attention[1, 2])
    assert view.attention_kind == "encoder"


@pytest.mark.parametrize("name", ["bart", "t5", "marian"])
def test_seq2seq_generation_equals_generate(seq2seq_models, name: str) -> None:
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from attninspect import Inspector

    path = seq2seq_models[name]
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSeq2SeqLM.from_pretrained(path, attn_implementation="eager").eval()
    inputs = tokenizer(SOURCES[0], return_tensors="pt")
    with torch.inference_mode():
        expected = model.generate(**inputs, do_sample=False, num_beams=1, max_new_tokens=6)[0]
        outputs = model(**inputs, decoder_input_ids=expected[None], output_attentions=True)
    inspection = Inspector(str(path)).run(SOURCES[0], generate=6)
    assert inspection.tokens == tokenizer.convert_ids_to_tokens(expected.tolist())
    assert inspection.prompt_length == 1 and inspection.generated == inspection.tokens[1:]
    for kind, field in KIND_FIELDS.items():
        attention = torch.stack(getattr(outputs, field), dim=1)[0].numpy()
        np.testing.assert_allclose(inspection.of_kind(kind).attention, attention, atol=1e-6)


@pytest.mark.parametrize("name", ["gpt2", "llama"])
def test_decoder_generation_equals_generate_and_one_pass(causal_lms, name: str) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from attninspect import Inspector

    path = causal_lms[name]
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, attn_implementation="eager").eval()
    prompt = "The cat sat on"
    inputs = tokenizer(prompt, return_tensors="pt")
    with torch.inference_mode():
        expected = model.generate(**inputs, do_sample=False, max_new_tokens=5)[0]
        outputs = model(input_ids=expected[None], output_attentions=True)
    inspection = Inspector(str(path)).run(prompt, generate=5)
    prompt_length = inputs.input_ids.shape[1]
    assert inspection.token_ids == expected.tolist()
    assert inspection.prompt_length == prompt_length
    assert inspection.generated == tokenizer.convert_ids_to_tokens(expected[prompt_length:])
    attention = torch.stack(outputs.attentions, dim=1)[0].numpy()
    np.testing.assert_allclose(inspection.attention, attention, atol=1e-5, rtol=0)


def test_pairs_are_encoded_as_the_tokenizer_does(default_model, default_model_path) -> None:
    import torch

    from attninspect import Inspector

    model, tokenizer = default_model
    encoded = tokenizer("The cat sat.", "It was warm.", return_tensors="pt")
    with torch.inference_mode():
        outputs = model(**encoded, output_attentions=True)
    inspection = Inspector().run("The cat sat.", pair="It was warm.")
    assert inspection.token_ids == encoded.input_ids[0].tolist()
    assert inspection.pair_start == encoded.token_type_ids[0].tolist().index(1) - 0
    assert inspection.tokens[inspection.pair_start] == "it"
    attention = torch.stack(outputs.attentions, dim=1)[0].numpy()
    np.testing.assert_allclose(inspection.attention, attention, atol=1e-6, rtol=0)
    hidden = inspection.view(hide_special=True)
    assert hidden.tokens[:4] == ["the", "cat", "sat", "."]


def test_marks_follow_words_and_hidden_special(causal_lms) -> None:
    from attninspect import Inspector
    from attninspect.analysis.pipeline import ViewOptions, view_of

    inspection = Inspector(str(causal_lms["llama"])).run("The cat sat on the mat", generate=3)
    shown, _ = view_of(inspection, ViewOptions(words=True, hide_special=True))
    assert shown.tokens[:6] == ["The", "cat", "sat", "on", "the", "mat"]
    assert shown.prompt_length is not None and shown.prompt_length <= 6


@pytest.mark.parametrize(
    ("model", "request_", "message"),
    [
        ("bert", {"target": "x"}, "target= is the decoder's text of an encoder-decoder model"),
        ("gpt2", {"kind": "cross"}, "its attention is self, not cross"),
        ("bert", {"generate": 3}, "generate= needs a decoder or an encoder-decoder model"),
        ("gpt2", {"pair": "b"}, "pair= encodes two texts for an encoder"),
        ("marian", {"kind": "self"}, "its attention is encoder or decoder or cross, not self"),
        ("marian", {"target": "<pad> </s>"}, "tokenizes to nothing but special tokens"),
        ("marian", {"generate": 64}, "past the 64 positions the model takes"),
        ("llama", {"generate": 60}, "past the 64 positions the model takes"),
    ],
)
def test_bad_requests_are_one_clear_line(
    tiny_models, seq2seq_models, causal_lms, model: str, request_: dict, message: str
) -> None:
    from attninspect import Inspector
    from attninspect.errors import AttnInspectError

    paths = {**tiny_models, **seq2seq_models, "llama": causal_lms["llama"]}
    with pytest.raises(AttnInspectError) as caught:
        Inspector(str(paths[model])).run("The cat sat on the mat.", **request_)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_generate_zero_is_refused() -> None:
    from attninspect.api.seq2seq import Request
    from attninspect.errors import AttnInspectError

    with pytest.raises(AttnInspectError, match=">= 1"):
        Request(generate=0)


def test_streamed_run_keeps_no_whole_layers(seq2seq_models) -> None:
    from attninspect import Inspector
    from attninspect.analysis.digest import WholeLayers
    from attninspect.analysis.pipeline import ViewOptions
    from attninspect.api.seq2seq import Request
    from attninspect.files.sources import SourceText

    inspector = Inspector(str(seq2seq_models["bart"]))
    items = [SourceText(text=SOURCES[0], index=0)]
    ((shown, view),) = inspector.view_batch(
        items, ViewOptions(layer=1), WholeLayers(), Request(target=TARGETS[0], kind="cross")
    )
    assert shown.attention.shape[0] == 0
    assert all(other.attention.shape[0] == 0 for other in shown.others.values())
    whole = inspector.run(SOURCES[0], target=TARGETS[0])
    np.testing.assert_allclose(view.matrix, whole.attention[1].mean(0), atol=1e-6)
    ((kept, _),) = inspector.view_batch(
        items, ViewOptions(), WholeLayers(wanted=True), Request(target=TARGETS[0], kind="decoder")
    )
    assert (
        kept.kind == "decoder" and kept.attention.shape == whole.of_kind("decoder").attention.shape
    )
    assert kept.others["encoder"].attention.shape[0] == 2
