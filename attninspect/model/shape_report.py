"""`attninspect shapes`: run the module on random input and report every stage's shape."""

from __future__ import annotations

from dataclasses import dataclass

from attninspect.errors import AttnInspectError
from attninspect.model.memory import available_bytes, format_bytes

FLOAT32_BYTES = 4


@dataclass(frozen=True)
class ShapeSettings:
    """What the user asked for: the sizes of the random input and of the module."""

    dim: int = 8
    length: int = 5
    heads: int = 1
    batch: int = 1
    causal: bool = False
    seed: int = 0
    device: str = "auto"


@dataclass(frozen=True)
class ShapeReport:
    """The shape of every stage of one real forward pass, plus sizes."""

    settings: ShapeSettings
    stages: dict[str, list[int]]
    parameters: int
    weights_bytes: int
    device: str
    head_dim: int
    has_output_projection: bool

    def as_json(self) -> dict[str, object]:
        """Stage name -> list of ints, then the sizes."""
        return {
            **self.stages,
            "parameters": self.parameters,
            "weights_bytes": self.weights_bytes,
            "device": self.device,
        }


def estimated_bytes(settings: ShapeSettings) -> int:
    """Peak float32 bytes of one inference pass: one T x T matrix per head plus ~7 (B, T, D)."""
    s = settings
    weights = s.batch * s.heads * s.length * s.length
    activations = 7 * s.batch * s.length * s.dim
    parameters = 4 * s.dim * s.dim
    return FLOAT32_BYTES * (weights + activations + parameters)


def inspect_shapes(settings: ShapeSettings) -> ShapeReport:
    """Build the module, run it once on ``torch.rand(batch, length, dim)`` and record the shapes."""
    import torch

    from attninspect.model.attention import SelfAttention, parameter_count
    from attninspect.model.devices import device_label, resolve_device

    device = resolve_device(settings.device)
    needed = estimated_bytes(settings)
    free = available_bytes(device)
    if needed > free:
        s = settings
        raise AttnInspectError(
            f"--len {s.length} with --batch {s.batch} and --num-heads {s.heads} needs about "
            f"{format_bytes(needed)} (the weights alone are {s.batch}x{s.heads}x{s.length}x"
            f"{s.length} float32), but {device_label(device)} has {format_bytes(free)} available; "
            "choose a smaller --len or --batch"
        )
    generator = torch.Generator().manual_seed(settings.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        module = SelfAttention(settings.dim, settings.heads, causal=settings.causal)
    module = module.to(device).eval()
    x = torch.rand(settings.batch, settings.length, settings.dim, generator=generator)  # (B, T, D)
    with torch.inference_mode():
        x = x.to(device)
        _output, weights, shapes = module.forward_with_shapes(x)
    return ShapeReport(
        settings=settings,
        stages={name: list(shape) for name, shape in shapes.items()},
        parameters=parameter_count(module),
        weights_bytes=weights.numel() * weights.element_size(),
        device=device_label(device),
        head_dim=module.head_dim,
        has_output_projection=module.W_o is not None,
    )
