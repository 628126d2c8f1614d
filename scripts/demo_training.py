"""What the two demo models' training scripts share (scripts/train_demo_translate.py and
scripts/train_demo_induction.py): the seeded one-thread setup, the tokenizer wrapper that
AutoTokenizer loads, the training loop (AdamW, one-cycle schedule, gradients clipped at 1) and
the writing of the model's folder. Each script imports it from its own folder."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from pathlib import Path

import torch


def deterministic(seed: int) -> random.Random:
    """Seed torch, run on one CPU thread with deterministic kernels; the data's own generator."""
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    return random.Random(seed)


def fast_tokenizer(
    vocab: list[str], model, pre_tokenizer, template: str, *, max_length: int, decoder=None
):
    """A tokenizer over ``vocab`` (ids in its order) that transformers saves and AutoTokenizer
    loads: ``model`` a `tokenizers.models` class (WordLevel, WordPiece) taking the vocabulary and
    "<unk>"; ``template`` where the one special token goes ("<s> $A", "$A </s>"). The specials
    <s>, </s>, <pad> and <unk> must be in ``vocab``."""
    from tokenizers import Tokenizer, processors
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(model({token: i for i, token in enumerate(vocab)}, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizer
    if decoder is not None:
        tokenizer.decoder = decoder
    (special,) = (token for token in template.split() if token != "$A")
    tokenizer.post_processor = processors.TemplateProcessing(
        single=template, special_tokens=[(special, vocab.index(special))]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        model_max_length=max_length,
        clean_up_tokenization_spaces=False,
    )


def train(
    model,
    loss_of_next_batch: Callable[[], torch.Tensor],
    *,
    steps: int,
    lr: float,
    weight_decay: float,
    started: float,
) -> None:
    """AdamW with a one-cycle schedule (peak ``lr``, 10 % warm-up), gradients clipped at norm 1;
    a line of progress every 250 steps; the model is left in eval mode."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=lr, total_steps=steps, pct_start=0.1
    )
    model.train()
    for step in range(steps):
        loss = loss_of_next_batch()
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        if step % 250 == 0 or step == steps - 1:
            print(f"step {step:5d}  loss {loss.item():.4f}  {time.perf_counter() - started:.0f} s")
    model.eval()


def save_tokenizer(tokenizer, out: Path) -> None:
    """tokenizer.json and tokenizer_config.json, named by a class every transformers since 4.x
    loads (transformers 5 writes its new name, TokenizersBackend)."""
    tokenizer.save_pretrained(out)
    config_path = out / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config_path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def save(model, tokenizer, out: Path, card: str) -> None:
    """The model's folder: safetensors weights, config, tokenizer and its model card."""
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    save_tokenizer(tokenizer, out)
    (out / "README.md").write_text(card, encoding="utf-8")
