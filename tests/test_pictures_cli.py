"""`grid` and `--save` end to end, with the default model and a tiny decoder."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from rich.cells import cell_len
from typer.testing import CliRunner

from attninspect.cli.app import app
from tests.conftest import CAT

WIDE = {"COLUMNS": "100", "NO_COLOR": "1"}


def test_grid_shows_every_panel_of_the_default_model_within_100_columns(
    runner: CliRunner,
) -> None:
    result = runner.invoke(app, ["grid", CAT], env=WIDE)
    assert result.exit_code == 0, result.output
    for layer in range(6):
        assert f"L{layer} mean" in result.stdout
        for head in range(12):
            assert f"L{layer} H{head} " in result.stdout or f"L{layer} H{head}\n" in result.stdout
    assert all(cell_len(line) <= 100 for line in result.stdout.splitlines())
    assert "\x1b" not in result.stdout and "░" in result.stdout
    assert "13 tokens, a cell each" in result.stdout


def test_grid_narrows_layers_and_heads_with_slices(runner: CliRunner) -> None:
    result = runner.invoke(app, ["grid", CAT, "--layers", "-2:", "--heads", "1:3"], env=WIDE)
    assert result.exit_code == 0, result.output
    labels = [word for line in result.stdout.splitlines() for word in line.split("  ") if word]
    panels = {label.strip() for label in labels if label.strip().startswith("L")}
    assert panels == {"L4 H1", "L4 H2", "L4 mean", "L5 H1", "L5 H2", "L5 mean"}


def test_bad_layer_range_is_a_usage_error(runner: CliRunner) -> None:
    result = runner.invoke(app, ["grid", CAT, "--layers", "7"], env=WIDE)
    assert result.exit_code == 2 and "--layers" in result.output


def test_run_save_png_keeps_stdout_and_is_deterministic(runner: CliRunner, tmp_path: Path) -> None:
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    for path in (first, second):
        result = runner.invoke(app, ["run", CAT, "--focus", "it", "--save", str(path)], env=WIDE)
        assert result.exit_code == 0, result.output
        assert "tokens (13)" in result.stdout and "saved " in result.stderr
    assert first.read_bytes() == second.read_bytes()
    image = Image.open(io.BytesIO(first.read_bytes()))
    assert image.size[0] >= 600 and len(image.convert("RGB").getcolors(1_000_000) or []) > 50
    assert not list(tmp_path.glob(".*.part"))


def test_heads_diff_and_grid_save_every_kind(runner: CliRunner, tmp_path: Path) -> None:
    commands = {
        "heads.svg": ["heads", CAT, "--from", "it", "--to", "cat"],
        "diff.pdf": ["diff", CAT, "The dog sat on the mat because it was warm."],
        "grid.html": ["grid", CAT, "--layers", "0:2"],
        "run.html": ["run", CAT, "--layer", "2", "--head", "4"],
    }
    for name, argv in commands.items():
        result = runner.invoke(app, [*argv, "--save", str(tmp_path / name)], env=WIDE)
        assert result.exit_code == 0, (name, result.output)
    svg = ET.fromstring((tmp_path / "heads.svg").read_bytes())
    assert any("it (@8)" in "".join(node.itertext()) for node in svg.iter())
    assert (tmp_path / "diff.pdf").read_bytes().startswith(b"%PDF")
    page = (tmp_path / "grid.html").read_text("utf-8")
    assert '"layers":[0,1]' in page and "https:" not in page
    assert '"initial":{"layer":2,"head":4}' in (tmp_path / "run.html").read_text("utf-8")


def test_decoder_figure_has_every_token_as_text(
    runner: CliRunner, tmp_path: Path, tiny_models: dict[str, Path]
) -> None:
    path = tmp_path / "gpt2.svg"
    argv = ["run", "the cat sat", "--model", str(tiny_models["gpt2"]), "--save", str(path)]
    result = runner.invoke(app, argv, env=WIDE)
    assert result.exit_code == 0, result.output
    texts = {"".join(node.itertext()) for node in ET.fromstring(path.read_bytes()).iter()}
    assert {"the", "cat", "sat"} <= texts


@pytest.mark.parametrize(
    ("name", "needle"),
    [("x.gif", "unknown picture type"), ("missing/x.png", "does not exist")],
)
def test_bad_save_targets_fail_before_any_work(
    runner: CliRunner, tmp_path: Path, name: str, needle: str
) -> None:
    result = runner.invoke(app, ["run", CAT, "--save", str(tmp_path / name)], env=WIDE)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: --save") and needle in result.stderr
    assert result.stdout == ""


def test_grid_rollout_has_one_panel_per_layer_and_refuses_heads(runner) -> None:
    result = runner.invoke(app, ["grid", "The cat sat.", "--rollout", "--layers", "0:2"])
    assert result.exit_code == 0, result.stderr
    assert "6 layers · 6 tokens · rollout" in result.stdout and " × " not in result.stdout
    assert "L0 " in result.stdout and "L1" in result.stdout and "H0" not in result.stdout
    refused = runner.invoke(app, ["grid", "The cat sat.", "--rollout", "--heads", "0:2"])
    assert refused.exit_code == 2 and "--heads" in refused.stderr


def _page_document(path: Path) -> dict:
    """The first document of a saved page's embedded data."""
    import json
    import re

    html = path.read_text("utf-8")
    found = re.search(r'id="attention-data">(.*?)</script>', html, re.S)
    assert found is not None
    return json.loads(found.group(1))["documents"][0]


def _bytes(text: str) -> np.ndarray:
    import base64

    return np.frombuffer(base64.b64decode(text), dtype=np.uint8) / 255


@pytest.mark.parametrize(
    ("command", "layers"),
    [
        (["grid", CAT, "--layers", "0", "--heads", "1:4"], [0]),
        (["run", CAT, "--heads", "0:3"], range(6)),
    ],
)
def test_the_page_mean_is_every_heads_mean_when_heads_narrow(
    runner: CliRunner, tmp_path: Path, reference_attention, default_model_path: str, command, layers
) -> None:
    """The terminal's, the PNG's and the button's "mean" is every head's: the page's too."""
    page = tmp_path / "page.html"
    result = runner.invoke(app, [*command, "--save", str(page)], env=WIDE)
    assert result.exit_code == 0, result.output
    document = _page_document(page)
    expected = reference_attention(default_model_path, CAT).numpy()[list(layers)].mean(axis=1)
    assert document["mean_of"] == 12 and len(document["heads"]) == 3
    mean = _bytes(document["mean_weights"]).reshape(expected.shape)
    assert np.abs(mean - expected).max() <= 0.5 / 255 + 1e-6


def test_rollout_and_grid_pages_name_what_they_hold(runner: CliRunner, tmp_path: Path) -> None:
    rollout, grid_page = tmp_path / "rollout.html", tmp_path / "grid.html"
    result = runner.invoke(app, ["run", CAT, "--rollout", "--save", str(rollout)], env=WIDE)
    assert result.exit_code == 0, result.output
    assert _page_document(rollout)["rollout"] is True
    result = runner.invoke(app, ["grid", CAT, "--layers", "0", "--save", str(grid_page)], env=WIDE)
    assert result.exit_code == 0, result.output
    text = grid_page.read_text("utf-8")
    assert text.count("all-MiniLM-L6-v2") == 2  # the <title> and the data's "model", once each
    assert '"note":"every layer × head"' in text


def test_a_dpi_that_cannot_fit_is_refused(runner: CliRunner, tmp_path: Path, monkeypatch) -> None:
    from attninspect.model import memory

    png = tmp_path / "x.png"
    monkeypatch.setattr(memory, "system_available_bytes", lambda: 2**20)  # 1 MiB free
    before_load = ["run", CAT, "--model", str(tmp_path / "no-such-model"), "--save", str(png)]
    result = runner.invoke(app, [*before_load, "--dpi", "1200"], env=WIDE)
    assert result.exit_code == 1 and not png.exists()
    assert result.stderr.startswith("Error: --dpi 1200: a 3,600 × 2,400 pixel PNG needs about")
    monkeypatch.setattr(memory, "system_available_bytes", lambda: 300 * 2**20)  # 300 MiB free
    result = runner.invoke(app, ["run", CAT, "--save", str(png), "--dpi", "1200"], env=WIDE)
    assert result.exit_code == 1 and not png.exists()
    assert "pixel PNG needs about" in result.stderr and "use --dpi" in result.stderr
    result = runner.invoke(app, ["run", CAT, "--save", str(png), "--dpi", "100"], env=WIDE)
    assert result.exit_code == 0 and png.exists()
