"""Hardening III (issue 20): what outside checks and a first-time user found."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from attninspect.cli.app import app
from tests.conftest import CAT


def _run(runner, *args: str):
    return runner.invoke(app, ["run", *args])


# ------------------------------------------------------------------ 1: reversed layer slices


@pytest.mark.parametrize("layers", ["::-1", "-1:0:-2"])
def test_reversed_layer_slices_store_layers_in_their_labelled_order(
    runner, tiny_models, tmp_path, reference_attention, layers
) -> None:
    path = str(tiny_models["llama"])
    expected = reference_attention(path, CAT)  # (L, H, T, T), model order
    target = tmp_path / "r.npz"
    npz = _run(runner, CAT, "--model", path, "--format", "npz", "-o", str(target), "--layers", layers)
    assert npz.exit_code == 0, npz.stderr
    with np.load(target) as arrays:
        labels = arrays["layers_0"].tolist()
        assert labels == list(range(3))[slice(*(int(p) if p else None for p in layers.split(":")))]
        for stored, layer in zip(arrays["attention_0"], labels, strict=True):
            np.testing.assert_allclose(stored, expected[layer].numpy(), atol=1e-6, rtol=0)
    result = _run(runner, CAT, "--model", path, "--all-layers", "--format", "json",
                  "--layers", layers, "--heads", "::-1")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["all_attention_layers"] == labels and data["all_attention_heads"] == [3, 2, 1, 0]
    got = torch.tensor(data["all_attention"])
    assert torch.allclose(got, expected[labels][:, [3, 2, 1, 0]], atol=1e-6, rtol=0)
