"""The Python API: `Inspector` loads a model once and inspects any number of texts."""

from attninspect.api import notebook
from attninspect.api.inspector import Inspector, TruncationWarning

notebook.install()  # Inspection._repr_html_ draws the HTML page in Jupyter

__all__ = ["Inspector", "TruncationWarning"]
