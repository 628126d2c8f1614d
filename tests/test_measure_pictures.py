"""``--measure scores|norms`` in every picture: `run --save` and `grid` (PNG/SVG, the terminal
panels, JSON, npz and the HTML page's data) show the numbers `Inspector.run(text, measure=...)`
gives, name the measure, colour scores and norms from their smallest to their largest value,
leave masked cells blank, and take the head mean of norms as the norm of the sum over heads;
pictures of weights keep their scale and words."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

from attninspect import Inspector
from attninspect.cli.app import app
from attninspect.render import figures, html_page
from attninspect.render.figures import figure_bytes, matrix_figure, panels_figure
from attninspect.render.grid import MEASURE_SHADES, SHADES, write_grid
from tests.conftest import CAT, synthetic_inspection

WIDE = {"COLUMNS": "200"}
TOKENS = ["[CLS]", "a", "b", "c", "[SEP]"]
MASKED_WHITE = (255, 255, 255)


def _scores() -> np.ndarray:
    """A causal (T, T) matrix of scores: NaN above the diagonal, negative and positive below."""
    values = np.linspace(-3.0, 5.0, 25, dtype=np.float32).reshape(5, 5)
    values[np.triu_indices(5, 1)] = np.nan
    return values


def _drawn(build) -> tuple[object, np.ndarray]:
    """Build and draw a figure under the pictures' style: the figure and its RGBA pixels."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    with figures._style():
        figure = build()
        canvas = FigureCanvasAgg(figure)
        canvas.draw()
    return figure, np.asarray(canvas.buffer_rgba())


def _pixel(figure, pixels: np.ndarray, row: int, column: int, axes: int = 0) -> tuple:
    """The colour drawn at the centre of cell (row, column) of a heatmap."""
    x, y = figure.axes[axes].transData.transform((column, row))
    return tuple(int(c) for c in pixels[int(pixels.shape[0] - y), int(x)][:3])


def _viridis(fraction: float) -> tuple:
    from matplotlib import colormaps

    return tuple(round(255 * c) for c in colormaps["viridis"](fraction)[:3])


def _near(found: tuple, expected: tuple, tolerance: int = 3) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(found, expected, strict=True))


def test_scores_go_from_their_smallest_value_and_masked_cells_are_blank() -> None:
    scores = _scores()
    figure, pixels = _drawn(lambda: matrix_figure(scores, TOKENS, "t", measure="scores"))
    image = figure.axes[0].images[0]
    assert image.get_clim() == (pytest.approx(-3.0), pytest.approx(5.0))
    assert _pixel(figure, pixels, 0, 3) == MASKED_WHITE  # masked: blank, not the low colour
    assert _near(_pixel(figure, pixels, 0, 0), _viridis(0.0))  # the smallest score: darkest
    assert _near(_pixel(figure, pixels, 4, 4), _viridis(1.0))  # the largest: yellow
    bar = figure.axes[1].get_ylabel()
    assert bar == "attention score (pre-softmax logit) (row: from, column: to)\nblank = masked"


def test_norms_name_the_norm_of_the_sum_for_the_head_mean() -> None:
    norms = np.abs(_scores()[::-1].copy())
    norms[np.isnan(norms)] = 0.5
    figure, _ = _drawn(lambda: matrix_figure(norms, TOKENS, "t", measure="norms", summed=True))
    label = figure.axes[1].get_ylabel()
    assert label.startswith("norm of the sum over heads ‖Σₕ αₕfₕ(x)‖") and "masked" not in label
    assert figure.axes[0].images[0].get_clim()[0] == pytest.approx(float(norms.min()))
    alone, _ = _drawn(lambda: matrix_figure(norms, TOKENS, "t", measure="norms"))
    assert alone.axes[1].get_ylabel() == "norm ‖αf(x)‖ (row: from, column: to)"


def test_weights_keep_their_scale_from_zero_and_their_words() -> None:
    weights = np.full((5, 5), 0.2, dtype=np.float32)
    weights[0] = [0.1, 0.2, 0.3, 0.25, 0.15]
    figure, _ = _drawn(lambda: matrix_figure(weights, TOKENS, "t"))
    assert figure.axes[0].images[0].get_clim() == (0.0, pytest.approx(0.3))
    assert figure.axes[0].images[0].get_cmap().name == "viridis"
    assert figure.axes[1].get_ylabel() == "attention weight (row: from, column: to)"
    svg = figure_bytes(lambda: panels_figure([[("L0 H0", weights)]], "grid"), "svg").decode()
    assert "weight ÷ the panel's maximum" in svg and "own range" not in svg


def test_grid_figure_of_scores_scales_each_panel_over_its_range_and_blanks_masks() -> None:
    scores = _scores()
    bands = [[("L0 H0", scores), ("L0 H1", scores * 10)]]
    figure, pixels = _drawn(lambda: panels_figure(bands, "m · grid", "scores"))
    title = figure._suptitle.get_text().replace("\n", " ")
    assert "from its own smallest (dark) to its largest value (yellow)" in title
    assert "blank = masked" in title
    for axes in (0, 1):  # each panel its own range: both the same colours
        assert _pixel(figure, pixels, 0, 3, axes) == MASKED_WHITE
        assert _near(_pixel(figure, pixels, 0, 0, axes), _viridis(0.0))
        assert _near(_pixel(figure, pixels, 4, 4, axes), _viridis(1.0))


def _grid_text(inspection, color: bool) -> str:
    console = Console(file=io.StringIO(), width=120, color_system="truecolor" if color else None)
    write_grid(console, inspection, ([0], [0]), color)
    return console.file.getvalue()


def _scored(inspection):
    import dataclasses

    attention = np.broadcast_to(_scores(), inspection.attention.shape).copy()
    return dataclasses.replace(inspection, attention=attention, measure="scores")


def test_terminal_grid_leaves_masked_cells_blank_with_and_without_colour() -> None:
    scored = _scored(synthetic_inspection(TOKENS, layers=1, heads=2))
    plain = _grid_text(scored, color=False)
    assert "attention score (pre-softmax logit): '·░▒▓█' from each panel's smallest" in plain
    assert "blank: masked" in plain and "sink" not in plain
    panel = [line.split("│")[1] for line in plain.splitlines() if line.startswith("│")]
    rows = _scores()
    for number, line in enumerate(panel[:-1]):  # two matrix rows per line
        both = np.isnan(rows[2 * number]) & np.isnan(rows[2 * number + 1])
        assert [char == " " for char in line[:5]] == list(both), panel
        assert all(
            char in MEASURE_SHADES for char, gone in zip(line, both, strict=False) if not gone
        )
    colored = _grid_text(scored, color=True)
    assert "\x1b[" in colored and "▄" in colored  # a masked upper cell over a lower one
    weights = _grid_text(synthetic_inspection(TOKENS, layers=1, heads=2), color=False)
    assert "' ░▒▓█' low→high, per-panel scale" in weights and "masked" not in weights
    inside = "".join(line.split("│")[1] for line in weights.splitlines() if line.startswith("│"))
    assert set(inside) <= set(SHADES)


@pytest.fixture(scope="module")
def gpt2(tiny_models) -> str:
    return str(tiny_models["gpt2"])


def _captured(monkeypatch, name: str) -> list:
    """Every figure that `render.pictures` builds with ``name`` while a command runs."""
    from attninspect.render import pictures

    built: list = []
    original = getattr(pictures, name)

    def build(*args, **kwargs):
        figure = original(*args, **kwargs)
        built.append((args, kwargs, figure))
        return figure

    monkeypatch.setattr(pictures, name, build)
    return built


@pytest.mark.parametrize(("model", "measure", "head"),
                         [("gpt2", "scores", "2"), ("gpt2", "scores", "mean"),
                          ("bert", "norms", "mean"), ("bert", "norms", "1")])  # fmt: skip
def test_run_picture_draws_the_inspectors_numbers(
    runner: CliRunner, tiny_models, tmp_path: Path, monkeypatch, model, measure, head
) -> None:
    built = _captured(monkeypatch, "matrix_figure")
    path, saved = str(tiny_models[model]), tmp_path / "x.svg"
    result = runner.invoke(app, ["run", CAT, "--model", path, "--measure", measure, "--layer", "1",
                                 "--head", head, "--save", str(saved)], env=WIDE)  # fmt: skip
    assert result.exit_code == 0, result.output
    chosen = head if head == "mean" else int(head)
    expected = Inspector(path).run(CAT, measure=measure).view(layer=1, head=chosen).matrix
    (matrix, *_), _, figure = built[0]
    np.testing.assert_allclose(matrix, expected, atol=1e-6, rtol=0)  # NaN where NaN
    finite = expected[np.isfinite(expected)]
    assert figure.axes[0].images[0].get_clim() == (
        pytest.approx(float(finite.min()), abs=1e-6),
        pytest.approx(float(finite.max()), abs=1e-6),
    )
    svg = saved.read_text("utf-8")
    summed = measure == "norms" and head == "mean"
    words = {
        "scores": ["attention scores (pre-softmax logits)", "attention score (pre-softmax logit)",
                   "blank = masked"],
        "norms": ["norms ‖αf(x)‖ (Kobayashi et al. 2020)",
                  "norm of the sum over heads" if summed else "norm ‖αf(x)‖ (row: from"],
    }[measure]  # fmt: skip
    for word in words:
        assert word in svg, word
    assert "attention weight" not in svg
    assert ("norm of the sum" in svg) == summed


def test_grid_picture_shows_every_panel_as_the_inspector_measures_it(
    runner: CliRunner, tiny_models, tmp_path: Path, monkeypatch
) -> None:
    built = _captured(monkeypatch, "panels_figure")
    path = str(tiny_models["bert"])
    result = runner.invoke(app, ["grid", CAT, "--model", path, "--measure", "norms", "--save",
                                 str(tmp_path / "g.png")], env=WIDE)  # fmt: skip
    assert result.exit_code == 0, result.output
    found = Inspector(path).run(CAT, measure="norms")
    (bands, title, measure, summed), _, figure = built[0]
    assert measure == "norms" and summed and "norms ‖αf(x)‖" in title
    for layer, band in enumerate(bands):
        *heads, (label, mean) = band
        for head, (name, matrix) in enumerate(heads):
            assert name == f"L{layer} H{head}"
            np.testing.assert_allclose(matrix, found.attention[layer, head], atol=1e-6)
        assert label == f"L{layer} mean"  # the norm of the sum, not the mean of the heads' norms
        np.testing.assert_allclose(mean, found.head_sum[layer], atol=1e-6)
        assert np.abs(mean - found.attention[layer].mean(axis=0)).max() > 1e-3
    assert "mean panels: the norm of the sum over heads" in figure._suptitle.get_text()


def test_grid_table_json_and_npz_name_the_measure(
    runner: CliRunner, gpt2: str, tmp_path: Path
) -> None:
    args = ["grid", "a b c d", "--model", gpt2, "--measure", "scores"]
    table = runner.invoke(app, args, env=WIDE)
    assert table.exit_code == 0, table.output
    header = table.stdout.splitlines()[0]
    assert (
        header.endswith("· attention scores (pre-softmax logits)")
        and "blank: masked" in table.stdout
    )
    record = json.loads(runner.invoke(app, [*args, "--format", "json"], env=WIDE).stdout)
    found = Inspector(gpt2).run("a b c d", measure="scores")
    assert record["measure"] == "scores"
    shown = np.array(record["all_attention"], dtype=float)
    np.testing.assert_allclose(shown, found.attention, atol=1e-6)
    assert record["attention"][0][1] is None  # the view: the last layer's mean, masked blank
    out = tmp_path / "g.npz"
    result = runner.invoke(app, [*args, "--format", "npz", "--output", str(out)], env=WIDE)
    assert result.exit_code == 0, result.output
    with np.load(out) as arrays:
        assert str(arrays["measure"]) == "scores"
        np.testing.assert_array_equal(arrays["attention_0"], found.attention)


def test_grid_json_of_norms_shows_the_norm_of_the_sum(runner: CliRunner, tiny_models) -> None:
    path = str(tiny_models["bert"])
    args = ["grid", CAT, "--model", path, "--measure", "norms", "--format", "json"]
    record = json.loads(runner.invoke(app, args, env=WIDE).stdout)
    found = Inspector(path).run(CAT, measure="norms")
    np.testing.assert_allclose(np.array(record["attention"]), found.head_sum[-1], atol=1e-6)


@pytest.mark.parametrize("step", ["--rollout", "--words", "--hide-special"])
def test_grid_refuses_steps_defined_on_weights(runner: CliRunner, step: str) -> None:
    result = runner.invoke(app, ["grid", CAT, "--measure", "scores", step])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "--measure scores" in lines[0]
    assert result.stdout == ""


def _document(page: Path) -> dict:
    found = re.search(r'id="attention-data">(.*?)</script>', page.read_text("utf-8"), re.S)
    assert found is not None
    return json.loads(found.group(1))["documents"][0]


def _values(text: str, scale: list[list[float]], shape: tuple) -> np.ndarray:
    """The page's bytes back to values, as its script reads them (255: masked, NaN)."""
    codes = np.frombuffer(base64.b64decode(text), dtype=np.uint8).reshape(len(scale), -1)
    low, high = np.array(scale).T
    values = low[:, None] + codes * ((high - low) / 254)[:, None]
    return np.where(codes == 255, np.nan, values).reshape(shape)


def _step(scale: list[list[float]]) -> float:
    return max(high - low for low, high in scale) / 254


def test_a_scores_page_holds_each_matrix_over_its_own_range_and_masks_blank(
    runner: CliRunner, gpt2: str, tmp_path: Path
) -> None:
    page = tmp_path / "scores.html"
    result = runner.invoke(app, ["run", CAT, "--model", gpt2, "--measure", "scores", "--save",
                                 str(page)], env=WIDE)  # fmt: skip
    assert result.exit_code == 0, result.output
    document = _document(page)
    found = Inspector(gpt2).run(CAT, measure="scores").attention  # (L, H, T, T)
    assert document["measure"] == "scores" and len(document["scale"]) == 2 * 4
    values = _values(document["weights"], document["scale"], found.shape)
    assert np.array_equal(np.isnan(values), np.isnan(found))  # masked: byte 255
    for matrix, (low, high) in zip(values.reshape(8, -1), document["scale"], strict=True):
        assert np.nanmin(matrix) == pytest.approx(low) and np.nanmax(matrix) == pytest.approx(high)
    assert np.nanmax(np.abs(values - found)) <= _step(document["scale"]) / 2 + 1e-7
    assert "mean_weights" not in document  # the page's mean of scores is its own: every head
    text = page.read_text("utf-8")
    assert '"note":"attention scores (pre-softmax logits)"' in text


def test_a_norms_page_holds_every_heads_norms_and_the_norm_of_their_sum(
    runner: CliRunner, tiny_models, tmp_path: Path
) -> None:
    path, page = str(tiny_models["llama"]), tmp_path / "norms.html"
    result = runner.invoke(app, ["run", CAT, "--model", path, "--measure", "norms", "--save",
                                 str(page)], env=WIDE)  # fmt: skip
    assert result.exit_code == 0, result.output
    document = _document(page)
    found = Inspector(path).run(CAT, measure="norms")
    assert document["heads"] == [0, 1, 2, 3] and document["mean_of"] == 4
    heads = _values(document["weights"], document["scale"], found.attention.shape)
    assert np.abs(heads - found.attention).max() <= _step(document["scale"]) / 2 + 1e-7
    mean = _values(document["mean_weights"], document["mean_scale"], found.head_sum.shape)
    assert np.abs(mean - found.head_sum).max() <= _step(document["mean_scale"]) / 2 + 1e-7


def test_quantise_range_rounds_to_the_nearest_of_255_levels_and_reserves_one() -> None:
    values = np.array([[[[-2.0, 0.0], [np.nan, 6.0]], [[1.0, 1.0], [1.0, np.inf]]]])
    text, scale = html_page.quantise_range(values)
    codes = np.frombuffer(base64.b64decode(text), dtype=np.uint8)
    assert scale == [[-2.0, 6.0], [1.0, 1.0]]
    assert codes.tolist() == [0, round(2 / 8 * 254), 255, 254, 0, 0, 0, 255]


def test_a_weights_page_is_the_8_bit_page_it_was(runner: CliRunner, tmp_path: Path) -> None:
    page = tmp_path / "weights.html"
    result = runner.invoke(app, ["run", "The cat sat.", "--save", str(page)], env=WIDE)
    assert result.exit_code == 0, result.output
    document = _document(page)
    assert not {"measure", "scale", "mean_scale"} & set(document)
    found = Inspector().run("The cat sat.").attention
    codes = np.frombuffer(base64.b64decode(document["weights"]), dtype=np.uint8)
    assert np.abs(codes.reshape(found.shape) / 255 - found).max() <= 0.5 / 255 + 1e-6
    assert '"note":"attention"' in page.read_text("utf-8")


@pytest.mark.parametrize("kind", ["png", "svg", "pdf"])
def test_pictures_of_scores_are_deterministic(kind: str) -> None:
    def build():
        return matrix_figure(_scores(), TOKENS, "m\nlayer 0 · head 1 · scores", measure="scores")

    assert figure_bytes(build, kind) == figure_bytes(build, kind)
    bands = [[("L0 H0", _scores()), ("L0 mean", _scores())]]
    grid = figure_bytes(lambda: panels_figure(bands, "g", "scores"), kind)
    assert grid == figure_bytes(lambda: panels_figure(bands, "g", "scores"), kind)


def test_long_measure_titles_fit_their_pictures() -> None:
    """A narrow picture's title is broken between its " · " parts to the axes' width (it ran
    into the colour bar), and a one-panel grid of scores is wide and tall enough for its
    title and its colour bar's label."""
    title = "demo-translate\nlayer 1 · head mean · cross attention scores (pre-softmax logits)"
    matrix = np.arange(88, dtype=np.float32).reshape(8, 11) - 40.0
    figure = matrix_figure(matrix, [f"t{i}" for i in range(8)], title, measure="scores",
                           columns=[f"s{i}" for i in range(11)])  # fmt: skip
    lines = figure.axes[0].get_title().split("\n")
    assert lines == ["demo-translate", "layer 1 · head mean",
                     "cross attention scores (pre-softmax logits)"]  # fmt: skip
    panels = panels_figure([[("L0 H0", matrix[:8, :8])]], "model · every layer × head", "scores")
    width, height = panels.get_size_inches()
    assert width >= 5.5 and height >= 3.6


@pytest.mark.parametrize("measure", ["weights", "norms"])
def test_grid_json_carries_the_mean_panels(runner: CliRunner, tiny_models, measure: str) -> None:
    """The grid's JSON holds the mean panels it draws (``all_attention_mean``: every head's
    mean, or for norms the norm of the sum over heads), not only the heads it keeps."""
    path = str(tiny_models["bert"])
    args = ["grid", CAT, "--model", path, "--layers", "1", "--heads", "0:2", "--format", "json",
            "--measure", measure]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    run = Inspector(path).run(CAT, measure=measure)
    expected = run.head_sum[1] if measure == "norms" else run.attention[1].mean(axis=0)
    np.testing.assert_allclose(record["all_attention_mean"][0], expected, rtol=0, atol=1e-6)
    assert record["all_attention_heads"] == [0, 1]
