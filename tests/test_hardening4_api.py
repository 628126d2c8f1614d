"""Issue 28's robustness items on the Python API and model side: unknown view keywords, the
request arguments and stats' texts checked, an over-long --model, generation with token type
ids, and diff naming an encoder–decoder model's two sources."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from attninspect.cli import app

SOURCE_A, SOURCE_B, TARGET = "The cat sleeps on the mat.", "A dog runs in the park.", "Le chat."


@pytest.fixture(scope="module")
def scratch():
    from attninspect import Inspector

    return Inspector("scratch", dim=8, heads=2)


@pytest.fixture(scope="module")
def typed_decoder(tmp_path_factory: pytest.TempPathFactory, default_model_path: str) -> Path:
    """A tiny GPT-2 language model on the default BERT tokenizer, which returns token type ids
    (all 0 for one text): GPT-2 adds their embedding, so dropping them changes every number."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GPT2Config

    tokenizer = AutoTokenizer.from_pretrained(default_model_path)
    config = GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=2, n_head=4, n_positions=64,
                        bos_token_id=tokenizer.cls_token_id, eos_token_id=tokenizer.sep_token_id,
                        pad_token_id=tokenizer.pad_token_id)  # fmt: skip
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("typed-decoder") / "gpt2-bert-tokenizer"
    AutoModelForCausalLM.from_config(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


# ------------------------------------------------------------------ Inspection.view(bogus=1)


def test_an_unknown_view_keyword_is_the_apis_own_error(scratch) -> None:
    import inspect

    from attninspect import BadValueError, Inspection

    inspection = scratch.run("the cat sat")
    with pytest.raises(BadValueError, match=r"view\(\): no keyword bogus=; see help\(\)"):
        inspection.view(layer=0, bogus=1)
    assert "layer" in inspect.signature(Inspection.view).parameters  # help() still lists them
    np.testing.assert_array_equal(inspection.view(layer=0).matrix, inspection.view(0).matrix)


# ------------------------------------------------------------------ 29: the request arguments


@pytest.mark.parametrize(
    ("keywords", "says"),
    [({"pair": 5}, r"pair=5: give a text \(str\)"), ({"pair": ["b"]}, "pair="),
     ({"target": 5}, r"target=5: give a text \(str\)"), ({"generate": "3"}, "generate='3'"),
     ({"generate": 2.5}, "generate=2.5"), ({"generate": True}, "generate=True"),
     ({"generate": 0}, "generate=0")],
)  # fmt: skip
def test_request_arguments_of_the_wrong_type_are_bad_value_errors(
    scratch, keywords: dict, says: str
) -> None:
    from attninspect import BadValueError

    with pytest.raises(BadValueError, match=says):
        scratch.run("the cat sat", **keywords)


def test_wrong_request_types_fail_before_the_model_does(seq2seq_models, typed_decoder) -> None:
    from attninspect import BadValueError, Inspector

    with pytest.raises(BadValueError, match="target="):
        Inspector(str(seq2seq_models["bart"])).run(SOURCE_A, target=5)
    decoder = Inspector(str(typed_decoder))
    with pytest.raises(BadValueError, match="generate="):
        decoder.run("the cat", generate=2.5)
    numpy_count = decoder.run("the cat", generate=np.int64(2))
    assert numpy_count.token_ids == decoder.run("the cat", generate=2).token_ids


def test_stats_of_a_str_is_one_text(scratch) -> None:
    one, listed = scratch.stats("the cat sat"), scratch.stats(["the cat sat"])
    assert one.heads() == listed.heads()
    np.testing.assert_array_equal(one.means, listed.means)


@pytest.mark.parametrize(
    ("texts", "says"),
    [(5, r"stats\(\) takes a text"), ({"a": 1}, r"stats\(\) takes a text"),
     (["the cat", 5], r"stats\(\): text 1 is 5"), (iter(["a", None]), "text 1 is None")],
)  # fmt: skip
def test_stats_refuses_what_is_not_texts(scratch, texts: object, says: str) -> None:
    from attninspect import BadValueError

    with pytest.raises(BadValueError, match=says):
        scratch.stats(texts)


# ------------------------------------------------------------------ 30: --model too long


def test_a_model_name_too_long_for_the_system_is_one_clear_line(runner, tmp_path) -> None:
    from attninspect import AttnInspectError, Inspector

    for name in ("a" * 260, f"{tmp_path}/{'b' * 260}/model"):
        result = runner.invoke(app, ["run", "the cat", "--model", name])
        assert result.exit_code == 1, result.output
        assert result.stderr.startswith("Error: --model ") and "unexpected" not in result.stderr
        assert "too long" in result.stderr and len(result.stderr.splitlines()) == 1
    with pytest.raises(AttnInspectError, match=r"model='a+': a name in it is too long"):
        Inspector("a" * 260)


# ------------------------------------------------------------------ 16: token type ids


def test_generation_passes_token_types_as_a_run_does(typed_decoder) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from attninspect import Inspector

    tokenizer = AutoTokenizer.from_pretrained(typed_decoder)
    model = AutoModelForCausalLM.from_pretrained(typed_decoder, attn_implementation="eager")
    prompt = "the cat sat on the"
    inputs = tokenizer(prompt, return_tensors="pt")
    assert "token_type_ids" in inputs  # the premise: this tokenizer returns them
    with torch.inference_mode():
        expected = model.eval().generate(**inputs, do_sample=False, max_new_tokens=5)[0]
    inspector = Inspector(str(typed_decoder))
    generated = inspector.run(prompt, generate=5)
    assert generated.token_ids == expected.tolist()
    length = inputs.input_ids.shape[1]
    plain = inspector.run(prompt).attention  # (L, H, P, P)
    np.testing.assert_allclose(generated.attention[:, :, :length, :length], plain, atol=1e-6)
    # The generated rows: the pass over the whole sequence with the token types generate used
    # (the prompt's last one for each new token).
    types = inputs.token_type_ids[0].tolist()
    types += types[-1:] * (len(expected) - length)
    with torch.inference_mode():
        outputs = model(input_ids=expected[None], token_type_ids=torch.tensor([types]),
                        output_attentions=True)  # fmt: skip
    whole = torch.stack(outputs.attentions, dim=1)[0].numpy()  # (L, H, T, T)
    np.testing.assert_allclose(generated.attention, whole, atol=1e-5, rtol=0)


# ------------------------------------------------------------------ 19: diff of two sources


@pytest.mark.parametrize("kind", ["cross", "decoder", "encoder"])
def test_diff_of_an_encoder_decoder_names_its_two_sources(runner, seq2seq_models, kind) -> None:
    model = str(seq2seq_models["bart"])
    result = runner.invoke(app, ["diff", SOURCE_A, SOURCE_B, "-m", model, "--target", TARGET,
                                 "--attention", kind, "--no-color"])  # fmt: skip
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())  # lines wrap at the terminal's width
    count = {"cross": r"\d+ target × \d+ source", "decoder": r"\d+ target",
             "encoder": r"\d+ source"}[kind]  # fmt: skip
    for name, source in (("A", SOURCE_A), ("B", SOURCE_B)):
        assert re.search(rf"{name} {re.escape(source)} \({count} tokens\)", out), out
    as_json = runner.invoke(app, ["diff", SOURCE_A, SOURCE_B, "-m", model, "--target", TARGET,
                                  "--attention", kind, "--format", "json"])  # fmt: skip
    record = json.loads(as_json.stdout)
    assert (record["a"]["text"], record["b"]["text"]) == (SOURCE_A, SOURCE_B)


def test_diff_page_names_the_two_sources(runner, seq2seq_models, tmp_path) -> None:
    page = tmp_path / "diff.html"
    result = runner.invoke(app, ["diff", SOURCE_A, SOURCE_B, "-m", str(seq2seq_models["bart"]),
                                 "--generate", "3", "--save", str(page), "--no-color"])  # fmt: skip
    assert result.exit_code == 0, result.output
    html = page.read_text(encoding="utf-8")
    assert f"A: {SOURCE_A}" in html and f"B: {SOURCE_B}" in html


@pytest.mark.parametrize("name", ["typed-gpt2", "llama"])
def test_generation_leaves_the_shared_engine_its_model(
    typed_decoder, causal_lms, tmp_path, name: str
) -> None:
    import shutil

    from attninspect import Inspector

    path = tmp_path / name  # a copy: an engine of its own, not one a test before has used
    shutil.copytree(typed_decoder if name == "typed-gpt2" else causal_lms["llama"], path)
    inspector = Inspector(str(path))
    engine = inspector.engine
    model, tapped = engine.model, engine.tapped
    plain = inspector.run("the cat sat").attention
    inspector.run("the cat sat", generate=2)
    assert engine.model is model and engine.tapped is tapped  # nothing swapped
    head = engine.language_model
    assert head.base_model is model  # the weights held once
    if head.config.tie_word_embeddings:
        assert head.get_output_embeddings().weight is model.get_input_embeddings().weight
    np.testing.assert_array_equal(inspector.run("the cat sat").attention, plain)
