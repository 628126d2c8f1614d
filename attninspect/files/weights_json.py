"""Attention weights as JSON text, exactly as ``json.dumps(array.tolist())`` writes them, but
without a Python float per weight: formatting floats was most of what a JSON run spent outside
the model (0.25 s of ~3 s for 1,000 sentences).

orjson writes each number's shortest round-trip digits, the digits Python's ``repr`` writes;
only the layout differs, and is put right here: ``", "`` between items, and Python's exponent
style below 1e-4 (``7.9e-05`` where orjson writes ``0.000079`` and ``3.4e-06`` for ``3.4e-6``).
Arrays this does not cover (empty, 0-d, not floating point, non-finite, or with magnitudes from
1e16 up, where Python writes ``1e+16``) go through ``json.dumps`` itself.
"""

from __future__ import annotations

import json
import re

import numpy as np
import orjson

# orjson's positional numbers from 1e-5 up to 1e-4, which Python writes in scientific notation.
FIVE_ZEROS = re.compile(r"(?<![\d.])0\.0000([1-9])(\d*)")
# A one-digit negative exponent, which Python pads to two digits.
ONE_DIGIT_EXPONENT = re.compile(r"e-(\d)(?!\d)")
POSITIONAL_LIMIT = 1e16  # from here Python writes 1e+16; orjson, another style


def weights_json(array: np.ndarray) -> str:
    """``json.dumps(array.tolist(), allow_nan=False)``, character for character."""
    values = np.asarray(array)
    if values.size == 0 or values.ndim == 0 or values.dtype.kind != "f" or values.itemsize > 8:
        return json.dumps(values.tolist(), allow_nan=False)
    values = values.astype(np.float64, copy=False)  # exact: a float32 is a float64 too
    if not np.isfinite(values).all() or np.abs(values).max() >= POSITIONAL_LIMIT:
        return json.dumps(values.tolist(), allow_nan=False)  # raises on NaN, as before
    text = orjson.dumps(np.ascontiguousarray(values), option=orjson.OPT_SERIALIZE_NUMPY).decode()
    text = text.replace(",", ", ")
    if "0.0000" in text:
        text = FIVE_ZEROS.sub(_scientific, text)
    if "e-" in text:
        text = ONE_DIGIT_EXPONENT.sub(r"e-0\1", text)
    return text


def _scientific(match: re.Match[str]) -> str:
    """``0.0000dddd`` (orjson) as ``d.ddde-05`` (Python)."""
    first, rest = match.group(1), match.group(2)
    return f"{first}.{rest}e-05" if rest else f"{first}e-05"
