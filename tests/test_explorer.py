"""`attninspect explore`: the state's key moves, and the app driven by Textual's pilot."""

from __future__ import annotations

import asyncio
import json

import pytest

from attninspect.errors import AttnInspectError
from attninspect.explorer.state import ExplorerState, head_cycle, selector_for
from tests.conftest import CAT
from tests.explorer_helpers import FakeInspector, expected_cells, shown_cells, status

SIZE = (120, 40)


def test_head_cycle_walks_mean_max_then_every_head() -> None:
    assert head_cycle(3) == ["mean", "max", 0, 1, 2]
    state = ExplorerState()
    seen = []
    for _ in range(6):
        state = state.move_head(1, 3)
        seen.append(state.head)
    assert seen == ["max", 0, 1, 2, "mean", "max"]
    assert ExplorerState().move_head(-1, 3).head == 2


def test_layers_stop_at_both_ends() -> None:
    state = ExplorerState(layer=-1)
    assert state.move_layer(1, 6).layer == 5
    assert state.move_layer(-1, 6).layer == 4
    assert ExplorerState(layer=0).move_layer(-1, 6).layer == 0


def test_rollout_averages_the_heads() -> None:
    state = ExplorerState(head=3).toggle("rollout")
    assert state.rollout and state.head == "mean"
    assert not state.toggle("rollout").rollout


def test_focus_is_named_by_text_and_occurrence() -> None:
    tokens = ["[CLS]", "the", "cat", "sat", "on", "the", "mat", "[SEP]"]
    assert selector_for(tokens, 5) == "the#2"
    assert selector_for(tokens, 2) == "cat#1"
    assert selector_for(["a", "#"], 1) == "@1"  # "##1" names WordPiece's token "##1"


def test_status_names_layer_head_and_transforms() -> None:
    line = ExplorerState(layer=4, head=7, words=True, hide_special=True).status(6, 12)
    assert "layer 4" in line and "head 7" in line
    assert "words" in line and "special hidden" in line
    assert "raw attention" in ExplorerState().status(6, 12)


@pytest.fixture(scope="module")
def inspector():
    """The default model, loaded once for every pilot test here."""
    from attninspect import Inspector

    return Inspector()


class Loads:
    """A loader that counts how often the model is asked for."""

    def __init__(self, inspector) -> None:
        self.inspector, self.count = inspector, 0

    def __call__(self):
        self.count += 1
        return self.inspector


def explore(loader, text: str | None, keys: list[str], check, size=SIZE) -> None:
    """Start the app, wait for the model, press ``keys``, then ``check(app, pilot)``."""
    from attninspect.explorer.app import ExplorerApp

    async def drive() -> None:
        app = ExplorerApp(loader, text)
        async with app.run_test(size=size) as pilot:
            await settle(app, pilot)
            for key in keys:
                await pilot.press(key)
                await settle(app, pilot)
            await check(app, pilot)

    asyncio.run(drive())


async def settle(app, pilot) -> None:
    await app.wait_until_loaded()
    await app.workers.wait_for_complete()
    await pilot.pause()


def assert_matrix_is_the_view(app) -> None:
    """The numbers on screen are `Inspection.view` for the app's state."""
    view = app.inspection.view(**app.state.view_options())
    shown, cells = shown_cells(app)
    assert cells == expected_cells(view, shown)
    assert (app.current[1].matrix == view.matrix).all()


def test_first_frame_is_the_last_layer_mean(inspector) -> None:
    async def check(app, pilot) -> None:
        assert "layer 5" in status(app) and "head mean" in status(app)
        assert app.current[0].tokens[8] == "it"
        assert_matrix_is_the_view(app)

    explore(Loads(inspector), CAT, [], check)


KEY_CASES = [
    (["right"], {"head": "max"}),
    (["right", "right", "right"], {"head": 1}),
    (["left"], {"head": 11}),
    (["up", "up"], {"layer": 3}),
    (["down"], {"layer": 5}),
    (["w"], {"words": True}),
    (["s"], {"hide_special": True}),
    (["right", "r"], {"rollout": True, "head": "mean"}),
    (
        ["up", "w", "s", "right", "right"],
        {"layer": 4, "words": True, "hide_special": True, "head": 0},
    ),
]


def test_keys_change_the_view_and_the_matrix_follows(inspector) -> None:
    """Each key sequence from the first frame's state; one app for all of them."""

    async def check(app, pilot) -> None:
        for keys, expected in KEY_CASES:
            app.change(ExplorerState())
            for key in keys:
                await pilot.press(key)
            await settle(app, pilot)
            for name, value in expected.items():
                assert getattr(app.state, name) == value, (keys, name)
            line = status(app)
            assert f"layer {app.state.layer}" in line and f"head {app.state.head}" in line
            assert_matrix_is_the_view(app)

    explore(Loads(inspector), CAT, [], check)


def test_enter_and_click_make_a_row_the_focus(inspector) -> None:
    async def check(app, pilot) -> None:
        for _ in range(8):
            await pilot.press("j")
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.state.focus == "it#1" and app.current[1].focus == 8
        assert "what it (@8) attends to" in str(app.query_one("#focus").render())
        assert "focus it#1" in status(app)
        assert_matrix_is_the_view(app)
        await pilot.press("w")  # the focus follows the token into the word view
        await settle(app, pilot)
        assert app.current[0].tokens[app.current[1].focus] == "it"
        await pilot.click("#matrix", offset=(5, 3 + 6))  # the row of token 6 (mat)
        await settle(app, pilot)
        assert app.state.focus == "mat#1"
        await pilot.press("escape")
        assert app.state.focus is None

    explore(Loads(inspector), CAT, [], check)


def test_a_new_sentence_runs_without_reloading(inspector) -> None:
    loads = Loads(inspector)
    other = "The trophy did not fit in the suitcase because it was too big."

    async def check(app, pilot) -> None:
        await pilot.press("up", "right", "t")
        await settle(app, pilot)
        app.screen.query_one("Input").value = other
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.inspection.text == other and "suitcase" in app.current[0].tokens
        assert app.state.layer == 4 and app.state.head == "max"  # the view is kept
        assert_matrix_is_the_view(app)
        await pilot.press("t", "escape")  # Escape keeps the sentence
        await settle(app, pilot)
        assert app.inspection.text == other

    explore(loads, CAT, [], check)
    assert loads.count == 1


def test_without_text_the_explorer_asks_for_one(inspector) -> None:
    async def check(app, pilot) -> None:
        assert type(app.screen).__name__ == "PromptScreen"
        app.screen.query_one("Input").value = "Hello world."
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.current[0].tokens == ["[CLS]", "hello", "world", ".", "[SEP]"]

    explore(Loads(inspector), None, [], check)


def test_a_model_that_fails_to_load_ends_the_app_with_status_1() -> None:
    def broken():
        raise AttnInspectError("cannot load model 'nowhere': no such folder")

    from attninspect.explorer.app import ExplorerApp

    async def drive() -> ExplorerApp:
        app = ExplorerApp(broken, CAT)
        async with app.run_test(size=SIZE):
            for _ in range(200):
                if app.return_code is not None:
                    break
                await asyncio.sleep(0.01)
        return app

    app = asyncio.run(drive())
    assert app.return_code == 1
    assert isinstance(app.error, AttnInspectError) and "nowhere" in str(app.error)


def test_heads_grid_diff_help_and_export(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    fake = FakeInspector()

    async def check(app, pilot) -> None:
        await pilot.press("slash")
        app.screen.query_one("Input").value = "cat → mat"
        await pilot.press("enter")
        await settle(app, pilot)
        assert "which heads link cat (@2) to mat (@6)" in screen_text(app)
        await pilot.press("escape", "g", "down", "right", "right", "enter")
        await settle(app, pilot)
        assert (app.state.layer, app.state.head) == (1, 2)  # from L1 H0 (layer 1 was shown)
        await pilot.press("question_mark")
        assert "rollout" in screen_text(app)
        await pilot.press("escape", "e")
        assert app.screen.query_one("Input").value == "attninspect-L1-H2.png"
        app.screen.query_one("Input").value = "view.json"
        await pilot.press("enter")
        await settle(app, pilot)
        exported = json.loads((tmp_path / "view.json").read_text())
        assert exported["attention"] == app.current[1].matrix.tolist()
        assert exported["layer"] == 1 and exported["head"] == 2
        await pilot.press("e")
        app.screen.query_one("Input").value = "view.svg"
        await pilot.press("enter")
        await settle(app, pilot)
        assert "<svg" in (tmp_path / "view.svg").read_text()
        await pilot.press("d")
        app.screen.query_one("Input").value = "The dog sat on the mat."
        await pilot.press("enter")
        await settle(app, pilot)
        assert "B The dog sat on the mat." in screen_text(app)

    explore(lambda: fake, "The cat sat on the mat.", [], check)
    assert fake.runs == 3  # the first sentence, then A and B of the diff


def screen_text(app) -> str:
    """What a result screen (heads, diff, help) shows, as plain text."""
    import io

    from rich.console import Console

    console = Console(file=io.StringIO(), width=120, color_system=None)
    console.print(app.screen.body)
    return console.file.getvalue()


def test_explore_without_a_terminal_says_so(runner) -> None:
    from attninspect.cli.app import app

    result = runner.invoke(app, ["explore", CAT])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: explore needs a terminal")


def test_markup_in_the_sentence_is_shown_as_typed() -> None:
    text = "[bold red]x[/] \x1b[31mred"

    async def check(app, pilot) -> None:
        shown = app.query_one("#sentence").text.plain
        assert "[bold red]x[/]" in shown and "\\x1b[31mred" in shown

    explore(lambda: FakeInspector(), text, [], check)


def test_a_long_sentence_is_windowed_and_scrolls_with_the_cursor() -> None:
    text = " ".join(f"w{i}" for i in range(60))

    async def check(app, pilot) -> None:
        matrix = app.query_one("#matrix")
        assert matrix.window.start == 0 and matrix.window.size < 62
        assert "in sight" in app.query_one("#note").text.plain
        await pilot.press("pagedown", "pagedown")
        await settle(app, pilot)
        assert matrix.window.start > 0 and app.cursor in matrix.window.shown
        assert_matrix_is_the_view(app)
        await pilot.press("enter")  # the focus is the token under the cursor
        await settle(app, pilot)
        assert app.current[1].focus == app.cursor
        assert_matrix_is_the_view(app)

    explore(lambda: FakeInspector(), text, [], check)


def test_no_color_draws_the_same_numbers(monkeypatch) -> None:
    """Textual's NO_COLOR filter must be able to read every cell's style."""
    monkeypatch.setenv("NO_COLOR", "1")

    async def check(app, pilot) -> None:
        await pilot.press("right", "j", "enter")
        await settle(app, pilot)
        assert "<svg" in app.export_screenshot()  # renders every line through the filter
        assert_matrix_is_the_view(app)

    explore(lambda: FakeInspector(), "The cat sat on the mat.", [], check)


def test_a_slow_view_does_not_block_keys_and_a_stale_one_is_dropped(monkeypatch) -> None:
    """Words and rollout are computed in a worker: keys go on being handled meanwhile, the
    status line says "computing…", and a result for a state left behind is never shown."""
    import threading

    from attninspect.explorer.view_cache import ViewCache

    gate, prepare = threading.Event(), ViewCache.prepare

    def slow(self, options) -> None:
        gate.wait(10)  # held until the test lets it go
        prepare(self, options)

    monkeypatch.setattr(ViewCache, "prepare", slow)

    async def check(app, pilot) -> None:
        try:
            shown = app.current
            await pilot.press("w")  # words: held in the worker
            assert app.state.words and "computing…" in status(app) and app.current is shown
            await pilot.press("up")  # handled while the words view is still computing
            assert "layer 0" in status(app) and "computing…" in status(app)
            await pilot.press("w")  # back to raw attention: ready at once
            assert "computing…" not in status(app) and app.current is not shown
            applied = app.current
        finally:
            gate.set()
        await settle(app, pilot)
        assert app.current is applied and not app.state.words  # the words result was dropped
        assert "computing…" not in status(app)
        assert_matrix_is_the_view(app)
        gate.clear()
        await pilot.press("r")  # rollout: computed in a worker, then shown
        assert "computing…" in status(app)
        gate.set()
        await settle(app, pilot)
        assert app.current[0].attention is not applied[0].attention
        assert "computing…" not in status(app) and "rollout" in status(app)
        assert_matrix_is_the_view(app)

    explore(lambda: FakeInspector(), "The cat sat on the mat.", [], check)


def test_a_too_long_first_sentence_is_truncated_with_a_notification(inspector, monkeypatch) -> None:
    """`--truncate`: the first sentence is cut to the model's limit, and the app says so."""
    monkeypatch.setattr(inspector, "truncate", True)
    text = " ".join(["the cat sat on the mat ."] * 100)  # 700 word pieces, over BERT's 512

    async def check(app, pilot) -> None:
        wanted = "text truncated from 702 to 512 tokens (truncate=True)"  # the API's words
        for _ in range(100):  # delivered by the loading thread just after the first frame
            messages = [notification.message for notification in app._notifications]
            if any(wanted in message for message in messages):
                break
            await pilot.pause(0.02)
        assert any(wanted in message for message in messages), messages
        assert app.current[0].length == 512
        assert_matrix_is_the_view(app)

    explore(Loads(inspector), text, [], check)


def test_the_model_view_is_the_grid_command_and_a_click_opens_a_panel() -> None:
    """`g` draws `attninspect grid`'s panels (no mean panel); a click on one opens it."""
    from rich.text import Text

    from attninspect.render.grid import grid_panels, layout

    async def check(app, pilot) -> None:
        await pilot.press("g")
        grid = app.screen.query_one("#model-grid")
        shown = app.current[0]
        bands = grid_panels(shown.attention, [0, 1], [0, 1, 2], shown.special, mean=False)
        width = grid.geometry.per_row * (grid.geometry.width + 2) - 2
        expected = Text("\n").join(layout(bands, width, grid.geometry.size, True))
        assert grid.text.plain == expected.plain
        x, y = grid.geometry.origin(0, 2)
        await pilot.click("#model-grid", offset=(x + 3, y + 2))
        await settle(app, pilot)
        assert (app.state.layer, app.state.head) == (0, 2)
        assert type(app.screen).__name__ == "Screen"
        assert_matrix_is_the_view(app)

    explore(lambda: FakeInspector(), "The cat sat on the mat.", [], check)


def notifications(app) -> list[str]:
    return [notification.message for notification in app._notifications]


def test_hiding_special_tokens_of_a_text_that_is_only_special_ones_warns(inspector) -> None:
    """`explore "[SEP]"` then `s`: [CLS] [SEP] [SEP] has nothing left to show without its special
    tokens; a warning, the tokens stay shown, the app goes on (it used to end in a traceback)."""

    async def check(app, pilot) -> None:
        assert app.current[0].tokens == ["[CLS]", "[SEP]", "[SEP]"]
        await pilot.press("s")
        await settle(app, pilot)
        assert any("only special tokens" in message for message in notifications(app))
        assert app.return_code is None and not app.state.hide_special
        assert "special hidden" not in status(app)
        assert_matrix_is_the_view(app)
        await pilot.press("t")  # a sentence with words in it: s hides the specials again
        app.screen.query_one("Input").value = "Hello world."
        await pilot.press("enter")
        await settle(app, pilot)
        await pilot.press("s")
        await settle(app, pilot)
        assert app.current[0].tokens == ["hello", "world", "."]

    explore(Loads(inspector), "[SEP]", [], check)


def test_a_refused_sentence_without_a_view_goes_back_to_the_prompt(inspector) -> None:
    """`explore` with no text: a sentence over the model's 512 positions is refused; the status
    says why and the prompt comes back with the sentence in it (it used to say "running the
    new sentence …" for ever)."""
    text = " ".join(["word"] * 600)

    async def check(app, pilot) -> None:
        app.screen.query_one("Input").value = text
        await pilot.press("enter")
        await settle(app, pilot)
        assert "running the new sentence" not in status(app)
        assert status(app).startswith("not run: ") and "512" in status(app)
        assert any("512" in message for message in notifications(app))
        assert type(app.screen).__name__ == "PromptScreen"
        assert app.screen.query_one("Input").value == text
        app.screen.query_one("Input").value = "Hello world."
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.current[0].tokens == ["[CLS]", "hello", "world", ".", "[SEP]"]

    explore(Loads(inspector), None, [], check)


def test_at_80_by_24_the_window_keeps_cls_and_the_focus_rows_top_keys(inspector) -> None:
    """Issue 20, item 14: the explorer at 80 x 24, layer 4, focus `it`: [CLS] (its largest
    weight) and the other top keys stay among the columns, with the view's numbers."""
    text = "The animal didn't cross the street because it was too tired."

    async def check(app, pilot) -> None:
        await pilot.press("up", *["j"] * 10, "enter")
        await settle(app, pilot)
        view = app.current[1]
        assert app.current[0].tokens[view.focus] == "it" and view.layer == 4
        window = app.query_one("#matrix").window
        assert window.columns < len(view.tokens)  # windowed
        assert {entry.index for entry in view.focus_top} | {0, 15} <= set(window.keys)
        assert_matrix_is_the_view(app)
        assert "┆" in app.query_one("#matrix").plain
        assert "kept in sight" in app.query_one("#note").text.plain

    explore(Loads(inspector), text, [], check, size=(80, 24))


def test_n_opens_the_neuron_view_of_the_cursor_row(inspector) -> None:
    """n: the neuron view of the cursor row's query at the current layer and head, the numbers
    `Inspector.neurons` gives; on the head mean, with words or rollout, a line in the status."""
    found = inspector.neurons(CAT, focus="it", layer=4, head=1)

    async def check(app, pilot) -> None:
        await pilot.press("n")
        assert "head mean has no single query" in status(app)
        assert app.screen is app.screen_stack[0]  # nothing opened
        await pilot.press("right", "right", "right", *["j"] * found.focus, "n")
        await settle(app, pilot)
        text = screen_text(app)
        assert f"neuron view · layer 4 · head 1 · query it (@{found.focus})" in text
        for index, token in enumerate(found.key_tokens):
            row = f"{index} {token}"
            line = next(line for line in text.splitlines() if line.strip().startswith(row))
            numbers = line.split()[-3:]
            weight = found.weights[index]
            assert numbers == [
                f"{found.dots[index]:.2f}",
                f"{found.scores[index]:.2f}",
                f"{weight:.3f}",
            ]
        await pilot.press("escape", "w", "n")
        assert "turn words (w)" in status(app)
        await pilot.press("question_mark")
        assert "neuron view of the cursor row" in screen_text(app)

    explore(Loads(inspector), CAT, ["up"], check)
