"""Encoder–decoder models (BART, T5, Marian, ...): encoder, decoder and cross attention, each
layer handed over as it is computed.

The source goes to the encoder; the decoder reads the target by teacher forcing (the model's own
decoder start token, then every label but the last, as ``labels=`` feeds it) or the sequence that
greedy generation made. Three kinds of attention come out: ``encoder`` (S x S), ``decoder``
(T x T, causal) and ``cross`` (T x S: decoder tokens attend to source tokens).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from attninspect.errors import AttnInspectError
from attninspect.model.engines.attention_tap import open_tap, tapping
from attninspect.model.engines.base import LayerSink
from attninspect.model.engines.generation import check_room, greedy
from attninspect.model.engines.pretrained import PretrainedEngine, _LastLayerDone
from attninspect.model.engines.seam import RowRequest, TapRequest, check_captures
from attninspect.model.engines.taps import attention_taps, streamed_attention, tapped_modules
from attninspect.model.estimate import Sizes
from attninspect.model.tokenization import Encoding, pad_batch, shifted

KINDS = ("encoder", "decoder", "cross")
KindSink = Callable[[str, int, np.ndarray], None]  # (kind, layer, (B, H, Tq, Tk) float32)
OUTPUT_FIELDS = {"encoder": "encoder_attentions", "decoder": "decoder_attentions",
                 "cross": "cross_attentions"}  # fmt: skip


def _first_int(config: Any, *names: str) -> int:
    for name in names:
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return 0


class Seq2SeqEngine(PretrainedEngine):
    """An encoder–decoder model loaded with ``AutoModelForSeq2SeqLM`` (so that it generates)."""

    is_encoder_decoder = True
    auto_class = "AutoModelForSeq2SeqLM"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.causal = False
        config = self.config
        encoder_layers = _first_int(config, "encoder_layers", "num_layers", "num_hidden_layers")
        decoder_layers = _first_int(config, "decoder_layers", "num_decoder_layers", "num_layers")
        encoder_heads = _first_int(config, "encoder_attention_heads", "num_heads",
                                   "num_attention_heads")  # fmt: skip
        decoder_heads = _first_int(config, "decoder_attention_heads", "num_heads",
                                   "num_attention_heads")  # fmt: skip
        self.kind_sizes = {"encoder": (encoder_layers, encoder_heads),
                           "decoder": (decoder_layers, decoder_heads),
                           "cross": (decoder_layers, decoder_heads)}  # fmt: skip
        self.num_layers, self.num_heads = self.kind_sizes["cross"]
        self.hidden_size = _first_int(config, "d_model", "hidden_size")
        self.sizes = Sizes(max(encoder_layers, decoder_layers), max(encoder_heads, decoder_heads),
                           self.hidden_size, self.sizes.weights)  # fmt: skip
        self.taps = self._kind_taps()
        self._open_tap()

    def _open_tap(self) -> None:
        """The tap on every kind's attention (`PretrainedEngine._open_tap`), once the kinds'
        modules are known (the base class asks before they are: nothing yet)."""
        taps = getattr(self, "taps", None)
        recorded = {kind: [module for module, _ in found] for kind, found in (taps or {}).items()}
        self.tap_modules, self.captures = open_tap(self.model, recorded, self.trust_remote_code)

    def _kind_taps(self) -> dict[str, list[tuple[torch.nn.Module, int]]]:
        """The modules whose outputs hold each kind's weights (empty where none are declared)."""
        encoder, decoder = self.model.get_encoder(), self.model.get_decoder()
        found = {
            "encoder": tapped_modules(encoder, attention_taps(encoder)),
            "decoder": tapped_modules(decoder, attention_taps(decoder)),
            "cross": tapped_modules(decoder, attention_taps(decoder, "cross_attentions")),
        }
        counts = [len(found[kind]) for kind in KINDS]
        expected = [self.kind_sizes[kind][0] for kind in KINDS]
        return found if counts == expected else {}

    def layers_of(self, kind: str) -> tuple[int, int]:
        """Layers and heads of one kind of attention."""
        return self.kind_sizes[kind]

    def decoder_inputs(self, labels: Encoding) -> Encoding:
        """What the decoder reads for target ``labels``: the model's own shift (start token)."""
        label_ids = torch.tensor([labels.ids], dtype=torch.long)
        shift = getattr(self.model, "prepare_decoder_input_ids_from_labels", None)
        if shift is None:
            raise AttnInspectError(
                f"model {self.model_name!r} does not say how it feeds labels to its decoder; "
                "--target needs an encoder-decoder model with a language-model head"
            )
        ids = [int(token) for token in shift(labels=label_ids)[0].tolist()]
        return shifted(self.tokenizer, labels, ids)

    def generate(self, encoding: Encoding, new_tokens: int, line: int | None = None) -> Encoding:
        """The source with, as its target, the decoder start token and up to ``new_tokens``
        greedy tokens, exactly as ``generate(do_sample=False, num_beams=1)`` makes them."""
        from dataclasses import replace

        check_room(1, new_tokens, self.max_length, "the decoder's start", line)
        source = torch.tensor([encoding.ids], dtype=torch.long)  # (1, S), as a run passes it
        ids = greedy(self.model, {"input_ids": source}, new_tokens, self.device)
        target = Encoding(
            ids=ids,
            tokens=[str(token) for token in self.tokenizer.convert_ids_to_tokens(ids)],
            special=[False] * len(ids),
            word_ids=[None] * len(ids),
            prompt_length=1,
        )
        from attninspect.model.tokenization import special_flags

        target = replace(target, special=special_flags(self.tokenizer, ids))
        return replace(encoding, target=target)

    def stream_batch(
        self,
        encodings: list[Encoding],
        sink: LayerSink,
        tap: TapRequest | None = None,
        rows: RowRequest | None = None,  # every layer is whole here
    ) -> list[dict[str, list[int]]]:
        """The cross attention alone (the model's default kind), as other engines stream."""

        def cross_only(kind: str, layer: int, weights: np.ndarray) -> None:
            if kind == "cross":
                sink(layer, weights)

        return self.stream_kinds(encodings, cross_only, tap)

    def stream_kinds(
        self, encodings: list[Encoding], sink: KindSink, tap: TapRequest | None = None
    ) -> list[dict[str, list[int]]]:
        """One padded forward pass; each layer of each kind goes to ``sink`` as computed, and
        ``tap``'s parts of the layers it names (by kind) to its sink."""
        check_captures(self, tap)
        inputs = self._seq2seq_inputs(encodings)
        delivered = dict.fromkeys(KINDS, 0)
        shapes = self._kind_shapes(inputs)
        real = _real_sizes(encodings)

        def hand_over(kind: str, weights: torch.Tensor) -> None:
            _check_kind_layer(self.model_name, kind, delivered[kind], weights, shapes[kind])
            array = weights.float().cpu().numpy()  # (B, H, Tq, Tk)
            if not np.isfinite(array).all():
                _refuse_non_finite_kind(self.model_name, kind, delivered[kind], array, real[kind])
            sink(kind, delivered[kind], array)
            delivered[kind] += 1
            if all(delivered[k] == self.kind_sizes[k][0] for k in KINDS):
                raise _LastLayerDone  # the rest of the pass (the LM head) shows nothing

        if self.taps:
            with contextlib.ExitStack() as stack:
                stack.enter_context(tapping(tap, self.tap_modules))
                for kind in KINDS:
                    stack.enter_context(
                        streamed_attention(self.taps[kind], _for_kind(hand_over, kind))
                    )
                stack.enter_context(contextlib.suppress(_LastLayerDone))
                self._forward(inputs, output_attentions=False)
        if not any(delivered.values()):  # no hooks for this architecture: the model's tuples
            outputs = self._forward(inputs, output_attentions=True)
            with contextlib.suppress(_LastLayerDone):
                for kind in KINDS:
                    for weights in self._kind_attentions(outputs, kind):
                        hand_over(kind, weights)
        return [self._pair_shapes(e) for e in encodings]

    def _seq2seq_inputs(self, encodings: list[Encoding]) -> dict[str, torch.Tensor]:
        """Source ids and mask (B, S), decoder ids and mask (B, T), right-padded."""
        targets = [e.target for e in encodings]
        if any(target is None for target in targets):
            raise AttnInspectError("an encoder-decoder model needs a target or --generate")
        source = pad_batch(encodings, self.pad_id)
        target = pad_batch([t for t in targets if t is not None], self.pad_id)
        return {
            "input_ids": torch.tensor(source.ids, dtype=torch.long),  # (B, S)
            "attention_mask": torch.tensor(source.mask, dtype=torch.long),  # (B, S)
            "decoder_input_ids": torch.tensor(target.ids, dtype=torch.long),  # (B, T)
            "decoder_attention_mask": torch.tensor(target.mask, dtype=torch.long),  # (B, T)
        }

    @staticmethod
    def _kind_shapes(inputs: dict[str, torch.Tensor]) -> dict[str, tuple[int, int, int]]:
        batch, source = inputs["input_ids"].shape
        target = int(inputs["decoder_input_ids"].shape[1])
        return {"encoder": (batch, source, source), "decoder": (batch, target, target),
                "cross": (batch, target, source)}  # fmt: skip

    def _kind_attentions(self, outputs: Any, kind: str) -> tuple[torch.Tensor, ...]:
        found = getattr(outputs, OUTPUT_FIELDS[kind], None)
        if not found or any(a is None for a in found):
            raise AttnInspectError(
                f"model {self.model_name!r} returned no {kind} attention weights even with "
                "eager attention; this architecture cannot be inspected"
            )
        return tuple(found)

    def _pair_shapes(self, encoding: Encoding) -> dict[str, list[int]]:
        source = len(encoding)
        target = len(encoding.target) if encoding.target is not None else 0
        return {
            "input_ids": [1, source],
            "decoder_input_ids": [1, target],
            "embeddings": [1, source, self.hidden_size],
            "output": [1, target, self.hidden_size],
        }


def _for_kind(hand_over: Callable[[str, torch.Tensor], None], kind: str):
    def sink(weights: torch.Tensor) -> None:
        hand_over(kind, weights)

    return sink


def _check_kind_layer(
    name: str, kind: str, layer: int, weights: torch.Tensor, shape: tuple[int, int, int]
) -> None:
    """Refuse attention that is not (batch, heads, Tq, Tk) for this batch and kind."""
    batch, rows, columns = shape
    if weights.dim() != 4 or weights.shape[0] != batch or weights.shape[-2:] != (rows, columns):
        raise AttnInspectError(
            f"model {name!r} returned {kind} attention of shape {tuple(weights.shape)} in layer "
            f"{layer}; expected (batch, heads, {rows}, {columns})"
        )


def _real_sizes(encodings: list[Encoding]) -> dict[str, list[tuple[int, int]]]:
    """Each text's real (rows, columns) per kind: the rest of a padded batch is padding."""
    sizes: dict[str, list[tuple[int, int]]] = {kind: [] for kind in KINDS}
    for encoding in encodings:
        source = len(encoding)
        target = len(encoding.target) if encoding.target is not None else 0
        sizes["encoder"].append((source, source))
        sizes["decoder"].append((target, target))
        sizes["cross"].append((target, source))
    return sizes


def _refuse_non_finite_kind(
    name: str, kind: str, layer: int, weights: np.ndarray, real: list[tuple[int, int]]
) -> None:
    """Refuse a NaN or infinity in a real row of one kind, naming the layer and head."""
    for row, (rows, columns) in enumerate(real):
        bad = ~np.isfinite(weights[row, :, :rows, :columns]).all(axis=(-2, -1))  # (H,)
        if bad.any():
            raise AttnInspectError(
                f"model {name!r} computed {kind} attention that is not finite (NaN or infinity) "
                f"in layer {layer}, head {int(np.argmax(bad))}; its weights are broken"
            )
