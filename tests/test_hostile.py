"""Hostile and broken input: never a traceback, never an injection, nothing lost."""

from __future__ import annotations

import io
import json
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.cells import cell_len
from rich.console import Console
from typer.testing import CliRunner

from attninspect.analysis.inspection import Inspection
from attninspect.analysis.selection import build_view
from attninspect.cli.app import app
from attninspect.render.matrix import render_run
from attninspect.safe_text import printable
from tests.conftest import CAT

HOSTILE = [
    "[bold red]x[/]",
    "[link=https://example.com]click[/link]",
    "[/]",
    "\x1b[31mred\x1b[0m \x1b]0;title\x07",
    "carriage\rreturn back\bspace bell\x07",
    "bidi \u202eevil\u202c text",
    "猫が座った",
    "👍🏽 👨\u200d👩\u200d👧 family",
    "e\u0301 and \u0301 alone",
    "zero\u200bwidth",
]


# --------------------------------------------------------------------------- text is data


def fake_inspection(tokens: list[str]) -> Inspection:
    n = len(tokens)
    rng = np.random.default_rng(0)
    weights = rng.random((1, 1, n, n)).astype(np.float32)
    weights /= weights.sum(-1, keepdims=True)
    return Inspection(
        text=" ".join(tokens),
        tokens=tokens,
        token_ids=list(range(n)),
        special=[False] * n,
        word_ids=list(range(n)),
        attention=weights,
        shapes={"attention": [1, 1, n, n]},
        model="[bold]model\x1b[0m",
        engine="pretrained",
        device="cpu",
        dtype="float32",
        seconds=0.0,
    )


@pytest.mark.parametrize("color", [None, "truecolor"])
def test_hostile_tokens_render_escaped_and_aligned(color: str | None) -> None:
    tokens = ["ok", *HOSTILE]
    inspection = fake_inspection(tokens)
    view = build_view(
        inspection.attention, inspection.tokens, inspection.tokens, 0, 0, focus=3, top=3
    )
    console = Console(file=io.StringIO(), width=200, color_system=color, force_terminal=True)
    console.print(render_run(inspection, view, console, full=True))
    out = console.file.getvalue()
    plain = out
    if color:
        plain = re.sub(r"\x1b\[[0-9;]*m", "", out)  # rich's own SGR styling, nothing else
    assert "\x1b" not in plain and "\x07" not in plain and "\r" not in plain and "\b" not in plain
    assert "\u202e" not in plain and "\u200d" not in plain and "\u200b" not in plain
    assert "\\x1b[31mred" in plain and "\\u202e" in plain and "[bold red]x[/]" in plain
    cell = re.compile(r"\d\.\d\d")
    matrix_lines = [line for line in plain.splitlines() if len(cell.findall(line)) >= len(tokens)]
    assert len(matrix_lines) == len(tokens)
    widths = {cell_len(line.rstrip()) for line in matrix_lines}
    assert len(widths) == 1, widths  # every row of the matrix has the same width


@pytest.mark.parametrize("text", HOSTILE)
def test_printable_escapes_are_single_line_and_terminal_inert(text: str) -> None:
    shown = printable(text)
    assert "\n" not in shown and "\x1b" not in shown and "\u202e" not in shown


def test_json_and_csv_keep_the_original_text(runner: CliRunner, tiny_models) -> None:
    text = '\x1b[31m [bold]x[/] \u202eevil, "quoted" 猫 👍🏽'
    model = ["--model", str(tiny_models["gpt2"])]
    result = runner.invoke(app, ["run", text, *model, "--format", "json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["text"] == text
    result = runner.invoke(app, ["run", "-", *model, "--format", "jsonl"], input=text + "\n")
    assert json.loads(result.stdout)["text"] == text
    import csv

    rows = list(
        csv.DictReader(
            io.StringIO(runner.invoke(app, ["run", text, *model, "--format", "csv"]).stdout)
        )
    )
    assert {row["query_token"] for row in rows} == set(data["tokens"])


def test_markup_in_every_message_is_literal(runner: CliRunner) -> None:
    result = runner.invoke(app, ["run", CAT, "--focus", "[bold]x[/]\x1b[2J"])
    assert result.exit_code == 1
    assert "[bold]x[/]\\x1b[2J" in result.stderr and "\x1b" not in result.stderr
    result = runner.invoke(app, ["run", CAT, "--model", "/no/[red]where\x1b[0m"])
    assert "[red]where\\x1b[0m" in result.stderr and "\x1b" not in result.stderr


# --------------------------------------------------------------------------- one clear error


@pytest.fixture(scope="module")
def broken_models(tiny_models, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Model directories broken in every way the loader must survive."""
    root = tmp_path_factory.mktemp("broken")
    good = tiny_models["bert"]
    made: dict[str, Path] = {}

    def copy(name: str) -> Path:
        path = root / name
        shutil.copytree(good, path)
        made[name] = path
        return path

    (root / "empty").mkdir()
    made["empty"] = root / "empty"
    (root / "a-file").write_text("not a model")
    made["a-file"] = root / "a-file"
    (copy("corrupt-config") / "config.json").write_text("{ not json")
    (copy("no-weights") / "model.safetensors").unlink()
    mismatched = copy("mismatched")
    config = json.loads((mismatched / "config.json").read_text())
    config["hidden_size"] = 48
    config["num_attention_heads"] = 6
    (mismatched / "config.json").write_text(json.dumps(config))
    no_tokenizer = copy("no-tokenizer")
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        (no_tokenizer / name).unlink(missing_ok=True)
    evil = copy("evil-pickle")
    (evil / "model.safetensors").unlink()
    marker = root / "PICKLE_CODE_RAN"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    (evil / "pytorch_model.bin").write_bytes(pickle.dumps({"weight": Evil()}))
    made["marker"] = marker
    from transformers import AutoModel, AutoTokenizer, T5Config

    seq2seq = root / "encoder-decoder"
    config = T5Config(d_model=32, d_kv=8, d_ff=64, num_layers=1, num_heads=4, vocab_size=30522)
    AutoModel.from_config(config).save_pretrained(seq2seq)
    AutoTokenizer.from_pretrained(good).save_pretrained(seq2seq)
    made["encoder-decoder"] = seq2seq
    return made


def long_text(words: int) -> str:
    return "word " * words


CASES = [
    # (id, args, stdin, expected exit, a fragment of the error)
    ("empty text", ["run", ""], None, 1, "empty"),
    ("white space only", ["run", " \t  "], None, 1, "white space"),
    ("over the model limit", ["run", long_text(700)], None, 1, "at most 512"),
    ("1 MB single line", ["run", "-"], "word " * 200_000 + "\n", 1, "at most 512"),
    ("invalid UTF-8 on stdin", ["run", "-"], b"ok\n\xc3\x28 bad\n", 1, "line 2: not valid UTF-8"),
    ("binary file on stdin", ["run", "-"], bytes(range(256)) * 8, 1, "line 1"),
    ("NUL bytes", ["run", "-"], b"fine\nnul\x00here\n", 1, "line 2: the text contains a NUL"),
    ("empty stdin", ["run", "-"], b"\n\n", 1, "nothing to inspect"),
    ("model path missing", ["run", CAT, "--model", "/no/such/dir"], None, 1, "no such directory"),
    ("model path is a file", ["run", CAT, "--model", "@a-file"], None, 1, "is a file"),
    ("model dir empty", ["run", CAT, "--model", "@empty"], None, 1, "no config.json"),
    ("corrupt config", ["run", CAT, "--model", "@corrupt-config"], None, 1, "could not load"),
    ("config, no weights", ["run", CAT, "--model", "@no-weights"], None, 1, "could not load"),
    ("weights do not match", ["run", CAT, "--model", "@mismatched"], None, 1, "do not match"),
    ("tokenizer missing", ["run", CAT, "--model", "@no-tokenizer"], None, 1, "tokenizer"),
    ("pickle with code", ["run", CAT, "--model", "@evil-pickle"], None, 1, "weights_only"),
    (
        "encoder-decoder model",
        ["run", CAT, "--model", "@encoder-decoder"],
        None,
        1,
        "encoder-decoder",
    ),
    ("hub id not cached", ["run", CAT, "--model", "nobody/nothing"], None, 1, "local directory"),
    ("device not there", ["run", CAT, "--device", "cuda:7"], None, 1, "available: cpu"),
    ("device unknown", ["run", CAT, "--device", "tpu"], None, 2, "--device"),
    ("shapes device missing", ["shapes", "--device", "mps"], None, 1, "available"),
    ("layer out of range", ["run", CAT, "--layer", "9"], None, 2, "0..5"),
    ("head out of range", ["run", CAT, "--head", "-13"], None, 2, "0..11"),
    ("head not a number", ["run", CAT, "--head", "all"], None, 2, "--head"),
    ("focus not there", ["run", CAT, "--focus", "zebra"], None, 1, "0:[CLS]"),
    ("focus position out", ["run", CAT, "--focus", "@40"], None, 1, "out of range"),
    ("output is a directory", ["run", CAT, "--format", "json", "-o", "@tmp"], None, 1, "directory"),
    ("output read-only place", ["run", CAT, "-o", "/proc/attninspect.json"], None, 1, "--output"),
    ("output folder missing", ["run", CAT, "-o", "@tmp/no/such/out.json"], None, 1, "not exist"),
    ("file missing", ["run", "--file", "/no/such/file.txt"], None, 1, "cannot read"),
    ("file is a directory", ["run", "--file", "@tmp"], None, 1, "directory"),
    ("npz without output", ["run", CAT, "--format", "npz"], None, 2, "--output"),
    ("precision too big", ["run", CAT, "--precision", "99"], None, 2, "--precision"),
    ("batch size zero", ["run", CAT, "--batch-size", "0"], None, 2, "--batch-size"),
    ("unknown option", ["run", CAT, "--colour"], None, 2, "--colour"),
    ("tokenizer without scratch", ["run", CAT, "--tokenizer", "x"], None, 1, "scratch"),
]


@pytest.mark.parametrize(
    ("args", "stdin", "code", "fragment"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_every_bad_input_has_one_clear_error(
    runner: CliRunner, broken_models, tmp_path: Path, args, stdin, code, fragment
) -> None:
    resolved = []
    for arg in args:
        if arg.startswith("@tmp"):
            arg = str(tmp_path) + arg[4:]
        elif arg.startswith("@") and arg[1:] in broken_models:
            arg = str(broken_models[arg[1:]])
        resolved.append(arg)
    output = tmp_path / "out.json"
    if "-o" not in resolved and resolved[0] == "run" and "--format" not in resolved:
        resolved += ["-o", str(output)]
    before = sorted(p.name for p in tmp_path.iterdir())
    result = runner.invoke(app, resolved, input=stdin)
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert fragment in lines[0]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no partial output file
    assert not broken_models["marker"].exists()


def test_legit_pickle_checkpoint_loads(runner: CliRunner, tiny_models, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    path = tmp_path / "bin-model"
    shutil.copytree(tiny_models["bert"], path)
    state = load_file(path / "model.safetensors")
    (path / "model.safetensors").unlink()
    torch.save(state, path / "pytorch_model.bin")
    result = runner.invoke(app, ["run", CAT, "--model", str(path), "--format", "json"])
    assert result.exit_code == 0, result.stderr


# --------------------------------------------------------------------------- properties

TEXTS = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from(list("\x1b\r\b\x07\u202e\u200d\u0301[]/🏽👍猫 ")),
    ),
    min_size=0,
    max_size=60,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=TEXTS)
def test_run_on_arbitrary_text_succeeds_or_fails_cleanly(runner: CliRunner, text: str) -> None:
    result = runner.invoke(app, ["run", "-", "--format", "jsonl"], input=text.encode() + b"\n")
    if result.exit_code == 0:
        lines = result.stdout.split("\n")
        assert lines[-1] == ""  # one record per line, whatever the text holds
        for line in lines[:-1]:
            record = json.loads(line)
            assert json.loads(json.dumps(record["tokens"])) == record["tokens"]
            np.testing.assert_allclose(np.sum(record["attention"], -1), 1.0, atol=1e-5)
            assert record["text"] in [line.removesuffix("\r") for line in text.split("\n")]
    else:
        assert result.exit_code == 1
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ")
        assert "Traceback" not in result.stderr


@settings(max_examples=60, deadline=None)
@given(
    batch=st.integers(1, 3),
    length=st.integers(1, 12),
    heads=st.sampled_from([1, 2, 4]),
    head_dim=st.integers(1, 6),
    scale=st.sampled_from([1e-6, 1.0, 1e2, 1e4, -1e4]),
    causal=st.booleans(),
    grad=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_module_rows_sum_to_one_for_any_shape(
    batch, length, heads, head_dim, scale, causal, grad, seed
) -> None:
    from attninspect.model.attention import SelfAttention

    torch.manual_seed(seed)
    dim = heads * head_dim
    module = SelfAttention(dim, num_heads=heads, causal=causal)
    x = (torch.rand(batch, length, dim) - 0.5) * scale
    padding = torch.rand(batch, length) > 0.3
    with torch.set_grad_enabled(grad):
        _, weights = module(x, padding_mask=padding)
    weights = weights.detach()
    if heads == 1:
        weights = weights.unsqueeze(1)
    assert not torch.isnan(weights).any()
    assert torch.allclose(weights.sum(-1), torch.ones(batch, heads, length), atol=1e-5)
    if causal:
        upper = torch.triu(torch.ones(length, length, dtype=torch.bool), 1)
        assert torch.all(weights[..., upper] == 0)


# --------------------------------------------------------------------------- interrupts


# Runs `attninspect run` through its entry point, but the first import of module STAGE writes a
# line to the READY descriptor and then waits: the test's Ctrl-C arrives there, at that stage,
# every time (no sleep that a loaded machine may outrun).
PAUSED_RUN = """
import os, sys, time
from attninspect.entry import main

STAGE, READY = sys.argv[1], int(sys.argv[2])


class Pause:
    def find_spec(self, name, path=None, target=None):
        if name == STAGE:
            sys.meta_path.remove(self)
            os.write(READY, b"ready\\n")
            time.sleep(120)  # the interrupt ends this
        return None


sys.meta_path.insert(0, Pause())
sys.argv = ["attninspect", *sys.argv[3:]]
main()
"""


@pytest.mark.parametrize(
    "stage",
    ["attninspect.cli", "torch", "transformers.models.bert.modeling_bert"],
    ids=["importing the CLI", "importing torch", "loading the model"],
)
def test_ctrl_c_while_starting_or_loading_the_model(tmp_path: Path, stage: str) -> None:
    target = tmp_path / "out.json"
    read_end, write_end = os.pipe()
    arguments = [stage, str(write_end), "run", CAT, "--format", "json", "-o", str(target)]
    process = subprocess.Popen(
        [sys.executable, "-c", PAUSED_RUN, *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        pass_fds=(write_end,),
    )
    os.close(write_end)
    try:
        with os.fdopen(read_end, "rb") as ready:
            assert ready.readline() == b"ready\n", process.communicate(timeout=60)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    assert stderr.decode().strip() == "Error: interrupted"
    assert list(tmp_path.iterdir()) == []  # no output, no temporary file
