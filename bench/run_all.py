"""Run every benchmark; each prints its figures against a floor measured in the same run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = (
    "bench_startup.py",
    "bench_module.py",
    "bench_run.py",
    "bench_batch.py",
    "bench_pictures.py",
    "bench_page.py",
    "bench_memory_long.py",
    "bench_seq2seq.py",
    "bench_explore.py",
    "bench_serve.py",
    "bench_stats.py",
)


def main() -> int:
    failed = 0
    for name in BENCHMARKS:
        result = subprocess.run([sys.executable, str(HERE / name)], cwd=HERE)
        failed += result.returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
