"""Helpers shared by the benchmarks: timing subprocesses and printing ratios against a floor."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
CAT = "The cat sat on the mat because it was warm."


def time_command(command: list[str], repeats: int, stdin_path: Path | None = None) -> float:
    """Median wall time of ``command`` over ``repeats`` runs (after one warm-up run)."""
    timings = []
    for attempt in range(repeats + 1):
        stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL  # noqa: SIM115
        started = time.perf_counter()
        subprocess.run(
            command,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=stdin,
            env=ENV,
        )
        elapsed = time.perf_counter() - started
        if stdin_path:
            stdin.close()
        if attempt:
            timings.append(elapsed)
    return statistics.median(timings)


def time_pair(ours: list[str], floor: list[str], repeats: int) -> tuple[float, float]:
    """Median wall times of two commands run in turn (ours, floor, ours, ...), so that a machine
    that slows down or speeds up during the benchmark weighs on both alike."""
    timings: dict[int, list[float]] = {0: [], 1: []}
    for attempt in range(repeats + 1):
        for side, command in enumerate((ours, floor)):
            started = time.perf_counter()
            subprocess.run(
                command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                stdin=subprocess.DEVNULL, env=ENV,
            )  # fmt: skip
            if attempt:  # the first round warms the file cache
                timings[side].append(time.perf_counter() - started)
    return statistics.median(timings[0]), statistics.median(timings[1])


def report(name: str, ours: float, floor: float, goal: str, unit: str = "s") -> str:
    """One line: the measured numbers, the ratio and whether it meets the goal."""
    ratio = ours / floor
    op, limit = goal.split()
    met = ratio <= float(limit) if op == "<=" else ratio >= float(limit)
    line = (
        f"{name:<44} ours {ours:9.4f} {unit}  floor {floor:9.4f} {unit}  "
        f"ratio {ratio:5.2f}  goal {goal:<7} {'ok' if met else 'MISSED'}"
    )
    print(line, flush=True)
    return line


# Appended to a child's code: its peak resident set (VmHWM) on stderr, read back by `peak_run`.
PEAK = """
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        print("PEAK", int(line.split()[1]) * 1024, file=sys.stderr)
"""


def peak_run(code: str, *args: object) -> tuple[int, float]:
    """(peak bytes, wall seconds) of ``code`` (which imports sys) in a fresh interpreter."""
    started = time.perf_counter()
    done = subprocess.run(
        [PYTHON, "-c", code + PEAK, *map(str, args)],
        env=ENV, capture_output=True, text=True, check=False,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    if done.returncode:
        sys.exit(f"failed ({done.returncode}): {done.stderr[-2000:]}")
    peak = [line for line in done.stderr.splitlines() if line.startswith("PEAK")][-1]
    return int(peak.split()[1]), seconds
