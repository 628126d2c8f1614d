"""Issue 13: every promise in the README holds under outside checks (one test per item)."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from attninspect.cli.app import app
from tests.conftest import CAT

COMMAND = [sys.executable, "-m", "attninspect"]
OFFLINE = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def run(runner: CliRunner, *args: str, **kwargs):
    return runner.invoke(app, ["run", *args], **kwargs)


def one_error_line(result, code: int = 1) -> str:
    """The result failed with ``code`` and exactly one ``Error:`` line, no traceback."""
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "unexpected" not in lines[0] and "Traceback" not in result.stderr
    return lines[0]


# --------------------------------------------------------------------------- 1: exit 141


@pytest.mark.parametrize(
    "args",
    [
        ["run", "-", "--format", "jsonl"],
        ["run", CAT, "--all-layers", "--format", "csv"],
        ["run", "-", "--no-color"],  # tables go through rich, which would exit 1 itself
        ["grid", CAT, "--no-color"],
    ],
    ids=["jsonl-stdin", "csv-all-layers", "table-stdin", "grid"],
)
def test_producer_exits_141_when_its_stdout_closes(tmp_path: Path, args: list[str]) -> None:
    texts = tmp_path / "many.txt"
    texts.write_text("".join(f"Sentence {n} is here.\n" for n in range(300)))
    with texts.open("rb") as stdin:
        process = subprocess.Popen(
            [*COMMAND, *args],
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=OFFLINE,
        )
        process.stdout.read(10)
        process.stdout.close()  # what `head -c 10` does
        stderr = process.stderr.read()
        assert process.wait(120) == 141  # the producer's own status, not a pipeline's
    assert stderr == b""


# --------------------------------------------------------------------------- 22: debug switch


@pytest.mark.parametrize(("value", "traceback"), [("0", False), ("", False), ("no", False),
                                                   ("1", True), ("true", True)])  # fmt: skip
def test_only_a_true_debug_value_shows_tracebacks(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, value: str, traceback: bool
) -> None:
    import attninspect.model.shape_report as shape_report

    def broken(_settings):
        raise RuntimeError("boom")

    monkeypatch.setattr(shape_report, "inspect_shapes", broken)
    result = runner.invoke(app, ["shapes"], env={"ATTNINSPECT_DEBUG": value})
    if traceback:
        assert isinstance(result.exception, RuntimeError)
    else:
        assert result.exit_code == 1 and "unexpected RuntimeError: boom" in result.stderr
        assert not isinstance(result.exception, RuntimeError)


# --------------------------------------------------------------------------- 14, 15: --output


def test_output_into_a_fifo_writes_into_it(runner: CliRunner, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = run(runner, CAT, "--format", "json", "-o", str(fifo))
    reader.join(60)
    assert result.exit_code == 0, result.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)  # still the FIFO, not a regular file
    assert json.loads(received[0])["tokens"][8] == "it"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


def test_output_into_a_character_device_keeps_the_node(runner: CliRunner, tmp_path: Path) -> None:
    node = tmp_path / "null"
    try:
        os.mknod(node, 0o666 | stat.S_IFCHR, os.stat("/dev/null").st_rdev)
    except PermissionError:
        pytest.skip("only root can make a device node")
    for output_format in ("json", "npz"):  # npz: zipfile must not seek on the device
        result = run(runner, CAT, "--format", output_format, "-o", str(node))
        assert result.exit_code == 0, result.stderr
    assert stat.S_ISCHR(os.lstat(node).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]


def test_output_through_a_symlink_replaces_its_target(runner: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "real" / "out.json"
    target.parent.mkdir()
    target.write_text("old\n")
    target.chmod(0o600)
    link = tmp_path / "link.json"
    link.symlink_to(target)
    result = run(runner, CAT, "--format", "json", "-o", str(link))
    assert result.exit_code == 0, result.stderr
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert json.loads(target.read_text())["text"] == CAT
    assert stat.S_IMODE(target.stat().st_mode) == 0o600  # permissions kept
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.json"]


def test_output_with_a_255_character_name(runner: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / ("n" * 250 + ".json")
    result = run(runner, CAT, "--format", "json", "-o", str(target))
    assert result.exit_code == 0, result.stderr
    assert json.loads(target.read_text())["text"] == CAT


# --------------------------------------------------------------------------- 16: SIGTERM, SIGHUP


@pytest.mark.parametrize(("signal_number", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_termination_cleans_up_the_temporary_file(
    tmp_path: Path, signal_number: int, code: int
) -> None:
    target = tmp_path / "out.jsonl"
    process = subprocess.Popen(
        [*COMMAND, "run", "-", "--format", "jsonl", "-o", str(target)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=OFFLINE,
    )
    process.stdin.write(b"One sentence.\n")
    process.stdin.flush()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not list(tmp_path.glob(".attninspect-*.part")):
        time.sleep(0.05)  # the temporary file appears once the model has loaded
    process.send_signal(signal_number)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == code
    assert stderr.decode().strip().startswith("Error: terminated")
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- 17: odd stdio


def test_unicode_text_with_an_ascii_output_encoding_is_escaped() -> None:
    text = "猫が座った 👍"
    proc = subprocess.run(
        [*COMMAND, "run", text, "--format", "json"],
        capture_output=True,
        env={**OFFLINE, "PYTHONIOENCODING": "ascii"},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    proc.stdout.decode("ascii")
    assert json.loads(proc.stdout)["text"] == text  # escaped as \\uXXXX: still valid JSON


def test_closed_standard_input_is_one_clear_error() -> None:
    proc = subprocess.run(
        ["bash", "-c", 'exec "$@" <&-', "bash", *COMMAND, "run", "-"],
        capture_output=True,
        text=True,
        env=OFFLINE,
        timeout=120,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        "Error: standard input is closed; pipe texts into `run -`, or use --file FILE"
    )


def test_undecodable_bytes_in_the_argument_are_one_clear_error(runner: CliRunner) -> None:
    text = os.fsdecode(b"abc \xff\xfe")  # how Python hands such an argument over
    line = one_error_line(run(runner, text))
    assert "not valid UTF-8" in line


# --------------------------------------------------------------------------- 2: [UNK]

UNKNOWN = "I love 🍕 pizza"


def run_json(runner: CliRunner, *args: str) -> dict:
    result = run(runner, *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_unknown_token_is_text_not_special(runner: CliRunner) -> None:
    plain = run_json(runner, UNKNOWN)
    assert plain["tokens"] == ["[CLS]", "i", "love", "[UNK]", "pizza", "[SEP]"]
    assert plain["special"] == [True, False, False, False, False, True]
    hidden = run_json(runner, UNKNOWN, "--hide-special")
    assert hidden["tokens"] == ["i", "love", "[UNK]", "pizza"]
    words = run_json(runner, UNKNOWN, "--words")
    assert words["tokens"] == ["[CLS]", "I", "love", "🍕", "pizza", "[SEP]"]  # as written


def test_typed_special_tokens_are_special_and_hiding_all_is_an_error(runner: CliRunner) -> None:
    typed = run_json(runner, "before [SEP] after")
    assert typed["tokens"] == ["[CLS]", "before", "[SEP]", "after", "[SEP]"]
    assert typed["special"] == [True, False, True, False, True]
    line = one_error_line(run(runner, "[SEP]", "--hide-special"))
    assert "--hide-special would hide every token" in line


# --------------------------------------------------------------------------- 3: rollout, words

PIECES = "Tokenization of unbelievably unaffordable housing."


def test_rollout_runs_over_tokens_before_words_are_merged(runner: CliRunner) -> None:
    from attninspect.analysis.transforms import merge_words
    from attninspect.api.batching import SourceText, inspect_batch
    from attninspect.model.engines.factory import EngineSettings, open_engine
    from tests.oracles import with_rollout

    (tokens,) = inspect_batch(open_engine(EngineSettings()), [SourceText(PIECES, 0)])
    rolled_then_merged = merge_words(with_rollout(tokens)).attention[-1, 0]
    merged_then_rolled = with_rollout(merge_words(tokens)).attention[-1, 0]
    assert abs(rolled_then_merged - merged_then_rolled).max() > 1e-4  # the order matters
    data = run_json(runner, PIECES, "--rollout", "--words")
    got = [[float(w) for w in row] for row in data["attention"]]
    assert abs(rolled_then_merged - got).max() < 1e-6
    assert data["tokens"][3] == "unbelievably"


# --------------------------------------------------------------------------- 5: csv line column


def test_csv_has_the_input_line_after_text_index(runner: CliRunner) -> None:
    import csv
    import io

    result = run(runner, "-", "--format", "csv", input="Hi.\n\nBye.\n")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0])[:2] == ["text_index", "line"]
    assert {(r["text_index"], r["line"]) for r in rows} == {("0", "1"), ("1", "3")}
    argument = run(runner, "Hi.", "--format", "csv")
    assert {r["line"] for r in csv.DictReader(io.StringIO(argument.stdout))} == {""}


# --------------------------------------------------------------------------- 18: long lines


def test_reader_bounds_a_line_and_keeps_going(runner: CliRunner) -> None:
    stdin = b"x" * (3 << 20) + b"\nHello there.\n"
    result = run(runner, "-", "--format", "jsonl", "--skip-errors", input=stdin)
    assert result.exit_code == 0, result.stderr
    assert [json.loads(line)["line"] for line in result.stdout.splitlines()] == [2]
    assert "line 1: the line is longer than 1 MiB" in result.stderr


def test_pipe_reader_joins_a_long_line_in_linear_pieces() -> None:
    from attninspect.files.sources import LongLine, _bounded_lines

    calls: list[int] = []
    data = [b"a" * 1000] * 900 + [b"b\nshort\n"] + [b"c" * 70000] * 20

    def read(size: int) -> bytes:
        calls.append(size)
        return data.pop(0) if data else b""

    lines = list(_bounded_lines(read))
    assert lines[0] == b"a" * 900_000 + b"b\n" and lines[1] == b"short\n"
    assert isinstance(lines[2], LongLine) and len(lines) == 3


def test_a_huge_text_is_never_tokenized_whole(default_model) -> None:
    from attninspect.errors import InputError
    from attninspect.model.tokenization import encode

    _model, tokenizer = default_model
    seen: list[int] = []

    def counting(text: str, **options):
        seen.append(len(text))
        return tokenizer(text, **options)

    counting.convert_ids_to_tokens = tokenizer.convert_ids_to_tokens  # type: ignore[attr-defined]
    counting.is_fast = True  # type: ignore[attr-defined]
    counting.special_tokens_map = tokenizer.special_tokens_map  # type: ignore[attr-defined]
    counting.convert_tokens_to_ids = tokenizer.convert_tokens_to_ids  # type: ignore[attr-defined]
    text = "word " * 1_000_000
    with pytest.raises(InputError, match="more than"):
        encode(counting, text, 512, truncate=False)
    cut = encode(counting, text, 512, truncate=True)
    assert len(cut.ids) == 512 and cut.truncated_from > 512
    assert max(seen) <= 512 * 16


# --------------------------------------------------------------------------- 19: position table


@pytest.fixture(scope="module")
def short_position_models(default_model_path: str, tmp_path_factory) -> dict[str, Path]:
    """A BERT whose position table is shorter than its special tokens, and a RoBERTa whose
    positions start after the padding id (8 positions, 6 usable)."""
    import torch
    from transformers import AutoModel, AutoTokenizer, BertConfig, RobertaConfig

    tokenizer = AutoTokenizer.from_pretrained(default_model_path)
    sizes = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 4}
    configs = {
        "bert-2": BertConfig(vocab_size=len(tokenizer), max_position_embeddings=2, **sizes),
        "roberta-8": RobertaConfig(
            vocab_size=len(tokenizer), max_position_embeddings=8, pad_token_id=1, **sizes
        ),
    }
    root = tmp_path_factory.mktemp("positions")
    for name, config in configs.items():
        torch.manual_seed(0)
        AutoModel.from_config(config).save_pretrained(root / name)
        tokenizer.save_pretrained(root / name)
    return {name: root / name for name in configs}


def test_truncate_stops_at_the_position_table(runner: CliRunner, short_position_models) -> None:
    roberta = str(short_position_models["roberta-8"])
    seven = "one two three four five"  # 7 tokens with [CLS] and [SEP]
    assert "at most 6" in one_error_line(run(runner, seven, "--model", roberta))
    cut = run_json(runner, seven, "--model", roberta, "--truncate")
    assert len(cut["tokens"]) == 6 and cut["truncated_from"] == 7
    bert = str(short_position_models["bert-2"])
    line = one_error_line(run(runner, "Hi.", "--model", bert, "--truncate"))
    assert "this model cannot inspect text" in line


# --------------------------------------------------------------------------- 20, 21: sizes


@pytest.mark.parametrize(
    "args",
    [["shapes", "--seed", str(2**70)], ["run", "x", "--model", "scratch", "--seed", str(2**70)],
     ["shapes", "--len", str(2**70)], ["run", "x", "--top", str(2**70)]],
)  # fmt: skip
def test_absurd_numbers_are_usage_errors(runner: CliRunner, args: list[str]) -> None:
    one_error_line(runner.invoke(app, args), code=2)


def test_scratch_engine_refuses_what_cannot_fit(runner: CliRunner) -> None:
    line = one_error_line(run(runner, CAT, "--model", "scratch", "--dim", "2000000"))
    assert "needs about" in line and "choose a smaller --dim" in line


def test_size_checks_honour_ulimit_and_cgroup(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import resource

    from attninspect.model import memory

    gib = 1 << 30
    monkeypatch.setattr(resource, "getrlimit", lambda _which: (3 * gib, resource.RLIM_INFINITY))
    status = tmp_path / "status"
    status.write_text("Name:\tpython\nVmSize:\t 1048576 kB\n")
    assert memory.address_space_left(status) == 2 * gib
    (tmp_path / "memory.max").write_text(f"{4 * gib}\n")
    (tmp_path / "memory.current").write_text(f"{gib}\n")
    assert memory.cgroup_available_bytes(tmp_path) == 3 * gib
    (tmp_path / "memory.max").write_text("max\n")
    assert memory.cgroup_available_bytes(tmp_path) == memory.UNLIMITED
    assert memory.cgroup_available_bytes(tmp_path / "none") == memory.UNLIMITED


# --------------------------------------------------------------------------- 6-11: hostile models


def _copy_model(source: Path, target: Path) -> Path:
    import shutil

    shutil.copytree(source, target)
    return target


def _edit_config(folder: Path, **changes) -> None:
    config = json.loads((folder / "config.json").read_text())
    config.update(changes)
    (folder / "config.json").write_text(json.dumps(config))


def _sharded(folder: Path, shard_name: str) -> None:
    """Move the weights to ``shard_name`` and name it in an index."""
    from safetensors.torch import load_file

    names = list(load_file(folder / "model.safetensors"))
    weights = folder / "model.safetensors"
    index = {"metadata": {}, "weight_map": {name: shard_name for name in names}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    if shard_name.startswith(".."):
        weights.rename(folder.parent / Path(shard_name).name)
    else:
        weights.rename(folder / shard_name)


def _hostile(name: str, folder: Path) -> None:
    """Break ``folder`` (a copy of the tiny BERT) in the way ``name`` says."""
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    if name == "truncated weights":
        weights.write_bytes(data[: len(data) // 2])
    elif name == "header length 2**63":
        weights.write_bytes((2**63).to_bytes(8, "little") + data[8:])
    elif name == "100 MB header":
        weights.write_bytes((100 * 2**20 + 1).to_bytes(8, "little") + data[8:])
    elif name == "huge sparse file":
        with weights.open("r+b") as handle:
            handle.truncate(2**40)
    elif name.startswith("config "):
        field, value = name.split()[1:3]
        _edit_config(folder, **{field: int(value)})
    elif name == "fifo as pytorch_model.bin":
        weights.unlink()
        os.mkfifo(folder / "pytorch_model.bin")
    elif name == "fifo as an indexed shard":
        _sharded(folder, "shard.safetensors")
        (folder / "shard.safetensors").unlink()
        os.mkfifo(folder / "shard.safetensors")
    elif name == "index names a file outside":
        _sharded(folder, "../outside.safetensors")


HOSTILE_MODELS = [
    ("truncated weights", "model.safetensors"),
    ("header length 2**63", "model.safetensors is corrupt"),
    ("100 MB header", "model.safetensors is corrupt"),
    ("huge sparse file", "model.safetensors"),
    ("config num_attention_heads 0", "num_attention_heads = 0"),
    ("config vocab_size 0", "vocab_size = 0"),
    ("config num_hidden_layers 0", "num_hidden_layers = 0"),
    ("config num_hidden_layers 100000", "weights for 2 layers"),
    ("config num_hidden_layers 1", "weights for 2 layers"),
    ("fifo as pytorch_model.bin", "pytorch_model.bin is not a regular file"),
    ("fifo as an indexed shard", "shard.safetensors is not a regular file"),
    ("index names a file outside", "outside the model directory"),
]


@pytest.mark.parametrize(("name", "fragment"), HOSTILE_MODELS, ids=[c[0] for c in HOSTILE_MODELS])
def test_hostile_model_is_one_clear_error(
    runner: CliRunner, tiny_models, tmp_path: Path, name: str, fragment: str
) -> None:
    folder = _copy_model(tiny_models["bert"], tmp_path / "model")
    _hostile(name, folder)
    line = one_error_line(run(runner, CAT, "--model", str(folder)))
    assert fragment in line and "'" + str(folder) in line


def test_non_finite_weights_name_the_layer_and_head(
    runner: CliRunner, tiny_models, tmp_path: Path
) -> None:
    from safetensors.torch import load_file, save_file

    folder = _copy_model(tiny_models["bert"], tmp_path / "model")
    state = load_file(folder / "model.safetensors")
    query = next(k for k in state if k.endswith("layer.1.attention.self.query.weight"))
    state[query][8:16] = float("nan")  # head 1 of 4 (8 dims each)
    save_file(state, folder / "model.safetensors", metadata={"format": "pt"})
    line = one_error_line(run(runner, CAT, "--model", str(folder)))
    assert "not finite" in line and "layer 1, head 1" in line


# --------------------------------------------------------------------------- 13: pad id


def test_pad_token_outside_the_embedding_table_batches_like_solo_runs(
    runner: CliRunner, tiny_models, tmp_path: Path
) -> None:
    from transformers import AutoTokenizer

    folder = _copy_model(tiny_models["bert"], tmp_path / "model")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.add_special_tokens({"pad_token": "[NEWPAD]"})  # id 30522: past the table
    tokenizer.save_pretrained(folder)
    texts = "Hi.\nA longer sentence than the first one.\n"
    batched = run(runner, "-", "--model", str(folder), "--format", "jsonl", input=texts)
    assert batched.exit_code == 0, batched.stderr
    together = [json.loads(line)["attention"] for line in batched.stdout.splitlines()]
    for text, attention in zip(texts.splitlines(), together, strict=True):
        alone = run_json(runner, text, "--model", str(folder))
        assert abs(np.array(alone["attention"]) - np.array(attention)).max() < 1e-5


# --------------------------------------------------------------------------- 12: hub ids


def test_hub_id_not_in_the_cache_fails_at_once_without_network(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    env["HF_HOME"] = str(tmp_path)
    proc = subprocess.run(
        [*COMMAND, "run", CAT, "--model", "nobody/nothing"],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,  # before the fix: about a minute of retries
    )
    assert proc.returncode == 1 and "Retrying" not in proc.stderr
    assert proc.stderr.startswith("Error: --model 'nobody/nothing' is not in the local")
    assert "--download" in proc.stderr and len(proc.stderr.splitlines()) == 1


def test_hub_id_in_the_cache_loads_from_it(
    runner: CliRunner, tiny_models, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from huggingface_hub import constants

    commit = "0" * 40
    repo = tmp_path / "models--someone--tiny-bert"
    shutil.copytree(tiny_models["bert"], repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    data = run_json(runner, CAT, "--model", "someone/tiny-bert")
    assert data["model"] == "someone/tiny-bert" and data["shapes"]["attention"][:2] == [2, 4]


def test_fifo_in_a_tokenizer_directory_never_hangs(
    runner: CliRunner, tiny_models, tmp_path: Path
) -> None:
    folder = _copy_model(tiny_models["bert"], tmp_path / "model")
    (folder / "tokenizer.json").unlink()
    os.mkfifo(folder / "tokenizer.json")
    for args in (["--model", str(folder)], ["--model", "scratch", "--tokenizer", str(folder)]):
        line = one_error_line(run(runner, CAT, *args))
        assert "tokenizer.json is not a regular file" in line


def test_running_out_of_memory_is_one_line_not_a_bug_report(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    import attninspect.model.shape_report as shape_report

    def exhausted(_settings):
        raise MemoryError

    monkeypatch.setattr(shape_report, "inspect_shapes", exhausted)
    result = runner.invoke(app, ["shapes"])
    lines = result.stderr.splitlines()
    assert result.exit_code == 1 and len(lines) == 1
    assert lines[0].startswith("Error: ran out of memory") and "report" not in lines[0]
