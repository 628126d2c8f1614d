"""Edges found by an outside review: closed and full outputs, clashing files, loose API values."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from attninspect import AttnInspectError, BadValueError, Inspector
from attninspect.cli.app import app
from tests.conftest import CAT

COMMAND = [sys.executable, "-m", "attninspect"]


def test_closed_standard_output_is_one_clear_error() -> None:
    process = subprocess.run(
        f"{sys.executable} -m attninspect shapes >&-", shell=True, capture_output=False,
        stderr=subprocess.PIPE, timeout=120,
    )  # fmt: skip
    assert process.returncode == 1
    assert process.stderr.decode().splitlines() == [
        "Error: standard output is closed; redirect it to a file or /dev/null"
    ]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_full_disk_on_standard_output_is_one_clear_error() -> None:
    with open("/dev/full", "w") as full:
        process = subprocess.run(
            [*COMMAND, "shapes", "--format", "json"], stdout=full, stderr=subprocess.PIPE,
            timeout=120,
        )  # fmt: skip
    assert process.returncode == 1
    assert process.stderr.decode() == "Error: cannot write the output: No space left on device\n"


def test_no_arguments_prints_help_and_no_empty_error(runner: CliRunner) -> None:
    result = runner.invoke(app, [])
    assert "Usage" in result.stdout and "Error" not in result.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", CAT, "--model", ""], "is empty"),
        (["run", CAT, "--dim", "16"], "--dim: applies to --model scratch only"),
        (["run", CAT, "--save", "same.png", "--output", "same.png"], "same file"),
    ],
)
def test_clashing_or_empty_options_are_usage_errors(runner: CliRunner, args, needle) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and needle in result.stderr
    assert len(result.stderr.splitlines()) == 1


@pytest.fixture(scope="module")
def scratch() -> Inspector:
    return Inspector("scratch", dim=16, heads=2)


@pytest.mark.parametrize(
    "settings", [{"dim": 16, "heads": 3}, {"dim": 0}, {"dim": -1}, {"dtype": "int8"}]
)
def test_inspector_refuses_bad_settings_with_its_own_error(settings) -> None:
    with pytest.raises(BadValueError):
        Inspector("scratch", **settings)


@pytest.mark.parametrize(
    "view", [{"focus": ""}, {"head": "foo"}, {"head": None}, {"layer": "1"}, {"top": 2.5}]
)
def test_view_refuses_loose_values_with_attninspect_errors(scratch: Inspector, view) -> None:
    result = scratch.run("hello there")
    with pytest.raises(AttnInspectError) as error:
        result.view(**view)
    assert isinstance(error.value, ValueError)  # and still a ValueError for plain callers


def test_run_refuses_bytes(scratch: Inspector) -> None:
    with pytest.raises(BadValueError, match="str"):
        scratch.run(b"abc")  # type: ignore[arg-type]
