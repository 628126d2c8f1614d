"""The command line's transport: finished analysis objects as JSON, exact to the last bit.

`--server` rebuilds on the client the very objects (`Inspection`, `View`, `HeadSearch`,
`TextDiff`, ...) a local run makes, so every writer, table and picture prints what a local run
prints. Arrays travel as base64 of their raw bytes, floats as JSON numbers (``repr`` round-trips),
tuples and NumPy scalars tagged. Decoding builds only dataclasses of ``attninspect.analysis`` and
`SourceText`, and only the errors listed here: nothing else can be named by a payload.
"""

from __future__ import annotations

import base64
import dataclasses
import importlib
import json
from typing import Any

import numpy as np

from attninspect.errors import AttnInspectError, BadValueError, InputError, OutOfRangeError

TAG = "__wire__"
ALLOWED_MODULES = ("attninspect.analysis.",)
ALLOWED_CLASSES = {"attninspect.files.sources:SourceText"}
ERRORS: dict[str, type[AttnInspectError]] = {
    cls.__name__: cls for cls in (AttnInspectError, InputError, OutOfRangeError, BadValueError)
}
DTYPES = {"float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool"}


class WireError(AttnInspectError):
    """A payload that is not what this version of attninspect sends."""


def encode(value: Any) -> Any:
    """``value`` as plain JSON values (dicts, lists, str, numbers, None)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        return value
    if isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        return {
            TAG: "array",
            "dtype": array.dtype.name,
            "shape": list(array.shape),
            "data": base64.b64encode(array.tobytes()).decode("ascii"),
        }
    if isinstance(value, np.generic):
        return {TAG: "scalar", "dtype": value.dtype.name, "value": value.item()}
    if isinstance(value, AttnInspectError):
        return {
            TAG: "error",
            "type": type(value).__name__ if type(value).__name__ in ERRORS else "AttnInspectError",
            "message": str(value),
            "line": getattr(value, "line", None),
            "what": getattr(value, "what", None),
        }
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        cls = type(value)
        fields = {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {TAG: "object", "class": f"{cls.__module__}:{cls.__qualname__}", "fields": fields}
    if isinstance(value, tuple):
        return {TAG: "tuple", "items": [encode(item) for item in value]}
    if isinstance(value, list):
        return [encode(item) for item in value]
    if isinstance(value, slice):
        return {TAG: "slice", "items": [value.start, value.stop, value.step]}
    if isinstance(value, dict):
        if all(isinstance(key, str) for key in value) and TAG not in value:
            return {key: encode(item) for key, item in value.items()}
        return {TAG: "dict", "items": [[encode(k), encode(v)] for k, v in value.items()]}
    raise TypeError(f"cannot send a {type(value).__name__} over the wire")


def dumps(value: Any) -> bytes:
    return json.dumps(encode(value), separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# What a payload that is not this version's wire format raises while it is decoded (a class's
# own checks included): bad JSON or base64, missing or odd fields, numbers out of range, nesting.
DECODING_ERRORS = (
    ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError, RecursionError,
)  # fmt: skip


def loads(data: bytes) -> Any:
    try:
        return decode(json.loads(data))
    except DECODING_ERRORS as error:
        reason = "nested too deeply" if isinstance(error, RecursionError) else str(error)
        raise WireError(f"not attninspect's wire format: {reason}") from None


def decode(value: Any) -> Any:
    if isinstance(value, list):
        return [decode(item) for item in value]
    if not isinstance(value, dict):
        return value
    kind = value.get(TAG)
    if kind is None:
        return {key: decode(item) for key, item in value.items()}
    if kind == "array":
        dtype = _dtype(value["dtype"])
        raw = base64.b64decode(value["data"], validate=True)
        return np.frombuffer(raw, dtype=dtype).reshape(value["shape"]).copy()
    if kind == "scalar":
        return _dtype(value["dtype"]).type(value["value"])
    if kind == "tuple":
        return tuple(decode(item) for item in value["items"])
    if kind == "slice":
        start, stop, step = value["items"]
        return slice(start, stop, step)
    if kind == "dict":
        return {decode(k): decode(v) for k, v in value["items"]}
    if kind == "error":
        return error_of(value)
    if kind == "object":
        cls = _allowed_class(value["class"])
        return cls(**{key: decode(item) for key, item in value["fields"].items()})
    raise ValueError(f"unknown tag {kind!r}")


def error_of(value: dict[str, Any]) -> AttnInspectError:
    """The error the server raised, rebuilt with its exact message."""
    cls = ERRORS.get(value.get("type", ""), AttnInspectError)
    error = cls.__new__(cls)
    Exception.__init__(error, str(value.get("message", "")))
    if cls is InputError:
        error.line = value.get("line")  # type: ignore[attr-defined]
    if cls is OutOfRangeError:
        error.what = value.get("what") or "value"  # type: ignore[attr-defined]
    return error


def _dtype(name: str) -> np.dtype:
    if name not in DTYPES:
        raise ValueError(f"dtype {name!r} is not sent")
    return np.dtype(name)


def _allowed_class(name: str) -> type:
    module_name, _, qualname = name.partition(":")
    if name not in ALLOWED_CLASSES and not module_name.startswith(ALLOWED_MODULES):
        raise ValueError(f"class {name!r} is not sent")
    cls = getattr(importlib.import_module(module_name), qualname, None)
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise ValueError(f"class {name!r} is not sent")
    return cls
