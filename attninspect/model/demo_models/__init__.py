"""The small trained models shipped inside the package, each in a folder of its own name here
(config, safetensors weights, tokenizer, model card), loaded offline by name with ``--model``.

scripts/train_demo_translate.py and scripts/train_demo_induction.py (``make demo-models``) write
them; nothing here imports torch.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
DEMO_MODELS: dict[str, str] = {
    "demo-translate": "a tiny BART that writes ISO dates in English (2026-12-06 → 6 December 2026);"
    " its cross-attention aligns each word with the digits it comes from",
    "demo-induction": "a two-layer Llama trained on repeated random words; layer 0 has a "
    "previous-token head, layer 1 an induction head",
}


def demo_model_path(name: str) -> str | None:
    """The folder of the demo model ``name``, or None where ``name`` is not one."""
    return str(HERE / name) if name in DEMO_MODELS else None


def demo_models() -> list[dict[str, str]]:
    """Every demo model: its name, folder and what it shows."""
    return [{"name": name, "path": str(HERE / name), "about": about}
            for name, about in DEMO_MODELS.items()]  # fmt: skip
