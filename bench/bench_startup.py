"""`attninspect --help` against the --help of a minimal two-command Typer app (goal: <= 1.5)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from common import PYTHON, report, time_command

MINIMAL_APP = """
import typer

app = typer.Typer()


@app.command()
def hello(name: str = "world") -> None:
    print(name)


@app.command()
def bye(name: str = "world") -> None:
    print(name)


app()
"""


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "minimal_app.py"
        script.write_text(MINIMAL_APP)
        floor = time_command([PYTHON, str(script), "--help"], repeats=15)
    ours = time_command([PYTHON, "-m", "attninspect", "--help"], repeats=15)
    report("attninspect --help vs minimal Typer --help", ours, floor, "<= 1.5")


if __name__ == "__main__":
    main()
