"""The one analysis pipeline: its order, its streamed and whole-tensor uses, and two token axes."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest

from attninspect.analysis.digest import TextDigest, WholeLayers
from attninspect.analysis.pipeline import ViewOptions, analyse, view_of
from attninspect.analysis.transforms import head_stats
from attninspect.errors import BadValueError
from tests.conftest import synthetic_cross_inspection, synthetic_inspection
from tests.oracles import rollout

PACKAGE = Path(__file__).parents[1] / "attninspect"
STEPS = re.compile(
    r"\b(merge_words|hide_special|sink_share|special_share|padded_special_share|head_stats|"
    r"rollout_step)\("
)
TOKENS = ["[CLS]", "the", "cat", "sat", "on", "the", "mat", "[SEP]"]
TARGET = ["<s>", "▁Le", "▁chat", "▁dort", "</s>"]
SOURCE = ["[CLS]", "▁The", "▁cat", "▁sle", "eps", ".", "</s>"]
OPTION_SETS = [
    {},
    {"words": True},
    {"hide_special": True, "head": 2},
    {"rollout": True},
    {"rollout": True, "words": True, "hide_special": True},
    {"stats": True, "head": "max", "focus": "cat"},
]


def test_the_steps_are_called_from_the_pipeline_module_only() -> None:
    callers = {
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        for line in path.read_text().splitlines()
        if STEPS.search(line) and not line.lstrip().startswith("def ")
    }
    assert callers == {"analysis/pipeline.py", "analysis/transforms.py"}  # user, definer


@pytest.mark.parametrize("options", OPTION_SETS)
def test_streamed_layers_equal_the_whole_tensor(options: dict) -> None:
    inspection = synthetic_inspection(TOKENS, layers=4, heads=3)
    parsed = ViewOptions.parse(layer=2, **options)
    whole, view = view_of(inspection, parsed)
    base = dataclasses.replace(inspection, attention=inspection.attention[:0])
    digest = TextDigest(base, parsed, WholeLayers(wanted=True), num_layers=4)
    for layer, layer_attention in enumerate(inspection.attention):  # (H, T, T) each
        digest.add(layer, layer_attention)
    streamed_whole, streamed = digest.finish(0.0)
    assert streamed.tokens == view.tokens and streamed.key_tokens == view.key_tokens
    np.testing.assert_allclose(streamed.matrix, view.matrix, atol=1e-6)
    np.testing.assert_allclose(streamed_whole.attention, whole.attention, atol=1e-6)
    np.testing.assert_allclose(streamed.sink_share, view.sink_share, atol=1e-6)
    assert streamed.focus_top == view.focus_top and streamed.stats == view.stats


def test_rollout_equals_the_written_out_method() -> None:
    inspection = synthetic_inspection(TOKENS, layers=3, heads=2)
    analysed = analyse(inspection, ViewOptions(rollout=True))
    np.testing.assert_allclose(analysed.inspection.attention, rollout(inspection.attention),
                               atol=1e-6)  # fmt: skip


def test_cross_attention_keeps_two_token_axes_through_every_step() -> None:
    cross = synthetic_cross_inspection(TARGET, SOURCE, layers=2, heads=3)
    assert cross.attention.shape == (2, 3, 5, 7) and cross.kinds == ["cross", "encoder", "decoder"]
    view = cross.view(layer=-1, words=True, hide_special=True, focus="▁chat", top=2)
    assert view.tokens == ["▁Le", "▁chat", "▁dort"]  # queries: target words, specials hidden
    assert view.key_tokens == ["▁The", "▁cat", "sleeps."]  # keys: source words
    assert view.matrix.shape == (3, 3) and view.attention_kind == "cross"
    np.testing.assert_allclose(view.matrix.sum(-1), 1.0, atol=1e-6)
    assert [ranked.index for ranked in view.focus_top] == list(
        np.argsort(-view.matrix[1], kind="stable")[:2]
    )
    plain = cross.view(layer=0, head=1)
    assert plain.matrix.shape == (5, 7)
    np.testing.assert_array_equal(plain.matrix, cross.attention[0, 1])
    # the selected head's share of attention on source specials, before anything is hidden
    assert plain.sink_share == pytest.approx(
        [float(cross.attention[layer, 1][:, [0, 6]].sum(-1).mean()) for layer in range(2)]
    )


def test_positional_statistics_need_one_token_list() -> None:
    cross = synthetic_cross_inspection(TARGET, SOURCE, layers=1, heads=2)
    stats = head_stats(cross, [0])
    assert all(s.previous is None and s.same is None and s.next is None for s in stats)
    assert all(0 < s.special < 1 and s.entropy > 0 for s in stats)
    square = head_stats(cross.of_kind("decoder"), [0])
    assert all(s.previous is not None for s in square)


def test_rollout_is_refused_for_cross_attention_but_not_for_its_encoder() -> None:
    cross = synthetic_cross_inspection(TARGET, SOURCE, layers=2, heads=2)
    with pytest.raises(BadValueError, match="self-attention stacks"):
        cross.view(rollout=True)
    assert cross.of_kind("encoder").view(rollout=True).matrix.shape == (7, 7)
