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
    runner, tiny_models, tmp_path, monkeypatch, template
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


@pytest.mark.browser
def test_a_saved_page_pins_the_focus_token(runner, browser, tmp_path) -> None:
    """`run --focus it --save x.html`: the page opens with `it`'s row pinned (its label marked,
    only its lines drawn), as the PNG and the live page mark it."""
    from attninspect.cli.app import app
    from tests.conftest import CAT

    pages = {}
    for name, focus in (("focus", ["--focus", "it"]), ("plain", [])):
        path = tmp_path / f"{name}.html"
        result = runner.invoke(app, ["run", CAT, *focus, "--save", str(path)])
        assert result.exit_code == 0, result.stderr
        pages[name] = path
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    try:
        page.goto(pages["plain"].as_uri())
        everything = int(page.get_attribute("#head-view", "data-lines") or 0)
        assert page.eval_on_selector_all("#head-view text.active", "n => n.length") == 0
        page.goto(pages["focus"].as_uri())
        active = page.eval_on_selector_all(
            "#head-view text.active", "n => n.map(t => [t.dataset.side, t.dataset.index])"
        )
        assert active == [["from", "8"]]  # [CLS] the cat sat on the mat because it: @8
        pinned = int(page.get_attribute("#head-view", "data-lines") or 0)
        assert 0 < pinned < everything
    finally:
        page.close()


def test_a_cross_attention_picture_says_cross(runner, seq2seq_models, tmp_path) -> None:
    """The title of `--attention cross --save` says which kind it shows (SVG keeps the text)."""
    from attninspect.cli.app import app

    path = tmp_path / "cross.svg"
    model = str(seq2seq_models["marian"])
    result = runner.invoke(app, ["run", "the cat sat", "-m", model, "--target", "le chat",
                                 "--attention", "cross", "--save", str(path)])  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "cross attention" in path.read_text("utf-8")
