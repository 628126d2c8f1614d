"""`--server URL` on run, heads, diff and grid: what a local run prints, in every format, with
-o and --save written locally; the client imports neither torch nor transformers."""

from __future__ import annotations

import re
import socket
import subprocess
import sys

import numpy as np
import pytest
from conftest import CAT
from serve_helpers import ENV, ROOT

from attninspect.cli import app

TIMING = re.compile(r"\d+\.\d+ s\b|\"seconds\": [0-9.e-]+")


@pytest.fixture(scope="module")
def local(monkeypatch_module):
    """Local runs share one loaded model (the same model the server loaded)."""
    from attninspect.api import Inspector
    from attninspect.cli import feedback

    inspector = Inspector()
    real = feedback.load_inspector

    def load(no_color, truncate=False, batch_size=16, **engine):
        if engine.get("model") is None:
            inspector.truncate, inspector.batch_size = truncate, batch_size
            return inspector
        return real(no_color, truncate, batch_size, **engine)

    monkeypatch_module.setattr(feedback, "load_inspector", load)
    return inspector


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def _both(runner, served, args: list[str], input: str | bytes | None = None):
    here = runner.invoke(app, args, input=input)
    there = runner.invoke(app, [*args, "--server", served.url], input=input)
    return here, there


def _same(here, there) -> None:
    assert here.exit_code == 0, here.output
    assert there.exit_code == 0, there.output
    assert TIMING.sub("S", there.stdout) == TIMING.sub("S", here.stdout)


@pytest.mark.parametrize(
    "args",
    [
        ["run", CAT, "--focus", "it"],
        ["run", CAT, "--format", "json", "--layer", "2", "--head", "max", "--focus", "it#1"],
        ["run", CAT, "--format", "json", "--all-layers", "--layers", "1:3", "--heads", "::4"],
        ["run", CAT, "--format", "csv", "--words", "--hide-special"],
        ["run", CAT, "--rollout", "--stats"],
        ["run", "-", "--format", "jsonl"],
        ["heads", CAT, "--from", "it", "--to", "mat"],
        ["heads", CAT, "--from", "it", "--to", "mat", "--format", "csv", "--words"],
        ["diff", CAT, "The dog sat on the mat because it was cold.", "--focus", "it"],
        ["diff", CAT, "A cat sat.", "--format", "json"],
        ["grid", CAT, "--layers", "-2:", "--heads", "0:3"],
        ["grid", CAT, "--layers", "1", "--heads", "0:2", "--measure", "scores"],
        ["grid", CAT, "--layers", "1", "--measure", "norms", "--format", "json"],
        ["run", CAT, "--format", "json", "--measure", "scores", "--layer", "2", "--head", "3",
         "--focus", "it"],
        ["run", CAT, "--format", "csv", "--measure", "norms", "--head", "1", "--all-layers",
         "--layers", "4:"],
        ["run", CAT, "--measure", "norms", "--focus", "it"],
        ["run", "-", "--format", "jsonl", "--measure", "scores", "--head", "max"],
        ["run", CAT, "--neurons", "--focus", "it", "--layer", "2", "--head", "3"],
        ["run", CAT, "--neurons", "--focus", "it", "--layer", "2", "--head", "3", "--format",
         "json"],
    ],
)  # fmt: skip
def test_the_server_prints_what_a_local_run_prints(runner, served, local, args) -> None:
    stdin = "first text\n\nsecond text is longer\n" if "-" in args else None
    _same(*_both(runner, served, args, stdin))


def test_files_are_written_locally_and_equal(runner, served, local, tmp_path) -> None:
    for side in ("here", "there"):
        args = ["run", CAT, "--format", "npz", "-o", str(tmp_path / f"{side}.npz"),
                "--save", str(tmp_path / f"{side}.html")]  # fmt: skip
        if side == "there":
            args += ["--server", served.url]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    here, there = np.load(tmp_path / "here.npz"), np.load(tmp_path / "there.npz")
    assert sorted(here.files) == sorted(there.files)
    for name in here.files:
        assert np.array_equal(here[name], there[name]), name
    page = (tmp_path / "here.html").read_bytes()
    assert b'"neurons":{"layer":5' in page  # the neuron view's vectors: the server sends them too
    assert page == (tmp_path / "there.html").read_bytes()
    for command in (["heads", CAT, "--from", "it", "--to", "mat"], ["grid", CAT]):
        for side in ("here", "there"):
            save = tmp_path / f"{command[0]}-{side}.svg"
            args = [*command, "--save", str(save)] + (["--server", served.url] * (side == "there"))
            assert runner.invoke(app, args).exit_code == 0
        assert (tmp_path / f"{command[0]}-here.svg").read_bytes() == (
            tmp_path / f"{command[0]}-there.svg"
        ).read_bytes()


def test_measured_and_neuron_files_are_equal(runner, served, local, tmp_path) -> None:
    for side in ("here", "there"):
        args = ["run", CAT, "--measure", "scores", "--format", "npz",
                "-o", str(tmp_path / f"{side}.npz")]  # fmt: skip
        neurons = ["run", CAT, "--neurons", "--focus", "it", "--head", "1", "--format", "npz",
                   "-o", str(tmp_path / f"{side}-neurons.npz")]  # fmt: skip
        for command in (args, neurons):
            there = ["--server", served.url] if side == "there" else []
            result = runner.invoke(app, command + there)
            assert result.exit_code == 0, result.output
    for name in ("", "-neurons"):
        here, there = np.load(tmp_path / f"here{name}.npz"), np.load(tmp_path / f"there{name}.npz")
        assert sorted(here.files) == sorted(there.files)
        for key in here.files:
            assert np.array_equal(here[key], there[key], equal_nan=here[key].dtype.kind == "f"), key
        assert "measure" in here.files if not name else "queries" in here.files


@pytest.fixture(scope="module")
def causal_served(tiny_models):
    """A server on a tiny GPT-2: its scores are masked above the diagonal."""
    from serve_helpers import serve

    with serve("--model", str(tiny_models["gpt2"]), "--threads", "1") as server:
        yield server


@pytest.mark.parametrize("output", ["json", "csv", "table"])
def test_masked_scores_travel_as_a_local_run_prints_them(
    runner, causal_served, tiny_models, output
) -> None:
    args = ["run", CAT, "--measure", "scores", "--layer", "1", "--format", output]
    here = runner.invoke(app, [*args, "--model", str(tiny_models["gpt2"])])
    there = runner.invoke(app, [*args, "--server", causal_served.url])
    _same(here, there)
    if output == "json":
        assert "null" in there.stdout  # masked cells


def test_measure_errors_are_the_same_lines(runner, served, local) -> None:
    for args in (
        ["run", CAT, "--measure", "norms", "--rollout"],
        ["run", CAT, "--measure", "scores", "--words"],
        ["run", CAT, "--measure", "norms", "--all-layers", "--heads", "0:2"],
        ["run", CAT, "--measure", "cosine"],
        ["run", CAT, "--neurons", "--focus", "dog", "--head", "1"],
        ["run", CAT, "--neurons", "--focus", "it", "--head", "1", "--layer", "9"],
    ):
        here, there = _both(runner, served, args)
        assert (there.exit_code, there.stderr) == (here.exit_code, here.stderr), args
        assert there.exit_code != 0 and there.stderr.startswith("Error: "), there.stderr


def test_errors_are_the_same_lines(runner, served, local) -> None:
    for args in (
        ["run", CAT, "--layer", "9"],
        ["run", CAT, "--focus", "dog"],
        ["heads", CAT, "--from", "it", "--to", "dog"],
        ["diff", CAT, "Another text.", "--focus", "warm"],
        ["run", "-", "--skip-errors"],
    ):
        stdin = b"ok text\n\xff\xfe not utf-8\nlast text\n" if "-" in args else None
        here, there = _both(runner, served, args, stdin)
        assert (there.exit_code, there.stderr) == (here.exit_code, here.stderr), args
        assert there.stdout == here.stdout or TIMING.sub("S", there.stdout) == TIMING.sub(
            "S", here.stdout
        )


def test_the_environment_variable_and_the_token(runner, served, local, monkeypatch) -> None:
    base = served.url.split("?")[0]
    monkeypatch.setenv("ATTNINSPECT_SERVER", base)
    monkeypatch.setenv("ATTNINSPECT_TOKEN", served.token)
    result = runner.invoke(app, ["run", CAT, "--format", "json"])
    assert result.exit_code == 0, result.output
    monkeypatch.delenv("ATTNINSPECT_TOKEN")
    result = runner.invoke(app, ["run", CAT])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: the server at ") and "token" in result.stderr
    assert result.stderr.count("\n") == 1
    result = runner.invoke(app, ["run", CAT, "--model", "scratch"])
    assert result.exit_code == 2
    assert "--model" in result.stderr and "server" in result.stderr


def test_a_refused_connection_is_one_error_line(runner) -> None:
    with socket.socket() as closed:  # bound, never listening: connecting is refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        for command in (["run", CAT], ["heads", CAT, "--from", "it", "--to", "mat"],
                        ["diff", CAT, CAT], ["grid", CAT]):  # fmt: skip
            result = runner.invoke(app, [*command, "--server", f"http://127.0.0.1:{port}"])
            assert result.exit_code == 1
            assert result.stderr == (
                f"Error: cannot reach the server at http://127.0.0.1:{port}: connection refused "
                "(start it with `attninspect serve`, or drop --server)\n"
            )
        result = runner.invoke(app, ["run", CAT, "--server", "ftp://x"])
        assert result.exit_code == 1 and "give a URL" in result.stderr


def test_the_client_imports_neither_torch_nor_transformers(served) -> None:
    script = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from attninspect.cli import app\n"
        f"for args in ([{CAT!r}, '--focus', 'it'], [{CAT!r}, '--format', 'csv']):\n"
        "    result = CliRunner().invoke(app, ['run', *args, '--server', sys.argv[1]])\n"
        "    assert result.exit_code == 0, result.output\n"
        "result = CliRunner().invoke(app, ['grid', 'a b', '--server', sys.argv[1]])\n"
        "assert result.exit_code == 0, result.output\n"
        "loaded = sorted(m for m in ('torch', 'transformers', 'starlette', 'uvicorn') "
        "if m in sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, served.url],
        cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]


def test_help_still_imports_nothing_heavy() -> None:
    script = (
        "import sys\nfrom typer.testing import CliRunner\nfrom attninspect.cli import app\n"
        "for args in (['--help'], ['serve', '--help'], ['run', '--help']):\n"
        "    assert CliRunner().invoke(app, args).exit_code == 0\n"
        "heavy = ('torch', 'transformers', 'starlette', 'uvicorn')\n"
        "assert not [m for m in heavy if m in sys.modules]\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=ENV,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
