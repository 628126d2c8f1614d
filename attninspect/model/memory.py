"""Memory estimates, so that impossible sizes are refused before anything is allocated."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from attninspect.errors import AttnInspectError
from attninspect.units import format_bytes

if TYPE_CHECKING:
    import torch

__all__ = [
    "address_space_left",
    "available_bytes",
    "cgroup_available_bytes",
    "format_bytes",
    "host_available_bytes",
    "refuse_unless_fits",
    "system_available_bytes",
]
UNLIMITED = 2**63 - 1
CGROUP_ROOT = Path("/sys/fs/cgroup")


def available_bytes(device: torch.device) -> int:
    """Memory free for new tensors on ``device`` (system memory for the CPU and MPS)."""
    if device.type == "cuda":
        import torch

        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    return host_available_bytes()


def host_available_bytes() -> int:
    """System memory free for this process: the least of what the system, the address-space
    limit (ulimit -v) and the cgroup leave."""
    return min(system_available_bytes(), address_space_left(), cgroup_available_bytes())


def refuse_unless_fits(needed: int, device: torch.device, what: str, advice: str) -> None:
    """Raise before allocating when ``needed`` bytes cannot fit on ``device``."""
    from attninspect.model.devices import device_label

    free = available_bytes(device)
    if needed > free:
        raise AttnInspectError(
            f"{what} needs about {format_bytes(needed)}, but {device_label(device)} has "
            f"{format_bytes(free)} available; {advice}"
        )


def address_space_left(status: Path = Path("/proc/self/status")) -> int:
    """What ``ulimit -v`` (RLIMIT_AS) still allows this process to map."""
    try:
        import resource

        limit, _hard = resource.getrlimit(resource.RLIMIT_AS)
    except (ImportError, OSError, ValueError):
        return UNLIMITED
    if limit == resource.RLIM_INFINITY or limit < 0:
        return UNLIMITED
    return max(limit - _mapped_bytes(status), 0)


def _mapped_bytes(status: Path) -> int:
    """The process's current virtual size (VmSize), 0 where unknown."""
    try:
        for line in status.read_text(encoding="ascii").splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def cgroup_available_bytes(root: Path = CGROUP_ROOT) -> int:
    """The memory cgroup's limit minus its usage (cgroup v2, else v1); unlimited where none."""
    for limit_name, usage_name in (
        ("memory.max", "memory.current"),
        ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes"),
    ):
        limit = _read_number(root / limit_name)
        if limit is not None:
            usage = _read_number(root / usage_name) or 0
            return max(limit - usage, 0) if limit < UNLIMITED else UNLIMITED
    return UNLIMITED


def _read_number(path: Path) -> int | None:
    """An integer file such as memory.max; "max" (no limit) reads as UNLIMITED."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except OSError:
        return None
    if text == "max":
        return UNLIMITED
    try:
        return int(text)
    except ValueError:
        return None


def system_available_bytes() -> int:
    """``MemAvailable`` from /proc/meminfo, or free pages where that file is missing."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 2**63 - 1
