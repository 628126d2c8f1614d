"""`e` in the explorer: the current view as JSON (`run --format json`'s record) or as a picture
in any format of `--save` (.png, .svg, .pdf, .html)."""

from __future__ import annotations

import json
from pathlib import Path

from attninspect.analysis.inspection import Inspection
from attninspect.analysis.selection import View
from attninspect.errors import AttnInspectError
from attninspect.files.atomic import atomic_file
from attninspect.files.records import run_record

KINDS = ("json", "png", "svg", "pdf", "html")
DPI = 150


def export_name(view: View, kind: str = "png", measure: str = "weights") -> str:
    """``attninspect-L5-Hmean.png``, with the transforms: ``-words``, ``-rollout``, ..., and
    the measure where not weights: ``-scores``, ``-norms``."""
    name = f"attninspect-L{view.layer}-H{view.head}"
    if measure != "weights":
        name += f"-{measure}"
    if view.kind == "rollout":
        name += "-rollout"
    if view.words:
        name += "-words"
    if view.hidden_special:
        name += "-nospecial"
    return f"{name}.{kind}"


def view_title(shown: Inspection, view: View) -> str:
    """model, then layer · head · view, as `run --save` titles its picture."""
    parts = [f"layer {view.layer}", f"head {view.head}", view.kind]
    if shown.measure != "weights":
        parts.append(shown.measure)
    if view.words:
        parts.append("words")
    if view.hidden_special:
        parts.append("special tokens hidden")
    return f"{shown.model}\n" + " · ".join(parts)


def export_view(shown: Inspection, view: View, path: Path) -> int:
    """Write the view to ``path`` atomically, in the format its suffix names; the bytes written."""
    kind = path.suffix.lower().lstrip(".")
    if kind not in KINDS:
        raise AttnInspectError(
            f"{str(path)!r}: unknown file type; use {', '.join('.' + k for k in KINDS)}"
        )
    if kind == "json":
        data = (json.dumps(run_record(shown, view), ensure_ascii=False, indent=1) + "\n").encode()
    else:
        from attninspect.render.pictures import matrix_picture

        selection = (view.layer, view.head if view.head != "max" else "mean")
        title = view_title(shown, view)
        data = matrix_picture(kind, DPI, shown, view.matrix, title, selection, view.focus)
    with atomic_file(path, binary=True, option="export") as handle:
        handle.write(data)
    return len(data)
