"""Pictures cost little over the run they draw: `run --save x.png` and `grid` against `run`.

Goals (from the issue): `run --save x.png` at most 1 s over `run`; `grid` of a 20-token
sentence at most 0.3 s over `run`. Each is printed as a ratio whose goal is that allowance.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from common import CAT, PYTHON, report, time_command

TWENTY = "The cat sat on the mat because it was warm, and the dog slept by the door all day."


def main() -> None:
    command = [PYTHON, "-m", "attninspect"]
    with tempfile.TemporaryDirectory() as folder:
        floor = time_command([*command, "run", CAT, "--no-color"], repeats=5)
        png = str(Path(folder) / "cat.png")
        ours = time_command([*command, "run", CAT, "--no-color", "--save", png], repeats=5)
        report("run --save x.png vs run (goal: +1 s)", ours, floor, f"<= {(floor + 1) / floor:.2f}")
        floor = time_command([*command, "run", TWENTY, "--no-color"], repeats=5)
        ours = time_command([*command, "grid", TWENTY, "--no-color"], repeats=5)
        report(
            "grid (20 tokens) vs run (goal: +0.3 s)", ours, floor, f"<= {(floor + 0.3) / floor:.2f}"
        )


if __name__ == "__main__":
    main()
