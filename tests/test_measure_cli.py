"""``run --measure scores|norms``: every format shows the numbers the Python API gives (which
`test_measures` checks against the models themselves), masked scores blank in the table and
CSV, null in JSON and NaN in npz; steps defined on weights and hooks-only models are refused in
one line; a run without --measure is unchanged."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from attninspect import Inspector
from attninspect.cli.app import app
from tests.conftest import CAT, measured_matrix, one_error_line


def invoke(runner: CliRunner, *args: str):
    return runner.invoke(app, ["run", *args])


@pytest.mark.parametrize(
    ("name", "measure", "head"),
    [("gpt2", "scores", "mean"), ("gpt2", "scores", "2"), ("llama", "norms", "mean"),
     ("llama", "norms", "1"), ("bert", "norms", "max")],
)  # fmt: skip
def test_json_matrix_and_focus_are_the_apis(
    runner: CliRunner, tiny_models, name: str, measure: str, head: str
) -> None:
    path = str(tiny_models[name])
    args = [CAT, "--model", path, "--measure", measure, "--layer", "1", "--head", head]
    result = invoke(runner, *args, "--focus", "cat", "--format", "json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["measure"] == measure and record["sink_share"] is None
    chosen = head if head in ("mean", "max") else int(head)
    view = Inspector(path).run(CAT, measure=measure).view(layer=1, head=chosen, focus="cat")
    got = measured_matrix(record["attention"])
    np.testing.assert_allclose(got, view.matrix, atol=1e-6, rtol=0)  # NaN where NaN
    assert np.isnan(got).any() == (measure == "scores" and name != "bert")
    top = [(entry["index"], entry["weight"]) for entry in record["focus"]["top"]]
    assert top == [(entry.index, pytest.approx(entry.weight, abs=1e-6)) for entry in view.focus_top]


def test_masked_scores_are_blank_in_the_table_and_csv(runner: CliRunner, tiny_models) -> None:
    path = str(tiny_models["gpt2"])
    table = invoke(runner, "a b c", "--model", path, "--measure", "scores", "--layer", "0")
    assert table.exit_code == 0, table.output
    assert "scores before the softmax (blank: masked)" in table.stdout
    rows = [line for line in table.stdout.splitlines() if line.startswith(" 0 ")]
    assert len(rows) == 1 and len(rows[0].split()) == 3  # " 0 a  x.xx": one score, the rest blank
    listed = invoke(runner, "a b c", "--model", path, "--measure", "scores", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(listed.stdout)))
    masked = [row for row in rows if int(row["key_index"]) > int(row["query_index"])]
    assert masked and all(row["weight"] == "" for row in masked)
    assert all(row["weight"] != "" for row in rows if row not in masked)


def test_npz_holds_the_measure_with_nan_where_masked(
    runner: CliRunner, tiny_models, tmp_path
) -> None:
    path, out = str(tiny_models["gpt2"]), tmp_path / "scores.npz"
    result = invoke(runner, "a b c", "--model", path, "--measure", "scores", "--format", "npz",
                    "--output", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    with np.load(out) as arrays:
        assert str(arrays["measure"]) == "scores"
        expected = Inspector(path).run("a b c", measure="scores").attention
        np.testing.assert_array_equal(arrays["attention_0"], expected)
        assert np.isnan(arrays["attention_0"]).any()


def test_no_measure_leaves_records_as_they_were(runner: CliRunner, tiny_models) -> None:
    path = str(tiny_models["bert"])
    plain = json.loads(invoke(runner, CAT, "--model", path, "--format", "json").stdout)
    weights = invoke(runner, CAT, "--model", path, "--measure", "weights", "--format", "json")
    assert "measure" not in plain
    assert {**json.loads(weights.stdout), "seconds": 0} == {**plain, "seconds": 0}


@pytest.mark.parametrize("step", ["--rollout", "--words", "--stats", "--hide-special"])
def test_steps_on_weights_refuse_other_measures(runner: CliRunner, step: str) -> None:
    line = one_error_line(invoke(runner, CAT, "--measure", "norms", step), 2)
    assert "--measure norms" in line


def test_bad_measure_and_hooks_only_model(runner: CliRunner, hooks_only_model) -> None:

    bad = one_error_line(invoke(runner, CAT, "--measure", "x"), 2)
    assert "'weights', 'scores', 'norms'" in bad
    tmp_path = hooks_only_model  # MPNet: its attention does not pass the tap
    result = invoke(runner, CAT, "--model", str(tmp_path), "--measure", "scores")
    line = one_error_line(result, 1)
    assert "(MPNetModel) cannot give --measure scores" in line
    assert result.stdout == ""


@pytest.mark.parametrize("narrowed", [[], ["--layers", "1:"]])
def test_every_layer_of_the_norms_head_mean_is_labelled_mean(
    runner: CliRunner, tiny_models, narrowed: list[str]
) -> None:
    """With norms and the head mean, every kept layer holds the norm of the sum over heads:
    CSV and JSON label it ``mean`` (it was ``head 0``, and with --layers an IndexError)."""
    path = str(tiny_models["bert"])
    args = [CAT, "--model", path, "--measure", "norms", "--all-layers", *narrowed]
    result = invoke(runner, *args, "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {row["head"] for row in rows} == {"mean"}
    assert {row["measure"] for row in rows} == {"norms"}  # each row names what it holds
    summed = Inspector(path).run(CAT, measure="norms").head_sum  # (L, T, T)
    last = [row for row in rows if row["layer"] == "1"]
    found = np.array([float(row["weight"]) for row in last], np.float32)
    np.testing.assert_allclose(found, summed[1].ravel(), rtol=0, atol=1e-6)
    record = json.loads(invoke(runner, *args, "--format", "json").stdout)
    assert np.array(record["all_attention"]).shape[1] == 1
    assert record.get("all_attention_heads", ["mean"]) == ["mean"]


def test_a_scores_window_keeps_the_focus_row_s_highest_scores(runner: CliRunner) -> None:
    """A window too narrow for every column keeps the focus row's largest scores in sight, not
    its most negative ones (they were ranked by size, as a difference matrix's are)."""
    words = " ".join(
        ["alpha", "beta", "gamma", "delta", "cat", "mat"][i * 7 % 6] for i in range(90)
    )
    text = f"{words} zebra"
    args = [text, "--focus", "zebra", "--measure", "scores", "--layer", "3", "--window", "12"]
    record = json.loads(invoke(runner, *args, "--format", "json").stdout)
    result = invoke(runner, *args)
    assert result.exit_code == 0, result.output
    shown = next(line for line in result.stdout.splitlines() if line.startswith("showing"))
    assert "kept in sight: the focus row's largest scores" in " ".join(
        result.stdout.split("showing", 1)[1].split()
    )
    columns = shown.split("columns ", 1)[1].split(" of ")[0]
    kept = set()
    for part in columns.split(", "):
        low, _, high = part.partition("..")
        kept |= set(range(int(low), int(high or low) + 1))
    assert {top["index"] for top in record["focus"]["top"]} <= kept


def test_npz_of_norms_names_the_head_mean(runner: CliRunner, tiny_models, tmp_path) -> None:
    """With norms and the head mean, the npz's one head per layer is labelled ``heads_0``
    ["mean"] (the norm of the sum over heads), with or without --layers."""
    path, out = str(tiny_models["bert"]), tmp_path / "m.npz"
    result = invoke(runner, CAT, "--model", path, "--measure", "norms", "--format", "npz",
                    "--output", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    arrays = np.load(out)
    assert arrays["attention_0"].shape[1] == 1 and list(arrays["heads_0"]) == ["mean"]
    summed = Inspector(path).run(CAT, measure="norms").head_sum  # (L, T, T)
    np.testing.assert_allclose(arrays["attention_0"][:, 0], summed, rtol=0, atol=1e-6)
