"""The default engine: every layer and head of a real Hugging Face model, as it computes them."""

from __future__ import annotations

import contextlib
import inspect
from pathlib import Path
from typing import Any

import numpy as np
import torch

from attninspect.errors import AttnInspectError
from attninspect.model.devices import device_label
from attninspect.model.engines.attention_tap import FAST, open_tap, tapping
from attninspect.model.engines.base import EngineKind, LayerSink
from attninspect.model.engines.checkpoint import check_config, check_model_directory
from attninspect.model.engines.generation import check_room, greedy, language_model
from attninspect.model.engines.loading import (
    ModelSource,
    load_config,
    load_model,
    load_tokenizer,
    refuse_unsafe_pickles,
)
from attninspect.model.engines.seam import RowRequest, TapRequest, check_captures
from attninspect.model.engines.taps import attention_taps, streamed_attention, tapped_modules
from attninspect.model.estimate import Sizes, refuse_heavy_weights
from attninspect.model.memory import available_bytes
from attninspect.model.tokenization import Encoding, extended, max_tokens, pad_batch

DECODER_TYPES = frozenset(
    {
        "gpt2", "gpt_neo", "gpt_neox", "gptj", "gpt_bigcode", "llama", "mistral", "mixtral",
        "qwen2", "qwen3", "phi", "phi3", "gemma", "gemma2", "gemma3_text", "falcon", "opt",
        "bloom", "olmo", "olmo2", "starcoder2", "codegen", "smollm3", "granite", "cohere",
    }
)  # fmt: skip


class _LastLayerDone(Exception):
    """Raised from the last attention layer's hook: its output and feed-forward block, and the
    pooler, would only compute hidden states that no output shows."""


class PretrainedEngine:
    """Loads a model with eager attention and returns its own attention probabilities."""

    kind: EngineKind = "pretrained"
    is_encoder_decoder = False
    auto_class = "AutoModel"  # the transformers class that loads it

    def __init__(
        self,
        source: ModelSource,
        device: torch.device,
        dtype: str = "float32",
        trust_remote_code: bool = False,
        verbose: bool = False,
        eager: bool = False,
    ) -> None:
        self.source = source
        self.eager = eager
        self.model_name = source.name
        self.device = device
        self.dtype = dtype
        names = check_model_directory(Path(source.location), source.name)
        names += refuse_unsafe_pickles(source)
        refuse_heavy_weights(source.location, source.name, available_bytes(device))
        self.tokenizer = load_tokenizer(source, trust_remote_code, verbose)
        self.config = load_config(source, trust_remote_code, verbose)
        check_config(self.config, names, source.name)
        self.trust_remote_code, self.verbose = trust_remote_code, verbose
        model = load_model(source, self.config, dtype, trust_remote_code, verbose, self.auto_class)
        self.model = model.to(device).eval()
        self.max_length = max_tokens(self.tokenizer, self.config)
        self.causal = _is_decoder(self.config)
        # An encoder's or decoder's last attention layer ends what any output shows; an
        # encoder-decoder model has more attention (and its own checks) after num_hidden_layers.
        self.stops_early = not getattr(self.config, "is_encoder_decoder", False)
        self.pad_id = _usable_pad_id(self.tokenizer, self.config, model)
        self.num_layers = int(getattr(self.config, "num_hidden_layers", 0) or 0)
        self.num_heads = int(getattr(self.config, "num_attention_heads", 0) or 0)
        self.hidden_size = int(getattr(self.config, "hidden_size", 0) or 0)
        # Pass token_type_ids exactly where `model(**tokenizer(text))` would.
        self.takes_token_types = "token_type_ids" in inspect.signature(model.forward).parameters
        self.tapped = tapped_modules(self.model, attention_taps(self.model))
        self.fast = False  # set by `_open_tap` where the model can run SDPA layers
        self._open_tap()
        weights = sum(p.numel() * p.element_size() for p in self.model.parameters())
        self.sizes = Sizes(self.num_layers, self.num_heads, self.hidden_size, weights)

    @property
    def device_name(self) -> str:
        return device_label(self.device)

    def _open_tap(self) -> None:
        """The attention tap where the model's attention passes transformers' interface:
        ``captures`` names the parts (`seam.PARTS`) this engine can hand over besides weights."""
        recorded = {"self": [module for module, _ in self.tapped]}
        self.tap_modules, self.captures = open_tap(
            self.model, recorded, self.trust_remote_code, fast=not self.eager
        )
        # Whether the layers a pass does not need whole can run SDPA (`stream_batch`'s rows).
        self.fast = getattr(self.model.config, "_attn_implementation", None) == FAST

    def stream_batch(
        self,
        encodings: list[Encoding],
        sink: LayerSink,
        tap: TapRequest | None = None,
        rows: RowRequest | None = None,
    ) -> list[dict[str, list[int]]]:
        """One padded forward pass; each layer's (B, H, T, T) attention goes to ``sink`` as soon as
        that layer is computed, and nothing keeps it afterwards unless ``sink`` does.

        Padding goes on the right: real tokens keep positions 0..T-1, padded keys are masked, and
        under a causal mask real queries never see the padding after them. ``tap``: the kept
        layers' parts, handed to its sink as each layer is computed (before its weights).
        ``rows``: the layers no output needs whole, which run SDPA and hand only the rows it
        asks for to its own sinks instead of going to ``sink`` (where the engine is ``fast``;
        elsewhere every layer goes to ``sink`` whole).
        """
        check_captures(self, tap)
        rows = rows if self.fast else None
        inputs = self._model_inputs(encodings)
        batch_shape = inputs["input_ids"].shape
        lengths = [len(encoding) for encoding in encodings]
        delivered = 0

        def hand_over(weights: torch.Tensor | None) -> None:
            nonlocal delivered
            if weights is None:  # a layer of ``rows``: its blocks went to their own sink
                delivered += 1
                return
            _check_layer(self.model_name, delivered, weights, batch_shape)
            array = weights.float().cpu().numpy()  # (B, H, T, T)
            _refuse_non_finite(self.model_name, delivered, array, lengths)
            sink(delivered, array)
            delivered += 1

        def last_layer_only(weights: torch.Tensor | None) -> None:
            hand_over(weights)
            if delivered == self.num_layers and self.stops_early:  # no attention comes after
                raise _LastLayerDone

        outputs = None
        if self.tapped:
            with (
                tapping(tap, self.tap_modules, rows),
                streamed_attention(self.tapped, last_layer_only, missing=rows is not None),
                contextlib.suppress(_LastLayerDone),
            ):
                outputs = self._forward(inputs, output_attentions=False)
        if not delivered:  # no hooks for this architecture: the model's own tuple
            outputs = self._forward(inputs, output_attentions=True)
            for weights in self._checked_attentions(outputs):
                hand_over(weights)
        hidden = getattr(outputs, "last_hidden_state", None)
        width = int(hidden.shape[-1]) if hidden is not None else self.hidden_size
        return [self._shapes(len(encoding), width) for encoding in encodings]

    def generate(self, encoding: Encoding, new_tokens: int, line: int | None = None) -> Encoding:
        """The prompt followed by ``new_tokens`` greedy tokens (fewer where EOS comes first),
        exactly as ``generate(do_sample=False, num_beams=1, max_new_tokens=N)`` makes them."""
        if not self.causal:
            raise AttnInspectError(
                f"model {self.model_name!r} is an encoder: it does not generate; --generate "
                "needs a decoder (GPT-2, Llama, ...) or an encoder-decoder model"
            )
        check_room(len(encoding), new_tokens, self.max_length, "the prompt", line)
        if getattr(self, "language_model", None) is None:
            self.language_model = language_model(self)  # on top of self.model, which stays
        # The prompt goes in as a run passes it (token type ids included where the model takes
        # them), so its rows and the generated tokens are those of `generate(**tokenizer(text))`.
        inputs = self._model_inputs([encoding])  # (1, T) each
        ids = greedy(self.language_model, inputs, new_tokens, self.device)
        return extended(self.tokenizer, encoding, ids, len(encoding))

    def _model_inputs(self, encodings: list[Encoding]) -> dict[str, torch.Tensor]:
        """input_ids, attention_mask and, where the model takes them, token_type_ids: (B, T)."""
        padded = pad_batch(encodings, self.pad_id)
        inputs = {
            "input_ids": torch.tensor(padded.ids, dtype=torch.long),  # (B, T)
            "attention_mask": torch.tensor(padded.mask, dtype=torch.long),  # (B, T)
        }
        if padded.type_ids is not None and self.takes_token_types:
            inputs["token_type_ids"] = torch.tensor(padded.type_ids, dtype=torch.long)  # (B, T)
        return inputs

    def _forward(self, inputs: dict[str, torch.Tensor], output_attentions: bool) -> Any:
        """The model's own forward pass; a failure is one clear error."""
        try:
            with torch.inference_mode():
                return self.model(
                    **{name: tensor.to(self.device) for name, tensor in inputs.items()},
                    output_attentions=output_attentions,
                )
        except (ValueError, TypeError, RuntimeError, IndexError) as error:
            message = " ".join(str(error).split())[:300]
            raise AttnInspectError(
                f"model {self.model_name!r} failed on this input ({type(error).__name__}: "
                f"{message}); attninspect runs encoders and decoders, not encoder-decoder models"
            ) from error

    def _shapes(self, n: int, width: int) -> dict[str, list[int]]:
        return {
            "input_ids": [1, n],
            "embeddings": [1, n, self.hidden_size or width],
            "attention": [self.num_layers, self.num_heads, n, n],
            "output": [1, n, width],
        }

    def _checked_attentions(self, outputs: Any) -> tuple[torch.Tensor, ...]:
        attentions = getattr(outputs, "attentions", None)
        if attentions is None or len(attentions) == 0 or any(a is None for a in attentions):
            raise AttnInspectError(
                f"model {self.model_name!r} returned no attention weights even with eager "
                "attention; this architecture cannot be inspected"
            )
        return tuple(attentions)


def _usable_pad_id(tokenizer: Any, config: Any, model: Any) -> int:
    """An id to pad batches with that the embedding table has (the mask hides it anyway): the
    tokenizer's pad id, else the config's, else 0. A pad token added after training is not."""
    rows = model.get_input_embeddings().num_embeddings
    for candidate in (
        getattr(tokenizer, "pad_token_id", None),
        getattr(config, "pad_token_id", None),
    ):
        if isinstance(candidate, int) and 0 <= candidate < rows:
            return candidate
    return 0


def _refuse_non_finite(name: str, layer: int, weights: np.ndarray, lengths: list[int]) -> None:
    """Refuse attention with a NaN or infinity in a real row, naming the layer and head."""
    head = _first_non_finite(weights, lengths)
    if head is not None:
        raise AttnInspectError(
            f"model {name!r} computed attention that is not finite (NaN or "
            f"infinity) in layer {layer}, head {head}; its weights are broken"
        )


def _first_non_finite(weights: np.ndarray, lengths: list[int]) -> int | None:
    """The first head whose real rows (B, H, T, T) hold a NaN or infinity, or None."""
    if np.isfinite(weights).all():  # the usual case, in one pass over the whole batch
        return None
    for row, n in enumerate(lengths):
        bad = ~np.isfinite(weights[row, :, :n, :n]).all(axis=(-2, -1))  # (H,)
        if bad.any():
            return int(np.argmax(bad))
    return None


def _check_layer(name: str, layer: int, weights: torch.Tensor, batch_shape: torch.Size) -> None:
    """Refuse attention that is not (batch, heads, T, T) for this batch."""
    batch, length = batch_shape
    if weights.dim() != 4 or weights.shape[0] != batch or weights.shape[-2:] != (length, length):
        raise AttnInspectError(
            f"model {name!r} returned attention of shape {tuple(weights.shape)} in layer "
            f"{layer}; expected (batch, heads, {length}, {length})"
        )


def _is_decoder(config: Any) -> bool:
    """Whether the model masks future tokens (GPT-2, Llama, ...), from its config."""
    if getattr(config, "is_decoder", False):
        return True
    if getattr(config, "model_type", None) in DECODER_TYPES:
        return True
    architectures = getattr(config, "architectures", None) or []
    return any("CausalLM" in name or "LMHead" in name for name in architectures)
