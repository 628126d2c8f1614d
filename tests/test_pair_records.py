"""With --pair, every machine record says where text B starts: json's `pair_start`, npz's
`pair_start_i`, and csv's last column `pair_start` (plain runs keep their header)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from attninspect.cli import app
from attninspect.files.records import CSV_COLUMNS

PAIR = ["--pair", "It was warm."]


def _run(*argv: str) -> str:
    result = CliRunner().invoke(app, ["run", *argv])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_json_npz_and_csv_agree_on_where_b_starts(tmp_path: Path) -> None:
    texts = tmp_path / "texts.txt"
    texts.write_text("The cat sat.\nA much longer first text here.\n", encoding="utf-8")
    lines = _run("-f", str(texts), *PAIR, "--format", "jsonl").splitlines()
    records = [json.loads(line) for line in lines]
    starts = [record["pair_start"] for record in records]
    assert starts[0] != starts[1]
    assert [record["tokens"][record["pair_start"] - 1] for record in records] == ["[SEP]"] * 2
    out = tmp_path / "p.npz"
    _run("-f", str(texts), *PAIR, "--format", "npz", "-o", str(out))
    with np.load(out, allow_pickle=False) as arrays:
        assert [int(arrays[f"pair_start_{i}"]) for i in range(2)] == starts
    for extra in ([], ["--all-layers"], ["--stats"]):
        written = _run("-f", str(texts), *PAIR, "--format", "csv", *extra)
        rows = list(csv.reader(io.StringIO(written)))
        header, body = rows[0], rows[1:]
        assert header[-1] == "pair_start"
        by_text = {int(row[0]): int(row[-1]) for row in body}
        assert by_text == {0: starts[0], 1: starts[1]}


def test_without_a_pair_nothing_changes(tmp_path: Path) -> None:
    rows = list(csv.reader(io.StringIO(_run("The cat sat.", "--format", "csv"))))
    assert tuple(rows[0]) == CSV_COLUMNS
    out = tmp_path / "one.npz"
    _run("The cat sat.", "--format", "npz", "-o", str(out))
    with np.load(out) as arrays:
        assert not any(name.startswith("pair_start") for name in arrays.files)
