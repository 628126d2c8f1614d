"""`attninspect shapes`, the error contract, devices and the fast start."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from attninspect.cli.app import app


def shapes_json(runner: CliRunner, *args: str) -> dict:
    result = runner.invoke(app, ["shapes", "--format", "json", *args])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_seed_example_shapes(runner: CliRunner) -> None:
    data = shapes_json(runner, "--dim", "8", "--len", "5")
    assert data["input"] == [1, 5, 8]
    assert data["weights"] == [1, 5, 5]
    assert data["output"] == [1, 5, 8]
    assert data["scores"] == [1, 5, 5]
    assert data["parameters"] == 3 * 8 * 8
    assert data["weights_bytes"] == 5 * 5 * 4


def test_two_heads_have_a_head_axis_and_an_output_projection(runner: CliRunner) -> None:
    data = shapes_json(runner, "--dim", "8", "--len", "5", "--heads", "2", "--batch", "3")
    assert data["weights"] == [3, 2, 5, 5]
    assert data["query"] == [3, 2, 5, 4]
    assert data["output"] == [3, 5, 8]
    assert data["parameters"] == 4 * 8 * 8
    assert data["weights_bytes"] == 3 * 2 * 5 * 5 * 4
    assert all(isinstance(n, int) for key in ("input", "weights") for n in data[key])


def test_table_lists_every_stage_and_fits_80_columns(runner: CliRunner) -> None:
    result = runner.invoke(app, ["shapes", "--heads", "2", "--causal"], env={"COLUMNS": "80"})
    assert result.exit_code == 0
    for stage in ("input", "query", "key", "value", "scores", "weights", "output"):
        assert stage in result.stdout
    assert "(1, 2, 5, 5)" in result.stdout
    assert "parameters 256" in result.stdout
    assert "200 bytes" in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    assert "\x1b[" not in result.stdout  # not a terminal: no colour


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--dim", "0"], "--dim"),
        (["--len", "-1"], "--len"),
        (["--heads", "3", "--dim", "8"], "--heads"),
        (["--batch", "0"], "--batch"),
        (["--device", "gpu"], "--device"),
        (["--format", "xml"], "--format"),
    ],
)
def test_bad_values_are_usage_errors(runner: CliRunner, args: list[str], option: str) -> None:
    result = runner.invoke(app, ["shapes", *args])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and option in lines[0]
    assert result.stdout == ""


def test_impossible_size_is_refused_before_allocation(runner: CliRunner) -> None:
    result = runner.invoke(app, ["shapes", "--len", "1000000"])
    assert result.exit_code == 1
    line = result.stderr.strip()
    assert line.startswith("Error: ") and "\n" not in line
    assert "TiB" in line and "available" in line


def test_missing_device_names_what_is_available(runner: CliRunner) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = runner.invoke(app, ["shapes", "--device", "cuda:0"])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and "available: cpu" in result.stderr


def test_resolve_device_auto_and_cpu() -> None:
    from attninspect.model.devices import resolve_device

    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in {"cpu", "cuda", "mps"}


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["--version"],
        ["shapes", "--help"],
        ["run", "--help"],
        ["heads", "--help"],
        ["diff", "--help"],
        ["grid", "--help"],
        ["explore", "--help"],
        ["info", "--help"],
    ],
)
def test_fast_start_imports_neither_torch_nor_transformers(argv: list[str]) -> None:
    code = (
        "import sys\n"
        f"sys.argv = ['attninspect', *{argv!r}]\n"
        "from attninspect.cli import main\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert e.code in (0, None), e.code\n"
        "loaded = [m for m in ('torch', 'transformers', 'numpy', 'matplotlib', 'textual')"
        " if m in sys.modules]\n"
        "assert not loaded, loaded\n"
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("ok")


def test_python_dash_m_works() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "attninspect", "--version"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and proc.stdout.startswith("attninspect ")
