"""Forward hooks on a model's attention modules: each layer's weights, handed over as computed.

transformers 5 records ``output_attentions`` with forward hooks on the classes a model names in
``_can_record_outputs["attentions"]`` (a class, a class-name suffix or an ``OutputRecorder`` with
an output index and a submodule name). The same specs are used here, so each hook sees exactly
the tensor ``output_attentions=True`` would have returned, without the model keeping every layer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

TensorSink = Callable[[torch.Tensor | None], None]  # one layer's (B, H, T, T), in call order


@dataclass(frozen=True)
class Tap:
    """Which modules return attention weights, and where in their output tuple."""

    target_class: type | None
    index: int = 1
    layer_name: str | None = None
    class_name: str | None = None

    def matches(self, name: str, module: nn.Module) -> bool:
        by_class = self.target_class is not None and isinstance(module, self.target_class)
        by_name = self.class_name is not None and name.endswith(self.class_name)
        if not (by_class or by_name):
            return False
        if self.layer_name is None:
            return True
        return f".{self.layer_name.strip('.')}." in f".{name}."


def attention_taps(model: nn.Module, output: str = "attentions") -> list[Tap]:
    """The model's own recording specs for ``output`` (``attentions``, or ``cross_attentions``
    of an encoder–decoder model's decoder), or [] where it declares none."""
    declared = getattr(model, "_can_record_outputs", None) or {}
    specs = declared.get(output)
    if specs is None:
        return []
    taps = []
    for spec in specs if isinstance(specs, list) else [specs]:
        if isinstance(spec, str):
            taps.append(Tap(None, 1, None, spec))
        elif isinstance(spec, type):
            taps.append(Tap(spec))
        else:  # an OutputRecorder
            name = getattr(spec, "class_name", None)
            taps.append(Tap(spec.target_class, spec.index, spec.layer_name, name))
    return taps


def tapped_modules(model: nn.Module, taps: list[Tap]) -> list[tuple[nn.Module, int]]:
    """Every module a tap names, with the index of its weights in the output tuple."""
    found = []
    for name, module in model.named_modules():
        for tap in taps:
            if tap.matches(name, module):
                found.append((module, tap.index))
                break
    return found


@contextmanager
def streamed_attention(
    modules: list[tuple[nn.Module, int]], sink: TensorSink, missing: bool = False
) -> Iterator[None]:
    """While open, every tapped module's weights go to ``sink`` as soon as it returns;
    ``missing``: None goes too where a module returned none (a layer that ran SDPA)."""

    def hook_for(index: int) -> Callable[..., None]:
        def hook(_module: nn.Module, _args: Any, output: Any) -> None:
            if isinstance(output, tuple):
                weights = output[index] if len(output) > index else None
            else:
                weights = output
            if weights is not None or missing:
                sink(weights)  # (B, H, T, T)

        return hook

    handles = [module.register_forward_hook(hook_for(index)) for module, index in modules]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
