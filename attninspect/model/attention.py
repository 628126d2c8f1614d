"""The from-scratch self-attention module that learners inspect stage by stage.

It keeps the seed tutorial's interface (``forward(x) -> (output, weights)``, ``W_q``/``W_k``/``W_v``
as ``nn.Linear(embed_dim, embed_dim)``) and generalises it to several heads, optional bias, a causal
mask and a padding mask. With one head, no bias and no mask it computes exactly the seed's numbers.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class SelfAttention(nn.Module):
    """Scaled dot-product self-attention with ``num_heads`` heads.

    ``W_o`` (the output projection) exists only when ``num_heads > 1``: it mixes the concatenated
    heads back into one ``embed_dim`` vector per token. With a single head the weighted sum of the
    values already has ``embed_dim`` features, so, as in the seed, there is no projection.
    """

    def __init__(
        self, embed_dim: int, num_heads: int = 1, bias: bool = False, causal: bool = False
    ) -> None:
        super().__init__()
        if embed_dim < 1:
            raise ValueError(f"embed_dim must be at least 1, got {embed_dim}")
        if num_heads < 1:
            raise ValueError(f"num_heads must be at least 1, got {num_heads}")
        if embed_dim % num_heads:
            raise ValueError(f"num_heads ({num_heads}) must divide embed_dim ({embed_dim})")
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.causal = causal
        # The seed's constant, scaled by the head size so that several heads stay calibrated.
        self.scaling = math.sqrt(self.head_dim)
        self.W_q = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.W_k = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.W_v = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.W_o = nn.Linear(embed_dim, embed_dim, bias=bias) if num_heads > 1 else None

    def forward(
        self, x: torch.Tensor, padding_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Attend over ``x`` (B, T, D).

        ``padding_mask`` is (B, T), true (or 1) for real tokens and false (or 0) for padding,
        like Hugging Face's ``attention_mask``. Returns the output (B, T, D) and the weights:
        (B, T, T) for one head, (B, H, T, T) for several.
        """
        output, weights = self._attend(x, padding_mask, stage_shapes=None)
        return output, weights

    def forward_with_shapes(
        self, x: torch.Tensor, padding_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, tuple[int, ...]]]:
        """Like ``forward``, and also return the shape of every stage, input to output, in order."""
        shapes: dict[str, tuple[int, ...]] = {}
        output, weights = self._attend(x, padding_mask, stage_shapes=shapes)
        return output, weights, shapes

    def _attend(
        self,
        x: torch.Tensor,
        padding_mask: torch.Tensor | None,
        stage_shapes: dict[str, tuple[int, ...]] | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if x.dim() != 3 or x.shape[-1] != self.embed_dim:
            raise ValueError(f"expected x of shape (B, T, {self.embed_dim}), got {tuple(x.shape)}")
        batch, length, _ = x.shape
        query = self._split_heads(self.W_q(x))  # (B, H, T, hd)
        key = self._split_heads(self.W_k(x))  # (B, H, T, hd)
        value = self._split_heads(self.W_v(x))  # (B, H, T, hd)
        blocked = self._blocked_keys(padding_mask, batch, length, x.device)  # (B|1, 1, T, T) | None

        weights, scores_shape = self._weights(query, key, blocked)  # (B, H, T, T)
        heads_out = torch.matmul(weights, value)  # (B, H, T, hd)
        merged = heads_out.transpose(1, 2).reshape(batch, length, self.embed_dim)  # (B, T, D)
        output = merged if self.W_o is None else self.W_o(merged)  # (B, T, D)

        if stage_shapes is not None:
            stage_shapes.update(
                input=tuple(x.shape),
                query=self._stage_shape(query),
                key=self._stage_shape(key),
                value=self._stage_shape(value),
                scores=self._stage_shape_tuple(scores_shape),
                weights=self._stage_shape(weights),
                output=tuple(output.shape),
            )
        if self.num_heads == 1:
            weights = weights.squeeze(1)  # (B, T, T), the seed's shape
        return output, weights

    def _weights(
        self, query: torch.Tensor, key: torch.Tensor, blocked: torch.Tensor | None
    ) -> tuple[torch.Tensor, tuple[int, ...]]:
        """softmax(Q K^T / scaling), blocked keys at -inf: (B, H, T, T); and the scores shape."""
        if torch.is_grad_enabled():
            # Training path: out-of-place operations keep autograd correct.
            scores = torch.matmul(query, key.transpose(-2, -1)) / self.scaling  # (B, H, T, T)
            if blocked is not None:
                scores = scores.masked_fill(blocked, float("-inf"))
            return F.softmax(scores, dim=-1), tuple(scores.shape)  # (B, H, T, T)
        # Inference path: fold the scale into Q (T x hd, not T x T), then mask and normalise the
        # one T x T scores matrix in place, so peak memory is one T x T matrix per head.
        query = query * (1.0 / self.scaling)
        weights = torch.matmul(query, key.transpose(-2, -1))  # (B, H, T, T), still scores
        if blocked is not None:
            weights.masked_fill_(blocked, float("-inf"))
        scores_shape = tuple(weights.shape)
        torch.softmax(weights, dim=-1, out=weights)  # (B, H, T, T), now weights
        return weights, scores_shape

    def _split_heads(self, projected: torch.Tensor) -> torch.Tensor:
        """(B, T, D) -> (B, H, T, hd)."""
        batch, length, _ = projected.shape
        return projected.view(batch, length, self.num_heads, self.head_dim).transpose(1, 2)

    def _stage_shape(self, tensor: torch.Tensor) -> tuple[int, ...]:
        return self._stage_shape_tuple(tuple(tensor.shape))

    def _stage_shape_tuple(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """Report single-head stages without the head axis, as the seed does."""
        if self.num_heads == 1:
            return (shape[0], *shape[2:])
        return shape

    def _blocked_keys(
        self,
        padding_mask: torch.Tensor | None,
        batch: int,
        length: int,
        device: torch.device,
    ) -> torch.Tensor | None:
        """Boolean (B|1, 1, T, T) mask of the (query, key) pairs that must get zero weight.

        A query that would be left with no key at all (a padding query under a causal mask, or
        an all-padding sequence) keeps its own position, so its row still sums to 1 and never
        holds NaN.
        """
        if padding_mask is None and not self.causal:
            return None
        allowed = torch.ones(1, 1, length, length, dtype=torch.bool, device=device)
        if self.causal:
            allowed = torch.tril(allowed)
        if padding_mask is not None:
            if padding_mask.shape != (batch, length):
                raise ValueError(
                    f"padding_mask must have shape ({batch}, {length}), "
                    f"got {tuple(padding_mask.shape)}"
                )
            real_keys = padding_mask.to(device=device, dtype=torch.bool)[:, None, None, :]
            allowed = allowed & real_keys  # (B, 1, T, T)
        empty_rows = ~allowed.any(dim=-1, keepdim=True)  # (B|1, 1, T, 1)
        if bool(empty_rows.any()):
            diagonal = torch.eye(length, dtype=torch.bool, device=device)
            allowed = allowed | (empty_rows & diagonal)
        return ~allowed


def parameter_count(module: nn.Module) -> int:
    """Number of scalar parameters in ``module``."""
    return sum(parameter.numel() for parameter in module.parameters())
