"""`attninspect info`: where the bundled model and the Hugging Face cache are, and which local
models (the demo models shipped in the package, the cached ones) `--model` can name."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from attninspect.cli.options import (
    NoColorOption,
    OutputOption,
    ShapesFormat,
    ShapesFormatOption,
)
from attninspect.cli.output import write_one

if TYPE_CHECKING:
    from rich.console import Console

    from attninspect.files.writers import Writer

DEFAULT_NAME = "sentence-transformers/all-MiniLM-L6-v2"


def info(
    output_format: ShapesFormatOption = ShapesFormat.table,
    output: OutputOption = None,
    no_color: NoColorOption = False,
) -> None:
    """Where the bundled model and the Hugging Face cache are, and the models found there."""
    from attninspect.files.records import PlainRecord

    record = info_record()
    write_one(PlainRecord(record), output_format.value, output, info_table(record), no_color)


def info_record() -> dict[str, Any]:
    """What `info` reports, as JSON."""
    from attninspect import __version__
    from attninspect.errors import AttnInspectError
    from attninspect.model.demo_models import demo_models
    from attninspect.model.engines.loading import cached_models, default_model_path, hub_cache_dir

    bundled: dict[str, Any] = {"name": DEFAULT_NAME, "path": None, "problem": None}
    try:
        bundled["path"] = default_model_path()
    except AttnInspectError as error:
        bundled["problem"] = str(error)
    offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    models = [
        {"name": model.repo_id, "path": model.path, "size": model.size, "loadable": model.loadable}
        for model in cached_models()
    ]
    return {"version": __version__, "bundled_model": bundled, "demo_models": demo_models(),
            "hub_cache": hub_cache_dir(), "offline": offline, "cached_models": models}  # fmt: skip


def info_table(record: dict[str, Any]) -> Callable[[Console], Writer]:
    """The table writer's factory for `info`."""

    def make(console: Console) -> Writer:
        from attninspect.render.info_table import info_table as render
        from attninspect.render.table import TableWriter

        return TableWriter(console, lambda _result, _console: render(record))

    return make
