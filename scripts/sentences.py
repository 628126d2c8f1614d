"""Print N random English-like sentences, one a line (the benchmarks' corpus, seeded):
``python scripts/sentences.py 1000 > sentences.txt``."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str]) -> int:
    """Print ``argv[0]`` sentences (1000 by default), the same ones on every run."""
    if len(argv) > 1 or (argv and not argv[0].isdigit()):
        print("usage: python scripts/sentences.py [COUNT]", file=sys.stderr)
        return 2
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_batch import generate

    print("\n".join(generate(int(argv[0]) if argv else 1000)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
