"""Unit tests for the pure functions the commands are built from: no model, exact answers."""

from __future__ import annotations

import numpy as np
import pytest

from attninspect.analysis.alignment import align_tokens, focus_changes, paired_delta
from attninspect.analysis.head_ranking import rank_heads
from attninspect.analysis.selection import (
    heads_view,
    parse_head,
    resolve_head,
    resolve_layer,
    top_k,
    window,
)
from attninspect.analysis.token_selectors import TokenSelector, parse_selector, resolve_selector
from attninspect.errors import InputError, OutOfRangeError
from attninspect.files.sources import SourceText, TextSource, batches

# --------------------------------------------------------------------------- selection


@pytest.mark.parametrize(
    ("raw", "expected"), [("mean", "mean"), (" MAX ", "max"), ("3", 3), ("-1", -1), (2, 2)]
)
def test_parse_head(raw, expected) -> None:
    assert parse_head(raw) == expected


@pytest.mark.parametrize("raw", ["", "median", "1.5", "two"])
def test_parse_head_refuses(raw: str) -> None:
    with pytest.raises(ValueError):
        parse_head(raw)


def test_resolve_layer_and_head_count_from_the_end() -> None:
    assert resolve_layer(-1, 6) == 5 and resolve_layer(0, 6) == 0 and resolve_layer(-6, 6) == 0
    assert resolve_head(-2, 12) == 10 and resolve_head("max", 12) == "max"
    with pytest.raises(OutOfRangeError) as layer_error:
        resolve_layer(6, 6)
    assert layer_error.value.what == "layer" and "0..5" in str(layer_error.value)
    assert "Invalid value" not in str(layer_error.value)  # Click's wording stays in the CLI
    with pytest.raises(OutOfRangeError) as head_error:
        resolve_head(-13, 12)
    assert head_error.value.what == "head"


def test_heads_view_mean_max_and_one() -> None:
    attention = np.arange(2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3)  # (H, T, T)
    np.testing.assert_array_equal(heads_view(attention, "mean"), (attention[0] + attention[1]) / 2)
    np.testing.assert_array_equal(heads_view(attention, "max"), attention[1])
    np.testing.assert_array_equal(heads_view(attention, 0), attention[0])


def test_top_k_largest_first_ties_in_token_order() -> None:
    ranked = top_k(np.array([0.1, 0.4, 0.1, 0.4]), 3)
    assert [(r.index, r.weight) for r in ranked] == [(1, 0.4), (3, 0.4), (0, 0.1)]
    assert top_k(np.array([1.0]), 5)[0].index == 0 and top_k(np.array([1.0]), 0) == []


@pytest.mark.parametrize(
    ("length", "size", "center", "expected"),
    [
        (10, 4, None, range(0, 4)),
        (10, 4, 5, range(3, 7)),
        (10, 4, 0, range(0, 4)),
        (10, 4, 9, range(6, 10)),
        (3, 8, 1, range(0, 3)),
        (5, 0, 2, range(2, 3)),
    ],
)
def test_window(length: int, size: int, center, expected: range) -> None:
    assert window(length, size, center) == expected


# --------------------------------------------------------------------------- selectors

TOKENS = ["[CLS]", "the", "cat", "it", "##s", "the", "It", "[SEP]"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("it", TokenSelector("it", text="it")),
        ("it#2", TokenSelector("it#2", text="it", occurrence=2)),
        ("@8", TokenSelector("@8", position=8)),
        ("@-1", TokenSelector("@-1", position=-1)),
        ("#", TokenSelector("#", text="#")),
        ("##2", TokenSelector("##2", text="##2")),  # WordPiece's token, not "#" twice
        ("##2#2", TokenSelector("##2#2", text="##2", occurrence=2)),
    ],
)
def test_parse_selector(raw: str, expected: TokenSelector) -> None:
    assert parse_selector(raw) == expected


@pytest.mark.parametrize("raw", ["", "  ", "it#0"])
def test_parse_selector_refuses(raw: str) -> None:
    with pytest.raises(ValueError):
        parse_selector(raw)


@pytest.mark.parametrize(
    ("raw", "index"),
    [("it", 3), ("IT", 3), ("it#2", 6), ("the#2", 5), ("s", 4), ("@0", 0), ("@-1", 7)],
)
def test_resolve_selector(raw: str, index: int) -> None:
    assert resolve_selector(parse_selector(raw), TOKENS) == index


@pytest.mark.parametrize(("raw", "needle"), [("dog", "not a token"), ("it#3", "occurs 2 times")])
def test_resolve_selector_errors_list_the_tokens(raw: str, needle: str) -> None:
    with pytest.raises(InputError, match=needle) as error:
        resolve_selector(parse_selector(raw), TOKENS, "--from")
    assert "--from" in str(error.value) and "2:cat" in str(error.value)


def test_a_selector_with_a_subword_marker_names_that_token() -> None:
    """``##2`` is the continuation token, not the word ``2`` (demo-translate's digits)."""
    digits = ["2", "##0", "##2", "##6", "-", "1", "##2"]
    assert resolve_selector(parse_selector("##2"), digits) == 2
    assert resolve_selector(parse_selector("##2#2"), digits) == 6
    assert resolve_selector(parse_selector("2"), digits) == 0  # unmarked: the first "2"-ish


def test_resolve_selector_position_out_of_range() -> None:
    with pytest.raises(InputError, match=r"@0\.\.@7"):
        resolve_selector(parse_selector("@8"), TOKENS)


# --------------------------------------------------------------------------- alignment


def test_align_same_length_pairs_by_position() -> None:
    alignment = align_tokens(["a", "b", "c"], ["a", "x", "c"])
    assert alignment.pairs == [(0, 0), (1, 1), (2, 2)] and alignment.only_a == []


def test_align_different_lengths_by_common_subsequence() -> None:
    alignment = align_tokens(["[CLS]", "it", "was", "warm", "[SEP]"], ["[CLS]", "it", "[SEP]"])
    assert alignment.pairs == [(0, 0), (1, 1), (4, 2)]
    assert alignment.only_a == [2, 3] and alignment.only_b == []


def test_paired_delta_is_a_minus_b_over_pairs_in_a_order() -> None:
    a = np.arange(9, dtype=np.float32).reshape(3, 3)
    b = np.ones((2, 2), dtype=np.float32)
    alignment = align_tokens(["x", "gone", "y"], ["x", "y"])
    np.testing.assert_array_equal(paired_delta(a, b, alignment), [[0 - 1, 2 - 1], [6 - 1, 8 - 1]])


def test_focus_changes_largest_absolute_change_first() -> None:
    alignment = align_tokens(["a", "b", "c"], ["a", "b", "c"])
    rows_a = np.array([[0.5, 0.3, 0.2]])  # (L, T)
    rows_b = np.array([[0.2, 0.3, 0.5]])
    (layer,) = focus_changes(rows_a, rows_b, ["a", "b", "c"], alignment, top=2)
    assert [(c.token, round(c.delta, 6)) for c in layer] == [("a", 0.3), ("c", -0.3)]


def test_rank_heads_largest_first_ties_in_layer_then_head_order() -> None:
    attention = np.zeros((2, 2, 3, 3))  # (L, H, T, T)
    attention[0, 1, 2, 0] = 0.5
    attention[1, 0, 2, 0] = 0.5
    attention[1, 1, 2, 0] = 0.9
    scores = rank_heads(attention, source=2, target=0)
    assert [(s.layer, s.head, s.weight) for s in scores[:3]] == [
        (1, 1, 0.9),
        (0, 1, 0.5),
        (1, 0, 0.5),
    ]
    assert len(scores) == 4


# --------------------------------------------------------------------------- batches


def items(count: int) -> list[SourceText]:
    return [SourceText(text=f"t{i}", index=i, line=i + 1) for i in range(count)]


@pytest.mark.parametrize(("count", "size", "sizes"), [(5, 2, [2, 2, 1]), (4, 4, [4]), (0, 3, [])])
def test_batches_from_a_file_keep_order(count: int, size: int, sizes: list[int]) -> None:
    source = TextSource(items=items(count), description="test")
    got = list(batches(source, size))
    assert [len(batch) for batch in got] == sizes
    assert [item.index for batch in got for item in batch] == list(range(count))


def test_live_batches_keep_order_and_errors_in_place() -> None:
    mixed = [*items(3), InputError("bad", line=4), *items(2)]
    source = TextSource(items=iter(mixed), description="pipe", live=True)
    flat = [item for batch in batches(source, 2) for item in batch]
    assert flat == mixed and all(
        len(batch) <= 2
        for batch in batches(TextSource(items=iter(mixed), description="pipe", live=True), 2)
    )


@pytest.mark.parametrize("live", [False, True])
def test_a_window_ends_at_its_characters(live: bool) -> None:
    texts = ["x" * 10, "y" * 10, "z" * 10, "w" * 30, "v" * 5, "u" * 5]
    mixed = [SourceText(text, index) for index, text in enumerate(texts)]
    mixed.insert(2, InputError("bad", line=3))  # an error holds no characters
    source = TextSource(items=iter(mixed), description="t", live=live)
    got = list(batches(source, 100, characters=25))
    assert [item for batch in got for item in batch] == mixed  # input order, nothing lost
    if not live:  # a pipe's batches may end sooner: at what has arrived
        assert [len(batch) for batch in got] == [4, 1, 2]  # 10+10+err+10; 30; 5+5 (the end)
    assert all(
        sum(len(item.text) for item in batch[:-1] if isinstance(item, SourceText)) < 25
        for batch in got
    )
