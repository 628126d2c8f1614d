"""One shape for every command: the same model options, panels in one order, one meaning per
option name, help that fits 80 columns, and the old spellings still at work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from attninspect.cli.app import app
from attninspect.cli.options import PANELS, TOP
from tests.conftest import CAT

MODEL_LOADING = ("run", "heads", "diff", "grid", "explore", "serve", "stats")
WRITES_DATA = ("run", "shapes", "heads", "diff", "grid", "stats", "info")
SCRATCH = ["--model", "scratch"]


def commands() -> dict[str, typer.core.TyperCommand]:
    return typer.main.get_command(app).commands  # type: ignore[attr-defined]


def describe(param) -> tuple:
    """What a user sees of one option: its spellings, panel, default, type, metavar and help."""
    return (
        tuple(param.opts),
        tuple(param.secondary_opts),
        param.rich_help_panel,
        param.default,
        str(param.type_descriptor.annotation),
        param.metavar,
        param.help,
        param.hidden,
    )


def options_in(command: str, panels: tuple[str, ...]) -> list[tuple]:
    """The options of ``panels``, less ``--server`` (a model elsewhere; checked on its own)."""
    params = commands()[command].params
    return [
        describe(p)
        for p in params
        if getattr(p, "rich_help_panel", None) in panels and "--server" not in p.opts
    ]


def test_every_model_loading_command_has_the_same_model_and_input_options() -> None:
    reference = options_in("run", ("Model",))
    names = {opt for described in reference for opt in described[0]}
    expected = "--model -m --device --dtype --trust-remote-code --download --verbose -v"
    assert set((expected + " --tokenizer --dim --num-heads --causal --seed").split()) <= names
    shared_inputs = ("--truncate", "--chat", "--system")
    inputs = [d for d in options_in("run", ("Input",)) if d[0][0] in shared_inputs]
    assert len(inputs) == 3
    for command in MODEL_LOADING:
        assert options_in(command, ("Model",)) == reference, command
        shared = [d for d in options_in(command, ("Input",)) if d in inputs]
        assert shared == inputs, command
    for command in ("run", "heads", "diff", "grid"):  # the commands a server can answer
        assert any("--server" in p.opts for p in commands()[command].params), command


def test_every_command_that_writes_data_has_output_and_format() -> None:
    for command in WRITES_DATA:
        spellings = {opt for p in commands()[command].params for opt in p.opts}
        assert {"--output", "-o", "--format"} <= spellings, command


def test_help_panels_come_in_one_order() -> None:
    for name, command in commands().items():
        panels = [getattr(p, "rich_help_panel", None) for p in command.params]
        ranks = [PANELS.index(p) + 1 if p in PANELS else 0 for p in panels]
        assert ranks == sorted(ranks), name


def test_one_meaning_and_one_default_per_option_name() -> None:
    """--heads is a head slice wherever it shows; --top lists TOP entries by default."""
    for name, command in commands().items():
        for param in command.params:
            if "--heads" in param.opts and not param.hidden:
                assert param.metavar == "SLICE", name
            if "--top" in param.opts:
                stated = param.default is None and f"default: {TOP}]" in param.help
                assert param.default == TOP or stated, name


def help_lines(runner: CliRunner, args: list[str], columns: int) -> list[str]:
    result = runner.invoke(app, args, env={"COLUMNS": str(columns), "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    return result.stdout.rstrip("\n").splitlines()


def words(lines: list[str]) -> set[str]:
    """The words of the text, not of the boxes around it."""
    found = {word for line in lines for word in line.replace("│", " ").split()}
    return {word for word in found if any(c.isalnum() for c in word)}


@pytest.mark.parametrize("command", ["run", "shapes", "heads", "diff", "grid", "explore", "stats"])
def test_help_fits_80_columns_without_cutting_a_word(runner: CliRunner, command: str) -> None:
    narrow = help_lines(runner, [command, "--help"], 80)
    wide = help_lines(runner, [command, "--help"], 250)
    assert all(len(line) <= 80 for line in narrow)
    cut = words(narrow) - words(wide)  # a word cut in two leaves pieces the wide help lacks
    assert not cut, cut
    assert "<bool>" not in "\n".join(narrow) and "2147483647" not in "\n".join(narrow)
    if command == "run":
        assert len(narrow) <= 80, len(narrow)  # 70 before --measure, --neurons, --threads, --eager


@pytest.mark.parametrize(
    "args",
    [["run", CAT, "--top", "3"], ["run", CAT, "-k", "3"], ["diff", CAT, "The dog.", "--top", "3"]],
)
def test_top_without_focus_is_a_usage_error(runner: CliRunner, args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "--focus" in lines[0]


def test_grid_writes_the_record_of_the_panels_shown(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    args = ["grid", CAT, *SCRATCH, "--num-heads", "4", "--dim", "16", "--layers", "0",
            "--heads", "1:3", "--format", "json", "-o", str(out)]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    record = json.loads(out.read_text(encoding="utf-8"))
    tokens = record["tokens"]
    assert record["all_attention_layers"] == [0] and record["all_attention_heads"] == [1, 2]
    assert len(record["all_attention"]) == 1 and len(record["all_attention"][0]) == 2
    assert len(record["all_attention"][0][0]) == len(tokens) == len(record["attention"])


def test_grid_table_goes_to_output_too(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "grid.txt"
    result = runner.invoke(app, ["grid", "The cat sat.", *SCRATCH, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout == "" and "L0 H0" in out.read_text(encoding="utf-8")


def test_grid_accepts_download(runner: CliRunner) -> None:
    result = runner.invoke(app, ["grid", "The cat sat.", *SCRATCH, "--download"])
    assert result.exit_code == 0, result.output
    assert "L0 H0" in result.stdout


def run_json(runner: CliRunner, *args: str) -> dict:
    result = runner.invoke(app, ["run", CAT, *args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_old_scratch_head_count_spelling_still_works(runner: CliRunner) -> None:
    old = run_json(runner, *SCRATCH, "--dim", "16", "--heads", "2", "--all-layers")
    new = run_json(runner, *SCRATCH, "--dim", "16", "--num-heads", "2", "--all-layers")
    assert old["shapes"]["attention"][1] == 2 and old == {**new, "seconds": old["seconds"]}
    shapes_old = runner.invoke(app, ["shapes", "--heads", "2", "--format", "json"])
    shapes_new = runner.invoke(app, ["shapes", "--num-heads", "2", "--format", "json"])
    assert shapes_old.exit_code == 0 and shapes_old.stdout == shapes_new.stdout
    assert json.loads(shapes_new.stdout)["weights"] == [1, 2, 5, 5]


def test_with_num_heads_scratch_heads_is_a_slice(runner: CliRunner) -> None:
    data = run_json(runner, *SCRATCH, "--dim", "16", "--num-heads", "4", "--heads", "1:3",
                    "--all-layers")  # fmt: skip
    assert data["all_attention_heads"] == [1, 2]


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["explore", *SCRATCH, "--heads", "2"], 1, "terminal"),  # accepted: only the tty is missing
        (["explore", *SCRATCH, "--num-heads", "2"], 1, "terminal"),
        (["explore", "--heads", "2"], 2, "--heads"),
        (["explore", "--num-heads", "2"], 2, "scratch"),
        (["shapes", "--heads", "3", "--dim", "8"], 2, "--heads 3 must divide"),
        (["shapes", "--num-heads", "3", "--dim", "8"], 2, "--num-heads 3 must divide"),
        (["run", CAT, *SCRATCH, "--heads", "3", "--dim", "10"], 2, "--heads 3 must divide"),
        (["heads", CAT, "--from", "it", "--to", "mat", "--dim", "8"], 2, "scratch"),
    ],
)
def test_head_count_errors_name_the_spelling_used(
    runner: CliRunner, args: list[str], code: int, needle: str
) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], lines
