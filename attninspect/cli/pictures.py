"""``--save FILE``: check the file name before any work, write the picture atomically after."""

from __future__ import annotations

from pathlib import Path

from attninspect.files.atomic import atomic_file, check_output_path
from attninspect.render.console import error_console
from attninspect.safe_text import printable


def check_save(path: Path | None) -> str | None:
    """The picture kind ``path`` asks for (None without --save); refuse a bad name or place now."""
    if path is None:
        return None
    from attninspect.render.pictures import picture_kind

    kind = picture_kind(path)
    check_output_path(path, "--save")
    return kind


def write_picture(path: Path, data: bytes, no_color: bool) -> None:
    """Write ``data`` to ``path`` atomically and say on stderr where it went."""
    with atomic_file(path, binary=True, option="--save") as handle:
        handle.write(data)
    message = f"saved {printable(str(path))} ({len(data):,} bytes)"
    error_console(no_color).print(message, style="dim")
