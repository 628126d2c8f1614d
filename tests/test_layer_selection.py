"""--layers / --heads, and streamed views equal to views of the whole tensor."""

from __future__ import annotations

import dataclasses
import io
import json

import numpy as np
import pytest
import torch

from attninspect.analysis.pipeline import ViewOptions, view_of
from attninspect.analysis.ranges import parse_range as parse_index_spec
from attninspect.analysis.selection import resolve_indices
from attninspect.cli.app import app
from attninspect.errors import OutOfRangeError
from attninspect.files.records import run_record
from attninspect.files.sources import SourceText
from tests.conftest import CAT


@pytest.mark.parametrize(
    ("text", "expected"),
    [("3", 3), ("-1", -1), ("2:4", slice(2, 4)), (":3", slice(None, 3)), ("-4:", slice(-4, None)),
     ("::2", slice(None, None, 2)), ("1:-1:2", slice(1, -1, 2))],
)  # fmt: skip
def test_parse_index_spec(text: str, expected) -> None:
    assert parse_index_spec(text) == expected


@pytest.mark.parametrize("text", ["", "a", "1:2:3:4", "::0", "1.5"])
def test_parse_index_spec_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_index_spec(text)


def test_resolve_indices() -> None:
    assert resolve_indices(None, 4) == [0, 1, 2, 3]
    assert resolve_indices(-1, 4) == [3]
    assert resolve_indices(slice(2, 4), 6) == [2, 3]
    assert resolve_indices(slice(-2, None), 6) == [4, 5]
    assert resolve_indices(slice(None, None, -2), 5) == [4, 2, 0]
    with pytest.raises(OutOfRangeError, match="out of range"):
        resolve_indices(6, 6, "heads")
    with pytest.raises(OutOfRangeError, match="selects none"):
        resolve_indices(slice(5, 9), 3)


VIEWS = [
    {},
    {"layer": 0, "head": 1, "focus": "it"},
    {"head": "max", "focus": "@3", "stats": True},
    {"words": True, "hide_special": True, "focus": "warm"},
    {"rollout": True, "layer": 1, "focus": "cat", "hide_special": True},
]


@pytest.mark.parametrize("view", VIEWS)
def test_streamed_view_equals_view_of_whole_tensor(tiny_models, view: dict) -> None:
    from attninspect import Inspector
    from attninspect.analysis.digest import WholeLayers

    inspector = Inspector(str(tiny_models["llama"]))
    options = ViewOptions.parse(**view)
    items = [SourceText(CAT, 0), SourceText("it is warm, the cat said", 1)]
    streamed = inspector.view_batch(items, options, WholeLayers(wanted=True))
    for whole, (shown, seen) in zip(inspector.inspect_batch(items), streamed, strict=True):
        expected = run_record(*view_of(whole, options), all_layers=True)
        got = run_record(shown, seen, all_layers=True)
        expected.pop("seconds"), got.pop("seconds")
        assert list(got) == list(expected)
        for key, value in expected.items():
            assert json.dumps(got[key]) == json.dumps(value), key


def _run(runner, *args: str):
    return runner.invoke(app, ["run", *args])


def test_layers_and_heads_narrow_all_layers(runner, tiny_models, reference_attention) -> None:
    path = str(tiny_models["llama"])
    result = _run(runner, CAT, "--model", path, "--all-layers", "--format", "json",
                  "--layers", "1:", "--heads", "-2:")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    expected = reference_attention(path, CAT)[1:, -2:]  # (2, 2, T, T)
    got = torch.tensor(data["all_attention"])
    assert got.shape == expected.shape
    assert torch.allclose(got, expected, atol=1e-6, rtol=0)
    assert data["all_attention_layers"] == [1, 2] and data["all_attention_heads"] == [2, 3]
    assert data["shapes"]["attention"] == [3, 4, *expected.shape[-2:]]
    assert data["layer"] == 2  # the view itself is unchanged


def test_layers_narrow_csv_and_npz(runner, tiny_models, tmp_path, reference_attention) -> None:
    path = str(tiny_models["gpt2"])
    csv = _run(runner, CAT, "--model", path, "--all-layers", "--format", "csv", "--layers", "0",
               "--heads", "3")  # fmt: skip
    assert csv.exit_code == 0, csv.stderr
    rows = csv.stdout.splitlines()[1:]
    assert {tuple(row.split(",")[2:4]) for row in rows} == {("0", "3")}  # after text_index, line
    target = tmp_path / "out.npz"
    npz = _run(runner, CAT, "--model", path, "--format", "npz", "-o", str(target), "--layers", "-1")
    assert npz.exit_code == 0, npz.stderr
    with np.load(target) as arrays:
        expected = reference_attention(path, CAT)[-1:].numpy()
        np.testing.assert_allclose(arrays["attention_0"], expected, atol=1e-6, rtol=0)
        assert arrays["layers_0"].tolist() == [1] and arrays["heads_0"].tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize(
    ("args", "option"),
    [(["--all-layers", "--layers", "5"], "--layers"),
     (["--all-layers", "--heads", "1:1"], "--heads"),
     (["--layers", "0"], "--layers"), (["--all-layers", "--layers", "x"], "--layers")],
)  # fmt: skip
def test_bad_layers_and_heads_are_usage_errors(runner, tiny_models, args, option) -> None:
    result = _run(runner, CAT, "--model", str(tiny_models["gpt2"]), "--format", "json", *args)
    assert result.exit_code == 2, result.stdout
    assert option in result.stderr


def test_table_of_a_streamed_run_is_unchanged(tiny_models) -> None:
    from rich.console import Console

    from attninspect import Inspector
    from attninspect.render.matrix import render_run

    inspector = Inspector(str(tiny_models["bert"]))
    options = ViewOptions.parse(focus="cat", layer=0)
    whole = view_of(inspector.run(CAT), options)
    (streamed,) = inspector.view_batch([SourceText(CAT, 0)], options)
    shown = []
    for inspection, view in (whole, streamed):
        inspection = dataclasses.replace(inspection, seconds=0.0)
        console = Console(file=io.StringIO(), width=100, color_system=None)
        console.print(render_run(inspection, view, console, 2, None, False))
        shown.append(console.file.getvalue())
    assert shown[0] == shown[1]
