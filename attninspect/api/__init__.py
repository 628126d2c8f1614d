"""The Python API: `Inspector` loads a model once and inspects any number of texts."""

from attninspect.api.inspector import Inspector, TruncationWarning

__all__ = ["Inspector", "TruncationWarning"]
