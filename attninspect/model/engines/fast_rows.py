"""Fast layers: a layer whose whole weights no output needs runs the model's SDPA attention, and
only the weights of the query rows asked for are computed, from q and k, a block of rows at a
time (never the layer's (B, H, T, T)).

The rows are computed with the model's own formula, softmax(q kᵀ · scaling + mask), which is the
whole eager attention function of the families in `PLAIN_FAMILIES` (checked in their modelling
files: BERT, RoBERTa, GPT-2, Llama, Mistral, Qwen, BART, ...). A family whose eager function
adds something (T5's position bias, Gemma's soft-capping, GPT-2's ``reorder_and_upcast_attn``)
keeps eager attention in every layer.

Under the fast mask (transformers' ``sdpa_mask``) the mask is boolean, or None where it is
plainly causal or has no padding; `additive_mask` turns it back into what eager attention
receives (0 where a key is seen, the dtype's minimum where not), the same values as
``eager_mask``, for the layers that stay eager.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np
import torch
from torch import nn

from attninspect.model.engines.seam import RowRequest
from attninspect.model.estimate import BLOCK_FLOATS

# The modelling modules whose eager attention is exactly softmax(q kᵀ · scaling + mask) · v.
PLAIN_FAMILIES = frozenset(
    {"bert", "roberta", "xlm_roberta", "electra", "gpt2", "llama", "mistral", "qwen2", "qwen3",
     "bart", "mbart", "marian"}
)  # fmt: skip

# Attention modules loaded with the fast (boolean, skippable) mask.
_FAST_MODULES: weakref.WeakSet[nn.Module] = weakref.WeakSet()


def is_plain(module: nn.Module) -> bool:
    """Whether ``module``'s eager attention is the plain formula (and it says if it is causal)."""
    family = type(module).__module__.rpartition(".modeling_")[2]
    if family not in PLAIN_FAMILIES or not hasattr(module, "is_causal"):
        return False
    return not getattr(module, "reorder_and_upcast_attn", False)


def mark_fast(modules: list[nn.Module]) -> None:
    """Remember that these modules receive the fast mask."""
    for module in modules:
        _FAST_MODULES.add(module)


def is_fast(module: nn.Module) -> bool:
    return module in _FAST_MODULES


def _causal(module: nn.Module, query: torch.Tensor, kwargs: dict[str, Any]) -> bool:
    """Whether SDPA would mask future keys where no mask came (transformers' own rule)."""
    causal = kwargs.get("is_causal")
    causal = getattr(module, "is_causal", True) if causal is None else causal
    return bool(causal) and query.shape[2] > 1


def _masked(
    scores: torch.Tensor,
    mask: torch.Tensor | None,
    rows: torch.Tensor,
    keys: torch.Tensor,
    causal: bool,
) -> None:
    """Mask ``scores`` (B, H, r, k) in place as the model's attention does: its own ``mask``
    cut to these query ``rows`` (r,) and ``keys`` (k,) (boolean: False hidden; else added), or
    without one, the future keys where the model is ``causal``."""
    floor = torch.finfo(scores.dtype).min
    if mask is not None and mask.dtype == torch.bool:
        scores.masked_fill_(~mask, floor)
    elif mask is not None:
        scores.add_(mask)
    elif causal:
        seen = rows[:, None] >= keys[None, :]  # (r, k)
        scores.masked_fill_(~seen, floor)


def additive_mask(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    mask: torch.Tensor | None,
    kwargs: dict[str, Any],
) -> torch.Tensor | None:
    """The mask eager attention receives, from the fast mask ``mask``: (B|1, 1, Tq, Tk)."""
    if mask is not None and mask.dtype != torch.bool:
        return mask
    if mask is None:
        if not _causal(module, query, kwargs):
            return None
        rows, columns = query.shape[2], key.shape[2]
        seen = torch.arange(rows, device=query.device)[:, None] >= torch.arange(
            columns, device=query.device
        )  # (Tq, Tk)
        mask = seen[None, None]  # (1, 1, Tq, Tk)
    zero = torch.tensor(0.0, device=query.device, dtype=query.dtype)
    return torch.where(mask, zero, torch.finfo(query.dtype).min)


def sdpa_output(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor | None,
    *args: Any,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """What ``attn_implementation="sdpa"`` runs for ``module``."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    return sdpa_attention_forward(module, query, key, value, mask, *args, **kwargs)


def stream_rows(
    module: nn.Module,
    layer: int,
    query: torch.Tensor,
    key: torch.Tensor,
    mask: torch.Tensor | None,
    scaling: float | None,
    kwargs: dict[str, Any],
    request: RowRequest,
) -> None:
    """Hand ``request`` the weights of the rows it wants of this layer, a block at a time:
    softmax(q kᵀ · scaling + mask) for those query rows only."""
    wanted, rows = request.wanted(layer)
    if not wanted:
        return
    batch, heads, length, size = query.shape  # (B, H, Tq, d)
    kv_heads, columns = key.shape[1], key.shape[2]  # (B, KV, Tk, d)
    scale = size**-0.5 if scaling is None else scaling
    keys = key
    if heads != kv_heads:  # grouped keys: head h reads key head h // (H / KV)
        keys = key.repeat_interleave(heads // kv_heads, dim=1)  # (B, H, Tk, d)
    keys_t = keys.transpose(-1, -2)  # (B, H, d, Tk)
    positions = torch.arange(length) if rows is None else torch.tensor(rows, dtype=torch.long)
    causal = mask is None and _causal(module, query, kwargs)
    step = max(1, BLOCK_FLOATS // max(1, batch * heads * columns))
    every_key = torch.arange(columns, device=query.device)  # (Tk,)
    for start in range(0, len(positions), step):
        chosen = positions[start : start + step]  # (c,)
        on_device = chosen.to(query.device)
        scores = torch.matmul(query[:, :, on_device], keys_t).mul_(scale)  # (B, H, c, Tk)
        part = None if mask is None else mask[:, :, on_device, :columns]  # (B|1, 1, c, Tk)
        _masked(scores, part, on_device, every_key, causal)
        weights = torch.softmax(scores, dim=-1, dtype=torch.float32)  # (B, H, c, Tk)
        request.block(layer, chosen.numpy(), weights.cpu().numpy())
        del scores, weights


def flash_output(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor | None,
    scaling: float | None,
    kwargs: dict[str, Any],
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """SDPA's CPU kernel called directly, for its log-sum-exp of every row: ((B, Tq, H, d) as
    `sdpa_output` returns it, (B, H, Tq)); None where that kernel is not there to call."""
    kernel = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
    if kernel is None or query.device.type != "cpu" or kwargs.get("position_bias") is not None:
        return None
    heads, kv_heads = query.shape[1], key.shape[1]
    if heads != kv_heads:
        key = key.repeat_interleave(heads // kv_heads, dim=1)  # (B, H, Tk, d)
        value = value.repeat_interleave(heads // kv_heads, dim=1)
    causal = mask is None and _causal(module, query, kwargs)
    if mask is not None and mask.dtype == torch.bool:  # the kernel takes an additive mask
        zero = torch.tensor(0.0, dtype=query.dtype)
        mask = torch.where(mask, zero, torch.finfo(query.dtype).min)
    output, logsumexp = kernel(query, key, value, 0.0, causal, attn_mask=mask, scale=scaling)
    return output.transpose(1, 2).contiguous(), logsumexp  # (B, Tq, H, d), (B, H, Tq)


def stream_columns(
    module: nn.Module,
    layer: int,
    query: torch.Tensor,
    key: torch.Tensor,
    mask: torch.Tensor | None,
    scaling: float | None,
    kwargs: dict[str, Any],
    request: RowRequest,
    logsumexp: torch.Tensor | None,
) -> None:
    """Hand ``request`` the weights of its key columns in every row of this layer: from the
    row's log-sum-exp where SDPA gave it (exp(q k_S · scaling + mask - lse)), else from whole
    rows computed a block at a time and cut to the columns."""
    columns = request.columns.get(layer)
    if not columns or request.column_sink is None:
        return
    batch, heads, length, size = query.shape  # (B, H, Tq, d)
    kv_heads = key.shape[1]
    scale = size**-0.5 if scaling is None else scaling
    chosen = torch.tensor(columns, dtype=torch.long, device=query.device)  # (S,)
    keys = key[:, :, chosen]  # (B, KV, S, d)
    if heads != kv_heads:
        keys = keys.repeat_interleave(heads // kv_heads, dim=1)  # (B, H, S, d)
    if logsumexp is None:
        found = torch.empty(batch, heads, length, len(columns))  # (B, H, Tq, S)

        def keep(_layer: int, positions: Any, weights: Any) -> None:
            found[:, :, torch.as_tensor(positions)] = torch.as_tensor(weights)[..., columns]

        every = RowRequest(frozenset({layer}), {layer: None}, keep, lambda _layer: None)
        stream_rows(module, layer, query, key, mask, scaling, kwargs, every)
        request.column_sink(layer, np.array(columns), found.numpy())
        return
    scores = torch.matmul(query, keys.transpose(-1, -2)).mul_(scale)  # (B, H, Tq, S)
    part = None if mask is None else mask[:, :, :, chosen]  # (B|1, 1, Tq, S)
    causal = mask is None and _causal(module, query, kwargs)
    _masked(scores, part, torch.arange(length, device=query.device), chosen, causal)
    weights = torch.exp(scores.float() - logsumexp.float()[..., None])  # (B, H, Tq, S)
    request.column_sink(layer, np.array(columns), weights.cpu().numpy())
