"""GPU parity (marked `gpu`; skipped without CUDA). Run them with scripts/gpu_check.sh.

Tolerances against the CPU float32 result: float32 1e-4 (kernels differ in summation order);
float16 1e-2 and bfloat16 5e-2 on attention probabilities. float16 keeps 11 significant bits and
bfloat16 8 (relative steps of 2^-11 and 2^-8); rounding errors in the hidden states compound over
the layers. On the CPU the default model's largest differences were 1.9e-3 (float16) and 1.5e-2
(bfloat16): the bounds leave about a 3-5x margin.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from attninspect.cli.app import app
from tests.conftest import CAT

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]
TOLERANCE = {"float32": 1e-4, "float16": 1e-2, "bfloat16": 5e-2}


def all_attention(runner: CliRunner, *args: str) -> tuple[np.ndarray, dict]:
    result = runner.invoke(app, ["run", CAT, "--all-layers", "--format", "json", *args])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    return np.array(data["all_attention"]), data


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("model", ["default", "gpt2"])
def test_cuda_matches_cpu(runner: CliRunner, tiny_models, model: str, dtype: str) -> None:
    chosen = [] if model == "default" else ["--model", str(tiny_models[model])]
    cpu, _ = all_attention(runner, *chosen, "--device", "cpu")
    gpu, data = all_attention(runner, *chosen, "--device", "cuda", "--dtype", dtype)
    assert data["device"] == "cuda:0" and data["dtype"] == dtype
    difference = float(np.abs(cpu - gpu).max())
    print(f"{model} {dtype}: largest difference from CPU float32 {difference:.2e}")
    assert difference <= TOLERANCE[dtype]
    np.testing.assert_allclose(gpu.sum(-1), 1.0, atol=TOLERANCE[dtype])


def test_shapes_on_cuda(runner: CliRunner) -> None:
    result = runner.invoke(app, ["shapes", "--device", "cuda", "--heads", "2", "--format", "json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["device"] == "cuda:0" and data["weights"] == [1, 2, 5, 5]
