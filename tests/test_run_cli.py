"""`attninspect run` from the command line: options, focus, errors and colour."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from attninspect.cli.app import app
from tests.conftest import CAT


def invoke(runner: CliRunner, *args: str, **kwargs):
    return runner.invoke(app, ["run", *args], **kwargs)


def one_error_line(result, code: int) -> str:
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in result.stderr and result.stdout == ""
    return lines[0]


def test_table_shows_summary_matrix_and_focus(runner: CliRunner) -> None:
    result = invoke(runner, CAT, "--focus", "it")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "tokens (13)" in out and "8:it" in out
    assert "attention (6, 12, 13, 13)" in out and "input_ids (1, 13)" in out
    assert "pretrained bidirectional (encoder)" in out and "float32" in out
    assert "▶ 8 it" in out and "what it (@8) attends to" in out
    assert result.stderr == ""
    assert "\x1b" not in out


def test_focus_json_top_k_is_the_largest_weights(runner: CliRunner) -> None:
    result = invoke(runner, CAT, "--focus", "IT", "--top", "3", "--format", "json")
    data = json.loads(result.stdout)
    focus = data["focus"]
    assert focus["token"] == "it" and focus["index"] == 8
    row = data["attention"][8]
    expected = sorted(range(len(row)), key=lambda i: -row[i])[:3]
    assert [entry["index"] for entry in focus["top"]] == expected
    assert [entry["weight"] for entry in focus["top"]] == [row[i] for i in expected]
    assert all(entry["token"] == data["tokens"][entry["index"]] for entry in focus["top"])
    assert len(focus["layers"]) == 6 and all(len(layer["top"]) == 3 for layer in focus["layers"])


@pytest.mark.parametrize(("selector", "index"), [("the", 1), ("the#2", 5), ("@8", 8), ("@-1", 12)])
def test_focus_selectors(runner: CliRunner, selector: str, index: int) -> None:
    result = invoke(runner, CAT, "--focus", selector, "--format", "json")
    assert json.loads(result.stdout)["focus"]["index"] == index


def test_focus_not_in_text_lists_the_tokens(runner: CliRunner) -> None:
    line = one_error_line(invoke(runner, CAT, "--focus", "dog"), 1)
    assert "dog" in line and "8:it" in line and "12:[SEP]" in line
    line = one_error_line(invoke(runner, CAT, "--focus", "the#3"), 1)
    assert "occurs 2 times" in line


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--layer", "6"], "0..5"),
        (["--layer", "-7"], "-6..-1"),
        (["--head", "12"], "0..11"),
        (["--head", "first"], "--head"),
        (["--top", "0"], "--top"),
        (["--focus", "it#0"], "--focus"),
        (["--format", "npz"], "--output"),
        (["--dim", "8"], "scratch"),
    ],
)
def test_usage_errors_exit_2(runner: CliRunner, args: list[str], needle: str) -> None:
    assert needle in one_error_line(invoke(runner, CAT, *args), 2)


def test_scratch_heads_must_divide_dim(runner: CliRunner) -> None:
    line = one_error_line(
        invoke(runner, CAT, "--model", "scratch", "--dim", "10", "--heads", "3"), 2
    )
    assert "--heads" in line


def test_text_and_file_are_exclusive(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "t.txt").write_text("a\n")
    one_error_line(invoke(runner, CAT, "--file", str(tmp_path / "t.txt")), 2)
    one_error_line(invoke(runner), 2)


@pytest.mark.parametrize("text", ["", "   \t "])
def test_empty_text_is_an_error(runner: CliRunner, text: str) -> None:
    assert "empty" in one_error_line(invoke(runner, text), 1) or "white space" in one_error_line(
        invoke(runner, text), 1
    )


def test_too_long_text_is_refused_or_truncated(runner: CliRunner) -> None:
    long_text = "word " * 600
    line = one_error_line(invoke(runner, long_text), 1)
    assert "602 tokens" in line and "512" in line and "--truncate" in line
    result = invoke(runner, long_text, "--truncate", "--format", "json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert len(data["tokens"]) == 512 and data["tokens"][-1] == "[SEP]"
    assert data["truncated_from"] == 602
    assert "truncated" in result.stderr


def test_missing_hub_model_offline_says_how_to_use_a_directory(runner: CliRunner) -> None:
    line = one_error_line(invoke(runner, CAT, "--model", "no-such-org/no-such-model"), 1)
    assert "no-such-org/no-such-model" in line and "local directory" in line


def test_directory_that_is_not_a_model(runner: CliRunner, tmp_path: Path) -> None:
    line = one_error_line(invoke(runner, CAT, "--model", str(tmp_path)), 1)
    assert "config.json" in line
    line = one_error_line(invoke(runner, CAT, "--model", str(tmp_path / "missing")), 1)
    assert "no such directory" in line


def test_remote_code_is_refused_without_the_flag(
    runner: CliRunner, tiny_models, tmp_path: Path
) -> None:
    model_dir = tmp_path / "remote"
    shutil.copytree(tiny_models["bert"], model_dir)
    marker = tmp_path / "code-ran"
    (model_dir / "custom_model.py").write_text(
        f"open({str(marker)!r}, 'w').write('ran')\n"
        "from transformers import BertConfig\n"
        "class CustomConfig(BertConfig):\n    model_type = 'custom-bert'\n"
    )
    config = json.loads((model_dir / "config.json").read_text())
    config["auto_map"] = {"AutoConfig": "custom_model.CustomConfig"}
    config["model_type"] = "custom-bert"
    (model_dir / "config.json").write_text(json.dumps(config))
    line = one_error_line(invoke(runner, CAT, "--model", str(model_dir)), 1)
    assert "--trust-remote-code" in line
    assert not marker.exists()


def test_library_chatter_stays_off_stderr(runner: CliRunner, tiny_models) -> None:
    result = invoke(runner, CAT, "--model", str(tiny_models["gpt2"]), "--format", "json")
    assert result.exit_code == 0 and result.stderr == ""


def test_colour_only_when_asked_and_never_with_no_color(runner: CliRunner) -> None:
    coloured = invoke(runner, CAT, env={"FORCE_COLOR": "1"})
    assert "\x1b[" in coloured.stdout
    for env, extra in (
        ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, []),
        ({"FORCE_COLOR": "1"}, ["--no-color"]),
    ):
        plain = invoke(runner, CAT, *extra, env=env)
        assert plain.exit_code == 0 and "\x1b" not in plain.stdout
    machine = invoke(runner, CAT, "--format", "json", env={"FORCE_COLOR": "1"})
    assert "\x1b" not in machine.stdout


def test_device_cpu_and_missing_cuda(runner: CliRunner) -> None:
    import torch

    result = invoke(runner, CAT, "--device", "cpu", "--format", "json")
    assert json.loads(result.stdout)["device"] == "cpu"
    if not torch.cuda.is_available():
        assert "available: cpu" in one_error_line(invoke(runner, CAT, "--device", "cuda"), 1)


@pytest.mark.parametrize(("dtype", "tolerance"), [("bfloat16", 5e-2), ("float16", 1e-2)])
def test_reduced_precision_stays_close_to_float32(
    runner: CliRunner, dtype: str, tolerance: float
) -> None:
    import numpy as np

    base = json.loads(invoke(runner, CAT, "--all-layers", "--format", "json").stdout)
    result = invoke(runner, CAT, "--all-layers", "--format", "json", "--dtype", dtype)
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["dtype"] == dtype
    difference = np.abs(np.array(base["all_attention"]) - np.array(data["all_attention"])).max()
    assert difference <= tolerance
