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
