"""Issue 20, item 14: at 80 columns the windowed matrix keeps what matters in sight — the focus
row's largest weights and the special tokens — in `run`, `diff` and the explorer, with the real
default model. The numbers on screen are compared with `--format json`'s."""

from __future__ import annotations

import json

from attninspect.cli.app import app
from tests.test_rendering import drawn_cells

ANIMAL = "The animal didn't cross the street because it was too tired."
NARROW = {"COLUMNS": "80", "NO_COLOR": "1"}


def invoke(runner, *args: str) -> str:
    result = runner.invoke(app, list(args), env=NARROW)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_run_at_80_columns_keeps_cls_and_the_focus_rows_top_keys(runner) -> None:
    args = ["run", ANIMAL, "--layer", "4", "--focus", "it"]
    record = json.loads(invoke(runner, *args, "--format", "json"))
    table = invoke(runner, *args)
    cells = drawn_cells(table)
    focus = record["focus"]["index"]
    keys = {key for _, key in cells}
    assert len(keys) < len(record["tokens"])  # windowed at 80 columns
    for entry in record["focus"]["top"]:  # [CLS] 0.48, animal, ...
        assert cells[(focus, entry["index"])] == f"{entry['weight']:.2f}"
    assert {0, len(record["tokens"]) - 1} <= keys  # [CLS] and [SEP]
    for (query, key), value in cells.items():
        assert value == f"{record['attention'][query][key]:.2f}"
    assert "┆" in table and "kept in sight" in table
    assert max(len(line) for line in table.split("what it")[0].splitlines()) <= 80


def test_diff_at_80_columns_keeps_the_largest_changes_and_the_special_tokens(runner) -> None:
    other = ANIMAL.replace("tired", "wide")
    args = ["diff", ANIMAL, other, "--layer", "4", "--focus", "it"]
    record = json.loads(invoke(runner, *args, "--format", "json"))
    table = invoke(runner, *args)
    cells = drawn_cells(table)
    delta = record["delta"]  # (T, T): A − B, the texts have the same length
    focus = record["a"]["focus"]["index"]
    largest = sorted(range(len(delta)), key=lambda key: -abs(delta[focus][key]))[:5]
    keys = {key for _, key in cells}
    assert len(keys) < len(delta) and {0, len(delta) - 1} <= keys
    assert set(largest) <= keys
    for (query, key), value in cells.items():
        expected = f"{delta[query][key]:+.2f}"
        assert value in (expected, expected[1:]) or float(value) == float(expected) == 0


def test_full_in_a_pipe_prints_every_weight_in_column_blocks(runner) -> None:
    """Issue 20, item 15: `run --full` in a pipe (80 columns) printed every cell as `0…`."""
    args = ["run", ANIMAL, "--layer", "4"]
    record = json.loads(invoke(runner, *args, "--format", "json"))
    table = invoke(runner, *args, "--full")
    assert "0…" not in table and "blocks of columns" in table
    cells = drawn_cells(table)
    size = len(record["tokens"])
    assert set(cells) == {(query, key) for query in range(size) for key in range(size)}
    for (query, key), value in cells.items():
        assert value == f"{record['attention'][query][key]:.2f}"
