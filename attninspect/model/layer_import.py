"""Build the project's own `SelfAttention` from the weights of a pretrained BERT-style layer."""

from __future__ import annotations

import torch
from torch import nn

from attninspect.model.attention import SelfAttention


def self_attention_from_bert_layer(layer: nn.Module) -> SelfAttention:
    """Return a `SelfAttention` with the query/key/value/output weights of a BERT-style layer.

    ``layer`` may be a ``BertLayer`` (``layer.attention.self``), a ``BertAttention`` (``.self``) or
    a ``BertSelfAttention`` itself. Given that layer's input hidden states, the returned module's
    weights equal the layer's own attention probabilities; its output is the attention output
    *before* the residual connection and LayerNorm (the ``W_o`` projection is the layer's
    ``attention.output.dense`` where the layer has one).
    """
    attention = getattr(layer, "attention", layer)
    self_attention = getattr(attention, "self", attention)
    found = [getattr(self_attention, name, None) for name in ("query", "key", "value")]
    projections = [projection for projection in found if isinstance(projection, nn.Linear)]
    if len(projections) != 3:
        raise TypeError(
            f"{type(layer).__name__} is not a BERT-style layer: it has no query/key/value Linear"
        )
    query = projections[0]
    num_heads = int(getattr(self_attention, "num_attention_heads"))  # noqa: B009
    position_type = getattr(self_attention, "position_embedding_type", "absolute")
    if position_type not in (None, "absolute"):
        raise ValueError(f"relative position embeddings ({position_type}) are not supported")
    embed_dim = query.in_features
    has_bias = query.bias is not None
    module = SelfAttention(embed_dim, num_heads=num_heads, bias=has_bias, causal=False)
    module = module.to(device=query.weight.device, dtype=query.weight.dtype)
    with torch.no_grad():
        for target, source in zip((module.W_q, module.W_k, module.W_v), projections, strict=True):
            _copy_linear(target, source)
        dense = getattr(getattr(attention, "output", None), "dense", None)
        if module.W_o is not None and isinstance(dense, nn.Linear):
            _copy_linear(module.W_o, dense)
    return module.eval()


def _copy_linear(target: nn.Linear, source: nn.Linear) -> None:
    target.weight.copy_(source.weight)
    if target.bias is not None and source.bias is not None:
        target.bias.copy_(source.bias)
