"""Perceptually ordered colour scales for weights (viridis) and their legends."""

from __future__ import annotations

from rich.color import Color
from rich.style import Style
from rich.text import Text

# Ten stops of matplotlib's viridis: dark purple (low) to yellow (high), ordered in lightness.
VIRIDIS = (
    (68, 1, 84),
    (72, 40, 120),
    (62, 74, 137),
    (49, 104, 142),
    (38, 130, 142),
    (31, 158, 137),
    (53, 183, 121),
    (109, 205, 89),
    (180, 222, 44),
    (253, 231, 37),
)


def viridis(fraction: float) -> Color:
    """The viridis colour at ``fraction`` in [0, 1] (clamped), linearly interpolated."""
    t = min(max(fraction, 0.0), 1.0) * (len(VIRIDIS) - 1)
    low = int(t)
    high = min(low + 1, len(VIRIDIS) - 1)
    mix = t - low
    r, g, b = (round(a + (c - a) * mix) for a, c in zip(VIRIDIS[low], VIRIDIS[high], strict=True))
    return Color.from_rgb(r, g, b)


def weight_style(weight: float, scale_max: float) -> Style:
    """Background by weight; dark text on the light end, light text on the dark end."""
    fraction = weight / scale_max if scale_max > 0 else 0.0
    foreground = "black" if fraction >= 0.55 else "white"
    return Style(bgcolor=viridis(fraction), color=foreground)


def legend(scale_max: float, precision: int, note: str = "") -> Text:
    """A strip of the scale from 0 to ``scale_max``, with the end values."""
    text = Text("colour scale  ")
    text.append(f"{0:.{precision}f} ")
    steps = 12
    for step in range(steps):
        text.append("  ", style=Style(bgcolor=viridis(step / (steps - 1))))
    text.append(f" {scale_max:.{precision}f}")
    if note:
        text.append(f"  {note}", style="dim")
    return text
