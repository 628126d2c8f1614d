"""`attninspect explore` in a real pseudo-terminal (120x40): time to the first frame with the matrix
against `run`'s end-to-end time (goal: ratio <= 1.10), and the time from a key press to the
updated status line with its view on the screen (not "computing…"), median over 50 presses on a
128-token sentence (goal: <= 50 ms).
"""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import statistics
import sys
import termios
import time
from pathlib import Path

from common import CAT, ENV, PYTHON, ROOT, report, time_command

sys.path.insert(0, str(ROOT))
from attninspect.explorer.state import ExplorerState

ESCAPES = re.compile(  # CSI sequences, OSC strings, charset choices, other two-byte escapes
    rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][A-Z0-9]|\x1b."
)
PENDING = "(?=[\\s\\S])(?!\\s*│\\s*computing)".encode()
KEYS = {"right": b"\x1b[C", "up": b"\x1b[A", "down": b"\x1b[B", "w": b"w", "r": b"r"}
PRESSES = ("right", "w", "up", "r", "down", "r")
LONG = " ".join([CAT.lower()] * 11 + ["the cat sat on the"])  # 126 word pieces + CLS + SEP


class Terminal:
    """``attninspect explore`` on a pseudo-terminal of 120 x 40; what it drew, without escapes."""

    def __init__(self, text: str) -> None:
        self.started = time.perf_counter()
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: size the terminal, then become the explorer
            termios.tcsetwinsize(0, (40, 120))
            os.execve(PYTHON, [PYTHON, "-m", "attninspect", "explore", text], ENV)
        self.seen = b""

    def wait_for(self, marker: str, seconds: float = 120, shown: bool = False) -> float:
        """Read until ``marker`` is on the screen; the time it took (from the last clear).

        ``shown``: the marker is a status line, and its view must be on the screen, not still
        computing in a worker (the line then ends in "computing…").
        """
        deadline = time.perf_counter() + seconds
        wanted = re.compile(re.escape(marker.encode()) + (PENDING if shown else b""))
        while time.perf_counter() < deadline:
            ready, _, _ = select.select([self.fd], [], [], 0.5)
            if ready:
                self.seen += os.read(self.fd, 65536)
                if wanted.search(ESCAPES.sub(b"", self.seen)):
                    return time.perf_counter()
        raise TimeoutError(f"{marker!r} never appeared")

    def press(self, key: str) -> float:
        self.seen = b""
        started = time.perf_counter()
        os.write(self.fd, KEYS[key])
        return started

    def drain(self) -> None:
        """Read what is waiting, so that the explorer never blocks on a full terminal."""
        try:
            if select.select([self.fd], [], [], 0.1)[0]:
                os.read(self.fd, 65536)
        except OSError:  # the explorer has closed the terminal
            time.sleep(0.05)

    def quit(self) -> int:
        os.write(self.fd, b"q")
        deadline = time.perf_counter() + 20
        while time.perf_counter() < deadline:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status)
            self.drain()
        os.kill(self.pid, signal.SIGKILL)
        return -1


def first_frame(text: str, marker: str) -> tuple[float, Terminal]:
    terminal = Terminal(text)
    return terminal.wait_for(marker) - terminal.started, terminal


def key_latencies(terminal: Terminal, presses: int = 50) -> list[float]:
    state, timings = ExplorerState(layer=5), []
    for number in range(presses):
        key = PRESSES[number % len(PRESSES)]
        state = next_state(state, key)
        started = terminal.press(key)
        timings.append(terminal.wait_for(state.status(6, 12), 10, shown=True) - started)
    return timings


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def next_state(state: ExplorerState, key: str) -> ExplorerState:
    match key:
        case "right":
            return state.move_head(1, 12)
        case "up" | "down":
            return state.move_layer(-1 if key == "up" else 1, 6)
        case _:
            return state.toggle({"w": "words", "r": "rollout"}[key])


def main() -> None:
    # Interleaved, so that both sides see the same load on a busy machine.
    floors, frames = [], []
    for _ in range(5):
        # one warm-up run, then one timed run
        floors.append(time_command([PYTHON, "-m", "attninspect", "run", CAT], repeats=1))
        seconds, terminal = first_frame(CAT, "layer 5 of 0..5")
        frames.append(seconds)
        assert terminal.quit() == 0
    first, floor = statistics.median(frames), statistics.median(floors)
    report("explore: first frame with the matrix vs run", first, floor, "<= 1.10")
    _, terminal = first_frame(LONG, "tokens (128)")
    cpu = cpu_seconds(terminal.pid)
    timings = key_latencies(terminal)
    cpu = cpu_seconds(terminal.pid) - cpu
    assert terminal.quit() == 0
    print(
        f"  (explorer CPU time per press: {cpu / len(timings) * 1000:.1f} ms; "
        f"fastest press {min(timings) * 1000:.1f} ms)"
    )
    report("explore: key press to updated screen, 128 tokens", statistics.median(timings) * 1000,
           50.0, "<= 1.00", unit="ms")  # fmt: skip


if __name__ == "__main__":
    os.chdir(Path(__file__).resolve().parent)
    main()
