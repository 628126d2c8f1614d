"""`stats` on encoder–decoder models: per kind, each line a source (generated from greedily) or
``SOURCE<TAB>TARGET`` (teacher forcing); the means equal the row-weighted per-text
`run --stats` numbers, and cross attention has exactly the statistics of two token axes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from attninspect.cli import app

LINES = [
    ("The cat sleeps on the mat.", "Le chat dort sur le tapis."),
    ("A dog ran.", None),  # generated from
    ("The dog sleeps because it was warm.", "Le chien dort."),
]
GENERATE = "3"
SQUARE = ("entropy", "previous", "same", "next", "special")
TWO_AXES = ("entropy", "special")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("seq2seq-stats") / "pairs.txt"
    lines = [source if target is None else f"{source}\t{target}" for source, target in LINES]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _invoke(*argv: str) -> dict:
    result = CliRunner().invoke(app, list(argv))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _per_text(model: str, kind: str) -> list[dict]:
    """`run --stats` of each line, as the line asks (a target, or generation)."""
    found = []
    for source, target in LINES:
        asks = ["--target", target] if target is not None else ["--generate", GENERATE]
        found.append(_invoke("run", source, "-m", model, "--attention", kind, "--stats",
                             "--format", "json", *asks))  # fmt: skip
    return found


@pytest.mark.parametrize("kind", ["encoder", "decoder", "cross"])
def test_each_kind_equals_row_weighted_run_stats(seq2seq_models, corpus: Path, kind: str) -> None:
    model = str(seq2seq_models["t5"])
    data = _invoke("stats", "-f", str(corpus), "-m", model, "--attention", kind,
                   "--generate", GENERATE, "--format", "json")  # fmt: skip
    records = _per_text(model, kind)
    assert data["attention_kind"] == kind and data["texts"] == len(LINES)
    assert data["tokens"] == sum(len(record["tokens"]) for record in records)
    layers, heads = len(data["layers"]), len(data["heads"])
    defined = TWO_AXES if kind == "cross" else SQUARE
    for name in defined:
        total = weight = 0.0
        for record in records:
            n = len(record["tokens"]) - (name in ("previous", "next"))
            values = np.array([s[name] for s in record["stats"]], np.float64)
            total, weight = total + values.reshape(layers, heads) * n, weight + n
        got = np.array([e[name] for e in data["stats"]], np.float64).reshape(layers, heads)
        np.testing.assert_allclose(got, total / weight, rtol=0, atol=1e-6)
        assert data["stats"][0]["rows"][name] == weight
    if kind == "cross":
        for name in ("previous", "same", "next", "duplicate", "induction"):
            assert all(e[name] is None and e["rows"][name] == 0 for e in data["stats"])
        assert records[0]["key_tokens"][-1] == "</s>"  # keys: the source's tokens


def test_the_api_and_the_table_take_the_kind(seq2seq_models, corpus: Path) -> None:
    from attninspect import Inspector

    model = str(seq2seq_models["bart"])
    lines = corpus.read_text(encoding="utf-8").splitlines()
    found = Inspector(model).stats(lines, kind="decoder", generate=int(GENERATE))
    cli = _invoke("stats", "-f", str(corpus), "-m", model, "--attention", "decoder",
                  "--generate", GENERATE, "--format", "json")  # fmt: skip
    entropy = np.array([e["entropy"] for e in cli["stats"]]).reshape(found.grid("entropy").shape)
    np.testing.assert_allclose(found.grid("entropy"), entropy, atol=1e-12)
    assert found.kind == "decoder"
    result = CliRunner().invoke(app, ["stats", "-f", str(corpus), "-m", model, "--no-color",
                                      "--stat", "entropy"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "cross attention" in " ".join(result.stdout.split())  # a long path may wrap it


def test_a_kind_the_model_lacks_is_one_line(corpus: Path) -> None:
    result = CliRunner().invoke(app, ["stats", "-f", str(corpus), "--attention", "cross"])
    assert result.exit_code == 1
    assert "its attention is self, not cross" in result.stderr
    assert "Traceback" not in result.output
