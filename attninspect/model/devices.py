"""The one place that turns a `--device` value into a torch device."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from attninspect.errors import AttnInspectError

if TYPE_CHECKING:
    import torch

DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$", re.ASCII)
DEVICE_HELP = "auto, cpu, cuda, cuda:N or mps (auto picks CUDA, then MPS, then CPU)"


def is_device_spec(spec: str) -> bool:
    """Whether ``spec`` is spelled like a device we know (checked without importing torch)."""
    return bool(DEVICE_PATTERN.match(spec.strip().lower()))


def set_threads(count: int) -> None:
    """How many CPU threads each forward may use: torch's intra-op pool, for the whole process
    (fewer than the cores help where other work shares them: each thread then waits less)."""
    import torch

    torch.set_num_threads(count)


def available_devices() -> list[str]:
    """Names of the devices this machine can run on, CPU first."""
    import torch

    names = ["cpu"]
    if torch.cuda.is_available():
        names += [f"cuda:{index}" for index in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        names.append("mps")
    return names


def resolve_device(spec: str) -> torch.device:
    """Resolve ``auto``/``cpu``/``cuda``/``cuda:N``/``mps`` to a present device or fail clearly."""
    import torch

    name = spec.strip().lower()
    if not is_device_spec(name):
        raise AttnInspectError(
            f"unknown device {spec!r}; use {DEVICE_HELP}. Available here: "
            + ", ".join(available_devices())
        )
    available = available_devices()
    if name == "auto":
        preferred = [d for d in available if d.startswith("cuda")] + [
            d for d in available if d == "mps"
        ]
        return torch.device(preferred[0] if preferred else "cpu")
    if name == "cuda":
        name = "cuda:0"
    if name not in available:
        raise AttnInspectError(
            f"device {spec!r} is not available on this machine; available: " + ", ".join(available)
        )
    return torch.device(name)


def device_label(device: torch.device) -> str:
    """Short, stable name of a device for reports (``cpu``, ``cuda:0``, ``mps``)."""
    if device.type == "cuda":
        return f"cuda:{device.index or 0}"
    return device.type
