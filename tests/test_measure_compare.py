"""``heads --measure`` and ``diff --measure``: the heads are ranked by, and the texts compared in,
the numbers `Inspector.run(..., measure=)` gives (which `test_measures` checks against the models
themselves); masked scores are refused (heads) or blank / null (diff); every format names the
measure; weights output stays as it was."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from attninspect import Inspector
from attninspect.api.flows import search_heads
from attninspect.cli.app import app
from attninspect.errors import AttnInspectError, InputError
from attninspect.render.matrix import HEAD_SUM_TITLE, MEASURE_TITLES
from tests.conftest import CAT, measured_matrix, one_error_line

OTHER = "The dog sat on the rug because it was cold."  # as many tokens as CAT, in every tokenizer
SHORTER = "The cat sat on the mat."


@pytest.fixture(scope="module")
def inspectors(tiny_models) -> dict[str, Inspector]:
    return {name: Inspector(str(tiny_models[name])) for name in ("bert", "gpt2", "llama")}


def invoke(runner: CliRunner, *args: str):
    return runner.invoke(app, list(args))


# ------------------------------------------------------------------ heads


@pytest.mark.parametrize(
    ("name", "measure", "source", "target"),
    [("bert", "scores", "it", "mat"), ("bert", "norms", "it", "mat"),
     ("gpt2", "scores", "it", "mat"), ("gpt2", "norms", "was", "cat"),
     ("llama", "norms", "it", "the#2"), ("llama", "scores", "warm", "@0")],
)  # fmt: skip
def test_heads_rank_every_head_by_runs_measure(
    inspectors, name: str, measure: str, source: str, target: str
) -> None:
    inspector = inspectors[name]
    search = inspector.heads(CAT, source, target, measure=measure)
    whole = inspector.run(CAT, measure=measure)
    i, j = search.source, search.target
    assert whole.tokens[i] == source.split("#")[0] or source.startswith("@")
    grid = whole.attention[:, :, i, j]  # (L, H): every head's own score or norm
    assert search.measure == measure and search.inspection.measure == measure
    ranked = np.array([score.weight for score in search.scores])
    np.testing.assert_allclose(ranked, -np.sort(-grid, axis=None), rtol=0, atol=1e-6)
    for score in search.scores:  # each value is its own head's
        assert score.weight == pytest.approx(float(grid[score.layer, score.head]), abs=1e-6)
    assert len(search.scores) == grid.size
    # the streamed search equals the whole-tensor one (the HTML page's path)
    assert search.as_json() == search_heads(whole, source, target, False).as_json()
    assert inspector.heads(CAT, source, target, measure=measure, whole=True).as_json() == (
        search.as_json()
    )


def test_norm_heads_are_not_weight_heads_times_a_constant(inspectors) -> None:
    """A head's norm is its weight times ‖f(x_j)‖ of that head: the two rankings differ."""
    weights = inspectors["bert"].heads(CAT, "it", "mat")
    norms = inspectors["bert"].heads(CAT, "it", "mat", measure="norms")
    by_weight = {(s.layer, s.head): s.weight for s in weights.scores}
    ratios = [s.weight / by_weight[(s.layer, s.head)] for s in norms.scores]
    assert np.ptp(ratios) > 0.1 * np.mean(ratios)  # not one factor for every head
    assert "measure" not in weights.as_json() and norms.as_json()["measure"] == "norms"


def test_heads_refuse_a_key_every_head_masks(inspectors) -> None:
    with pytest.raises(InputError) as refused:
        inspectors["gpt2"].heads(CAT, "cat", "mat", measure="scores")
    message = str(refused.value)
    assert "target=mat (@6) has no score from source=cat (@2)" in message  # Python's words
    assert "causal" in message and "measure=weights" in message
    # weights and norms of a masked key are 0, not missing: ranked as before
    assert inspectors["gpt2"].heads(CAT, "cat", "mat", measure="norms").scores[0].weight == 0.0
    with pytest.raises(InputError, match="has no score"):
        inspectors["gpt2"].heads(CAT, "cat", "mat", measure="scores", whole=True)


def test_heads_refuse_steps_defined_on_weights_and_bad_measures(inspectors) -> None:
    with pytest.raises(AttnInspectError, match="words=True merges the weights"):
        inspectors["bert"].heads(CAT, "it", "mat", words=True, measure="norms")
    with pytest.raises(AttnInspectError, match="not a measure"):
        inspectors["bert"].heads(CAT, "it", "mat", measure="logits")


@pytest.mark.parametrize(("kind", "measure"), [("cross", "norms"), ("decoder", "scores")])
def test_encoder_decoder_heads_and_diff_measure_the_chosen_kind(
    seq2seq_models, kind: str, measure: str
) -> None:
    from attninspect.api.seq2seq import Request

    bart = Inspector(str(seq2seq_models["bart"]))
    bart.request = Request(target="le chat noir", kind=kind)
    source = "the black cat"
    whole = bart.run(source, measure=measure)
    search = bart.heads(source, "@2", "@1", measure=measure)
    grid = whole.attention[:, :, search.source, search.target]  # (L, H) of the chosen kind
    assert whole.kind == search.inspection.kind == kind and search.measure == measure
    for score in search.scores:
        assert score.weight == pytest.approx(float(grid[score.layer, score.head]), abs=1e-6)
    found = bart.diff(source, "the white dog", layer=1, head="mean", measure=measure)
    view_b = bart.run("the white dog", measure=measure).view(layer=1, head="mean")
    np.testing.assert_allclose(found.view_a.matrix, whole.view(layer=1, head="mean").matrix,
                               rtol=0, atol=1e-5)  # fmt: skip
    np.testing.assert_allclose(found.view_b.matrix, view_b.matrix, rtol=0, atol=1e-5)
    assert found.a.measure == found.b.measure == measure and found.a.kind == kind


def test_heads_cli_names_the_measure_in_every_format(runner: CliRunner, tiny_models) -> None:
    path = str(tiny_models["llama"])
    args = ["heads", CAT, "--from", "it", "--to", "mat", "--model", path, "--measure", "norms"]
    expected = Inspector(path).heads(CAT, "it", "mat", measure="norms")
    record = json.loads(invoke(runner, *args, "--format", "json").stdout)
    assert record["measure"] == "norms"
    assert record["heads"] == [score.as_json() for score in expected.scores]
    rows = list(csv.DictReader(io.StringIO(invoke(runner, *args, "--format", "csv").stdout)))
    assert rows[0].keys() == {"rank", "layer", "head", "from_index", "to_index", "weight",
                              "measure"}  # fmt: skip
    assert {row["measure"] for row in rows} == {"norms"}
    assert [float(row["weight"]) for row in rows] == [s.weight for s in expected.scores]
    table = invoke(runner, *args, "--top", "3")
    assert table.exit_code == 0, table.output
    assert f"ranked by {MEASURE_TITLES['norms']}" in " ".join(table.stdout.split())
    assert " norm " in table.stdout
    best = expected.scores[0]
    assert f"{best.weight:.3f}" in table.stdout


def test_heads_cli_scores_table_and_refusals(runner: CliRunner, tiny_models) -> None:
    path = str(tiny_models["gpt2"])
    base = ["heads", CAT, "--model", path, "--measure", "scores"]
    table = invoke(runner, *base, "--from", "it", "--to", "mat", "--top", "2")
    assert table.exit_code == 0, table.output
    assert f"ranked by {MEASURE_TITLES['scores']}" in " ".join(table.stdout.split())
    assert " score " in table.stdout
    top = Inspector(path).heads(CAT, "it", "mat", measure="scores").scores[0]
    assert f"{top.weight:.3f}" in table.stdout and f"{top.weight:.2f}" in table.stdout  # the grid
    line = one_error_line(invoke(runner, *base, "--from", "cat", "--to", "mat"), 1)
    assert "has no score from --from cat (@2)" in line
    line = one_error_line(invoke(runner, *base, "--from", "it", "--to", "mat", "--words"), 2)
    assert "--words" in line and "--measure scores" in line


def test_heads_weights_output_names_no_measure(runner: CliRunner, tiny_models) -> None:
    path = str(tiny_models["bert"])
    args = ["heads", CAT, "--from", "it", "--to", "mat", "--model", path]
    plain = invoke(runner, *args, "--format", "csv").stdout
    weights = invoke(runner, *args, "--measure", "weights", "--format", "csv").stdout
    assert plain == weights
    assert plain.splitlines()[0] == "rank,layer,head,from_index,to_index,weight"
    record = json.loads(invoke(runner, *args, "--format", "json").stdout)
    assert "measure" not in record
    table = invoke(runner, *args).stdout
    assert "ranked by" not in table and " weight " in table


# ------------------------------------------------------------------ diff


@pytest.mark.parametrize(
    ("name", "measure", "head"),
    [("gpt2", "scores", "mean"), ("gpt2", "scores", "max"), ("llama", "norms", "mean"),
     ("llama", "norms", 1), ("bert", "scores", 3), ("bert", "norms", "mean")],
)  # fmt: skip
def test_diff_is_a_minus_b_of_runs_measure(inspectors, name: str, measure: str, head) -> None:
    inspector = inspectors[name]
    found = inspector.diff(CAT, OTHER, layer=1, head=head, measure=measure)
    view_a = inspector.run(CAT, measure=measure).view(layer=1, head=head)
    view_b = inspector.run(OTHER, measure=measure).view(layer=1, head=head)
    assert found.a.measure == found.b.measure == measure
    np.testing.assert_allclose(found.view_a.matrix, view_a.matrix, rtol=0, atol=1e-5)
    np.testing.assert_allclose(found.view_b.matrix, view_b.matrix, rtol=0, atol=1e-5)
    np.testing.assert_allclose(found.paired, view_a.matrix - view_b.matrix, rtol=0, atol=1e-5)
    masked = np.isnan(found.paired)
    assert masked.any() == (measure == "scores" and name != "bert")  # causal: NaN above
    if masked.any():
        assert masked.tolist() == np.triu(np.ones_like(masked), 1).tolist()


def test_diff_focus_changes_rank_only_keys_with_a_value(inspectors) -> None:
    found = inspectors["gpt2"].diff(CAT, SHORTER, focus="cat", measure="scores", top=20)
    assert not found.same_length and found.changes is not None
    for layer, changes in enumerate(found.changes):
        assert all(change.delta == change.delta for change in changes)  # no NaN listed
        assert {change.a_index for change in changes} == {0, 1, 2}  # the keys cat sees
        by_size = [abs(change.delta) for change in changes]
        assert by_size == sorted(by_size, reverse=True), layer


def test_diff_cli_names_the_measure_with_masked_cells_empty(runner: CliRunner, tiny_models) -> None:
    path = str(tiny_models["gpt2"])
    args = ["diff", CAT, OTHER, "--model", path, "--measure", "scores", "--layer", "1"]
    expected = Inspector(path).diff(CAT, OTHER, layer=1, measure="scores")
    record = json.loads(invoke(runner, *args, "--format", "json").stdout)
    assert record["measure"] == record["a"]["measure"] == record["b"]["measure"] == "scores"
    delta = measured_matrix(record["delta"])
    np.testing.assert_array_equal(delta, expected.paired)  # null where masked
    assert record["delta"][0][1] is None and record["a"]["attention"][0][1] is None
    rows = list(csv.DictReader(io.StringIO(invoke(runner, *args, "--format", "csv").stdout)))
    assert {row["measure"] for row in rows} == {"scores"}
    masked = [row for row in rows if int(row["a_key_index"]) > int(row["a_query_index"])]
    assert masked and all(row["weight_a"] == row["weight_b"] == row["delta"] == ""
                          for row in masked)  # fmt: skip
    assert all(row["delta"] != "" for row in rows if row not in masked)
    table = invoke(runner, *args, "--full")
    assert table.exit_code == 0, table.output
    assert MEASURE_TITLES["scores"] in " ".join(table.stdout.split())
    first = next(line for line in table.stdout.splitlines() if line.startswith("  0 [CLS]"))
    assert len(first.split()) == 3  # the one key [CLS] sees; the rest blank
    assert "nan" not in table.stdout.lower()


def test_diff_cli_norms_head_mean_is_the_norm_of_the_sum(runner: CliRunner, tiny_models) -> None:
    path = str(tiny_models["llama"])
    args = ["diff", CAT, OTHER, "--model", path, "--measure", "norms", "--focus", "it"]
    result = invoke(runner, *args, "--format", "json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    inspector = Inspector(path)
    view_a = inspector.run(CAT, measure="norms").view(head="mean", focus="it")
    view_b = inspector.run(OTHER, measure="norms").view(head="mean", focus="it")
    np.testing.assert_allclose(measured_matrix(record["delta"]), view_a.matrix - view_b.matrix,
                               rtol=0, atol=1e-5)  # fmt: skip
    changes = record["focus_changes"][-1]["changes"]
    row_a, row_b = view_a.matrix[view_a.focus], view_b.matrix[view_b.focus]
    largest = np.argsort(-np.abs(row_a - row_b), kind="stable")[0]
    assert changes[0]["a_index"] == largest
    table = invoke(runner, *args)
    assert HEAD_SUM_TITLE.strip(", ") in " ".join(table.stdout.split())  # the title may wrap


@pytest.mark.parametrize("step", ["--rollout", "--words", "--hide-special"])
def test_diff_refuses_steps_defined_on_weights(runner: CliRunner, step: str) -> None:
    line = one_error_line(invoke(runner, "diff", CAT, OTHER, "--measure", "scores", step), 2)
    assert "--measure scores" in line


def test_diff_weights_output_names_no_measure(runner: CliRunner, tiny_models) -> None:
    path = str(tiny_models["bert"])
    args = ["diff", CAT, OTHER, "--model", path]
    plain = invoke(runner, *args, "--format", "csv").stdout
    assert plain == invoke(runner, *args, "--measure", "weights", "--format", "csv").stdout
    assert plain.splitlines()[0].endswith(",weight_a,weight_b,delta")
    record = json.loads(invoke(runner, *args, "--format", "json").stdout)
    assert "measure" not in record and "measure" not in record["a"]


@pytest.fixture(scope="module")
def causal_served(tiny_models):
    """A real server on the tiny GPT-2: its scores are masked above the diagonal."""
    from serve_helpers import serve

    with serve("--model", str(tiny_models["gpt2"]), "--threads", "1") as server:
        yield server


@pytest.mark.parametrize("output", ["json", "csv", "table"])
def test_diff_with_a_server_prints_what_a_local_diff_prints(
    runner: CliRunner, causal_served, tiny_models, output: str
) -> None:
    """A server's diff and heads take the measure (their own numbers, NaN sent as null)."""
    import re

    timing = re.compile(r"\d+\.\d+ s\b|\"seconds\": [0-9.e-]+")
    args = ["diff", CAT, SHORTER, "--measure", "scores", "--focus", "cat", "--format", output]
    here = invoke(runner, *args, "--model", str(tiny_models["gpt2"]))
    there = invoke(runner, *args, "--server", causal_served.url)
    assert here.exit_code == 0, here.output
    assert there.exit_code == 0, there.output
    assert timing.sub("S", there.stdout) == timing.sub("S", here.stdout)
    assert "scores" in here.stdout
    args = ["heads", CAT, "--from", "it", "--to", "cat", "--measure", "norms", "--format", output]
    here = invoke(runner, *args, "--model", str(tiny_models["gpt2"]))
    there = invoke(runner, *args, "--server", causal_served.url)
    assert here.exit_code == 0, here.output
    assert there.stdout == here.stdout and "norm" in here.stdout
