"""Pictures as a reader sees them: the terminal grid, and PNG/SVG/PDF figures opened and checked."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image
from rich.cells import cell_len
from rich.console import Console

from attninspect.analysis.ranges import parse_range, pick
from attninspect.render.figures import (
    figure_bytes,
    heads_figure,
    matrix_figure,
    panels_figure,
    tick_step,
)
from attninspect.render.grid import SHADES, grid_panels, layout, pool, pooling_note

TOKENS = ["[CLS]", "the", "cat", "$x$", "<b>it</b>", "was", "warm", "[SEP]"]
SPECIAL = [True, False, False, False, False, False, False, True]


def attention(layers: int = 3, heads: int = 4, length: int = len(TOKENS)) -> np.ndarray:
    """Seeded (L, H, T, T) weights whose rows sum to 1."""
    weights = np.random.default_rng(0).random((layers, heads, length, length)) ** 3
    return (weights / weights.sum(axis=-1, keepdims=True)).astype(np.float32)


def grid_text(weights: np.ndarray, width: int, color: bool, size: int = 16) -> str:
    layers, heads = range(weights.shape[0]), range(weights.shape[1])
    special = (SPECIAL + [False] * weights.shape[-1])[: weights.shape[-1]]
    bands = grid_panels(weights, list(layers), list(heads), special)
    console = Console(file=io.StringIO(), width=width, color_system="truecolor" if color else None)
    for line in layout(bands, width, size, color):
        console.print(line)
    return console.file.getvalue()


def test_pool_keeps_small_matrices_and_averages_blocks() -> None:
    matrix = np.arange(16, dtype=float).reshape(4, 4)
    assert np.array_equal(pool(matrix, 8), matrix)
    assert np.allclose(pool(matrix, 2), [[2.5, 4.5], [10.5, 12.5]])


def test_grid_without_colour_labels_every_panel_and_fits_the_width() -> None:
    weights = attention(layers=6, heads=12)
    text = grid_text(weights, width=100, color=False)
    assert "\x1b" not in text
    for layer in range(6):
        for head in range(12):
            assert f"L{layer} H{head}" in text
        assert f"L{layer} mean" in text
    assert all(cell_len(line) <= 100 for line in text.splitlines())
    assert "sink ." in text
    assert set("".join(text.splitlines()[1:5])) & set(SHADES[1:])


def test_grid_with_colour_uses_half_blocks_and_true_colour() -> None:
    text = grid_text(attention(), width=60, color=True)
    assert "▀" in text and "\x1b[38;2;" in text
    uncoloured = grid_text(attention(), width=60, color=False)
    assert all(cell_len(line) <= 60 for line in uncoloured.splitlines())


def test_grid_pools_long_inputs_and_says_so() -> None:
    weights = attention(layers=1, heads=1, length=40)
    text = grid_text(weights, width=80, color=False, size=10)
    heatmap = [line for line in text.splitlines()[1:] if line and not line.startswith("sink")]
    assert len(heatmap) == 5  # 10 pooled rows, two per line
    assert "pooled to 10 cells" in pooling_note(40, 10, False)


def test_tick_labels_thin_for_long_inputs() -> None:
    assert tick_step(10) == 1
    assert tick_step(130) == 4


def _png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize("kind", ["png", "svg", "pdf"])
def test_matrix_figure_is_deterministic(kind: str) -> None:
    weights = attention()[1, 2]

    def build():
        return matrix_figure(weights, TOKENS, "model · layer 1 · head 2", SPECIAL, focus=4)

    first, second = figure_bytes(build, kind), figure_bytes(build, kind)
    assert first == second and len(first) > 1000


def test_png_has_the_expected_size_and_is_not_blank() -> None:
    weights = attention()[0, 0]
    data = figure_bytes(lambda: matrix_figure(weights, TOKENS, "t", SPECIAL), "png", dpi=100)
    image = _png(data).convert("RGB")
    assert image.size == (520, 400)  # (4 + 1.2) x 4 inches at 100 dpi
    colours = image.getcolors(maxcolors=1_000_000)
    assert colours is not None and len(colours) > 50
    larger = _png(
        figure_bytes(lambda: matrix_figure(weights, TOKENS, "t", SPECIAL), "png", dpi=200)
    )
    assert larger.size == (1040, 800)


def test_svg_keeps_every_token_as_text() -> None:
    weights = attention()[0, 0]
    data = figure_bytes(lambda: matrix_figure(weights, TOKENS, "title", SPECIAL), "svg")
    root = ET.fromstring(data)
    texts = ["".join(node.itertext()) for node in root.iter("{http://www.w3.org/2000/svg}text")]
    for token in TOKENS:
        assert texts.count(token) == 2, token  # one label on each axis
    assert b"<dc:date>" not in data


def test_pdf_has_no_dates() -> None:
    weights = attention()[0, 0]
    data = figure_bytes(lambda: matrix_figure(weights, TOKENS, "t"), "pdf")
    assert data.startswith(b"%PDF") and b"CreationDate" not in data


def test_diff_heads_and_panel_figures_render() -> None:
    weights = attention()
    delta = weights[0, 0] - weights[0, 1]
    diverging = _png(
        figure_bytes(lambda: matrix_figure(delta, TOKENS, "A − B", diverging=True), "png")
    )
    assert diverging.size[0] > 100
    scores = weights[:, :, 4, 2]  # (L, H)
    assert _png(figure_bytes(lambda: heads_figure(scores, "it → cat", "weight"), "png"))
    bands = [[(f"L{layer} H{h}", weights[layer, h]) for h in range(4)] for layer in range(3)]
    svg = figure_bytes(lambda: panels_figure(bands, "grid"), "svg")
    assert b"L2 H3" in svg


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError):
        figure_bytes(lambda: None, "gif")  # type: ignore[arg-type, return-value]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("3", [3]),
        ("-1", [5]),
        ("2:4", [2, 3]),
        ("-2:", [4, 5]),
        ("::2", [0, 2, 4]),
        (":", list(range(6))),
    ],
)
def test_layer_ranges_take_indices_and_python_slices(spec: str, expected: list[int]) -> None:
    assert pick(parse_range(spec), 6, "layers") == expected


@pytest.mark.parametrize("spec", ["x", "1:2:0", "1-2", ""])
def test_bad_ranges_are_refused(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_range(spec)


def test_empty_or_out_of_range_selections_are_refused() -> None:
    with pytest.raises(ValueError, match="out of range"):
        pick(6, 6, "layers")
    with pytest.raises(ValueError, match="none of the 6"):
        pick(slice(4, 2), 6, "layers")


def test_grid_figure_says_each_panel_has_its_own_scale_and_draws_a_colour_bar() -> None:
    weights = attention()
    bands = [[(f"L{layer} H{h}", weights[layer, h]) for h in range(4)] for layer in range(3)]
    root = ET.fromstring(figure_bytes(lambda: panels_figure(bands, "grid"), "svg"))
    texts = ["".join(node.itertext()) for node in root.iter("{http://www.w3.org/2000/svg}text")]
    assert any("each panel scaled to its own maximum" in text for text in texts)
    assert {"0", "max", "weight ÷ the panel's maximum"} <= set(texts)  # the colour bar


def test_a_png_that_cannot_fit_in_memory_is_refused_before_it_is_drawn() -> None:
    from attninspect.errors import AttnInspectError
    from attninspect.render.figures import picture_memory

    weights = np.full((512, 512), 1 / 512, np.float32)

    def build():
        return matrix_figure(weights, [f"t{i}" for i in range(512)], "long")

    needed = picture_memory((13.2, 12.0), 1200)  # the figure's inches at 512 tokens
    assert 5 * 2**30 < needed < 8 * 2**30  # measured: 6.3 GB
    with pytest.raises(AttnInspectError, match=r"--dpi 1200: a 15,840 × 14,400 pixel PNG"):
        figure_bytes(build, "png", dpi=1200, available=needed // 2)
    with pytest.raises(AttnInspectError, match=r"use --dpi 848 or less"):
        figure_bytes(build, "png", dpi=1200, available=needed // 2)
    assert figure_bytes(build, "png", dpi=20, available=needed // 2).startswith(b"\x89PNG")
