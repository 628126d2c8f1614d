"""Weights written by orjson are the very text `json.dumps` writes of their lists."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from attninspect.files.records import dump_json
from attninspect.files.weights_json import weights_json


def _python(array: np.ndarray) -> str:
    return json.dumps(array.tolist(), allow_nan=False)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_decade_is_written_as_python_writes_it(dtype) -> None:
    rng = np.random.default_rng(0)
    lowest = -45 if dtype is np.float32 else -320
    magnitudes = 10.0 ** rng.uniform(lowest, 15.9, 200_000)
    signs = rng.choice([-1.0, 1.0], magnitudes.size)
    values = (magnitudes * signs).astype(dtype)
    edges = [0.0, -0.0, 1.0, 0.5, 1e-4, 9.999999e-5, 1e-5, 9.99e-6, 1e-6, 1e-9, 1e-10, 1e15]
    array = np.concatenate([values, np.array(edges, dtype)]).reshape(-1, 4)
    assert weights_json(array) == _python(array)


def test_attention_shaped_arrays() -> None:
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 8, (2, 3, 7, 7))
    weights = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)  # many tiny weights
    for array in (weights.astype(np.float32), weights, weights[0, 0], weights[0, 0, 0]):
        assert weights_json(array) == _python(array)


@settings(max_examples=300, deadline=None)
@given(
    hnp.arrays(
        dtype=st.sampled_from([np.float32, np.float64]),
        shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=5),
        elements={"allow_nan": False, "allow_infinity": False},
    )
)
def test_any_finite_array(array: np.ndarray) -> None:
    assert weights_json(array) == _python(array)


def test_what_orjson_does_not_cover_goes_through_json() -> None:
    assert weights_json(np.array([1e16, 2.5])) == "[1e+16, 2.5]"
    assert weights_json(np.zeros((0, 3), np.float32)) == "[]"
    assert weights_json(np.array([[1, 2]], np.int64)) == "[[1, 2]]"
    assert weights_json(np.array(0.5, np.float32)) == "0.5"  # 0-d: a number, not a list
    with pytest.raises(ValueError, match="not JSON compliant"):
        weights_json(np.array([np.nan], np.float32))


def test_a_record_with_arrays_is_the_record_with_lists() -> None:
    matrix = np.array([[0.25, 3.5e-05], [1e-07, 0.75]], np.float32)
    record = {"text": "é \u202e <b>", "attention": matrix, "nested": {"a": matrix}, "n": 1}
    listed = {**record, "attention": matrix.tolist(), "nested": {"a": matrix.tolist()}}
    assert dump_json(record) == dump_json(listed)
    assert json.loads(dump_json(record))["attention"] == matrix.tolist()


def test_arrays_first_last_and_side_by_side() -> None:
    matrix = np.array([[0.5, 2e-06]], np.float32)
    record = {"a": matrix, "b": matrix, "c": [1, "x"], "d": matrix}
    listed = {key: value.tolist() if isinstance(value, np.ndarray) else value
              for key, value in record.items()}  # fmt: skip
    assert dump_json(record) == json.dumps(listed, ensure_ascii=False)
    assert dump_json({"only": matrix}) == json.dumps({"only": matrix.tolist()})
