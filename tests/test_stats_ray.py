"""`stats --engine ray` on a local Ray instance (2 CPUs): the local engine's numbers to 1e-9."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from attninspect.cli import app

ray = pytest.importorskip("ray", reason="the [ray] extra is not installed")
pytestmark = pytest.mark.slow

TEXTS = [
    "The cat sat on the mat because it was warm.",
    "A dog ran, and a dog ran again.",
    "One two three one two three.",
    "Short.",
    "Heads attend to the previous token, or to the token itself.",
]


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ray") / "texts.txt"
    lines = [f"{text} ({number})" for number in range(4) for text in TEXTS]  # 20 lines
    lines[6] = "bad \udcff line"
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8", "surrogateescape"))
    return path


def _stats(path: Path, *extra: str) -> dict:
    argv = ["stats", "-f", str(path), "--format", "json", "--batch-size", "2", "--skip-errors"]
    result = CliRunner().invoke(app, [*argv, *extra])
    assert result.exit_code == 0, result.output
    assert "skipped line 7: not valid UTF-8" in result.stderr
    return json.loads(result.stdout)


def _values(data: dict) -> np.ndarray:
    names = data["statistics"]
    return np.array(
        [[np.nan if e[n] is None else e[n] for n in names] for e in data["stats"]], np.float64
    )


@pytest.mark.parametrize("convention", ["attninspect", "clark", "transformerlens"])
def test_ray_equals_the_local_engine(local_ray, corpus: Path, convention: str) -> None:
    local = _stats(corpus, "--convention", convention)
    remote = _stats(corpus, "--engine", "ray", "--actors", "2", "--convention", convention)
    assert remote["engine"] == "ray" and local["engine"] == "local"
    assert remote["convention"] == local["convention"] == convention
    assert remote["texts"] == local["texts"] == 19 and remote["skipped"] == 1
    unit = local["averaged_over"]
    assert [e[unit] for e in remote["stats"]] == [e[unit] for e in local["stats"]]
    np.testing.assert_allclose(_values(remote), _values(local), rtol=0, atol=1e-9)


def test_ray_equals_the_local_engine_on_an_encoder_decoder(
    local_ray, seq2seq_models, tmp_path: Path
) -> None:
    path = tmp_path / "pairs.txt"
    path.write_text("The cat sleeps on the mat.\tLe chat dort.\nA dog ran.\n", encoding="utf-8")
    argv = ["stats", "-f", str(path), "-m", str(seq2seq_models["t5"]), "--format", "json"]
    argv += ["--attention", "decoder", "--generate", "3"]
    local = json.loads(CliRunner().invoke(app, argv).stdout)
    result = CliRunner().invoke(app, [*argv, "--engine", "ray"])
    assert result.exit_code == 0, result.output
    remote = json.loads(result.stdout)
    assert remote["attention_kind"] == local["attention_kind"] == "decoder"
    assert [e["rows"] for e in remote["stats"]] == [e["rows"] for e in local["stats"]]
    # float32 weights of a one-thread actor (Ray's default) vs this process's threads: ~4e-8
    np.testing.assert_allclose(_values(remote), _values(local), rtol=0, atol=1e-6)
