"""`attninspect explore` in a real terminal: a 120x40 tmux pane, keys, the exit status."""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import CAT


class Tmux:
    """One detached session on a private server; the command's exit status goes to a file."""

    def __init__(self, folder: Path) -> None:
        self.socket = f"attninspect-test-{os.getpid()}"
        self.status_file = folder / "status"

    def tmux(self, *args: str) -> str:
        command = ["tmux", "-L", self.socket, *args]
        return subprocess.run(command, check=True, capture_output=True, text=True).stdout

    def start(self, *argv: str, redirect: str = "", width: int = 120) -> None:
        """Run ``explore ARGV``; ``redirect``: a shell redirection after it, e.g. ``2>FILE``."""
        # COLUMNS / LINES (set by other tests' runners) would override the pane's real size.
        command = ["env", "-u", "COLUMNS", "-u", "LINES", sys.executable, "-m", "attninspect"]
        explore = shlex.join([*command, "explore", *argv]) + (f" {redirect}" if redirect else "")
        wrapper = (
            f"printf 'before the explorer\\n'; {explore}; "
            f"echo $? > {shlex.quote(str(self.status_file))}; sleep 60"
        )
        self.tmux("new-session", "-d", "-s", "explore", "-x", str(width), "-y", "40", wrapper)

    def pane_group(self) -> int | None:
        """The process group of the pane's shell and the explorer it runs (None when gone)."""
        try:
            pid = int(self.tmux("display-message", "-p", "-t", "explore", "#{pane_pid}"))
            return os.getpgid(pid)
        except (subprocess.CalledProcessError, ValueError, ProcessLookupError):
            return None

    def explorer_pids(self) -> list[int]:
        """The explorer processes under the pane's shell."""
        group = self.pane_group()
        if group is None:
            return []
        found = subprocess.run(["pgrep", "-g", str(group), "-f", "attninspect explore"],
                               capture_output=True, text=True).stdout  # fmt: skip
        shell = int(self.tmux("display-message", "-p", "-t", "explore", "#{pane_pid}"))
        return [int(pid) for pid in found.split() if int(pid) != shell]

    def pane(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "explore")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "explore", *keys)

    def wait(self, ready: Callable[[str], bool], what: str, seconds: float = 60) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            pane = self.pane()
            if ready(pane):
                return pane
            time.sleep(0.1)
        raise AssertionError(f"waited {seconds} s for {what}; the pane shows:\n{self.pane()}")

    def exit_status(self, seconds: float = 30) -> int:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.status_file.exists() and self.status_file.read_text().strip():
                return int(self.status_file.read_text())
            time.sleep(0.1)
        raise AssertionError(f"the explorer did not exit; the pane shows:\n{self.pane()}")


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Tmux]:
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed: apt-get install tmux (make test installs it)")
    tmux = Tmux(tmp_path)
    try:
        yield tmux
    finally:
        group = tmux.pane_group()
        subprocess.run(["tmux", "-L", tmux.socket, "kill-server"], capture_output=True)
        if group is not None:  # whatever the pane started, ended by its process group
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)
    folder = Path(os.environ.get("TMUX_TMPDIR", "/tmp")) / f"tmux-{os.getuid()}"
    (folder / tmux.socket).unlink(missing_ok=True)  # a killed server leaves its socket file


def test_explore_in_a_terminal(session: Tmux) -> None:
    session.start(CAT)
    session.wait(lambda pane: "12:[SEP]" in pane and "layer 5" in pane, "the tokens")
    session.keys("Right", "Right", "Right", "Up", "w")
    pane = session.wait(
        lambda pane: "head 1 of 12" in pane and "layer 4" in pane and "words" in pane,
        "layer 4, head 1, words in the status line",
    )
    assert "because" in pane and "q quit" in pane  # 120 columns: the whole footer
    session.keys("q")
    assert session.exit_status() == 0
    after = session.pane()
    assert "before the explorer" in after
    assert "layer 4" not in after  # the alternate screen is gone: the terminal is as it was


def test_a_model_that_cannot_load_exits_1_with_one_error_line(session: Tmux, tmp_path) -> None:
    session.start(CAT, "--model", str(tmp_path / "no-such-model"))
    assert session.exit_status(60) == 1
    pane = session.pane()
    errors = [line for line in pane.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, pane
    assert "no-such-model" in errors[0] and "Traceback" not in pane


def test_ctrl_c_exits_130_as_the_readme_says(session: Tmux) -> None:
    """Ctrl+C is an interrupt, as anywhere in attninspect: status 130 and one line saying so
    (q is the way to quit with 0)."""
    session.start(CAT)
    session.wait(lambda pane: "12:[SEP]" in pane and "layer 5" in pane, "the tokens")
    session.keys("C-c")
    assert session.exit_status() == 130
    pane = session.pane()
    assert "Error: interrupted" in pane and "Traceback" not in pane
    assert "layer 5" not in pane  # the terminal is as it was


def test_standard_error_redirected_is_refused_before_drawing(session: Tmux, tmp_path) -> None:
    """Textual draws on standard error: `explore TEXT 2>log` would write the screen (hundreds of
    kilobytes of escape codes) into the log. It is refused, with one line in the log."""
    log = tmp_path / "log"
    session.start(CAT, redirect=f"2>{shlex.quote(str(log))}")
    assert session.exit_status(60) == 1
    lines = log.read_text().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: explore needs a terminal"), lines
    assert "standard error" in lines[0] and "\x1b" not in repr(lines[0])


def test_n_shows_the_neuron_view_in_a_terminal(session: Tmux) -> None:
    session.start(CAT)
    session.wait(lambda pane: "12:[SEP]" in pane and "layer 5" in pane, "the tokens")
    session.keys("n")
    session.wait(lambda pane: "no single query" in pane, "the refusal on the head mean")
    session.keys("Right", "Right", "Right", *["j"] * 8, "n")
    pane = session.wait(lambda pane: "query it (@8)" in pane, "the neuron view")
    assert "neuron view · layer 5 · head 1" in pane
    assert "q·k" in pane and "weight" in pane and "12 [SEP]" in pane
    session.keys("Escape")
    pane = session.wait(
        lambda pane: "head 1 of 12" in pane and "query it (@8)" not in pane, "the matrix again"
    )  # the status line shows under the neuron view too: wait until that view is gone
    assert "n neurons" in pane and "q quit" in pane  # the footer names the key
    session.keys("q")
    assert session.exit_status() == 0


def test_closing_the_terminal_ends_the_explorer(session: Tmux) -> None:
    """A hangup (the terminal window closed) ends the explorer: before, Terminated was raised
    inside Textual's loop, swallowed, and the app kept reading a dead terminal at full speed."""
    session.start(CAT)
    session.wait(lambda pane: "12:[SEP]" in pane and "layer 5" in pane, "the tokens")
    pids = session.explorer_pids()
    assert pids, "no explorer process under the pane"
    subprocess.run(["tmux", "-L", session.socket, "kill-server"], capture_output=True)
    deadline = time.monotonic() + 30
    alive = pids
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [pid for pid in pids if _running(pid)]
    for pid in alive:  # end it whatever the verdict
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert not alive, "the explorer outlived its terminal"


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
