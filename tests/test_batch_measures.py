"""What a padded batch measures at once equals what each text measures alone: the sink shares
and head views of `run`, the corpus sums of `stats`, and the tokens of a window of texts."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import synthetic_inspection

from attninspect.analysis import corpus
from attninspect.analysis.corpus import CorpusSums, StatsDigest, statistics_options, stats_feed
from attninspect.analysis.digest import TextDigest, WholeLayers, batch_feed, per_text_feed
from attninspect.analysis.pipeline import ViewOptions
from attninspect.errors import InputError
from attninspect.model.tokenization import encode, encode_many

TEXTS = [
    ["[CLS]", "the", "cat", "sat", "on", "the", "mat", "[SEP]"],
    ["[CLS]", "a", "b", "a", "b", "a", "[SEP]"],
    ["[CLS]", "x", "[SEP]"],
    ["[CLS]", "it", "was", "[SEP]", "it", "was", "warm", "warm", "it", "[SEP]"],  # a pair
    ["no", "special", "tokens", "here"],
]
LAYERS, HEADS = 3, 4


def _padded_batch() -> tuple[list, np.ndarray, list[int]]:
    """Synthetic texts and their layers as one right-padded batch (L, B, H, T, T), where the
    padded keys weigh 0 and the padded query rows hold junk (NaN in one, as a model may)."""
    inspections = [
        synthetic_inspection(tokens, LAYERS, HEADS, seed=seed) for seed, tokens in enumerate(TEXTS)
    ]
    lengths = [len(tokens) for tokens in TEXTS]
    width = max(lengths)
    rng = np.random.default_rng(7)
    batch = rng.random((LAYERS, len(TEXTS), HEADS, width, width)).astype(np.float32)
    for row, (inspection, n) in enumerate(zip(inspections, lengths, strict=True)):
        batch[:, row, :, :, n:] = 0.0  # padded keys
        batch[:, row, :, :n, :n] = inspection.attention
    batch[1, 2, 0, -1, :] = np.nan  # a padded query row of text 2
    return inspections, batch, lengths


def _empty(inspection):
    empty = np.zeros((0, *inspection.attention.shape[1:]), np.float32)
    return dataclasses.replace(inspection, attention=empty)


@pytest.mark.parametrize("head", ["mean", "max", 2])
def test_run_batch_feed_equals_text_by_text(head) -> None:
    inspections, batch, lengths = _padded_batch()
    options = ViewOptions(layer=1, head=head)
    results = []
    for make in (batch_feed, per_text_feed):
        digests = [
            TextDigest(_empty(inspection), options, WholeLayers(), LAYERS)
            for inspection in inspections
        ]
        feed = make(digests, lengths)
        for layer in range(LAYERS):
            feed(layer, batch[layer])
        results.append([digest.finish(0.0) for digest in digests])
    for (_, together), (_, alone) in zip(*results, strict=True):
        np.testing.assert_allclose(together.sink_share, alone.sink_share, rtol=0, atol=1e-7)
        np.testing.assert_array_equal(together.matrix, alone.matrix)
    assert results[0][-1][1].sink_share == [0.0] * LAYERS  # no special key: no sink


def test_run_batch_feed_falls_back_where_a_step_applies() -> None:
    inspections, _, lengths = _padded_batch()
    digests = [
        TextDigest(_empty(inspection), ViewOptions(words=True), WholeLayers(), LAYERS)
        for inspection in inspections
    ]
    feed = batch_feed(digests, lengths)
    assert feed.__qualname__.startswith("per_text_feed")


def _stats(
    make, inspections, batch, lengths, options=None, layers=(0, 1), heads=(0, 2)
) -> list[CorpusSums]:
    digests = [
        StatsDigest(
            _empty(inspection),
            options or statistics_options(False, False),
            list(layers),
            list(heads),
        )
        for inspection in inspections
    ]
    feed = make(digests, lengths)
    for layer in range(LAYERS):
        feed(layer, batch[layer])
    finished = [digest.finish(0.0) for digest in digests]
    assert all(isinstance(each, CorpusSums) for each in finished)
    return finished  # type: ignore[return-value]


@pytest.mark.parametrize("heads", [(0, 2), tuple(range(HEADS))])  # a subset, every head
def test_stats_batch_feed_equals_text_by_text(heads) -> None:
    inspections, batch, lengths = _padded_batch()
    assert np.isnan(batch[1, :, 0]).any()  # layer 1, head 0 holds the NaN padded row
    together = _stats(stats_feed, inspections, batch, lengths, heads=heads)
    alone = _stats(per_text_feed, inspections, batch, lengths, heads=heads)
    for mine, theirs in zip(together, alone, strict=True):
        assert np.isfinite(mine.sums).all()  # the NaN padded row left nothing behind
        np.testing.assert_allclose(mine.sums, theirs.sums, rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(mine.rows, theirs.rows)
        assert (mine.texts, mine.tokens) == (theirs.texts, theirs.tokens)


def test_batch_feeds_padded_past_the_longest_text_go_text_by_text() -> None:
    inspections, batch, lengths = _padded_batch()
    wider = np.zeros((*batch.shape[:3], batch.shape[-2] + 2, batch.shape[-1] + 2), np.float32)
    wider[..., : batch.shape[-2], : batch.shape[-1]] = batch
    together = _stats(stats_feed, inspections, wider, lengths)
    alone = _stats(per_text_feed, inspections, batch, lengths)
    for mine, theirs in zip(together, alone, strict=True):
        np.testing.assert_array_equal(mine.sums, theirs.sums)
    views = []
    for weights in (wider, batch):
        digests = [
            TextDigest(_empty(inspection), ViewOptions(), WholeLayers(), LAYERS)
            for inspection in inspections
        ]
        feed = batch_feed(digests, lengths)
        for layer in range(LAYERS):
            feed(layer, weights[layer])
        views.append([digest.finish(0.0)[1] for digest in digests])
    for mine, theirs in zip(*views, strict=True):
        np.testing.assert_allclose(mine.sink_share, theirs.sink_share, atol=1e-7)
        np.testing.assert_array_equal(mine.matrix, theirs.matrix)


def test_stats_batch_feed_keeps_to_its_memory_bound(monkeypatch) -> None:
    inspections, _, lengths = _padded_batch()
    monkeypatch.setattr(corpus, "BATCH_MASK_BYTES", 0)
    digests = [
        StatsDigest(_empty(inspection), statistics_options(False, False), [0], [0])
        for inspection in inspections
    ]
    assert stats_feed(digests, lengths).__qualname__.startswith("per_text_feed")


@pytest.mark.parametrize("words, hide_special", [(True, False), (False, True)])
def test_stats_batch_feed_where_a_step_applies_is_text_by_text(words, hide_special) -> None:
    inspections, _, lengths = _padded_batch()
    options = statistics_options(words, hide_special)
    digests = [StatsDigest(_empty(each), options, [0], [0]) for each in inspections]
    assert stats_feed(digests, lengths).__qualname__.startswith("per_text_feed")


WINDOW = [
    "The cat sat on the mat.",
    "",
    "   ",
    "a\x00b",
    "héllo wörld 😀 naïve façade",
    "the [SEP] is typed, [CLS] too",
    "\u202e reversed \u200b zero width",
    "漢字かな交じり文",
    "x " * 600,  # over 512 tokens, under the prefix bound
    "word " * 3000,  # past the prefix bound
    "a",
]


def _one_by_one(tokenizer, max_length, truncate) -> list:
    found = []
    for line, text in enumerate(WINDOW, start=1):
        try:
            found.append(encode(tokenizer, text, max_length, truncate, line))
        except InputError as error:
            found.append(error)
    return found


@pytest.mark.parametrize("truncate", [False, True])
def test_encode_many_equals_encode(default_model, truncate) -> None:
    from seq2seq_models import byte_level_tokenizer, sentencepiece_tokenizer

    _, wordpiece = default_model
    tokenizers = ((wordpiece, 512), (byte_level_tokenizer(), 64), (sentencepiece_tokenizer(), 64))
    for tokenizer, max_length in tokenizers:
        pairs = [(text, line) for line, text in enumerate(WINDOW, start=1)]
        many = encode_many(tokenizer, pairs, max_length, truncate)
        for mine, theirs in zip(many, _one_by_one(tokenizer, max_length, truncate), strict=True):
            if isinstance(theirs, InputError):
                assert isinstance(mine, InputError) and str(mine) == str(theirs)
                assert mine.line == theirs.line
            else:
                assert mine == theirs
        assert sum(isinstance(each, InputError) for each in many) >= 3  # empty, blank, NUL


def test_the_collector_pauses_while_loading_and_only_the_command_line_freezes(
    runner, tiny_models
) -> None:
    import gc

    from attninspect.api import Inspector
    from attninspect.cli.app import app
    from attninspect.model.engines import factory

    gc.unfreeze()
    factory.open_engine.cache_clear()
    seen = []
    original = factory._loaded
    try:
        factory._loaded = lambda settings: seen.append(gc.isenabled()) or original(settings)
        Inspector(model=str(tiny_models["bert"]))
        assert seen == [False] and gc.isenabled()  # paused while loading, then back on
        gc.disable()
        factory.open_engine.cache_clear()
        Inspector(model=str(tiny_models["bert"]))
        assert not gc.isenabled()  # a caller's own choice is left as it was
    finally:
        gc.enable()
        factory._loaded = original
    assert gc.get_freeze_count() == 0  # the library leaves the heap as it found it
    result = runner.invoke(app, ["run", "the cat", "--model", str(tiny_models["bert"])])
    assert result.exit_code == 0, result.stderr
    assert gc.get_freeze_count() > 0  # a command's process freezes what loading made
