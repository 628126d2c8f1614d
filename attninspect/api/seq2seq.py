"""What a text becomes besides its own tokens: an encoder–decoder model's target (given, or
generated), a decoder's generated continuation, an encoder's sentence pair — and the streamed
digest of the three kinds of an encoder–decoder model, each layer analysed as it arrives."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from attninspect.analysis.digest import TextDigest, WholeLayers
from attninspect.analysis.inspection import AttentionKind, Inspection, TokenAxis
from attninspect.analysis.pipeline import ViewOptions
from attninspect.analysis.selection import View
from attninspect.api.kind_measures import KindTap
from attninspect.errors import AttnInspectError, BadValueError, InputError
from attninspect.model.limits import whole_number
from attninspect.model.tokenization import Encoding, encode_pair, encode_target

SEQ2SEQ_KINDS: tuple[AttentionKind, ...] = ("encoder", "decoder", "cross")
DEFAULT_GENERATE = 20  # new tokens when an encoder–decoder model gets no target


@dataclass(frozen=True)
class Request:
    """What a run asks of each text besides the text: ``target`` (teacher forcing) or
    ``generate`` (greedy new tokens), ``pair`` (a second text), and the attention ``kind``
    (None: the model's default, cross for encoder–decoder models, self for the others)."""

    target: str | None = None
    generate: int | None = None
    pair: str | None = None
    kind: AttentionKind | None = None

    def __post_init__(self) -> None:
        for name in ("target", "pair"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise BadValueError(f"{name}={value!r:.40}: give a text (str), or None")
        if self.generate is not None:
            count = whole_number(self.generate)
            if count is None or count < 1:
                raise BadValueError(f"generate={self.generate!r:.40}: give a whole number >= 1")
            object.__setattr__(self, "generate", count)  # a numpy integer becomes an int
        if self.target is not None and self.generate is not None:
            raise AttnInspectError("give a target or generate, not both")

    @property
    def plain(self) -> bool:
        return self == Request()


def is_seq2seq(engine: Any) -> bool:
    return bool(getattr(engine, "is_encoder_decoder", False))


def model_role(engine: Any) -> str:
    if is_seq2seq(engine):
        return "an encoder-decoder model"
    return "a decoder" if engine.causal else "an encoder"


def check_request(engine: Any, request: Request) -> AttentionKind:
    """Refuse what this model cannot do, with one line that says why; the kind to show."""
    name, role = engine.model_name, model_role(engine)
    if request.target is not None and not is_seq2seq(engine):
        raise AttnInspectError(
            f"--target is the decoder's text of an encoder-decoder model (BART, T5, Marian, ...); "
            f"{name!r} is {role}"
        )
    if request.pair is not None and (is_seq2seq(engine) or engine.causal):
        raise AttnInspectError(
            f"--pair encodes two texts for an encoder (BERT-like, token type ids); {name!r} is "
            f"{role}: give one text"
        )
    if request.generate is not None and not (is_seq2seq(engine) or engine.causal):
        raise AttnInspectError(f"--generate needs a decoder or an encoder-decoder model; {name!r} "
                               f"is {role}")  # fmt: skip
    if request.generate is not None and engine.kind != "pretrained":
        raise AttnInspectError("--generate needs a pretrained model with a language-model head")
    kinds = SEQ2SEQ_KINDS if is_seq2seq(engine) else ("self",)
    kind = request.kind or kinds[-1]
    if kind not in kinds:
        raise AttnInspectError(
            f"{name!r} is {role}: its attention is {' or '.join(kinds)}, not {kind}"
            + ("" if is_seq2seq(engine) else " (encoder, decoder and cross are the kinds of "
               "encoder-decoder models)")
        )  # fmt: skip
    return kind


def prepared(
    engine: Any, item: Any, encoding: Encoding | None, request: Request, truncate: bool
) -> Encoding:
    """The text's encoding with what ``request`` adds: the pair encoded with the text, the
    decoder's tokens for the target, or the generated tokens."""
    line = item.line
    if request.pair is not None:
        return encode_pair(
            engine.tokenizer, item.text, request.pair, engine.max_length, truncate, line
        )
    assert encoding is not None
    if request.target is not None:
        labels = encode_target(engine.tokenizer, request.target, engine.max_length, truncate, line)
        return dataclasses.replace(encoding, target=engine.decoder_inputs(labels))
    if request.generate is not None or is_seq2seq(engine):
        return engine.generate(encoding, request.generate or DEFAULT_GENERATE, line)
    return encoding


def marks(encoding: Encoding) -> dict[str, Any]:
    """An Inspection's pair and generation fields from its (query side's) encoding."""
    length = encoding.prompt_length
    return {
        "pair_start": encoding.pair_start,
        "prompt_length": length,
        "generated": encoding.tokens[length:] if length is not None else None,
    }


def axis_of(text: str, encoding: Encoding) -> TokenAxis:
    return TokenAxis(
        text, encoding.tokens, encoding.ids, encoding.special, encoding.word_ids, encoding.offsets
    )


def kind_bases(
    base: Inspection, encoding: Encoding, target_text: str, layers_of: Any
) -> dict[AttentionKind, Inspection]:
    """The three kinds of one source text before any layer: ``base`` is the source's own
    Inspection (as `wrap` makes it); each kind gets its axes and an empty (0, H, Tq, Tk)."""
    target = encoding.target
    assert target is not None
    source_axis = base.query_axis
    target_axis = axis_of(target_text, target)
    generated = marks(target)
    sides = {"encoder": (source_axis, None), "decoder": (target_axis, None),
             "cross": (target_axis, source_axis)}  # fmt: skip
    bases: dict[AttentionKind, Inspection] = {}
    for kind in SEQ2SEQ_KINDS:
        queries, keys = sides[kind]
        rows, columns = len(queries), len(keys or queries)
        layers, heads = layers_of(kind)
        shapes = {"input_ids": [1, len(encoding)], "decoder_input_ids": [1, len(target)],
                  "attention": [layers, heads, rows, columns]}  # fmt: skip
        on_target = kind != "encoder"
        bases[kind] = base.with_axes(
            queries,
            keys,
            kind=kind,
            causal=kind == "decoder",
            attention=np.zeros((0, heads, rows, columns), np.float32),
            shapes=shapes,
            prompt_length=generated["prompt_length"] if on_target else None,
            generated=generated["generated"],
        )
    return bases


@dataclass
class KindDigests:
    """One source text's consumers, one per kind: the chosen kind analysed for the view, the
    others kept whole only where the output asks for every layer (npz, the page)."""

    chosen: AttentionKind
    digests: dict[AttentionKind, TextDigest]

    @classmethod
    def of(
        cls,
        bases: dict[AttentionKind, Inspection],
        chosen: AttentionKind,
        options: ViewOptions,
        keep: WholeLayers,
        measured: bool = False,
    ) -> KindDigests:
        """``measured``: the other kinds come as ``options.measure`` measures them too (their
        whole layers are kept: npz, the page, the Python API)."""
        measure = options.measure if measured else "weights"
        plain = ViewOptions(words=options.words, hide_special=options.hide_special,
                            measure=measure)  # fmt: skip
        whole = WholeLayers(wanted=keep.wanted)
        digests = {
            kind: TextDigest(
                base,
                options if kind == chosen else plain,
                keep if kind == chosen else whole,
                base.shapes["attention"][0],
            )
            for kind, base in bases.items()
        }
        return cls(chosen, digests)

    def add(self, kind: str, layer: int, attention: np.ndarray) -> None:
        self.digests[kind].add(layer, attention)  # type: ignore[index]

    def finish(
        self, seconds: float, stages: dict[str, list[int]]
    ) -> tuple[Inspection, View] | InputError:
        finished: dict[AttentionKind, Any] = {}
        for kind, digest in self.digests.items():
            digest.base = dataclasses.replace(digest.base, shapes={**stages, **digest.base.shapes})
            finished[kind] = digest.finish(seconds)
        chosen = finished[self.chosen]
        if isinstance(chosen, InputError):
            return chosen
        others = {
            k: v[0]
            for k, v in finished.items()
            if k != self.chosen and not isinstance(v, InputError)
        }
        shown, view = chosen
        return dataclasses.replace(shown, others=others), view


@dataclass
class ChosenKind:
    """One source text's consumer that keeps the chosen kind only (`heads`, `diff`): that
    kind's layers go to ``digest`` (a `TextDigest` or `HeadDigest`); the other kinds' layers are
    dropped as they arrive, so no kind is ever kept whole."""

    chosen: AttentionKind
    digest: Any

    def add(self, kind: str, layer: int, attention: np.ndarray) -> None:
        if kind == self.chosen:
            self.digest.add(layer, attention)  # (H, Tq, Tk)

    def finish(self, seconds: float, stages: dict[str, list[int]]) -> Any:
        base = self.digest.base
        self.digest.base = dataclasses.replace(base, shapes={**stages, **base.shapes})
        return self.digest.finish(seconds)


def digest_kinds(
    engine: Any,
    pending: list,
    digests: Sequence[KindDigests | ChosenKind],
    tap: KindTap | None = None,
) -> list:
    """One padded forward pass of an encoder–decoder model for ``pending``: every layer of every
    kind handed to its text's digest, cut to the text's own (Tq, Tk); with ``tap``, the layers
    it measures as it measures them (`kind_measures`)."""
    sizes = []
    for _, _, encoding in pending:
        source, target = len(encoding), len(encoding.target)
        sizes.append({"encoder": (source, source), "decoder": (target, target),
                      "cross": (target, source)})  # fmt: skip

    def consume(kind: str, layer: int, weights: np.ndarray) -> None:  # (B, H, Tq, Tk)
        if tap is not None:
            weights = tap.measured(kind, layer, weights)  # (B, H or 1, Tq, Tk)
        for row, (digest, size) in enumerate(zip(digests, sizes, strict=True)):
            rows, columns = size[kind]
            digest.add(kind, layer, weights[row, :, :rows, :columns])  # (H, Tq, Tk)

    started = time.perf_counter()
    request = tap.request() if tap is not None else None
    shapes = engine.stream_kinds([encoding for _, _, encoding in pending], consume, request)
    seconds = (time.perf_counter() - started) / len(pending)
    finished = [d.finish(seconds, stages) for d, stages in zip(digests, shapes, strict=True)]
    if tap is None:
        return finished
    return [tap.attach(row, size, each) for row, (size, each) in
            enumerate(zip(sizes, finished, strict=True))]  # fmt: skip
