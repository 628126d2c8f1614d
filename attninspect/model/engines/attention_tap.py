"""One tap for every model whose attention passes through transformers' ``AttentionInterface``.

transformers 5 routes the attention of most models (BERT, RoBERTa, GPT-2, Llama, Mistral, Qwen,
T5, BART, Marian, ...) through one registry: the attention module computes its query, key and
value states (after rotary embeddings, before grouped keys are repeated) and calls the function
registered under ``config._attn_implementation``. `enable` switches a loaded eager model to ours,
`tapped_attention`, which calls the model's own eager attention function, so every weight stays
what ``output_attentions=True`` returns, and hands the kept layers' parts (`seam.LayerParts`) on.

How the scores are taken: not recomputed (T5 adds a position bias, Gemma 2 soft-caps, GPT-2 may
scale by the layer), but seen where the model's own eager function passes them to its softmax,
with a `TorchFunctionMode` entered only around a kept layer's call: the tensor the softmax
receives, of the weights' shape, is the scores. GPT-2 with ``reorder_and_upcast_attn`` takes
its own upcast path under eager attention, so it does here too.

The registry is process-wide and engines are cached and shared, so what one forward pass wants
lives in a `ContextVar` (`tapping`), set for that pass and reset in ``finally``: a model called
outside `tapping` (generation, another thread's plain pass) runs plain eager attention.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from attninspect.errors import AttnInspectError
from attninspect.model.engines import fast_rows
from attninspect.model.engines.seam import NO_PARTS, PARTS, LayerParts, RowRequest, TapRequest

TAP = "attninspect_tap"  # the implementation name registered in transformers
FAST = "attninspect_fast"  # the same tap under SDPA's mask: the layers not kept may run SDPA
# Where each family keeps the output projection W_O: on the attention module itself (Llama's
# o_proj, BART's out_proj, GPT-2's c_proj, T5's o, DistilBERT's out_lin, GPT-NeoX's dense) or
# beside it (BERT and RoBERTa: the attention block's output.dense).
OWN_PROJECTIONS = ("o_proj", "out_proj", "c_proj", "o", "out_lin", "dense")
SIBLING_PROJECTIONS = ("output.dense",)

_registered = False
_register_lock = threading.Lock()


@dataclass(frozen=True)
class TappedModule:
    """One attention module: its kind and layer, and its output projection (None: not found)."""

    kind: str
    layer: int
    projection: nn.Module | None


@dataclass
class _Pass:
    """What one forward pass wants: the request, and every tapped module by identity."""

    request: TapRequest | None
    modules: dict[int, TappedModule]
    rows: RowRequest | None = None


_CURRENT: ContextVar[_Pass | None] = ContextVar("attninspect_tap", default=None)


def register(fast: bool = False) -> str:
    """Register `tapped_attention` (and eager attention's mask builder, without which transformers
    builds no causal or padding mask for an unknown name) once per process; the name. ``fast``:
    the name under which it receives SDPA's mask (boolean, or None where plainly causal or
    unpadded), so that the layers not kept can run SDPA (`fast_rows`)."""
    global _registered
    with _register_lock:
        if not _registered:
            from transformers import AttentionInterface
            from transformers.masking_utils import AttentionMaskInterface, eager_mask, sdpa_mask

            AttentionInterface.register(TAP, tapped_attention)
            AttentionMaskInterface.register(TAP, eager_mask)
            AttentionInterface.register(FAST, tapped_attention)
            AttentionMaskInterface.register(FAST, sdpa_mask)
            _registered = True
    return FAST if fast else TAP


def calling_module(recorded: nn.Module) -> nn.Module | None:
    """The module that calls the interface inside a module the model records attention from:
    the innermost ``*Attention*`` module in it (T5 records ``T5LayerSelfAttention``, whose
    ``SelfAttention`` calls the interface), or None where that is not one module."""
    named = [m for m in recorded.modules() if "Attention" in type(m).__name__]
    innermost = [m for m in named if not any(o is not m and _holds(m, o) for o in named)]
    return innermost[0] if len(innermost) == 1 else None


def _holds(outer: nn.Module, inner: nn.Module) -> bool:
    return any(each is inner for each in outer.modules())


def passes_interface(model: Any, modules: list[nn.Module | None], trust_remote_code: bool) -> bool:
    """Whether ``model``'s attention goes through the interface to an eager function we can call
    (transformers' own test, `_can_set_attn_implementation`, and each calling module's eager
    function found); never for remote code, whose attention we have not read."""
    if trust_remote_code or not modules:
        return False
    can_set = getattr(type(model), "_can_set_attn_implementation", None)
    if can_set is None or not can_set():
        return False
    return all(module is not None and _eager_of(module) is not None for module in modules)


def open_tap(
    model: Any, recorded: dict[str, list[nn.Module]], trust_remote_code: bool, fast: bool = False
) -> tuple[dict[int, TappedModule], frozenset[str]]:
    """Switch ``model`` to the tap where its attention passes the interface: every calling module
    by identity (``recorded``: each kind's recorded modules, in layer order) and the parts it can
    hand over; ({}, no parts) where the model keeps plain eager attention and the hooks.
    ``fast``: with SDPA's mask, where the model supports SDPA and every calling module's eager
    attention is the plain formula (`can_run_fast`), so that rows can be asked for."""
    calling = {kind: [calling_module(each) for each in found] for kind, found in recorded.items()}
    every = [module for found in calling.values() for module in found]
    if not passes_interface(model, every, trust_remote_code):
        return {}, NO_PARTS
    fast = fast and can_run_fast(model, every)
    if not enable(model, fast):
        return {}, NO_PARTS
    if fast:
        fast_rows.mark_fast([module for module in every if module is not None])
    modules = {
        id(module): TappedModule(kind, layer, output_projection(model, module))
        for kind, found in calling.items()
        for layer, module in enumerate(found)
        if module is not None
    }
    parts = set(PARTS)
    if any(each.projection is None for each in modules.values()):
        parts.discard("transformed")
    return modules, frozenset(parts)


def can_run_fast(model: Any, modules: list[nn.Module | None]) -> bool:
    """Whether the model supports SDPA and each module's eager attention is the plain formula."""
    if not getattr(model, "_supports_sdpa", False):
        return False
    return all(module is not None and fast_rows.is_plain(module) for module in modules)


def enable(model: Any, fast: bool = False) -> bool:
    """Switch a loaded eager model to the tap (``fast``: under SDPA's mask); whether it took."""
    name = register(fast)
    model.set_attn_implementation(name)
    return getattr(model.config, "_attn_implementation", None) == name


def output_projection(model: nn.Module, module: nn.Module) -> nn.Module | None:
    """The output projection W_O that follows ``module``'s heads, or None where not found."""
    for name in OWN_PROJECTIONS:
        found = getattr(module, name, None)
        if _is_projection(found):
            return found
    path = {id(each): name for name, each in model.named_modules()}.get(id(module))
    if path is None:
        return None
    parent = model.get_submodule(path.rpartition(".")[0]) if "." in path else model
    for name in SIBLING_PROJECTIONS:
        try:
            found = parent.get_submodule(name)
        except AttributeError:
            continue
        if _is_projection(found):
            return found
    return None


def _is_projection(module: Any) -> bool:
    return isinstance(module, nn.Linear) or type(module).__name__ == "Conv1D"


@contextmanager
def tapping(
    request: TapRequest | None, modules: dict[int, TappedModule], rows: RowRequest | None = None
) -> Iterator[None]:
    """While open (in this thread or task), the kept layers' parts go to ``request.sink``, and
    the layers ``rows`` names run SDPA and hand over only the rows it asks for."""
    wanted = request is not None or rows is not None
    token = _CURRENT.set(_Pass(request, modules, rows) if wanted else None)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def tapped_attention(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    *args: Any,
    **kwargs: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's own eager attention; a kept layer's parts handed to the pass's sink. A layer
    the pass's rows name runs SDPA instead, and only the rows asked for are computed."""
    current = _CURRENT.get()
    tapped = current.modules.get(id(module)) if current is not None else None
    fast = fast_rows.is_fast(module)
    rows = current.rows if current is not None else None
    if fast and rows is not None and tapped is not None and rows.runs(tapped.kind, tapped.layer):
        ran = _fast(module, tapped.layer, rows, query, key, value, attention_mask, args, kwargs)
        return ran  # type: ignore[return-value]  # no weights, as under SDPA
    if fast:  # an eager layer under SDPA's mask: the mask eager attention receives
        attention_mask = fast_rows.additive_mask(module, query, key, attention_mask, kwargs)
    request = current.request if current is not None else None
    if request is None or tapped is None or not request.wants(tapped.kind, tapped.layer):
        return _eager(module, query, key, value, attention_mask, *args, **kwargs)
    parts = request.parts
    with _SoftmaxInputs() as seen:
        output, weights = _eager(module, query, key, value, attention_mask, *args, **kwargs)
    found = LayerParts(
        tapped.kind,
        tapped.layer,
        queries=_numpy(query) if "queries" in parts else None,  # (B, H, Tq, d)
        keys=_numpy(key) if "keys" in parts else None,  # (B, KV, Tk, d)
        values=_numpy(value) if "values" in parts else None,  # (B, KV, Tk, d)
        scores=_scores(seen.of_shape(weights.shape), module) if "scores" in parts else None,
        transformed=_transformed(value, query.shape[1], tapped, module)
        if "transformed" in parts
        else None,
    )
    request.sink(found)
    return output, weights


def _fast(
    module: nn.Module,
    layer: int,
    rows: RowRequest,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor | None,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> tuple[torch.Tensor, None]:
    """A layer no output needs whole: SDPA's output, and the rows asked for, from q and k (the
    columns asked for of every row from SDPA's log-sum-exp where its CPU kernel gives it)."""
    refuse_non_finite(layer, query, key)
    scaling = kwargs.get("scaling", args[1] if len(args) > 1 else None)
    flash = None
    if rows.columns.get(layer):
        flash = fast_rows.flash_output(module, query, key, value, mask, scaling, kwargs)
    if flash is None:
        output, _ = fast_rows.sdpa_output(module, query, key, value, mask, *args, **kwargs)
        logsumexp = None
    else:
        output, logsumexp = flash
    fast_rows.stream_columns(module, layer, query, key, mask, scaling, kwargs, rows, logsumexp)
    fast_rows.stream_rows(module, layer, query, key, mask, scaling, kwargs, rows)
    rows.done(layer)
    return output, None


def refuse_non_finite(layer: int, query: torch.Tensor, key: torch.Tensor) -> None:
    """A fast layer never builds the weights that the eager path checks: a NaN or infinity in
    q (B, H, Tq, d) or k (B, KV, Tk, d), which the weights come from, is refused the same way,
    naming the layer and the first head it reaches."""
    heads = query.shape[1]
    bad_query = (~torch.isfinite(query)).any(dim=(0, 2, 3))  # (H,)
    bad_key = (~torch.isfinite(key)).any(dim=(0, 2, 3))  # (KV,)
    if not (bool(bad_query.any()) or bool(bad_key.any())):
        return
    bad = bad_query | bad_key.repeat_interleave(heads // key.shape[1])  # (H,)
    raise AttnInspectError(
        f"the model computed attention that is not finite (NaN or infinity) in layer {layer}, "
        f"head {int(torch.argmax(bad.int()))}; its weights are broken"
    )


def _eager(module: nn.Module, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """What ``attn_implementation="eager"`` runs for ``module``."""
    if getattr(module, "reorder_and_upcast_attn", False) and hasattr(
        module, "_upcast_and_reordered_attn"
    ):  # GPT-2 takes this path only under eager attention
        query, key, value, mask = args[:4]
        upcast: Callable[..., tuple[torch.Tensor, torch.Tensor]]
        upcast = module._upcast_and_reordered_attn  # type: ignore[assignment]
        return upcast(query, key, value, mask)
    eager = _eager_of(module)
    if eager is None:  # passes_interface said otherwise: a model changed under us
        raise AttnInspectError(f"{type(module).__name__} has no eager attention function")
    return eager(module, *args, **kwargs)


def _eager_of(module: nn.Module) -> Callable[..., Any] | None:
    """The ``eager_attention_forward`` of the module's own modelling file."""
    found = getattr(sys.modules.get(type(module).__module__), "eager_attention_forward", None)
    return found if callable(found) else None


_SOFTMAXES = frozenset(
    {torch.nn.functional.softmax, torch.softmax, torch.Tensor.softmax, torch.special.softmax}
)


class _SoftmaxInputs(TorchFunctionMode):
    """Records every tensor handed to a softmax while entered."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[torch.Tensor] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in _SOFTMAXES and args and isinstance(args[0], torch.Tensor):
            self.seen.append(args[0])
        return func(*args, **(kwargs or {}))

    def of_shape(self, shape: torch.Size) -> torch.Tensor | None:
        """The last softmax input of the weights' shape (the scores), or None."""
        for tensor in reversed(self.seen):
            if tensor.shape == shape:
                return tensor
        return None


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().float().cpu().numpy()


def _scores(scores: torch.Tensor | None, module: nn.Module) -> np.ndarray:
    """The logits the softmax received as float32, NaN where the mask took a cell away."""
    if scores is None:
        raise AttnInspectError(
            f"{type(module).__name__}'s eager attention passes no scores to a softmax that "
            "attninspect can see; --measure scores is not available for this model"
        )
    floor = torch.finfo(scores.dtype).min / 2 if scores.is_floating_point() else -1e30
    masked = scores <= floor  # the additive mask puts the dtype's minimum (or -inf) there
    found = scores.detach().float().masked_fill(masked, float("nan"))  # (B, H, Tq, Tk)
    return found.cpu().numpy()


def _transformed(
    value: torch.Tensor, heads: int, tapped: TappedModule, module: nn.Module
) -> np.ndarray:
    """f_h(x_j) = v_j W_O[h]: each key's value vector through its head's slice of the output
    projection, bias excluded (Kobayashi et al. 2020): (B, H, Tk, D)."""
    projection = tapped.projection
    if projection is None:
        raise AttnInspectError(
            f"{type(module).__name__}: attninspect found no output projection for this "
            "attention; --measure norms is not available for this model"
        )
    kv_heads, size = value.shape[1], value.shape[-1]  # (B, KV, Tk, d)
    weight = projection.weight
    assert isinstance(weight, torch.Tensor)  # a Linear's or Conv1D's parameter
    weight = weight.detach()
    if type(projection).__name__ == "Conv1D":  # GPT-2: y = x W, W (H d, D)
        per_head = weight.view(heads, size, -1)  # (H, d, D)
    else:  # nn.Linear: y = x Wᵀ, W (D, H d)
        per_head = weight.view(weight.shape[0], heads, size).permute(1, 2, 0)  # (H, d, D)
    group = heads // kv_heads
    repeated = value.repeat_interleave(group, dim=1) if group > 1 else value  # (B, H, Tk, d)
    found = torch.einsum("bhkd,hde->bhke", repeated.float(), per_head.float())  # (B, H, Tk, D)
    return found.cpu().numpy()
