"""Only what the terminal table shows of the selected layer: where the table is the only output
and shows a window, the selected layer's rows in sight are computed (with the colour scale's
end, from every row a block at a time, where the table colours), never its (Tq, Tk) matrix.
Every number shown equals eager attention to 1e-5, and the table's text equals that of
``--eager`` (which computes every layer whole, as before)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from attninspect.analysis import digest as digest_module
from attninspect.analysis.digest import WholeLayers
from attninspect.analysis.matrix_window import Sight, WindowRows
from attninspect.analysis.pipeline import ViewOptions
from attninspect.analysis.selection import window
from attninspect.api import Inspector, batching
from attninspect.cli.app import app
from attninspect.errors import InputError
from attninspect.files.sources import SourceText
from attninspect.model.estimate import Sizes, estimate_batch
from attninspect.render.matrix import PIPE_ROWS, fitting_tokens, rows_in_sight

# Texts of 20 to 60 tokens (the tiny models take 64), batched together: padded.
TEXTS = [
    "The cat sat on the mat because it was warm, and then the dog came in from the cold rain.",
    " ".join(["Unbelievably, tokenization happens everywhere today."] * 4),
    "A dog ran to the red house near the old bridge by the river.",
]
OPTIONS = [
    {"focus": "@12"},
    {},
    {"focus": "@5", "words": True},
    {"focus": "@9", "hide_special": True},
    {"words": True, "hide_special": True, "head": "max"},
    {"focus": "@15", "head": "1", "words": True, "hide_special": True},
    {"head": "0", "layer": 0},
]


def _items(texts: list[str]) -> list[SourceText]:
    return [SourceText(text, index, None) for index, text in enumerate(texts)]


@pytest.fixture(scope="module")
def inspectors(tiny_models):
    return {
        name: (Inspector(str(path), batch_size=8), Inspector(str(path), batch_size=8, eager=True))
        for name, path in tiny_models.items()
    }


def test_window_rows_gather_what_the_whole_matrix_gives() -> None:
    """Rows fed a block at a time: the rows in sight, the ends of the scale and each column's
    mean, bit for bit as the table computes them from the whole matrix."""
    rng = np.random.default_rng(0)
    for rows, columns, step in ((301, 301, 7), (64, 9, 5), (1, 1, 1), (2000, 130, 33)):
        matrix = rng.random((rows, columns), dtype=np.float32)  # (Tq, Tk)
        sight = window(rows, 17, rows // 2)
        gathered = WindowRows((rows, columns), sight)
        for start in range(0, rows, step):
            positions = np.arange(start, min(start + step, rows))
            gathered.add(positions, matrix[positions])
        found = gathered.done()
        assert np.array_equal(found.values, matrix[sight.start : sight.stop])
        assert found.high == matrix.max() and found.low == matrix.min()
        assert np.array_equal(found.key_means, np.abs(matrix).mean(axis=0))
        assert found[sight.start, columns - 1] == matrix[sight.start, columns - 1]
        with pytest.raises(IndexError):
            found.row(sight.stop)
    matrix[3, 2] = np.nan  # another measure's masked cell: left out of the scale, as the table
    gathered = WindowRows(matrix.shape, window(len(matrix), 5, 3))
    gathered.add(np.arange(len(matrix)), matrix)
    found = gathered.done()
    assert found.high == np.nanmax(matrix) and found.low == np.nanmin(matrix)
    assert np.array_equal(found.key_means, np.abs(matrix).mean(axis=0), equal_nan=True)


def _same_numbers(fast, eager, sight: Sight, special: list[bool]) -> None:
    """Every number the table reads of ``fast`` (a view with a window) equals ``eager``'s."""
    if isinstance(eager, InputError):
        assert isinstance(fast, InputError) and str(fast) == str(eager)
        return
    (_, view), (_, whole) = fast, eager
    shown = view.window
    assert shown is not None and view.matrix.size == 0  # the matrix itself was never made
    assert shown.shape == whole.matrix.shape
    assert shown.rows == window(whole.matrix.shape[0], sight.rows, whole.focus)
    expected = whole.matrix[shown.rows.start : shown.rows.stop]
    np.testing.assert_allclose(shown.values, expected, rtol=0, atol=1e-5)
    means = np.abs(whole.matrix).mean(axis=0)  # (Tk,)
    if sight.scale:
        np.testing.assert_allclose(shown.high, whole.matrix.max(), rtol=0, atol=1e-5)
        np.testing.assert_allclose(shown.key_means, means, rtol=0, atol=1e-5)
    elif not view.hidden_special:  # without the scale: the special keys' columns only
        np.testing.assert_allclose(shown.key_means[special], means[special], rtol=0, atol=1e-5)
    np.testing.assert_allclose(view.sink_share, whole.sink_share, rtol=0, atol=1e-5)
    assert view.focus == whole.focus
    layers = zip(view.focus_by_layer, whole.focus_by_layer, strict=True)
    tops = [(view.focus_top, whole.focus_top), *layers]
    for ranks_a, ranks_b in tops:
        np.testing.assert_allclose(
            [rank.weight for rank in ranks_a], [rank.weight for rank in ranks_b], atol=1e-5
        )


@pytest.mark.parametrize("name", ["bert", "gpt2", "llama"])
@pytest.mark.parametrize("scale", [True, False], ids=["colour", "plain"])
def test_the_rows_in_sight_equal_eager_attention(inspectors, name, scale) -> None:
    fast, eager = inspectors[name]
    sight = Sight(7, scale)
    for options in OPTIONS:
        view = ViewOptions.parse(**options)
        found = fast.view_batch(_items(TEXTS), view, WholeLayers(sight=sight))
        expected = eager.view_batch(_items(TEXTS), view, WholeLayers())
        for each_fast, each_eager in zip(found, expected, strict=True):
            special = [] if isinstance(each_eager, InputError) else each_eager[0].keys.special
            _same_numbers(each_fast, each_eager, sight, list(special))


def test_the_rows_in_sight_cover_every_table(tiny_models) -> None:
    """`rows_in_sight` is at least what `matrix_windows` shows, whatever the tokens' labels:
    its rows around the focus hold the table's."""
    for width in (20, 41, 80, 100, 157, 300):
        for precision in (0, 2, 5):
            for size in (None, 1, 6, 40):
                for terminal in (True, False):
                    bound = rows_in_sight(width, terminal, precision, size, False)
                    assert bound is not None
                    for label in range(3, 17):
                        fit = fitting_tokens(width, precision + 2, label)
                        rows = size or max(fit, 0 if terminal else PIPE_ROWS)
                        for length in (1, 5, 60, 500):
                            for focus in (None, 0, length // 3, length - 1):
                                shown = window(length, rows, focus)
                                held = window(length, bound, focus)
                                assert set(shown) <= set(held)
    assert rows_in_sight(100, True, 2, None, True) is None  # --full: every row


def _table(stdout: str) -> str:
    return re.sub(r"[0-9.]+ s\b", "", stdout)  # the seconds


TABLE_OPTIONS = [
    [],
    ["--focus", "@30"],
    ["--focus", "@4", "--words"],
    ["--hide-special", "--focus", "@20", "--head", "max"],
    ["--window", "5", "--head", "2", "--words", "--hide-special"],
    ["--layer", "0", "--focus", "@40", "--precision", "3"],
]


@pytest.mark.parametrize("name", ["bert", "gpt2", "llama"])
def test_the_table_is_the_same_and_no_matrix_is_made(runner, tiny_models, name, monkeypatch):
    """The table's text, in a pipe and on a coloured terminal, equals that of --eager, and the
    selected layer's rows never fill a (Tq, Tk) matrix."""
    text = TEXTS[1]
    model = ["--model", str(tiny_models[name])]
    made = []
    original = digest_module.RowLayer

    def row_layer(steps, focus, matrix, window=None):
        assert matrix is None, "the selected layer's whole matrix was made"
        made.append(window)
        return original(steps, focus, matrix, window)

    for env in ({}, {"FORCE_COLOR": "1", "COLUMNS": "90"}, {"FORCE_COLOR": "1", "COLUMNS": "60"}):
        for options in TABLE_OPTIONS:
            monkeypatch.setattr(digest_module, "RowLayer", row_layer)
            made.clear()
            found = runner.invoke(app, ["run", text, *model, *options], env=env)
            assert found.exit_code == 0, found.stderr
            assert any(window is not None for window in made)
            monkeypatch.setattr(digest_module, "RowLayer", original)
            expected = runner.invoke(app, ["run", text, *model, *options, "--eager"], env=env)
            assert _table(found.stdout) == _table(expected.stdout), (env, options)


def test_other_outputs_still_compute_the_whole_matrix(runner, tiny_models, tmp_path) -> None:
    """--full, json, --save and --all-layers need the selected matrix whole: no window."""
    import json

    model = ["--model", str(tiny_models["llama"])]
    found = runner.invoke(app, ["run", TEXTS[1], *model, "--format", "json"])
    expected = runner.invoke(app, ["run", TEXTS[1], *model, "--format", "json", "--eager"])
    matrix = np.array(json.loads(found.stdout)["attention"])
    np.testing.assert_allclose(matrix, json.loads(expected.stdout)["attention"], atol=1e-5)
    for options in (["--full"], ["--save", str(tmp_path / "m.png")], ["--all-layers"]):
        found = runner.invoke(app, ["run", TEXTS[1], *model, *options])
        assert found.exit_code == 0, found.stderr
        expected = runner.invoke(app, ["run", TEXTS[1], *model, *options, "--eager"])
        assert _table(found.stdout) == _table(expected.stdout)


def test_an_encoder_decoder_table_is_unchanged(runner, seq2seq_models) -> None:
    """BART keeps every layer eager (no fast layers): its table is --eager's, every kind."""
    model = ["--model", str(seq2seq_models["bart"])]
    for kind in ("encoder", "decoder", "cross"):
        options = ["--target", "Hard dates.", "--attention", kind, "--focus", "@2"]
        found = runner.invoke(app, ["run", "Dates are hard to read.", *model, *options])
        assert found.exit_code == 0, found.stderr
        expected = runner.invoke(
            app, ["run", "Dates are hard to read.", *model, *options, "--eager"]
        )
        assert _table(found.stdout) == _table(expected.stdout)


def test_the_estimate_counts_the_rows_in_sight() -> None:
    """16,384 tokens: the table's 64 rows in sight, not the selected (T, T) matrix."""
    sizes, n = Sizes(2, 12, 96, 10**6), 16_384
    whole = estimate_batch(sizes, [n], 0, 0, fast=True)
    table = estimate_batch(sizes, [n], 0, 0, 64, fast=True)
    assert whole.kept - table.kept == (n - 64) * n * 4
    assert table.beyond_weights < 256 * 1024**2 < n * n * 4 < whole.beyond_weights


def test_a_text_whose_matrix_does_not_fit_shows_its_table(runner, tiny_models, monkeypatch):
    """Memory for the rows in sight but not for the selected matrix: the table runs, json (which
    writes the whole matrix) is refused."""
    engine = Inspector(str(tiny_models["llama"])).engine
    text = TEXTS[1]
    lengths = [len(engine.tokenizer(text)["input_ids"])]
    plain = estimate_batch(engine.sizes, lengths, 0, 0, fast=True).beyond_weights
    rows = rows_in_sight(80, True, 2, None, False)  # a coloured terminal 80 cells wide
    assert rows is not None and rows < lengths[0]
    sight = estimate_batch(engine.sizes, lengths, 0, 0, rows, fast=True).beyond_weights
    assert sight < plain
    monkeypatch.setattr(batching, "available_bytes", lambda device: (sight + plain) // 2)
    model = ["--model", str(tiny_models["llama"])]
    refused = runner.invoke(app, ["run", text, *model, "--format", "json"])
    assert refused.exit_code == 1 and "tokens need about" in refused.stderr
    terminal = {"COLUMNS": "80", "FORCE_COLOR": "1"}
    done = runner.invoke(app, ["run", text, *model, "--focus", "@30"], env=terminal)
    assert done.exit_code == 0, done.stderr
    assert "▶30" in done.stdout
