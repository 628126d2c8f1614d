"""The memory estimate: a run that cannot fit is refused with both numbers, batches shrink to fit
(outputs in input order), and a large output is announced before it is written."""

from __future__ import annotations

import json

import numpy as np
import pytest

from attninspect.api import batching
from attninspect.cli import run as run_command
from attninspect.cli.app import app
from attninspect.model.estimate import Sizes, estimate_batch, weights_on_disk
from tests.conftest import CAT

TEXTS = [CAT, "Hi there.", "The river bank was green and the money bank was red.", "Short."]


def test_estimate_grows_with_tokens_and_kept_layers_not_depth() -> None:
    shallow, deep = Sizes(2, 8, 64, 10**6), Sizes(32, 8, 64, 10**6)
    view = estimate_batch(deep, [2000], 0, 0)
    assert view.beyond_weights == estimate_batch(shallow, [2000], 0, 0).beyond_weights
    assert view.layer >= 8 * 2000 * 2000 * 4  # at least one layer's (H, T, T) float32
    assert estimate_batch(deep, [2000], 32, 8).kept - view.kept == 32 * 8 * 2000 * 2000 * 4
    assert estimate_batch(deep, [2000, 10], 0, 0).layer == 2 * view.layer  # padded batch


def test_weights_on_disk(tiny_models, tmp_path) -> None:
    assert weights_on_disk(str(tiny_models["bert"])) > 0
    assert weights_on_disk(str(tmp_path)) == 0
    assert weights_on_disk("org/not-a-folder") == 0


def test_a_run_that_cannot_fit_is_refused_with_both_numbers(runner, monkeypatch) -> None:
    monkeypatch.setattr(batching, "available_bytes", lambda device: 10_000)
    result = runner.invoke(app, ["run", CAT, "--format", "json"])
    assert result.exit_code == 1 and result.stdout == ""
    line = result.stderr.strip()
    assert line.startswith("Error: 13 tokens need about ") and "has 9.8 KiB available" in line
    for way_out in ("--layers", "--batch-size", "--truncate"):
        assert way_out in line
    assert "Traceback" not in result.stderr


def test_batches_shrink_to_fit_and_keep_input_order(runner, tiny_models, monkeypatch) -> None:
    model = ["--model", str(tiny_models["gpt2"]), "--format", "jsonl", "--all-layers"]
    solo = [
        json.loads(runner.invoke(app, ["run", text, *model]).stdout)["all_attention"]
        for text in TEXTS
    ]
    calls: list[int] = []
    real_stream = batching._view_group

    def counted(engine, pending, options, keep):
        calls.append(len(pending))
        return real_stream(engine, pending, options, keep)

    monkeypatch.setattr(batching, "_view_group", counted)
    sizes = Sizes(2, 4, 32, 0)
    one_text = max(
        estimate_batch(sizes, [n], 2, 4).beyond_weights for n in (20, 13)
    )  # fits any one of these texts, not two
    monkeypatch.setattr(batching, "available_bytes", lambda device: one_text)
    result = runner.invoke(app, ["run", "-", *model], input="\n".join(TEXTS) + "\n")
    assert result.exit_code == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["text"] for r in records] == TEXTS
    for record, alone in zip(records, solo, strict=True):
        np.testing.assert_allclose(record["all_attention"], alone, atol=1e-6, rtol=0)
    assert len(calls) > 1 and sum(calls) == len(TEXTS)


def test_a_large_output_is_announced_first(runner, tiny_models, monkeypatch) -> None:
    monkeypatch.setattr(run_command, "LARGE_OUTPUT", 1000)
    model = ["--model", str(tiny_models["bert"]), "--format", "json"]
    big = runner.invoke(app, ["run", CAT, *model, "--all-layers"])
    assert big.exit_code == 0
    assert "warning: the output is over 1000 B" in big.stderr and "--layers" in big.stderr
    monkeypatch.setattr(run_command, "LARGE_OUTPUT", 10**9)
    assert runner.invoke(app, ["run", CAT, *model, "--all-layers"]).stderr == ""


@pytest.mark.parametrize("name", ["scratch"])
def test_scratch_engine_has_sizes(name: str) -> None:
    from attninspect import Inspector

    inspector = Inspector(name, dim=16, heads=2)
    sizes = inspector.engine.sizes
    assert (sizes.layers, sizes.heads, sizes.hidden) == (1, 2, 16) and sizes.weights > 0


def test_the_fast_estimate_follows_what_is_computed() -> None:
    """16,384 tokens, 12 heads: eager needs 12 GiB for one layer's (H, T, T); the fast layers
    need a block of rows and the selected (T, T) matrix, never a layer's (H, T, T)."""
    sizes, n = Sizes(4, 12, 256, 10**7), 16_384
    eager = estimate_batch(sizes, [n], 0, 0)
    fast = estimate_batch(sizes, [n], 0, 0, fast=True)
    assert eager.layer >= 12 * n * n * 4 * 4  # four float32 copies of (H, T, T)
    assert fast.beyond_weights < 2 * 1024**3 < 12 * 1024**3 < eager.beyond_weights
    assert fast.kept >= n * n * 4  # the selected (T, T) matrix
    kept = estimate_batch(sizes, [n], 1, 12, fast=True)
    assert kept.layer >= 12 * n * n * 4 * 4  # a kept layer is computed whole (eager)
    short = estimate_batch(sizes, [10], 0, 0, fast=True)
    assert short.beyond_weights <= estimate_batch(sizes, [10], 0, 0).beyond_weights


def test_a_text_eager_attention_cannot_hold_runs_fast(runner, tiny_models, monkeypatch) -> None:
    """Memory for the fast layers but not for an eager layer: refused with --eager only."""
    from attninspect.api.inspector import Inspector

    text = " ".join(["cat sat on the warm mat"] * 9)
    model = ["--model", str(tiny_models["llama"]), "--focus", "@20", "--format", "json"]
    engine = Inspector(str(tiny_models["llama"])).engine
    lengths = [len(engine.tokenizer(text)["input_ids"])]
    fast = estimate_batch(engine.sizes, lengths, 0, 0, fast=True).beyond_weights
    eager = estimate_batch(engine.sizes, lengths, 0, 0).beyond_weights
    assert fast < eager
    monkeypatch.setattr(batching, "available_bytes", lambda device: (fast + eager) // 2)
    refused = runner.invoke(app, ["run", text, *model, "--eager"])
    assert refused.exit_code == 1 and "tokens need about" in refused.stderr
    done = runner.invoke(app, ["run", text, *model])
    assert done.exit_code == 0, done.stderr
    assert json.loads(done.stdout)["focus"]["index"] == 20
