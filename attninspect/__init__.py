"""attninspect: see which token attends to which, from the terminal or from Python.

    from attninspect import Inspector
    inspector = Inspector()
    result = inspector.run("The cat sat on the mat because it was warm.")
    result.view(layer=-1, head="mean").matrix

This module stays import-light: torch and transformers load only when an `Inspector` is made,
so `attninspect --help` starts fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from attninspect.errors import AttnInspectError, BadValueError, InputError, OutOfRangeError

if TYPE_CHECKING:
    from attninspect.analysis.inspection import Inspection
    from attninspect.analysis.selection import View
    from attninspect.api import Inspector, TruncationWarning

__version__ = "0.1.0"
__all__ = [
    "AttnInspectError",
    "BadValueError",
    "InputError",
    "Inspection",
    "Inspector",
    "OutOfRangeError",
    "TruncationWarning",
    "View",
]

_LAZY = {
    "Inspector": "attninspect.api",
    "TruncationWarning": "attninspect.api",
    "Inspection": "attninspect.analysis.inspection",
    "View": "attninspect.analysis.selection",
}


def __dir__() -> list[str]:
    """The face as `help` and tab completion should list it, the lazy parts included."""
    return sorted({*globals(), *__all__})


def __getattr__(name: str) -> Any:
    """Import the heavy parts of the face only when they are first used."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'attninspect' has no attribute {name!r}")
