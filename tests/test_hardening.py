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
    [["-", "--format", "jsonl"], [CAT, "--all-layers", "--format", "csv"]],
    ids=["jsonl-stdin", "csv-all-layers"],
)
def test_producer_exits_141_when_its_stdout_closes(tmp_path: Path, args: list[str]) -> None:
    texts = tmp_path / "many.txt"
    texts.write_text("".join(f"Sentence {n} is here.\n" for n in range(300)))
    with texts.open("rb") as stdin:
        process = subprocess.Popen(
            [*COMMAND, "run", *args],
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
    import attninspect.model.stages as stages

    def broken(_settings):
        raise RuntimeError("boom")

    monkeypatch.setattr(stages, "inspect_shapes", broken)
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
    result = run(runner, CAT, "--format", "json", "-o", str(node))
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
