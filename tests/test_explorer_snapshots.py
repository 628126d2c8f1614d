"""Snapshots of the explorer's screens (pytest-textual-snapshot), on made-up attention numbers.

Update after a deliberate change of the screen with ``pytest tests/test_explorer_snapshots.py
--snapshot-update`` and look at the pictures before committing them.
"""

from __future__ import annotations

from attninspect.explorer.app import ExplorerApp
from tests.explorer_helpers import FakeInspector

SIZE = (120, 40)
TEXT = "The cat sat on the mat because it was warm."


async def loaded(pilot) -> None:
    await pilot.app.wait_until_loaded()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def app() -> ExplorerApp:
    return ExplorerApp(FakeInspector, TEXT, "synthetic")


def test_first_frame(snap_compare) -> None:
    assert snap_compare(app(), terminal_size=SIZE, run_before=loaded)


def test_head_words_and_focus(snap_compare) -> None:
    keys = ["right", "right", "up", "w", *["j"] * 8, "enter"]
    assert snap_compare(app(), press=keys, terminal_size=SIZE, run_before=loaded)


def test_help(snap_compare) -> None:
    assert snap_compare(app(), press=["question_mark"], terminal_size=SIZE, run_before=loaded)


def test_model_view(snap_compare) -> None:
    assert snap_compare(app(), press=["g", "right"], terminal_size=SIZE, run_before=loaded)
