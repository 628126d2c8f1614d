"""`attninspect info`: where the models are, as a terminal table."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from attninspect.safe_text import printable
from attninspect.units import format_bytes


def info_table(record: dict[str, Any]) -> RenderableType:
    """The bundled model, the demo models, the hub cache and the models found in it."""
    places = Table.grid(padding=(0, 2))
    places.add_column(style="bold")
    places.add_column(overflow="fold")
    bundled = record["bundled_model"]
    places.add_row("version", record["version"])
    places.add_row("bundled model", f"{bundled['name']}  {printable(bundled['path'] or '')}"
                   if bundled["path"] else f"not installed ({bundled['problem']})")  # fmt: skip
    places.add_row("hub cache", printable(record["hub_cache"]))
    places.add_row("offline", "yes (HF_HUB_OFFLINE)" if record["offline"] else "no")
    demos = demo_table(record.get("demo_models", []))
    models = record["cached_models"]
    if not models:
        return Group(places, Text(""), demos, Text("\nno models in the hub cache", style="dim"))
    table = Table(
        title=f"{len(models)} models in the hub cache (--model NAME)", title_justify="left"
    )
    table.add_column("name")
    table.add_column("size", justify="right")
    table.add_column("loads", justify="center")
    for model in models:
        table.add_row(printable(model["name"]), format_bytes(model["size"]),
                      "yes" if model["loadable"] else "no config")  # fmt: skip
    return Group(places, Text(""), demos, Text(""), table)


def demo_table(demos: list[dict[str, str]]) -> Table:
    """The trained demo models shipped in the package, by name."""
    table = Table(title="demo models in the package (--model NAME)", title_justify="left")
    table.add_column("name", no_wrap=True)
    table.add_column("what it shows", overflow="fold")
    for demo in demos:
        table.add_row(printable(demo["name"]), printable(demo["about"]))
    return table
