"""``--save FILE``: check the file name before any work, write the picture atomically after."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from attninspect.safe_text import printable

if TYPE_CHECKING:
    from attninspect.analysis.alignment import TextDiff
    from attninspect.analysis.head_ranking import HeadSearch
    from attninspect.analysis.inspection import Inspection
    from attninspect.analysis.neurons import LayerNeurons
    from attninspect.analysis.selection import HeadChoice, View


def check_save(path: Path | None, output: Path | None = None, dpi: int = 150) -> str | None:
    """The picture kind ``path`` asks for (None without --save); refuse a bad name or place, the
    same file as ``--output``, or a PNG at ``dpi`` that even the smallest figure cannot fit in
    memory, now (the figure's own size is checked again before it is drawn)."""
    if path is None:
        return None
    if output is not None and path.resolve() == output.resolve():
        import typer

        raise typer.BadParameter(
            "--save and --output name the same file; give each its own", param_hint="'--save'"
        )
    from attninspect.files.atomic import check_output_path
    from attninspect.render.pictures import picture_kind

    kind = picture_kind(path)
    check_output_path(path, "--save")
    if kind == "png":
        from attninspect.render.figures import SMALLEST_INCHES, check_picture_memory

        check_picture_memory(SMALLEST_INCHES, dpi, picture_memory())
    return kind


def picture_memory() -> int:
    """The bytes a PNG may take to draw: what this process may still use of system memory."""
    from attninspect.model import memory

    return min(
        memory.system_available_bytes(),
        memory.address_space_left(),
        memory.cgroup_available_bytes(),
    )


DPI = 150  # --dpi's default


def dpi_of(dpi: int | None, save: Path | None) -> int:
    """``--dpi`` sets a saved picture's resolution: without --save it is a usage error."""
    if dpi is not None and save is None:
        import typer

        raise typer.BadParameter("--dpi sets the resolution of --save: add --save FILE.png",
                                 param_hint="'--dpi'")  # fmt: skip
    return DPI if dpi is None else dpi


def write_picture(path: Path, data: bytes, no_color: bool) -> None:
    """Write ``data`` to ``path`` atomically and say on stderr where it went."""
    from attninspect.files.atomic import atomic_file
    from attninspect.render.console import error_console

    with atomic_file(path, binary=True, option="--save") as handle:
        handle.write(data)
    message = f"saved {printable(str(path))} ({len(data):,} bytes)"
    error_console(no_color).print(message, style="dim")


def _view_title(inspection: Inspection, view: View) -> str:
    """model · layer · head · view, as the table's own title says it (the view: attention,
    rollout, or the measure shown: scores, norms)."""
    from attninspect.render.measure_text import title_part

    shown = getattr(view, "kind", "attention")  # attention or rollout
    measure = getattr(inspection, "measure", "weights")
    if shown == "attention":
        shown = title_part(measure, _summed(inspection, view))
    kind = getattr(inspection, "kind", "self")  # cross, encoder, decoder: said in the title
    parts = [
        f"layer {view.layer}",
        f"head {view.head}",
        shown if kind == "self" else f"{kind} {shown}",
    ]
    if getattr(view, "words", False):
        parts.append("words")
    if getattr(view, "hidden_special", False):
        parts.append("special tokens hidden")
    return f"{inspection.model}\n" + " · ".join(parts)


def _summed(inspection: Inspection, view: View) -> bool:
    """Whether the view is the norms' head mean: the norm of the sum over heads."""
    return getattr(inspection, "measure", "weights") == "norms" and view.head == "mean"


def run_picture(
    kind: str,
    dpi: int,
    inspection: Inspection,
    view: View,
    neurons: LayerNeurons | None = None,
    page: Inspection | None = None,
) -> bytes:
    """`run --save`: the selected view of one text (a page with ``neurons``: its neuron view;
    ``page``: what the page holds where it is not ``inspection``, such as every head's norms
    with the norm of their sum)."""
    from attninspect.render.pictures import matrix_picture

    title = _view_title(inspection, view)
    selection: tuple[int, HeadChoice] = (view.layer, "mean" if view.head == "max" else view.head)
    rollout = getattr(view, "kind", "attention") == "rollout"
    shown = (view.matrix, title, selection, view.focus, rollout)
    held = inspection if page is None or kind != "html" else page
    summed = _summed(inspection, view)
    return matrix_picture(kind, dpi, held, *shown, picture_memory(), neurons, summed)


def heads_picture(kind: str, dpi: int, search: HeadSearch) -> bytes:
    """`heads --save`: the from → to weight of every layer x head."""
    import numpy as np

    from attninspect.render.pictures import heads_picture as render

    inspection = search.inspection
    scores = np.zeros((inspection.num_layers, inspection.num_heads))  # (L, H)
    for score in search.scores:
        scores[score.layer, score.head] = score.weight
    source, target = inspection.query_tokens[search.source], inspection.key_tokens[search.target]
    noun = {"weights": "weight", "scores": "score", "norms": "norm ‖αf(x)‖"}.get(
        inspection.measure, inspection.measure
    )
    title = f"{inspection.model}\n{noun} {source} (@{search.source}) → {target} (@{search.target})"
    best = max(search.scores, key=lambda score: score.weight)
    best_head = (best.layer, best.head)
    return render(kind, dpi, inspection, scores, title, best_head, picture_memory())


def diff_picture(kind: str, dpi: int, comparison: TextDiff) -> bytes:
    """`diff --save`: A − B over the tokens the two texts share."""
    from attninspect.render.pictures import diff_picture as render

    a, b, view = comparison.a, comparison.b, comparison.view_a
    rows = [_pair_label(a.tokens[i], b.tokens[j]) for i, j in comparison.alignment.pairs]
    key_pairs = (comparison.key_alignment or comparison.alignment).pairs
    columns = [_pair_label(a.key_tokens[i], b.key_tokens[j]) for i, j in key_pairs]
    title = f"A − B, {_view_title(a, view)}"
    selection: tuple[int, HeadChoice] = (view.layer, "mean" if view.head == "max" else view.head)
    delta = (comparison.paired, rows, columns)
    texts = (comparison.shown_text(0), comparison.shown_text(1))
    return render(kind, dpi, (a, b), delta, title, selection, picture_memory(), texts)


def _pair_label(token_a: str, token_b: str) -> str:
    """One axis label for a pair of aligned tokens: ``cat`` or ``cat/dog``."""
    return token_a if token_a == token_b else f"{token_a}/{token_b}"
