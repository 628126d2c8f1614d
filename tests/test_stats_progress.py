"""`stats`' progress bar moves per forward pass as texts finish, not once per read-ahead window."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from attninspect.cli import app, feedback

WORDS = [
    "the",
    "cat",
    "sat",
    "on",
    "a",
    "warm",
    "mat",
    "and",
    "then",
    "it",
    "ran",
    "off",
    "to",
    "see",
    "a",
    "dog",
]


@pytest.fixture
def advances(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """What `stats` tells its progress bar, in order (the bar itself needs a terminal)."""
    told: list[int] = []

    @contextlib.contextmanager
    def bar(errors, source, data_on_terminal):
        yield lambda done=1: told.append(done)

    monkeypatch.setattr(feedback, "progress_bar", bar)
    return told


def test_the_bar_moves_per_batch_and_counts_every_line(advances: list[int], tmp_path: Path) -> None:
    lines = [" ".join(WORDS[: 3 + n % 9]) for n in range(21)]
    lines[4] = "bad \udcff line"
    path = tmp_path / "texts.txt"
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8", "surrogateescape"))
    argv = ["stats", "-f", str(path), "--batch-size", "4", "--skip-errors", "--format", "json"]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert sum(advances) == len(lines)  # every line once, the bad one too
    assert len(advances) >= 20 // 4 and max(advances) <= 4  # one step per batch of at most 4


def test_the_api_tells_each_batch(tmp_path: Path) -> None:
    from attninspect import Inspector
    from attninspect.api.corpus import StatsPlan
    from attninspect.files.sources import SourceText

    inspector = Inspector(batch_size=3)
    items = [SourceText(" ".join(WORDS[: 2 + n]), n, n + 1) for n in range(10)]
    told: list[int] = []
    parts = list(inspector.stats_windows(items, StatsPlan(batch_size=3), told.append))
    assert len(parts) == 1 and parts[0].sums.texts == 10
    assert sorted(told) == [1, 3, 3, 3]
