"""The module against independent, loop-based references."""

from __future__ import annotations

import math

import pytest
import torch

from attninspect.model.attention import SelfAttention


def reference_attention(
    x: torch.Tensor,
    w_q: torch.Tensor,
    w_k: torch.Tensor,
    w_v: torch.Tensor,
    num_heads: int = 1,
    causal: bool = False,
    real: list[list[bool]] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Explicit loops over batch, head, query and key: the textbook definition, in float64."""
    x = x.detach().double()
    w_q, w_k, w_v = w_q.detach(), w_k.detach(), w_v.detach()
    batch, length, dim = x.shape
    head_dim = dim // num_heads
    q, k, v = x @ w_q.double().T, x @ w_k.double().T, x @ w_v.double().T
    weights = torch.zeros(batch, num_heads, length, length, dtype=torch.float64)
    merged = torch.zeros(batch, length, dim, dtype=torch.float64)
    for b in range(batch):
        for h in range(num_heads):
            cols = slice(h * head_dim, (h + 1) * head_dim)
            for i in range(length):
                allowed = [
                    j
                    for j in range(length)
                    if (not causal or j <= i) and (real is None or real[b][j])
                ]
                if not allowed:
                    continue  # the module's own fallback; checked separately
                scores = {
                    j: float(q[b, i, cols] @ k[b, j, cols]) / math.sqrt(head_dim) for j in allowed
                }
                top = max(scores.values())
                total = sum(math.exp(s - top) for s in scores.values())
                for j, s in scores.items():
                    weights[b, h, i, j] = math.exp(s - top) / total
                merged[b, i, cols] = sum(weights[b, h, i, j] * v[b, j, cols] for j in range(length))
    return merged, weights


def seeded_module(dim: int = 8, heads: int = 1, causal: bool = False) -> SelfAttention:
    torch.manual_seed(0)
    return SelfAttention(dim, num_heads=heads, causal=causal).eval()


def test_seed_shapes_and_numbers_match_the_tutorial() -> None:
    module = seeded_module()
    x = torch.rand(1, 5, 8)
    output, weights = module(x)
    assert output.shape == torch.Size([1, 5, 8])
    assert weights.shape == torch.Size([1, 5, 5])
    ref_out, ref_w = reference_attention(x, module.W_q.weight, module.W_k.weight, module.W_v.weight)
    assert torch.allclose(weights.double(), ref_w[:, 0], atol=1e-6)
    assert torch.allclose(output.double(), ref_out, atol=1e-6)


def test_inference_path_matches_the_seed_formulation_exactly_enough() -> None:
    module = seeded_module()
    x = torch.rand(2, 7, 8)
    q, k, v = module.W_q(x), module.W_k(x), module.W_v(x)
    seed_w = torch.softmax(q @ k.transpose(-2, -1) / torch.sqrt(torch.tensor(8.0)), dim=-1)
    seed_out = seed_w @ v
    with torch.inference_mode():
        output, weights = module(x)
    assert torch.allclose(weights, seed_w, atol=1e-6)
    assert torch.allclose(output, seed_out, atol=1e-6)


@pytest.mark.parametrize("heads", [2, 4])
def test_multi_head_weights_match_reference(heads: int) -> None:
    module = seeded_module(dim=8, heads=heads)
    assert module.W_o is not None
    x = torch.rand(2, 6, 8)
    with torch.no_grad():
        output, weights = module(x)
    assert weights.shape == (2, heads, 6, 6)
    assert output.shape == (2, 6, 8)
    ref_merged, ref_w = reference_attention(
        x, module.W_q.weight, module.W_k.weight, module.W_v.weight, num_heads=heads
    )
    assert torch.allclose(weights.double(), ref_w, atol=1e-6)
    ref_out = ref_merged @ module.W_o.weight.double().T
    assert torch.allclose(output.double(), ref_out, atol=1e-5)


def test_single_head_has_no_output_projection() -> None:
    assert seeded_module(heads=1).W_o is None


@pytest.mark.parametrize("grad", [True, False])
def test_causal_mask_zeroes_the_upper_triangle(grad: bool) -> None:
    module = seeded_module(heads=2, causal=True)
    x = torch.rand(3, 9, 8)
    with torch.set_grad_enabled(grad):
        _, weights = module(x)
    upper = torch.triu(torch.ones(9, 9, dtype=torch.bool), diagonal=1)
    assert torch.all(weights[..., upper] == 0)
    _, ref_w = reference_attention(
        x, module.W_q.weight, module.W_k.weight, module.W_v.weight, num_heads=2, causal=True
    )
    assert torch.allclose(weights.detach().double(), ref_w, atol=1e-6)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("grad", [True, False])
def test_padding_keys_get_exactly_zero_and_padding_queries_no_nan(causal: bool, grad: bool) -> None:
    module = seeded_module(heads=2, causal=causal)
    x = torch.rand(3, 6, 8)
    # right padding, left padding, and a sequence that is all padding
    real = torch.tensor(
        [[1, 1, 1, 1, 0, 0], [0, 0, 1, 1, 1, 1], [0, 0, 0, 0, 0, 0]], dtype=torch.bool
    )
    with torch.set_grad_enabled(grad):
        _, weights = module(x, padding_mask=real)
    weights = weights.detach()
    assert not torch.isnan(weights).any()
    assert torch.allclose(weights.sum(-1), torch.ones(3, 2, 6), atol=1e-6)
    # every query that has at least one real key it may see gives padding keys exactly 0
    assert torch.all(weights[0, :, :, 4:] == 0)
    if not causal:
        assert torch.all(weights[1, :, :, :2] == 0)
    else:
        assert torch.all(weights[1, :, 2:, :2] == 0)
    _, ref_w = reference_attention(
        x[:2],
        module.W_q.weight,
        module.W_k.weight,
        module.W_v.weight,
        num_heads=2,
        causal=causal,
        real=real[:2].tolist(),
    )
    rows_with_keys = [(0, i) for i in range(6)] + [(1, i) for i in range(6) if not causal or i >= 2]
    for b, i in rows_with_keys:
        assert torch.allclose(weights[b, :, i].double(), ref_w[b, :, i], atol=1e-6)


@pytest.mark.parametrize("scale", [1.0, 1e2, 1e4, -1e4])
@pytest.mark.parametrize("grad", [True, False])
def test_rows_sum_to_one_even_for_large_inputs(scale: float, grad: bool) -> None:
    module = seeded_module(dim=16, heads=4, causal=False)
    x = (torch.rand(2, 11, 16) - 0.5) * scale
    with torch.set_grad_enabled(grad):
        output, weights = module(x)
    assert torch.isfinite(weights).all() and torch.isfinite(output).all()
    assert torch.allclose(weights.detach().sum(-1), torch.ones(2, 4, 11), atol=1e-6)


def test_training_mode_gradients_match_the_reference_formulation() -> None:
    module = seeded_module(dim=8, heads=2, causal=True).train()
    x = torch.rand(2, 5, 8, requires_grad=True)
    output, weights = module(x)
    (output.square().sum() + weights.square().sum()).backward()
    ours = [p.grad.clone() for p in module.parameters()] + [x.grad.clone()]

    module.zero_grad()
    x2 = x.detach().clone().requires_grad_(True)
    q = module.W_q(x2).view(2, 5, 2, 4).transpose(1, 2)
    k = module.W_k(x2).view(2, 5, 2, 4).transpose(1, 2)
    v = module.W_v(x2).view(2, 5, 2, 4).transpose(1, 2)
    scores = q @ k.transpose(-2, -1) / 2.0
    scores = scores.masked_fill(~torch.ones(5, 5, dtype=torch.bool).tril(), float("-inf"))
    w = torch.softmax(scores, -1)
    out = module.W_o((w @ v).transpose(1, 2).reshape(2, 5, 8))
    (out.square().sum() + w.square().sum()).backward()
    theirs = [p.grad for p in module.parameters()] + [x2.grad]
    for mine, ref in zip(ours, theirs, strict=True):
        assert torch.allclose(mine, ref, atol=1e-6)


@pytest.mark.parametrize(("dim", "heads"), [(0, 1), (8, 0), (8, 3)])
def test_invalid_sizes_are_refused(dim: int, heads: int) -> None:
    with pytest.raises(ValueError):
        SelfAttention(dim, num_heads=heads)
