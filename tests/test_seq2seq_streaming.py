"""`heads` and `diff` on encoder–decoder models stream the chosen kind layer by layer, as `run`
does: no text is run whole, no kind is kept whole (checked by looking at what the digests
hold as each layer arrives), and the numbers equal transformers' own."""

from __future__ import annotations

import numpy as np
import pytest
from test_seq2seq import reference

from attninspect.analysis.digest import TextDigest
from attninspect.analysis.head_ranking import HeadDigest
from attninspect.api import seq2seq

SOURCE, OTHER, TARGET = "The cat sleeps on the mat.", "The dog sleeps on a mat.", "Le chat dort."


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int, tuple[int, ...]]]:
    """What each chosen-kind digest holds after every layer of its kind: (kind, layer, the
    shape of the largest array it holds). Running a text whole (`Inspector.run`) fails."""
    from attninspect import Inspector

    seen: list[tuple[str, int, tuple[int, ...]]] = []
    add = seq2seq.ChosenKind.add

    def spy(self, kind: str, layer: int, attention: np.ndarray) -> None:
        add(self, kind, layer, attention)
        if kind != self.chosen:
            return
        digest = self.digest
        if isinstance(digest, TextDigest):
            arrays = [*digest.kept, *digest.means, *digest.rows, digest.matrix]
        else:
            assert isinstance(digest, HeadDigest)
            arrays = list(digest.columns)
        largest = max((a for a in arrays if a is not None), key=np.size, default=np.zeros(0))
        seen.append((kind, layer, largest.shape))

    def whole(*args, **kwargs):
        raise AssertionError("heads/diff ran a text whole")

    monkeypatch.setattr(seq2seq.ChosenKind, "add", spy)
    monkeypatch.setattr(Inspector, "run", whole)
    return seen


@pytest.mark.parametrize("kind", ["encoder", "decoder", "cross"])
def test_heads_streams_the_kind(seq2seq_models, held: list, kind: str) -> None:
    from attninspect import Inspector
    from attninspect.api.seq2seq import Request

    path = seq2seq_models["t5"]
    inspector = Inspector(str(path))
    inspector.request = Request(target=TARGET, kind=kind)
    expected, _ = reference(path, SOURCE, TARGET)
    queries = {"encoder": "▁cat", "decoder": "▁chat", "cross": "▁chat"}[kind]
    keys = {"encoder": "▁The", "decoder": "▁Le", "cross": "▁cat"}[kind]
    search = inspector.heads(SOURCE, queries, keys)
    i, j = search.source, search.target
    grid = expected[kind][:, :, i, j]  # (L, H)
    found = {(score.layer, score.head): score.weight for score in search.scores}
    assert len(found) == grid.size
    for (layer, head), weight in found.items():
        assert weight == pytest.approx(float(grid[layer, head]), abs=1e-6)
    assert search.inspection.query_tokens[i] == queries and search.inspection.key_tokens[j] == keys
    layers = expected[kind].shape[0]
    assert [layer for k, layer, _ in held if k == kind] == list(range(layers))
    assert all(shape == (expected[kind].shape[1],) for _, _, shape in held)  # (H,) a layer


@pytest.mark.parametrize("kind", ["encoder", "decoder", "cross"])
def test_diff_streams_the_kind(seq2seq_models, held: list, kind: str) -> None:
    from attninspect import Inspector
    from attninspect.api.seq2seq import Request

    path = seq2seq_models["bart"]
    inspector = Inspector(str(path))
    inspector.request = Request(target=TARGET, kind=kind)
    comparison = inspector.diff(SOURCE, OTHER, layer=1, head=0)
    for side, text in ((comparison.view_a, SOURCE), (comparison.view_b, OTHER)):
        expected, _ = reference(path, text, TARGET)
        np.testing.assert_allclose(side.matrix, expected[kind][1, 0], atol=1e-6, rtol=0)
    assert comparison.a.kind == comparison.b.kind == kind
    assert comparison.a.attention.shape[0] == 0 and comparison.a.others == {}
    layers = expected[kind].shape[0]
    assert sorted(layer for _, layer, _ in held) == sorted(2 * list(range(layers)))  # A, B
    assert all(len(shape) <= 2 for _, _, shape in held)  # a (Tq, Tk) view at most, no heads
