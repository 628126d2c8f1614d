"""Length-bucketed batching of file and stdin runs: fewer padded tokens, output in input order."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from attninspect.api.batching import buckets
from attninspect.cli import app
from attninspect.files.sources import SourceText


class _Encoding:
    def __init__(self, length: int) -> None:
        self.length = length

    def __len__(self) -> int:
        return self.length


def _pending(lengths: list[int]):
    return [(i, SourceText(text=str(n), index=i), _Encoding(n)) for i, n in enumerate(lengths)]


def test_buckets_sort_by_length_under_the_cap_and_the_budget() -> None:
    groups = buckets(_pending([9, 3, 30, 3, 8, 4, 31, 2]), batch_size=3, budget=40)
    assert [[len(e[2]) for e in group] for group in groups] == [[2, 3, 3], [4, 8, 9], [30], [31]]
    assert [e[0] for e in groups[0]] == [7, 1, 3]  # equal lengths keep their input order
    assert sorted(e[0] for group in groups for e in group) == list(range(8))


def test_a_text_over_the_budget_runs_alone() -> None:
    assert [len(g) for g in buckets(_pending([50, 60]), batch_size=8, budget=40)] == [1, 1]


LINES = [
    "A long sentence about a cat that sat on a mat because it was warm and tired.",
    "Short.",
    "bad \udcff",  # replaced below by an invalid byte
    "Medium length text here.",
    "",
    "Another rather long sentence, with commas, clauses and many more words in it.",
    "Hi.",
]


def test_run_writes_in_input_order_with_right_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "mixed.txt"
    raw = "\n".join(LINES).encode("utf-8", "surrogateescape") + b"\n"
    path.write_bytes(raw)
    runner = CliRunner()
    argv = ["run", "-f", str(path), "--format", "jsonl", "--batch-size", "2", "--skip-errors"]
    result = runner.invoke(app, argv)
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["line"] for r in records] == [1, 2, 4, 6, 7]
    assert [r["text"] for r in records] == [LINES[i - 1] for i in (1, 2, 4, 6, 7)]
    assert [r["text_index"] for r in records] == sorted(r["text_index"] for r in records)
    assert "skipped line 3: not valid UTF-8" in result.stderr
    alone = runner.invoke(app, ["run", LINES[3], "--format", "json"])
    expected = np.array(json.loads(alone.stdout)["attention"])
    np.testing.assert_allclose(np.array(records[2]["attention"]), expected, atol=1e-5)


def test_stdin_keeps_its_order(tmp_path: Path) -> None:
    texts = [LINES[0], "Hi.", LINES[5], "Ok then."]
    result = CliRunner().invoke(
        app, ["run", "-", "--format", "jsonl", "--batch-size", "2"], input="\n".join(texts) + "\n"
    )
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["text"] for line in result.stdout.splitlines()] == texts
