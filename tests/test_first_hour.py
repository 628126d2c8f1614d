"""Issue 28's first-time user's hour (items 6, 7, 9, 10, 11, 12, 31) and its robustness items
(the tokenizer's thread pool across a fork, slow built-ins in a chat template)."""

from __future__ import annotations

import shlex
import subprocess
import sys

import pytest

# ------------------------------------------------------------------ 31: --show-completion SHELL

MAIN = "import sys; sys.argv[0] = 'attninspect'; from attninspect.cli import main; main()"


def _from_bash(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the command line from bash (the parent shell typer would detect), as a user does."""
    words = " ".join(shlex.quote(arg) for arg in args)
    command = f"{shlex.quote(sys.executable)} -c {shlex.quote(MAIN)} {words}; exit $?"
    return subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60,
                          check=False)  # fmt: skip


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--show-completion", "zsh"), "#compdef attninspect"),
        (("--show-completion", "fish"), "complete --command attninspect"),
        (("--show-completion=pwsh",), "Register-ArgumentCompleter"),
        (("--show-completion",), "complete_bash"),  # no shell named: the parent shell's
    ],
)
def test_show_completion_prints_the_named_shells_script(args, needle) -> None:
    shown = _from_bash(*args)
    assert shown.returncode == 0, shown.stderr
    assert needle in shown.stdout
    if len(args) > 1 or "=" in args[0]:
        assert "complete_bash" not in shown.stdout  # not the parent shell's script


def test_show_completion_refuses_an_unknown_shell() -> None:
    shown = _from_bash("--show-completion", "tcsh")
    assert shown.returncode == 2 and shown.stdout == ""
    assert shown.stderr.startswith("Error: ") and "tcsh" in shown.stderr
    assert "bash, zsh, fish" in shown.stderr and shown.stderr.count("\n") == 1


# ------------------------------------------------------------------ robustness: chat templates

# One C call of many seconds (7 ** 30,000,000 takes 45 s on a laptop core, in 11 MB): no Python
# line runs while it does, so a trace function never sees the time run out. (A string multiplied
# by 10**9 is the same case, in gigabytes.)
SLOW_BUILT_IN = "{{ (7 ** (30000000 * (messages|length))) % 10 }}x"


def test_a_slow_built_in_in_a_chat_template_is_stopped(
    runner, tiny_models, tmp_path, monkeypatch
) -> None:
    from attninspect.cli.app import app
    from attninspect.model import chat
    from tests.test_chat import _with_template

    monkeypatch.setattr(chat, "RENDER_SECONDS", 1.0)
    model = _with_template(tiny_models, tmp_path, SLOW_BUILT_IN)
    result = runner.invoke(app, ["run", "Hi", "--model", str(model), "--chat"])
    assert result.exit_code == 1, result.stdout[:300]
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: the chat template did not finish")
    assert "1 s)" in lines[0]


def test_a_helper_renders_as_the_tokenizer_does_and_is_ended(tiny_models, tmp_path) -> None:
    """The helper's prompt is the tokenizer's own; a closed helper is replaced on the next
    render, and ending the helpers leaves no process behind."""
    from transformers import AutoTokenizer

    from attninspect.model import chat, chat_worker
    from tests.test_chat import TEMPLATE, _with_template

    tokenizer = AutoTokenizer.from_pretrained(_with_template(tiny_models, tmp_path, TEMPLATE))
    expected = tokenizer.apply_chat_template(
        chat.Chat("Be brief.").messages("Hi"), tokenize=False, add_generation_prompt=True
    )
    assert chat.render(tokenizer, chat.Chat("Be brief."), "Hi") == expected
    worker = chat_worker.worker_for(tokenizer)
    assert worker._process is not None
    first = worker._process
    worker.close()
    assert first.poll() is not None  # killed and waited for
    assert chat.render(tokenizer, chat.Chat("Be brief."), "Hi") == expected
    second = worker._process
    assert second is not None and second is not first
    chat_worker.close_all()
    assert second.poll() is not None


# ------------------------------------------------------------------ robustness: forks after a run

FORKED_AFTER_A_RUN = """
import multiprocessing, os, sys
from attninspect import Inspector

inspector = Inspector()
inspector.run(["The cat sat on the mat because it was warm."] * 40)  # a batched tokenizer call

def worker(queue):  # tokenizes, as a DataLoader worker does
    tokens = inspector.engine.tokenizer(["A dog barked."] * 8)["input_ids"][0]
    queue.put((os.environ.get("TOKENIZERS_PARALLELISM"), tokens))

context = multiprocessing.get_context("fork")
queue = context.Queue()
process = context.Process(target=worker, args=(queue,))
process.start()
child_setting, tokens = queue.get(timeout=300)
process.join(300)
print(child_setting, os.environ.get("TOKENIZERS_PARALLELISM"), process.exitcode, tokens)
"""


@pytest.mark.parametrize("user_setting", [None, "0"])
def test_a_process_forked_after_a_run_starts_quietly(user_setting) -> None:
    """A library user's DataLoader worker (a fork after an Inspector run) starts without the fast
    tokenizer's "process just got forked" warning (tokenizers before 0.23 print it on stdout or
    stderr): the child starts with TOKENIZERS_PARALLELISM=false, as the library would leave it,
    the parent keeps its own environment, and a value the user set is never changed."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "TOKENIZERS_PARALLELISM"}
    if user_setting is not None:
        env["TOKENIZERS_PARALLELISM"] = user_setting
    done = subprocess.run([sys.executable, "-c", FORKED_AFTER_A_RUN], capture_output=True,
                          text=True, timeout=600, env=env, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "forked" not in done.stdout + done.stderr and "PARALLELISM" not in done.stderr
    child, parent, exitcode, tokens = done.stdout.split(" ", 3)
    expected = user_setting or "false"
    assert (child, parent, exitcode) == (expected, str(user_setting), "0")
    assert tokens.startswith("[101, ")  # [CLS] a dog ...


# ------------------------------------------------------------------ 10: --focus pinned, "cross"


def test_a_cross_attention_picture_says_cross(runner, seq2seq_models, tmp_path) -> None:
    """The title of `--attention cross --save` says which kind it shows (SVG keeps the text)."""
    from attninspect.cli.app import app

    path = tmp_path / "cross.svg"
    model = str(seq2seq_models["marian"])
    result = runner.invoke(app, ["run", "the cat sat", "-m", model, "--target", "le chat",
                                 "--attention", "cross", "--save", str(path)])  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "cross attention" in path.read_text("utf-8")


# ------------------------------------------------------------------ 9: the explorer's first screen

CAT_TEXT = "The cat sat on the mat because it was warm."


@pytest.fixture
def session_tmux(tmp_path):
    """A private tmux server for one explorer (tests/test_explorer_tmux.py's), ended after."""
    import os
    import shutil
    from pathlib import Path

    from tests.test_explorer_tmux import Tmux

    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed: apt-get install tmux (make test installs it)")
    tmux = Tmux(tmp_path)
    yield tmux
    subprocess.run(["tmux", "-L", tmux.socket, "kill-server"], capture_output=True, check=False)
    folder = Path(os.environ.get("TMUX_TMPDIR", "/tmp")) / f"tmux-{os.getuid()}"
    (folder / tmux.socket).unlink(missing_ok=True)


class Synthetic:
    """An inspector that answers every text with one made-up inspection (explorer pilots)."""

    def __init__(self, make) -> None:
        self.make = make

    def run(self, text: str):
        return self.make()


def _pilot(inspector, keys: list[str], check, size=(80, 24), text: str = "x") -> None:
    import asyncio

    from attninspect.explorer.app import ExplorerApp

    async def drive() -> None:
        app = ExplorerApp(lambda: inspector, text)
        async with app.run_test(size=size) as pilot:
            await app.wait_until_loaded()
            await app.workers.wait_for_complete()
            await pilot.pause()
            for key in keys:
                await pilot.press(key)
                await app.workers.wait_for_complete()
                await pilot.pause()
            await check(app, pilot)

    asyncio.run(drive())


def _footer_drawn(pane: str) -> bool:
    """The status line (loading, or the view's) is drawn, and the footer below it."""
    lines = pane.rstrip("\n").splitlines()
    return len(lines) > 1 and ("loading" in lines[-2] or "layer 5" in lines[-2])


@pytest.mark.parametrize("width", [80, 100])
def test_the_footer_shows_quit_and_help_at_80_and_100_columns(session_tmux, width) -> None:
    """In a real terminal of 80 and 100 columns, the footer's `q quit` and `? help` are on
    screen (while the model loads, and after)."""
    session_tmux.start(CAT_TEXT, width=width)
    pane = session_tmux.wait(_footer_drawn, "the footer")
    footer = pane.rstrip("\n").splitlines()[-1]
    assert "q quit" in footer and "? help" in footer, footer


def test_the_help_lists_the_kind_key() -> None:
    """? lists every key the explorer answers, `a` (the next kind of attention) included."""
    from tests.conftest import synthetic_cross_inspection

    inspection = synthetic_cross_inspection(["▁le", "▁chat", "</s>"], ["▁the", "▁cat", "</s>"])

    async def check(app, pilot) -> None:
        from textual.widgets import Static

        body = str(app.screen.query_one("VerticalScroll Static", Static).render())
        assert "next kind of attention" in body
        keys = {line.split()[0] for line in body.splitlines() if line.strip()}
        for binding in app.BINDINGS:
            if binding.show or binding.key == "a":  # type: ignore[union-attr]
                shown = binding.key_display or binding.key  # type: ignore[union-attr]
                named = {"question_mark": "?", "slash": "/", "enter": "Enter,"}
                assert named.get(shown, shown.split("/")[0][:1]) in keys, shown

    _pilot(Synthetic(lambda: inspection), ["question_mark"], check)


def test_a_seq2seq_axis_header_is_whole_over_short_tokens() -> None:
    """The corner above short target tokens reads `tgt↓src→`, not `src↓sr…`."""
    from tests.conftest import synthetic_cross_inspection

    inspection = synthetic_cross_inspection(["▁a", "▁b", "</s>"], ["▁c", "▁d", "</s>"])

    async def check(app, pilot) -> None:
        from attninspect.explorer.widgets import MatrixView

        corner = app.query_one(MatrixView).plain.splitlines()[1].split()[0]
        assert corner == "tgt↓src→"

    _pilot(Synthetic(lambda: inspection), [], check)


def test_the_grid_opens_with_the_current_layer_in_sight() -> None:
    """`g` on the last of 12 layers opens the model view scrolled to that layer's panels."""
    from tests.conftest import synthetic_inspection

    tokens = ["[CLS]", *["the", "cat", "sat", "on", "the", "mat"], "[SEP]"]
    inspection = synthetic_inspection(tokens, 12, 4)

    async def check(app, pilot) -> None:
        from textual.containers import VerticalScroll

        from attninspect.explorer.widgets import ModelGrid

        grid = app.screen.query_one(ModelGrid)
        assert grid.selected[0] == 11 == app.state.layer
        scroll = app.screen.query_one(VerticalScroll)
        top = grid.geometry.origin(*grid.selected)[1]
        assert scroll.scroll_y > 0
        assert scroll.scroll_y <= top
        assert (
            top + grid.geometry.height <= scroll.scroll_y + scroll.scrollable_content_region.height
        )

    _pilot(Synthetic(lambda: inspection), ["g"], check, size=(80, 24))


# ------------------------------------------------------------------ 11: the table uses the width

LONG_CAT = (
    "The quick brown fox jumps over the lazy dog and then it runs far away into the deep dark "
    "forest because it was scared."
)  # 27 tokens with [CLS] and [SEP]


def _piped(*args: str, columns: str | None) -> str:
    """`attninspect ARGS | cat`: standard output a pipe, COLUMNS as given (or unset)."""
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    if columns is not None:
        env["COLUMNS"] = columns
    done = subprocess.run([sys.executable, "-m", "attninspect", *args], capture_output=True,
                          text=True, timeout=300, env=env, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_token_headers_use_the_width_there_is() -> None:
    """At COLUMNS=200 every key token of the cat sentence is whole in the header (`because`,
    `[CLS]`), where 4 cells cut them to `bec…` and `[CL…`; at 80 they are cut only as far as
    80 columns need, and no line is wider."""
    from rich.cells import cell_len

    wide = _piped("run", CAT_TEXT, columns="200")
    header = next(line for line in wide.splitlines() if "[CLS]" in line and "0:" not in line)
    assert header.split() == [
        "[CLS]",
        "the",
        "cat",
        "sat",
        "on",
        "the",
        "mat",
        "because",
        "it",
        "was",
        "warm",
        ".",
        "[SEP]",
    ]
    narrow = _piped("run", CAT_TEXT, columns=None)  # rich's default: 80
    assert max(cell_len(line) for line in narrow.splitlines()) <= 80
    header = next(line for line in narrow.splitlines() if "[CLS]" in line and "0:" not in line)
    assert "[CLS]" in header.split() and "bec…" not in header


def test_rows_are_not_windowed_away_in_a_pipe() -> None:
    """In a pipe (no height to fit) all 27 rows are printed; columns still fit 80 cells."""
    out = _piped("run", LONG_CAT, columns=None)
    rows = [line.split()[:2] for line in out.splitlines() if line[:4].strip().isdigit()]
    assert [int(index) for index, _ in rows] == list(range(27))
    assert "all 27 rows and columns" in out and "columns left out" in out


# ------------------------------------------------------------------ 6 and 7: diff windows

SCARED = LONG_CAT
HAPPY = LONG_CAT.replace("scared", "happy")


def test_diff_without_focus_keeps_the_differing_token_in_sight() -> None:
    """`diff A B | cat` at 80 columns: A and B differ in their 25th token (@24), far past the
    first window of 0..9; its row and column are in sight, and so is the largest change."""
    out = _piped("diff", SCARED, HAPPY, columns=None)
    lines = out.splitlines()
    rule = next(i for i, line in enumerate(lines) if line.startswith("────"))
    header = lines[rule - 2].split()
    assert "24" in header  # the key column of scared/happy
    rows = {line.split()[1]: line for line in lines[rule + 1 :] if line[:4].strip().isdigit()}
    assert "scared/happy" in rows
    cells = [
        (abs(float(cell)), row)
        for row, line in rows.items()
        for cell in line.split()[2:]
        if cell != "┆"
    ]
    assert max(cells)[0] > 0.0  # the largest change shown is not a zero
    assert "the tokens that differ" in " ".join(out.split())


def test_the_explorer_diff_fits_its_box_and_names_its_own_keys() -> None:
    """The explorer's `d` at 80 and 100 columns, as the screen shows it: every cell whole (no
    `0.…`), the differing token in sight, and the way to move in the explorer's own keys."""
    import html
    import re

    from tests.explorer_helpers import FakeInspector

    for width in (80, 100):

        async def check(app, pilot) -> None:
            app.compare(HAPPY)
            await app.workers.wait_for_complete()
            await pilot.pause()
            await pilot.pause()
            svg = app.export_screenshot()
            screen = html.unescape(re.sub(r"<[^>]+>", "", svg)).replace("\xa0", " ")
            assert "A − B" in screen
            assert "0.…" not in screen, screen
            assert "scared/happy" in screen
            assert "--full" not in screen and "Enter on a row" in " ".join(screen.split())

        _pilot(FakeInspector(), [], check, size=(width, 40), text=SCARED)
