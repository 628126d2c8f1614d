"""Check a model directory before transformers reads it: regular files only, weight files inside
the directory and well-formed, and a config whose sizes are possible and match the checkpoint.

Every problem is one AttnInspectError that names the file or the field; nothing here hangs on a
FIFO, allocates a huge header, or builds a model the checkpoint cannot fill.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from pathlib import Path, PurePosixPath
from typing import Any

from attninspect.errors import AttnInspectError

SAFETENSORS_INDEX = "model.safetensors.index.json"
PICKLE_INDEX = "pytorch_model.bin.index.json"
MAX_HEADER_BYTES = 100 * 1024 * 1024  # safetensors' own limit
HEADER_LENGTH_BYTES = 8
DTYPE_BYTES = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
    "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1, "U16": 2, "U32": 4, "U64": 8,
}  # fmt: skip
LAYER_INDEX = re.compile(r"(?:^|\.)(?:layer|layers|h|block|blocks)\.(\d+)\.")
SIZE_FIELDS = ("num_attention_heads", "num_hidden_layers", "hidden_size", "vocab_size")


def _fail(name: str, problem: str) -> AttnInspectError:
    return AttnInspectError(f"model {name!r}: {problem}")


def refuse_special_files(folder: Path, name: str) -> None:
    """Every entry of the directory must be a regular file or a folder (a FIFO would hang)."""
    for entry in sorted(folder.iterdir()):
        _require_regular(entry, name, folders_ok=True)


def _require_regular(path: Path, name: str, folders_ok: bool = False) -> None:
    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        raise _fail(name, f"cannot read {path.name}: {error.strerror}") from error
    if stat.S_ISREG(mode) or (folders_ok and stat.S_ISDIR(mode)):
        return
    raise _fail(name, f"{path.name} is not a regular file; attninspect reads only regular files")


def weight_files(folder: Path, name: str) -> list[Path]:
    """The safetensors files the model will load: the index's shards, or the single file."""
    index = folder / SAFETENSORS_INDEX
    if index.is_file():
        return _indexed_files(folder, index, name)
    pickle_index = folder / PICKLE_INDEX
    if pickle_index.is_file():
        _indexed_files(folder, pickle_index, name)  # paths checked; pickles are read elsewhere
    return sorted(folder.glob("model*.safetensors"))


def _indexed_files(folder: Path, index: Path, name: str) -> list[Path]:
    """The shards an index names, each inside ``folder`` and a regular file."""
    try:
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        shards = sorted(set(weight_map.values()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise _fail(name, f"{index.name} is not a valid index ({type(error).__name__})") from error
    files = []
    for shard in shards:
        parts = PurePosixPath(str(shard)).parts
        if not parts or PurePosixPath(str(shard)).is_absolute() or ".." in parts:
            raise _fail(name, f"{index.name} names {shard!r}, outside the model directory")
        path = folder.joinpath(*parts)
        _require_regular(path, name)
        files.append(path)
    return files


def safetensors_names(path: Path, name: str) -> list[str]:
    """Tensor names of one safetensors file, after checking its header against its size."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        prefix = handle.read(HEADER_LENGTH_BYTES)
        if len(prefix) < HEADER_LENGTH_BYTES:
            raise _fail(name, f"{path.name} is truncated (no header)")
        length = int.from_bytes(prefix, "little")
        if length > min(size - HEADER_LENGTH_BYTES, MAX_HEADER_BYTES):
            raise _fail(
                name, f"{path.name} is corrupt: header of {length} bytes in a {size}-byte file"
            )
        try:
            header = json.loads(handle.read(length))
        except (ValueError, UnicodeDecodeError) as error:
            raise _fail(name, f"{path.name} is corrupt: its header is not JSON") from error
    if not isinstance(header, dict):
        raise _fail(name, f"{path.name} is corrupt: its header is not a JSON object")
    data_bytes = size - HEADER_LENGTH_BYTES - length
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    ends = [
        _check_tensor(info, data_bytes, f"{path.name}: tensor {t!r}", name)
        for t, info in tensors.items()
    ]
    if max(ends, default=0) != data_bytes:
        raise _fail(name, f"{path.name} is corrupt: its size does not match its header")
    return list(tensors)


def _check_tensor(info: Any, data_bytes: int, where: str, name: str) -> int:
    """One header entry: offsets inside the data, and as many bytes as dtype x shape need;
    returns where its data ends."""
    try:
        start, end = (int(x) for x in info["data_offsets"])
        shape = [int(x) for x in info["shape"]]
        dtype = str(info["dtype"])
    except (KeyError, TypeError, ValueError) as error:
        raise _fail(name, f"{where} has a malformed header entry") from error
    if not 0 <= start <= end <= data_bytes:
        raise _fail(name, f"{where} lies outside the file (truncated or corrupt)")
    if dtype in DTYPE_BYTES and math.prod(shape) * DTYPE_BYTES[dtype] != end - start:
        raise _fail(name, f"{where} has {end - start} bytes for shape {shape} of {dtype}")
    return end


def checkpoint_layers(names: list[str]) -> int | None:
    """How many layers the tensor names hold weights for (None when they name no layers)."""
    indices = [int(match.group(1)) for n in names if (match := LAYER_INDEX.search(n))]
    return max(indices) + 1 if indices else None


def check_config(config: Any, names: list[str], name: str) -> None:
    """Sizes must be positive, divide evenly, and the layer count must match the checkpoint."""
    for field in SIZE_FIELDS:
        value = getattr(config, field, None)
        if isinstance(value, int) and value < 1:
            raise _fail(name, f"config.json has {field} = {value}; it must be at least 1")
    heads = getattr(config, "num_attention_heads", None)
    hidden = getattr(config, "hidden_size", None)
    if isinstance(heads, int) and isinstance(hidden, int) and hidden % heads:
        raise _fail(
            name,
            f"config.json: hidden_size {hidden} is not divisible by num_attention_heads {heads}",
        )
    layers = getattr(config, "num_hidden_layers", None)
    if getattr(config, "is_encoder_decoder", False) and isinstance(layers, int):
        decoder = [getattr(config, n, None) for n in ("decoder_layers", "num_decoder_layers")]
        layers = max([layers, *(n for n in decoder if isinstance(n, int))])  # the deeper stack
    found = checkpoint_layers(names)
    if isinstance(layers, int) and found is not None and layers != found:
        raise _fail(
            name,
            f"config.json says num_hidden_layers = {layers} but the checkpoint has weights for "
            f"{found} layers; the weights do not match the config",
        )


def check_model_directory(folder: Path, name: str) -> list[str]:
    """Everything about a local model directory that can be checked before loading; returns the
    tensor names of its safetensors weights (empty for pickled weights)."""
    refuse_special_files(folder, name)
    names: list[str] = []
    for path in weight_files(folder, name):
        _require_regular(path, name)
        names.extend(safetensors_names(path, name))
    return names
