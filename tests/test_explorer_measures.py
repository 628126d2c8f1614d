"""The explorer's measures: ``explore --measure M`` starts in M, ``m`` cycles weights → scores →
norms, and the matrix shows `Inspection.view` of that measure (as `run`'s table: masked scores
blank), through Textual's pilot on tiny models and in a real terminal (tmux)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from attninspect import Inspector
from attninspect.explorer.state import ExplorerState
from attninspect.render.matrix import HEAD_SUM_TITLE, MEASURE_TITLES
from tests.conftest import CAT
from tests.explorer_helpers import status
from tests.test_explorer_tmux import Tmux, session  # noqa: F401  (the tmux fixture)

SIZE = (120, 40)


def explore(loader, text: str, check, measure: str = "weights") -> None:
    """Start the app in ``measure``, wait for the sentence, then ``check(app, pilot)``."""
    from attninspect.explorer.app import ExplorerApp

    async def drive() -> None:
        app = ExplorerApp(loader, text, "tiny", measure)
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            await check(app, pilot)

    asyncio.run(drive())


async def settle(app, pilot) -> None:
    await app.wait_until_loaded()
    await app.workers.wait_for_complete()
    await pilot.pause()


async def press(app, pilot, *keys: str) -> None:
    for key in keys:
        await pilot.press(key)
        await settle(app, pilot)


def drawn(app) -> list[list[str]]:
    """The matrix as drawn, cell by cell (fixed width: a masked score is an empty cell)."""
    from attninspect.explorer.panels import HEADER_LINES
    from attninspect.explorer.widgets import MatrixView

    matrix = app.query_one(MatrixView)
    window = matrix.window
    assert list(window.keys) == list(range(len(window.keys)))  # every column, no gap
    rows = []
    for line in matrix.plain.splitlines()[HEADER_LINES:]:
        cells = line[window.label_width :]
        step = window.cell + 1
        rows.append([cells[k * step + 1 : (k + 1) * step].strip() for k in range(len(window.keys))])
    return rows


def expected(matrix: np.ndarray, measure: str) -> list[list[str]]:
    if measure == "weights":
        return [[f"{value:.2f}"[-4:] for value in row] for row in matrix]
    return [["" if np.isnan(value) else f"{value:.2f}" for value in row] for row in matrix]


def assert_shows(app, path: str, measure: str) -> None:
    """The screen holds run's numbers for ``measure`` at the app's layer and head."""
    view = Inspector(path).run(CAT, measure=measure).view(**app.state.view_options())
    assert app.state.measure == app.current[0].measure == measure
    np.testing.assert_array_equal(app.current[1].matrix, view.matrix)  # NaN where NaN
    assert drawn(app) == expected(view.matrix, measure)


def test_status_names_the_measure_and_m_cycles_it() -> None:
    state = ExplorerState(words=True, rollout=True)
    scores = state.next_measure()
    assert scores.measure == "scores" and scores.transforms() == []  # defined on weights
    assert "scores before the softmax (m: next)" in scores.status(6, 12)
    assert "raw attention" not in scores.status(6, 12)
    norms = scores.next_measure()
    assert norms.measure == "norms" and "norms ‖αf(x)‖ (m: next)" in norms.status(6, 12)
    assert norms.next_measure().measure == "weights"
    assert ExplorerState().status(6, 12) == ExplorerState(measure="weights").status(6, 12)
    assert "scores" not in ExplorerState().status(6, 12)
    assert norms.options().measure == "norms" and "measure" not in norms.view_options()


def test_explore_starts_in_scores_and_m_cycles_the_matrix(tiny_models) -> None:
    path = str(tiny_models["gpt2"])
    runs: list[str] = []

    class Counting(Inspector):
        def run(self, texts, **keywords):  # type: ignore[override]
            runs.append(keywords.get("measure", "weights"))
            return super().run(texts, **keywords)

    async def check(app, pilot) -> None:
        assert "scores before the softmax" in status(app)
        assert_shows(app, path, "scores")
        assert drawn(app)[0][1:] == [""] * (len(app.current[0].tokens) - 1)  # masked: blank
        assert MEASURE_TITLES["scores"] in app.query_one("#note").text.plain
        await press(app, pilot, "right", "right", "right", "up")  # head 1, layer 0
        assert (app.state.head, app.state.layer) == (1, 0)
        assert_shows(app, path, "scores")
        await press(app, pilot, "m")
        assert "norms ‖αf(x)‖" in status(app)
        assert_shows(app, path, "norms")
        await press(app, pilot, "left", "left", "left")  # the head mean: ‖Σₕαf‖
        assert app.state.head == "mean"
        assert_shows(app, path, "norms")
        assert HEAD_SUM_TITLE in app.query_one("#note").text.plain
        await press(app, pilot, "m")
        assert "raw attention" in status(app)
        assert_shows(app, path, "weights")
        await press(app, pilot, "m")  # scores again: shown from the first pass
        assert_shows(app, path, "scores")

    explore(lambda: Counting(path), CAT, check, measure="scores")
    assert runs == ["scores", "norms", "weights"]  # each measure ran once


def test_steps_on_weights_and_the_model_view_under_a_measure(tiny_models) -> None:
    path = str(tiny_models["llama"])

    async def check(app, pilot) -> None:
        await press(app, pilot, "w", "s")
        assert app.state.transforms() == ["words", "special hidden"]
        await press(app, pilot, "m")  # scores: the steps defined on weights go off, and it says
        assert app.state.measure == "scores" and app.state.transforms() == []
        notes = [str(note.message) for note in app._notifications]
        assert any("words and special hidden off" in note for note in notes)
        for key in ("r", "w", "s"):
            await press(app, pilot, key)
            assert app.state.transforms() == [] and app.state.measure == "scores", key
        notes = [str(note.message) for note in app._notifications]
        assert any("rollout is defined on attention weights" in note for note in notes)
        await press(app, pilot, "g")  # the model view draws weights only
        assert type(app.screen).__name__ != "GridScreen"
        await press(app, pilot, "slash")
        app.screen.query_one("Input").value = "it → mat"
        await press(app, pilot, "enter")
        assert "ranked by scores before the softmax" in screen_text(app)
        top = Inspector(path).heads(CAT, "it", "mat", measure="scores").scores[0]
        assert f"{top.weight:.3f}" in screen_text(app)
        await press(app, pilot, "escape", "slash")
        app.screen.query_one("Input").value = "cat → mat"  # a key every head masks
        await press(app, pilot, "enter")
        notes = [str(note.message) for note in app._notifications]
        assert any("has no score" in note for note in notes)
        await press(app, pilot, "d")
        app.screen.query_one("Input").value = "The dog sat on the rug because it was cold."
        await press(app, pilot, "enter")
        text = screen_text(app)
        assert "scores before the softmax" in " ".join(text.split()) and "nan" not in text

    explore(lambda: Inspector(path), CAT, check)


def test_a_model_without_the_tap_keeps_weights(hooks_only_model) -> None:
    """m on a model whose attention does not pass the tap says why, and stays on weights."""

    tmp_path = hooks_only_model  # MPNet: its attention does not pass the tap

    async def check(app, pilot) -> None:
        await press(app, pilot, "m")
        assert app.state.measure == "weights" and app.current[0].measure == "weights"
        notes = [str(note.message) for note in app._notifications]
        assert any("(MPNetModel) cannot give measure=scores" in note for note in notes), notes

    explore(lambda: Inspector(str(tmp_path)), CAT, check)


def screen_text(app) -> str:
    import io

    from rich.console import Console

    console = Console(file=io.StringIO(), width=120, color_system=None)
    console.print(app.screen.body)
    return console.file.getvalue()


def test_explore_measure_in_a_terminal(session: Tmux) -> None:  # noqa: F811
    session.start(CAT, "--measure", "norms")
    pane = session.wait(lambda pane: "norms ‖αf(x)‖ (m: next)" in pane, "norms in the status")
    assert "12:[SEP]" in pane and HEAD_SUM_TITLE.strip(", ") in pane
    session.keys("m")
    session.wait(lambda pane: "raw attention" in pane and "(m: next)" not in pane, "weights")
    session.keys("m")
    session.wait(lambda pane: "scores before the softmax (m: next)" in pane, "scores")
    session.keys("q")
    assert session.exit_status() == 0


@pytest.mark.parametrize("value", ["logits"])
def test_explore_refuses_a_bad_measure(runner, value: str) -> None:
    from attninspect.cli.app import app

    result = runner.invoke(app, ["explore", CAT, "--measure", value])
    assert result.exit_code == 2 and "'weights', 'scores', 'norms'" in result.stderr
