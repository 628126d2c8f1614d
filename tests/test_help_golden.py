"""Every command's ``--help``, at 100 and 80 columns, pinned by a golden copy: the options, their
panels, order, defaults and help text stay as they are however the options are declared
(``UPDATE_GOLDEN=1`` writes the copies again after an intended change)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from attninspect.cli.app import app

GOLDEN = Path(__file__).parent / "golden" / "help"
COMMANDS = ("", "run", "shapes", "heads", "diff", "grid", "explore", "stats", "serve", "info")


def help_text(command: str, columns: int) -> str:
    runner = CliRunner()
    args = [command, "--help"] if command else ["--help"]
    env = {"COLUMNS": str(columns), "NO_COLOR": "1", "TERM": "dumb"}
    result = runner.invoke(app, args, prog_name="attninspect", env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("columns", [100, 80])
@pytest.mark.parametrize("command", COMMANDS)
def test_help_is_as_the_golden_copy(command: str, columns: int) -> None:
    path = GOLDEN / f"{command or 'attninspect'}-{columns}.txt"
    shown = help_text(command, columns)
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(shown, encoding="utf-8")
    assert shown == path.read_text(encoding="utf-8")
