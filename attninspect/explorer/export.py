"""`e` in the explorer: the current view as JSON (the record of `run --format json`)."""

from __future__ import annotations

import json
from pathlib import Path

from attninspect.analysis.inspection import Inspection
from attninspect.analysis.selection import View
from attninspect.files.atomic import atomic_file
from attninspect.files.records import run_record


def export_name(view: View) -> str:
    """``attninspect-L5-Hmean.json``, with the transforms: ``-words``, ``-rollout``, ..."""
    name = f"attninspect-L{view.layer}-H{view.head}"
    if view.kind == "rollout":
        name += "-rollout"
    if view.words:
        name += "-words"
    if view.hidden_special:
        name += "-nospecial"
    return name + ".json"


def export_view(shown: Inspection, view: View, folder: Path) -> Path:
    """Write the view atomically into ``folder``; return the file's path."""
    path = folder / export_name(view)
    with atomic_file(path) as handle:
        json.dump(run_record(shown, view), handle, ensure_ascii=False, indent=1)
        handle.write("\n")
    return path
