"""`Inspector`: load a model once, then inspect any number of texts. It never prints."""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, overload

from attninspect.analysis.alignment import TextDiff
from attninspect.analysis.digest import WholeLayers
from attninspect.analysis.head_ranking import HeadSearch
from attninspect.analysis.inspection import AttentionKind, Inspection
from attninspect.analysis.measures import Measure, check_steps, parse_measure
from attninspect.analysis.pipeline import ViewOptions
from attninspect.analysis.selection import (
    parse_head,
    resolve_head,
    resolve_indices,
    resolve_layer,
)
from attninspect.api.arguments import (
    batch_size_of,
    corpus_of,
    engine_settings,
    items_of,
    speaks_python,
    texts_of,
    threads_of,
)
from attninspect.api.batching import (
    Viewed,
    diff_streamed,
    encode_pair,
    inspect_batch,
    neurons_pass,
    search_streamed,
    tap_parts,
    view_batch,
)
from attninspect.api.flows import search_heads
from attninspect.api.seq2seq import SEQ2SEQ_KINDS, Request, check_request, is_seq2seq
from attninspect.api.sharing import lock_of, shared
from attninspect.errors import AttnInspectError, BadValueError, InputError, OutOfRangeError
from attninspect.files.sources import Item, SourceText, chunks
from attninspect.model.chat import Chat, check_template
from attninspect.model.devices import set_threads
from attninspect.model.engines.base import Engine
from attninspect.model.engines.factory import EngineSettings, open_engine

if TYPE_CHECKING:
    from attninspect.analysis.corpus import CorpusStats
    from attninspect.analysis.neurons import LayerNeurons, Neurons
    from attninspect.api.corpus import StatsPlan, WindowStats

# File and stdin runs read ahead this many batches, then run them by token length (from 8 to
# 32 batches, the padding of 1,000 sentences of 8 to 33 tokens fell from 7 % to 2 %) ...
READ_AHEAD_BATCHES = 32
# ... or this many where whole layers are kept (--all-layers, npz): each text's (L, H, T, T)
# is held until its window is written ...
READ_AHEAD_WHOLE_BATCHES = 8
# ... and at most this many characters a batch: what every text's result holds until its window
# is written grows with its length, so long texts keep to what 8 batches of 2,000 held before.
READ_AHEAD_CHARACTERS = 8 * 2_000


def read_ahead(batch_size: int, whole_layers: bool = False) -> tuple[int, int]:
    """(texts, characters) a window of a file or standard input holds at most, for batches of
    ``batch_size``: fewer texts where ``whole_layers`` of every text are held until written."""
    batches = READ_AHEAD_WHOLE_BATCHES if whole_layers else READ_AHEAD_BATCHES
    return batch_size * batches, batch_size * READ_AHEAD_CHARACTERS


class TruncationWarning(UserWarning):
    """A text was longer than the model takes and was cut (``truncate=True``)."""


class Inspector:
    """A loaded model (or the scratch module) that turns texts into `Inspection` results.

    ``Inspector()`` loads the bundled all-MiniLM-L6-v2; ``Inspector("DIR or hub id")`` any
    encoder or decoder; ``Inspector("scratch", dim=16, heads=2, causal=True)`` the from-scratch
    module. ``chat=True`` wraps each text as a user message with the tokenizer's chat template
    (``system=`` adds a system message). Failures raise `AttnInspectError` subclasses with a
    message a user can act on. ``threads=N`` sets torch's intra-op CPU threads for the
    process (default: torch's choice). ``eager=True`` runs every layer with eager attention,
    bitwise as transformers computes it; by default the layers whose whole weights no output
    needs run the model's SDPA attention and only the rows shown are computed from their
    queries and keys (equal to eager to about 1e-6 in float32).

    One `Inspector` may be shared by several threads (a server's workers, a thread pool): each
    forward pass, with the tokenizing before it, holds the model's lock, so calls never mix
    their numbers; they run one batch at a time.
    """

    @speaks_python
    def __init__(
        self,
        model: str | None = None,
        *,
        device: str = EngineSettings.device,
        dtype: str = EngineSettings.dtype,
        trust_remote_code: bool = False,
        download: bool = False,
        truncate: bool = False,
        batch_size: int = 16,
        verbose: bool = False,
        tokenizer: str | None = None,
        dim: int | None = None,
        heads: int | None = None,
        causal: bool = False,
        seed: int | None = None,
        chat: bool = False,
        system: str | None = None,
        threads: int | None = None,
        eager: bool = False,
    ) -> None:
        threads = threads_of(threads)
        keywords = {
            "tokenizer": tokenizer, "device": device, "dtype": dtype,
            "trust_remote_code": trust_remote_code, "download": download, "verbose": verbose,
            "dim": dim, "heads": heads, "causal": causal, "seed": seed, "eager": eager,
        }  # fmt: skip
        settings = engine_settings(model, keywords)
        self.batch_size = batch_size_of(batch_size)
        if system is not None and not chat:
            raise AttnInspectError("system= adds a system message to chat=True; set chat=True")
        with warnings.catch_warnings():  # tqdm.auto warns in a notebook without ipywidgets
            warnings.filterwarnings("ignore", module=r"tqdm(\.|$)")
            self.engine: Engine = shared(open_engine(settings))
        self._lock = lock_of(self.engine)
        if threads is not None:
            set_threads(threads)
        self.truncate = truncate
        self.chat = Chat(system) if chat else None
        # What every run asks besides its text (a target, generation, a pair, the attention
        # kind) unless it says otherwise: `run`, `heads`, `diff` and the explorer use it.
        self.request = Request()
        if self.chat is not None:
            check_template(self.engine.tokenizer, self.engine.model_name)

    def read_ahead_for(self, keep: WholeLayers) -> tuple[int, int]:
        """(texts, characters) read ahead (and batched by length) at a time from a file or
        standard input, as `read_ahead` gives them for this batch size and ``keep``."""
        return read_ahead(self.batch_size, keep.wanted)

    @property
    def model_name(self) -> str:
        return self.engine.model_name

    @property
    def num_layers(self) -> int:
        return self.engine.num_layers

    @property
    def num_heads(self) -> int:
        return self.engine.num_heads

    @property
    def kinds(self) -> list[AttentionKind]:
        """The attention kinds this model has: self, or encoder, decoder and cross."""
        return list(SEQ2SEQ_KINDS) if is_seq2seq(self.engine) else ["self"]

    def layers_of(self, kind: AttentionKind | None = None) -> tuple[int, int]:
        """Layers and heads of one attention kind (default: the model's default kind)."""
        if is_seq2seq(self.engine):
            return self.engine.layers_of(kind or "cross")  # type: ignore[attr-defined]
        return self.num_layers, self.num_heads

    @overload
    def run(  # type: ignore[overload-overlap]
        self, texts: str, *, target: str | None = ..., generate: int | None = ...,
        pair: str | None = ..., kind: AttentionKind | None = ..., measure: str = ...,
    ) -> Inspection: ...  # fmt: skip

    @overload
    def run(
        self, texts: Sequence[str], *, target: str | None = ..., generate: int | None = ...,
        pair: str | None = ..., kind: AttentionKind | None = ..., measure: str = ...,
    ) -> list[Inspection]: ...  # fmt: skip

    @speaks_python
    def run(
        self,
        texts: str | Sequence[str],
        *,
        target: str | None = None,
        generate: int | None = None,
        pair: str | None = None,
        kind: AttentionKind | None = None,
        measure: str = "weights",
    ) -> Inspection | list[Inspection]:
        """Inspect one text (an `Inspection`) or several (a list, in order).

        An encoder–decoder model runs its decoder on ``target`` (teacher forcing) or generates
        ``generate`` greedy tokens (default 20); a decoder appends ``generate`` greedy tokens; an
        encoder reads the text with ``pair`` as a sentence pair. ``kind`` chooses the attention
        the result holds (encoder, decoder or cross; the others are in ``others``).
        ``measure`` is what its attention holds: ``weights`` (the softmax), ``scores`` (the
        logits before it, NaN where masked) or ``norms`` (‖α f(x)‖, Kobayashi et al. 2020; the
        head mean of a view is the norm of the sum over heads). Where the model's attention
        passes transformers' attention interface, ``.queries(layer)``, ``.keys(layer)`` and
        ``.values(layer)`` give the layer's vectors.
        A bad text raises `InputError` naming it; a truncated one warns with `TruncationWarning`.
        """
        request = self._request(target, generate, pair, kind)
        check_request(self.engine, request)
        chosen = parse_measure(measure)
        tap_parts(self.engine, chosen)  # refuses a measure this model cannot make, first
        single, checked = texts_of(texts)
        items = [SourceText(text=text, index=index) for index, text in enumerate(checked)]
        results: list[Inspection] = []
        for result in self.stream(items, request, chosen):
            if isinstance(result, InputError):
                where = "the text" if single else f"text {len(results)}"
                raise InputError(f"{where}: {result}") from result
            if result.truncated_from is not None:
                warnings.warn(truncation_message(result), TruncationWarning, stacklevel=2)
            results.append(result)
        return results[0] if single else results

    def _request(
        self,
        target: str | None = None,
        generate: int | None = None,
        pair: str | None = None,
        kind: AttentionKind | None = None,
    ) -> Request:
        """``self.request`` with what a call gives in its place."""
        given: dict[str, Any] = {"target": target, "generate": generate, "pair": pair,
                                 "kind": kind}  # fmt: skip
        return dataclasses.replace(
            self.request, **{name: value for name, value in given.items() if value is not None}
        )

    def stream(
        self,
        items: Iterable[Item | str],
        request: Request | None = None,
        measure: Measure = "weights",
    ) -> Iterator[Inspection | InputError]:
        """Inspect texts (str or `SourceText`) as they come, in padded batches; yield one result
        per item, in order (the `InputError` of a bad text in its place, never raised)."""
        for batch in chunks(items_of(items), self.batch_size):
            yield from self.inspect_batch(batch, request, measure)

    def inspect_batch(
        self, batch: list[Item], request: Request | None = None, measure: Measure = "weights"
    ) -> list[Inspection | InputError]:
        """One padded forward pass for the good texts of ``batch``; errors kept in place."""
        texts = [item for item in batch if isinstance(item, SourceText)]
        with self._lock:
            found = inspect_batch(
                self.engine,
                texts,
                self.truncate,
                chat=self.chat,
                request=request or self.request,
                measure=measure,
            )
        return _in_place(batch, found)

    def view_batch(
        self,
        batch: list[Item],
        options: ViewOptions,
        keep: WholeLayers | None = None,
        request: Request | None = None,
    ) -> list[Viewed | InputError]:
        """Like `inspect_batch`, but each layer is analysed as the model computes it and only what
        the view (and ``keep``) needs is kept: per item, the analysed inspection and its view.
        ``request``: a target, generated tokens or a pair, and the attention kind."""
        texts = [item for item in batch if isinstance(item, SourceText)]
        with self._lock:
            viewed = view_batch(
                self.engine,
                texts,
                options,
                keep or WholeLayers(),
                self.truncate,
                self.chat,
                self.batch_size,
                request or self.request,
            )
        return _in_place(batch, viewed)

    def stats_windows(
        self, items: Iterable[Item], plan: StatsPlan, done: Callable[[int], None] | None = None
    ) -> Iterator[WindowStats]:
        """Corpus statistics window by window (`read_ahead`, each batched by length): each
        window's partial sums, failures and truncation notes, as soon as it is done.
        ``done(n)``: told as each forward pass finishes n texts (and n failures)."""
        from attninspect.api.corpus import stats_window

        plan.kept(self.engine)  # refuses a kind, layer or head this model does not have, first
        for window in chunks(items, *read_ahead(self.batch_size)):
            with self._lock:
                part = stats_window(self.engine, window, plan, self.chat, done)
            yield part

    @speaks_python
    def stats(
        self,
        texts: str | Iterable[str],
        words: bool = False,
        hide_special: bool = False,
        **kept: object,
    ) -> CorpusStats:
        """Per layer x head, every statistic over every query row of every text (a str: one
        text; ``layers=``, ``heads=``: an index or a slice; ``convention=``: "attninspect",
        "clark" or "transformerlens", see `corpus.DEFINITIONS`; ``kind=``, ``generate=``: an
        encoder–decoder model's kind and new tokens). A bad text raises `InputError` naming it."""
        from attninspect.analysis.corpus import CorpusStats
        from attninspect.api.corpus import StatsPlan, empty_stats

        plan = StatsPlan(words, hide_special, batch_size=self.batch_size, truncate=self.truncate)
        plan = dataclasses.replace(plan, **kept)  # type: ignore[arg-type]
        corpus = corpus_of(texts)
        items = (SourceText(text=text, index=index) for index, text in enumerate(corpus))
        total, started = empty_stats(self.engine, plan), time.perf_counter()
        for part in self.stats_windows(items, plan):
            if part.failures:
                raise part.failures[0]
            total.add(part)
        return CorpusStats(
            total.sums,
            self.model_name,
            words,
            hide_special,
            seconds=time.perf_counter() - started,
            convention=plan.convention,
            kind=plan.kind_of(self.engine),
        )

    @speaks_python
    def check(
        self, options: ViewOptions, keep: WholeLayers | None = None, request: Request | None = None
    ) -> None:
        """Refuse a layer or head this model does not have, or a request it cannot run (a target
        for an encoder, cross attention of a decoder, ...), before any text runs."""
        kind = check_request(self.engine, request or self.request)
        self._check_measure(options)
        if options.rollout and kind == "cross":
            raise OutOfRangeError(
                "rollout",
                "rollout is defined for self-attention stacks, not for cross attention (its "
                "queries and keys are different tokens); choose the encoder or decoder kind",
            )
        layers, heads = self.layers_of(kind)
        resolve_layer(options.layer, layers)
        resolve_head(options.head, heads)
        if keep is not None:
            resolve_indices(keep.layers, layers, "layers")
            if not options.rollout:
                resolve_indices(keep.heads, heads, "heads")

    def _check_measure(self, options: ViewOptions) -> None:
        """Refuse a measure this model cannot make, or a step defined on weights alone."""
        measure = parse_measure(options.measure)
        if measure == "weights":
            return
        check_steps(measure, options.rollout, options.words, options.stats, options.hide_special)
        tap_parts(self.engine, measure)

    def _asked_neurons(self, text: str, focus: str, layer: int, head: int) -> Neurons:
        """The neuron view of what ``self.request`` asks (an encoder–decoder model's kind, with
        its target or generated tokens; a decoder's generated tokens), from two whole runs of
        that kind: its scores with the vectors, and its weights."""
        from attninspect.analysis.neurons import neurons_of
        from attninspect.analysis.token_selectors import parse_selector, resolve_selector

        if self.request.pair is not None:
            raise AttnInspectError("the neuron view reads one text: drop --pair")
        scored = self.run(text, measure="scores")
        number = resolve_layer(layer, scored.num_layers)
        index = resolve_selector(parse_selector(focus), scored.query_tokens)
        weights = self.run(text).attention[number]  # (H, Tq, Tk)
        tokens = (scored.query_tokens, scored.key_tokens)
        return neurons_of(number, head, index, tokens, scored.queries(number),
                          scored.keys(number), scored.values(number), scored.attention[number],
                          weights, scored.kind)  # fmt: skip

    @speaks_python
    def neurons(self, text: str, focus: str, layer: int = -1, head: int = 0) -> Neurons:
        """The neuron view of one head (an index: the head mean has no single query) for the
        query token ``focus`` (as `--focus`: ``it``, ``it#2``, ``@8``): q, each k, q⊙k, q·k, the
        model's score and the weight. Only ``layer`` is kept."""
        from attninspect.analysis.neurons import neurons_of
        from attninspect.analysis.token_selectors import parse_selector, resolve_selector

        if not isinstance(text, str):
            raise BadValueError("neurons() takes a text (str)")
        number = resolve_layer(layer, self.num_layers)
        chosen = resolve_head(parse_head(head), self.num_heads)
        if not isinstance(chosen, int):
            raise BadValueError(
                f"--head {chosen}: the neuron view is one head's (the {chosen} over heads has "
                "no single query); give --head N"
            )
        check_request(self.engine, self.request)
        if is_seq2seq(self.engine) or not self.request.plain:
            return self._asked_neurons(text, focus, layer, chosen)
        with self._lock:
            inspection, parts = neurons_pass(
                self.engine, SourceText(text=text, index=0), number, self.truncate, self.chat
            )
        index = resolve_selector(parse_selector(focus), inspection.tokens)
        assert parts.queries is not None and parts.keys is not None  # NEURON_PARTS
        assert parts.values is not None and parts.scores is not None
        return neurons_of(
            number,
            chosen,
            index,
            (inspection.tokens, inspection.key_tokens),
            parts.queries,
            parts.keys,
            parts.values,
            parts.scores,
            inspection.attention[0],
        )

    @speaks_python
    def neuron_layer(self, text: str, layer: int = -1) -> LayerNeurons:
        """Every head's query and key vectors of ``layer`` for ``text``, with the model's
        scores: the neuron view of any head and query token, as the HTML page draws it."""
        from attninspect.analysis.neurons import LayerNeurons

        if not isinstance(text, str):
            raise BadValueError("neuron_layer() takes a text (str)")
        number = resolve_layer(layer, self.num_layers)
        check_request(self.engine, self.request)
        if not self.request.plain:
            raise AttnInspectError(
                "the neuron view reads one text: drop --target, --generate, --pair"
            )
        with self._lock:
            inspection, parts = neurons_pass(
                self.engine, SourceText(text=text, index=0), number, self.truncate, self.chat
            )
        assert parts.queries is not None and parts.keys is not None  # NEURON_PARTS
        assert parts.scores is not None
        return LayerNeurons(
            number,
            list(inspection.tokens),
            list(inspection.key_tokens),
            parts.queries,
            parts.keys,
            parts.scores,
        )

    @speaks_python
    def stage_shapes(self, text: str, layer: int = -1) -> dict[str, list[int]]:
        """The shape of every stage of one real forward pass of ``text``, for ``layer``: input
        ids, embeddings, Q (B, H, T, d), K and V (B, KV, T, d), K repeated for grouped keys
        (B, H, T, d), scores and weights (B, H, T, T), the heads' outputs (weights · V,
        (B, H, T, d)) and the layer's output (B, T, D); Q to weights as the tap saw them."""
        if not isinstance(text, str):
            raise BadValueError("stage_shapes() takes a text (str)")
        number = resolve_layer(layer, self.num_layers)
        with self._lock:
            inspection, parts = neurons_pass(
                self.engine, SourceText(text=text, index=0), number, self.truncate, self.chat
            )
        assert parts.queries is not None and parts.keys is not None  # NEURON_PARTS
        assert parts.values is not None and parts.scores is not None
        batch, heads, rows, size = (1, *parts.queries.shape)  # one text: B = 1
        kv_heads, columns = parts.keys.shape[:2]
        found = {
            "input_ids": inspection.shapes["input_ids"],
            "embeddings": inspection.shapes["embeddings"],
            "query": [batch, heads, rows, size],
            "key": [batch, kv_heads, columns, size],
            "value": [batch, *parts.values.shape],
            "key_repeated": [batch, heads, columns, size],
            "scores": [batch, *parts.scores.shape],
            "weights": [batch, *inspection.attention.shape[1:]],
            "head_outputs": [batch, heads, rows, int(parts.values.shape[-1])],
            "output": inspection.shapes["output"],
        }
        return {name: [int(n) for n in shape] for name, shape in found.items()}

    @speaks_python
    def heads(
        self,
        text: str,
        source: str,
        target: str,
        words: bool = False,
        whole: bool = False,
        measure: str = "weights",
    ) -> HeadSearch:
        """Every layer x head ranked by the attention token ``source`` gives ``target``
        (selectors as `--focus`: ``it``, ``it#2``, ``@8``); ``measure``: by each head's
        weight, score before the softmax or norm ‖α f(x)‖ (as `run` measures them; a key that
        every head masks from ``source`` has no score, and is refused).

        Streamed: each layer's (H,) weights from ``source`` to ``target`` are kept as the model
        computes that layer, so no (L, H, T, T) tensor is built. ``whole=True`` keeps every layer
        in ``search.inspection`` (for an HTML page of the text).
        """
        if not isinstance(text, str):
            raise BadValueError("heads() takes a text (str)")
        chosen = parse_measure(measure)
        self._check_measure(ViewOptions(words=words, measure=chosen))
        if whole:  # every layer of the kind, for the page
            return search_heads(self.run(text, measure=chosen), source, target, words)
        item = SourceText(text=text, index=0)
        with self._lock:
            search = search_streamed(
                self.engine, item, source, target, words, self.truncate, self.chat, self.request,
                chosen,
            )  # fmt: skip
        if search.inspection.truncated_from is not None:
            warnings.warn(truncation_message(search.inspection), TruncationWarning, stacklevel=2)
        return search

    @speaks_python
    def diff(
        self,
        text_a: str,
        text_b: str,
        options: ViewOptions | None = None,
        keep: WholeLayers | None = None,
        **view: object,
    ) -> TextDiff:
        """Compare two texts seen the same way (``layer=``, ``head=``, ``focus=``, ``words=``,
        ``hide_special=``, ``rollout=``, ``top=``, ``measure=``): A − B where their tokens
        align, of weights, scores before the softmax (NaN where either text masks the cell) or
        norms ‖α f(x)‖ (the head mean: the norm of the sum over heads), as `run` measures them.

        Streamed: each layer is analysed as the model computes it and only the selected matrix
        and the focus rows are kept; ``keep=WholeLayers(wanted=True)`` also keeps every analysed
        layer (for an HTML page of the texts).
        """
        options = options or ViewOptions.parse(**view)  # type: ignore[arg-type]
        options = dataclasses.replace(options, measure=parse_measure(options.measure))
        self.check(options)
        if not isinstance(text_a, str) or not isinstance(text_b, str):
            raise BadValueError("diff() takes two texts (str)")
        items = [SourceText(text=text_a, index=0), SourceText(text=text_b, index=1)]
        request, keep = self.request, keep or WholeLayers()
        with self._lock:
            try:
                pending = encode_pair(self.engine, items, self.truncate, self.chat, request)
            except InputError as error:
                message = str(error).replace("text 0:", "text A:").replace("text 1:", "text B:")
                raise AttnInspectError(message) from error
            comparison = diff_streamed(self.engine, pending, options, keep, request)
        if is_seq2seq(self.engine):  # the rows are the target's: name the texts compared
            comparison = dataclasses.replace(comparison, sources=(text_a, text_b))
        for shown in (comparison.a, comparison.b):
            if shown.truncated_from is not None:
                warnings.warn(truncation_message(shown), TruncationWarning, stacklevel=2)
        return comparison


def truncation_message(inspection: Inspection, spelling: str = "truncate=True") -> str:
    """What a truncation warning says (``spelling``: how the caller asked to truncate)."""
    where = f"line {inspection.line}: " if inspection.line is not None else ""
    tokens = inspection.shapes.get("input_ids", [inspection.length])[-1]  # before --words
    return f"{where}text truncated from {inspection.truncated_from} to {tokens} tokens ({spelling})"


def _in_place(batch: list[Item], results: list) -> list:
    """The results of a batch's texts, with each read error back at its item's place."""
    computed = iter(results)
    return [item if isinstance(item, InputError) else next(computed) for item in batch]
