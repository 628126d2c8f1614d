"""The neuron view (`Inspector.neurons`, ``run --neurons``): one head's query, keys, products,
dot products, scores and weights for one query token, equal to the vectors and scores of a run
(which `test_attention_tap` and `test_measures` check against the models themselves)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from attninspect import Inspector
from attninspect.cli.app import app
from tests.conftest import CAT


@pytest.mark.parametrize(("name", "layer", "head"), [("bert", 1, 3), ("llama", 2, 1)])
def test_neurons_are_the_runs_vectors_scores_and_weights(
    tiny_models, name: str, layer: int, head: int
) -> None:
    inspector = Inspector(str(tiny_models[name]))
    found = inspector.neurons(CAT, focus="it", layer=layer, head=head)
    run = inspector.run(CAT)
    scores = inspector.run(CAT, measure="scores").attention[layer, head, found.focus]
    focus = run.tokens.index("it")
    assert (found.layer, found.head, found.focus, found.query_token) == (layer, head, focus, "it")
    group = run.queries(layer).shape[0] // run.keys(layer).shape[0]
    assert group == (2 if name == "llama" else 1)  # Llama: 4 query heads read 2 key heads
    np.testing.assert_array_equal(found.query, run.queries(layer)[head, focus])
    np.testing.assert_array_equal(found.queries, run.queries(layer)[head])
    np.testing.assert_array_equal(found.keys, run.keys(layer)[head // group])
    np.testing.assert_array_equal(found.values, run.values(layer)[head // group])
    np.testing.assert_allclose(found.products.sum(-1), found.dots, rtol=1e-6)
    np.testing.assert_allclose(found.weights, run.attention[layer, head, focus], atol=1e-6)
    np.testing.assert_allclose(found.scores, scores, atol=1e-6, equal_nan=True)
    size = found.query.shape[0]
    expected = found.dots * size**-0.5  # BERT and Llama scale by 1/sqrt(d)
    real = ~np.isnan(found.scores)
    assert real.sum() == (len(run.tokens) if name == "bert" else focus + 1)  # causal: no future
    np.testing.assert_allclose(found.scores[real], expected[real], atol=1e-5, rtol=0)


def test_run_neurons_table_and_json(runner: CliRunner, default_model_path: str) -> None:
    args = ["run", CAT, "--focus", "it", "--neurons", "--layer", "2", "--head", "3"]
    table = runner.invoke(app, args, env={"COLUMNS": "100"})
    assert table.exit_code == 0, table.output
    assert "neuron view · layer 2 · head 3 · query it (@8)" in table.stdout
    assert "q·k" in table.stdout and "weight" in table.stdout
    assert "12 [SEP]" in table.stdout
    record = json.loads(runner.invoke(app, [*args, "--format", "json"]).stdout)
    found = Inspector().neurons(CAT, focus="it", layer=2, head=3)
    assert (record["layer"], record["head"], record["focus"]) == (2, 3, 8)
    assert np.array(record["queries"]).shape == (13, 32)
    assert np.array(record["keys"]).shape == np.array(record["values"]).shape == (13, 32)
    np.testing.assert_allclose(record["weights"], found.weights, atol=1e-7)
    np.testing.assert_allclose(record["scores"], found.scores, atol=1e-6)


def test_run_neurons_npz_carries_the_vectors(
    runner: CliRunner, default_model_path: str, tmp_path
) -> None:
    path = tmp_path / "it.npz"
    args = ["run", CAT, "--focus", "it", "--neurons", "--layer", "2", "--head", "3"]
    result = runner.invoke(app, [*args, "--format", "npz", "--output", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    found = Inspector().neurons(CAT, focus="it", layer=2, head=3)
    with np.load(path) as saved:  # no pickles: strings and numbers only
        assert (int(saved["layer"]), int(saved["head"]), int(saved["focus"])) == (2, 3, 8)
        assert str(saved["text"]) == CAT and str(saved["query_token"]) == "it"
        assert saved["key_tokens"].tolist() == found.key_tokens
        for name in ("queries", "keys", "values", "query", "scores", "weights", "dots"):
            np.testing.assert_array_equal(saved[name], getattr(found, name), err_msg=name)
        assert saved["queries"].shape == saved["keys"].shape == (13, 32)


@pytest.mark.parametrize(
    ("extra", "says"),
    [(["--head", "mean"], "no single query"), (["--head", "2"], "add --focus"),
     (["--head", "1", "--focus", "it", "--format", "csv"], "json or --format npz"),
     (["--head", "1", "--focus", "it", "--format", "npz"], "add --output FILE.npz"),
     (["--head", "1", "--focus", "it", "--measure", "norms"], "drop --words"),
     (["--head", "1", "--focus", "it", "--save", "n.png"], "drop --save (a page saved"),
     (["--head", "1", "--focus", "it", "--all-layers"], "drop --all-layers"),
     (["--head", "1", "--focus", "it", "--layers", "1"], "drop --layers"),
     (["--head", "1", "--focus", "it", "--top", "3"], "drop --top"),
     (["--head", "1", "--focus", "it", "--full"], "drop --full"),
     (["--head", "1", "--focus", "it", "--stats"], "drop --stats")],
)  # fmt: skip
def test_neurons_usage_errors(runner: CliRunner, extra: list[str], says: str) -> None:
    args = ["run", CAT, "--neurons", *extra]
    if "--focus" not in extra and "mean" in extra:
        args += ["--focus", "it"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and says in lines[0]


@pytest.mark.parametrize("kind", ["cross", "decoder", "encoder"])
def test_encoder_decoder_kinds_have_a_neuron_view(seq2seq_models, kind: str) -> None:
    """Each kind of an encoder–decoder model (with a target) has its neuron view, equal to the
    run's vectors, scores and weights of that kind (which `test_seq2seq_measures` checks
    against the model); it names its kind."""
    source, target = "A dog ran home.", "Un chien"
    inspector = Inspector(str(seq2seq_models["bart"]))
    inspector.request = dataclasses.replace(inspector.request, target=target, kind=kind)
    run = inspector.run(source)
    focus = 1
    found = inspector.neurons(source, focus=f"@{focus}", layer=1, head=2)
    assert (found.kind, found.focus, found.key_tokens) == (kind, focus, run.key_tokens)
    scores = inspector.run(source, measure="scores").attention[1, 2, focus]
    np.testing.assert_array_equal(found.query, run.queries(1)[2, focus])
    np.testing.assert_array_equal(found.keys, run.keys(1)[2])
    np.testing.assert_array_equal(found.values, run.values(1)[2])
    np.testing.assert_array_equal(found.weights, run.attention[1, 2, focus])
    np.testing.assert_array_equal(found.scores, scores)


def test_run_neurons_of_generated_tokens(runner: CliRunner) -> None:
    """`run --neurons` takes --generate, and an encoder–decoder model's kind (cross by
    default, named in the title)."""
    args = ["run", "cat sun map owl cat", "--model", "demo-induction", "--generate", "3",
            "--neurons", "--focus", "@8", "--layer", "1", "--head", "0",
            "--format", "json"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["query_token"] == "owl" and "attention_kind" not in record
    assert len(record["weights"]) == 9  # the prompt's 6 tokens and 3 generated
    result = runner.invoke(app, ["run", "2026-12-06", "--model", "demo-translate", "--neurons",
                                 "--focus", "December", "--layer", "0", "--head", "0"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("neuron view (cross: target → source) · layer 0 · head 0")
