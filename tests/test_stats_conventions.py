"""`stats --convention clark|transformerlens`: each anchor's own numbers, checked against small
ports of Clark et al.'s notebook and TransformerLens's head detector (tests/anchor_ports.py)
on transformers' own attention; our own convention stays as it was, named exactly."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from anchor_ports import clark_averages, transformerlens_detect
from conftest import synthetic_inspection
from typer.testing import CliRunner

from attninspect.analysis.corpus import CorpusSums, StatsDigest, statistics_options
from attninspect.cli import app

TEXTS = [
    "The cat sat on the mat because the cat was warm.",
    "A dog ran, and a dog ran again, and a dog ran home.",
    "Attention heads attend.",
    "One two three one two three one two three.",
    "Short.",
]
CLARK_KEYS = {"previous": "left", "same": "self", "next": "right"}
DETECTORS = {
    "previous": "previous_token_head",
    "duplicate": "duplicate_token_head",
    "induction": "induction_head",
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("conventions") / "texts.txt"
    path.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def documents(default_model) -> list[dict]:
    """Each text's tokens, ids and transformers' own attention (L, H, T, T)."""
    model, tokenizer = default_model
    found = []
    for text in TEXTS:
        encoded = tokenizer(text, return_tensors="pt")
        with torch.inference_mode():
            attentions = model(**encoded, output_attentions=True).attentions
        ids = encoded["input_ids"][0]
        found.append(
            {
                "tokens": tokenizer.convert_ids_to_tokens(ids.tolist()),
                "ids": ids,
                "attns": torch.stack(attentions, dim=1)[0].double().numpy(),  # (L, H, T, T)
            }
        )
    return found


def _stats(corpus: Path, *extra: str) -> dict:
    argv = ["stats", "--file", str(corpus), "--format", "json", *extra]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _grid(data: dict, name: str) -> np.ndarray:
    cells = {(e["layer"], e["head"]): e[name] for e in data["stats"]}
    grid = [[cells[(layer, head)] for head in data["heads"]] for layer in data["layers"]]
    return np.array(grid, dtype=np.float64)  # None -> NaN


def test_clark_equals_the_notebook(corpus: Path, documents: list[dict]) -> None:
    data = _stats(corpus, "--convention", "clark")
    expected = clark_averages(documents)
    assert data["convention"] == "clark" and data["averaged_over"] == "texts"
    for name, key in CLARK_KEYS.items():
        np.testing.assert_allclose(_grid(data, name), expected[key], rtol=0, atol=2e-6)
    np.testing.assert_allclose(
        _grid(data, "special"), expected["sep"] + expected["cls"], rtol=0, atol=2e-6
    )
    np.testing.assert_allclose(_grid(data, "entropy"), expected["entropy"], rtol=0, atol=2e-6)
    for name in ("duplicate", "induction"):
        assert np.isnan(_grid(data, name)).all()
    texts = data["stats"][0]["texts"]
    assert texts["previous"] == texts["entropy"] == len(TEXTS) and texts["duplicate"] == 0


def test_transformerlens_equals_detect_head(corpus: Path, documents: list[dict]) -> None:
    data = _stats(corpus, "--convention", "transformerlens")
    seqs = [(doc["ids"], torch.from_numpy(doc["attns"])) for doc in documents]
    for name, head_name in DETECTORS.items():
        expected = transformerlens_detect(seqs, head_name)
        np.testing.assert_allclose(_grid(data, name), expected, rtol=0, atol=2e-6)
    for name in ("entropy", "same", "next", "special"):
        assert np.isnan(_grid(data, name)).all()


def test_our_convention_is_not_transformerlens(corpus: Path, documents: list[dict]) -> None:
    """Ours divides the detectors by the rows where the pattern applies, TransformerLens by all
    rows: the numbers differ, and the records say which they are."""
    ours = _stats(corpus)
    assert ours["convention"] == "attninspect" and ours["averaged_over"] == "rows"
    seqs = [(doc["ids"], torch.from_numpy(doc["attns"])) for doc in documents]
    theirs = transformerlens_detect(seqs, "duplicate_token_head")
    assert np.abs(_grid(ours, "duplicate") - theirs).max() > 0.05


def test_csv_npz_and_table_name_the_convention(corpus: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    argv = ["stats", "--file", str(corpus), "--convention", "clark"]
    result = runner.invoke(app, [*argv, "--format", "csv"])
    assert result.exit_code == 0, result.output
    header = next(csv.reader(io.StringIO(result.stdout)))
    assert "entropy_texts" in header and "entropy_rows" not in header
    out = tmp_path / "c.npz"
    result = runner.invoke(app, [*argv, "--format", "npz", "--output", str(out)])
    assert result.exit_code == 0, result.output
    with np.load(out) as arrays:
        assert str(arrays["convention"]) == "clark"
        assert (arrays["texts_per_statistic"][:, 0] == len(TEXTS)).all()
    result = runner.invoke(app, [*argv, "--stat", "entropy", "--no-color"])
    assert result.exit_code == 0, result.output
    assert "clark convention" in result.stdout and "nats" in result.stdout
    result = runner.invoke(app, ["stats", "--file", str(corpus), "--stat", "duplicate"])
    assert "mean over the rows whose token occurred before" in " ".join(result.stdout.split())


def test_the_api_takes_a_convention(corpus: Path) -> None:
    from attninspect import Inspector
    from attninspect.errors import BadValueError

    inspector = Inspector()
    found = inspector.stats(TEXTS, convention="transformerlens", layers=slice(0, 2))
    cli = _stats(corpus, "--convention", "transformerlens", "--layers", "0:2")
    np.testing.assert_allclose(found.grid("induction"), _grid(cli, "induction"), atol=1e-12)
    assert found.convention == "transformerlens"
    with pytest.raises(BadValueError, match="convention must be one of"):
        inspector.stats(TEXTS, convention="bertviz")


def _digested(inspection, convention: str) -> CorpusSums:
    empty = np.zeros((0, *inspection.attention.shape[1:]), np.float32)
    base = dataclasses.replace(inspection, attention=empty)
    layers, heads = list(range(inspection.num_layers)), list(range(inspection.num_heads))
    digest = StatsDigest(base, statistics_options(False, False), layers, heads, convention)
    for layer, attention in enumerate(inspection.attention):
        digest.add(layer, attention)
    result = digest.finish(0.0)
    assert isinstance(result, CorpusSums)
    return result


def test_synthetic_texts_against_both_ports() -> None:
    """Made-up attention (no model): the digest's means equal both ports, texts of any length."""
    texts = [
        ["[CLS]", "a", "b", "a", "b", "a", "[SEP]"],
        ["[CLS]", "x", "[SEP]"],
        ["[CLS]", "it", "was", "it", "was", "warm", "warm", "it", "[SEP]"],
    ]
    inspections = [synthetic_inspection(t, 2, 3, seed=n) for n, t in enumerate(texts)]
    docs = [{"tokens": i.tokens, "attns": i.attention.astype(np.float64)} for i in inspections]
    for convention in ("clark", "transformerlens"):
        total = _digested(inspections[0], convention)
        for inspection in inspections[1:]:
            total.add(_digested(inspection, convention))
        means = total.means()
        if convention == "clark":
            expected = clark_averages(docs)
            np.testing.assert_allclose(means[:, :, 1], expected["left"], atol=1e-6)
            np.testing.assert_allclose(means[:, :, 0], expected["entropy"], atol=1e-6)
            continue
        vocab: dict[str, int] = {}
        seqs = [
            (torch.tensor([vocab.setdefault(t, len(vocab)) for t in doc["tokens"]]),
             torch.from_numpy(doc["attns"]))
            for doc in docs
        ]  # fmt: skip
        np.testing.assert_allclose(
            means[:, :, 6], transformerlens_detect(seqs, "induction_head"), atol=1e-6
        )


def test_seconds_is_the_corpus_compute_time(corpus: Path, tiny_models) -> None:
    """`seconds` in stats' JSON and `CorpusStats.seconds` time the corpus (they were always 0)."""
    assert 0 < _stats(corpus)["seconds"] < 600
    from attninspect import Inspector

    assert 0 < Inspector(str(tiny_models["bert"])).stats(["a b c", "b c d"]).seconds < 600
