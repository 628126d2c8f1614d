"""`--threads N` on every command that runs a model, and ``Inspector(threads=N)``: torch's
intra-op thread count in the process after the command (each run in a fresh subprocess, since
the count is process-wide)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from attninspect.api import Inspector
from attninspect.errors import BadValueError

# Each command with its arguments, then torch's thread count after it ran in this process.
SCRIPT = textwrap.dedent(
    """
    import json, sys, torch
    from typer.testing import CliRunner
    from attninspect.cli.app import app
    found = {}
    for count, args in json.loads(sys.argv[1]):
        torch.set_num_threads(5)
        result = CliRunner().invoke(app, args + ["--threads", str(count)])
        assert result.exit_code == 0, (args, result.output)
        found[args[0]] = torch.get_num_threads()
    print(json.dumps(found))
    """
)


def test_threads_sets_torchs_intra_op_threads_on_every_model_command(tmp_path) -> None:
    import json

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("The cat sat.\nA dog ran.\n", encoding="utf-8")
    commands = [
        (1, ["run", "The cat sat."]),
        (2, ["heads", "The cat sat.", "--from", "cat", "--to", "The"]),
        (3, ["diff", "The cat sat.", "The dog sat."]),
        (4, ["grid", "The cat sat."]),
        (1, ["stats", "--file", str(corpus)]),
    ]
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(commands)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found == {args[0]: count for count, args in commands}


@pytest.mark.parametrize("command", ["run", "heads", "diff", "grid", "explore", "stats", "serve"])
def test_threads_out_of_range_is_a_usage_error(command: str) -> None:
    from typer.testing import CliRunner

    from attninspect.cli.app import app

    result = CliRunner().invoke(app, [command, "x", "--threads", "0"])
    assert result.exit_code == 2
    assert "--threads" in result.output


def test_inspector_threads_sets_the_process_count() -> None:
    script = (
        "import torch; from attninspect.api import Inspector; torch.set_num_threads(3); "
        "Inspector(threads=1).run('The cat sat.'); print(torch.get_num_threads())"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "1"


@pytest.mark.parametrize("value", [0, -1, 2000, 1.5, "2", True])
def test_inspector_refuses_a_thread_count_that_is_not_one(value: object) -> None:
    with pytest.raises(BadValueError, match="threads="):
        Inspector(threads=value)  # type: ignore[arg-type]
