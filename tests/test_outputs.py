"""Every command writes through the same writers: real jsonl, csv, atomic --output."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from attninspect.cli.app import app
from tests.conftest import CAT

TIRED = CAT.replace("warm", "tired")
COMMANDS = {
    "heads": ["heads", CAT, "--from", "it", "--to", "mat"],
    "diff": ["diff", CAT, TIRED, "--layer", "1"],
    "shapes": ["shapes", "--dim", "8", "--len", "5"],
}


def without_timing(text: str) -> str:
    """Output with every "seconds" value zeroed: timing differs between two runs."""
    return re.sub(r'"seconds": [0-9.e-]+', '"seconds": 0', text)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_jsonl_is_one_object_on_one_line(runner: CliRunner, command: str) -> None:
    result = runner.invoke(app, [*COMMANDS[command], "--format", "jsonl"])
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and isinstance(json.loads(lines[0]), dict)
    as_json = runner.invoke(app, [*COMMANDS[command], "--format", "json"]).stdout
    assert json.loads(without_timing(as_json)) == json.loads(without_timing(lines[0]))


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("output_format", ["table", "json", "jsonl"])
def test_output_file_gets_exactly_stdout(
    runner: CliRunner, tmp_path: Path, command: str, output_format: str
) -> None:
    args = [*COMMANDS[command], "--format", output_format]
    shown = runner.invoke(app, args)
    target = tmp_path / f"{command}.out"
    written = runner.invoke(app, [*args, "--output", str(target)])
    assert written.exit_code == 0, written.stderr
    assert written.stdout == ""
    assert without_timing(target.read_text(encoding="utf-8")) == without_timing(shown.stdout)
    assert [p.name for p in tmp_path.iterdir()] == [target.name]  # no temporary file left


@pytest.mark.parametrize("command", ["heads", "diff"])
def test_failed_command_leaves_the_old_file(runner: CliRunner, tmp_path: Path, command) -> None:
    target = tmp_path / "keep.json"
    target.write_text("old", encoding="utf-8")
    args = [*COMMANDS[command], "--layer" if command == "diff" else "--to", "99"]
    if command == "heads":
        args = ["heads", CAT, "--from", "it", "--to", "zebra"]
    result = runner.invoke(app, [*args, "--format", "json", "--output", str(target)])
    assert result.exit_code in (1, 2) and result.stderr.startswith("Error: ")
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.json"]


def test_output_into_a_missing_folder_is_refused_before_work(
    runner: CliRunner, tmp_path: Path
) -> None:
    result = runner.invoke(app, ["shapes", "--output", str(tmp_path / "no" / "x.json")])
    assert result.exit_code == 1 and "does not exist" in result.stderr


def test_layer_out_of_range_is_a_usage_error_with_the_option(runner: CliRunner) -> None:
    for command in (["run", CAT], ["diff", CAT, TIRED]):
        result = runner.invoke(app, [*command, "--layer", "9"])
        assert result.exit_code == 2
        assert result.stderr.startswith("Error: Invalid value for '--layer': 9 is out of range")
