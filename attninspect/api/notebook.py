"""Jupyter: an `Inspection` shows as the HTML page (head view, model view, matrix) in an
isolated frame. Set here, in the API layer, because the page renderer lives above analysis."""

from __future__ import annotations

import html

from attninspect.analysis import inspection as inspection_module
from attninspect.analysis.inspection import Inspection

FRAME_HEIGHT = 640  # pixels


def inspection_html(inspection: Inspection) -> str | None:
    """The page of ``inspection`` in an ``<iframe srcdoc>`` (its scripts and styles kept apart
    from the notebook's), or None when it holds no whole layer to draw."""
    if inspection.attention.shape[0] == 0:
        return None
    from attninspect.render.html_page import document, render_page

    page = render_page([document(inspection)], inspection.model)  # the last layer, head mean
    return (
        f'<iframe srcdoc="{html.escape(page, quote=True)}" title="attention" '
        f'style="width: 100%; height: {FRAME_HEIGHT}px; border: 0"></iframe>'
    )


def install() -> None:
    """Let every `Inspection` draw itself in Jupyter."""
    inspection_module.HTML_DRAWER = inspection_html
