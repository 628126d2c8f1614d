"""`run` as a Unix tool: formats, stdin and files, batches, streaming, atomic files, pipes."""

from __future__ import annotations

import csv
import io
import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from attninspect.cli.app import app
from attninspect.files.records import CSV_COLUMNS
from tests.conftest import CAT

TEXTS = [
    "Hi.",
    CAT,
    'Tokens with "quotes", commas, and a; semicolon.',
    "A much longer sentence that keeps going so that the batch has very different lengths in it.",
    "Short again",
]
COMMAND = [sys.executable, "-m", "attninspect"]


def invoke(runner: CliRunner, *args: str, **kwargs):
    return runner.invoke(app, ["run", *args], **kwargs)


def jsonl(result) -> list[dict]:
    assert result.exit_code == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_jsonl_from_stdin_in_input_order_with_blank_lines_noted(runner: CliRunner) -> None:
    stdin = "\n".join([TEXTS[0], "", "   ", *TEXTS[1:]]) + "\n"
    records = jsonl(invoke(runner, "-", "--format", "jsonl", "--batch-size", "2", input=stdin))
    assert [r["text"] for r in records] == TEXTS
    assert [r["text_index"] for r in records] == list(range(len(TEXTS)))
    assert [r["line"] for r in records] == [1, 4, 5, 6, 7]
    result = invoke(runner, "-", "--format", "jsonl", input=stdin)
    assert result.stderr.strip() == "note: skipped 2 blank lines"


def test_file_input_and_json_array(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "texts.txt"
    path.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    result = invoke(runner, "--file", str(path), "--format", "json")
    data = json.loads(result.stdout)
    assert isinstance(data, list) and [d["text"] for d in data] == TEXTS


@pytest.mark.parametrize("name", ["bert", "gpt2", "llama", None, "scratch"])
def test_batched_attention_equals_single_runs(runner: CliRunner, tiny_models, name) -> None:
    model = ["--model", str(tiny_models[name])] if name in tiny_models else []
    if name == "scratch":
        model = ["--model", "scratch", "--heads", "2", "--causal"]
    stdin = "\n".join(TEXTS) + "\n"
    batched = jsonl(invoke(runner, "-", *model, "--all-layers", "--format", "jsonl", input=stdin))
    for record, text in zip(batched, TEXTS, strict=True):
        alone = json.loads(invoke(runner, text, *model, "--all-layers", "--format", "json").stdout)
        assert record["tokens"] == alone["tokens"]
        np.testing.assert_allclose(record["all_attention"], alone["all_attention"], atol=1e-5)
        np.testing.assert_allclose(np.sum(record["attention"], -1), 1.0, atol=1e-5)


def test_csv_round_trips_through_csv_and_pandas(runner: CliRunner) -> None:
    text = TEXTS[2]
    result = invoke(runner, text, "--format", "csv", "--layer", "2", "--head", "4")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    reference = json.loads(
        invoke(runner, text, "--format", "json", "--layer", "2", "--head", "4").stdout
    )
    tokens = reference["tokens"]
    assert len(rows) == len(tokens) ** 2
    assert tuple(rows[0].keys()) == CSV_COLUMNS
    assert {r["key_token"] for r in rows} == set(tokens)
    assert '"' in tokens and "," in tokens
    frame = pd.read_csv(io.StringIO(result.stdout), keep_default_na=False)
    assert list(frame.columns) == list(CSV_COLUMNS)
    assert set(frame["query_token"]) == set(tokens)
    matrix = frame.pivot(index="query_index", columns="key_index", values="weight").to_numpy()
    np.testing.assert_allclose(matrix, reference["attention"], atol=1e-7)
    assert (frame["layer"] == 2).all() and (frame["head"] == 4).all()


def test_csv_all_layers_has_every_layer_and_head(runner: CliRunner) -> None:
    result = invoke(runner, "Hi.", "--format", "csv", "--all-layers")
    frame = pd.read_csv(io.StringIO(result.stdout))
    assert len(frame) == 6 * 12 * 4 * 4  # [CLS] hi . [SEP]
    sums = frame.groupby(["layer", "head", "query_index"])["weight"].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0, atol=1e-5)


def test_npz_for_one_and_several_texts(runner: CliRunner, tmp_path: Path) -> None:
    one = tmp_path / "one.npz"
    assert invoke(runner, CAT, "--format", "npz", "--output", str(one)).exit_code == 0
    with np.load(one, allow_pickle=False) as data:
        assert sorted(data.files) == ["attention_0", "texts", "tokens_0"]  # one text is N = 1
        assert list(data["texts"]) == [CAT]
        attention = data["attention_0"]
        assert attention.shape == (6, 12, 13, 13) and attention.dtype == np.float32
        assert data["tokens_0"].dtype.kind == "U" and list(data["tokens_0"])[8] == "it"
    several = tmp_path / "several.npz"
    result = invoke(runner, "-", "--format", "npz", "-o", str(several), input="\n".join(TEXTS))
    assert result.exit_code == 0 and result.stdout == ""
    with np.load(several, allow_pickle=False) as data:
        assert list(data["texts"]) == TEXTS
        for number in range(len(TEXTS)):
            tokens, attention = data[f"tokens_{number}"], data[f"attention_{number}"]
            assert attention.shape == (6, 12, len(tokens), len(tokens))


def test_invalid_utf8_names_the_line_and_skip_errors_goes_on(runner: CliRunner) -> None:
    stdin = b"Fine text.\n\xff\xfe broken\nAlso fine.\n"
    result = invoke(runner, "-", "--format", "jsonl", input=stdin)
    assert result.exit_code == 1 and "line 2" in result.stderr and "UTF-8" in result.stderr
    skipped = invoke(runner, "-", "--format", "jsonl", "--skip-errors", input=stdin)
    assert [r["text"] for r in jsonl(skipped)] == ["Fine text.", "Also fine."]
    assert "line 2" in skipped.stderr and "skipped 1 text" in skipped.stderr


def test_bad_text_mid_batch_stops_with_its_line(runner: CliRunner) -> None:
    stdin = "One.\nTwo.\n" + "word " * 600 + "\nFour.\n"
    result = invoke(runner, "-", "--format", "jsonl", input=stdin)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1].startswith("Error: line 3:")
    skipped = invoke(runner, "-", "--format", "jsonl", "--skip-errors", input=stdin)
    assert [r["line"] for r in jsonl(skipped)] == [1, 2, 4]


def test_output_file_is_atomic(runner: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    target.write_text("previous complete result\n")
    lines = [f"Sentence number {n}." for n in range(40)]
    lines[30] = "word " * 600  # fails half-way
    result = invoke(runner, "-", "--format", "jsonl", "-o", str(target), input="\n".join(lines))
    assert result.exit_code == 1
    assert target.read_text() == "previous complete result\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]
    del lines[30]
    result = invoke(runner, "-", "--format", "jsonl", "-o", str(target), input="\n".join(lines))
    assert result.exit_code == 0 and result.stdout == ""
    assert len(target.read_text().splitlines()) == 39


@pytest.mark.parametrize("kind", ["directory", "missing-folder", "read-only-folder"])
def test_unwritable_output_is_a_clear_error(runner: CliRunner, tmp_path: Path, kind: str) -> None:
    if kind == "directory":
        target = tmp_path
    elif kind == "missing-folder":
        target = tmp_path / "nope" / "out.json"
    else:
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o500)
        if os.access(folder, os.W_OK):
            pytest.skip("running as a user who can write anywhere")
        target = folder / "out.json"
    result = invoke(runner, CAT, "--format", "json", "-o", str(target))
    assert result.exit_code == 1 and result.stderr.startswith("Error: --output")
    assert len(result.stderr.strip().splitlines()) == 1


def test_first_record_is_written_before_input_ends() -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(
        [*COMMAND, "run", "-", "--format", "jsonl"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        process.stdin.write(b"The first sentence.\n")
        process.stdin.flush()
        ready, _, _ = select.select([process.stdout], [], [], 90)
        assert ready, "no record while the input was still open"
        first = json.loads(process.stdout.readline())
        assert first["text"] == "The first sentence."
        assert process.poll() is None  # still waiting for more input
        process.stdin.write(b"The second sentence.\n")
        process.stdin.close()
        rest = process.stdout.read().decode().splitlines()
        assert [json.loads(line)["text"] for line in rest] == ["The second sentence."]
        assert process.wait(30) == 0
    finally:
        process.kill()


def test_ctrl_c_exits_130_with_one_line_and_no_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    process = subprocess.Popen(
        [*COMMAND, "run", "-", "--format", "jsonl", "-o", str(target)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    process.stdin.write(b"One sentence.\n")
    process.stdin.flush()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not list(tmp_path.glob(".attninspect-*.part")):
        time.sleep(0.1)  # the temporary file appears once the model has loaded
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130
    assert stderr.decode().strip() == "Error: interrupted"
    assert list(tmp_path.iterdir()) == []


def test_machine_formats_never_hold_escape_codes(runner: CliRunner, tmp_path: Path) -> None:
    for output_format in ("json", "jsonl", "csv"):
        result = invoke(runner, CAT, "--format", output_format, env={"FORCE_COLOR": "1"})
        assert result.exit_code == 0 and "\x1b" not in result.stdout


def test_progress_bar_only_for_file_input_on_a_terminal(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "texts.txt"
    path.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    args = ["--file", str(path), "--format", "jsonl"]
    on_terminal = invoke(runner, *args, env={"FORCE_COLOR": "1"})  # stderr counts as a terminal
    assert on_terminal.exit_code == 0 and "texts" in on_terminal.stderr
    assert "\x1b" not in on_terminal.stdout and len(on_terminal.stdout.splitlines()) == 5
    piped = invoke(runner, *args)
    assert piped.exit_code == 0 and piped.stderr == ""
    from_stdin = invoke(
        runner, "-", "--format", "jsonl", input="\n".join(TEXTS), env={"FORCE_COLOR": "1"}
    )
    assert from_stdin.exit_code == 0 and "texts" not in from_stdin.stderr
