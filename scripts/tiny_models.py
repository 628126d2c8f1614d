"""Write the tiny random models the docs' translation and generation examples use:
``python scripts/tiny_models.py tiny`` writes tiny/bart, tiny/gpt2-lm, tiny/llama-lm, tiny/marian
and tiny/t5.

They are the test suite's models (tests/seq2seq_models.py): built from configs with random weights
(seed 0) and tokenizers made in memory, a few hundred kB each, no network. Their numbers are real,
their alignments and generated text mean nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str]) -> int:
    """Build every tiny model under the folder named by ``argv[0]`` (``tiny`` by default)."""
    if len(argv) > 1 or (argv and argv[0].startswith("-")):
        print("usage: python scripts/tiny_models.py [FOLDER]", file=sys.stderr)
        return 2
    target = Path(argv[0] if argv else "tiny")
    sys.path.insert(0, str(ROOT / "tests"))
    from seq2seq_models import build_causal, build_seq2seq
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()
    target.mkdir(parents=True, exist_ok=True)
    paths = {**build_seq2seq(target), **build_causal(target)}
    for path in sorted(paths.values()):
        print(f"wrote {path.as_posix()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
