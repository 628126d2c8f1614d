"""``run --measure scores|norms`` on encoder–decoder models (every kind, with a target or with
generation) and on a decoder's generation: the table, JSON, JSONL, CSV and npz show the numbers
the Python API gives (which `test_seq2seq_measures` checks against the models themselves);
masked scores blank in the table and CSV, null in JSON, NaN in npz."""

from __future__ import annotations

import csv
import io
import json
import re

import numpy as np
import pytest

from attninspect import Inspector
from attninspect.cli.app import app
from attninspect.render.matrix import MEASURE_TITLES
from tests.conftest import measured_matrix

SOURCE, TARGET = "The cat sat on the mat.", "Le chat dort sur le tapis."
LINES = ["A dog ran.", "The cat sat on the mat because it was warm.", "Le chat dort."]


def invoke(runner, *args: str, stdin: str | None = None):
    result = runner.invoke(app, ["run", *args, "--no-color"], input=stdin)
    assert result.exit_code == 0, result.output
    return result


def _head(text: str) -> str | int:
    return text if text in ("mean", "max") else int(text)


@pytest.mark.parametrize(
    ("name", "kind", "measure", "head"),
    [("t5", "encoder", "scores", "mean"), ("t5", "decoder", "scores", "2"),
     ("t5", "cross", "norms", "mean"), ("bart", "cross", "scores", "1"),
     ("bart", "decoder", "norms", "mean"), ("marian", "encoder", "norms", "3"),
     ("marian", "cross", "norms", "max")],
)  # fmt: skip
def test_json_matrix_and_focus_are_the_apis(
    runner, seq2seq_models, name: str, kind: str, measure: str, head: str
) -> None:
    path = str(seq2seq_models[name])
    focus = "@2"
    args = [SOURCE, "--model", path, "--target", TARGET, "--attention", kind, "--measure",
            measure, "--layer", "0", "--head", head, "--focus", focus]  # fmt: skip
    record = json.loads(invoke(runner, *args, "--format", "json").stdout)
    assert record["measure"] == measure and record["attention_kind"] == kind
    assert record["sink_share"] is None
    whole = Inspector(path).run(SOURCE, target=TARGET, kind=kind, measure=measure)
    view = whole.view(layer=0, head=_head(head), focus=focus)
    got = measured_matrix(record["attention"])
    np.testing.assert_allclose(got, view.matrix, atol=1e-6, rtol=0)  # NaN where NaN
    assert np.isnan(got).any() == (measure == "scores" and kind == "decoder")
    top = [(entry["index"], entry["weight"]) for entry in record["focus"]["top"]]
    assert top == [(entry.index, pytest.approx(entry.weight, abs=1e-6)) for entry in view.focus_top]


@pytest.mark.parametrize("measure", ["scores", "norms"])
def test_jsonl_of_a_padded_batch_is_each_texts(runner, seq2seq_models, measure: str) -> None:
    """Standard input, texts of different lengths run in one padded batch: each record is what
    the API gives for its text."""
    path = str(seq2seq_models["t5"])
    args = ["-", "--model", path, "--target", TARGET, "--measure", measure, "--attention",
            "cross", "--format", "jsonl"]  # fmt: skip
    result = invoke(runner, *args, stdin="\n".join(LINES))
    records = [json.loads(line) for line in result.stdout.splitlines()]
    inspector = Inspector(path)
    assert [record["text"] for record in records] == LINES
    for record, found in zip(
        records, inspector.run(LINES, target=TARGET, measure=measure), strict=True
    ):
        assert record["measure"] == measure
        expected = found.view(head="mean").matrix
        np.testing.assert_allclose(
            measured_matrix(record["attention"]), expected, atol=1e-6, rtol=0
        )


def test_csv_cells_are_the_apis_and_masked_scores_blank(runner, seq2seq_models) -> None:
    path = str(seq2seq_models["bart"])
    listed = invoke(runner, SOURCE, "--model", path, "--target", TARGET, "--attention", "decoder",
                    "--measure", "scores", "--head", "0", "--format", "csv")  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(listed.stdout)))
    expected = Inspector(path).run(SOURCE, target=TARGET, kind="decoder", measure="scores")
    matrix = expected.view(head=0).matrix  # (T, T)
    assert len(rows) == matrix.size
    for row in rows:
        want = matrix[int(row["query_index"]), int(row["key_index"])]
        assert row["attention_kind"] == "decoder"
        if np.isnan(want):
            assert row["weight"] == ""
        else:
            assert float(row["weight"]) == pytest.approx(float(want), abs=1e-6)
    assert any(row["weight"] == "" for row in rows)


@pytest.mark.parametrize(("measure", "head"), [("norms", "mean"), ("norms", "2"), ("scores", "0")])
def test_npz_holds_every_kind_measured(
    runner, seq2seq_models, tmp_path, measure: str, head: str
) -> None:
    """Every kind's array holds the measure: per head, or for the norms' head mean the norm of
    the sum over heads (one head per layer), as the self-attention npz does."""
    path, out = str(seq2seq_models["t5"]), tmp_path / "measured.npz"
    invoke(runner, SOURCE, "--model", path, "--target", TARGET, "--measure", measure,
           "--head", head, "--format", "npz", "--output", str(out))  # fmt: skip
    whole = Inspector(path).run(SOURCE, target=TARGET, measure=measure)
    with np.load(out) as arrays:
        assert str(arrays["measure"]) == measure
        np.testing.assert_array_equal(arrays["tokens_0"], whole.tokens)
        for kind in ("encoder", "decoder", "cross"):
            own = whole.of_kind(kind)
            assert own.measure == measure
            expected = own.head_sum[:, None] if head == "mean" else own.attention
            got = arrays[f"{kind}_attention_0"]
            np.testing.assert_allclose(got, expected, atol=1e-6, rtol=0)  # NaN where NaN
            assert np.isnan(got).any() == (measure == "scores" and kind == "decoder")
        np.testing.assert_array_equal(arrays["attention_0"], arrays["cross_attention_0"])


def _table_cells(text: str, rows: int) -> list[list[float]]:
    """The numbers of each matrix row of a table (a masked cell is blank: not listed)."""
    found = []
    for line in text.splitlines():
        match = re.match(r"^\s*(\d+) (\S+)\s+(-?\d.*)$", line)
        if match and int(match[1]) == len(found):
            found.append([float(cell) for cell in match[3].split()])
    assert len(found) == rows, text
    return found


@pytest.mark.parametrize(("kind", "measure"), [("decoder", "scores"), ("cross", "norms")])
def test_table_shows_the_apis_numbers(runner, seq2seq_models, kind: str, measure: str) -> None:
    path = str(seq2seq_models["t5"])
    table = invoke(runner, SOURCE, "--model", path, "--target", "le chat", "--attention", kind,
                   "--measure", measure, "--precision", "3")  # fmt: skip
    assert MEASURE_TITLES[measure] in " ".join(table.stdout.split())
    matrix = Inspector(path).run(SOURCE, target="le chat", kind=kind, measure=measure)
    expected = matrix.view(head="mean").matrix
    for row, cells in enumerate(_table_cells(table.stdout, expected.shape[0])):
        shown = expected[row][~np.isnan(expected[row])]  # the masked future is blank
        np.testing.assert_allclose(cells, shown, atol=5e-4 + 1e-6, rtol=0)


def test_seq2seq_generation_and_the_demo_translator(runner, seq2seq_models) -> None:
    path = str(seq2seq_models["t5"])
    args = [SOURCE, "--model", path, "--generate", "3", "--attention", "decoder", "--measure",
            "norms", "--format", "json"]  # fmt: skip
    record = json.loads(invoke(runner, *args).stdout)
    found = Inspector(path).run(SOURCE, generate=3, kind="decoder", measure="norms")
    assert record["generated"] == found.generated and len(found.generated) == 3
    np.testing.assert_allclose(record["attention"], found.view(head="mean").matrix, atol=1e-6)
    demo = ["2026-12-06", "--model", "demo-translate", "--attention", "cross", "--measure", "norms"]
    table = " ".join(invoke(runner, *demo).stdout.split())  # lines wrap at the width
    assert "December" in table and MEASURE_TITLES["norms"] in table


@pytest.mark.parametrize("measure", ["scores", "norms"])
def test_decoder_generation(runner, causal_lms, measure: str) -> None:
    path = str(causal_lms["gpt2"])
    prompt = "The cat sat"
    args = [prompt, "--model", path, "--generate", "3", "--measure", measure, "--format", "json"]
    record = json.loads(invoke(runner, *args).stdout)
    found = Inspector(path).run(prompt, generate=3, measure=measure)
    assert record["measure"] == measure and record["generated"] == found.generated
    assert record["tokens"] == found.tokens and len(found.tokens) > found.prompt_length
    got = measured_matrix(record["attention"])
    np.testing.assert_allclose(got, found.view(head="mean").matrix, atol=1e-6, rtol=0)
