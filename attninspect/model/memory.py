"""Memory estimates, so that impossible sizes are refused before anything is allocated."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from attninspect.units import format_bytes

if TYPE_CHECKING:
    import torch

__all__ = ["available_bytes", "format_bytes", "system_available_bytes"]


def available_bytes(device: torch.device) -> int:
    """Memory free for new tensors on ``device`` (system memory for the CPU and MPS)."""
    if device.type == "cuda":
        import torch

        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    return system_available_bytes()


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
