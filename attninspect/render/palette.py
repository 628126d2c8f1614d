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


def interpolate(stops: tuple[tuple[int, int, int], ...], fraction: float) -> Color:
    """The colour at ``fraction`` in [0, 1] (clamped) along ``stops``, linearly interpolated."""
    t = min(max(fraction, 0.0), 1.0) * (len(stops) - 1)
    low = int(t)
    high = min(low + 1, len(stops) - 1)
    mix = t - low
    r, g, b = (round(a + (c - a) * mix) for a, c in zip(stops[low], stops[high], strict=True))
    return Color.from_rgb(r, g, b)


def viridis(fraction: float) -> Color:
    """The viridis colour at ``fraction`` in [0, 1]."""
    return interpolate(VIRIDIS, fraction)


def weight_style(weight: float, scale_max: float) -> Style:
    """Background by weight; dark text on the light end, light text on the dark end."""
    fraction = weight / scale_max if scale_max > 0 else 0.0
    foreground = "black" if fraction >= 0.55 else "white"
    return Style(bgcolor=viridis(fraction), color=foreground)


def legend(scale_max: float, precision: int, note: str = "", low: float = 0.0) -> Text:
    """A strip of the scale from ``low`` (0) to ``scale_max``, with the end values."""
    text = Text("colour scale  ")
    text.append(f"{low:.{precision}f} ")
    steps = 12
    for step in range(steps):
        text.append("  ", style=Style(bgcolor=viridis(step / (steps - 1))))
    text.append(f" {scale_max:.{precision}f}")
    if note:
        text.append(f"  {note}", style="dim")
    return text


# ColorBrewer RdBu, reversed: blue (A < B) through near-white (no change) to red (A > B).
DIVERGING = (
    (33, 102, 172),
    (67, 147, 195),
    (146, 197, 222),
    (209, 229, 240),
    (247, 247, 247),
    (253, 219, 199),
    (244, 165, 130),
    (214, 96, 77),
    (178, 24, 43),
)


def diverging(value: float, limit: float) -> Color:
    """The colour of ``value`` on a symmetric scale from -limit (blue) to +limit (red)."""
    fraction = 0.5 if limit <= 0 else 0.5 + 0.5 * value / limit
    return interpolate(DIVERGING, fraction)


def delta_style(value: float, limit: float) -> Style:
    """Background by signed change; dark text on the pale middle, light text on the ends."""
    strong = limit > 0 and abs(value) / limit > 0.6
    return Style(bgcolor=diverging(value, limit), color="white" if strong else "black")


def diverging_legend(limit: float, precision: int) -> Text:
    """A strip of the diverging scale with its end values."""
    text = Text("colour scale  ")
    text.append(f"-{limit:.{precision}f} ")
    steps = 12
    for step in range(steps):
        value = -limit + 2 * limit * step / (steps - 1)
        text.append("  ", style=Style(bgcolor=diverging(value, limit)))
    text.append(f" +{limit:.{precision}f}")
    text.append("  red: more attention in A, blue: more in B", style="dim")
    return text
