"""`attninspect stats`: exact against per-text `run --stats`, every output, errors, fast --help."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from attninspect.cli import app

TEXTS = [
    "The cat sat on the mat because it was warm.",
    "A dog ran, and a dog ran again, and a dog ran home.",
    "Attention heads attend.",
    "One two three one two three one two three.",
    "Short.",
]
STATS = ("entropy", "previous", "same", "next", "special")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("stats") / "texts.txt"
    path.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def stats_json(corpus: Path) -> dict:
    result = CliRunner().invoke(app, ["stats", "--file", str(corpus), "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def per_text(corpus: Path) -> list[dict]:
    """`run --stats --all-layers` per text: its stats and its whole attention."""
    argv = ["run", "--file", str(corpus), "--format", "jsonl", "--stats", "--all-layers"]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def _grid(data: dict, name: str) -> np.ndarray:
    cells = {(e["layer"], e["head"]): e[name] for e in data["stats"]}
    return np.array([[cells[(layer, head)] for head in data["heads"]] for layer in data["layers"]])


def test_means_equal_row_weighted_run_stats(stats_json: dict, per_text: list[dict]) -> None:
    assert stats_json["texts"] == len(TEXTS)
    for name in STATS:
        total = weight = 0.0
        for record in per_text:
            n = len(record["tokens"]) - (name in ("previous", "next"))
            values = np.array([s[name] for s in record["stats"]]).reshape(6, 12)
            total, weight = total + values * n, weight + n
        np.testing.assert_allclose(_grid(stats_json, name), total / weight, atol=1e-6)


def test_detectors_equal_a_reference_on_the_attention(
    stats_json: dict, per_text: list[dict]
) -> None:
    sums = {"duplicate": 0.0, "induction": 0.0}
    rows = 0
    for record in per_text:
        tokens, attention = record["tokens"], np.array(record["all_attention"])  # (L, H, T, T)
        for i, token in enumerate(tokens):
            earlier = [j for j in range(i) if tokens[j] == token]
            if earlier:
                rows += 1
                sums["duplicate"] = sums["duplicate"] + attention[:, :, i, earlier].sum(-1)
                after = [j + 1 for j in earlier]
                sums["induction"] = sums["induction"] + attention[:, :, i, after].sum(-1)
    assert rows > 10
    assert stats_json["stats"][0]["rows"]["duplicate"] == rows
    for name, total in sums.items():
        np.testing.assert_allclose(_grid(stats_json, name), total / rows, atol=1e-6)


def test_the_previous_token_head_stands_out(stats_json: dict) -> None:
    previous = _grid(stats_json, "previous")
    layer, head = np.unravel_index(np.argmax(previous), previous.shape)
    assert previous[layer, head] > 0.9 > np.sort(previous, axis=None)[-2]


def test_csv_npz_table_and_pictures(corpus: Path, tmp_path: Path, stats_json: dict) -> None:
    runner = CliRunner()
    base = ["stats", "--file", str(corpus), "--layers", "0:2", "--heads", "2"]
    result = runner.invoke(app, [*base, "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["layer"], r["head"]) for r in rows] == [("0", "2"), ("1", "2")]
    assert float(rows[0]["previous"]) == pytest.approx(_grid(stats_json, "previous")[0, 2])
    npz, png, html = tmp_path / "s.npz", tmp_path / "s.png", tmp_path / "s.html"
    result = runner.invoke(app, [*base, "--format", "npz", "-o", str(npz), "--save", str(png)])
    assert result.exit_code == 0, result.output
    arrays = np.load(npz)
    assert arrays["means"].shape == (2, 1, 7) and list(arrays["heads"]) == [2]
    assert png.read_bytes().startswith(b"\x89PNG")
    result = runner.invoke(app, [*base, "--stat", "same", "--no-color", "--save", str(html)])
    assert result.exit_code == 0, result.output
    assert "same: weight on the token itself, mean over every row" in result.stdout
    assert " h2" in result.stdout and "highest: L" in result.stdout
    page = html.read_text(encoding="utf-8")
    assert page.count("<table>") == 7 and "<script" not in page


def test_words_and_hide_special(corpus: Path) -> None:
    argv = ["stats", "--file", str(corpus), "--format", "json", "--words", "--hide-special"]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["words"] and data["hide_special"]
    assert all(entry["special"] == 0 for entry in data["stats"])
    assert data["tokens"] < 60


def test_a_bad_line_fails_or_is_skipped_with_its_number(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(b"a good text\nbad \xff byte\n\nanother good text\n")
    runner = CliRunner()
    failed = runner.invoke(app, ["stats", "--file", str(path), "--format", "json"])
    assert failed.exit_code == 1
    assert failed.stderr.startswith("Error: line 2: not valid UTF-8")
    skipped = runner.invoke(app, ["stats", "-f", str(path), "--format", "json", "--skip-errors"])
    assert skipped.exit_code == 0, skipped.output
    assert "skipped line 2: not valid UTF-8" in skipped.stderr
    data = json.loads(skipped.stdout)
    assert data["texts"] == 2 and data["skipped"] == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["stats", "x", "--stat", "nope"],
        ["stats", "x", "--ray-address", "auto"],
        ["stats", "x", "--format", "npz"],
        ["stats"],
        ["stats", "x", "--layers", "1:2:0"],
    ],
)
def test_bad_option_values_are_usage_errors(argv: list[str]) -> None:
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2, result.output


def test_a_layer_the_model_lacks_is_refused() -> None:
    result = CliRunner().invoke(app, ["stats", "x", "--layers", "9"])
    assert result.exit_code == 2 and "--layers" in result.stderr


@pytest.mark.parametrize("argv", [["--help"], ["stats", "--help"]])
def test_help_imports_no_heavy_library(argv: list[str]) -> None:
    code = (
        "import sys\n"
        f"sys.argv = ['attninspect', *{argv!r}]\n"
        "from attninspect.cli import main\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert e.code in (0, None), e.code\n"
        "loaded = [m for m in ('torch', 'transformers', 'numpy', 'ray') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr
