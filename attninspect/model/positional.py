"""Sinusoidal positional encoding ("Attention Is All You Need", section 3.5)."""

from __future__ import annotations

import math

import torch


def sinusoidal_positions(length: int, dim: int) -> torch.Tensor:
    """(T, D): sin on even features, cos on odd ones, wavelengths from 2π to 10000·2π."""
    position = torch.arange(length, dtype=torch.float32)[:, None]  # (T, 1)
    frequencies = torch.exp(
        torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim)
    )  # (ceil(D/2),)
    angles = position * frequencies  # (T, ceil(D/2))
    encoding = torch.zeros(length, dim)
    encoding[:, 0::2] = torch.sin(angles)
    encoding[:, 1::2] = torch.cos(angles)[:, : dim // 2]
    return encoding
