"""The learner's engine: a seeded embedding, sinusoidal positions and the project's own module."""

from __future__ import annotations

import torch
from torch import nn

from attninspect.model.attention import SelfAttention
from attninspect.model.devices import device_label
from attninspect.model.engines.base import EngineKind, LayerSink
from attninspect.model.engines.loading import ModelSource, load_tokenizer
from attninspect.model.engines.seam import NO_PARTS, RowRequest, TapRequest, check_captures
from attninspect.model.estimate import Sizes
from attninspect.model.memory import refuse_unless_fits
from attninspect.model.positional import sinusoidal_positions
from attninspect.model.tokenization import Encoding, max_tokens, pad_batch

FLOAT32_BYTES = 4


def scratch_bytes(vocab_size: int, dim: int, heads: int, length: int) -> int:
    """Float32 bytes of the embedding table, W_q/W_k/W_v (and W_o), and one text's forward pass
    at ``length`` tokens (about 7 (T, D) activations and one T x T matrix per head)."""
    parameters = vocab_size * dim + (3 + (heads > 1)) * dim * dim
    activations = 7 * length * dim + heads * length * length
    return FLOAT32_BYTES * (parameters + activations)


class ScratchEngine:
    """``--model scratch``: random but seeded weights, so every run shows the same numbers."""

    kind: EngineKind = "scratch"
    model_name = "scratch"
    dtype = "float32"
    num_layers = 1
    captures: frozenset[str] = NO_PARTS  # weights only: no tap on the scratch module
    fast = False  # its one layer is always whole

    def __init__(
        self,
        tokenizer_source: ModelSource,
        device: torch.device,
        dim: int = 64,
        heads: int = 1,
        causal: bool = False,
        seed: int = 0,
        verbose: bool = False,
    ) -> None:
        self.device = device
        self.causal = causal
        self.tokenizer = load_tokenizer(tokenizer_source, trust_remote_code=False, verbose=verbose)
        self.max_length = max_tokens(self.tokenizer, None)
        pad_id = getattr(self.tokenizer, "pad_token_id", None)
        self.pad_id = int(pad_id) if pad_id is not None else 0
        vocab_size = max(len(self.tokenizer), self.pad_id + 1)
        refuse_unless_fits(
            scratch_bytes(vocab_size, dim, heads, self.max_length or 512),
            device,
            f"--model scratch with --dim {dim} and --num-heads {heads}",
            "choose a smaller --dim",
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.embedding = nn.Embedding(vocab_size, dim)
            self.attention = SelfAttention(dim, num_heads=heads, causal=causal)
        self.embedding = self.embedding.to(device).eval()
        self.attention = self.attention.to(device).eval()
        self.dim = dim
        self.num_heads = heads
        modules = (self.embedding, self.attention)
        weights = sum(p.numel() * p.element_size() for m in modules for p in m.parameters())
        self.sizes = Sizes(1, heads, dim, weights)

    @property
    def device_name(self) -> str:
        return device_label(self.device)

    def stream_batch(
        self,
        encodings: list[Encoding],
        sink: LayerSink,
        tap: TapRequest | None = None,
        rows: RowRequest | None = None,  # every layer is whole here
    ) -> list[dict[str, list[int]]]:
        """The module's one layer of (B, H, T, T) weights to ``sink``; every stage's shape."""
        check_captures(self, tap)
        padded = pad_batch(encodings, self.pad_id)
        input_ids = torch.tensor(padded.ids, dtype=torch.long, device=self.device)  # (B, T)
        padding_mask = torch.tensor(padded.mask, dtype=torch.bool, device=self.device)  # (B, T)
        length = input_ids.shape[1]
        with torch.inference_mode():
            positions = sinusoidal_positions(length, self.dim).to(self.device)  # (T, D)
            x = self.embedding(input_ids) + positions  # (B, T, D)
            _output, weights = self.attention(x, padding_mask)
        if weights.dim() == 3:
            weights = weights.unsqueeze(1)  # (B, 1, T, T)
        sink(0, weights.float().cpu().numpy())  # (B, H, T, T)
        return [self._shapes(len(encoding)) for encoding in encodings]

    def _shapes(self, n: int) -> dict[str, list[int]]:
        """Every stage's shape for one text of ``n`` tokens (per head where there are heads)."""
        heads, head_dim = self.attention.num_heads, self.attention.head_dim
        per_head = [1, heads, n, head_dim] if heads > 1 else [1, n, self.dim]
        pairs = [1, heads, n, n] if heads > 1 else [1, n, n]
        return {
            "input_ids": [1, n],
            "embeddings": [1, n, self.dim],
            "query": per_head,
            "key": per_head,
            "value": per_head,
            "scores": pairs,
            "weights": pairs,
            "attention": [1, heads, n, n],
            "output": [1, n, self.dim],
        }
